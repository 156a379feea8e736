"""One number from a caller: a number or numeric text, as budgets, probabilities and lengths are given."""

from __future__ import annotations

import numpy as np


def as_number(value: object) -> float | None:
    """``value`` as one float, or None where it is not one number: True/False, a list or array, other text."""
    if isinstance(value, bool | np.bool_) or np.ndim(value) != 0:
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


__all__ = ["as_number"]
