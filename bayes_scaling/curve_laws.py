"""Learning-curve laws in one data axis x (tokens, examples or steps seen), for numpy and PyTensor.

Two families from the functional-form literature (SCIENCE.md §7), both read the runs' ``tokens``
column and are evaluated, like the laws in :mod:`bayes_scaling.laws`, on the centred log input
``xc = log x - log X0`` with the level of the power term sampled at the pivot X0 (the geometric mean
of x):

``saturating`` (Zhai et al. 2022; M3-like)
    eps = E + A·(x + x0)^-alpha.  Sampled: ``log_l0`` = log eps at the pivot, ``logit_f`` = logit of
    the irreducible fraction E/eps(X0) there, ``alpha`` and ``log_x0 = log(x0/X0)``.  With
    ``log_e = log_l0 + log sigmoid(logit_f)``, ``log_a0 = log_l0 + log sigmoid(-logit_f)`` (the power
    term at the pivot) and ``log((x + x0)/(X0 + x0)) = logaddexp(xc, log_x0) - softplus(log_x0)``,
    ``log eps = logaddexp(log_e, log_a0 - alpha·log((x + x0)/(X0 + x0)))``.

``m4`` (Alabdulmohsin et al. 2022, M4)
    (eps - eps_inf)/(eps_0 - eps)^shape = beta·x^-alpha, with eps_inf < eps < eps_0.  eps is implicit:
    see :func:`m4_solve`.  ``shape = 0`` is M2, eps = eps_inf + beta·x^-alpha, exactly.

This module imports nothing from :mod:`bayes_scaling.laws` (which imports it), so the pure functions
can be used on their own.  Every function takes ``xp``: the ``numpy`` module (arrays or xarray
DataArrays, so only ufuncs are used) or ``pytensor.tensor``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

import numpy as np

Array = Any  # a numpy array, an xarray DataArray or a PyTensor variable

#: Bisection steps on s = log t.  The bracket is at most max(1, shape)·log 2 wide (see m4_solve), so
#: 50 halvings leave it below 6e-16·max(1, shape): the Newton steps that follow start converged.
M4_BISECTION_STEPS = 50
#: Value-only Newton steps in w = logit(t/gap) after the bisection (w is not resolved by s when
#: t is within ~1e-15 of gap; there F is nearly linear in w and these converge in one or two steps).
M4_NEWTON_STEPS = 2
#: shape is floored here inside the M4 branch, so that the branch stays finite (and its unused
#: gradient is 0, not NaN) at shape = 0, where the M2 branch is taken instead.  The floor changes
#: t by a relative 1e-30·|log(gap - t)|, far below float64 resolution.
M4_SHAPE_FLOOR = 1e-30
#: Smallest log-gap distance d = log gap - s used when evaluating log(gap - e^s) during bisection.
_TINY = 1e-300


# --------------------------------------------------------------------------------------------------
# helpers shared by numpy and PyTensor
# --------------------------------------------------------------------------------------------------


def _is_pytensor(xp: ModuleType) -> bool:
    return getattr(xp, "__name__", "").startswith("pytensor")


def _stop_gradient(xp: ModuleType, value: Array) -> Array:
    """``value`` with no gradient flowing through it (PyTensor); the identity for numpy."""
    if _is_pytensor(xp):
        from pytensor.gradient import disconnected_grad

        return disconnected_grad(value)
    return value


def _softplus(xp: ModuleType, v: Array) -> Array:
    """log(1 + e^v), stable for any v (logaddexp is stable in both namespaces)."""
    return xp.logaddexp(0.0, v)


def _log_gap_minus_exp(xp: ModuleType, log_gap: Array, s: Array) -> Array:
    """log(gap - e^s) = log gap + log(-expm1(-d)), d = log gap - s floored at 1e-300 (finite always).

    ``-expm1(-d)`` is exact to rounding for tiny and for large d, so there is no cancellation.
    """
    d = xp.maximum(log_gap - s, _TINY)
    return log_gap + xp.log(-xp.expm1(-d))


# --------------------------------------------------------------------------------------------------
# saturating: eps = E + A·(x + x0)^-alpha
# --------------------------------------------------------------------------------------------------


def saturating_levels(xp: ModuleType, p: Mapping[str, Array]) -> tuple[Array, Array]:
    """``(log E, log a0)``: the split of the loss at the pivot, ``log_l0``, by the fraction sigmoid(logit_f).

    A curve that has not flattened inside its data pins its loss at the pivot and its local slope, not
    how much of the loss is irreducible; sampled as (log E, log a0), that trade-off is an L-shaped ridge
    along logaddexp(log E, log a0) = log eps(X0) that NUTS crosses slowly (R-hat 1.08-1.14 on 20
    Alabdulmohsin curves at 2 x 300 draws). As (log eps(X0), logit E/eps(X0)) the level is one well
    pinned coordinate and the split another (R-hat 1.03, 4-7x the ESS, half the time).
    """
    return p["log_l0"] - _softplus(xp, -p["logit_f"]), p["log_l0"] - _softplus(xp, p["logit_f"])


def saturating_log_mean(xp: ModuleType, x: Mapping[str, Array], p: Mapping[str, Array]) -> Array:
    """log eps = logaddexp(log_e, log_a0 - alpha·(logaddexp(xc, log_x0) - softplus(log_x0))).

    ``logaddexp(xc, log_x0) - softplus(log_x0) = log((x + x0)/(X0 + x0))`` is zero at the pivot, so
    ``log_a0`` is the log of the power term there whatever x0 is, and eps(X0) = exp(log_l0).  (With
    log_a0 = log(A·X0^-alpha), a curve that saturates early, x0 > X0, puts log_a0 and alpha·log_x0 on
    a long ridge that NUTS walks at tree depth 10.)
    """
    log_e, log_a0 = saturating_levels(xp, p)
    shifted = xp.logaddexp(x["tokens"], p["log_x0"]) - _softplus(xp, p["log_x0"])
    return xp.logaddexp(log_e, log_a0 - p["alpha"] * shifted)


def saturating_natural(xp: ModuleType, p: Mapping[str, Array], piv: Mapping[str, float]) -> dict[str, Array]:
    """E, A = a0·(X0 + x0)^alpha, x0 = X0·exp(log_x0), alpha."""
    log_e, log_a0 = saturating_levels(xp, p)
    return {
        "E": xp.exp(log_e),
        "A": xp.exp(log_a0 + p["alpha"] * (piv["tokens"] + _softplus(xp, p["log_x0"]))),
        "x0": xp.exp(p["log_x0"] + piv["tokens"]),
        "alpha": p["alpha"],
    }


def saturating_from_natural(xp: ModuleType, n: Mapping[str, Array]) -> dict[str, Array]:
    """Sampled parameters at a zero pivot (X0 = 1).  x0 = 0 gives log_x0 = -inf, which logaddexp takes."""
    with np.errstate(divide="ignore"):
        log_e, log_a0 = xp.log(n["E"]), xp.log(n["A"]) - n["alpha"] * xp.log1p(n["x0"])
        return {"log_l0": xp.logaddexp(log_e, log_a0), "logit_f": log_e - log_a0,
                "alpha": n["alpha"], "log_x0": xp.log(n["x0"])}


# --------------------------------------------------------------------------------------------------
# m4: (eps - eps_inf)/(eps_0 - eps)^shape = K,  K = beta·x^-alpha
# --------------------------------------------------------------------------------------------------


def _bisect_step(xp: ModuleType, factor: Array, lo: Array, width: Array, log_k: Array, log_gap: Array,
                 shape: Array) -> Array:
    """One bisection step on g(s) = s - log K - shape·log(gap - e^s): test lo + h, h = width·factor."""
    h = width * factor
    mid = lo + h
    g = mid - log_k - shape * _log_gap_minus_exp(xp, log_gap, mid)
    return lo + h * (g <= 0.0)  # move up where the root is above mid; exact (h·1 or h·0)


def _bisect(xp: ModuleType, lo: Array, width: Array, log_k: Array, log_gap: Array, shape: Array) -> Array:
    """Lower end of the final bracket after ``M4_BISECTION_STEPS`` halvings of [lo, lo + width].

    numpy loops over the steps (never over data points); PyTensor uses one ``scan`` so the compiled
    graph holds a single step (50 unrolled steps cost 10-25 s of numba compilation per model).
    """
    factors = 0.5 ** np.arange(1, M4_BISECTION_STEPS + 1, dtype=float)
    if _is_pytensor(xp):
        import pytensor

        steps = pytensor.scan(
            lambda factor, lo, width, log_k, log_gap, shape: _bisect_step(xp, factor, lo, width, log_k,
                                                                          log_gap, shape),
            sequences=[xp.as_tensor(factors)],
            outputs_info=[lo],
            non_sequences=[width, log_k, log_gap, shape],
            return_updates=False,
        )
        lo = steps[-1]
    else:
        for factor in factors:
            lo = _bisect_step(xp, factor, lo, width, log_k, log_gap, shape)
    return lo


def m4_solve(xp: ModuleType, log_k: Array, log_gap: Array, shape: Array) -> tuple[Array, Array]:
    """Solve t = K·(gap - t)^shape for t in (0, gap); returns ``(log t, log(gap - t))``.

    Vectorised, with no Python loop over data points, and the same code for numpy and PyTensor.

    1. **Bracket** s = log t.  g(s) = s - log K - shape·log(gap - e^s) is increasing (and convex) in s.
       If t < gap/2 then gap - t > gap/2 and t = K(gap - t)^shape >= K(gap/2)^shape, so
       t >= min(gap/2, K(gap/2)^shape); and t < gap, t = K(gap - t)^shape <= K·gap^shape, so
       t <= min(gap, K·gap^shape).  In logs the bracket is at most max(1, shape)·log 2 wide.
    2. **Bisection**, ``M4_BISECTION_STEPS`` halvings, on values only: it runs on
       ``disconnected_grad`` copies of the inputs, so PyTensor builds no gradient through the bracket
       logic (or the ``scan`` that holds it).
    3. **Newton in w = logit(t/gap) = log t - log(gap - t)**.  Near the upper boundary s = log gap
       cannot resolve gap - t in float64 (gap - t ≈ gap·(log gap - s)), but w carries both
       log t = log gap - softplus(-w) and log(gap - t) = log gap - softplus(w) to full relative
       precision.  F(w) = log t - log K - shape·log(gap - t) has F'(w) = sigmoid(-w) + shape·sigmoid(w)
       in [min(1, shape), max(1, shape)] and F'' of constant sign, so Newton converges monotonically.
       ``M4_NEWTON_STEPS`` steps run on values only; one last step ``w - F(w, theta)/stop(F'(w))``
       carries the exact implicit-function gradient dw/dtheta = -F_theta/F_w at the root.

    ``shape`` is floored at 1e-30 here (finite at shape = 0); :func:`m4_log_t` takes the exact M2
    branch at shape = 0.
    """
    shape = xp.maximum(shape, M4_SHAPE_FLOOR)
    # -- 1. bracket on s = log t (values only) -------------------------------------------------
    k_v, gap_v, shape_v = (_stop_gradient(xp, v) for v in (log_k, log_gap, shape))
    log_half_gap = gap_v - np.log(2.0)
    lo = xp.minimum(log_half_gap, k_v + shape_v * log_half_gap)
    hi = xp.minimum(gap_v, k_v + shape_v * gap_v)
    width = hi - lo
    # -- 2. bisection: lo + h_k tested at every step, h_k = width/2^k ---------------------------
    lo = _bisect(xp, lo, width, k_v, gap_v, shape_v)
    # -- 3. Newton in w = logit(t/gap) ------------------------------------------------------------
    # F is concave in w for shape < 1 and convex for shape > 1, so Newton is monotone from the left
    # (resp. right) of the root: start from the bracket end on that side (w is increasing in s).
    # Where s cannot resolve w (t within 1e-15 of gap) this keeps the start on the good side instead
    # of overshooting into the slowly converging exponential tail.
    s = lo + width * 0.5**M4_BISECTION_STEPS * (shape_v >= 1.0)
    d = xp.maximum(gap_v - s, _TINY)
    w = -(d + xp.log(-xp.expm1(-d)))  # -log(expm1(d)) = log t - log(gap - t), stable for all d > 0

    def residual(w: Array, log_k: Array, log_gap: Array, shape: Array) -> tuple[Array, Array]:
        sp_neg, sp_pos = _softplus(xp, -w), _softplus(xp, w)  # -log sigmoid(w), -log sigmoid(-w)
        f = -sp_neg + shape * sp_pos - log_k + (1.0 - shape) * log_gap
        fprime = xp.exp(-sp_pos) + shape * xp.exp(-sp_neg)
        return f, fprime

    for _ in range(M4_NEWTON_STEPS):
        f, fprime = residual(w, k_v, gap_v, shape_v)
        w = w - f / fprime
    w = _stop_gradient(xp, w)
    f, fprime = residual(w, log_k, log_gap, shape)
    w = w - f / _stop_gradient(xp, fprime)
    return log_gap - _softplus(xp, -w), log_gap - _softplus(xp, w)


def m4_log_t(xp: ModuleType, log_k: Array, log_gap: Array, shape: Array) -> Array:
    """log(eps - eps_inf) of M4; at shape = 0 exactly log K (M2, with no bound at eps_0)."""
    log_t, _ = m4_solve(xp, log_k, log_gap, shape)
    m4 = shape > 0.0
    return log_t * m4 + log_k * (1 - m4)  # an exact select using only ufuncs (xarray-safe)


def m4_log_mean(xp: ModuleType, x: Mapping[str, Array], p: Mapping[str, Array]) -> Array:
    """log eps = logaddexp(log_e, log t) with t solving t = K(gap - t)^shape, K = exp(log_b0 - alpha·xc)."""
    log_k = p["log_b0"] - p["alpha"] * x["tokens"]
    return xp.logaddexp(p["log_e"], m4_log_t(xp, log_k, p["log_gap"], p["shape"]))


def m4_natural(xp: ModuleType, p: Mapping[str, Array], piv: Mapping[str, float]) -> dict[str, Array]:
    """E (eps_inf), eps0 = E + gap, beta = exp(log_b0)·X0^alpha (K at x = 1), alpha, shape."""
    e = xp.exp(p["log_e"])
    return {
        "E": e,
        "eps0": e + xp.exp(p["log_gap"]),
        "beta": xp.exp(p["log_b0"] + p["alpha"] * piv["tokens"]),
        "alpha": p["alpha"],
        "shape": p["shape"],
    }


def m4_from_natural(xp: ModuleType, n: Mapping[str, Array]) -> dict[str, Array]:
    """Sampled parameters at a zero pivot (X0 = 1); needs eps0 > E."""
    with np.errstate(divide="ignore"):
        return {"log_e": xp.log(n["E"]), "log_gap": xp.log(n["eps0"] - n["E"]), "log_b0": xp.log(n["beta"]),
                "alpha": n["alpha"], "shape": n["shape"]}
