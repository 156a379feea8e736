"""Compute-optimal allocation N*(C), D*(C), D*/N* and L*(C), vectorised over posterior draws.

For a budget C = k·N·D the optimum minimises L(N, C/(kN)) over N. The Chinchilla law has a closed
form (Hoffmann et al. 2022, Eq. 4); every law with an N/D split also has a numeric optimiser (a
golden-section search in log N, exact for the convex objectives of these laws), and the tests hold
the two against each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from ..data.numbers import as_number
from ..errors import QueryError
from ..search import golden
from . import Law

ITERATIONS = 120  # shrinks a 60-nat bracket below 1e-20
METHODS = ("auto", "closed", "numeric")
#: The largest budget (FLOPs) an answer is computed at: far beyond any run, short of overflow.
MAX_BUDGET = 1e60


def compute_grid(compute: float | Sequence[float] | np.ndarray) -> xr.DataArray:
    """Validate budgets and return them as a DataArray with dim ``compute``."""
    try:
        values = np.atleast_1d(np.asarray(compute, dtype=float))
    except (TypeError, ValueError):
        raise QueryError(f"compute budgets must be numbers (FLOPs), got {compute!r}") from None
    if compute is None or values.size == 0:
        raise QueryError("give one or more compute budgets (FLOPs)")
    if values.ndim != 1:
        raise QueryError(f"compute budgets are one number or a list of numbers, got an array of shape {values.shape}")
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise QueryError(f"compute budgets must be positive and finite, got {values.tolist()}")
    require_below_max(values)
    return xr.DataArray(values, dims="compute", coords={"compute": values}, name="compute")


def require_below_max(values: np.ndarray) -> None:
    """Refuse budgets above :data:`MAX_BUDGET`."""
    if np.any(values > MAX_BUDGET):
        raise QueryError(f"compute budget {values.max():.4g} is above {MAX_BUDGET:.0e} FLOPs, where the arithmetic of a "
                         "law fitted to today's runs overflows long before it means anything")


def require_distinct(values: np.ndarray) -> None:
    """Refuse a budget given twice: its answers would share one coordinate."""
    if np.unique(values).size != np.size(values):
        raise QueryError(f"compute budgets must differ from each other, got {np.ravel(values).tolist()}")


def optimal_allocation(
    law: Law,
    sampled: Mapping[str, xr.DataArray],
    pivots: Mapping[str, float],
    compute: float | Sequence[float] | np.ndarray,
    compute_factor: float = 6.0,
    method: str = "auto",
    unique_tokens: float | None = None,
) -> xr.Dataset:
    """N*, D*, D*/N* and L* for each draw and budget.

    Parameters
    ----------
    law : Law
        A law with an N/D split.
    sampled : mapping of DataArray
        The law's sampled parameters, dims ``(chain, draw)``.
    pivots : mapping
        Log pivots the parameters are defined at.
    compute : float or sequence
        Budgets in FLOPs.
    compute_factor : float
        k in C = k·N·D.
    method : {"auto", "closed", "numeric"}
        ``auto`` takes the closed form where the law has one.
    unique_tokens : float, optional
        Unique data available, for a law that reads ``unique_tokens`` (numeric optimum only): tokens
        beyond it repeat it. Adds ``epochs`` (D*/min(U_D, D*)).

    Returns
    -------
    xarray.Dataset
        ``params`` (N*), ``tokens`` (D*), ``ratio`` (D*/N*), ``loss`` (L*), dims ``(chain, draw, compute)``.
    """
    if not law.has_allocation:
        raise QueryError(no_allocation(law))
    if method not in METHODS:
        raise QueryError(f"unknown method '{method}'; choose one of {METHODS}")
    c = compute_grid(compute)
    log_budget = np.log(c / compute_factor)  # log(N·D)
    fixed = unique_input(law, unique_tokens)
    if fixed:
        method = "numeric" if method == "auto" else method
        if method == "closed":
            raise QueryError("a unique-data budget has no closed-form optimum; use method='numeric'")
    if method == "closed" or (method == "auto" and law.log_optimum is not None):
        if law.log_optimum is None:
            raise QueryError(f"the '{law.name}' law has no closed-form optimum here; use method='numeric'")
        log_n = law.log_optimum(law.natural(sampled, pivots), log_budget)
    else:
        log_n = _golden_log_n(law, sampled, pivots, log_budget, fixed)
    log_d = log_budget - log_n
    log_loss = law.log_loss(sampled, {"params": log_n, "tokens": log_d, **fixed}, pivots)
    out = xr.Dataset({
        "params": np.exp(log_n),
        "tokens": np.exp(log_d),
        "ratio": np.exp(log_d - log_n),
        "loss": np.exp(log_loss),
    })
    if fixed:
        out["epochs"] = np.exp(log_d - np.minimum(fixed["unique_tokens"], log_d))
    out = out.transpose("chain", "draw", "compute", ...)
    out.attrs["compute_factor"] = compute_factor
    return out


def no_allocation(law: Law) -> str:
    """Why a law has no compute-optimal N/D split, and what to ask it instead."""
    if "compute" in law.inputs:
        return (f"the '{law.name}' law models loss as a function of compute alone: it has no N/D allocation; "
                "use predict(compute=...) for the loss at a budget")
    return (f"the '{law.name}' law is a curve in {' and '.join(law.inputs)}: it has no N/D allocation; use "
            "predict(tokens=...) for the loss at a point of the curve")


def unique_input(law: Law, unique_tokens: float | None) -> dict[str, float]:
    """The log unique-data budget as a fixed input of the law (empty when none is given)."""
    if unique_tokens is None:
        return {}
    if "unique_tokens" not in law.inputs:
        raise QueryError(f"the '{law.name}' law does not read unique tokens; a unique-data budget needs a "
                         "data-constrained law (spec 'data_constrained')")
    value = as_number(unique_tokens)
    if value is None or not np.isfinite(value) or value <= 0:
        raise QueryError(f"unique_tokens must be one positive number, got {unique_tokens!r}")
    return {"unique_tokens": float(np.log(value))}


def _golden_log_n(law: Law, p: Mapping[str, xr.DataArray], piv: Mapping[str, float],
                  log_budget: xr.DataArray, fixed: Mapping[str, float] | None = None) -> xr.DataArray:
    """Minimise log L(N, budget/N) over log N in [0, log budget] for every draw and budget."""

    def f(u: xr.DataArray) -> xr.DataArray:
        return law.log_loss(p, {"params": u, "tokens": log_budget - u, **(fixed or {})}, piv)

    template = (f(log_budget / 2) * 0.0)  # broadcast shape (chain, draw, compute)
    return golden(f, template + 0.0, template + log_budget, ITERATIONS)
