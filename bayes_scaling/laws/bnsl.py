"""Broken neural scaling laws (Caballero et al. 2023; SCIENCE.md §7) with one or two breaks, in one axis x.

    L = E + b·x^-c0 · prod_i (1 + (x/d_i)^(1/f_i))^(-c_i·f_i)

Between breaks the reducible loss L - E is a power law; at the break d_i its log-log slope changes
from ``-(c0 + ... + c_{i-1})`` to ``-(c0 + ... + c_i)`` over a width ``f_i`` in log x. The law reads
the runs' ``tokens`` column (tokens, examples or steps seen) and is evaluated on the centred log
input ``xc = log x - log X0``, X0 the geometric mean of x.

Sampled, as for the saturating law: ``log_l0`` (log L at the pivot) and ``logit_f`` (the
irreducible fraction E/L(X0) there), the first slope ``c0``, and per break its slope change ``c_i``,
its position ``log_d1 = log(d_1/X0)`` (later breaks by their log gap to the one before, so breaks
stay ordered and are not exchangeable) and its log sharpness ``log_f_i``. With
``s_i(xc) = softplus((xc - delta_i)/f_i) - softplus(-delta_i/f_i)`` (zero at the pivot),
``log L = logaddexp(log E, log a0 - c0·xc - sum_i c_i·f_i·s_i(xc))``.

The positions' priors are centred on the pivot with a scale of 1.5 in log x (a factor of 20 either
side at two sd): breaks inside or near the data, which a handful of points cannot place far outside
it anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

from .base import Array, Law
from .saturating import saturating_levels
from .xp import softplus


def _positions(xp: ModuleType, p: Mapping[str, Array], k: int) -> list[Array]:
    """delta_i = log(d_i/X0): the first break's own, each later one its predecessor's plus exp(log gap)."""
    delta = [p["log_d1"]]
    for i in range(2, k + 1):
        delta.append(delta[-1] + xp.exp(p[f"log_gap{i}"]))
    return delta


def _log_mean(k: int):
    def log_mean(xp: ModuleType, x: Mapping[str, Array], p: Mapping[str, Array]) -> Array:
        log_e, log_a0 = saturating_levels(xp, p)
        xc = x["tokens"]
        shape = -p["c0"] * xc
        for i, delta in enumerate(_positions(xp, p, k), start=1):
            f = xp.exp(p[f"log_f{i}"])
            shape = shape - p[f"c{i}"] * f * (softplus(xp, (xc - delta) / f) - softplus(xp, -delta / f))
        return xp.logaddexp(log_e, log_a0 + shape)

    return log_mean


def _natural(k: int):
    def natural(xp: ModuleType, p: Mapping[str, Array], piv: Mapping[str, float]) -> dict[str, Array]:
        log_e, log_a0 = saturating_levels(xp, p)
        log_b = log_a0 + p["c0"] * piv["tokens"]
        out = {"E": xp.exp(log_e), "c0": p["c0"]}
        for i, delta in enumerate(_positions(xp, p, k), start=1):
            f = xp.exp(p[f"log_f{i}"])
            log_b = log_b + p[f"c{i}"] * f * softplus(xp, -delta / f)
            out |= {f"c{i}": p[f"c{i}"], f"d{i}": xp.exp(delta + piv["tokens"]), f"f{i}": f}
        return {"b": xp.exp(log_b), **out}

    return natural


def _from_natural(k: int):
    def from_natural(xp: ModuleType, n: Mapping[str, Array]) -> dict[str, Array]:
        log_b = xp.log(n["b"])
        out = {"c0": n["c0"]}
        for i in range(1, k + 1):
            delta, f = xp.log(n[f"d{i}"]), n[f"f{i}"]
            log_b = log_b - n[f"c{i}"] * f * softplus(xp, -delta / f)
            out |= {f"c{i}": n[f"c{i}"], f"log_f{i}": xp.log(f)}
            out |= {"log_d1": delta} if i == 1 else {f"log_gap{i}": xp.log(delta - xp.log(n[f"d{i - 1}"]))}
        log_e = xp.log(n["E"])
        return {"log_l0": xp.logaddexp(log_e, log_b), "logit_f": log_e - log_b, **out}

    return from_natural


def _priors(k: int) -> dict[str, dict]:
    priors = {
        "log_l0": {"dist": "Normal", "mu": -1.0, "sigma": 1.5},  # the loss at the pivot, as for saturating
        "logit_f": {"dist": "Normal", "mu": 0.0, "sigma": 1.5},  # E/L(X0)
        "c0": {"dist": "Normal", "mu": 0.0, "sigma": 1.0},  # log-log slope of L - E before the first break
    }
    for i in range(1, k + 1):
        priors[f"c{i}"] = {"dist": "Normal", "mu": 0.0, "sigma": 2.0}  # slope change: sharp transitions are steep
        priors["log_d1" if i == 1 else f"log_gap{i}"] = (
            {"dist": "Normal", "mu": 0.0, "sigma": 1.5} if i == 1  # log(d1/X0): inside or near the data
            else {"dist": "Normal", "mu": 0.0, "sigma": 1.0})  # log of the log-x gap to the previous break
        priors[f"log_f{i}"] = {"dist": "Normal", "mu": -1.0, "sigma": 1.0}  # width of the bend in log x
    return priors


def broken_power_law(k: int) -> Law:
    """The BNSL with ``k`` breaks (1 or 2 ship as ``bnsl`` and ``bnsl2``)."""
    breaks = [(f"c{i}", "log_d1" if i == 1 else f"log_gap{i}", f"log_f{i}") for i in range(1, k + 1)]
    product = r" \prod_{i=1}^{" + str(k) + r"} \left(1 + (x/d_i)^{1/f_i}\right)^{-c_i f_i}"
    return Law(
        name="bnsl" if k == 1 else f"bnsl{k}",
        formula=f"L = E + b·x^-c0·prod_(i=1..{k}) (1 + (x/d_i)^(1/f_i))^(-c_i·f_i)",
        inputs=("tokens",),
        sampled=("log_l0", "logit_f", "c0", *(name for triple in breaks for name in triple)),
        pivot_free=("c0", *(f"c{i}" for i in range(1, k + 1)), *(f"log_f{i}" for i in range(1, k + 1))),
        natural_names=("E", "b", "c0", *(f"{v}{i}" for i in range(1, k + 1) for v in ("c", "d", "f"))),
        log_mean=_log_mean(k),
        to_natural=_natural(k),
        from_natural=_from_natural(k),
        has_allocation=False,
        doc=f"Caballero et al. 2023 with {k} break(s) in the data axis x (the tokens column). At the pivot X0: "
            "log_l0 = log L(X0), logit_f = logit(E/L(X0)), log_d1 = log(d1/X0).",
        priors=_priors(k),
        latex=r"L = E + b\,x^{-c_0}" + product,
        baseline="m4",
    )


BNSL = broken_power_law(1)
BNSL2 = broken_power_law(2)

__all__ = ["BNSL", "BNSL2", "broken_power_law"]
