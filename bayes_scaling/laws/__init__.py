"""The law library: one module per scaling-law family, each a complete :class:`Law` component.

========================  ===============================================================
``chinchilla``            L = E + A·N^-alpha + B·D^-beta (closed-form optimum, published fits)
``kaplan``                L = [(N_c/N)^(alpha_n/alpha_d) + D_c/D]^alpha_d
``compute``               L = E + (C0/C)^alpha (compute only)
``saturating``            L = E + A·(x + x0)^-alpha (learning curves)
``power_curve``           L = E + A·x^-alpha (one run's curve, from early training)
``power_schedule``        L = (E + A·S1^-alpha)·exp(-gamma·a) (a curve under its learning-rate schedule)
``kaplan_steps``          L = (N_c/N)^alpha_n + (S_c/S)^alpha_s (checkpoints of runs of several sizes)
``m4``                    (L - E)/(eps0 - L)^shape = beta·x^-alpha (learning curves)
``data_constrained``      Chinchilla in N', D': repeated data and excess parameters decay (R_D*, R_N*)
``bnsl``, ``bnsl2``       L = E + b·x^-c0·prod_i (1 + (x/d_i)^(1/f_i))^(-c_i·f_i), 1 or 2 breaks
========================  ===============================================================
"""

from __future__ import annotations

from ..errors import SpecError
from .base import Law, pivots_for
from .bnsl import BNSL, BNSL2
from .chinchilla import CHINCHILLA
from .compute import COMPUTE
from .data_constrained import DATA_CONSTRAINED
from .kaplan import KAPLAN
from .kaplan_steps import KAPLAN_STEPS
from .m4 import M4
from .power_curve import POWER_CURVE
from .power_schedule import POWER_SCHEDULE
from .saturating import SATURATING

LAWS: dict[str, Law] = {law.name: law for law in (CHINCHILLA, KAPLAN, COMPUTE, SATURATING, POWER_CURVE, POWER_SCHEDULE, KAPLAN_STEPS, M4, BNSL, BNSL2, DATA_CONSTRAINED)}


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


__all__ = ["BNSL", "BNSL2", "CHINCHILLA", "COMPUTE", "DATA_CONSTRAINED", "KAPLAN", "KAPLAN_STEPS", "LAWS", "M4", "POWER_CURVE", "POWER_SCHEDULE", "SATURATING", "Law", "get_law", "pivots_for"]
