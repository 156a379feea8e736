"""Sweep jobs as data: the :class:`Job`, its stable key, and sweep files (TOML grids) that expand into jobs.

A job names a dataset, a spec, pooling and prior overrides, a holdout, a seed and sampler settings;
its :attr:`Job.key` is the hash of its canonical JSON, so the same job has the same key in every
process and session (a sweep's results are filed under it). Running jobs is :mod:`bayes_scaling.sweeps.run`;
running many on Dask is :mod:`bayes_scaling.sweeps.sweep`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from itertools import product
from pathlib import Path
from typing import Any

from ..data import datasets
from ..data.runs import Runs, read_runs
from ..defaults import CHAINS, DRAWS, SEED, TARGET_ACCEPT, TUNE
from ..errors import (
    BackendError,
    BayesScalingError,
    DatasetError,
    InputError,
    SpecError,
)
from ..inference import BACKENDS, DEFAULT_BACKEND, SamplerSettings
from ..spec import NOISE, ModelSpec, Prior, load_spec, read_toml, resolve_parameter

#: Hashed into every job key: bump it when the same job would mean something else.
KEY_FORMAT = "bayes_scaling.sweeps.sweep/1"
#: Columns a holdout rule splits on (the rest of the rule is checked by the backtest).
HOLDOUT_COLUMNS = ("params", "tokens", "compute")


@dataclass(frozen=True)
class Job:
    """One fit (or backtest) of a sweep, described as data.

    Attributes
    ----------
    dataset : str
        A registered dataset name or the path of a CSV of runs.
    spec : str
        A shipped spec name or a spec TOML path.
    pool : dict
        Pooling overrides, ``{"alpha": "domain"}``.
    priors : dict
        Prior overrides as data, ``{"alpha": {"dist": "Normal", "mu": 0.3, "sigma": 0.1}}``; ``E``
        stands for ``log_e`` (and ``A`` for ``log_a0`` ...) as in :meth:`ModelSpec.with_pooling`.
    holdout : str or None
        A backtest split such as ``"compute:0.2"`` (:func:`bayes_scaling.validation.backtest.backtest`);
        ``None`` fits every run.
    seed, draws, tune, chains, target_accept, backend
        Sampler settings, as in :func:`bayes_scaling.result.fit` (a backtest takes the first four).
    drop_outliers : bool
        Apply a registered dataset's outlier rule.
    split : str or None
        One split of a registered dataset.
    tags : dict
        Names of the grid variants the job comes from (``{"pooling": "domain"}``): columns of the
        table, not part of the key.
    """

    dataset: str
    spec: str = "chinchilla"
    pool: Mapping[str, str] = field(default_factory=dict)
    priors: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    holdout: str | None = None
    seed: int = SEED
    draws: int = DRAWS
    tune: int = TUNE
    chains: int = CHAINS
    target_accept: float = TARGET_ACCEPT
    backend: str = DEFAULT_BACKEND
    drop_outliers: bool = False
    split: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for name in ("seed", "draws", "tune", "chains"):  # 50.5 draws would be cut to 50 below
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
                raise BackendError(f"{name} must be a whole number, got {value!r}")
        canonical = {
            "dataset": str(self.dataset), "spec": str(self.spec),
            "pool": {str(k): str(v) for k, v in sorted(dict(self.pool).items())},
            "priors": {str(k): Prior.from_dict(v, where=f"prior for '{k}'").to_dict()
                       for k, v in sorted(dict(self.priors).items())},
            "holdout": None if self.holdout in (None, "", "none") else str(self.holdout),
            "seed": int(self.seed), "draws": int(self.draws), "tune": int(self.tune), "chains": int(self.chains),
            "target_accept": float(self.target_accept), "backend": str(self.backend),
            "drop_outliers": bool(self.drop_outliers), "split": str(self.split) if self.split else None,
            "tags": {str(k): str(v) for k, v in dict(self.tags).items()},
        }
        for name, value in canonical.items():
            object.__setattr__(self, name, value)

    def sampler(self) -> SamplerSettings:
        """The job's sampler settings, as its fit and backtest take them."""
        return SamplerSettings(backend=self.backend, draws=self.draws, tune=self.tune, chains=self.chains,
                               seed=self.seed, target_accept=self.target_accept)

    def to_dict(self) -> dict[str, Any]:
        """The job's defining fields (not its tags), JSON-able."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "tags"}

    @property
    def key(self) -> str:
        """16 hex digits of the SHA-256 of the canonical JSON: the same in every process and session."""
        text = json.dumps({"format": KEY_FORMAT, **self.to_dict()}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def __hash__(self) -> int:
        return hash(self.key)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Job:
        """Inverse of :meth:`to_dict` (``tags`` may be included)."""
        return cls(**dict(data))


# -- jobs from a TOML grid -------------------------------------------------------------------------

GRID_KEYS = ("datasets", "specs", "holdouts", "seeds", "drop_outliers", "split")
SAMPLER_KEYS = ("draws", "tune", "chains", "target_accept", "backend")


def jobs_from_toml(path: str | Path) -> list[Job]:
    """Expand a sweep file into jobs: datasets x specs x pooling variants x prior variants x holdouts x seeds.

    The file has a ``[sweep]`` table (``datasets`` (required), ``specs``, ``holdouts`` (``"none"`` is
    a plain fit), ``seeds``, ``drop_outliers``, ``split``), a ``[sampler]`` table (``draws``,
    ``tune``, ``chains``, ``target_accept``, ``backend``), pooling variants ``[pooling.<name>]``
    (``alpha = "domain"``) and prior variants ``[priors.<axis>.<name>]`` (``alpha = { dist = ... }``):
    the variants of different prior axes are combined, an empty table means "the spec's own". Paths
    of CSVs and spec files are relative to the sweep file.

    Raises
    ------
    SpecError
        If the file is missing, not TOML, or has unknown keys or malformed tables.
    """
    path = Path(path)
    return jobs_from_dict(read_toml(path, "sweep file"), base=path.parent, where=f"sweep file {path}")


def jobs_from_dict(doc: Mapping[str, Any], base: str | Path = ".", where: str = "sweep") -> list[Job]:
    """Expand a parsed sweep document (see :func:`jobs_from_toml`) into jobs."""
    base = Path(base)
    _check_keys(doc, ("sweep", "sampler", "pooling", "priors"), where)
    grid, sampler = _table(doc, "sweep", where), _table(doc, "sampler", where)
    _check_keys(grid, GRID_KEYS, f"{where} [sweep]")
    _check_keys(sampler, SAMPLER_KEYS, f"{where} [sampler]")
    if "datasets" not in grid:
        raise SpecError(f"{where}: [sweep] needs datasets = [...] (registered names or CSV paths)")
    axes = product(
        [_local(str(d), base) for d in _list(grid, "datasets", where)],
        [_local(str(s), base) for s in _list(grid, "specs", where, ["chinchilla"])],
        _pooling_variants(_table(doc, "pooling", where), where),
        _prior_variants(_table(doc, "priors", where), where),
        _list(grid, "holdouts", where, ["none"]),
        _list(grid, "seeds", where, [1]),
    )
    try:
        return [Job(dataset=d, spec=s, pool=pool, priors=priors, holdout=h, seed=seed, **sampler,
                    drop_outliers=grid.get("drop_outliers", False), split=grid.get("split") or None,
                    tags={**pool_tags, **prior_tags})
                for d, s, (pool_tags, pool), (prior_tags, priors), h, seed in axes]
    except BayesScalingError as exc:
        raise SpecError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise SpecError(f"{where}: malformed value ({exc})") from None


def _check_keys(table: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {unknown}; allowed: {list(allowed)}")


def _table(doc: Mapping[str, Any], name: str, where: str) -> dict[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, Mapping):
        raise SpecError(f"{where}: '{name}' must be a table ([{name}])")
    return dict(value)


def _list(table: Mapping[str, Any], name: str, where: str, default: list | None = None) -> list:
    value = table.get(name, default)
    if not isinstance(value, list) or not value:
        raise SpecError(f"{where}: '{name}' must be a non-empty list, got {value!r}")
    return value


def _local(name: str, base: Path) -> str:
    """A path relative to the sweep file if such a file exists there; the name unchanged otherwise."""
    candidate = base / name
    return str(candidate.resolve()) if name.endswith((".csv", ".toml")) and candidate.is_file() else name


def _pooling_variants(table: Mapping[str, Any], where: str) -> list[tuple[dict, dict]]:
    if not table:
        return [({}, {})]
    for name, levels in table.items():
        if not isinstance(levels, Mapping):
            raise SpecError(f"{where}: [pooling.{name}] must be a table of parameter = level")
    return [({"pooling": name}, dict(levels)) for name, levels in table.items()]


def _prior_variants(table: Mapping[str, Any], where: str) -> list[tuple[dict, dict]]:
    axes = []
    for axis, variants in table.items():
        if not isinstance(variants, Mapping) or not variants or not all(isinstance(v, Mapping) for v in variants.values()):
            raise SpecError(f"{where}: [priors.{axis}] must hold variant tables such as [priors.{axis}.tight] "
                            f"with alpha = {{ dist = \"Normal\", mu = 0.3, sigma = 0.1 }}")
        axes.append([(axis, name, dict(priors)) for name, priors in variants.items()])
    out = []
    for combo in product(*axes):
        tags, priors = {}, {}
        for axis, name, chosen in combo:
            clash = sorted(set(priors) & set(chosen))
            if clash:
                raise SpecError(f"{where}: prior axes set the same parameter(s) {clash}")
            tags[f"prior_{axis}"] = name
            priors.update(chosen)
        out.append((tags, priors))
    return out


# -- one job: its spec, its runs, and what can be checked before it runs ----------------------------

def job_spec(job: Job) -> ModelSpec:
    """The job's spec with its prior and pooling overrides applied (raises :class:`SpecError`)."""
    spec = load_spec(job.spec)
    if job.priors:
        law = spec.law_obj
        spec = spec.with_priors(**{(k if k in NOISE else resolve_parameter(k, law)): Prior.from_dict(v)
                                   for k, v in job.priors.items()})
    if job.pool:
        spec = spec.with_pooling(**job.pool)
    return spec


def job_runs(job: Job, spec: ModelSpec | None = None) -> Runs:
    """The job's runs: a CSV file (read for ``spec``'s law), or a registered dataset (raises
    :class:`InputError`/:class:`DatasetError`)."""
    if Path(job.dataset).is_file():
        if job.split or job.drop_outliers:
            raise InputError(f"split and drop_outliers apply to registered datasets, not to the CSV {job.dataset}")
        return read_runs(job.dataset, inputs=None if spec is None else spec.law_obj.inputs)
    return datasets.load(job.dataset, drop_outliers=job.drop_outliers, split=job.split)


def validate_job(job: Job) -> None:
    """Check what can be checked without the data: spec, overrides, dataset name, split, sampler.

    Raises
    ------
    SpecError, DatasetError, BackendError
    """
    job_spec(job)
    if not Path(job.dataset).is_file():
        entry = datasets.info(job.dataset)  # DatasetError names the registered ones
        if job.split and job.split not in entry.splits:
            raise DatasetError(f"dataset '{job.dataset}' has no split {job.split!r}; splits: {list(entry.splits)}")
    if job.holdout is not None and job.holdout.partition(":")[0].strip() not in HOLDOUT_COLUMNS:
        raise SpecError(f"holdout '{job.holdout}' must start with one of {', '.join(HOLDOUT_COLUMNS)} and a colon, "
                        "e.g. 'compute:0.2' (see bayes_scaling.validation.splits.split_holdout)")
    if job.backend not in BACKENDS:
        raise BackendError(f"unknown backend '{job.backend}'; choose one of {', '.join(BACKENDS)}")
    job.sampler().check()  # draws, tune and chains at least 1, a seed of 0 or more, target_accept in (0, 1)


__all__ = ["Job", "job_runs", "job_spec", "jobs_from_dict", "jobs_from_toml", "validate_job"]
