"""The M4 learning-curve law (Alabdulmohsin et al. 2022) in one data axis x.

(eps - eps_inf)/(eps_0 - eps)^shape = beta·x^-alpha, with eps_inf < eps < eps_0.  eps is implicit:
see :func:`m4_solve`.  ``shape = 0`` is M2, eps = eps_inf + beta·x^-alpha, exactly.  The law reads
the runs' ``tokens`` column and is evaluated on the centred log input ``xc = log x - log X0``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

import numpy as np

from .base import Array, Law
from .xp import is_pytensor, softplus, stop_gradient

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


def _log_gap_minus_exp(xp: ModuleType, log_gap: Array, s: Array) -> Array:
    """log(gap - e^s) = log gap + log(-expm1(-d)), d = log gap - s floored at 1e-300 (finite always).

    ``-expm1(-d)`` is exact to rounding for tiny and for large d, so there is no cancellation.
    """
    d = xp.maximum(log_gap - s, _TINY)
    return log_gap + xp.log(-xp.expm1(-d))


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
    if is_pytensor(xp):
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
    k_v, gap_v, shape_v = (stop_gradient(xp, v) for v in (log_k, log_gap, shape))
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
        sp_neg, sp_pos = softplus(xp, -w), softplus(xp, w)  # -log sigmoid(w), -log sigmoid(-w)
        f = -sp_neg + shape * sp_pos - log_k + (1.0 - shape) * log_gap
        fprime = xp.exp(-sp_pos) + shape * xp.exp(-sp_neg)
        return f, fprime

    for _ in range(M4_NEWTON_STEPS):
        f, fprime = residual(w, k_v, gap_v, shape_v)
        w = w - f / fprime
    w = stop_gradient(xp, w)
    f, fprime = residual(w, log_k, log_gap, shape)
    w = w - f / stop_gradient(xp, fprime)
    return log_gap - softplus(xp, -w), log_gap - softplus(xp, w)


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


PRIORS = {
    "log_e": {"dist": "Normal", "mu": -1.0, "sigma": 1.5},
    # gap = eps0 - E: for error rates eps0 is the random-guess error (0.5-1) and E is small, so gap ~ 0.6
    # (log -0.5); sd 1.5 still reaches LM losses (eps0 = log V ~ 10.8, gap ~ 9) at 1.8 sd.
    "log_gap": {"dist": "Normal", "mu": -0.5, "sigma": 1.5},
    "log_b0": {"dist": "Normal", "mu": -1.0, "sigma": 2.0},  # log K at the pivot, K ~ (eps - E)·(eps0 - eps)^-shape
    "alpha": {"dist": "HalfNormal", "sigma": 1.0},  # paper's -c: ~0.24-0.4 for ViT, ~1/3 for LM (SCIENCE.md §7)
    "shape": {"dist": "HalfNormal", "sigma": 1.0},  # shape = 0 is M2; mass near 0 shrinks towards M2
}

M4 = Law(
    name="m4",
    formula="(L - E)/(eps0 - L)^shape = beta·x^-alpha, E < L < eps0",
    inputs=("tokens",),
    sampled=("log_e", "log_gap", "log_b0", "alpha", "shape"),
    pivot_free=("log_e", "log_gap", "alpha", "shape"),
    natural_names=("E", "eps0", "beta", "alpha", "shape"),
    log_mean=m4_log_mean,
    to_natural=m4_natural,
    from_natural=m4_from_natural,
    has_allocation=False,
    doc="Alabdulmohsin et al. 2022, M4, in the data axis x (the tokens column); L is implicit "
        "(m4_solve). log_gap = log(eps0 - E), log_b0 = log(beta·X0^-alpha) at the pivot X0; shape = 0 is M2.",
    priors=PRIORS,
    latex=r"(L - E)/(\varepsilon_0 - L)^{\text{shape}} = \beta x^{-\alpha}",
    baseline="m4",
)
