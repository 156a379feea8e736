"""The numbers behind the figures: published point fits, the frontier, IsoFLOP slices, scaling curves.

Each function here returns draws (dims ``(chain, draw, ...)``) or a small table computed from a
:class:`~bayes_scaling.Fit` through its public methods (:meth:`Fit.optimal`, :meth:`Fit.predict`);
:mod:`bayes_scaling.present.plots` only reduces and draws them. The published point fits of the Chinchilla
law live in one place, :data:`PUBLISHED_FITS` (values from SCIENCE.md §2-3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..defaults import CHINCHILLA_COMPUTE
from ..errors import QueryError, require_bool
from ..laws.allocation import compute_grid
from ..laws.chinchilla import CHINCHILLA, PointFit, log_n_star
from ..result.fit import Fit
from ..result.intervals import DEFAULT_PROB, interval_table
from .draws import grid_size, require_fit

#: Runs within this many decades of an IsoFLOP budget are drawn on its curve.
ISOFLOP_TOLERANCE = 0.05


#: Published point fits of the Chinchilla law (they live with the law, ``laws/chinchilla.py``).
PUBLISHED_FITS: dict[str, PointFit] = CHINCHILLA.published


def _require_allocation(fit: Fit, what: str) -> None:
    require_fit(fit, f"{what} is computed from")
    if not fit.law.has_allocation:
        raise QueryError(
            f"{what} needs a law with an N/D split; the '{fit.law.name}' law ({fit.law.formula}) "
            f"models loss as a function of {' and '.join(fit.law.inputs)} alone"
        )


def _group_dim(fit: Fit, level: str | None) -> str | None:
    level = fit.check_level(level)
    return None if level == "shared" else level


# ------------------------------------------------------------------------------------- published fits


def published_frontier(
    compute: float | Sequence[float] | np.ndarray,
    fits: Mapping[str, PointFit] | None = None,
    compute_factor: float = 6.0,
) -> xr.Dataset:
    """N*, D*, D*/N* and L* of published point fits, in closed form (Hoffmann et al. 2022, Eq. 4).

    Parameters
    ----------
    compute : float or sequence of float
        Budgets in FLOPs.
    fits : mapping of str to PointFit, optional
        Defaults to :data:`PUBLISHED_FITS`.
    compute_factor : float
        k in C = k·N·D.

    Returns
    -------
    xarray.Dataset
        ``params``, ``tokens``, ``ratio``, ``loss``, dims ``(fit, compute)``; coordinate ``label``
        on ``fit`` holds the readable names.
    """
    fits = PUBLISHED_FITS if fits is None else fits
    c = compute_grid(compute)
    if (isinstance(compute_factor, bool) or not isinstance(compute_factor, int | float | np.number)
            or not np.isfinite(compute_factor) or compute_factor <= 0):
        raise QueryError(f"compute_factor must be a positive number (FLOPs per parameter per token), got {compute_factor!r}")
    log_m = np.log(c / compute_factor)
    names = list(fits) if isinstance(fits, Mapping) else []
    if not names:
        raise QueryError("no published fits given: fits maps names to point fits (PointFit)")
    if not all(isinstance(fits[n], PointFit) for n in names):
        raise QueryError(f"fits maps names to point fits (PointFit), got {sorted({type(v).__name__ for v in fits.values()})}")
    get = {k: xr.DataArray([getattr(fits[n], k) for n in names], dims="fit", coords={"fit": names})
           for k in ("E", "A", "B", "alpha", "beta")}
    log_n = log_n_star(get["A"], get["B"], get["alpha"], get["beta"], log_m)
    log_d = log_m - log_n
    loss = get["E"] + get["A"] * np.exp(-get["alpha"] * log_n) + get["B"] * np.exp(-get["beta"] * log_d)
    out = xr.Dataset({"params": np.exp(log_n), "tokens": np.exp(log_d), "ratio": np.exp(log_d - log_n),
                      "loss": loss}).transpose("fit", "compute")
    return out.assign_coords(label=("fit", [fits[n].label for n in names]))


# ------------------------------------------------------------------------------------------- frontier


def frontier_table(
    fit: Fit,
    compute: float | Sequence[float] | np.ndarray = (1e21, CHINCHILLA_COMPUTE, 1e25),
    prob: float = DEFAULT_PROB,
    level: str | None = None,
    published: bool = False,
) -> pd.DataFrame:
    """N*, D*, D*/N* and L* at each budget: posterior median and central interval (and published values).

    Parameters
    ----------
    fit : Fit
        A fit of a law with an N/D split.
    compute : float or sequence of float
        Budgets in FLOPs.
    prob : float
        Mass of the central interval.
    level : {"shared", "domain", "task"}, optional
        Answer per group at this level (default: the fit's finest level).
    published : bool
        Add one column per entry of :data:`PUBLISHED_FITS` (their closed-form values) and
        ``p_above_<name>``, the posterior probability that the quantity exceeds that value.

    Returns
    -------
    pandas.DataFrame
        One row per quantity (``params``, ``tokens``, ``ratio``, ``loss``), budget (and group):
        ``variable``, ``compute``, group columns, ``median``, ``mean``, ``sd``, ``lower``, ``upper``.
    """
    _require_allocation(fit, "the compute-optimal frontier")
    opt = fit.optimal(compute, level=level)
    table = interval_table(opt, prob)
    if require_bool(published, "published"):
        if fit.law.published is not CHINCHILLA.published:
            raise QueryError("published point fits are of the Chinchilla law; this fit is "
                             f"'{fit.law.name}'")
        ref = published_frontier(compute, compute_factor=fit.runs.compute_factor)
        keys = [c for c in ("compute", "domain", "task") if c in table.columns]
        order = list(table.columns)
        for name in ref["fit"].values:
            values = ref.sel(fit=name, drop=True).drop_vars("label", errors="ignore")
            above = (opt > values).mean(("chain", "draw"))
            above = above.drop_vars([c for c in above.coords if c not in above.dims])
            for column, ds, on in ((str(name), values, ["compute"]), (f"p_above_{name}", above, keys)):
                long = ds.to_dataframe().reset_index().melt(id_vars=on, var_name="variable", value_name=column)
                table = table.merge(long, on=["variable", *on], how="left")
                order.append(column)
        table = table[order]
    table.attrs["prob"] = prob
    return table


# ------------------------------------------------------------------------------------------- isoflops


def default_budgets(fit: Fit, tolerance: float = ISOFLOP_TOLERANCE, minimum_runs: int = 3) -> np.ndarray:
    """Powers of ten inside the runs' compute range with at least ``minimum_runs`` runs near them.

    Falls back to three log-spaced budgets across the runs when no power of ten has enough runs.
    """
    log_c = np.log10(fit.runs.column("compute"))
    decades = np.arange(np.ceil(log_c.min()), np.floor(log_c.max()) + 1)
    near = [d for d in decades if np.sum(np.abs(log_c - d) <= tolerance) >= minimum_runs]
    if near:
        return 10.0 ** np.asarray(near)
    return np.geomspace(10 ** np.quantile(log_c, 0.2), 10 ** np.quantile(log_c, 0.8), 3)


def isoflop_runs(fit: Fit, budgets: float | Sequence[float] | np.ndarray,
                 tolerance: float = ISOFLOP_TOLERANCE) -> pd.DataFrame:
    """The runs whose compute lies within ``tolerance`` decades of each budget.

    Returns
    -------
    pandas.DataFrame
        The runs' columns plus ``budget`` (a run near two budgets appears twice).
    """
    _require_allocation(fit, "an IsoFLOP slice")
    c = compute_grid(budgets).values
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float | np.number) or not tolerance > 0:
        raise QueryError(f"tolerance is a positive number of decades of compute, got {tolerance!r}")
    table = fit.runs.table
    log_c = np.log10(table["compute"].to_numpy(dtype=float))
    parts = [table[np.abs(log_c - np.log10(b)) <= tolerance].assign(budget=b) for b in c]
    return pd.concat(parts, ignore_index=True)


def isoflop_curves(
    fit: Fit,
    budgets: float | Sequence[float] | np.ndarray | None = None,
    n_points: int = 60,
    span: float = 10.0,
    level: str | None = None,
    seed: int | None = None,
) -> xr.Dataset:
    """Loss along IsoFLOP slices: for each budget C, N on a log grid and D = C/(kN).

    Parameters
    ----------
    fit : Fit
        A fit of a law with an N/D split.
    budgets : float or sequence of float, optional
        Budgets in FLOPs (default :func:`default_budgets`).
    n_points : int
        Points of N per budget.
    span : float
        The grid runs from N*/span to N*·span around the posterior-median N* of each budget,
        widened to cover the runs near that budget.
    level : {"shared", "domain", "task"}, optional
        Predict per group at this level (default: the fit's finest level).
    seed : int, optional
        Seed of the predictive noise (default: the fit's seed).

    Returns
    -------
    xarray.Dataset
        ``loss_mean`` (the law) and ``loss_pred`` (a new run), dims ``(chain, draw, compute, n[,
        group])``, coordinates ``params`` and ``tokens`` (``compute, n``); and ``params_opt`` (N*),
        dims ``(chain, draw, compute[, group])``.
    """
    _require_allocation(fit, "an IsoFLOP curve")
    n_points = grid_size(n_points, "n_points", least=2)
    if isinstance(span, bool) or not isinstance(span, int | float | np.number) or not 1 < span < 1e6:
        raise QueryError(f"span must be a number above 1 (and below 1e6), got {span!r}")
    c = compute_grid(default_budgets(fit) if budgets is None else budgets).values
    k = fit.runs.compute_factor
    opt = fit.optimal(c, level=level)
    n_star = opt["params"].median([d for d in opt["params"].dims if d != "compute"]).values
    near = isoflop_runs(fit, c)
    grid = np.empty((c.size, int(n_points)))
    for i, (budget, centre) in enumerate(zip(c, n_star)):
        lo, hi = centre / span, centre * span
        runs_n = near.loc[near["budget"] == budget, "params"].to_numpy(dtype=float)
        if runs_n.size:
            lo, hi = min(lo, runs_n.min() / 1.2), max(hi, runs_n.max() * 1.2)
        hi = min(hi, budget / k)  # at least one token
        grid[i] = np.geomspace(lo, hi, int(n_points))
    tokens = c[:, None] / (k * grid)
    pred = fit.predict(params=grid.ravel(), tokens=tokens.ravel(), seed=seed, level=level)
    out = {}
    for name in ("loss_mean", "loss_pred"):
        da = pred[name].transpose("chain", "draw", "point", ...)
        rest = da.dims[3:]
        values = da.values.reshape(da.shape[:2] + grid.shape + da.shape[3:])
        out[name] = xr.DataArray(values, dims=("chain", "draw", "compute", "n", *rest),
                                 coords={d: da[d] for d in rest if d in da.coords})
    ds = xr.Dataset(out).assign_coords(compute=c, params=(("compute", "n"), grid), tokens=(("compute", "n"), tokens))
    ds["params_opt"] = opt["params"].drop_vars([v for v in opt["params"].coords if v not in ("compute", *opt["params"].dims)])
    ds.attrs["compute_factor"] = k
    return ds


# ------------------------------------------------------------------------------------- scaling curve


def curve_axis(fit: Fit) -> str:
    """The x quantity of a fit's scaling curve: ``compute`` for N/D and compute laws, else the law's input."""
    if fit.law.has_allocation or fit.law.inputs == ("compute",):
        return "compute"
    return fit.law.inputs[0]


def scaling_curve_data(
    fit: Fit,
    x: Sequence[float] | np.ndarray | None = None,
    n_points: int = 80,
    level: str | None = None,
    seed: int | None = None,
) -> xr.Dataset:
    """Posterior scaling curve: loss of the law (credible) and of a new run (predictive) along x.

    For a law in one input (``compute``, or the data axis of a learning curve) x is that input. For a
    law with an N/D split x is compute, and each budget is spent at the posterior-median
    compute-optimal allocation N*(C), D*(C) (per group for a grouped fit): the curve is the loss
    frontier L*(C) that the runs' lower envelope traces.

    Parameters
    ----------
    fit : Fit
    x : sequence of float, optional
        Where to evaluate (default: ``n_points`` log-spaced values across the runs' range).
    n_points : int
        Points of the default grid.
    level : {"shared", "domain", "task"}, optional
        Curves per group at this level (default: the fit's finest level).
    seed : int, optional
        Seed of the predictive noise (default: the fit's seed).

    Returns
    -------
    xarray.Dataset
        ``loss_mean`` and ``loss_pred``, dims ``(chain, draw, point[, group])``, coordinate ``x``
        on ``point``; ``attrs["x_name"]`` names the quantity.
    """
    name = curve_axis(fit)
    if x is None:
        values = fit.runs.column(name)
        x = np.geomspace(values.min(), values.max(), grid_size(n_points, "n_points", least=2))
    x = compute_grid(x).values  # validated: positive, finite, 1-d
    if not fit.law.has_allocation:
        pred = fit.predict(**{name: x}, seed=seed, level=level)
    else:
        dim = _group_dim(fit, level)
        opt = fit.optimal(x, level=level)
        n_star = opt["params"].median(("chain", "draw"))
        d_star = opt["tokens"].median(("chain", "draw"))
        if dim is None:
            pred = fit.predict(params=n_star.values, tokens=d_star.values, seed=seed, level=level)
        else:
            parts = [fit.predict(params=n_star.sel({dim: g}).values, tokens=d_star.sel({dim: g}).values,
                                 seed=seed, level=level).sel({dim: g})
                     for g in n_star[dim].values]
            pred = xr.concat(parts, dim=dim, coords="minimal", compat="override")
            pred = pred.drop_vars(["params", "tokens", "compute"], errors="ignore")
    pred = pred[["loss_mean", "loss_pred"]].transpose("chain", "draw", "point", ...)
    pred = pred.drop_vars([v for v in ("params", "tokens", "compute") if v in pred.coords])
    pred = pred.assign_coords(x=("point", x))
    pred.attrs["x_name"] = name
    return pred


__all__ = [
    "CHINCHILLA_COMPUTE", "PUBLISHED_FITS", "PointFit", "curve_axis", "default_budgets", "frontier_table",
    "isoflop_curves", "isoflop_runs", "published_frontier", "scaling_curve_data",
]
