"""Bundled data and the registry of public datasets: mirror, cache, download, checksum.

``load(name)`` reads a registered dataset as validated :class:`~bayes_scaling.data.Runs`. Public
data is looked for in ``$BAYES_SCALING_DATA/<name>/<file>`` (a local mirror), then in the user cache,
then downloaded from its pinned URL; the SHA-256 is checked every time.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .data import Runs, read_runs
from .errors import DatasetError
from .resources import resource_dir

ENV_MIRROR = "BAYES_SCALING_DATA"


@dataclass(frozen=True)
class DatasetInfo:
    """One registry entry (see ``datasets/registry.toml``)."""

    name: str
    title: str
    licence: str
    citation: str
    file: str = ""
    url: str = ""
    sha256: str = ""
    bundled: str = ""
    columns: dict[str, str] = field(default_factory=dict)
    outliers: dict[str, Any] = field(default_factory=dict)
    notes: str = ""

    @property
    def is_bundled(self) -> bool:
        """True for data the project makes itself and ships."""
        return bool(self.bundled)


def registry() -> dict[str, DatasetInfo]:
    """All registered datasets by name."""
    data = tomllib.loads((resource_dir("datasets") / "registry.toml").read_text())
    return {name: DatasetInfo(name=name, **entry) for name, entry in data.items()}


def info(name: str) -> DatasetInfo:
    """The registry entry of ``name``; raises :class:`DatasetError` if unknown."""
    entries = registry()
    if name not in entries:
        raise DatasetError(f"unknown dataset '{name}'; registered: {', '.join(sorted(entries))}")
    return entries[name]


def cache_dir() -> Path:
    """Where downloaded datasets are kept."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bayes_scaling"


def locate(name: str, download: bool = True) -> Path:
    """Path of the dataset's file: bundled, mirror, cache, or freshly downloaded and verified.

    Raises
    ------
    DatasetError
        If the file cannot be found or fetched, or its checksum does not match.
    """
    entry = info(name)
    if entry.is_bundled:
        return resource_dir("datasets") / entry.bundled
    candidates = []
    mirror = os.environ.get(ENV_MIRROR)
    if mirror:
        candidates.append(Path(mirror) / name / entry.file)
    candidates.append(cache_dir() / name / entry.file)
    for path in candidates:
        if path.is_file():
            _verify(path, entry)
            return path
    if not download:
        raise DatasetError(f"dataset '{name}' is not available locally (looked in {', '.join(map(str, candidates))})")
    return _download(entry, candidates[-1])


def available(name: str) -> bool:
    """True if ``name`` can be loaded without the network."""
    try:
        locate(name, download=False)
    except DatasetError:
        return False
    return True


def load(name: str, drop_outliers: bool = False, download: bool = True) -> Runs:
    """Load a registered dataset as validated runs.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"epoch_chinchilla"`` or the bundled ``"chinchilla_sim"``.
    drop_outliers : bool
        Apply the exclusion rule the dataset's authors used (Epoch: drop the 5 highest-loss runs).
    download : bool
        Fetch from the pinned URL if the data is neither mirrored nor cached.

    Returns
    -------
    Runs
    """
    entry = info(name)
    runs = read_runs(locate(name, download), columns=entry.columns, source=name)
    if drop_outliers and entry.outliers:
        runs = _drop_outliers(runs, entry.outliers)
    return runs


def _drop_outliers(runs: Runs, rule: dict[str, Any]) -> Runs:
    if rule.get("rule") != "highest_loss":
        raise DatasetError(f"unknown outlier rule {rule!r}")
    loss = runs.column("loss")
    threshold = np.sort(loss)[-int(rule["count"])]
    table = runs.table[loss < threshold].reset_index(drop=True)
    return Runs(table, runs.compute_factor, runs.source + " (outliers dropped)")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _verify(path: Path, entry: DatasetInfo) -> None:
    digest = _sha256(path)
    if digest != entry.sha256:
        raise DatasetError(
            f"{path} does not match the registered checksum of '{entry.name}' "
            f"(sha256 {digest[:12]}…, expected {entry.sha256[:12]}…); remove it or fix the mirror"
        )


def _download(entry: DatasetInfo, target: Path) -> Path:
    try:
        with urllib.request.urlopen(entry.url, timeout=30) as response:
            payload = response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise DatasetError(
            f"dataset '{entry.name}' is not mirrored (set ${ENV_MIRROR}) nor cached, and downloading "
            f"{entry.url} failed: {getattr(exc, 'reason', exc)}"
        ) from None
    if hashlib.sha256(payload).hexdigest() != entry.sha256:
        raise DatasetError(f"download of '{entry.name}' does not match its registered checksum; not saved")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(payload)
    return target
