"""Model specifications: law, pooling, priors and likelihood, as data.

A spec is read from ``models/<name>.toml`` (shipped with the package) or any TOML path, and can be
changed from Python. Priors are merged in one documented order: **user > spec file > law default**.
The spec travels with every fit (``ModelSpec.to_dict``) so a saved fit says exactly what was assumed.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pymc as pm

from .errors import SpecError
from .laws import Law, get_law
from .resources import resource_dir

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
POOLING_LEVELS = ("shared", "domain", "task")
LIKELIHOODS = ("student_t", "normal")
NOISE = ("sigma", "nu")


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
        object.__setattr__(self, "dist", dist)
        object.__setattr__(self, "params", clean)

    @property
    def kwargs(self) -> dict[str, float]:
        """Parameters as keyword arguments."""
        return dict(self.params)

    def to_pymc(self, name: str, dims: str | tuple[str, ...] | None = None) -> Any:
        """Create the PyMC random variable inside the current model context."""
        return getattr(pm, self.dist)(name, **self.kwargs, dims=dims)

    def to_dict(self) -> dict[str, Any]:
        """``{"dist": ..., <param>: value, ...}``, the TOML/JSON form."""
        return {"dist": self.dist, **self.kwargs}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "prior") -> Prior:
        """Inverse of :meth:`to_dict`."""
        if not isinstance(data, Mapping) or "dist" not in data:
            raise SpecError(f"{where} must be a table with a 'dist' key, got {data!r}")
        params = {k: v for k, v in data.items() if k != "dist"}
        return cls(str(data["dist"]), **params)

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v:g}" for k, v in self.params)
        return f"{self.dist}({args})"


#: Default priors of each law's sampled parameters (see laws.py for their meaning).
LAW_PRIORS: dict[str, dict[str, Prior]] = {
    "chinchilla": {
        "log_e": Prior("Normal", mu=0.0, sigma=1.0),
        "log_a0": Prior("Normal", mu=-1.0, sigma=2.0),
        "alpha": Prior("HalfNormal", sigma=1.0),
        "log_b0": Prior("Normal", mu=-1.0, sigma=2.0),
        "beta": Prior("HalfNormal", sigma=1.0),
    },
    "kaplan": {
        "alpha_n": Prior("HalfNormal", sigma=0.5),
        "alpha_d": Prior("HalfNormal", sigma=0.5),
        "log_n0": Prior("Normal", mu=2.0, sigma=3.0),
        "log_d0": Prior("Normal", mu=2.0, sigma=3.0),
    },
    "compute": {
        "log_e": Prior("Normal", mu=0.0, sigma=1.0),
        "log_c0": Prior("Normal", mu=-1.0, sigma=2.0),
        "alpha": Prior("HalfNormal", sigma=1.0),
    },
}
NOISE_PRIORS: dict[str, Prior] = {
    "sigma": Prior("HalfNormal", sigma=0.1),
    "nu": Prior("Gamma", alpha=2.0, beta=0.1),
}


@dataclass(frozen=True)
class ModelSpec:
    """What to fit: a law, priors for its sampled parameters, pooling and the likelihood.

    Attributes
    ----------
    name : str
        Name of the spec (the TOML file's stem for shipped specs).
    law : str
        Name of a law in :data:`bayes_scaling.laws.LAWS`.
    priors : dict
        A :class:`Prior` for every sampled law parameter and for the noise (``sigma``, ``nu``).
    pooling : dict
        Pooling level per law parameter: ``"shared"`` (this version), ``"domain"`` or ``"task"``.
    likelihood : str
        ``"student_t"`` (robust, the default) or ``"normal"`` noise on log loss.
    description : str
        Free text.
    """

    name: str
    law: str
    priors: dict[str, Prior] = field(default_factory=dict)
    pooling: dict[str, str] = field(default_factory=dict)
    likelihood: str = "student_t"
    description: str = ""

    def __post_init__(self) -> None:
        law = get_law(self.law)
        unknown = sorted(set(self.priors) - set(law.sampled) - set(NOISE))
        if unknown:
            raise SpecError(
                f"spec '{self.name}': priors given for {unknown}, which the '{law.name}' law does not "
                f"have; its parameters are {list(law.sampled) + list(NOISE)}"
            )
        merged = {**LAW_PRIORS[law.name], **NOISE_PRIORS, **self.priors}
        object.__setattr__(self, "priors", merged)
        unknown = sorted(set(self.pooling) - set(law.sampled))
        if unknown:
            raise SpecError(f"spec '{self.name}': pooling given for unknown parameter(s) {unknown}")
        bad = {k: v for k, v in self.pooling.items() if v not in POOLING_LEVELS}
        if bad:
            raise SpecError(f"spec '{self.name}': unknown pooling level(s) {bad}; levels are {list(POOLING_LEVELS)}")
        object.__setattr__(self, "pooling", {p: self.pooling.get(p, "shared") for p in law.sampled})
        if self.likelihood not in LIKELIHOODS:
            raise SpecError(f"spec '{self.name}': unknown likelihood '{self.likelihood}'; known: {list(LIKELIHOODS)}")

    @property
    def law_obj(self) -> Law:
        """The :class:`~bayes_scaling.laws.Law` object."""
        return get_law(self.law)

    def with_priors(self, **priors: Prior) -> ModelSpec:
        """A copy with some priors replaced (user priors win over the spec file)."""
        return replace(self, priors={**self.priors, **priors})

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, stored with every fit."""
        return {
            "name": self.name,
            "law": self.law,
            "likelihood": self.likelihood,
            "description": self.description,
            "priors": {k: p.to_dict() for k, p in self.priors.items()},
            "pooling": dict(self.pooling),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], name: str | None = None) -> ModelSpec:
        """Build a spec from a parsed TOML or JSON document."""
        if "law" not in data:
            raise SpecError(f"spec '{name or data.get('name', '?')}' has no 'law' key")
        priors = {k: Prior.from_dict(v, where=f"prior for '{k}'") for k, v in dict(data.get("priors", {})).items()}
        likelihood = data.get("likelihood", "student_t")
        if isinstance(likelihood, Mapping):  # [likelihood] table: family plus noise priors
            for key in NOISE:
                if key in likelihood:
                    priors.setdefault(key, Prior.from_dict(likelihood[key], where=f"likelihood.{key}"))
            likelihood = likelihood.get("family", "student_t")
        return cls(
            name=str(data.get("name", name or "custom")),
            law=str(data["law"]),
            priors=priors,
            pooling={k: str(v) for k, v in dict(data.get("pooling", {})).items()},
            likelihood=str(likelihood),
            description=str(data.get("description", "")),
        )

    def to_json(self) -> str:
        """The spec as a JSON string."""
        return json.dumps(self.to_dict(), sort_keys=True)


def available_specs() -> list[str]:
    """Names of the specs shipped in ``models/``."""
    return sorted(p.stem for p in resource_dir("models").glob("*.toml"))


def load_spec(spec: str | Path | ModelSpec) -> ModelSpec:
    """Load a spec by shipped name (``"chinchilla"``), TOML path, or pass a ModelSpec through.

    Raises
    ------
    SpecError
        If the name is unknown, the file is missing or malformed.
    """
    if isinstance(spec, ModelSpec):
        return spec
    path = Path(spec)
    if path.suffix != ".toml":
        shipped = resource_dir("models") / f"{spec}.toml"
        if not shipped.is_file():
            raise SpecError(f"unknown spec '{spec}'; shipped specs: {', '.join(available_specs())} (or give a .toml path)")
        path = shipped
    if not path.is_file():
        raise SpecError(f"spec file not found: {path}")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"spec file {path} is not valid TOML: {exc}") from None
    return ModelSpec.from_dict(data, name=path.stem)
