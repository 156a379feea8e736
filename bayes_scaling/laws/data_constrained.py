"""The data-constrained law (Muennighoff et al. 2023; SCIENCE.md §5): Chinchilla with repeated data.

    L = E + A·N'^-alpha + B·D'^-beta
    D' = U_D + U_D·R_D*·(1 - exp(-R_D/R_D*)),   R_D = D/U_D - 1 (repeated epochs)
    N' = U_N + U_N·R_N*·(1 - exp(-R_N/R_N*)),   R_N = N/U_N - 1,  U_N = min(N, N_opt(U_D))

A repeated token is worth less than a fresh one: D' grows towards U_D·(1 + R_D*) as the repetitions
R_D grow, and R_D* is the number of repetitions at which 1 - 1/e of that gain is reached.
Parameters beyond the size that U_D unique tokens support decay in the same way at R_N*. With
R_D = 0 (every token unique) and N <= N_opt(U_D) the law is Chinchilla's.

The law reads ``params``, ``tokens`` and ``unique_tokens``. Unique tokens are centred at the
tokens' pivot (``follows``), so log(D/U_D) is a difference of centred inputs, and a question that
gives no unique tokens asks about unrepeated data. N_opt(U_D) is the model size whose compute-optimal
data is U_D; at the optimum alpha·A·N^-alpha = beta·B·D^-beta, which at the pivots reads
``x_N = (log(alpha/beta) + log_a0 - log_b0 + beta·x_U)/alpha``. Sampled as Chinchilla (levels at the
pivot) with ``log_rd = log R_D*`` and ``log_rn = log R_N*``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

import numpy as np

from .base import Array, Law
from .chinchilla import PRIORS as CHINCHILLA_PRIORS
from .chinchilla import from_natural as chinchilla_from_natural
from .chinchilla import natural as chinchilla_natural


def _decayed(xp: ModuleType, log_unique: Array, log_total: Array, log_r_star: Array) -> Array:
    """log(U + U·R*·(1 - exp(-R/R*))) with R = total/U - 1 >= 0 (repetitions beyond the first)."""
    with np.errstate(over="ignore"):  # a budget of few unique tokens: repeats overflow to inf, D' to its limit
        repeats = xp.exp(log_total - log_unique) - 1.0
        r_star = xp.exp(log_r_star)
        return log_unique + xp.log1p(r_star * (1.0 - xp.exp(-repeats / r_star)))


def log_mean(xp: ModuleType, x: Mapping[str, Array], p: Mapping[str, Array]) -> Array:
    """log L at centred log inputs (unique tokens centred at the tokens' pivot, capped at the tokens)."""
    x_d = x["tokens"]
    x_u = xp.minimum(x["unique_tokens"], x_d)
    x_un = (xp.log(p["alpha"] / p["beta"]) + p["log_a0"] - p["log_b0"] + p["beta"] * x_u) / p["alpha"]
    x_un = xp.minimum(x["params"], x_un)
    n_term = p["log_a0"] - p["alpha"] * _decayed(xp, x_un, x["params"], p["log_rn"])
    d_term = p["log_b0"] - p["beta"] * _decayed(xp, x_u, x_d, p["log_rd"])
    return xp.logaddexp(xp.logaddexp(p["log_e"], n_term), d_term)


def natural(xp: ModuleType, p: Mapping[str, Array], piv: Mapping[str, float]) -> dict[str, Array]:
    """Chinchilla's E, A, B, alpha, beta, a and the decay constants R_D*, R_N*."""
    return {**chinchilla_natural(xp, p, piv), "R_D": xp.exp(p["log_rd"]), "R_N": xp.exp(p["log_rn"])}


def from_natural(xp: ModuleType, n: Mapping[str, Array]) -> dict[str, Array]:
    """Sampled parameters at zero pivots (the inverse of :func:`natural`)."""
    return {**chinchilla_from_natural(xp, n), "log_rd": xp.log(n["R_D"]), "log_rn": xp.log(n["R_N"])}


PRIORS = {
    **CHINCHILLA_PRIORS,
    # R* ~ 7 repetitions (1.6-33 at one sd): from "repeats are nearly free" to "worthless after two".
    "log_rd": {"dist": "Normal", "mu": 2.0, "sigma": 1.5},
    "log_rn": {"dist": "Normal", "mu": 2.0, "sigma": 1.5},
}

DATA_CONSTRAINED = Law(
    name="data_constrained",
    formula="L = E + A·N'^-alpha + B·D'^-beta, D' = U_D(1 + R_D*(1 - exp(-R_D/R_D*))), N' likewise",
    inputs=("params", "tokens", "unique_tokens"),
    sampled=("log_e", "log_a0", "alpha", "log_b0", "beta", "log_rd", "log_rn"),
    pivot_free=("log_e", "alpha", "beta", "log_rd", "log_rn"),
    natural_names=("E", "A", "B", "alpha", "beta", "a", "R_D", "R_N"),
    log_mean=log_mean,
    to_natural=natural,
    from_natural=from_natural,
    doc="Muennighoff et al. 2023. Chinchilla's levels at the pivot; log_rd = log R_D*, log_rn = log R_N*.",
    priors=PRIORS,
    latex=(r"L = E + \frac{A}{N'^{\alpha}} + \frac{B}{D'^{\beta}},\quad "
           r"D' = U_D + U_D R_D^* \left(1 - e^{-R_D/R_D^*}\right)"),
    baseline="huber",
    follows={"unique_tokens": "tokens"},
)

__all__ = ["DATA_CONSTRAINED"]
