"""Diminishing returns along the compute-optimal frontier: the loss gained per doubling of compute.

At a budget C the frontier's loss is L*(C), the law's mean loss at the compute-optimal N and D (or
the compute law's L(C)). The gain of the next doubling is ``L*(C) - L*(2C)``; under a power-law
frontier L*(C) = E + K·C^-gamma it is ``(L*(C) - E)·(1 - 2^-gamma)``, so it shrinks by 2^-gamma per
doubling and never reaches zero. The compute at which the gain falls below a threshold is found per
posterior draw on a log grid of budgets and interpolated in log-log (exact for a power-law frontier),
so both come with intervals.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import xarray as xr

from ..data.numbers import as_number
from ..data.reach import reach, reach_warnings
from ..errors import ExtrapolationWarning, QueryError
from ..laws.allocation import compute_grid
from ..result.fit import Fit

#: Budgets searched for the threshold: from a decade below the smallest run up to this many decades
#: above the largest.
SEARCH_DECADES_ABOVE = 12.0
#: Points per decade of the threshold search grid.
GRID_PER_DECADE = 16


def frontier_loss(fit: Fit, compute: np.ndarray, level: str | None = None) -> xr.DataArray:
    """L*(C) per draw, dims ``(chain, draw, compute[, group])``: the mean law at the optimum."""
    law = fit.law
    if law.has_allocation:
        return fit.optimal(compute, level=level)["loss"]
    if law.inputs == ("compute",):
        c = compute_grid(compute)
        log_loss = law.log_loss(fit.sampled(level), {"compute": np.log(c)}, fit.pivots_at(level))
        return np.exp(log_loss).transpose("chain", "draw", "compute", ...)
    raise QueryError(
        f"returns need a law of compute or of N and D; the '{law.name}' law ({law.formula}) models loss as a "
        f"function of {' and '.join(law.inputs)} alone"
    )


def returns(fit: Fit, compute: float | Sequence[float], threshold: float | None = None,
            level: str | None = None) -> xr.Dataset:
    """Loss gained per doubling of compute along the compute-optimal frontier, with its draws.

    Parameters
    ----------
    fit : Fit
        A fit of a law with an N/D split (chinchilla, kaplan) or of the compute law.
    compute : float or sequence of float
        Budgets in FLOPs.
    threshold : float, optional
        A gain per doubling (in the loss's units): also return the compute at which the gain first
        falls below it (``compute_below``).
    level : {"shared", "domain", "task"}, optional
        Answer per group at this level (default: the finest level the fit varies at).

    Returns
    -------
    xarray.Dataset
        ``loss`` (L*(C)), ``gain`` (L*(C) - L*(2C)) and ``relative_gain`` (gain / L*(C)), dims
        ``(chain, draw, compute[, group])``; with a threshold, ``compute_below``, dims
        ``(chain, draw[, group])``, NaN for a draw whose gain stays above the threshold up to
        :data:`SEARCH_DECADES_ABOVE` decades beyond the runs. Summarise with
        :func:`bayes_scaling.interval_table`. ``attrs`` carry ``reach`` and ``warnings`` as
        :meth:`Fit.optimal` does, and ``not_reached`` (the share of draws whose threshold compute
        lies beyond the search).
    """
    if not isinstance(fit, Fit):
        raise QueryError(f"returns answers from a fit (bs.fit or bs.load_fit), got {type(fit).__name__}")
    c = compute_grid(compute).values
    if fit.law.has_allocation:  # the optimum at C carries its reach; only 2C is evaluated again
        optimum = fit.optimal(c, level=level)
        here, attrs = optimum["loss"], {"reach": optimum.attrs["reach"], "warnings": optimum.attrs["warnings"]}
    else:
        here, distances = frontier_loss(fit, c, level), reach(fit.runs, compute=c)
        attrs = {"reach": distances, "warnings": reach_warnings(distances, "the frontier")}
    doubled = frontier_loss(fit, 2 * c, level).assign_coords(compute=c)
    gain = here - doubled
    ds = xr.Dataset({"loss": here, "gain": gain, "relative_gain": gain / here}, attrs=attrs)
    if threshold is not None:
        ds["compute_below"], ds.attrs["not_reached"] = compute_below(fit, threshold, level)
    return ds


def compute_below(fit: Fit, threshold: float, level: str | None = None) -> tuple[xr.DataArray, float]:
    """Per draw, the smallest budget at which the gain per doubling is below ``threshold``.

    Returns the draws (NaN where the gain stays above the threshold over the whole search) and the
    share of such draws.
    """
    value = as_number(threshold)
    if value is None:
        raise QueryError(f"the threshold is one number (a gain in loss per doubling), got {threshold!r}")
    threshold = value
    if not np.isfinite(threshold) or threshold <= 0:
        raise QueryError(f"the threshold is a gain in loss per doubling and must be positive, got {threshold}")
    runs_c = fit.runs.column("compute")
    lo, hi = np.log10(runs_c.min()) - 1.0, np.log10(runs_c.max()) + SEARCH_DECADES_ABOVE
    grid = np.logspace(lo, hi, int((hi - lo) * GRID_PER_DECADE) + 1)
    loss = frontier_loss(fit, np.concatenate([grid, 2 * grid]), level)
    gain = (loss.isel(compute=slice(0, grid.size)).values - loss.isel(compute=slice(grid.size, None)).values)
    gain = np.moveaxis(gain, 2, -1)  # (chain, draw[, group], budget)
    below = gain < threshold
    first = np.argmax(below, axis=-1)
    found = below.any(axis=-1)
    log_g = np.log(np.clip(gain, 1e-300, None))
    log_c = np.log(grid)
    j = np.clip(first, 1, grid.size - 1)
    g1, g0 = np.take_along_axis(log_g, j[..., None], -1)[..., 0], np.take_along_axis(log_g, j[..., None] - 1, -1)[..., 0]
    t = np.where(g0 != g1, (np.log(threshold) - g0) / np.where(g0 != g1, g1 - g0, 1.0), 1.0)
    log_at = log_c[j - 1] + np.clip(t, 0.0, 1.0) * (log_c[j] - log_c[j - 1])
    if not found.any():
        raise QueryError(f"the gain per doubling stays above {threshold:g} in every draw up to {grid[-1]:.3g} FLOPs, "
                         f"{SEARCH_DECADES_ABOVE:g} decades above the largest fitted run, where the search ends; give a "
                         "larger threshold")
    from_start = found & (first == 0)
    if from_start.all():
        raise QueryError(f"the gain per doubling is below {threshold:g} in every draw already at {grid[0]:.3g} FLOPs, a "
                         "decade below the smallest fitted run: the search starts there; give a smaller threshold")
    if from_start.any():
        warnings.warn(f"in {from_start.mean():.0%} of draws the gain per doubling is below {threshold:g} already at "
                      f"{grid[0]:.3g} FLOPs, where the search starts: their compute_below is that budget, an upper "
                      "bound", ExtrapolationWarning, stacklevel=3)
    at = np.where(found, np.where(first == 0, grid[0], np.exp(log_at)), np.nan)
    dims = [d for d in loss.dims if d != "compute"]
    out = xr.DataArray(at, dims=dims, coords={d: loss.coords[d] for d in dims if d in loss.coords})
    out.attrs["threshold"] = float(threshold)
    return out, float(1.0 - found.mean())


__all__ = ["compute_below", "frontier_loss", "returns"]
