"""A learning curve under a known learning-rate schedule: L = (E + A·S1^-alpha)·exp(-gamma·a).

S1 is the forward area of the schedule (the tokens seen at the peak rate) and a the annealed fraction
of the rate (:mod:`bayes_scaling.data.schedules`). This is Tissue et al.'s (2024) scaling law with
learning-rate annealing, L = L0 + A·S1^-alpha - C·S2, with its annealing term on log loss: a run
whose rate has decayed by a fraction a sits gamma·a lower in log loss than the power law of its
forward area, so the prediction stays positive for every gamma >= 0. An intermediate checkpoint of a
cosine run has annealed a little (a = 0.2 at 30% of the run); its last checkpoint has annealed all
the way (a = 1), which a law in tokens seen alone cannot know.

The power term is :mod:`.power_curve`'s, sampled the same way at the curve's pivot X0 (level, local
slope and irreducible fraction), in S1 rather than tokens; with a constant rate S1 is the tokens seen
after the warm-up and a = 0, and the law is ``power_curve``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

from .base import Array, Law
from .power_curve import PRIORS as CURVE_PRIORS
from .power_curve import _parts
from .power_curve import from_natural as curve_from_natural


def log_mean(xp: ModuleType, x: Mapping[str, Array], p: Mapping[str, Array]) -> Array:
    """log L = logaddexp(log E, log a0 - alpha·log(S1/X0)) - gamma·a, a = annealed_tokens/tokens - 1."""
    log_e, log_a0, alpha = _parts(xp, p)
    annealed = xp.exp(x["annealed_tokens"] - x["tokens"]) - 1.0
    return xp.logaddexp(log_e, log_a0 - alpha * x["lr_tokens"]) - p["anneal"] * annealed


def natural(xp: ModuleType, p: Mapping[str, Array], piv: Mapping[str, float]) -> dict[str, Array]:
    """E, A = a0·X0^alpha, alpha and gamma (the log-loss drop of a fully annealed rate)."""
    log_e, log_a0, alpha = _parts(xp, p)
    return {"E": xp.exp(log_e), "A": xp.exp(log_a0 + alpha * piv["tokens"]), "alpha": alpha, "gamma": p["anneal"]}


def from_natural(xp: ModuleType, n: Mapping[str, Array]) -> dict[str, Array]:
    """Sampled parameters at a zero pivot (X0 = 1)."""
    return {**curve_from_natural(xp, n), "anneal": n["gamma"]}


PRIORS = {
    **CURVE_PRIORS,
    # log-loss drop of a fully decayed rate: a few percent on language-model loss, a third on zero-shot
    # error rates (OpenCLIP), within two sd
    "anneal": {"dist": "HalfNormal", "sigma": 0.2},
}

POWER_SCHEDULE = Law(
    name="power_schedule",
    formula="L = (E + A·S1^-alpha)·exp(-gamma·a)",
    inputs=("tokens", "lr_tokens", "annealed_tokens"),
    sampled=("log_l0", "logit_f", "slope", "anneal"),
    pivot_free=("anneal",),
    natural_names=("E", "A", "alpha", "gamma"),
    log_mean=log_mean,
    to_natural=natural,
    from_natural=from_natural,
    has_allocation=False,
    doc="One run's learning curve under its learning-rate schedule (Tissue et al. 2024): the power law of "
        "the schedule's forward area S1 (tokens at the peak rate), lowered by gamma on log loss as the "
        "rate anneals (a = 1 - eta/eta_peak).",
    priors=PRIORS,
    latex=r"L = \left(E + A S_1^{-\alpha}\right) e^{-\gamma a}",
    baseline="m4",
    follows={"lr_tokens": "tokens", "annealed_tokens": "tokens"},
    measured_on=("tokens",),
)

__all__ = ["POWER_SCHEDULE"]
