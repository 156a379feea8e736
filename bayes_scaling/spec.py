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

from .data.groups import LEVEL_RANK, base_level
from .defaults import NOISE_LEVELS
from .errors import SpecError, require_file
from .laws import LAWS, Law, get_law
from .priors import Prior, is_positive, positive_support
from .resources import resource_dir
from .structural import StructuralError
from .structural import override as override_structural
from .structural import parse as parse_structural

#: ``shared``: one value for all runs. ``domain`` / ``task``: partial pooling (a non-centred
#: hierarchy; tasks nest in domains). ``domain_separate`` / ``task_separate``: no pooling (each
#: group gets the spec's prior independently), kept to compare pooling choices.
POOLING_LEVELS = ("shared", "domain", "task", "domain_separate", "task_separate")
#: Where the inputs are centred: one global pivot, or one per domain / task.
PIVOT_LEVELS = ("global", "domain", "task")
#: How partially pooled group values are sampled: as standardised offsets (the default, robust when
#: groups have few runs) or directly (better when every group has many precise runs).
#: ``centred_tasks`` samples task values directly and domain values as offsets: many curves, each
#: with many points, but only a few domains whose between-domain scale the data hardly inform.
HIERARCHIES = ("non_centred", "centred", "centred_tasks")
LIKELIHOODS = ("student_t", "normal")
#: The keys of a spec document (TOML or JSON); any other key is a typo and refused.
SPEC_KEYS = ("name", "law", "description", "likelihood", "priors", "pooling", "scales", "noise_pooling", "pivot",
             "hierarchy", "discrepancy")
NOISE = ("sigma", "nu")



#: Default priors of each law's sampled parameters, read from the law components (``laws/<name>.py``).
LAW_PRIORS: dict[str, dict[str, Prior]] = {
    name: {k: Prior.from_dict(v, where=f"the '{name}' law's default prior for '{k}'") for k, v in law.priors.items()}
    for name, law in LAWS.items()
}
#: Default prior of the between-group scale of a partially pooled parameter: on the log scale for
#: positive parameters such as exponents (0.5 lets groups differ by a factor of ~1.6 at one sd), on the
#: parameter's own scale otherwise (log levels, log E).
DEFAULT_SCALE_PRIOR = Prior("HalfNormal", sigma=0.5)
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
        Pooling level per law parameter: ``"shared"``, ``"domain"``, ``"task"`` or ``"<level>_separate"``.
    likelihood : str
        ``"student_t"`` (robust, the default) or ``"normal"`` noise on log loss.
    description : str
        Free text.
    scales : dict
        Prior of the between-group scale of each partially pooled parameter (default
        :data:`DEFAULT_SCALE_PRIOR`).
    noise_pooling : str
        ``"shared"`` (one sigma), ``"domain"`` or ``"task"`` (one sigma per group).
    hierarchy : str
        ``"non_centred"`` (default), ``"centred"`` or ``"centred_tasks"`` (tasks centred, domains
        non-centred) sampling of partially pooled group values.
    discrepancy : StructuralError
        The law's structural error beyond the data (:mod:`bayes_scaling.structural`); by default the
        prior learned across studies.
    pivot : str
        Centre of the inputs: ``"global"`` (default) or per ``"domain"`` / ``"task"``; a per-group
        pivot needs every parameter pooled at that level or finer, since a level sampled at one pivot
        means something else at another (exponents and E, ``Law.pivot_free``, may be coarser).
    """

    name: str
    law: str
    priors: dict[str, Prior] = field(default_factory=dict)
    pooling: dict[str, str] = field(default_factory=dict)
    likelihood: str = "student_t"
    description: str = ""
    scales: dict[str, Prior] = field(default_factory=dict)
    noise_pooling: str = "shared"
    pivot: str = "global"
    hierarchy: str = "non_centred"
    discrepancy: StructuralError = field(default_factory=lambda: parse_structural(None, "default"))

    def __post_init__(self) -> None:
        law = get_law(self.law)
        unknown = sorted(set(self.priors) - set(law.sampled) - set(NOISE))
        if unknown:
            raise SpecError(
                f"spec '{self.name}': priors given for {unknown}, which the '{law.name}' law does not "
                f"have; its parameters are {list(law.sampled) + list(NOISE)}"
            )
        merged = {**LAW_PRIORS[law.name], **NOISE_PRIORS, **self.priors}
        _check_priors(self.name, law.name, merged, self.scales)
        if not isinstance(self.discrepancy, StructuralError):
            raise SpecError(f"spec '{self.name}': discrepancy is a StructuralError (or a [discrepancy] block in a "
                            f"spec file), got {self.discrepancy!r}")
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
        unknown = sorted(set(self.scales) - set(law.sampled))
        if unknown:
            raise SpecError(f"spec '{self.name}': scale priors given for unknown parameter(s) {unknown}")
        object.__setattr__(self, "scales", {p: self.scales.get(p, DEFAULT_SCALE_PRIOR) for p in law.sampled})
        if self.noise_pooling not in NOISE_LEVELS:
            raise SpecError(f"spec '{self.name}': unknown noise pooling '{self.noise_pooling}'; levels are {list(NOISE_LEVELS)}")
        if self.hierarchy not in HIERARCHIES:
            raise SpecError(f"spec '{self.name}': unknown hierarchy '{self.hierarchy}'; choose one of {list(HIERARCHIES)}")
        if self.pivot not in PIVOT_LEVELS:
            raise SpecError(f"spec '{self.name}': unknown pivot '{self.pivot}'; choose one of {list(PIVOT_LEVELS)}")
        if self.pivot != "global":
            coarse = [p for p, level in self.pooling.items()
                      if LEVEL_RANK[base_level(level)] < LEVEL_RANK[self.pivot] and p not in law.pivot_free]
            if coarse:
                raise SpecError(
                    f"spec '{self.name}': pivot '{self.pivot}' needs every level parameter pooled by {self.pivot} "
                    f"or finer, but {coarse} are pooled more coarsely; use pivot = 'global'"
                )

    def level(self) -> str:
        """The finest pooling level of the law's parameters: ``"shared"``, ``"domain"`` or ``"task"``."""
        levels = [base_level(v) for v in self.pooling.values()]
        return max(levels, key=LEVEL_RANK.__getitem__)

    def with_pooling(self, **levels: str) -> ModelSpec:
        """A copy with some pooling levels replaced, e.g. ``spec.with_pooling(alpha="domain", e="task")``.

        Natural names are accepted for the log-level parameters: ``e`` or ``E`` for ``log_e``, ``A``
        for ``log_a0``, ``x0`` for ``log_x0``.
        """
        law = self.law_obj
        return replace(self, pooling={**self.pooling, **{resolve_parameter(k, law): v for k, v in levels.items()}})

    @property
    def law_obj(self) -> Law:
        """The :class:`~bayes_scaling.laws.Law` object."""
        return get_law(self.law)

    def overridden(self, priors: Mapping[str, Prior] | None = None,
                   pool: Mapping[str, str] | str | None = None, structural: str | float | None = None) -> ModelSpec:
        """A copy with the user's priors, pooling levels (``{"alpha": "domain"}`` or ``"alpha=domain"``) and
        structural error (``"none"``, ``"learned"`` or a scale), applied in that order by every entry point."""
        if not (priors is None or isinstance(priors, Mapping) and all(isinstance(v, Prior) for v in priors.values())):
            raise SpecError(f"priors map parameters to bs.Prior, e.g. {{'alpha': bs.Prior('Normal', mu=0.3, sigma=0.1)}}"
                            f"; got {priors!r}")
        if not (pool is None or isinstance(pool, str | Mapping)):
            raise SpecError(f"pool is a mapping such as {{'alpha': 'domain'}} or text such as 'alpha=domain', got {pool!r}")
        spec = self.with_priors(**priors) if priors else self
        if pool is not None:  # a mapping is checked as its text is: known levels, at least one item
            spec = spec.with_pooling(**parse_pooling(pool if isinstance(pool, str) else ",".join(f"{k}={v}" for k, v in pool.items())))
        if structural is not None:
            spec = replace(spec, discrepancy=override_structural(spec.discrepancy, structural))
        return spec

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
            "scales": {k: p.to_dict() for k, p in self.scales.items()},
            "noise_pooling": self.noise_pooling,
            "pivot": self.pivot,
            "hierarchy": self.hierarchy,
            "discrepancy": self.discrepancy.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], name: str | None = None) -> ModelSpec:
        """Build a spec from a parsed TOML or JSON document."""
        if "law" not in data:
            raise SpecError(f"spec '{name or data.get('name', '?')}' has no 'law' key")
        unknown = sorted(set(data) - set(SPEC_KEYS))
        if unknown:
            raise SpecError(f"spec '{name or data.get('name', '?')}' has unknown key(s) {unknown}; "
                            f"a spec has {list(SPEC_KEYS)}")
        priors = {k: Prior.from_dict(v, where=f"prior for '{k}'") for k, v in dict(data.get("priors", {})).items()}
        likelihood = data.get("likelihood", "student_t")
        noise_pooling = str(data.get("noise_pooling", "shared"))
        if isinstance(likelihood, Mapping):  # [likelihood] table: family, noise priors, sigma pooling
            extra = sorted(set(likelihood) - {"family", "sigma_pooling", *NOISE})
            if extra:
                raise SpecError(f"spec '{name or data.get('name', '?')}': unknown [likelihood] key(s) {extra}; "
                                f"it has family, sigma_pooling, {', '.join(NOISE)}")
            for key in NOISE:
                if key in likelihood:
                    priors.setdefault(key, Prior.from_dict(likelihood[key], where=f"likelihood.{key}"))
            noise_pooling = str(likelihood.get("sigma_pooling", noise_pooling))
            likelihood = likelihood.get("family", "student_t")
        scales = {k: Prior.from_dict(v, where=f"scale prior for '{k}'") for k, v in dict(data.get("scales", {})).items()}
        return cls(
            name=str(data.get("name", name or "custom")),
            law=str(data["law"]),
            priors=priors,
            pooling={k: str(v) for k, v in dict(data.get("pooling", {})).items()},
            likelihood=str(likelihood),
            description=str(data.get("description", "")),
            scales=scales,
            noise_pooling=noise_pooling,
            pivot=str(data.get("pivot", "global")),
            hierarchy=str(data.get("hierarchy", "non_centred")),
            discrepancy=parse_structural(data.get("discrepancy"), str(data.get("name", name or "custom"))),
        )

    def to_json(self) -> str:
        """The spec as a JSON string."""
        return json.dumps(self.to_dict(), sort_keys=True)


def _check_priors(spec: str, law: str, priors: Mapping[str, Any], scales: Mapping[str, Any]) -> None:
    """Refuse priors that are not :class:`Prior`, and supports a parameter cannot take: the noise (sigma,
    nu) and the between-group scales are positive; a parameter the law's default keeps positive (an
    exponent) cannot have a prior at or below zero only."""
    for name, prior in {**priors, **{f"scale of {k}": v for k, v in scales.items()}}.items():
        if not isinstance(prior, Prior):
            raise SpecError(f"spec '{spec}': the prior for '{name}' is a bs.Prior, e.g. Prior('HalfNormal', "
                            f"sigma=0.5), got {prior!r}")
        must_be_positive = name in NOISE or name.startswith("scale of ")
        if (must_be_positive and positive_support(prior) is not True) or (
                name in LAW_PRIORS[law] and is_positive(LAW_PRIORS[law][name]) and positive_support(prior) is False):
            raise SpecError(f"spec '{spec}': '{name}' is positive, but its prior {prior} puts "
                            f"{'mass' if positive_support(prior) is None else 'all its mass'} at or below zero")


def resolve_parameter(name: str, law: Law) -> str:
    """The sampled parameter a user means: ``alpha`` as is, ``E``/``e`` -> ``log_e``, ``A`` -> ``log_a0``."""
    if name in law.sampled:
        return name
    for candidate in (f"log_{name.lower()}", f"log_{name.lower()}0"):
        if candidate in law.sampled:
            return candidate
    raise SpecError(f"the '{law.name}' law has no parameter '{name}'; its parameters are {list(law.sampled)}")


def parse_pooling(text: str) -> dict[str, str]:
    """Parse ``"alpha=domain,beta=domain,log_e=task"`` (the CLI's ``--pool``) into a dict; a :class:`SpecError`
    names an item that is not ``name=level``, an unknown level, or no item at all."""
    levels: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, level = item.partition("=")
        if not sep or not name.strip() or not level.strip():
            raise SpecError(f"--pool items look like alpha=domain; got '{item}'")
        if level.strip() not in POOLING_LEVELS:
            raise SpecError(f"unknown pooling level '{level.strip()}' for '{name.strip()}'; levels are {list(POOLING_LEVELS)}")
        if name.strip() in levels:
            raise SpecError(f"pool names '{name.strip()}' twice ({levels[name.strip()]} and {level.strip()}): give one level")
        levels[name.strip()] = level.strip()
    if not levels:
        raise SpecError("pool is empty: give items such as alpha=domain, or leave it out")
    return levels


def available_specs() -> list[str]:
    """Names of the specs shipped in ``models/``."""
    return sorted(p.stem for p in resource_dir("models").glob("*.toml"))  # models/learned/ holds data, not specs


def load_spec(spec: str | Path | ModelSpec) -> ModelSpec:
    """Load a spec by shipped name (``"chinchilla"``), TOML path, or pass a ModelSpec through.

    Raises
    ------
    SpecError
        If the name is unknown, the file is missing or malformed.
    """
    if isinstance(spec, ModelSpec):
        return spec
    if not isinstance(spec, (str, Path)):
        raise SpecError(f"a spec is a shipped name, a .toml path or a ModelSpec, got {type(spec).__name__}")
    path = Path(spec) if Path(spec).suffix == ".toml" else resource_dir("models") / f"{spec}.toml"
    if not path.is_file() and Path(spec).suffix != ".toml":
        if Path(spec).is_dir():
            raise SpecError(f"spec {spec} is a directory; give a shipped spec's name or a .toml file")
        if Path(spec).exists():
            raise SpecError(f"spec {spec} is not a .toml file; a spec file's name ends in .toml")
        raise SpecError(f"unknown spec '{spec}'; shipped specs: {', '.join(available_specs())} (or give a .toml path)")
    return ModelSpec.from_dict(read_toml(path, "spec file"), name=path.stem)


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """Parse a TOML file, or raise a one-line :class:`SpecError` naming ``what`` it is (missing, not TOML)."""
    path = Path(path)
    require_file(path, SpecError, f"a TOML {what}", f"{what} not found: {{path}}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8-sig"))  # a byte-order mark is not TOML's
    except OSError as exc:
        raise SpecError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"{what} {path} is not valid TOML: {exc}") from None
