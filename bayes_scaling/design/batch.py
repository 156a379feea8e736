"""A batch of runs chosen greedily to shrink the expected uncertainty of a target within a compute budget.

Each step scores every affordable candidate by the expected uncertainty of the target once its
outcome is known together with the runs already chosen (:mod:`.preposterior`), and adds the one
with the largest reduction per FLOP. A batch chosen per FLOP can leave budget unused on cheap
runs, so the batch chosen by total reduction is built as well and the one with the lower final
expected uncertainty is returned (the usual guard for greedy choice under a budget). A candidate
may be chosen twice: a replicate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .preposterior import Outcomes, Uncertainty, ess, normalise


@dataclass(frozen=True)
class Batch:
    """The chosen runs (indices into the candidates, in order) and what each step expects."""

    chosen: list[int]
    expected: list[float]  # expected uncertainty after each chosen run
    ess_min: list[float]  # smallest effective sample size over simulations, after each run
    rule: str  # "per_flop" or "total"

    @property
    def final(self) -> float:
        return self.expected[-1] if self.expected else float("nan")


def greedy(outcomes: Outcomes, uncertainty: Uncertainty, costs: np.ndarray, budget: float, k: int,
           per_flop: bool) -> Batch:
    """Choose up to ``k`` runs whose costs sum to at most ``budget``, one at a time."""
    acc = outcomes.start()
    current = uncertainty.uniform()
    remaining = float(budget)
    chosen: list[int] = []
    expected: list[float] = []
    low: list[float] = []
    for _ in range(int(k)):
        options = np.flatnonzero(costs <= remaining * (1 + 1e-9))
        if options.size == 0:
            break
        w = normalise(acc[None] + outcomes.loglik[options])
        after = uncertainty(w).mean(axis=1)
        gain = current - after
        best = int(np.argmax(gain / costs[options] if per_flop else gain))
        pick = int(options[best])
        acc = acc + outcomes.loglik[pick]
        current = float(after[best])
        remaining -= float(costs[pick])
        chosen.append(pick)
        expected.append(current)
        low.append(float(ess(w[best]).min()))
    return Batch(chosen, expected, low, "per_flop" if per_flop else "total")


def best_batch(outcomes: Outcomes, uncertainty: Uncertainty, costs: np.ndarray, budget: float, k: int) -> Batch:
    """The better of the per-FLOP and the total-reduction greedy batches (lower final expected uncertainty)."""
    a = greedy(outcomes, uncertainty, costs, budget, k, per_flop=True)
    b = greedy(outcomes, uncertainty, costs, budget, k, per_flop=False)
    return a if a.final <= b.final else b
