"""Risk-aware compute-budget planning on posterior draws.

Every question here is answered from the posterior draws of a fitted law, vectorised with xarray
broadcasting; nothing is refitted. Sampled parameters may carry group dims besides ``(chain, draw)``
(e.g. ``alpha`` with dim ``domain`` in a hierarchical fit): they flow through to every output, and
every decision (the chosen N, the compute for a target) is then made per group.

Questions
---------
:func:`plan`
    For a budget C = k·N·D, choose N (and D = C/(kN)) minimising a risk measure of the loss over
    the posterior: ``"mean"`` (E[L], the Bayes decision), ``"quantile"`` (the q-quantile of L) or
    ``"cvar"`` (the mean of L over the worst 1−q of draws). Constraints: ``max_params`` (memory),
    ``max_tokens`` (data-limited) or a fixed ``params``.
:func:`compute_for_target`
    The smallest budget whose best allocation reaches L <= x with probability >= p (the p-quantile
    plan), by bisection in log C.
:func:`prob_below`
    P(L <= x) at planned runs, for the mean law or (``predictive=True``) for an observed run with
    the fitted noise (sigma, and nu for the Student-t likelihood).
:func:`regret`
    The plug-in plan (posterior-median parameters as a point estimate) against the Bayes plan, both
    scored under the full posterior.
:func:`value_of_information`
    Expected value of sample information of one more run at (N, D) for the ``mean`` plan, by
    preposterior analysis with importance reweighting of the draws (see its docstring for the
    estimator and its limits).

Each has a pure core taking ``(law, sampled, pivots, ...)`` (``*_from_draws``) and a thin wrapper
taking a :class:`~bayes_scaling.Fit`.

How a plan is optimised
-----------------------
For each draw, L(N, M/N) (M = C/k) is convex in u = log N for the laws in :mod:`bayes_scaling.laws`,
so every draw has one optimum u*_i (closed form for the Chinchilla law, golden-section search
otherwise), clipped to the constraints. All three objectives are monotone risk measures: below
min_i u*_i every draw's loss falls with u, so the objective falls too, and above max_i u*_i it
rises. The optimum of any objective therefore lies in [min_i u*_i, max_i u*_i]. A log-spaced grid
of ``n_grid`` values of N spans that range widened by ``span`` on either side (clipped to the
constraints); the best grid point is refined by a golden-section search on the objective between
its two neighbours (the mean and the CVaR are convex in u; the empirical quantile need not be,
which is why the grid comes first).

Estimators: the q-quantile is numpy's default (linear interpolation between order statistics);
the CVaR is that of the empirical distribution of the draws, t + E[(L − t)+]/(1 − q) at
t = the ceil(q·n)-th order statistic (Rockafellar and Uryasev), i.e. the mean of the worst 1 − q
of the draws with the boundary draw counted fractionally.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy import special

from ..data.reach import check_budget, reach, warn_reach
from ..errors import QueryError
from ..laws import Law
from ..search import golden

if TYPE_CHECKING:
    from ..result.fit import Fit

SAMPLE_DIMS = ("chain", "draw")
OBJECTIVES = ("mean", "quantile", "cvar")
NOISE_VARS = ("sigma", "nu")
DRAW_ITERATIONS = 90  # per-draw optimum over the feasible range (<= ~140 nats) to ~1e-17 nats
REFINE_ITERATIONS = 45  # objective refinement between two grid neighbours to ~1e-10 of a step
BISECTION_ITERATIONS = 50  # log C bracket (<= ~140 nats) to ~1e-13 nats
DEFAULT_GRID = 101
DEFAULT_SPAN = 10.0
DEFAULT_MAX_COMPUTE = 1e40
MIN_ESS_FRACTION = 0.1  # below this share of the draws as effective sample size, VOI warns
HUGE_LOG = float(np.log(1e300))  # log N or log D standing in for "infinite" scale

Sampled = Mapping[str, xr.DataArray]


# ----------------------------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------------------------

def _positive_1d(values: Any, name: str, dim: str) -> xr.DataArray:
    arr = np.atleast_1d(np.asarray(values, dtype=float))
    if arr.ndim != 1 or arr.size == 0:
        raise QueryError(f"give one or more values of {name}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise QueryError(f"{name} must be positive and finite, got {arr.tolist()}")
    return xr.DataArray(arr, dims=dim, coords={dim: arr}, name=name)


def _probability(value: Any, name: str, dim: str | None = None) -> float | xr.DataArray:
    arr = np.atleast_1d(np.asarray(value, dtype=float))
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or np.any((arr <= 0) | (arr >= 1)):
        raise QueryError(f"{name} must lie strictly between 0 and 1, got {np.ravel(arr).tolist()}")
    if dim is None:
        if arr.size != 1:
            raise QueryError(f"{name} must be one number between 0 and 1")
        return float(arr[0])
    return xr.DataArray(arr, dims=dim, coords={dim: arr}, name=name)


def _optional_limit(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    v = float(value)
    if not np.isfinite(v) or v <= 0:
        raise QueryError(f"{name} must be a positive number, got {value!r}")
    if v < 1:
        raise QueryError(f"{name}={v:.4g} excludes every model: it must be at least 1")
    return v


def _check_law(law: Law) -> None:
    if not law.has_allocation:
        raise QueryError(
            f"the '{law.name}' law models loss as a function of compute alone: it has no N/D "
            "allocation to plan; fit a law in params and tokens (e.g. 'chinchilla')"
        )


def _check_objective(objective: str, q: float) -> float:
    if objective not in OBJECTIVES:
        raise QueryError(f"unknown objective '{objective}'; choose one of {', '.join(OBJECTIVES)}")
    return _probability(q, "q")


def _group_dims(sampled: Sampled) -> list[str]:
    dims: list[str] = []
    for da in sampled.values():
        for d in da.dims:
            if d not in SAMPLE_DIMS and d not in dims:
                dims.append(d)
    return dims


def _check_draws(sampled: Sampled, reserved: Sequence[str]) -> None:
    for name, da in sampled.items():
        missing = [d for d in SAMPLE_DIMS if d not in da.dims]
        if missing:
            raise QueryError(f"sampled parameter '{name}' lacks dims {missing}: pass posterior draws")
    clash = [d for d in _group_dims(sampled) if d in reserved]
    if clash:
        raise QueryError(f"the posterior has dims {clash} that planning uses for its own outputs")


def _feasible(log_m: xr.DataArray, k: float, max_params: float | None,
              max_tokens: float | None) -> tuple[xr.DataArray, xr.DataArray]:
    """Bounds on u = log N with 1 <= N <= max_params and 1 <= D = M/N <= max_tokens; raise if empty."""
    lo = np.maximum(log_m * 0.0, log_m - np.log(max_tokens)) if max_tokens is not None else log_m * 0.0
    hi = np.minimum(log_m, np.log(max_params)) if max_params is not None else log_m
    bad = (lo > hi + 1e-12).values
    if np.any(bad):
        budget = float(np.exp(log_m.values[bad][0]) * k)
        if budget < k:
            raise QueryError(f"budget {budget:.4g} FLOPs is too small: below k = {k:g} FLOPs there is not "
                             "even one parameter trained on one token")
        need = budget / (k * max_tokens)  # only max_tokens can push lo above hi otherwise
        raise QueryError(
            f"budget {budget:.4g} FLOPs cannot be spent within max_params={max_params:.4g} and "
            f"max_tokens={max_tokens:.4g}: with D <= max_tokens it needs N >= C/(k·max_tokens) = "
            f"{need:.4g} > max_params (largest spendable budget: k·max_params·max_tokens = "
            f"{k * max_params * max_tokens:.4g})"
        )
    return lo, np.maximum(lo, hi)


# ----------------------------------------------------------------------------------------------
# risk measures over draws
# ----------------------------------------------------------------------------------------------

def _sorted_draws(x: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Core dims (chain, draw) last -> sorted over one flattened sample axis, broadcast against q."""
    s = np.sort(x.reshape(*x.shape[:-2], -1), axis=-1)
    shape = np.broadcast_shapes(s.shape[:-1], np.shape(q))
    return np.broadcast_to(s, (*shape, s.shape[-1]))


def _take(x: np.ndarray, index: np.ndarray) -> np.ndarray:
    index = np.broadcast_to(index, x.shape[:-1])[..., None]
    return np.take_along_axis(x, index, axis=-1)[..., 0]


def _np_quantile(x: np.ndarray, q: np.ndarray) -> np.ndarray:
    s = _sorted_draws(x, q)
    n = s.shape[-1]
    h = np.asarray(q, dtype=float) * (n - 1)
    lo = np.floor(h).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    w = h - lo
    return _take(s, lo) * (1.0 - w) + _take(s, hi) * w


def _np_cvar(x: np.ndarray, q: np.ndarray) -> np.ndarray:
    s = _sorted_draws(x, q)
    n = s.shape[-1]
    q = np.asarray(q, dtype=float)
    k = np.clip(np.ceil(q * n - 1e-9).astype(int) - 1, 0, n - 1)
    t = _take(s, k)
    return t + np.maximum(s - t[..., None], 0.0).sum(-1) / (n * (1.0 - q))


def quantile(loss: xr.DataArray, q: float | xr.DataArray) -> xr.DataArray:
    """The q-quantile of ``loss`` over ``(chain, draw)``; ``q`` may be a DataArray with its own dims."""
    q = q if isinstance(q, xr.DataArray) else xr.DataArray(float(q))
    return xr.apply_ufunc(_np_quantile, loss, q, input_core_dims=[list(SAMPLE_DIMS), []])


def cvar(loss: xr.DataArray, q: float | xr.DataArray) -> xr.DataArray:
    """Mean of ``loss`` over the worst 1 − q of the draws (empirical CVaR, boundary draw fractional)."""
    q = q if isinstance(q, xr.DataArray) else xr.DataArray(float(q))
    return xr.apply_ufunc(_np_cvar, loss, q, input_core_dims=[list(SAMPLE_DIMS), []])


def risk(loss: xr.DataArray, objective: str, q: float | xr.DataArray = 0.9) -> xr.DataArray:
    """Reduce draws of loss to the planning objective: ``mean``, ``quantile`` or ``cvar``."""
    if objective == "mean":
        return loss.mean(SAMPLE_DIMS)
    if objective == "quantile":
        return quantile(loss, q)
    if objective == "cvar":
        return cvar(loss, q)
    raise QueryError(f"unknown objective '{objective}'; choose one of {', '.join(OBJECTIVES)}")


# ----------------------------------------------------------------------------------------------
# optimisation over u = log N
# ----------------------------------------------------------------------------------------------

def _log_loss_at(law: Law, sampled: Sampled, pivots: Mapping[str, float], log_m: Any, u: Any) -> Any:
    return law.log_loss(sampled, {"params": u, "tokens": log_m - u}, pivots)


def _draw_optimum(law: Law, sampled: Sampled, pivots: Mapping[str, float], log_m: Any, lo: Any, hi: Any) -> Any:
    """log N* of every draw at log(C/k) = log_m, clipped to [lo, hi] (exact for convex laws)."""
    if law.log_optimum is not None:
        u = law.log_optimum(law.natural(sampled, pivots), log_m)
        return np.minimum(np.maximum(u, lo), hi)
    return golden(lambda u: _log_loss_at(law, sampled, pivots, log_m, u), lo, hi, DRAW_ITERATIONS)


class _Frame:
    """One axis layout ``(chain, draw, *rest)`` for the numpy inner loops; xarray only at the edges.

    ``rest`` lists the dims of the query arrays (budget, target, prob, ...) first, then the
    posterior's group dims. Arrays lacking a dim get a size-1 axis, so numpy broadcasting does what
    xarray's would, without xarray's per-operation cost inside golden-section and bisection loops.
    """

    def __init__(self, sampled: Sampled, *others: Any) -> None:
        self.sizes: dict[str, int] = {}
        self.coords: dict[str, np.ndarray] = {}
        rest: list[str] = []
        for da in [*others, *sampled.values()]:
            if not isinstance(da, xr.DataArray):
                continue
            for d in da.dims:
                self.sizes[d] = da.sizes[d]
                if d in da.indexes and d not in self.coords:
                    self.coords[d] = da[d].values
                if d not in SAMPLE_DIMS and d not in rest:
                    rest.append(d)
        self.rest = rest
        self.dims = (*SAMPLE_DIMS, *rest)

    def np(self, x: Any) -> np.ndarray:
        if not isinstance(x, xr.DataArray):
            return np.asarray(x, dtype=float)
        missing = [d for d in self.dims if d not in x.dims]
        if missing:
            x = x.expand_dims(missing)
        return np.asarray(x.transpose(*self.dims).values, dtype=float)

    def shape(self) -> tuple[int, ...]:
        return (1, 1, *(self.sizes[d] for d in self.rest))

    def da(self, arr: np.ndarray, dims: Sequence[str], extra: str | None = None) -> xr.DataArray:
        """A DataArray with ``dims`` (in this layout's order, plus a trailing ``extra``) from ``arr``."""
        arr = np.asarray(arr)
        index: list[Any] = []
        for axis, d in enumerate(self.dims):
            if d in dims:
                index.append(slice(None))
            elif arr.shape[axis] == 1:
                index.append(0)
            else:
                raise RuntimeError(f"internal: axis '{d}' of size {arr.shape[axis]} would be dropped")
        kept = [d for d in self.dims if d in dims]
        shape = [self.sizes[d] for d in kept]
        if extra is not None:
            index.append(slice(None))
            kept.append(extra)
            shape.append(arr.shape[-1])
        values = np.broadcast_to(arr[tuple(index)], shape).copy()
        return xr.DataArray(values, dims=kept, coords={d: self.coords[d] for d in kept if d in self.coords})


def _risk_np(x: np.ndarray, objective: str, q: Any) -> np.ndarray:
    """The objective over axes (0, 1) = (chain, draw), kept as size-1 axes."""
    if objective == "mean":
        return x.mean(axis=(0, 1), keepdims=True)
    q = np.asarray(q, dtype=float)
    if q.ndim:
        q = q[0, 0]
    reduce = _np_quantile if objective == "quantile" else _np_cvar
    return reduce(np.moveaxis(x, (0, 1), (-2, -1)), q)[None, None]


def _optimise(law: Law, p: Mapping[str, np.ndarray], pivots: Mapping[str, float], lm: np.ndarray,
              lo: np.ndarray, hi: np.ndarray, objective: str, q: Any, n_grid: int, log_span: float,
              range_axes: tuple[int, ...], fixed_u: np.ndarray | None = None,
              keep_curve: bool = True) -> dict[str, np.ndarray]:
    """Grid then golden refinement of the objective over u = log N in [lo, hi], in a :class:`_Frame` layout.

    The grid spans [min u*_i - log_span, max u*_i + log_span] within [lo, hi], the extremes taken
    over ``range_axes`` (always chain and draw; also the group axes for a grid shared by groups).
    """

    def log_l(u: np.ndarray) -> np.ndarray:
        return law.log_loss(p, {"params": u, "tokens": lm - u}, pivots)

    def objective_at(u: np.ndarray) -> np.ndarray:
        return _risk_np(np.exp(log_l(u)), objective, q)

    u_star = _draw_optimum(law, p, pivots, lm, lo, hi)
    a = np.maximum(lo, u_star.min(axis=range_axes, keepdims=True) - log_span)
    b = np.minimum(hi, u_star.max(axis=range_axes, keepdims=True) + log_span)
    if fixed_u is not None:
        a, b = np.minimum(a, fixed_u), np.maximum(b, fixed_u)
    step = (b - a) / (n_grid - 1)
    curves, objectives = [], []
    for j in range(n_grid):
        loss_j = np.exp(log_l(a + step * j))
        objectives.append(_risk_np(loss_j, objective, q))
        if keep_curve:
            curves.append(loss_j)
    obj_curve = np.stack(objectives, axis=-1)
    if fixed_u is not None:
        u = np.broadcast_to(fixed_u, obj_curve.shape[:-1])
    else:
        i = obj_curve.argmin(axis=-1)
        u_grid = a + step * i
        u_ref = golden(objective_at, a + step * np.maximum(i - 1, 0), a + step * np.minimum(i + 1, n_grid - 1),
                        REFINE_ITERATIONS)
        u = np.where(objective_at(u_ref) <= obj_curve.min(axis=-1), u_ref, u_grid)
    loss = np.exp(log_l(u))
    return {"u": u, "loss": loss, "objective": _risk_np(loss, objective, q), "a": a, "step": step,
            "curve": np.stack(curves, axis=-1) if keep_curve else None, "objective_curve": obj_curve}


def _transpose(ds: xr.Dataset, *first: str) -> xr.Dataset:
    present = [d for d in first if d in ds.dims]
    return ds.transpose(*present, ...)


# ----------------------------------------------------------------------------------------------
# plan
# ----------------------------------------------------------------------------------------------

def plan_from_draws(
    law: Law,
    sampled: Sampled,
    pivots: Mapping[str, float],
    budget: float | Sequence[float] | np.ndarray,
    compute_factor: float = 6.0,
    objective: str = "mean",
    q: float = 0.9,
    max_params: float | None = None,
    max_tokens: float | None = None,
    params: float | Sequence[float] | np.ndarray | None = None,
    n_grid: int = DEFAULT_GRID,
    span: float = DEFAULT_SPAN,
) -> xr.Dataset:
    """Risk-aware allocation of each budget, from posterior draws (the core of :func:`plan`).

    Parameters
    ----------
    law, sampled, pivots
        The law, its sampled parameters (dims ``(chain, draw, *groups)``) and the log pivots.
    budget : float or sequence
        Budgets C in FLOPs (dim ``budget``).
    compute_factor : float
        k in C = k·N·D.
    objective : {"mean", "quantile", "cvar"}
        E[L], the q-quantile of L, or the mean of L over the worst 1 − q of draws.
    q : float
        Level of the quantile / CVaR (ignored by ``mean`` but still validated).
    max_params, max_tokens : float, optional
        Upper limits on N (memory) and on D (data).
    params : float or sequence, optional
        A fixed N (one, or one per budget): the plan then only evaluates it, with D = C/(kN).
    n_grid : int
        Points of the log-spaced grid of N (the loss curve).
    span : float
        The grid spans [min_i N*_i / span, max_i N*_i · span] (within the constraints), N*_i the
        optimum of draw i.

    Returns
    -------
    xarray.Dataset
        ``params``, ``tokens``, ``ratio`` (D/N), ``objective`` (value of the objective at the
        choice), dims ``(budget, *groups)``; ``loss`` at the choice, dims ``(chain, draw, budget,
        *groups)``; ``loss_curve`` (``chain, draw, budget, n_grid, *groups``) and
        ``objective_curve`` (``budget, n_grid, *groups``) with coordinates ``params_grid`` and
        ``tokens_grid`` (``budget, n_grid``). Attributes record objective, q, constraints and k.

    Raises
    ------
    QueryError
        Compute-only law, unknown objective, q outside (0, 1), non-positive budgets, constraints
        that exclude every allocation, or a fixed ``params`` that breaks them.
    """
    _check_law(law)
    q = _check_objective(objective, q)
    _check_draws(sampled, ("budget", "n_grid"))
    if int(n_grid) < 3:
        raise QueryError(f"n_grid must be at least 3, got {n_grid}")
    if not np.isfinite(span) or span < 1:
        raise QueryError(f"span must be a number >= 1, got {span}")
    k = float(compute_factor)
    c = _positive_1d(budget, "budget", "budget")
    max_params = _optional_limit(max_params, "max_params")
    max_tokens = _optional_limit(max_tokens, "max_tokens")
    log_m = np.log(c / k)
    lo, hi = _feasible(log_m, k, max_params, max_tokens)
    fixed_u = None
    if params is not None:
        n = np.atleast_1d(np.asarray(params, dtype=float))
        if n.ndim != 1 or n.size not in (1, c.size) or not np.all(np.isfinite(n)) or np.any(n <= 0):
            raise QueryError(f"params must be one positive number or one per budget, got {np.ravel(n).tolist()}")
        fixed_u = xr.DataArray(np.log(np.broadcast_to(n, c.shape)), dims="budget", coords={"budget": c.values})
        tokens = np.exp(log_m - fixed_u)
        for j in range(c.size):
            nj, dj, cj = float(np.exp(fixed_u[j])), float(tokens[j]), float(c[j])
            if nj < 1 or dj < 1:
                raise QueryError(f"params={nj:.4g} cannot be trained on budget {cj:.4g}: D = C/(kN) = {dj:.4g} tokens")
            if max_params is not None and nj > max_params * (1 + 1e-12):
                raise QueryError(f"params={nj:.4g} exceeds max_params={max_params:.4g}")
            if max_tokens is not None and dj > max_tokens * (1 + 1e-12):
                raise QueryError(f"params={nj:.4g} at budget {cj:.4g} needs D = {dj:.4g} tokens > max_tokens="
                                 f"{max_tokens:.4g}: raise params to at least {cj / (k * max_tokens):.4g}")
    frame = _Frame(sampled, c)
    n_grid = int(n_grid)
    grid_axes = tuple(i for i, d in enumerate(frame.dims) if d != "budget")  # one grid per budget
    res = _optimise(law, {name: frame.np(v) for name, v in sampled.items()}, pivots, frame.np(log_m),
                    frame.np(lo), frame.np(hi), objective, q, n_grid, float(np.log(span)), grid_axes,
                    None if fixed_u is None else frame.np(fixed_u))
    u = frame.da(res["u"], frame.rest)
    grid = frame.da(res["a"][..., None] + res["step"][..., None] * np.arange(n_grid), ["budget"], "n_grid")
    out = xr.Dataset({
        "params": np.exp(u),
        "tokens": np.exp(log_m - u),
        "ratio": np.exp(log_m - 2 * u),
        "objective": frame.da(res["objective"], frame.rest),
        "loss": frame.da(res["loss"], frame.dims),
        "loss_curve": frame.da(res["curve"], frame.dims, "n_grid"),
        "objective_curve": frame.da(res["objective_curve"], frame.rest, "n_grid"),
    })
    out = out.assign_coords(params_grid=np.exp(grid), tokens_grid=np.exp(log_m - grid))
    out = _transpose(out, "chain", "draw", "budget", "n_grid")
    out.attrs.update(objective=objective, q=q, compute_factor=k,
                     max_params=max_params if max_params is not None else "none",
                     max_tokens=max_tokens if max_tokens is not None else "none",
                     fixed_params=int(params is not None))
    return out


# ----------------------------------------------------------------------------------------------
# compute for a target loss
# ----------------------------------------------------------------------------------------------

def _limit_loss(law: Law, sampled: Sampled, pivots: Mapping[str, float], max_params: float | None,
                max_tokens: float | None) -> xr.DataArray:
    """Loss of every draw in the limit of infinite compute within the constraints."""
    log_n = np.log(max_params) if max_params is not None else HUGE_LOG
    log_d = np.log(max_tokens) if max_tokens is not None else HUGE_LOG
    return np.exp(law.log_loss(sampled, {"params": xr.DataArray(log_n), "tokens": xr.DataArray(log_d)}, pivots))


def target_from_draws(
    law: Law,
    sampled: Sampled,
    pivots: Mapping[str, float],
    loss: float | Sequence[float] | np.ndarray,
    prob: float | Sequence[float] | np.ndarray = 0.9,
    compute_factor: float = 6.0,
    max_params: float | None = None,
    max_tokens: float | None = None,
    max_compute: float = DEFAULT_MAX_COMPUTE,
    n_grid: int = 33,
) -> xr.Dataset:
    """Smallest budget reaching each target loss with each probability (the core of :func:`compute_for_target`).

    g(C) = min over N of the ``prob``-quantile of L(N, C/(kN)) is non-increasing in C, so the answer
    C = min{C : g(C) <= loss} is found by bisection in log C on [k, max_compute] (also capped at
    k·max_params·max_tokens), vectorised over targets, probabilities and groups.

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
    _check_law(law)
    _check_draws(sampled, ("target", "prob", "n_grid"))
    target = _positive_1d(loss, "loss", "target")
    p = _probability(prob, "prob", "prob")
    k = float(compute_factor)
    max_params = _optional_limit(max_params, "max_params")
    max_tokens = _optional_limit(max_tokens, "max_tokens")
    if not np.isfinite(max_compute) or max_compute <= k:
        raise QueryError(f"max_compute must be a number above k = {k:g}, got {max_compute!r}")

    def infeasible(mask: xr.DataArray) -> list[tuple[float, float]]:
        extra = [d for d in mask.dims if d not in ("target", "prob")]
        if extra:
            mask = mask.any(extra)
        mask = mask.broadcast_like(target * p).transpose("target", "prob")
        idx = np.argwhere(mask.values)
        return [(float(target[i]), float(p[j])) for i, j in idx]

    floor = _limit_loss(law, sampled, pivots, None, None)
    bad = infeasible(quantile(floor, p) >= target)
    if bad:
        x, pr = bad[0]
        frac = float((floor < x).mean(SAMPLE_DIMS).min())
        raise QueryError(
            f"target loss {x:.4g} is not reachable with probability {pr:g}: the irreducible loss (L as "
            f"N, D -> infinity) is below {x:.4g} in only {frac:.1%} of draws"
            + (f" (and {len(bad) - 1} more infeasible target/prob pairs)" if len(bad) > 1 else "")
        )
    log_hi = np.log(max_compute / k)
    if max_params is not None and max_tokens is not None:
        log_hi = min(log_hi, float(np.log(max_params) + np.log(max_tokens)))
    if max_params is not None or max_tokens is not None:
        capped = _limit_loss(law, sampled, pivots, max_params, max_tokens)
        bad = infeasible(quantile(capped, p) >= target)
        if bad:
            x, pr = bad[0]
            best = float(quantile(capped, pr).min())
            raise QueryError(
                f"target loss {x:.4g} is not reachable with probability {pr:g} within max_params="
                f"{max_params} and max_tokens={max_tokens}: the best attainable {pr:g}-quantile of loss "
                f"is {best:.4g}"
            )

    frame = _Frame(sampled, target * p)
    params_np = {name: frame.np(v) for name, v in sampled.items()}
    q_np, x_np = frame.np(p), frame.np(target)
    log_nmax = np.log(max_params) if max_params is not None else np.inf
    log_dmax = np.log(max_tokens) if max_tokens is not None else np.inf

    def solve(lm: np.ndarray) -> dict[str, np.ndarray]:
        lo = np.maximum(0.0, lm - log_dmax)
        hi = np.maximum(lo, np.minimum(lm, log_nmax))
        return _optimise(law, params_np, pivots, lm, lo, hi, "quantile", q_np, int(n_grid), 0.0, (0, 1),
                         keep_curve=False)

    zero = np.zeros(frame.shape())
    top = solve(zero + log_hi)
    bad = infeasible(frame.da(top["objective"] > x_np, frame.rest))
    if bad:
        x, pr = bad[0]
        raise QueryError(f"target loss {x:.4g} with probability {pr:g} needs more than max_compute="
                         f"{k * np.exp(log_hi):.4g} FLOPs (the largest budget searched)")
    lo_m = zero  # log(C/k) = 0: N = D = 1
    hi_m = np.where(solve(lo_m)["objective"] <= x_np, lo_m, zero + log_hi)
    for _ in range(BISECTION_ITERATIONS):
        mid = (lo_m + hi_m) / 2
        ok = solve(mid)["objective"] <= x_np
        hi_m = np.where(ok, mid, hi_m)
        lo_m = np.where(ok, lo_m, mid)
    res = solve(hi_m)
    u, log_m = res["u"], hi_m
    out = xr.Dataset({
        "budget": frame.da(k * np.exp(log_m), frame.rest),
        "params": frame.da(np.exp(u), frame.rest),
        "tokens": frame.da(np.exp(log_m - u), frame.rest),
        "ratio": frame.da(np.exp(log_m - 2 * u), frame.rest),
        "loss_quantile": frame.da(res["objective"], frame.rest),
        "prob_achieved": frame.da((res["loss"] <= x_np).mean(axis=(0, 1), keepdims=True), frame.rest),
        "loss": frame.da(res["loss"], frame.dims),
    })
    out = _transpose(out, "chain", "draw", "target", "prob")
    out.attrs.update(compute_factor=k, max_params=max_params if max_params is not None else "none",
                     max_tokens=max_tokens if max_tokens is not None else "none", max_compute=float(max_compute))
    return out


# ----------------------------------------------------------------------------------------------
# probability of reaching a loss
# ----------------------------------------------------------------------------------------------

def prob_below_from_draws(
    law: Law,
    sampled: Sampled,
    pivots: Mapping[str, float],
    loss: float | Sequence[float] | np.ndarray,
    params: float | Sequence[float] | np.ndarray,
    tokens: float | Sequence[float] | np.ndarray,
    noise: Mapping[str, xr.DataArray] | None = None,
    compute_factor: float = 6.0,
) -> xr.Dataset:
    """P(L <= x) at runs (N, D), from posterior draws (the core of :func:`prob_below`).

    With ``noise=None`` L is the mean law; with ``noise={"sigma": ..., ["nu": ...]}`` it is an
    observed run, log L = mu + sigma·eps with eps standard normal, or Student-t with ``nu`` degrees
    of freedom, and the probability is the exact posterior average of the noise CDF (no simulation).

    Returns
    -------
    xarray.Dataset
        ``prob`` with dims ``(target, point, *groups)``; coordinates ``target`` (the losses) and
        ``params``, ``tokens``, ``compute`` on ``point``.
    """
    _check_law(law)
    _check_draws(sampled, ("target", "point"))
    target = _positive_1d(loss, "loss", "target")
    n = _positive_1d(params, "params", "point").values
    d = _positive_1d(tokens, "tokens", "point").values
    try:
        n, d = np.broadcast_arrays(n, d)
    except ValueError:
        raise QueryError("params and tokens must have the same length (or length 1)") from None
    logs = {"params": xr.DataArray(np.log(n), dims="point"), "tokens": xr.DataArray(np.log(d), dims="point")}
    mu = law.log_loss(sampled, logs, pivots)
    if noise is None:
        prob = (mu <= np.log(target)).mean(SAMPLE_DIMS)
    else:
        if "sigma" not in noise:
            raise QueryError("predictive probabilities need the noise scale 'sigma' in the posterior")
        z = (np.log(target) - mu) / noise["sigma"]
        cdf = xr.apply_ufunc(special.stdtr, noise["nu"], z) if "nu" in noise else xr.apply_ufunc(special.ndtr, z)
        prob = cdf.mean(SAMPLE_DIMS)
    out = xr.Dataset({"prob": prob}).assign_coords(
        params=("point", n), tokens=("point", d), compute=("point", compute_factor * n * d))
    out = _transpose(out, "target", "point")
    out.attrs["predictive"] = int(noise is not None)
    return out


# ----------------------------------------------------------------------------------------------
# regret of the plug-in plan
# ----------------------------------------------------------------------------------------------

def regret_from_draws(
    law: Law,
    sampled: Sampled,
    pivots: Mapping[str, float],
    budget: float | Sequence[float] | np.ndarray,
    compute_factor: float = 6.0,
    objective: str = "mean",
    q: float = 0.9,
    max_params: float | None = None,
    max_tokens: float | None = None,
    n_grid: int = DEFAULT_GRID,
) -> xr.Dataset:
    """The plug-in plan against the Bayes plan, both scored under the full posterior.

    The plug-in plan takes the posterior median of every sampled parameter (per group) as a point
    estimate and its optimal N (within the constraints). Both plans' loss distributions are then
    evaluated over all draws.

    Returns
    -------
    xarray.Dataset
        Dims ``(budget, *groups)``: ``params_bayes``, ``params_plugin``, ``tokens_bayes``,
        ``tokens_plugin``, ``objective_bayes``, ``objective_plugin``, ``regret``
        (objective_plugin − objective_bayes, >= 0 up to ~1e-12), ``params_ratio``
        (N_plugin / N_bayes); ``loss_bayes`` and ``loss_plugin`` with dims ``(chain, draw, budget,
        *groups)``.
    """
    bayes = plan_from_draws(law, sampled, pivots, budget, compute_factor, objective, q, max_params,
                            max_tokens, n_grid=n_grid)
    k = float(compute_factor)
    c = bayes["budget"]
    log_m = np.log(c / k)
    lo, hi = _feasible(log_m, k, _optional_limit(max_params, "max_params"), _optional_limit(max_tokens, "max_tokens"))
    point = {name: da.median(SAMPLE_DIMS).expand_dims(chain=1, draw=1) for name, da in sampled.items()}
    u_plugin = _draw_optimum(law, point, pivots, log_m, lo, hi).isel(chain=0, draw=0, drop=True)
    loss_plugin = np.exp(_log_loss_at(law, sampled, pivots, log_m, u_plugin))
    obj_plugin = risk(loss_plugin, objective, bayes.attrs["q"])
    out = xr.Dataset({
        "params_bayes": bayes["params"],
        "params_plugin": np.exp(u_plugin),
        "tokens_bayes": bayes["tokens"],
        "tokens_plugin": np.exp(log_m - u_plugin),
        "objective_bayes": bayes["objective"],
        "objective_plugin": obj_plugin,
        "regret": obj_plugin - bayes["objective"],
        "params_ratio": np.exp(u_plugin) / bayes["params"],
        "loss_bayes": bayes["loss"],
        "loss_plugin": loss_plugin,
    })
    out = _transpose(out, "chain", "draw", "budget")
    keys = ("objective", "q", "compute_factor", "max_params", "max_tokens")
    out.attrs.update({key: bayes.attrs[key] for key in keys})
    return out


# ----------------------------------------------------------------------------------------------
# value of information of one more run
# ----------------------------------------------------------------------------------------------

def _log_noise_pdf(z: xr.DataArray, noise: Mapping[str, xr.DataArray]) -> xr.DataArray:
    if "nu" in noise:
        nu = noise["nu"]
        return (special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2) - 0.5 * np.log(nu * np.pi)
                - (nu + 1) / 2 * np.log1p(z**2 / nu))
    return -0.5 * z**2 - 0.5 * np.log(2 * np.pi)


def voi_from_draws(
    law: Law,
    sampled: Sampled,
    pivots: Mapping[str, float],
    noise: Mapping[str, xr.DataArray],
    budget: float | Sequence[float] | np.ndarray,
    params: float,
    tokens: float,
    compute_factor: float = 6.0,
    max_params: float | None = None,
    max_tokens: float | None = None,
    n_sim: int = 200,
    seed: int = 0,
    n_grid: int = 65,
) -> xr.Dataset:
    """Expected value of sample information of one more run at (``params``, ``tokens``) for the mean plan.

    Preposterior analysis: V0 = min_N E[L(N)] is the expected loss of today's Bayes plan N0. A new
    run's log loss y is simulated ``n_sim`` times from the posterior predictive (a random draw i,
    then y = mu_i + sigma_i·eps with the fitted noise); for each y the draws are reweighted by the
    likelihood w_i ∝ p(y | theta_i) (importance sampling from the current posterior to the posterior
    with the extra run), and the plan is re-optimised, V1(y) = min_N E_w[L(N)]. The estimator is the
    mean over y of E_w[L(N0)] − V1(y): each term is >= 0 and its mean equals V0 − E_y[V1(y)] in
    expectation (E_y[E_w[L(N0)]] = V0), with lower variance than the plain difference.

    Limits, stated rather than hidden: only the ``mean`` objective (the reweighted quantile or CVaR
    would need weighted order statistics per simulation); the same draws both simulate y and are
    reweighted, and min over N of a Monte-Carlo average is biased low (the optimiser's curse), so
    with few draws the EVSI is overstated by O(Monte-Carlo error); importance reweighting is only
    trustworthy while the weights keep a large effective sample size (reported as ``ess_min``: a
    run far outside the data can collapse it); the new run is assumed to follow the fitted
    likelihood, in the same group as the decision when the posterior has group dims.

    Returns
    -------
    xarray.Dataset
        Dims ``(budget, *groups)``: ``evsi`` (expected reduction of E[L] at the chosen N, in loss
        units), ``evsi_se`` (its Monte-Carlo standard error), ``expected_loss`` (V0),
        ``params`` (N0), ``mean_abs_log_shift`` (E_y|log N1(y) − log N0|) and ``ess_min`` (the
        smallest Kish effective sample size of the weights over simulations; a ``UserWarning`` is
        raised when it falls below 10% of the draws).
    """
    _check_law(law)
    _check_draws(sampled, ("budget", "n_grid", "sim"))
    if not noise or "sigma" not in noise:
        raise QueryError("the value of information needs the noise scale 'sigma' in the posterior")
    if int(n_sim) < 2:
        raise QueryError(f"n_sim must be at least 2, got {n_sim}")
    n_new = float(_positive_1d(params, "params", "run")[0])
    d_new = float(_positive_1d(tokens, "tokens", "run")[0])
    base = plan_from_draws(law, sampled, pivots, budget, compute_factor, "mean", 0.9, max_params,
                           max_tokens, n_grid=n_grid, span=1.0)
    k = float(compute_factor)
    log_m = np.log(base["budget"] / k)
    mu = law.log_loss(sampled, {"params": xr.DataArray(np.log(n_new)), "tokens": xr.DataArray(np.log(d_new))}, pivots)
    sigma = noise["sigma"] + 0.0 * mu
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, mu.sizes["chain"] * mu.sizes["draw"], int(n_sim))
    at = {"chain": xr.DataArray(pick // mu.sizes["draw"], dims="sim"),
          "draw": xr.DataArray(pick % mu.sizes["draw"], dims="sim")}

    def draw_of(da: xr.DataArray) -> xr.DataArray:
        return (da + 0.0 * mu).isel(at).drop_vars(list(SAMPLE_DIMS), errors="ignore").reset_coords(drop=True)

    mu_j = draw_of(mu)
    sigma_j = draw_of(sigma).transpose(*mu_j.dims)
    if "nu" in noise:
        nu_j = draw_of(noise["nu"]).transpose(*mu_j.dims)
        eps = xr.DataArray(rng.standard_t(nu_j.values), dims=mu_j.dims)
    else:
        eps = xr.DataArray(rng.standard_normal(mu_j.shape), dims=mu_j.dims)
    y = mu_j + sigma_j * eps  # dims (sim, *groups)
    log_w = _log_noise_pdf((y - mu) / sigma, noise) - np.log(sigma)  # (sim, chain, draw, *groups)
    log_w = log_w - log_w.max(SAMPLE_DIMS)
    w = np.exp(log_w)
    w = w / w.sum(SAMPLE_DIMS)
    ess = 1.0 / (w**2).sum(SAMPLE_DIMS)

    def weighted(u: xr.DataArray) -> xr.DataArray:
        return (w * np.exp(_log_loss_at(law, sampled, pivots, log_m, u))).sum(SAMPLE_DIMS)

    u0 = np.log(base["params"])
    at_n0 = weighted(u0)
    grid = np.log(base["params_grid"]).reset_coords(drop=True)
    # E_w[L] on the grid for every simulation: dims (sim, budget, n_grid, *groups)
    curve = xr.dot(w, base["loss_curve"].reset_coords(drop=True), dim=list(SAMPLE_DIMS))
    i = curve.argmin("n_grid")
    a, b = grid.isel(n_grid=0), grid.isel(n_grid=-1)
    step = (b - a) / (grid.sizes["n_grid"] - 1)
    u_ref = golden(weighted, a + step * np.maximum(i - 1, 0), a + step * np.minimum(i + 1, grid.sizes["n_grid"] - 1),
                    REFINE_ITERATIONS)
    v_ref = weighted(u_ref)
    v_grid = curve.min("n_grid")
    u1 = xr.where(v_ref <= v_grid, u_ref, a + step * i)
    v1 = np.minimum(v_ref, v_grid)
    gain = at_n0 - v1
    low = float(ess.min())
    if low < MIN_ESS_FRACTION * mu.sizes["chain"] * mu.sizes["draw"]:
        warnings.warn(f"value_of_information: the importance weights of a run at N={n_new:.3g}, D={d_new:.3g} "
                      f"keep an effective sample size of only {low:.0f} draws; the estimate is unreliable "
                      "(a run far outside the data, or too few posterior draws)", UserWarning, stacklevel=2)
    out = xr.Dataset({
        "evsi": gain.mean("sim"),
        "evsi_se": gain.std("sim", ddof=1) / np.sqrt(gain.sizes["sim"]),
        "expected_loss": base["objective"],
        "params": base["params"],
        "mean_abs_log_shift": abs(u1 - u0).mean("sim"),
        "ess_min": ess.min("sim"),
    })
    out = _transpose(out, "budget")
    out.attrs.update(params_new=n_new, tokens_new=d_new, n_sim=int(n_sim), seed=int(seed), compute_factor=k)
    return out


# ----------------------------------------------------------------------------------------------
# Fit wrappers
# ----------------------------------------------------------------------------------------------

def _noise(fit: Fit) -> dict[str, xr.DataArray]:
    post = fit.posterior
    return {n: post[n] for n in NOISE_VARS if n in post}


def plan(fit: Fit, budget: float | Sequence[float], objective: str = "mean", q: float = 0.9,
         max_params: float | None = None, max_tokens: float | None = None,
         params: float | Sequence[float] | None = None, n_grid: int = DEFAULT_GRID,
         span: float = DEFAULT_SPAN) -> xr.Dataset:
    """Risk-aware allocation of each compute budget for a :class:`~bayes_scaling.Fit`.

    See :func:`plan_from_draws` for the parameters and the returned Dataset. A budget far below
    every fitted run is refused (:func:`bayes_scaling.data.reach.check_budget`); the Dataset's
    ``attrs["reach"]`` holds the decades beyond the fitted runs and ``attrs["warnings"]`` says where
    the plan extrapolates (also raised as :class:`~bayes_scaling.ExtrapolationWarning`).
    """
    check_budget(fit.runs, budget)
    ds = plan_from_draws(fit.law, fit.sampled(), fit.pivots_at(), budget, fit.runs.compute_factor, objective,
                           q, max_params, max_tokens, params, n_grid, span)
    distances = reach(fit.runs, compute=ds["budget"].values if "budget" in ds else budget,
                      params=ds["params"].values.ravel(), tokens=ds["tokens"].values.ravel())
    ds.attrs.update(reach=distances, warnings=warn_reach(distances, "the plan"))
    return ds


def compute_for_target(fit: Fit, loss: float | Sequence[float], prob: float | Sequence[float] = 0.9,
                       max_params: float | None = None, max_tokens: float | None = None,
                       max_compute: float = DEFAULT_MAX_COMPUTE) -> xr.Dataset:
    """Smallest compute reaching L <= ``loss`` with probability >= ``prob`` for a Fit.

    See :func:`target_from_draws` for the returned Dataset (dims ``target, prob``).
    """
    return target_from_draws(fit.law, fit.sampled(), fit.pivots_at(), loss, prob, fit.runs.compute_factor,
                             max_params, max_tokens, max_compute)


def prob_below(fit: Fit, loss: float | Sequence[float], params: float | Sequence[float],
               tokens: float | Sequence[float], predictive: bool = False) -> xr.Dataset:
    """P(L <= ``loss``) at runs (``params``, ``tokens``): mean law, or an observed run if ``predictive``.

    See :func:`prob_below_from_draws`.
    """
    noise = _noise(fit) if predictive else None
    if predictive and not noise:
        raise QueryError("this fit has no noise parameters: predictive probabilities are unavailable")
    return prob_below_from_draws(fit.law, fit.sampled(), fit.pivots_at(), loss, params, tokens, noise,
                                 fit.runs.compute_factor)


def regret(fit: Fit, budget: float | Sequence[float], objective: str = "mean", q: float = 0.9,
           max_params: float | None = None, max_tokens: float | None = None) -> xr.Dataset:
    """Cost of planning with the posterior-median point estimate instead of the full posterior.

    See :func:`regret_from_draws`.
    """
    return regret_from_draws(fit.law, fit.sampled(), fit.pivots_at(), budget, fit.runs.compute_factor, objective,
                             q, max_params, max_tokens)


def value_of_information(fit: Fit, budget: float | Sequence[float], params: float, tokens: float,
                         max_params: float | None = None, max_tokens: float | None = None,
                         n_sim: int = 200, seed: int | None = None) -> xr.Dataset:
    """Expected value of one more run at (``params``, ``tokens``) for the mean plan at each budget.

    ``seed`` defaults to the fit's sampler seed. See :func:`voi_from_draws` for the estimator and
    its limits.
    """
    seed = fit.settings.seed if seed is None else seed
    return voi_from_draws(fit.law, fit.sampled(), fit.pivots_at(), _noise(fit), budget, params, tokens,
                          fit.runs.compute_factor, max_params, max_tokens, n_sim, seed)


# ----------------------------------------------------------------------------------------------
# text
# ----------------------------------------------------------------------------------------------

def _table(frame: pd.DataFrame) -> str:
    return frame.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def _group_columns(ds: xr.Dataset, skip: Sequence[str]) -> list[str]:
    return [d for d in ds["params"].dims if d not in skip]


def format_plan(ds: xr.Dataset, prob: float = 0.9) -> str:
    """A plan as plain text: one line per budget (and group), with the loss median and central interval."""
    objective, q = ds.attrs.get("objective", "mean"), ds.attrs.get("q", 0.9)
    label = "E[L]" if objective == "mean" else f"{objective}_{q:g}(L)"
    lo_q, hi_q = (1 - prob) / 2, (1 + prob) / 2
    summary = xr.Dataset({
        "params": ds["params"], "tokens": ds["tokens"], "D/N": ds["ratio"], label: ds["objective"],
        "loss_median": quantile(ds["loss"], 0.5),
        f"loss_{lo_q:.0%}": quantile(ds["loss"], lo_q), f"loss_{hi_q:.0%}": quantile(ds["loss"], hi_q),
    })
    groups = _group_columns(ds, ("budget",))
    frame = summary.to_dataframe().reset_index()
    frame = frame[["budget"] + groups + list(summary.data_vars)]
    limits = [f"{name}={ds.attrs[name]:.4g}" for name in ("max_params", "max_tokens")
              if not isinstance(ds.attrs.get(name, "none"), str)]
    head = f"plan: minimise {label} over N with C = {ds.attrs.get('compute_factor', 6):g}·N·D"
    if ds.attrs.get("fixed_params"):
        head = f"plan: fixed N, evaluated by {label}"
    return "\n".join([head + (" (" + ", ".join(limits) + ")" if limits else ""), _table(frame)])


def format_target(ds: xr.Dataset) -> str:
    """Compute-for-target answers as plain text: one line per target loss and probability (and group)."""
    summary = xr.Dataset({
        "budget": ds["budget"], "params": ds["params"], "tokens": ds["tokens"], "D/N": ds["ratio"],
        "loss_quantile": ds["loss_quantile"], "P(L<=target)": ds["prob_achieved"],
    })
    groups = _group_columns(ds, ("target", "prob"))
    frame = summary.to_dataframe().reset_index()
    frame = frame[["target", "prob"] + groups + list(summary.data_vars)]
    return "\n".join(["smallest compute C whose best allocation reaches L <= target with probability >= prob",
                      _table(frame)])


__all__ = [
    "OBJECTIVES", "compute_for_target", "cvar", "format_plan", "format_target", "plan", "plan_from_draws",
    "prob_below", "prob_below_from_draws", "quantile", "regret", "regret_from_draws", "risk",
    "target_from_draws", "value_of_information", "voi_from_draws",
]
