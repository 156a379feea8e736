"""Risk measures over posterior draws: the mean, the q-quantile and the CVaR of a loss.

Estimators: the q-quantile is numpy's default (linear interpolation between order statistics);
the CVaR is that of the empirical distribution of the draws, t + E[(L − t)+]/(1 − q) at
t = the ceil(q·n)-th order statistic (Rockafellar and Uryasev), i.e. the mean of the worst 1 − q
of the draws with the boundary draw counted fractionally. The numpy kernels take the draws on the
last two axes; the xarray functions reduce ``(chain, draw)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..errors import QueryError
from .draws import SAMPLE_DIMS, probability

OBJECTIVES = ("mean", "quantile", "cvar")


def check_objective(objective: str, q: float) -> float:
    """Refuse an unknown objective or a level outside (0, 1); return the level."""
    if objective not in OBJECTIVES:
        raise QueryError(f"unknown objective '{objective}'; choose one of {', '.join(OBJECTIVES)}")
    return probability(q, "q")


def _sorted_draws(x: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Core dims (chain, draw) last -> sorted over one flattened sample axis, broadcast against q."""
    s = np.sort(x.reshape(*x.shape[:-2], -1), axis=-1)
    shape = np.broadcast_shapes(s.shape[:-1], np.shape(q))
    return np.broadcast_to(s, (*shape, s.shape[-1]))


def _take(x: np.ndarray, index: np.ndarray) -> np.ndarray:
    index = np.broadcast_to(index, x.shape[:-1])[..., None]
    return np.take_along_axis(x, index, axis=-1)[..., 0]


def np_quantile(x: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The q-quantile over the last two axes of ``x``."""
    levels = np.asarray(q, dtype=float)
    if levels.size and np.all(levels == levels.flat[0]):  # one level: two order statistics by selection, not a sort
        flat = x.reshape(*x.shape[:-2], -1)
        n = flat.shape[-1]
        h = float(levels.flat[0]) * (n - 1)
        lo = int(np.floor(h))
        hi = min(lo + 1, n - 1)
        part = np.partition(flat, (lo, hi), axis=-1)
        value = part[..., lo] * (1.0 - (h - lo)) + part[..., hi] * (h - lo)
        return np.broadcast_to(value, np.broadcast_shapes(value.shape, levels.shape)).copy()
    s = _sorted_draws(x, q)
    n = s.shape[-1]
    h = np.asarray(q, dtype=float) * (n - 1)
    lo = np.floor(h).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    w = h - lo
    return _take(s, lo) * (1.0 - w) + _take(s, hi) * w


def np_cvar(x: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The empirical CVaR at level q over the last two axes of ``x``."""
    s = _sorted_draws(x, q)
    n = s.shape[-1]
    q = np.asarray(q, dtype=float)
    k = np.clip(np.ceil(q * n - 1e-9).astype(int) - 1, 0, n - 1)
    t = _take(s, k)
    return t + np.maximum(s - t[..., None], 0.0).sum(-1) / (n * (1.0 - q))


def quantile(loss: xr.DataArray, q: float | xr.DataArray) -> xr.DataArray:
    """The q-quantile of ``loss`` over ``(chain, draw)``; ``q`` may be a DataArray with its own dims."""
    q = q if isinstance(q, xr.DataArray) else xr.DataArray(float(q))
    return xr.apply_ufunc(np_quantile, loss, q, input_core_dims=[list(SAMPLE_DIMS), []])


def cvar(loss: xr.DataArray, q: float | xr.DataArray) -> xr.DataArray:
    """Mean of ``loss`` over the worst 1 − q of the draws (empirical CVaR, boundary draw fractional)."""
    q = q if isinstance(q, xr.DataArray) else xr.DataArray(float(q))
    return xr.apply_ufunc(np_cvar, loss, q, input_core_dims=[list(SAMPLE_DIMS), []])


def risk(loss: xr.DataArray, objective: str, q: float | xr.DataArray = 0.9) -> xr.DataArray:
    """Reduce draws of loss to the planning objective: ``mean``, ``quantile`` or ``cvar``."""
    if objective == "mean":
        return loss.mean(SAMPLE_DIMS)
    if objective == "quantile":
        return quantile(loss, q)
    if objective == "cvar":
        return cvar(loss, q)
    raise QueryError(f"unknown objective '{objective}'; choose one of {', '.join(OBJECTIVES)}")


def risk_np(x: np.ndarray, objective: str, q: Any) -> np.ndarray:
    """The objective over axes (0, 1) = (chain, draw) of ``x``, kept as size-1 axes."""
    if objective == "mean":
        return x.mean(axis=(0, 1), keepdims=True)
    q = np.asarray(q, dtype=float)
    if q.ndim:
        q = q[0, 0]
    reduce = np_quantile if objective == "quantile" else np_cvar
    return reduce(np.moveaxis(x, (0, 1), (-2, -1)), q)[None, None]
