"""The package's one search routine: an elementwise golden-section minimum, for numpy and xarray.

Every draw (and budget, and group) is searched at once: ``lo``, ``hi`` and what ``f`` returns
broadcast, and each element's bracket shrinks by the golden ratio per step. Exact for the unimodal
objectives of the laws here (log loss along an IsoFLOP line, a risk measure of it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import xarray as xr

#: The golden ratio's conjugate: the share of a bracket kept per step.
GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


def where(cond: Any, a: Any, b: Any) -> Any:
    """``xr.where`` when any argument is a DataArray, ``np.where`` otherwise."""
    if any(isinstance(v, xr.DataArray) for v in (cond, a, b)):
        return xr.where(cond, a, b)
    return np.where(cond, a, b)


def golden(f: Callable[[Any], Any], lo: Any, hi: Any, iterations: int) -> Any:
    """Elementwise golden-section minimum of a unimodal ``f`` on [lo, hi].

    Parameters
    ----------
    f : callable
        The objective, elementwise on arrays of the bracket's shape.
    lo, hi : array or DataArray
        The bracket of every element.
    iterations : int
        Steps; each shrinks the bracket by :data:`GOLDEN` (120 steps take 60 nats below 1e-20).

    Returns
    -------
    array or DataArray
        The midpoint of every final bracket.
    """
    x1 = hi - GOLDEN * (hi - lo)
    x2 = lo + GOLDEN * (hi - lo)
    f1, f2 = f(x1), f(x2)
    for _ in range(iterations):
        left = f1 < f2  # minimum lies in [lo, x2]
        hi = where(left, x2, hi)
        lo = where(left, lo, x1)
        new_x1 = hi - GOLDEN * (hi - lo)
        new_x2 = lo + GOLDEN * (hi - lo)
        x1, x2 = where(left, new_x1, x2), where(left, x1, new_x2)
        f_new = f(where(left, x1, x2))
        f1, f2 = where(left, f_new, f2), where(left, f1, f_new)
    return (lo + hi) / 2
