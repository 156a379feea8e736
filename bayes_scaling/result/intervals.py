"""Summaries of draws: medians, equal-tailed credible intervals, and per-element convergence.

The equal-tailed interval is the pair of quantiles ArviZ's ``eti`` computes, taken here with
xarray's ``quantile`` so that answering a question of a saved fit does not import arviz_stats (and
with it scipy.stats, most of a second). R-hat and ESS are ArviZ's definitions
(:mod:`bayes_scaling.mcmc_stats`), computed once when a fit is made and stored with it
(:func:`convergence_stats`).
"""

from __future__ import annotations

import warnings

import pandas as pd
import xarray as xr

from ..defaults import DEFAULT_PROB
from ..errors import DataWarning, QueryError

SAMPLE_DIMS = ("chain", "draw")


def check_prob(prob: object, name: str = "prob") -> float:
    """``prob`` as a float strictly between 0 and 1 (numbers and numeric text), else a :class:`QueryError`."""
    try:
        value = float(prob)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise QueryError(f"{name} must be a number strictly between 0 and 1, got {prob!r}") from None
    if not 0.0 < value < 1.0:
        raise QueryError(f"{name} must lie strictly between 0 and 1, got {prob}")
    return value


def warn_if_unresolved(tail: float, n_draws: int, what: str) -> None:
    """A :class:`DataWarning` where fewer than one draw lies beyond a tail of mass ``tail``: the answer is
    then the single most extreme draw, or an interpolation past it."""
    if 0 < tail * n_draws < 1:
        warnings.warn(f"{what} needs tails of {tail:.2g} of the draws, finer than {n_draws} draws resolve: it rests "
                      "on the one most extreme draw; sample more draws", DataWarning, stacklevel=3)


def _check_draws(draws: xr.Dataset) -> None:
    """Refuse draws that are not numbers along ``(chain, draw)``, or that have none."""
    if not draws.data_vars:
        raise QueryError("interval_table was given no variables to summarise")
    for name, da in draws.data_vars.items():
        if any(d not in da.dims for d in SAMPLE_DIMS):
            raise QueryError(f"'{name}' has dims {list(da.dims)}: interval_table summarises draws with dims (chain, draw)")
        if da.dtype.kind not in "biuf" or da.sizes["chain"] * da.sizes["draw"] == 0:
            raise QueryError(f"'{name}' holds no numeric draws (dtype {da.dtype}, {da.sizes['chain']} chains x "
                             f"{da.sizes['draw']} draws)")


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
    if not isinstance(draws, xr.Dataset):
        raise QueryError(f"interval_table summarises xarray draws with dims (chain, draw), got {type(draws).__name__}")
    prob = check_prob(prob)
    _check_draws(draws)
    warn_if_unresolved((1.0 - prob) / 2.0, draws.sizes["chain"] * draws.sizes["draw"], f"a {prob:g} interval")
    tails = [(1.0 - prob) / 2.0, (1.0 + prob) / 2.0]
    frames = []
    for name, da in draws.data_vars.items():
        stats = xr.Dataset({
            "median": da.median(SAMPLE_DIMS),
            "mean": da.mean(SAMPLE_DIMS),
            "sd": da.std(SAMPLE_DIMS),
            "lower": da.quantile(tails[0], dim=SAMPLE_DIMS).drop_vars("quantile"),
            "upper": da.quantile(tails[1], dim=SAMPLE_DIMS).drop_vars("quantile"),
        })
        extra = [c for c in stats.coords if c not in stats.dims]
        stats = stats.drop_vars(extra)
        frame = stats.to_dataframe().reset_index() if stats.dims else pd.DataFrame([{k: float(v) for k, v in stats.items()}])
        frame.insert(0, "variable", name)
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    table.attrs["prob"] = prob
    return table


#: The per-element convergence statistics of a summary.
CONVERGENCE_STATS = ("r_hat", "ess_bulk", "ess_tail")


def convergence_stats(draws: xr.Dataset) -> xr.Dataset:
    """R-hat (rank-normalised; NaN with one chain) and bulk/tail ESS of every element of every variable.

    Returns a Dataset with one variable ``<name>__<stat>`` per variable and statistic, dims those
    of the variable without ``chain`` and ``draw`` (what a fit stores as its ``convergence`` group).
    """
    from ..mcmc_stats import ess_bulk, ess_tail, per_element, rhat

    out = {}
    for name, da in draws.data_vars.items():
        values = {"r_hat": per_element(rhat, da), "ess_bulk": per_element(ess_bulk, da),
                  "ess_tail": per_element(ess_tail, da)}
        for stat, value in values.items():
            out[f"{name}__{stat}"] = value.drop_vars([c for c in value.coords if c not in value.dims])
    return xr.Dataset(out)


def convergence_table(stats: xr.Dataset, names: list[str]) -> pd.DataFrame:
    """The rows of :func:`convergence_stats` for ``names``, one per element, lined up with
    :func:`interval_table`'s: columns ``variable``, any group coordinates, ``r_hat``, ``ess_bulk``,
    ``ess_tail``."""
    frames = []
    for name in names:
        one = xr.Dataset({stat: stats[f"{name}__{stat}"] for stat in CONVERGENCE_STATS})
        frame = one.to_dataframe().reset_index() if one.dims else pd.DataFrame([{k: float(v) for k, v in one.items()}])
        frame.insert(0, "variable", name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
