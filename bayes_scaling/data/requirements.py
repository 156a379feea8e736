"""What a fit requires of its runs, checked when the model is built: a table a law can be fitted to.

:func:`require_table` holds a :class:`~bayes_scaling.Runs` built by hand (``bs.Runs(table)``, which
skips :func:`~bayes_scaling.read_runs`) to what the reader guarantees; :func:`require_runs`,
:func:`require_sizes` and :func:`require_groups` refuse runs too few, without model sizes, or with
groups too small for the law and pooling asked for.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from .runs import LABELS, Runs


def require_table(runs: Runs) -> None:
    """Refuse runs whose table is not what :func:`~bayes_scaling.read_runs` makes: a DataFrame with
    ``loss``, ``domain`` and ``task`` columns and finite positive numbers in its numeric columns.

    Raises
    ------
    InputError
        Naming the problem, and :func:`~bayes_scaling.read_runs` as the way to build runs.
    """
    how = "build runs with bs.read_runs(table), which validates them"
    if not isinstance(runs, Runs) or not isinstance(runs.table, pd.DataFrame):
        raise InputError(f"runs are a table of runs (a DataFrame or CSV path, or bs.Runs holding a DataFrame); {how}")
    missing = [c for c in ("loss", *LABELS) if c not in runs.table]
    if missing:
        raise InputError(f"the runs' table lacks column(s) {missing}; {how}")
    for name in runs.numeric:
        values = pd.to_numeric(runs.table[name], errors="coerce").to_numpy(dtype=float)
        if not (np.isfinite(values) & (values > 0)).all():
            raise InputError(f"column '{name}' of the runs holds values that are not finite positive numbers; {how}")


def require_runs(runs: Runs, n_parameters: int, law: str) -> None:
    """Refuse to fit a law with as many parameters as runs (or more).

    Raises
    ------
    InputError
        If ``len(runs) <= n_parameters``.
    """
    if len(runs) <= n_parameters:
        raise InputError(
            f"{len(runs)} runs cannot determine the {n_parameters} parameters of the '{law}' law; "
            f"give at least {n_parameters + 1} runs"
        )


def require_sizes(runs: Runs, inputs: Sequence[str], law: str) -> None:
    """Refuse a law that reads model sizes for runs that give none (``params`` in :attr:`Runs.filled`:
    learning curves read without a params column).

    Raises
    ------
    InputError
        Naming the law, the missing column and the laws that need no model size.
    """
    if "params" in inputs and "params" in runs.filled:
        raise InputError(f"the '{law}' law reads each run's model size, but these runs give none (no params "
                         "column): give the table a params column, or fit a law of one curve in tokens "
                         "(specs curve_power, saturating, bnsl, m4)")


def require_groups(runs: Runs, level: str, minimum: int = 2) -> None:
    """Refuse a pooling level at which some group has fewer than ``minimum`` runs.

    Raises
    ------
    InputError
        Naming the groups that are too small.
    """
    counts = runs.table[level].value_counts()
    small = counts[counts < minimum]
    if len(small):
        names = ", ".join(f"'{g}' ({n} run{'s' if n != 1 else ''})" for g, n in small.items())
        raise InputError(
            f"{level} group(s) {names} have fewer than {minimum} runs: a parameter pooled by "
            f"{level} cannot be estimated from them; add runs or pool that parameter at a coarser level"
        )


__all__ = ["require_groups", "require_runs", "require_sizes", "require_table"]
