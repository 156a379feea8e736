"""The Chinchilla law (Hoffmann et al. 2022, Approach 3): L = E + A·N^-alpha + B·D^-beta.

Sampled at the pivot (N0, D0, the geometric means of the runs): ``log_a0 = log(A·N0^-alpha)`` and
``log_b0 = log(B·D0^-beta)`` are the levels of the two terms there, ``log_e = log E``. The law has a
closed-form compute-optimal allocation (Eq. 4) and published point fits to Hoffmann et al.'s runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from .base import Array, Law


def log_mean(xp: ModuleType, x: Mapping[str, Array], p: Mapping[str, Array]) -> Array:
    """log L at centred log inputs ``x`` (``log N - log N0``, ``log D - log D0``)."""
    n_term = p["log_a0"] - p["alpha"] * x["params"]
    d_term = p["log_b0"] - p["beta"] * x["tokens"]
    return xp.logaddexp(xp.logaddexp(p["log_e"], n_term), d_term)


def natural(xp: ModuleType, p: Mapping[str, Array], piv: Mapping[str, float]) -> dict[str, Array]:
    """E, A, B, alpha, beta and the data exponent a = beta/(alpha + beta) from the sampled values."""
    return {
        "E": xp.exp(p["log_e"]),
        "A": xp.exp(p["log_a0"] + p["alpha"] * piv["params"]),
        "B": xp.exp(p["log_b0"] + p["beta"] * piv["tokens"]),
        "alpha": p["alpha"],
        "beta": p["beta"],
        "a": p["beta"] / (p["alpha"] + p["beta"]),
    }


def from_natural(xp: ModuleType, n: Mapping[str, Array]) -> dict[str, Array]:
    """Sampled parameters at zero pivots (the inverse of :func:`natural`)."""
    return {"log_e": xp.log(n["E"]), "log_a0": xp.log(n["A"]), "alpha": n["alpha"],
            "log_b0": xp.log(n["B"]), "beta": n["beta"]}


def log_n_star(A: Array, B: Array, alpha: Array, beta: Array, log_budget: Array) -> Array:
    """log N* at log(N·D) = ``log_budget`` (Hoffmann et al. 2022, Eq. 4).

    N* = G·(C/k)^(beta/(alpha+beta)) with G = (alpha·A/(beta·B))^(1/(alpha+beta)).
    """
    log_g = (np.log(alpha) + np.log(A) - np.log(beta) - np.log(B)) / (alpha + beta)
    return log_g + beta / (alpha + beta) * log_budget


def log_optimum(n: Mapping[str, Array], log_budget: Array) -> Array:
    """The closed-form log N* from the natural parameters (see :func:`log_n_star`)."""
    return log_n_star(n["A"], n["B"], n["alpha"], n["beta"], log_budget)


@dataclass(frozen=True)
class PointFit:
    """A published point estimate of the Chinchilla law L = E + A·N^-alpha + B·D^-beta."""

    label: str
    E: float
    A: float
    B: float
    alpha: float
    beta: float
    source: str
    #: The registered dataset the fit was made on (reports compare with it only on those runs).
    data: str = "epoch_chinchilla"


#: Published point fits of the Chinchilla law to Hoffmann et al.'s runs (SCIENCE.md §2-3).
PUBLISHED: dict[str, PointFit] = {
    "hoffmann_rounded": PointFit(
        "Hoffmann et al. 2022 (rounded)", E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28,
        source="Hoffmann et al. 2022, Eq. 10 (values as printed)"),
    "hoffmann_unrounded": PointFit(
        "Hoffmann et al. 2022 (unrounded)", E=float(np.exp(0.5267228)), A=float(np.exp(6.0073404)),
        B=float(np.exp(6.0179186)), alpha=0.33917084, beta=0.2849083,
        source="Hoffmann et al. 2022, TeX source (via Epoch's notebook)"),
    "epoch": PointFit(
        "Besiroglu et al. 2024 (Epoch)", E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658,
        source="Besiroglu et al. 2024, refit of the digitised runs"),
}

PRIORS = {
    "log_e": {"dist": "Normal", "mu": 0.0, "sigma": 1.0},  # E between 0.37 and 2.7 at one sd
    "log_a0": {"dist": "Normal", "mu": -1.0, "sigma": 2.0},  # log of the N term at the pivot
    "alpha": {"dist": "HalfNormal", "sigma": 1.0},
    "log_b0": {"dist": "Normal", "mu": -1.0, "sigma": 2.0},  # log of the D term at the pivot
    "beta": {"dist": "HalfNormal", "sigma": 1.0},
}

CHINCHILLA = Law(
    name="chinchilla",
    formula="L = E + A·N^-alpha + B·D^-beta",
    inputs=("params", "tokens"),
    sampled=("log_e", "log_a0", "alpha", "log_b0", "beta"),
    pivot_free=("log_e", "alpha", "beta"),
    natural_names=("E", "A", "B", "alpha", "beta", "a"),
    log_mean=log_mean,
    to_natural=natural,
    from_natural=from_natural,
    doc="Hoffmann et al. 2022 (Approach 3). log_a0 = log(A·N0^-alpha), log_b0 = log(B·D0^-beta) at the pivot.",
    priors=PRIORS,
    latex=r"L = E + A N^{-\alpha} + B D^{-\beta}",
    log_optimum=log_optimum,
    published=PUBLISHED,
    baseline="huber",
)
