"""A first IsoFLOP sweep before any run exists: sizes around the frontier of a published fit.

With no runs there is no posterior, and the default priors of a law are deliberately wide (they
place N*(C) anywhere within many decades), so they cannot centre a sweep. The layout centres each
budget on the compute-optimal N* of a published point fit of the Chinchilla law (by default
Besiroglu et al.'s refit of Hoffmann et al.'s runs, about 20 tokens per parameter at 1e21 FLOPs)
and spaces ``per_budget`` sizes evenly in log N, ``span`` decades either side: wide enough that
each budget's valley lies inside its sizes even if the published frontier is off by a factor of
several, which is what Approach 2 (:mod:`.isoflop`) and a first fit need. After the first fit,
:func:`~bayes_scaling.design.propose` chooses the next runs from the posterior instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import QueryError
from ..laws.chinchilla import PUBLISHED, log_n_star

SPAN = 1.0
PER_BUDGET = 7


def layout(budgets: Sequence[float], per_budget: int = PER_BUDGET, span: float = SPAN, compute_factor: float = 6.0,
           fit: str = "epoch", max_params: float | None = None, max_tokens: float | None = None) -> pd.DataFrame:
    """IsoFLOP runs (``budget``, ``params``, ``tokens``, ``compute``, ``tokens_per_param``) for a first sweep.

    Raises
    ------
    QueryError
        For budgets that are not positive, fewer than three sizes per budget (a parabola needs
        three), a span that is not positive, an unknown published fit, or limits that leave a budget
        with fewer than three sizes.
    """
    values = np.atleast_1d(np.asarray(budgets, dtype=float))
    if values.size == 0 or np.any(~np.isfinite(values)) or np.any(values <= 0):
        raise QueryError(f"budgets must be positive numbers of FLOPs, got {values.tolist()}")
    if np.unique(values).size != values.size:
        raise QueryError(f"budgets must differ from each other, got {values.tolist()}")
    if int(per_budget) < 3:
        raise QueryError(f"per_budget must be at least 3 (a parabola per budget needs three sizes), got {per_budget}")
    if not np.isfinite(span) or span <= 0:
        raise QueryError(f"span must be a positive number of decades, got {span}")
    if fit not in PUBLISHED:
        raise QueryError(f"unknown published fit {fit!r}; choose one of {', '.join(PUBLISHED)}")
    p = PUBLISHED[fit]
    rows = []
    for c in sorted(values):
        centre = log_n_star(p.A, p.B, p.alpha, p.beta, np.log(c / compute_factor))
        n = np.exp(centre + np.linspace(-span, span, int(per_budget)) * np.log(10))
        d = c / (compute_factor * n)
        keep = (n >= 1) & (d >= 1)
        keep &= n <= max_params if max_params is not None else True
        keep &= d <= max_tokens if max_tokens is not None else True
        if keep.sum() < 3:
            raise QueryError(f"the limits leave budget {c:.3g} FLOPs with {int(keep.sum())} sizes; it needs three")
        rows.append(pd.DataFrame({"budget": c, "params": n[keep], "tokens": d[keep], "compute": c,
                                  "tokens_per_param": d[keep] / n[keep]}))
    table = pd.concat(rows, ignore_index=True)
    table.attrs["centre"] = p.label
    return table
