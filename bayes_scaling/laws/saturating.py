"""The saturating learning-curve law (Zhai et al. 2022; M3-like) in one data axis x: L = E + A·(x + x0)^-alpha.

The law reads the runs' ``tokens`` column (tokens, examples or steps seen) and is evaluated on the
centred log input ``xc = log x - log X0``, X0 the geometric mean of x (SCIENCE.md §7).

eps = E + A·(x + x0)^-alpha.  Sampled: ``log_l0`` = log eps at the pivot, ``logit_f`` = logit of
the irreducible fraction E/eps(X0) there, ``alpha`` and ``log_x0 = log(x0/X0)``.  With
``log_e = log_l0 + log sigmoid(logit_f)``, ``log_a0 = log_l0 + log sigmoid(-logit_f)`` (the power
term at the pivot) and ``log((x + x0)/(X0 + x0)) = logaddexp(xc, log_x0) - softplus(log_x0)``,
``log eps = logaddexp(log_e, log_a0 - alpha·log((x + x0)/(X0 + x0)))``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

import numpy as np

from .base import Array, Law
from .xp import softplus


def saturating_levels(xp: ModuleType, p: Mapping[str, Array]) -> tuple[Array, Array]:
    """``(log E, log a0)``: the split of the loss at the pivot, ``log_l0``, by the fraction sigmoid(logit_f).

    A curve that has not flattened inside its data pins its loss at the pivot and its local slope, not
    how much of the loss is irreducible; sampled as (log E, log a0), that trade-off is an L-shaped ridge
    along logaddexp(log E, log a0) = log eps(X0) that NUTS crosses slowly (R-hat 1.08-1.14 on 20
    Alabdulmohsin curves at 2 x 300 draws). As (log eps(X0), logit E/eps(X0)) the level is one well
    pinned coordinate and the split another (R-hat 1.03, 4-7x the ESS, half the time).
    """
    return p["log_l0"] - softplus(xp, -p["logit_f"]), p["log_l0"] - softplus(xp, p["logit_f"])


def saturating_log_mean(xp: ModuleType, x: Mapping[str, Array], p: Mapping[str, Array]) -> Array:
    """log eps = logaddexp(log_e, log_a0 - alpha·(logaddexp(xc, log_x0) - softplus(log_x0))).

    ``logaddexp(xc, log_x0) - softplus(log_x0) = log((x + x0)/(X0 + x0))`` is zero at the pivot, so
    ``log_a0`` is the log of the power term there whatever x0 is, and eps(X0) = exp(log_l0).  (With
    log_a0 = log(A·X0^-alpha), a curve that saturates early, x0 > X0, puts log_a0 and alpha·log_x0 on
    a long ridge that NUTS walks at tree depth 10.)
    """
    log_e, log_a0 = saturating_levels(xp, p)
    shifted = xp.logaddexp(x["tokens"], p["log_x0"]) - softplus(xp, p["log_x0"])
    return xp.logaddexp(log_e, log_a0 - p["alpha"] * shifted)


def saturating_natural(xp: ModuleType, p: Mapping[str, Array], piv: Mapping[str, float]) -> dict[str, Array]:
    """E, A = a0·(X0 + x0)^alpha, x0 = X0·exp(log_x0), alpha."""
    log_e, log_a0 = saturating_levels(xp, p)
    return {
        "E": xp.exp(log_e),
        "A": xp.exp(log_a0 + p["alpha"] * (piv["tokens"] + softplus(xp, p["log_x0"]))),
        "x0": xp.exp(p["log_x0"] + piv["tokens"]),
        "alpha": p["alpha"],
    }


def saturating_from_natural(xp: ModuleType, n: Mapping[str, Array]) -> dict[str, Array]:
    """Sampled parameters at a zero pivot (X0 = 1).  x0 = 0 gives log_x0 = -inf, which logaddexp takes."""
    with np.errstate(divide="ignore"):
        log_e, log_a0 = xp.log(n["E"]), xp.log(n["A"]) - n["alpha"] * xp.log1p(n["x0"])
        return {"log_l0": xp.logaddexp(log_e, log_a0), "logit_f": log_e - log_a0,
                "alpha": n["alpha"], "log_x0": xp.log(n["x0"])}


# Learning curves of error rates (0-1) or losses (up to ~10 nats): a log loss ~ N(-1, 1.5) puts it in
# (0.08, 1.6) at one sd and (0.02, 7.4) at two.
PRIORS = {
    "log_l0": {"dist": "Normal", "mu": -1.0, "sigma": 1.5},  # the loss at the pivot
    "logit_f": {"dist": "Normal", "mu": 0.0, "sigma": 1.5},  # E/L(X0) in (0.18, 0.82) at one sd, (0.05, 0.95) at two
    "alpha": {"dist": "HalfNormal", "sigma": 1.0},
    "log_x0": {"dist": "Normal", "mu": -3.0, "sigma": 2.0},  # x0/X0 ~ 0.05 (0.007-0.37 at one sd): a small shift
}

def local_slope_shift(xp: ModuleType, p: Mapping[str, Array]) -> Array:
    """log alpha - log slope, the slope -d log L / d log x at the pivot being alpha·(1 - f)·X0/(X0 + x0):
    softplus(logit_f) + softplus(log_x0). A curve pins its slope; alpha alone slides along a ridge
    with the fraction f and the offset x0 (mean tree depth 7.7 against 6.1 on 20 curves)."""
    return softplus(xp, p["logit_f"]) + softplus(xp, p["log_x0"])


SATURATING = Law(
    name="saturating",
    formula="L = E + A·(x + x0)^-alpha",
    inputs=("tokens",),
    sampled=("log_l0", "logit_f", "alpha", "log_x0"),
    pivot_free=("alpha",),
    natural_names=("E", "A", "x0", "alpha"),
    log_mean=saturating_log_mean,
    to_natural=saturating_natural,
    from_natural=saturating_from_natural,
    has_allocation=False,
    doc="Zhai et al. 2022 form in the data axis x (the tokens column). At the pivot X0: log_l0 = log L(X0), "
        "logit_f = logit(E/L(X0)), log_x0 = log(x0/X0).",
    priors=PRIORS,
    latex=r"L = E + A (x + x_0)^{-\alpha}",
    baseline="m4",
    local_shift={"alpha": local_slope_shift},
)
