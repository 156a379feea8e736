"""Targets: the smallest compute that reaches a loss with a given probability, and P(L <= x) at given runs.

:func:`target_from_draws` finds C = min{C : g(C) <= x}, with g(C) the smallest ``prob``-quantile of
L(N, C/(kN)) over N, on [k, max_compute] (also capped at k·max_params·max_tokens), vectorised over
targets, probabilities and groups. The law's own g is non-increasing in C, but with the structural
error beyond the runs (:func:`compute_for_target`'s default) it is not: far enough out the error
grows faster than the law gains, and it jumps just past the largest run, where the error starts. So
g is evaluated at the largest run's compute and at :data:`BEYOND` decades past it, the first step
that reaches the target is bisected (inside the runs g falls with compute, so one step serves
there), and where no step reaches it, the least value is refined before the target is refused.
Before searching it refuses targets no compute can reach: at or below the law's irreducible loss
with the requested probability (an error that grows with distance does not make ignorance a way to
reach a loss the law says is out of reach), or below the best loss within the limits on N and D.
:func:`prob_below_from_draws` gives P(L <= x) for the mean law or, predictively, for an observed run.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from ..data.reach import MAX_DECADES_BELOW, reach, reach_warnings
from ..errors import DataWarning, QueryError, require_bool
from ..search import golden
from ..structural import mixing_scales, structural_extra
from .beyond import StructuralLoss, law_params, with_structural
from .draws import (
    SAMPLE_DIMS,
    Draws,
    grid_size,
    limit_attr,
    numbers,
    optional_limit,
    positive_1d,
    probability,
)
from .optimise import Frame, optimise, transpose
from .risk import quantile

if TYPE_CHECKING:
    from ..result.fit import Fit

BISECTION_ITERATIONS = 50  # log C bracket (<= ~140 nats) to ~1e-13 nats
#: Decades beyond the largest run at which the best quantile is evaluated before bisecting: dense near
#: the edge of the runs, where the structural error rises fastest, then every half decade and decade.
BEYOND = (0.01, 0.03, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, *range(7, 61))
#: Golden-section steps that refine the least scanned objective (0.618^30: a window 1e-6 of a step wide).
REFINE_ITERATIONS = 30
DEFAULT_MAX_COMPUTE = 1e40
HUGE_LOG = float(np.log(1e300))  # log N or log D standing in for "infinite" scale


def _limit_loss(draws: Draws, max_params: float | None, max_tokens: float | None) -> xr.DataArray:
    """Loss of every draw in the limit of infinite compute within the constraints."""
    log_n = np.log(max_params) if max_params is not None else HUGE_LOG
    log_d = np.log(max_tokens) if max_tokens is not None else HUGE_LOG
    return np.exp(draws.log_loss({"params": xr.DataArray(log_n), "tokens": xr.DataArray(log_d)}))


def _infeasible(mask: xr.DataArray, target: xr.DataArray, p: xr.DataArray) -> list[tuple[float, float]]:
    """The (target, prob) pairs where ``mask`` holds for any group."""
    extra = [d for d in mask.dims if d not in ("target", "prob")]
    if extra:
        mask = mask.any(extra)
    mask = mask.broadcast_like(target * p).transpose("target", "prob")
    return [(float(target[i]), float(p[j])) for i, j in np.argwhere(mask.values)]


def _check_reachable(draws: Draws, target: xr.DataArray, p: xr.DataArray, max_params: float | None,
                     max_tokens: float | None) -> None:
    """Refuse targets that no compute reaches: below the irreducible loss, or beyond the limits."""
    floor = _limit_loss(draws, None, None)
    bad = _infeasible(quantile(floor, p) >= target, target, p)
    if bad:
        x, pr = bad[0]
        frac = float((floor < x).mean(SAMPLE_DIMS).min())
        raise QueryError(
            f"target loss {x:.4g} is not reachable with probability {pr:g}: the irreducible loss (L as "
            f"N, D -> infinity) is below {x:.4g} in only {frac:.1%} of draws"
            + (f" (and {len(bad) - 1} more infeasible target/prob pairs)" if len(bad) > 1 else "")
        )
    if max_params is None and max_tokens is None:
        return
    capped = _limit_loss(draws, max_params, max_tokens)
    bad = _infeasible(quantile(capped, p) >= target, target, p)
    if bad:
        x, pr = bad[0]
        best = float(quantile(capped, pr).min())
        raise QueryError(
            f"target loss {x:.4g} is not reachable with probability {pr:g} within max_params="
            f"{max_params} and max_tokens={max_tokens}: the best attainable {pr:g}-quantile of loss "
            f"is {best:.4g}"
        )


def _scan(solve: Callable[[np.ndarray], dict[str, np.ndarray]], hi_m: float, x: np.ndarray,
          edge: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per element, the first bracket [a, b] of log(C/k) whose b reaches ``x`` (its best objective <= x) and
    whose a does not, along budgets from k: the largest run's compute (``edge``; None for the law alone,
    whose objective falls with compute), :data:`BEYOND` decades past it, and ``hi_m``. Inside the runs the
    objective falls with compute, so one bracket [0, edge] serves there; beyond them the structural error
    can raise it before the law brings it down again. Where no scanned budget reaches ``x``, the least
    objective is refined by a golden-section search between its neighbours. Returns a, b, a mask of the
    elements nothing reaches, and the least objective seen."""
    steps = [] if edge is None else [edge, *(edge + d * np.log(10) for d in BEYOND)]
    points = [m for m in steps if m < hi_m] + [hi_m]
    found, best = np.zeros(np.shape(x), dtype=bool), np.full(np.shape(x), np.inf)
    a, b, at = np.zeros(np.shape(x)), np.full(np.shape(x), hi_m), np.zeros(np.shape(x), dtype=int)
    for i, m in enumerate(points):
        objective = solve(np.full(np.shape(x), m))["objective"]
        new = ~found & (objective <= x)
        a, b, found = np.where(new, points[i - 1] if i else 0.0, a), np.where(new, m, b), found | new
        at, best = np.where(objective < best, i, at), np.minimum(best, objective)
    if not found.all():  # a window narrower than the scan's step, around the least objective seen
        grid = np.array([0.0, *points, hi_m])
        m = golden(lambda u: solve(u)["objective"], grid[at], grid[at + 2], REFINE_ITERATIONS)
        objective = solve(m)["objective"]
        new = ~found & (objective <= x)
        a, b, found = np.where(new, grid[at], a), np.where(new, m, b), found | new
        best = np.minimum(best, objective)
    return a, b, ~found, best


def _refuse_unreached(missed: xr.DataArray, best: xr.DataArray, target: xr.DataArray, p: xr.DataArray,
                      max_compute: float, structural: bool) -> None:
    """A QueryError for the first (target, prob) that no scanned budget reaches, with the least quantile seen."""
    bad = _infeasible(missed, target, p)
    if bad:
        x, pr = bad[0]
        least = float(best.sel(target=x, prob=pr).min())
        why = " (beyond the runs the law's structural error grows faster than the law gains)" if structural else ""
        raise QueryError(f"target loss {x:.6g} with probability {pr:g} is not reached by any budget up to "
                         f"max_compute={max_compute:.4g} FLOPs: the least {pr:g}-quantile of loss found is "
                         f"{least:.6g}{why}")


def _bisect(solve: Callable[[np.ndarray], dict[str, np.ndarray]], lo_m: np.ndarray, hi_m: np.ndarray,
            x: np.ndarray) -> np.ndarray:
    """The smallest log(C/k) in [lo_m, hi_m] whose best objective is <= x (elementwise bisection)."""
    hi_m = np.where(solve(lo_m)["objective"] <= x, lo_m, hi_m)
    for _ in range(BISECTION_ITERATIONS):
        mid = (lo_m + hi_m) / 2
        ok = solve(mid)["objective"] <= x
        hi_m = np.where(ok, mid, hi_m)
        lo_m = np.where(ok, lo_m, mid)
    return hi_m


def _warn_if_unresolved(prob: np.ndarray, n_draws: int) -> None:
    """A DataWarning for a probability closer to 0 or 1 than one draw in ``n_draws``."""
    coarse = [float(v) for v in np.ravel(prob) if v > 1 - 1 / n_draws or v < 1 / n_draws]
    if coarse:
        warnings.warn(f"probability {coarse[0]:g} is finer than {n_draws} posterior draws resolve (steps of "
                      f"{1 / n_draws:.2g}): the answer rests on the one most extreme draw; sample more draws",
                      DataWarning, stacklevel=4)


def target_from_draws(
    draws: Draws,
    loss: float | Sequence[float] | np.ndarray,
    prob: float | Sequence[float] | np.ndarray = 0.9,
    max_params: float | None = None,
    max_tokens: float | None = None,
    max_compute: float = DEFAULT_MAX_COMPUTE,
    n_grid: int = 33,
) -> xr.Dataset:
    """Smallest budget reaching each target loss with each probability (the core of :func:`compute_for_target`).

    Returns
    -------
    xarray.Dataset
        Dims ``(target, prob, *groups)``: ``budget`` (the compute C in FLOPs), ``params``, ``tokens``, ``ratio`` of the
        answer, ``loss_quantile`` (the ``prob``-quantile of L there, <= the target) and
        ``prob_achieved`` (the fraction of draws with L <= target there, >= prob up to the
        quantile's interpolation); ``loss`` at the answer, dims ``(chain, draw, target, prob,
        *groups)``. Coordinates ``target`` (the loss values) and ``prob``.

    Raises
    ------
    QueryError
        A target at or below the irreducible loss with the requested probability, a target out of
        reach within the constraints or below ``max_compute``, prob outside (0, 1), non-positive
        targets, a compute-only law.
    """
    draws.check(("target", "prob", "n_grid"))
    target = positive_1d(loss, "loss", "target")
    p = probability(prob, "prob", "prob")
    _warn_if_unresolved(p, draws.n_draws)
    k = draws.compute_factor
    max_params = optional_limit(max_params, "max_params")
    max_tokens = optional_limit(max_tokens, "max_tokens")
    limit = numbers(max_compute, "max_compute")
    if limit.size != 1 or not np.isfinite(limit[0]) or limit[0] <= k:
        raise QueryError(f"max_compute must be a number above k = {k:g}, got {max_compute!r}")
    max_compute = float(limit[0])
    n_grid = grid_size(n_grid)
    _check_reachable(draws.with_sampled(law_params(draws.sampled)), target, p, max_params, max_tokens)
    log_hi = np.log(max_compute / k)
    if max_params is not None and max_tokens is not None:
        log_hi = min(log_hi, float(np.log(max_params) + np.log(max_tokens)))

    frame = Frame(draws.sampled, target * p)
    params_np = {name: frame.np(v) for name, v in draws.sampled.items()}
    q_np, x_np = frame.np(p), frame.np(target)
    log_nmax = np.log(max_params) if max_params is not None else np.inf
    log_dmax = np.log(max_tokens) if max_tokens is not None else np.inf

    def solve(lm: np.ndarray) -> dict[str, np.ndarray]:
        lo = np.maximum(0.0, lm - log_dmax)
        hi = np.maximum(lo, np.minimum(lm, log_nmax))
        return optimise(draws.law, params_np, draws.pivots, lm, lo, hi, "quantile", q_np, int(n_grid), 0.0, (0, 1),
                        keep_curve=False)

    law = draws.law
    edge = (float(law.hi["compute"] * np.log(10) - np.log(k)) if isinstance(law, StructuralLoss) and "compute" in law.hi
            else None)  # log(C/k) of the largest run, where the structural error starts
    before, first, missed, best = _scan(solve, log_hi, x_np * np.ones(frame.shape()), edge)
    _refuse_unreached(frame.da(missed, frame.rest), frame.da(best, frame.rest), target, p, k * np.exp(log_hi),
                      isinstance(draws.law, StructuralLoss))
    log_m = _bisect(solve, before, first, x_np)
    res = solve(log_m)
    u = res["u"]
    out = xr.Dataset({
        "budget": frame.da(k * np.exp(log_m), frame.rest),
        "params": frame.da(np.exp(u), frame.rest),
        "tokens": frame.da(np.exp(log_m - u), frame.rest),
        "ratio": frame.da(np.exp(log_m - 2 * u), frame.rest),
        "loss_quantile": frame.da(res["objective"], frame.rest),
        "prob_achieved": frame.da((res["loss"] <= x_np).mean(axis=(0, 1), keepdims=True), frame.rest),
        "loss": frame.da(res["loss"], frame.dims),
    })
    out = transpose(out, "chain", "draw", "target", "prob")
    out.attrs.update(compute_factor=k, max_params=limit_attr(max_params), max_tokens=limit_attr(max_tokens),
                     max_compute=float(max_compute))
    return out


def prob_below_from_draws(
    draws: Draws,
    loss: float | Sequence[float] | np.ndarray,
    params: float | Sequence[float] | np.ndarray,
    tokens: float | Sequence[float] | np.ndarray,
    predictive: bool = False,
) -> xr.Dataset:
    """P(L <= x) at runs (N, D), from posterior draws (the core of :func:`prob_below`).

    With ``predictive=False`` L is the mean law; otherwise it is an observed run with the draws'
    noise, log L = mu + sigma·eps with eps standard normal, or Student-t with ``nu`` degrees of
    freedom, and the probability is the exact posterior average of the noise CDF (no simulation).

    Returns
    -------
    xarray.Dataset
        ``prob`` with dims ``(target, point, *groups)``; coordinates ``target`` (the losses) and
        ``params``, ``tokens``, ``compute`` on ``point``.
    """
    draws.check(("target", "point"))
    target = positive_1d(loss, "loss", "target")
    n = positive_1d(params, "params", "point").values
    d = positive_1d(tokens, "tokens", "point").values
    try:
        n, d = np.broadcast_arrays(n, d)
    except ValueError:
        raise QueryError("params and tokens must have the same length (or length 1)") from None
    mu = draws.log_loss({"params": xr.DataArray(np.log(n), dims="point"),
                         "tokens": xr.DataArray(np.log(d), dims="point")})
    noise = draws.noise
    if not require_bool(predictive, "predictive"):
        prob = (mu <= np.log(target)).mean(SAMPLE_DIMS)
    else:
        if "sigma" not in noise:
            raise QueryError("predictive probabilities need the noise scale 'sigma' in the posterior")
        # scipy.special here, not at import: 0.2-0.4 s that `target --loss` does not need
        from scipy import special

        z = (np.log(target) - mu) / noise["sigma"]
        cdf = xr.apply_ufunc(special.stdtr, noise["nu"], z) if "nu" in noise else xr.apply_ufunc(special.ndtr, z)
        prob = cdf.mean(SAMPLE_DIMS)
    out = xr.Dataset({"prob": prob}).assign_coords(
        params=("point", n), tokens=("point", d), compute=("point", draws.compute_factor * n * d))
    out = transpose(out, "target", "point")
    out.attrs["predictive"] = int(predictive)
    return out


def compute_for_target(fit: Fit, loss: float | Sequence[float], prob: float | Sequence[float] = 0.9,
                       max_params: float | None = None, max_tokens: float | None = None,
                       max_compute: float = DEFAULT_MAX_COMPUTE, structural: bool = True) -> xr.Dataset:
    """Smallest compute reaching L <= ``loss`` with probability >= ``prob`` for a Fit.

    Parameters
    ----------
    fit : Fit
        A fit of a law with an N/D split.
    loss : float or sequence of float
        Target losses (dim ``target``).
    prob : float or sequence of float
        Required probabilities P(L <= loss), in (0, 1) (dim ``prob``).
    max_params, max_tokens : float, optional
        Upper limits on N and D.
    max_compute : float
        The largest budget searched, in FLOPs.
    structural : bool
        Give L beyond the fitted runs the spec's structural error, as a plan does
        (:func:`bayes_scaling.decisions.beyond.with_structural`; default); False: the law alone.

    Returns
    -------
    xarray.Dataset
        As :func:`target_from_draws` (dims ``target, prob``). ``attrs["structural"]`` says whether L
        carried the error, ``attrs["reach"]`` holds the decades beyond the fitted runs of the
        compute, N and D found, and ``attrs["warnings"]`` says where they extrapolate.

    Raises
    ------
    QueryError
        A target no budget up to ``max_compute`` reaches, one below the irreducible loss or beyond
        the limits, or one reached only far below the runs' compute.
    """
    draws = with_structural(fit, Draws.from_fit(fit)) if require_bool(structural, "structural") else Draws.from_fit(fit)
    ds = target_from_draws(draws, loss, prob, max_params, max_tokens, max_compute)
    _refuse_below_runs(fit, ds)
    ds.attrs["structural"] = int(structural and fit.spec.discrepancy.active)
    found = {name: np.ravel(ds[name].values) for name in ("budget", "params", "tokens") if name in ds}
    found = {k: v[np.isfinite(v)] for k, v in found.items()}
    distances = reach(fit.runs, compute=found.get("budget"), params=found.get("params"), tokens=found.get("tokens"))
    ds.attrs.update(reach=distances, warnings=reach_warnings(distances, "the target"))
    return ds


def _refuse_below_runs(fit: Fit, ds: xr.Dataset) -> None:
    """A QueryError for a target reached only far below the runs' compute, where the law was never observed
    (as :func:`bayes_scaling.data.reach.check_budget` refuses such a budget)."""
    smallest = float(fit.runs.column("compute").min())
    below = np.log10(smallest / ds["budget"])
    if bool((below > MAX_DECADES_BELOW + 1e-9).any()):
        where = below.where(below == below.max(), drop=True)
        x = float(where["target"].values.ravel()[0])
        raise QueryError(f"target loss {x:.4g} is reached {float(below.max()):.1f} decades below the smallest fitted "
                         f"run ({smallest:.4g} FLOPs), where the law was never observed: ask for a loss the runs "
                         "reach or beat, or fit runs at that scale")


def convolved_noise(fit: Fit, noise: dict[str, xr.DataArray], points: pd.DataFrame) -> dict[str, xr.DataArray]:
    """The noise of new runs at ``points`` with the spec's structural error summed in (see
    :func:`bayes_scaling.structural.convolved`): ``sigma`` and ``nu`` gain the dim ``point``."""
    sigma = noise["sigma"]
    own = sigma["task"].values if fit.per_task and "task" in sigma.dims else None  # each task from its own runs
    extra = structural_extra(fit, points, "point", own)
    if extra is None:
        return dict(noise)
    if "nu" not in noise:
        return {**noise, "sigma": np.sqrt(sigma**2 + extra**2)}
    nu = noise["nu"]
    lam = xr.DataArray(mixing_scales(nu.values, fit.settings.seed).reshape(nu.shape), dims=nu.dims, coords=nu.coords)
    beyond = extra > 0
    return {**noise, "sigma": xr.where(beyond, np.sqrt(sigma**2 * lam + extra**2), sigma),
            "nu": xr.where(beyond, np.inf, nu)}


def prob_below(fit: Fit, loss: float | Sequence[float], params: float | Sequence[float],
               tokens: float | Sequence[float], predictive: bool = False) -> xr.Dataset:
    """P(L <= ``loss``) at runs (``params``, ``tokens``): mean law, or an observed run if ``predictive``.

    See :func:`prob_below_from_draws`.
    """
    draws = Draws.from_fit(fit)
    if require_bool(predictive, "predictive") and not draws.noise:
        raise QueryError("this fit has no noise parameters: predictive probabilities are unavailable")
    if predictive:
        points = fit.law.points(fit.runs.compute_factor, params, tokens)  # validated and broadcast
        n, d = points["params"], points["tokens"]
        points = pd.DataFrame({"params": n, "tokens": d, "compute": fit.runs.compute_factor * n * d})
        draws = replace(draws, noise=convolved_noise(fit, draws.noise, points))
    return prob_below_from_draws(draws, loss, params, tokens, predictive)
