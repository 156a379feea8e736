"""Kaplan et al.'s learning curves across model sizes (2020, Eq. 1.6): L = (N_c/N)^alpha_n + (S_c/S)^alpha_s.

One law for the checkpoints of runs of several sizes: N is a run's model size, S its steps (or
tokens) seen; every run shares N_c, S_c and the exponents. Sampled at the pivot (N0, S0):
``log_n0 = alpha_n·log(N_c/N0)`` and ``log_s0 = alpha_s·log(S_c/S0)``, the log of each term there.
Kaplan et al. fitted it with S_min, the steps adjusted to the critical batch size; with the steps
as trained (and a learning rate that decays), it is the curve of those runs only.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

from .base import Array, Law


def log_mean(xp: ModuleType, x: Mapping[str, Array], p: Mapping[str, Array]) -> Array:
    """log L = logaddexp(log_n0 - alpha_n·xN, log_s0 - alpha_s·xS) at centred log inputs."""
    return xp.logaddexp(p["log_n0"] - p["alpha_n"] * x["params"], p["log_s0"] - p["alpha_s"] * x["tokens"])


def natural(xp: ModuleType, p: Mapping[str, Array], piv: Mapping[str, float]) -> dict[str, Array]:
    """N_c, S_c, alpha_n and alpha_s."""
    return {"N_c": xp.exp(piv["params"] + p["log_n0"] / p["alpha_n"]),
            "S_c": xp.exp(piv["tokens"] + p["log_s0"] / p["alpha_s"]),
            "alpha_n": p["alpha_n"], "alpha_s": p["alpha_s"]}


def from_natural(xp: ModuleType, n: Mapping[str, Array]) -> dict[str, Array]:
    """Sampled parameters at zero pivots."""
    return {"alpha_n": n["alpha_n"], "alpha_s": n["alpha_s"],
            "log_n0": n["alpha_n"] * xp.log(n["N_c"]), "log_s0": n["alpha_s"] * xp.log(n["S_c"])}


PRIORS = {
    "alpha_n": {"dist": "HalfNormal", "sigma": 0.5},   # Kaplan: 0.077
    "alpha_s": {"dist": "HalfNormal", "sigma": 1.0},   # Kaplan: 0.76
    "log_n0": {"dist": "Normal", "mu": 0.0, "sigma": 2.0},  # log of the N term at the pivot
    "log_s0": {"dist": "Normal", "mu": -1.0, "sigma": 2.0},  # log of the S term at the pivot
}

KAPLAN_STEPS = Law(
    name="kaplan_steps",
    formula="L = (N_c/N)^alpha_n + (S_c/S)^alpha_s",
    inputs=("params", "tokens"),
    sampled=("alpha_n", "alpha_s", "log_n0", "log_s0"),
    pivot_free=("alpha_n", "alpha_s"),
    natural_names=("N_c", "S_c", "alpha_n", "alpha_s"),
    log_mean=log_mean,
    to_natural=natural,
    from_natural=from_natural,
    has_allocation=False,
    doc="Kaplan et al. 2020, Eq. 1.6, over checkpoints (tokens = steps or tokens seen). "
        "log_n0 = alpha_n·log(N_c/N0), log_s0 = alpha_s·log(S_c/S0).",
    priors=PRIORS,
    latex=r"L = (N_c/N)^{\alpha_N} + (S_c/S)^{\alpha_S}",
)
