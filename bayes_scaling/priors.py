"""Priors as data: a distribution family and its parameters, checked before any model is built.

A :class:`Prior` is what a spec file's ``{ dist = "Normal", mu = 0.0, sigma = 1.0 }`` reads into; it
knows its PyMC distribution, its TOML form and whether its support is positive (positive parameters
such as exponents are pooled on the log scale, and the noise scale must be positive).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import SpecError

#: Allowed prior families and their parameters (the PyMC names).
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "Normal": ("mu", "sigma"),
    "HalfNormal": ("sigma",),
    "LogNormal": ("mu", "sigma"),
    "Gamma": ("alpha", "beta"),
    "Exponential": ("lam",),
    "TruncatedNormal": ("mu", "sigma", "lower", "upper"),
    "Uniform": ("lower", "upper"),
    "HalfStudentT": ("nu", "sigma"),
}
@dataclass(frozen=True)
class Prior:
    """A prior distribution described as data, e.g. ``Prior("Normal", mu=0.0, sigma=1.0)``."""

    dist: str
    params: tuple[tuple[str, float], ...]

    def __init__(self, dist: str, **params: float) -> None:
        if dist not in DISTRIBUTIONS:
            raise SpecError(f"unknown prior distribution '{dist}'; known: {', '.join(DISTRIBUTIONS)}")
        allowed = DISTRIBUTIONS[dist]
        extra = sorted(set(params) - set(allowed))
        if extra:
            raise SpecError(f"prior {dist} takes {list(allowed)}, not {extra}")
        try:
            clean = tuple((k, float(params[k])) for k in allowed if k in params)
        except (TypeError, ValueError):
            raise SpecError(f"prior {dist} parameters must be numbers, got {params}") from None
        _check_support(dist, dict(clean))
        object.__setattr__(self, "dist", dist)
        object.__setattr__(self, "params", clean)

    @property
    def kwargs(self) -> dict[str, float]:
        """Parameters as keyword arguments."""
        return dict(self.params)

    def to_pymc(self, name: str, dims: str | tuple[str, ...] | None = None) -> Any:
        """Create the PyMC random variable inside the current model context."""
        import pymc as pm

        return getattr(pm, self.dist)(name, **self.kwargs, dims=dims)

    def to_dict(self) -> dict[str, Any]:
        """``{"dist": ..., <param>: value, ...}``, the TOML/JSON form."""
        return {"dist": self.dist, **self.kwargs}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "prior") -> Prior:
        """Inverse of :meth:`to_dict`."""
        if not isinstance(data, Mapping) or "dist" not in data:
            raise SpecError(f"{where} must be a table with a 'dist' key, got {data!r}")
        return cls(str(data["dist"]), **{k: v for k, v in data.items() if k != "dist"})

    def __str__(self) -> str:
        return f"{self.dist}({', '.join(f'{k}={v:g}' for k, v in self.params)})"


#: Parameters every prior family must be given (the others have PyMC's defaults or are optional).
REQUIRED: dict[str, tuple[str, ...]] = {
    "Normal": ("mu", "sigma"), "HalfNormal": ("sigma",), "LogNormal": ("mu", "sigma"),
    "Gamma": ("alpha", "beta"), "Exponential": ("lam",), "TruncatedNormal": ("mu", "sigma"),
    "Uniform": ("lower", "upper"), "HalfStudentT": ("nu", "sigma"),
}
#: Parameters that must be positive wherever they appear (scales, rates, shapes, degrees of freedom).
POSITIVE_PARAMETERS = ("sigma", "lam", "alpha", "beta", "nu")


def _check_support(dist: str, params: dict[str, float]) -> None:
    """Refuse prior parameters outside their support, before any model is built."""
    missing = [k for k in REQUIRED[dist] if k not in params]
    if missing:
        raise SpecError(f"prior {dist} needs {list(REQUIRED[dist])}; missing {missing}")
    bad = {k: v for k, v in params.items() if not np.isfinite(v)}
    if bad:
        raise SpecError(f"prior {dist} parameters must be finite numbers, got {bad}")
    for k in POSITIVE_PARAMETERS:
        if k in params and params[k] <= 0:
            raise SpecError(f"prior {dist}: {k} must be positive, got {params[k]:g}")
    if "lower" in params and "upper" in params and not params["lower"] < params["upper"]:
        raise SpecError(f"prior {dist}: lower ({params['lower']:g}) must be below upper ({params['upper']:g})")


POSITIVE_DISTRIBUTIONS = ("HalfNormal", "LogNormal", "Gamma", "Exponential", "HalfStudentT")


def is_positive(prior: Prior) -> bool:
    """True if the prior's support is (0, inf): such parameters are pooled on the log scale."""
    lower = prior.kwargs.get("lower")
    return prior.dist in POSITIVE_DISTRIBUTIONS or (lower is not None and lower >= 0.0)




def positive_support(prior: Prior) -> bool | None:
    """Whether the prior's support is positive (True), entirely at or below zero (False), or both (None)."""
    if is_positive(prior):
        return True
    upper = prior.kwargs.get("upper")
    return False if upper is not None and upper <= 0.0 else None


__all__ = ["DISTRIBUTIONS", "POSITIVE_DISTRIBUTIONS", "Prior", "is_positive", "positive_support"]
