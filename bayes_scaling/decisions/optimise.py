"""Optimisation of an allocation over u = log N, vectorised over draws, budgets and groups.

For each draw, L(N, M/N) (M = C/k) is convex in u = log N for the laws in :mod:`bayes_scaling.laws`,
so every draw has one optimum u*_i (closed form where the law has one, golden-section search
otherwise), clipped to the constraints. All three objectives of :mod:`.risk` are monotone risk
measures: below min_i u*_i every draw's loss falls with u, so the objective falls too, and above
max_i u*_i it rises. The optimum of any objective therefore lies in [min_i u*_i, max_i u*_i]. A
log-spaced grid of ``n_grid`` values of N spans that range widened by ``span`` on either side
(clipped to the constraints); the best grid point is refined by a golden-section search on the
objective between its two neighbours (the mean and the CVaR are convex in u; the empirical quantile
need not be, which is why the grid comes first).

The inner loops run on numpy arrays in one axis layout (:class:`Frame`); xarray appears only at
the edges, where the answers get their dims and coordinates back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..errors import QueryError
from ..laws import Law
from ..search import golden
from .draws import SAMPLE_DIMS, Sampled
from .risk import risk_np

DRAW_ITERATIONS = 90  # per-draw optimum over the feasible range (<= ~140 nats) to ~1e-17 nats
REFINE_ITERATIONS = 45  # objective refinement between two grid neighbours to ~1e-10 of a step
DEFAULT_GRID = 101
DEFAULT_SPAN = 10.0


def feasible(log_m: xr.DataArray, k: float, max_params: float | None,
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


def draw_optimum(law: Law, sampled: Sampled, pivots: Mapping[str, Any], log_m: Any, lo: Any, hi: Any) -> Any:
    """log N* of every draw at log(C/k) = log_m, clipped to [lo, hi] (exact for convex laws)."""
    if law.log_optimum is not None:
        u = law.log_optimum(law.natural(sampled, pivots), log_m)
        return np.minimum(np.maximum(u, lo), hi)
    return golden(lambda u: law.log_loss(sampled, {"params": u, "tokens": log_m - u}, pivots), lo, hi,
                  DRAW_ITERATIONS)


class Frame:
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


def optimise(law: Law, p: Mapping[str, np.ndarray], pivots: Mapping[str, float], lm: np.ndarray,
              lo: np.ndarray, hi: np.ndarray, objective: str, q: Any, n_grid: int, log_span: float,
              range_axes: tuple[int, ...], fixed_u: np.ndarray | None = None,
              keep_curve: bool = True) -> dict[str, np.ndarray]:
    """Grid then golden refinement of the objective over u = log N in [lo, hi], in a :class:`Frame` layout.

    The grid spans [min u*_i - log_span, max u*_i + log_span] within [lo, hi], the extremes taken
    over ``range_axes`` (always chain and draw; also the group axes for a grid shared by groups).
    """

    def log_l(u: np.ndarray) -> np.ndarray:
        return law.log_loss(p, {"params": u, "tokens": lm - u}, pivots)

    def objective_at(u: np.ndarray) -> np.ndarray:
        return risk_np(np.exp(log_l(u)), objective, q)

    u_star = draw_optimum(law, p, pivots, lm, lo, hi)
    a = np.maximum(lo, u_star.min(axis=range_axes, keepdims=True) - log_span)
    b = np.minimum(hi, u_star.max(axis=range_axes, keepdims=True) + log_span)
    if fixed_u is not None:
        a, b = np.minimum(a, fixed_u), np.maximum(b, fixed_u)
    step = (b - a) / (n_grid - 1)
    curves, objectives = [], []
    for j in range(n_grid):
        loss_j = np.exp(log_l(a + step * j))
        objectives.append(risk_np(loss_j, objective, q))
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
    return {"u": u, "loss": loss, "objective": risk_np(loss, objective, q), "a": a, "step": step,
            "curve": np.stack(curves, axis=-1) if keep_curve else None, "objective_curve": obj_curve}


def transpose(ds: xr.Dataset, *first: str) -> xr.Dataset:
    present = [d for d in first if d in ds.dims]
    return ds.transpose(*present, ...)
