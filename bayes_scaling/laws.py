"""Scaling-law families as pure functions, written once for numpy and PyTensor.

Each law is evaluated in log space on inputs centred at a *pivot* inside the data (the geometric mean
of each input), with the level of every power-law term sampled at that pivot. On Chinchilla's data
log A and alpha are 0.999 correlated in the raw parameterisation; at the pivot they are nearly
independent (SCIENCE.md §10), so NUTS takes short trajectories. The natural parameters (E, A, B, ...)
are derived from the sampled ones by :meth:`Law.natural`.

The ``xp`` argument of every function is a namespace with ``exp``, ``log`` and ``logaddexp``: the
``numpy`` module for post-processing and ``pytensor.tensor`` inside the model, so each formula exists
once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from .curve_laws import (
    m4_from_natural,
    m4_log_mean,
    m4_natural,
    saturating_from_natural,
    saturating_log_mean,
    saturating_natural,
)
from .errors import SpecError

Array = Any  # a numpy array, an xarray DataArray or a PyTensor variable


@dataclass(frozen=True)
class Law:
    """A scaling-law family.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"chinchilla"``.
    formula : str
        The law in natural parameters, for humans.
    inputs : tuple of str
        Run columns the law reads: ``("params", "tokens")`` or ``("compute",)``.
    sampled : tuple of str
        Names of the parameters the sampler sees (levels at the pivot, exponents, log E).
    natural_names : tuple of str
        Names of the natural parameters returned by :meth:`natural`.
    log_mean : callable
        ``log_mean(xp, x, p) -> log L`` with ``x`` the centred log inputs (``log N - log N0`` ...) and
        ``p`` the sampled parameters.
    to_natural : callable
        ``to_natural(xp, p, pivots) -> dict`` of natural parameters, ``pivots`` the log pivots.
    from_natural : callable
        The inverse at zero pivots: ``from_natural(xp, natural) -> sampled`` (used to simulate).
    has_allocation : bool
        Whether the law splits compute between N and D (and so has a compute-optimal allocation).
    pivot_free : tuple of str
        Sampled parameters whose meaning does not depend on the pivot (exponents, log E): they may be
        pooled more coarsely than a per-group pivot (e.g. one exponent per domain, inputs centred
        per task).
    """

    name: str
    formula: str
    inputs: tuple[str, ...]
    sampled: tuple[str, ...]
    natural_names: tuple[str, ...]
    log_mean: Callable[[ModuleType, Mapping[str, Array], Mapping[str, Array]], Array]
    to_natural: Callable[[ModuleType, Mapping[str, Array], Mapping[str, float]], dict[str, Array]]
    from_natural: Callable[[ModuleType, Mapping[str, Array]], dict[str, Array]] | None = None
    has_allocation: bool = True
    pivot_free: tuple[str, ...] = ()
    doc: str = field(default="", compare=False)

    @property
    def n_parameters(self) -> int:
        """Number of law parameters (noise parameters not counted)."""
        return len(self.sampled)

    def natural(self, p: Mapping[str, Array], pivots: Mapping[str, float], xp: ModuleType = np) -> dict[str, Array]:
        """Natural parameters (E, A, B, alpha, beta, ...) from sampled ones."""
        return self.to_natural(xp, p, pivots)

    def sampled_from_natural(self, natural: Mapping[str, Array], xp: ModuleType = np) -> dict[str, Array]:
        """Sampled parameters at zero pivots from natural ones (the inverse of :meth:`natural`)."""
        return self.from_natural(xp, natural)

    def log_loss(self, p: Mapping[str, Array], log_inputs: Mapping[str, Array], pivots: Mapping[str, float],
                 xp: ModuleType = np) -> Array:
        """log L at the given log inputs (uncentred), e.g. ``{"params": log N, "tokens": log D}``."""
        x = {k: log_inputs[k] - pivots[k] for k in self.inputs}
        return self.log_mean(xp, x, p)


def _chinchilla_log_mean(xp: ModuleType, x: Mapping[str, Array], p: Mapping[str, Array]) -> Array:
    n_term = p["log_a0"] - p["alpha"] * x["params"]
    d_term = p["log_b0"] - p["beta"] * x["tokens"]
    return xp.logaddexp(xp.logaddexp(p["log_e"], n_term), d_term)


def _chinchilla_natural(xp: ModuleType, p: Mapping[str, Array], piv: Mapping[str, float]) -> dict[str, Array]:
    return {
        "E": xp.exp(p["log_e"]),
        "A": xp.exp(p["log_a0"] + p["alpha"] * piv["params"]),
        "B": xp.exp(p["log_b0"] + p["beta"] * piv["tokens"]),
        "alpha": p["alpha"],
        "beta": p["beta"],
        "a": p["beta"] / (p["alpha"] + p["beta"]),
    }


def _chinchilla_from_natural(xp: ModuleType, n: Mapping[str, Array]) -> dict[str, Array]:
    return {"log_e": xp.log(n["E"]), "log_a0": xp.log(n["A"]), "alpha": n["alpha"],
            "log_b0": xp.log(n["B"]), "beta": n["beta"]}


def _kaplan_log_mean(xp: ModuleType, x: Mapping[str, Array], p: Mapping[str, Array]) -> Array:
    ratio = p["alpha_n"] / p["alpha_d"]
    inner = xp.logaddexp(p["log_n0"] - ratio * x["params"], p["log_d0"] - x["tokens"])
    return p["alpha_d"] * inner


def _kaplan_natural(xp: ModuleType, p: Mapping[str, Array], piv: Mapping[str, float]) -> dict[str, Array]:
    return {
        "N_c": xp.exp(piv["params"] + p["log_n0"] * p["alpha_d"] / p["alpha_n"]),
        "D_c": xp.exp(piv["tokens"] + p["log_d0"]),
        "alpha_n": p["alpha_n"],
        "alpha_d": p["alpha_d"],
    }


def _kaplan_from_natural(xp: ModuleType, n: Mapping[str, Array]) -> dict[str, Array]:
    return {"alpha_n": n["alpha_n"], "alpha_d": n["alpha_d"],
            "log_n0": n["alpha_n"] / n["alpha_d"] * xp.log(n["N_c"]), "log_d0": xp.log(n["D_c"])}


def _compute_log_mean(xp: ModuleType, x: Mapping[str, Array], p: Mapping[str, Array]) -> Array:
    return xp.logaddexp(p["log_e"], p["log_c0"] - p["alpha"] * x["compute"])


def _compute_natural(xp: ModuleType, p: Mapping[str, Array], piv: Mapping[str, float]) -> dict[str, Array]:
    return {
        "E": xp.exp(p["log_e"]),
        "C0": xp.exp(piv["compute"] + p["log_c0"] / p["alpha"]),
        "alpha": p["alpha"],
    }


def _compute_from_natural(xp: ModuleType, n: Mapping[str, Array]) -> dict[str, Array]:
    return {"log_e": xp.log(n["E"]), "log_c0": n["alpha"] * xp.log(n["C0"]), "alpha": n["alpha"]}


CHINCHILLA = Law(
    name="chinchilla",
    formula="L = E + A·N^-alpha + B·D^-beta",
    inputs=("params", "tokens"),
    sampled=("log_e", "log_a0", "alpha", "log_b0", "beta"),
    pivot_free=("log_e", "alpha", "beta"),
    natural_names=("E", "A", "B", "alpha", "beta", "a"),
    log_mean=_chinchilla_log_mean,
    to_natural=_chinchilla_natural,
    from_natural=_chinchilla_from_natural,
    doc="Hoffmann et al. 2022 (Approach 3). log_a0 = log(A·N0^-alpha), log_b0 = log(B·D0^-beta) at the pivot.",
)

KAPLAN = Law(
    name="kaplan",
    formula="L = [(N_c/N)^(alpha_n/alpha_d) + D_c/D]^alpha_d",
    inputs=("params", "tokens"),
    sampled=("alpha_n", "alpha_d", "log_n0", "log_d0"),
    pivot_free=("alpha_n", "alpha_d"),
    natural_names=("N_c", "D_c", "alpha_n", "alpha_d"),
    log_mean=_kaplan_log_mean,
    to_natural=_kaplan_natural,
    from_natural=_kaplan_from_natural,
    doc="Kaplan et al. 2020, Eq. 1.5. log_n0 = (alpha_n/alpha_d)·log(N_c/N0), log_d0 = log(D_c/D0).",
)

COMPUTE = Law(
    name="compute",
    formula="L = E + (C0/C)^alpha",
    inputs=("compute",),
    sampled=("log_e", "log_c0", "alpha"),
    pivot_free=("log_e", "alpha"),
    natural_names=("E", "C0", "alpha"),
    log_mean=_compute_log_mean,
    to_natural=_compute_natural,
    from_natural=_compute_from_natural,
    has_allocation=False,
    doc="Henighan et al. 2020. log_c0 = alpha·log(C0/Cp) at the pivot Cp.",
)

# Learning-curve laws in one data axis (tokens, examples or steps), SCIENCE.md §7; their pure functions
# live in curve_laws.py, which does not import this module.
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
)

M4 = Law(
    name="m4",
    formula="(L - E)/(eps0 - L)^shape = beta·x^-alpha, E < L < eps0",
    inputs=("tokens",),
    sampled=("log_e", "log_gap", "log_b0", "alpha", "shape"),
    pivot_free=("log_e", "log_gap", "alpha", "shape"),
    natural_names=("E", "eps0", "beta", "alpha", "shape"),
    log_mean=m4_log_mean,
    to_natural=m4_natural,
    from_natural=m4_from_natural,
    has_allocation=False,
    doc="Alabdulmohsin et al. 2022, M4, in the data axis x (the tokens column); L is implicit "
        "(curve_laws.m4_solve). log_gap = log(eps0 - E), log_b0 = log(beta·X0^-alpha) at the pivot X0; "
        "shape = 0 is M2.",
)

LAWS: dict[str, Law] = {law.name: law for law in (CHINCHILLA, KAPLAN, COMPUTE, SATURATING, M4)}


def get_law(name: str) -> Law:
    """Look a law up by name.

    Raises
    ------
    SpecError
        If no law has that name.
    """
    try:
        return LAWS[name]
    except KeyError:
        raise SpecError(f"unknown law '{name}'; known laws: {', '.join(sorted(LAWS))}") from None


def pivots_for(law: Law, log_inputs: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Log pivots: the mean of each log input over the runs (geometric mean of N, D or C)."""
    return {k: float(np.mean(log_inputs[k])) for k in law.inputs}
