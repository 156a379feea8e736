"""Comparisons: groups against each other within a fit, and fits against each other by PSIS-LOO.

``compare(fit, "alpha", by="domain")`` answers "do vision and language scale differently?" with the
posterior of each pairwise difference (and ratio), its central interval and P(difference > 0).
``compare_models({"pooled": f1, "separate": f2})`` ranks law families and pooling choices on the
same runs by the expected log predictive density estimated with PSIS-LOO (ArviZ), and surfaces
ArviZ's Pareto-k warnings instead of hiding them.
"""

from __future__ import annotations

import hashlib
import itertools
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import QueryError
from ..result.fit import Fit
from ..result.intervals import DEFAULT_PROB, check_prob
from .draws import require_fit

#: Pareto k above which PSIS-LOO's estimate for a run is unreliable (Vehtari et al. 2024).
PARETO_K_MAX = 0.7


def group_draws(fit: Fit, param: str, by: str = "domain") -> xr.DataArray:
    """Draws of a natural parameter (``alpha``, ``E``, ``A``...) or sampled one, one column per group.

    Raises
    ------
    QueryError
        Unknown parameter, or a parameter that does not vary by ``by``.
    """
    if by not in ("domain", "task"):
        raise QueryError(f"compare groups by 'domain' or 'task', not '{by}'")
    params = fit.parameters(by)
    sampled = fit.sampled(by)
    if param in params:
        draws = params[param]
    elif param in sampled:
        draws = sampled[param]
    elif param in fit.law.natural_names:
        raise QueryError(f"'{param}' depends on the inputs' centre, which this fit sets per {fit.spec.pivot}: "
                         f"compare it by {fit.spec.pivot}")
    else:
        names = sorted(set(params.data_vars) | set(sampled))
        raise QueryError(f"unknown parameter '{param}'; choose one of {', '.join(names)}")
    if by not in draws.dims:
        raise QueryError(
            f"'{param}' is shared by every {by} in spec '{fit.spec.name}' (pooling {fit.spec.pooling}); "
            f"refit with it pooled by {by} (e.g. --pool {param}={by}) to compare {by}s"
        )
    return draws



def compare(fit: Fit, param: str, by: str = "domain", prob: float = DEFAULT_PROB,
            pairs: Sequence[tuple[str, str]] | None = None) -> pd.DataFrame:
    """Posterior differences and ratios of a parameter between groups.

    Parameters
    ----------
    fit : Fit
        A fit in which ``param`` varies by ``by``.
    param : str
        Natural (``alpha``, ``beta``, ``E``, ``A``...) or sampled parameter name.
    by : {"domain", "task"}
        The grouping to compare. For a parameter pooled by task, ``by="domain"`` compares the domain
        means of its tasks.
    prob : float
        Mass of the central intervals.
    pairs : sequence of (group, other), optional
        Which pairs to compare; default every unordered pair in label order.

    Returns
    -------
    pandas.DataFrame
        One row per pair: ``group``, ``other``, the medians of each, the difference ``group - other``
        (``diff_median``, ``diff_lower``, ``diff_upper``), ``p_greater`` = P(group > other), and the
        ratio ``group / other`` (``ratio_median``, ``ratio_lower``, ``ratio_upper``).
    """
    prob = check_prob(prob)
    require_fit(fit, "compare reads")
    if not isinstance(param, str) or not isinstance(by, str):
        raise QueryError(f"param and by are names, e.g. compare(fit, 'alpha', by='domain'), got {param!r}, {by!r}")
    draws = group_draws(fit, param, by)
    labels = [str(v) for v in draws[by].values]
    if pairs is None:
        pairs = list(itertools.combinations(labels, 2))
    try:
        pairs = list(pairs) if not isinstance(pairs, str) else [pairs]  # a generator is read once
    except TypeError:
        raise QueryError(f"pairs must be (group, other) pairs, got {pairs!r}") from None
    if not pairs:
        raise QueryError(f"pairs is empty: give (group, other) pairs, e.g. [('{labels[0]}', '{labels[-1]}')], "
                         "or leave it out for every pair")
    if any(isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2 for pair in pairs):
        raise QueryError(f"pairs must be (group, other) pairs, e.g. [('{labels[0]}', '{labels[-1]}')], got {pairs!r}")
    pairs = [(str(group), str(other)) for group, other in pairs]
    unknown = sorted({g for pair in pairs for g in pair} - set(labels))
    if unknown:
        raise QueryError(f"unknown {by}(s) {unknown}; the fit has {labels}")
    for group, other in pairs:
        if group == other or np.array_equal(draws.sel({by: group}).values, draws.sel({by: other}).values):
            raise QueryError(f"'{param}' is one quantity for {by}s {group!r} and {other!r} (the same {by}, or "
                             f"{by}s that spec '{fit.spec.name}' does not separate): compare by a level it varies at")
    lo, hi = (1.0 - prob) / 2.0, 1.0 - (1.0 - prob) / 2.0
    rows = []
    for group, other in pairs:
        a = draws.sel({by: group}).values.ravel()
        b = draws.sel({by: other}).values.ravel()
        diff = a - b
        row = {"parameter": param, "by": by, "group": group, "other": other,
               "group_median": float(np.median(a)), "other_median": float(np.median(b)),
               "diff_median": float(np.median(diff)), "diff_lower": float(np.quantile(diff, lo)),
               "diff_upper": float(np.quantile(diff, hi)), "p_greater": float(np.mean(diff > 0))}
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = a / b
        if np.all(np.isfinite(ratio)):
            row.update(ratio_median=float(np.median(ratio)), ratio_lower=float(np.quantile(ratio, lo)),
                       ratio_upper=float(np.quantile(ratio, hi)))
        rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs.update(prob=prob, draws=int(draws.sizes["chain"] * draws.sizes["draw"]))
    return table


def difference(fit: Fit, param: str, group: str, other: str, by: str = "domain") -> xr.DataArray:
    """Draws of ``param[group] - param[other]``, dims ``(chain, draw)`` (for plots and custom questions)."""
    draws = group_draws(fit, param, by)
    return (draws.sel({by: group}, drop=True) - draws.sel({by: other}, drop=True)).rename(f"{param}_diff")


def loo(fit: Fit) -> object:
    """PSIS-LOO of one fit (ArviZ's ``ELPDData``, pointwise), from the pointwise log likelihood."""
    from arviz_stats import loo as psis_loo

    tree = xr.DataTree.from_dict({"posterior": fit.posterior, "log_likelihood": fit.log_likelihood()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return psis_loo(tree, pointwise=True)


def compare_models(fits: Mapping[str, Fit] | Sequence[Fit]) -> pd.DataFrame:
    """Rank fits of the same runs by PSIS-LOO expected log predictive density.

    Parameters
    ----------
    fits : mapping name -> Fit, or a sequence (named by their spec and pooling)
        Two or more fits of identical runs (checked by data hash).

    Returns
    -------
    pandas.DataFrame
        ArviZ's comparison (``rank``, ``elpd``, ``p``, ``elpd_diff``, ``dse``, ``weight``...) plus
        ``n_high_k`` (runs with Pareto k > 0.7), ``max_k`` and ``warning`` (text; empty when LOO can
        be trusted), best model first. ``attrs["warnings"]`` lists every problem in words.

    Raises
    ------
    QueryError
        Fewer than two fits, or fits of different data.
    """
    items = list(fits.values()) if isinstance(fits, Mapping) else list(fits)
    bad = [type(f).__name__ for f in items if not isinstance(f, Fit)]
    if bad:
        raise QueryError(f"compare_models compares fits (bs.fit or bs.load_fit), got {bad[0]}")
    named = dict(fits) if isinstance(fits, Mapping) else _auto_names(items)
    if len(named) < 2:
        raise QueryError("compare_models needs at least two fits")
    digests = {name: f.runs.digest for name, f in named.items()}
    if len(set(digests.values())) > 1:
        raise QueryError(
            "LOO compares fits of the same runs only; these fits were made from different data "
            f"(data hashes {', '.join(f'{n}: {d[:8]}' for n, d in digests.items())})"
        )
    seen: dict[str, str] = {}
    for name, f in named.items():
        key = f.spec.to_json() + "".join(hashlib.sha256(np.ascontiguousarray(v.values).tobytes()).hexdigest()
                                         for v in f.posterior.data_vars.values())
        if key in seen:
            raise QueryError(f"'{seen[key]}' and '{name}' are the same fit (the same spec and draws); compare "
                             "different models of the runs")
        seen[key] = name
    from arviz_stats import compare as compare_elpd

    elpd = {name: loo(f) for name, f in named.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = compare_elpd(elpd, round_to="none")
    notes: list[str] = []
    table["n_high_k"] = 0
    table["max_k"] = np.nan
    table["warning"] = ""
    for name, result in elpd.items():
        k = np.asarray(result.pareto_k).ravel()
        n_high = int(np.sum(k > PARETO_K_MAX))
        table.loc[name, "n_high_k"] = n_high
        table.loc[name, "max_k"] = float(np.max(k))
        problems = []
        if n_high:
            problems.append(f"{n_high} of {k.size} runs have Pareto k > {PARETO_K_MAX} (max {np.max(k):.2f}): "
                            "PSIS-LOO is unreliable for them (influential runs; consider K-fold)")
        if not named[name].diagnostics.ok:
            problems.append("sampler did not converge: " + "; ".join(named[name].diagnostics.problems))
        table.loc[name, "warning"] = " | ".join(problems)
        notes += [f"{name}: {p}" for p in problems]
    table.attrs["warnings"] = notes
    return table


def _auto_names(fits: list[Fit]) -> dict[str, Fit]:
    names: dict[str, Fit] = {}
    for i, f in enumerate(fits):
        pooled = ",".join(f"{k}={v}" for k, v in f.spec.pooling.items() if v != "shared")
        name = f"{f.spec.name}" + (f"[{pooled}]" if pooled else "")
        names[name if name not in names else f"{name}#{i + 1}"] = f
    return names


__all__ = ["compare", "compare_models", "difference", "group_draws", "loo"]
