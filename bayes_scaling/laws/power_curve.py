"""A learning curve of one run in tokens seen, for extrapolation from early training: L = E + A·x^-alpha.

Sampled at the pivot X0 (the geometric mean of the curve's checkpoints), xc = log x - log X0:
``log_l0`` = log L(X0), ``logit_f`` = logit of the irreducible fraction f = E/L(X0), and ``slope`` =
-d log L / d log x at X0 = alpha·(1 - f). Early in training a curve pins its level and its local
slope, not how much of the loss is irreducible; sampled as (alpha, f) that is a curved ridge (alpha
grows as f approaches 1) on which NUTS mixes slowly. Sampled as (level, slope, f) the first two are
well pinned and the curvature of the checkpoints informs f alone. alpha = slope/(1 - f).

Unlike :mod:`.saturating` there is no offset x0: the warm-up, which x0 absorbs, is dropped from the
checkpoints (:mod:`bayes_scaling.data.checkpoints`), and an offset that the data cannot place (true
x0 near 0) is a one-sided ridge of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

from .base import Array, Law
from .xp import softplus


def _parts(xp: ModuleType, p: Mapping[str, Array]) -> tuple[Array, Array, Array]:
    """(log E, log a0, alpha) from the sampled (log_l0, logit_f, slope)."""
    log_e = p["log_l0"] - softplus(xp, -p["logit_f"])
    log_a0 = p["log_l0"] - softplus(xp, p["logit_f"])
    alpha = p["slope"] * (1.0 + xp.exp(p["logit_f"]))
    return log_e, log_a0, alpha


def log_mean(xp: ModuleType, x: Mapping[str, Array], p: Mapping[str, Array]) -> Array:
    """log L = logaddexp(log E, log a0 - alpha·xc)."""
    log_e, log_a0, alpha = _parts(xp, p)
    return xp.logaddexp(log_e, log_a0 - alpha * x["tokens"])


def natural(xp: ModuleType, p: Mapping[str, Array], piv: Mapping[str, float]) -> dict[str, Array]:
    """E, A = a0·X0^alpha, alpha."""
    log_e, log_a0, alpha = _parts(xp, p)
    return {"E": xp.exp(log_e), "A": xp.exp(log_a0 + alpha * piv["tokens"]), "alpha": alpha}


def from_natural(xp: ModuleType, n: Mapping[str, Array]) -> dict[str, Array]:
    """Sampled parameters at a zero pivot (X0 = 1)."""
    log_e, log_a = xp.log(n["E"]), xp.log(n["A"])
    return {"log_l0": xp.logaddexp(log_e, log_a), "logit_f": log_e - log_a,
            "slope": n["alpha"] * xp.exp(log_a - xp.logaddexp(log_e, log_a))}


PRIORS = {
    "log_l0": {"dist": "Normal", "mu": 0.5, "sigma": 1.5},  # losses of 0.4-7 nats (or error rates) at one sd
    "logit_f": {"dist": "Normal", "mu": 1.0, "sigma": 1.5},  # mid-training most of the loss is irreducible
    "slope": {"dist": "HalfNormal", "sigma": 0.3},  # -dlogL/dlogx: 0.01-0.3 on language-model curves
}

POWER_CURVE = Law(
    name="power_curve",
    formula="L = E + A·x^-alpha",
    inputs=("tokens",),
    sampled=("log_l0", "logit_f", "slope"),
    pivot_free=(),
    natural_names=("E", "A", "alpha"),
    log_mean=log_mean,
    to_natural=natural,
    from_natural=from_natural,
    has_allocation=False,
    doc="One run's learning curve in tokens seen, for extrapolation from early training. At the pivot X0: "
        "log_l0 = log L(X0), logit_f = logit(E/L(X0)), slope = alpha·(1 - E/L(X0)).",
    priors=PRIORS,
    latex=r"L = E + A x^{-\alpha}",
    baseline="m4",
)

__all__ = ["POWER_CURVE"]
