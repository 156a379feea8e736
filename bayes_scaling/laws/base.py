"""The :class:`Law` component: everything the package knows about one scaling-law family.

A law is evaluated in log space on inputs centred at a *pivot* inside the data (the geometric mean
of each input), with the level of every power-law term sampled at that pivot. On Chinchilla's data
log A and alpha are 0.999 correlated in the raw parameterisation; at the pivot they are nearly
independent (SCIENCE.md §10), so NUTS takes short trajectories. The natural parameters (E, A, B, ...)
are derived from the sampled ones by :meth:`Law.natural`.

The ``xp`` argument of every function is a namespace with ``exp``, ``log`` and ``logaddexp``: the
``numpy`` module for post-processing and ``pytensor.tensor`` inside the model, so each formula exists
once. Each law's module (``laws/<name>.py``) holds its formula, default priors (as data), LaTeX,
closed-form compute optimum where one exists, published fits and the baseline it is compared with;
nothing outside ``laws/`` branches on a law's name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

Array = Any  # a numpy array, an xarray DataArray or a PyTensor variable
#: A prior as data: ``{"dist": "Normal", "mu": 0.0, "sigma": 1.0}`` (see :class:`bayes_scaling.Prior`).
PriorData = Mapping[str, Any]


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
    priors : mapping
        Default prior of every sampled parameter, as data (``{"dist": ..., <param>: value}``).
    latex : str
        The law in LaTeX, for reports.
    log_optimum : callable, optional
        ``log_optimum(natural, log_budget) -> log N*``: the closed-form compute-optimal model size at
        log(C/k) = ``log_budget`` from the natural parameters, where the law has one.
    published : mapping
        Published point fits of the law (label, natural values, source, the data they were made on).
    follows : mapping, optional
        Inputs that follow another input: ``{"unique_tokens": "tokens"}`` centres unique tokens at the
        tokens' pivot (so the law can form D/U_D from centred inputs) and takes them equal to the
        tokens where a question does not give them (no repeated data).
    measured_on : tuple of str, optional
        The inputs along which a point's distance beyond the fitted runs is measured (the structural
        error's d); empty for all of :attr:`inputs`. A law whose inputs include quantities derived from
        another (a schedule's forward area from the tokens) measures on the one it extrapolates in.
    local_shift : mapping, optional
        Parameters that a hierarchy centred by task samples in local coordinates: ``{"alpha": shift}``
        with ``shift(xp, p)`` a function of the other sampled parameters, so that the sampler moves
        ``w = log alpha - shift(p)`` per task (for a positive parameter; ``alpha - shift`` otherwise)
        and the task-level prior is evaluated at ``log alpha = w + shift``. The shift has unit
        Jacobian, so the posterior is the same; only its geometry changes. A learning curve pins its
        local slope at the pivot, alpha·(1 - E/L)·X0/(X0 + x0), far better than alpha, which trades
        against the irreducible fraction and the offset along a curved ridge.
    baseline : str, optional
        The point-estimate method a backtest compares the posterior with: ``"huber"`` (L-BFGS on a
        Huber loss of Chinchilla's law, with a bootstrap: the standard tool for runs in N and D) or
        ``"m4"`` (Alabdulmohsin et al.'s estimator per curve).
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
    priors: Mapping[str, PriorData] = field(default_factory=dict, compare=False)
    latex: str = field(default="", compare=False)
    log_optimum: Callable[[Mapping[str, Array], Array], Array] | None = field(default=None, compare=False)
    published: Mapping[str, Any] = field(default_factory=dict, compare=False)
    baseline: str | None = field(default=None, compare=False)
    follows: Mapping[str, str] = field(default_factory=dict, compare=False)
    measured_on: tuple[str, ...] = field(default=(), compare=False)
    local_shift: Mapping[str, Callable[[ModuleType, Mapping[str, Array]], Array]] = field(default_factory=dict,
                                                                                        compare=False)

    @property
    def distance_inputs(self) -> tuple[str, ...]:
        """The inputs the distance beyond the data is measured on (:attr:`measured_on`, or all inputs)."""
        return self.measured_on or self.inputs

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

    def points(self, k: float, params: Any = None, tokens: Any = None, compute: Any = None,
               unique: Any = None) -> dict[str, np.ndarray]:
        """The inputs at which to evaluate the law, as 1-D arrays of one length: those given, broadcast,
        with compute = k·params·tokens and the inputs that follow another (:attr:`follows`) filled in.

        Raises
        ------
        QueryError
            Non-numeric, empty, non-positive or non-finite values, lengths that do not broadcast,
            unique tokens for a law that does not read them, compute that is not k·params·tokens, or
            an input the law needs and the query lacks.
        """
        from ..errors import QueryError, holds_bool

        given = {n: v for n, v in (("params", params), ("tokens", tokens), ("compute", compute), ("unique_tokens", unique))
                 if v is not None}
        try:
            flags = [n for n, v in given.items() if holds_bool(v)]
            arrays = {n: np.atleast_1d(np.asarray(v, dtype=float)) for n, v in given.items()}
        except (TypeError, ValueError):  # text, or nested lists of unequal lengths
            raise QueryError(f"params, tokens, compute and unique_tokens must be numbers, got {given}") from None
        if flags:
            raise QueryError(f"{flags[0]} must be numbers, got True/False")
        for name, values in arrays.items():
            if values.ndim != 1:
                raise QueryError(f"{name} must be one number or a list of numbers, got an array of shape {values.shape}")
            if not values.size or not np.all(np.isfinite(values)) or np.any(values <= 0):
                raise QueryError(f"{name} must be positive finite numbers, got {np.ravel(values).tolist()}")
        if "params" in arrays and not {"params", "compute"} & set(self.inputs):
            raise QueryError(f"the '{self.name}' law is a curve in {' and '.join(self.inputs)}: it reads no params")
        if "unique_tokens" in arrays and "unique_tokens" not in self.inputs:
            raise QueryError(f"the '{self.name}' law does not read unique tokens (fit data_constrained for that)")
        try:
            arrays = dict(zip(arrays, np.broadcast_arrays(*arrays.values())))
        except ValueError:
            raise QueryError("params, tokens and compute must have the same length (or length 1)") from None
        if "params" in arrays and "tokens" in arrays:
            with np.errstate(over="ignore", under="ignore"):
                implied = k * arrays["params"] * arrays["tokens"]
            if not np.all(np.isfinite(implied) & (implied > 0)):
                raise QueryError(f"compute = {k:g}·params·tokens {'overflows' if np.any(implied > 0) else 'underflows'} "
                                 f"for params {arrays['params'].tolist()} and tokens {arrays['tokens'].tolist()}")
            if "compute" in arrays and not np.allclose(arrays["compute"], implied, rtol=1e-3):
                raise QueryError(f"compute must be {k:g}·params·tokens when all three are given: give two of them")
            arrays.setdefault("compute", implied)
        arrays |= {n: arrays[m] for n, m in self.follows.items() if n not in arrays and m in arrays}
        missing = [n for n in self.inputs if n not in arrays]
        if missing:
            raise QueryError(f"the '{self.name}' law needs {' and '.join(self.inputs)} to predict; missing {missing}")
        return arrays

    def log_loss(self, p: Mapping[str, Array], log_inputs: Mapping[str, Array], pivots: Mapping[str, float],
                 xp: ModuleType = np) -> Array:
        """log L at the given log inputs (uncentred), e.g. ``{"params": log N, "tokens": log D}``."""
        x = {k: log_inputs[self.follows[k] if k not in log_inputs and k in self.follows else k] - pivots[k]
             for k in self.inputs}
        return self.log_mean(xp, x, p)




def pivots_for(law: Law, log_inputs: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Log pivots: the mean of each log input over the runs (geometric mean of N, D or C); an input
    that follows another (``law.follows``) takes the other's pivot."""
    return {k: float(np.mean(log_inputs[law.follows.get(k, k)])) for k in law.inputs}
