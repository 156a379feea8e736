"""Helpers shared by the laws' formulas, for numpy and PyTensor alike (the ``xp`` namespace)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

Array = Any  # a numpy array, an xarray DataArray or a PyTensor variable


def is_pytensor(xp: ModuleType) -> bool:
    return getattr(xp, "__name__", "").startswith("pytensor")


def stop_gradient(xp: ModuleType, value: Array) -> Array:
    """``value`` with no gradient flowing through it (PyTensor); the identity for numpy."""
    if is_pytensor(xp):
        from pytensor.gradient import disconnected_grad

        return disconnected_grad(value)
    return value


def softplus(xp: ModuleType, v: Array) -> Array:
    """log(1 + e^v), stable for any v (logaddexp is stable in both namespaces)."""
    return xp.logaddexp(0.0, v)
