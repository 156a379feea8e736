"""Dropping chains after sampling, on the record: a chain stuck in a local mode, set aside by the user.

A chain that settled in a local mode whose log density lies far below the other chains'
(:func:`bayes_scaling.result.diagnosis.chains_apart` names it) holds next to no posterior mass, yet
it is a quarter of four chains' draws. :func:`drop_chains` returns the fit without it: R-hat, ESS and
the convergence table are computed again from the chains kept, the settings record which were
dropped, and the diagnostics carry a note that every summary, report, ``--json`` document and saved
file shows. Nothing is dropped without being asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import numpy as np
import xarray as xr

from ..errors import QueryError
from ..inference import diagnose
from .diagnosis import checked_names, explain, log_density
from .fit import Fit
from .intervals import convergence_stats

#: Groups of a fit's tree whose variables have one value per chain and draw.
CHAIN_GROUPS = ("posterior", "sample_stats")


def drop_chains(fit: Fit, chains: int | Iterable[int]) -> Fit:
    """The fit without some of its chains, with its diagnostics computed again from the rest.

    Parameters
    ----------
    fit : Fit
    chains : int or iterable of int
        Labels of the chains to drop, as the diagnostics name them (``chain 1``).

    Returns
    -------
    Fit
        ``settings.dropped_chains`` lists every chain dropped so far; ``diagnostics.notes`` says which,
        and how far their mean log density lay below the chains kept.

    Raises
    ------
    QueryError
        A label that is not a whole number or not a chain of the fit, or fewer than two chains left
        (R-hat needs two).
    """
    labels = [int(c) for c in fit.idata["posterior"]["chain"].values]
    drop = _labels(chains, labels, fit.settings.dropped_chains)
    keep = [c for c in labels if c not in drop]
    if len(keep) < 2:
        raise QueryError(f"dropping chain(s) {_join(drop)} would leave {len(keep)} of {len(labels)}; "
                         "at least two must stay (R-hat compares chains)")
    idata = fit.idata.copy()
    for name in CHAIN_GROUPS:
        if name in idata.children:
            idata[name] = xr.DataTree(idata[name].to_dataset().sel(chain=keep))
    settings = replace(fit.settings, dropped_chains=tuple(sorted({*fit.settings.dropped_chains, *drop})))
    checked = checked_names(idata, fit.law)
    diagnostics = explain(diagnose(idata, checked), idata, settings, checked)
    diagnostics = replace(diagnostics, notes=(*fit.diagnostics.notes, _note(fit, drop, keep)))
    result = Fit(idata, fit.runs, fit.spec, settings, diagnostics, fit.pivots)
    idata["convergence"] = xr.DataTree(convergence_stats(result.summary_draws()))
    return result


def _labels(chains: int | Iterable[int], labels: list[int], dropped: tuple[int, ...] = ()) -> list[int]:
    """The chains asked for, as sorted labels of the fit, or a QueryError."""
    asked = [chains] if isinstance(chains, (int, np.integer)) and not isinstance(chains, bool) else chains
    try:
        items = list(asked)  # type: ignore[arg-type]
    except TypeError:
        raise QueryError(f"chains must be a chain label or a list of them, got {chains!r}") from None
    if not items:
        raise QueryError("no chain given to drop")
    bad = [c for c in items if isinstance(c, bool) or not isinstance(c, (int, np.integer))]
    if bad:
        raise QueryError(f"chains are whole numbers (labels such as 1), got {bad[0]!r}")
    unknown = sorted({int(c) for c in items} - set(labels))
    if unknown and unknown[0] in dropped:
        raise QueryError(f"chain {unknown[0]} was dropped already; the fit's chains are {_join(labels)}")
    if unknown:
        raise QueryError(f"chain {unknown[0]} is not in this fit; its chains are {_join(labels)}")
    return sorted({int(c) for c in items})


def _note(fit: Fit, drop: list[int], keep: list[int]) -> str:
    """Which chains were dropped and, where the sampler stored it, how far below their log density lay."""
    which = ("chain " if len(drop) == 1 else "chains ") + _join(drop)
    logp = log_density(fit.idata)
    gap = ""
    if logp is not None:
        per_chain = logp.mean([d for d in logp.dims if d != "chain"])
        below = float(per_chain.sel(chain=keep).mean()) - float(per_chain.sel(chain=drop).mean())
        gap = (f", {'its' if len(drop) == 1 else 'their'} mean log density {abs(below):.1f} "
               f"{'below' if below >= 0 else 'above'} the chains kept")
    return f"{which} dropped after sampling{gap}; the posterior is that of chains {_join(keep)}"


def _join(labels: Iterable[int]) -> str:
    return ", ".join(str(c) for c in labels)


__all__ = ["drop_chains"]
