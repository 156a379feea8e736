"""How far an answer reaches beyond the fitted runs, in decades of each input.

Every input's distance is signed: positive above the largest fitted value, negative below the
smallest, zero inside the range. An answer outside the range says so: its ``attrs["reach"]`` holds
the distances and ``attrs["warnings"]`` one sentence per input (which the CLI prints, and which
``plan`` also raises as :class:`ExtrapolationWarning` through :func:`warn_reach`); a budget far
below every run (where the law was never observed and small-scale effects dominate) is refused as
too small.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import ExtrapolationWarning, QueryError, holds_bool
from .runs import Runs

#: A budget more than this many decades below the smallest run's compute is too small to plan.
MAX_DECADES_BELOW = 1.0


def decades_beyond(values: float | Sequence[float] | np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Signed decades of ``values`` beyond ``[lo, hi]`` (positive above, negative below, 0 inside)."""
    v = np.atleast_1d(np.asarray(values, dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        above = np.log10(v / hi)
        below = np.log10(v / lo)
    return np.where(v > hi, above, np.where(v < lo, below, 0.0))


def distance_axes(inputs: Sequence[str]) -> list[str]:
    """The axes a distance beyond the runs is measured on: a law's inputs, and compute for a law in N and D."""
    return list(inputs) + (["compute"] if {"params", "tokens"} <= set(inputs) else [])


def log_distance(x: np.ndarray, lo: object, hi: object, span: float | None = None) -> np.ndarray:
    """Decades of the log10 values ``x`` outside ``[lo, hi]`` (log10 too; 0 inside), or, with ``span``,
    in multiples of the range's width (at least ``span`` decades)."""
    beyond = np.maximum(np.maximum(x - hi, lo - x), 0.0)
    return beyond / np.maximum(np.subtract(hi, lo), span) if span is not None else beyond


def reach(runs: Runs, **inputs: float | Sequence[float] | np.ndarray) -> dict[str, list[float]]:
    """Decades beyond the runs' range for each given input (``params``, ``tokens``, ``compute``)."""
    out = {}
    for name, values in inputs.items():
        if values is None:
            continue
        column = runs.column(name)
        out[name] = [round(float(d), 3) for d in decades_beyond(values, column.min(), column.max())]
    return out


def reach_warnings(distances: Mapping[str, Sequence[float]], what: str = "the answer") -> list[str]:
    """One sentence per input that lies outside the fitted range (empty when every value is inside)."""
    lines = []
    for name, values in distances.items():
        worst = max(values, key=abs) if len(values) else 0.0
        if worst:
            side = "above the largest" if worst > 0 else "below the smallest"
            lines.append(f"{what} extrapolates: {name} reaches {abs(worst):.2g} decades {side} fitted run")
    return lines


def warn_reach(distances: Mapping[str, Sequence[float]], what: str = "the answer") -> list[str]:
    """Emit :func:`reach_warnings` as :class:`ExtrapolationWarning`; returns them."""
    lines = reach_warnings(distances, what)
    for line in lines:
        warnings.warn(line, ExtrapolationWarning, stacklevel=3)
    return lines


def check_budget(runs: Runs, budget: float | Sequence[float] | np.ndarray) -> None:
    """Refuse budgets more than :data:`MAX_DECADES_BELOW` decades below the smallest run's compute.

    Raises
    ------
    QueryError
        Naming the budget and the smallest run's compute; budgets that are not numbers, or not one
        number or a list of them.
    """
    try:
        values = np.atleast_1d(np.asarray(budget, dtype=float))
        if holds_bool(budget):
            raise TypeError
    except (TypeError, ValueError):
        raise QueryError(f"budgets must be numbers (FLOPs), got {budget!r}") from None
    if values.ndim != 1:
        raise QueryError(f"budgets must be one number or a list of numbers, got an array of shape {values.shape}")
    smallest = float(runs.column("compute").min())
    for value in values:
        if np.isfinite(value) and value > 0 and np.log10(smallest / value) > MAX_DECADES_BELOW + 1e-9:  # rounding
            raise QueryError(
                f"budget {value:.4g} FLOPs is too small: {np.log10(smallest / value):.1f} decades below the smallest "
                f"fitted run ({smallest:.4g} FLOPs), where the law was never observed; fit runs at that scale"
            )
