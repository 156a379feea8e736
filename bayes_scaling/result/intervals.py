"""Summaries of draws: medians and equal-tailed credible intervals, from ArviZ's helpers."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from ..defaults import DEFAULT_PROB

SAMPLE_DIMS = ("chain", "draw")


def interval_table(draws: xr.Dataset | xr.DataArray, prob: float = DEFAULT_PROB) -> pd.DataFrame:
    """Median, mean, sd and the central ``prob`` interval of every variable, one row per element.

    Parameters
    ----------
    draws : Dataset or DataArray
        Variables with dims ``(chain, draw, ...)``.
    prob : float
        Mass of the equal-tailed interval.

    Returns
    -------
    pandas.DataFrame
        Columns ``variable``, any non-sample coordinates, ``median``, ``mean``, ``sd``, ``lower``,
        ``upper``.
    """
    if isinstance(draws, xr.DataArray):
        draws = draws.to_dataset(name=draws.name or "value")
    eti = az.eti(draws, prob=prob, dim=list(SAMPLE_DIMS))
    frames = []
    for name, da in draws.data_vars.items():
        stats = xr.Dataset({
            "median": da.median(SAMPLE_DIMS),
            "mean": da.mean(SAMPLE_DIMS),
            "sd": da.std(SAMPLE_DIMS),
            "lower": eti[name].sel(ci_bound="lower", drop=True),
            "upper": eti[name].sel(ci_bound="upper", drop=True),
        })
        extra = [c for c in stats.coords if c not in stats.dims]
        stats = stats.drop_vars(extra)
        frame = stats.to_dataframe().reset_index() if stats.dims else pd.DataFrame([{k: float(v) for k, v in stats.items()}])
        frame.insert(0, "variable", name)
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    table.attrs["prob"] = prob
    return table


def convergence_table(draws: xr.Dataset) -> pd.DataFrame:
    """R-hat (rank-normalised) and bulk/tail ESS of every element, one row per element.

    Columns ``variable``, any non-sample coordinates, ``r_hat`` (NaN with one chain), ``ess_bulk``,
    ``ess_tail``; rows line up with :func:`interval_table`'s.
    """
    frames = []
    for name, da in draws.data_vars.items():
        one = da.to_dataset(name=name)
        stats = xr.Dataset({
            "r_hat": az.rhat(one)[name] if da.sizes["chain"] > 1 else xr.full_like(da.isel(chain=0, draw=0, drop=True), np.nan),
            "ess_bulk": az.ess(one, method="bulk")[name],
            "ess_tail": az.ess(one, method="tail")[name],
        })
        stats = stats.drop_vars([c for c in stats.coords if c not in stats.dims])
        frame = stats.to_dataframe().reset_index() if stats.dims else pd.DataFrame([{k: float(v) for k, v in stats.items()}])
        frame.insert(0, "variable", name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
