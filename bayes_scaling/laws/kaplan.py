"""Kaplan et al.'s joint law (2020, Eq. 1.5): L = [(N_c/N)^(alpha_n/alpha_d) + D_c/D]^alpha_d.

Sampled at the pivot: ``log_n0 = (alpha_n/alpha_d)·log(N_c/N0)`` and ``log_d0 = log(D_c/D0)``. Its
compute-optimal allocation has no closed form here (golden-section search).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

from .base import Array, Law


def log_mean(xp: ModuleType, x: Mapping[str, Array], p: Mapping[str, Array]) -> Array:
    """log L at centred log inputs ``x``."""
    ratio = p["alpha_n"] / p["alpha_d"]
    inner = xp.logaddexp(p["log_n0"] - ratio * x["params"], p["log_d0"] - x["tokens"])
    return p["alpha_d"] * inner


def natural(xp: ModuleType, p: Mapping[str, Array], piv: Mapping[str, float]) -> dict[str, Array]:
    """N_c, D_c, alpha_n and alpha_d from the sampled values."""
    return {
        "N_c": xp.exp(piv["params"] + p["log_n0"] * p["alpha_d"] / p["alpha_n"]),
        "D_c": xp.exp(piv["tokens"] + p["log_d0"]),
        "alpha_n": p["alpha_n"],
        "alpha_d": p["alpha_d"],
    }


def from_natural(xp: ModuleType, n: Mapping[str, Array]) -> dict[str, Array]:
    """Sampled parameters at zero pivots."""
    return {"alpha_n": n["alpha_n"], "alpha_d": n["alpha_d"],
            "log_n0": n["alpha_n"] / n["alpha_d"] * xp.log(n["N_c"]), "log_d0": xp.log(n["D_c"])}


PRIORS = {
    "alpha_n": {"dist": "HalfNormal", "sigma": 0.5},
    "alpha_d": {"dist": "HalfNormal", "sigma": 0.5},
    "log_n0": {"dist": "Normal", "mu": 2.0, "sigma": 3.0},
    "log_d0": {"dist": "Normal", "mu": 2.0, "sigma": 3.0},
}

KAPLAN = Law(
    name="kaplan",
    formula="L = [(N_c/N)^(alpha_n/alpha_d) + D_c/D]^alpha_d",
    inputs=("params", "tokens"),
    sampled=("alpha_n", "alpha_d", "log_n0", "log_d0"),
    pivot_free=("alpha_n", "alpha_d"),
    natural_names=("N_c", "D_c", "alpha_n", "alpha_d"),
    log_mean=log_mean,
    to_natural=natural,
    from_natural=from_natural,
    doc="Kaplan et al. 2020, Eq. 1.5. log_n0 = (alpha_n/alpha_d)·log(N_c/N0), log_d0 = log(D_c/D0).",
    priors=PRIORS,
    latex=r"L = [(N_c/N)^{\alpha_N/\alpha_D} + D_c/D]^{\alpha_D}",
)
