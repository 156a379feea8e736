"""Loss as a function of compute alone (Henighan et al. 2020): L = E + (C0/C)^alpha.

Sampled at the pivot Cp: ``log_c0 = alpha·log(C0/Cp)``. The law has no N/D split, so no allocation.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

from .base import Array, Law


def log_mean(xp: ModuleType, x: Mapping[str, Array], p: Mapping[str, Array]) -> Array:
    """log L at the centred log compute ``x["compute"]``."""
    return xp.logaddexp(p["log_e"], p["log_c0"] - p["alpha"] * x["compute"])


def natural(xp: ModuleType, p: Mapping[str, Array], piv: Mapping[str, float]) -> dict[str, Array]:
    """E, C0 and alpha from the sampled values."""
    return {
        "E": xp.exp(p["log_e"]),
        "C0": xp.exp(piv["compute"] + p["log_c0"] / p["alpha"]),
        "alpha": p["alpha"],
    }


def from_natural(xp: ModuleType, n: Mapping[str, Array]) -> dict[str, Array]:
    """Sampled parameters at a zero pivot."""
    return {"log_e": xp.log(n["E"]), "log_c0": n["alpha"] * xp.log(n["C0"]), "alpha": n["alpha"]}


PRIORS = {
    "log_e": {"dist": "Normal", "mu": 0.0, "sigma": 1.0},
    "log_c0": {"dist": "Normal", "mu": -1.0, "sigma": 2.0},
    "alpha": {"dist": "HalfNormal", "sigma": 1.0},
}

COMPUTE = Law(
    name="compute",
    formula="L = E + (C0/C)^alpha",
    inputs=("compute",),
    sampled=("log_e", "log_c0", "alpha"),
    pivot_free=("log_e", "alpha"),
    natural_names=("E", "C0", "alpha"),
    log_mean=log_mean,
    to_natural=natural,
    from_natural=from_natural,
    has_allocation=False,
    doc="Henighan et al. 2020. log_c0 = alpha·log(C0/Cp) at the pivot Cp.",
    priors=PRIORS,
    latex=r"L = E + (C_0/C)^{\alpha}",
)
