"""The runs a design may choose from: a grid of IsoFLOP budgets and model sizes within the user's limits.

Each candidate budget c gets ``n_sizes`` model sizes spaced evenly in log N around the posterior
median of N*(c), ``spread`` decades either side, and D = c/(kN): the sizes an IsoFLOP sweep at c
would train. Candidates outside ``max_params``, ``max_tokens`` or the cost range are dropped; a
grid left empty is an error that names the limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import QueryError

N_BUDGETS = 6
N_SIZES = 9
SPREAD = 1.0  # decades either side of the median N*(c)
#: Without a minimum cost, the cheapest candidate budget is this many decades below the largest.
DEFAULT_DECADES = 2.0


@dataclass(frozen=True)
class Limits:
    """What the user can train: the largest model and dataset, and the cost range of one run (FLOPs)."""

    max_params: float | None = None
    max_tokens: float | None = None
    min_cost: float | None = None
    max_cost: float | None = None

    def check(self) -> None:
        """Refuse limits that are not positive numbers, or a minimum cost above the maximum."""
        for name in ("max_params", "max_tokens", "min_cost", "max_cost"):
            value = getattr(self, name)
            if value is not None and (not np.isfinite(value) or value <= 0):
                raise QueryError(f"{name} must be a positive number, got {value!r}")
        if self.min_cost is not None and self.max_cost is not None and self.min_cost > self.max_cost:
            raise QueryError(f"min_cost={self.min_cost:.4g} is above max_cost={self.max_cost:.4g}: no run fits")


def candidate_budgets(budget: float, limits: Limits, n_budgets: int = N_BUDGETS) -> np.ndarray:
    """Log-spaced budgets of one candidate run, from the minimum cost to min(max cost, ``budget``)."""
    top = min(budget, limits.max_cost) if limits.max_cost is not None else budget
    bottom = limits.min_cost if limits.min_cost is not None else top / 10**DEFAULT_DECADES
    if bottom > budget:
        raise QueryError(f"the design budget {budget:.4g} FLOPs is smaller than the cheapest candidate run "
                         f"({bottom:.4g} FLOPs, min_cost): raise the budget or lower min_cost")
    if n_budgets < 1:
        raise QueryError(f"give at least one candidate budget, got {n_budgets}")
    return np.geomspace(bottom, top, int(n_budgets)) if top > bottom else np.array([top])


def grid(budgets: Sequence[float] | np.ndarray, median_log_n: np.ndarray, k: float, limits: Limits,
         n_sizes: int = N_SIZES, spread: float = SPREAD) -> pd.DataFrame:
    """Candidate runs (``params``, ``tokens``, ``compute``, ``budget``) around the median N* of each budget.

    Raises
    ------
    QueryError
        When the limits leave no candidate.
    """
    rows = []
    offsets = np.linspace(-spread, spread, int(n_sizes)) * np.log(10)
    for c, u in zip(np.asarray(budgets, dtype=float), np.asarray(median_log_n, dtype=float)):
        n = np.exp(u + offsets)
        rows.append(pd.DataFrame({"params": n, "tokens": c / (k * n), "compute": c, "budget": c}))
    table = pd.concat(rows, ignore_index=True)
    keep = (table["params"] >= 1) & (table["tokens"] >= 1)
    if limits.max_params is not None:
        keep &= table["params"] <= limits.max_params * (1 + 1e-12)
    if limits.max_tokens is not None:
        keep &= table["tokens"] <= limits.max_tokens * (1 + 1e-12)
    if not keep.any():
        raise QueryError(
            f"the limits exclude every candidate run (max_params={limits.max_params}, max_tokens={limits.max_tokens}, "
            f"budgets {float(np.min(budgets)):.3g}-{float(np.max(budgets)):.3g} FLOPs): relax them")
    return table[keep].reset_index(drop=True)
