"""Risk-aware compute-budget planning on posterior draws: one namespace for the planning questions.

Every question is answered from the posterior draws of a fitted law (a :class:`Draws`), vectorised
with xarray broadcasting; nothing is refitted. Sampled parameters may carry group dims besides
``(chain, draw)`` (e.g. ``alpha`` with dim ``domain`` in a hierarchical fit): they flow through to
every output, and every decision (the chosen N, the compute for a target) is then made per group.

Questions
---------
:func:`plan` (:mod:`.plan`)
    For a budget C = k·N·D, choose N (and D = C/(kN)) minimising a risk measure of the loss over
    the posterior: ``"mean"`` (E[L], the Bayes decision), ``"quantile"`` (the q-quantile of L) or
    ``"cvar"`` (the mean of L over the worst 1−q of draws). Constraints: ``max_params`` (memory),
    ``max_tokens`` (data-limited) or a fixed ``params``.
:func:`compute_for_target` (:mod:`.target`)
    The smallest budget whose best allocation reaches L <= x with probability >= p (the p-quantile
    plan), by a scan and a bisection in log C.
:func:`prob_below` (:mod:`.target`)
    P(L <= x) at planned runs, for the mean law or (``predictive=True``) for an observed run with
    the fitted noise (sigma, and nu for the Student-t likelihood).
:func:`regret` (:mod:`.plan`)
    The plug-in plan (posterior-median parameters as a point estimate) against the Bayes plan, both
    scored under the full posterior.
:func:`value_of_information` (:mod:`.voi`)
    Expected value of sample information of one more run at (N, D) for the ``mean`` plan, by
    preposterior analysis with importance reweighting of the draws.

Each has a pure core taking a :class:`Draws` (``*_from_draws``) and a thin wrapper taking a
:class:`~bayes_scaling.Fit`. The wrappers of :func:`plan`, :func:`regret` and
:func:`compute_for_target` give L beyond the fitted runs the spec's structural error
(:mod:`.beyond`; ``structural=False`` plans on the law's loss alone). The risk measures live in :mod:`.risk`, the optimiser over log N in
:mod:`.optimise`; :mod:`bayes_scaling.present.text` prints plans and targets.
"""

from __future__ import annotations

from .draws import Draws
from .plan import plan, plan_from_draws, regret, regret_from_draws
from .risk import OBJECTIVES, cvar, quantile, risk
from .target import (
    compute_for_target,
    prob_below,
    prob_below_from_draws,
    target_from_draws,
)
from .voi import value_of_information, voi_from_draws

__all__ = [
    "OBJECTIVES", "Draws", "compute_for_target", "cvar", "plan", "plan_from_draws", "prob_below",
    "prob_below_from_draws", "quantile", "regret", "regret_from_draws", "risk", "target_from_draws",
    "value_of_information", "voi_from_draws",
]
