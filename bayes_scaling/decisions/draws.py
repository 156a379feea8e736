"""The posterior draws every decision is computed from, and the checks on the questions asked of them.

A :class:`Draws` bundles what a decision needs and nothing else: the law, its sampled parameters
(dims ``(chain, draw, *groups)``), the log pivots they are centred on, the noise parameters of the
likelihood (for predictive questions) and k in C = k·N·D. :meth:`Draws.from_fit` takes them from a
:class:`~bayes_scaling.Fit`; tests and simulations build one from hand-made arrays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from ..errors import QueryError, holds_bool
from ..laws import Law

if TYPE_CHECKING:
    from ..result.fit import Fit

SAMPLE_DIMS = ("chain", "draw")
NOISE_VARS = ("sigma", "nu")

Sampled = Mapping[str, xr.DataArray]


@dataclass(frozen=True)
class Draws:
    """Posterior draws of a law, ready for decisions.

    Parameters
    ----------
    law : Law
        The fitted law.
    sampled : mapping of str to xarray.DataArray
        Its sampled parameters, each with dims ``(chain, draw)`` and possibly group dims.
    pivots : mapping of str to float
        The log pivots of the law's inputs.
    noise : mapping of str to xarray.DataArray
        The likelihood's noise parameters (``sigma``, and ``nu`` for Student-t); empty if unknown.
    compute_factor : float
        k in C = k·N·D.
    """

    law: Law
    sampled: Sampled
    pivots: Mapping[str, Any]
    noise: Mapping[str, xr.DataArray] = field(default_factory=dict)
    compute_factor: float = 6.0

    @classmethod
    def from_fit(cls, fit: Fit) -> Draws:
        """The draws of a fit at its finest level, with its noise and compute factor (a QueryError for
        anything but a :class:`~bayes_scaling.Fit`, such as a path: load it with ``bs.load_fit``)."""
        require_fit(fit, "this answer is computed from")
        post = fit.posterior
        noise = {n: post[n] for n in NOISE_VARS if n in post}
        return cls(fit.law, fit.sampled(), fit.pivots_at(), noise, float(fit.runs.compute_factor))

    def log_loss(self, log_inputs: Mapping[str, Any]) -> Any:
        """log L of every draw at the given log inputs (broadcast with xarray or numpy)."""
        return self.law.log_loss(self.sampled, log_inputs, self.pivots)

    def with_sampled(self, sampled: Sampled) -> Draws:
        """The same law, pivots and noise over other parameter values (a point estimate, a subset)."""
        return replace(self, sampled=sampled)

    @property
    def n_draws(self) -> int:
        first = next(iter(self.sampled.values()))
        return int(first.sizes["chain"] * first.sizes["draw"])

    def group_dims(self) -> list[str]:
        """The dims of the sampled parameters besides ``(chain, draw)``, in order of appearance."""
        dims: list[str] = []
        for da in self.sampled.values():
            for d in da.dims:
                if d not in SAMPLE_DIMS and d not in dims:
                    dims.append(d)
        return dims

    def check(self, reserved: Sequence[str], allocation: bool = True) -> None:
        """Refuse draws without ``(chain, draw)``, group dims that clash with ``reserved`` output dims,
        and (``allocation``) a law of compute alone."""
        if allocation and not self.law.has_allocation:
            from ..laws.allocation import no_allocation

            raise QueryError(no_allocation(self.law) + "; to plan, fit a law in params and tokens (e.g. 'chinchilla')")
        for name, da in self.sampled.items():
            missing = [d for d in SAMPLE_DIMS if d not in da.dims]
            if missing:
                raise QueryError(f"sampled parameter '{name}' lacks dims {missing}: pass posterior draws")
        clash = [d for d in self.group_dims() if d in reserved]
        if clash:
            raise QueryError(f"the posterior has dims {clash} that planning uses for its own outputs")


class FixedInputs:
    """A law with some inputs held at fixed log values (a unique-data budget): every other attribute is
    the law's own; it has no closed-form optimum, so planning searches for one."""

    def __init__(self, law: Law, fixed: Mapping[str, float]) -> None:
        self._law, self.fixed = law, dict(fixed)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._law, name)

    log_optimum = None

    def log_loss(self, p: Mapping[str, Any], log_inputs: Mapping[str, Any], pivots: Mapping[str, Any], xp: Any = np) -> Any:
        return self._law.log_loss(p, {**self.fixed, **log_inputs}, pivots, xp)


#: The most grid points a plan, a target search or a curve evaluates per budget (each costs every draw's loss).
MAX_GRID = 10_000


def require_fit(fit: Any, needs: str) -> None:
    """A :class:`QueryError` where ``fit`` is not a :class:`~bayes_scaling.Fit` (a path, a table), saying
    ``"<needs> a fit (bs.fit or bs.load_fit)"``, e.g. ``needs="compare reads"``."""
    from ..result.fit import Fit

    if not isinstance(fit, Fit):
        raise QueryError(f"{needs} a fit (bs.fit or bs.load_fit), got {type(fit).__name__}")


def numbers(values: Any, name: str) -> np.ndarray:
    """``values`` as a float array of at least one dimension; a :class:`QueryError` for text, ``True`` or
    ``False`` (which numpy reads as 1 and 0), or nested lists of unequal lengths."""
    shown = repr(values) if len(repr(values)) <= 80 else repr(values)[:77] + "..."
    try:
        text = any(isinstance(v, str | bytes) for v in np.asarray(values, dtype=object).ravel().tolist())
        if not text and not holds_bool(values):
            return np.atleast_1d(np.asarray(values, dtype=float))
    except (TypeError, ValueError, OverflowError):
        pass
    raise QueryError(f"{name} must be numbers, got {shown}")


def grid_size(n_grid: Any, name: str = "n_grid", least: int = 3) -> int:
    """A grid of ``least`` to :data:`MAX_GRID` points, or a :class:`QueryError`."""
    if isinstance(n_grid, bool) or not isinstance(n_grid, int | np.integer) or not least <= n_grid <= MAX_GRID:
        raise QueryError(f"{name} must be a whole number from {least} to {MAX_GRID}, got {n_grid!r}")
    return int(n_grid)


def positive_1d(values: Any, name: str, dim: str) -> xr.DataArray:
    """One or more positive finite values as a DataArray along ``dim`` (its own coordinate)."""
    try:
        arr = numbers(values, name)
    except QueryError:
        raise QueryError(f"{name} must be one or more positive numbers, got {values!r}") from None
    if arr.ndim != 1 or arr.size == 0:
        raise QueryError(f"give one or more values of {name}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise QueryError(f"{name} must be positive and finite, got {arr.tolist()}")
    return xr.DataArray(arr, dims=dim, coords={dim: arr}, name=name)


def probability(value: Any, name: str, dim: str | None = None) -> float | xr.DataArray:
    """A probability strictly inside (0, 1): one float, or (with ``dim``) a DataArray of them."""
    try:
        arr = np.atleast_1d(np.asarray(value, dtype=float))
    except (TypeError, ValueError):
        raise QueryError(f"{name} must lie strictly between 0 and 1, got {value!r}") from None
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or np.any((arr <= 0) | (arr >= 1)):
        raise QueryError(f"{name} must lie strictly between 0 and 1, got {np.ravel(arr).tolist()}")
    if dim is None:
        if arr.size != 1:
            raise QueryError(f"{name} must be one number between 0 and 1")
        return float(arr[0])
    return xr.DataArray(arr, dims=dim, coords={dim: arr}, name=name)


def optional_limit(value: float | None, name: str) -> float | None:
    """An optional upper limit on N or D: None, or a number of at least 1."""
    if value is None:
        return None
    given = numbers(value, name)
    if given.size != 1:
        raise QueryError(f"{name} must be one number, got {value!r}")
    v = float(given[0])
    if not np.isfinite(v) or v <= 0:
        raise QueryError(f"{name} must be a positive number, got {value!r}")
    if v < 1:
        raise QueryError(f"{name}={v:.4g} excludes every model: it must be at least 1")
    return v


def limit_attr(value: float | None) -> float | str:
    """A limit as a netCDF-safe attribute: the number, or ``"none"``."""
    return value if value is not None else "none"
