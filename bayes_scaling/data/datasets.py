"""Bundled data and the registry of public datasets: mirror, cache, download, checksum.

``load(name)`` reads a registered dataset as validated :class:`~bayes_scaling.data.runs.Runs`. Public
data is looked for in ``$BAYES_SCALING_DATA/<name>/<file>`` (a local mirror), then in the user cache,
then downloaded from its pinned URL; the SHA-256 is checked every time. A dataset is one file or
several (``[<name>.files.<key>]`` tables); a named ``reader`` (see :mod:`bayes_scaling.data.readers`) turns
the original files into our columns, and datasets with ``splits`` can be loaded one split at a time.
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
import pandas as pd

from ..errors import DatasetError
from ..resources import resource_dir
from . import readers
from .runs import Runs, read_runs

ENV_MIRROR = "BAYES_SCALING_DATA"
#: Key of the only file of a single-file entry (``file``/``url``/``sha256`` at the top level).
SINGLE_FILE = "data"


@dataclass(frozen=True)
class DataFile:
    """One original file of a dataset.

    Attributes
    ----------
    file : str
        Its name in the mirror and the cache (``<mirror>/<dataset>/<file>``).
    sha256 : str
        SHA-256 of the file's bytes.
    url : str
        Pinned URL of an identical copy (downloadable); empty for a transcription.
    transcribed_from : str
        Pinned URL of the document a hand transcription was made from (not downloadable: the
        transcription must be mirrored or cached).
    """

    file: str
    sha256: str
    url: str = ""
    transcribed_from: str = ""

    @property
    def source(self) -> str:
        """Where the file comes from: its URL or the URL it was transcribed from."""
        return self.url or self.transcribed_from


@dataclass(frozen=True)
class DatasetInfo:
    """One registry entry (see ``datasets/registry.toml``).

    Attributes
    ----------
    files : dict of str to DataFile
        The original files by key; a single-file entry has the one key ``"data"``.
    reader : str
        Name of the function in :data:`bayes_scaling.data.readers.READERS` that makes our columns from
        the files; empty: the one file is read as a CSV with ``columns`` renamed.
    splits : tuple of str
        Named subsets ``load(name, split=...)`` accepts (e.g. ``("fit", "extrapolate")``); empty if none.
    folder : str
        The mirror's and cache's folder of the files (default: the name), for two entries that read
        different files of one source.
    schedules : str
        Name of the function in :data:`bayes_scaling.data.readers.SCHEDULE_READERS` that gives each
        curve's learning-rate schedule (:func:`schedules`); empty where the source gives none.
    """

    name: str
    title: str
    licence: str
    citation: str
    file: str = ""
    url: str = ""
    sha256: str = ""
    files: dict[str, DataFile] = field(default_factory=dict)
    reader: str = ""
    splits: tuple[str, ...] = ()
    bundled: str = ""
    columns: dict[str, str] = field(default_factory=dict)
    outliers: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    #: False where a count is a documented stand-in (a curve with no model size): skips the unit check.
    check_units: bool = True
    folder: str = ""
    schedules: str = ""

    @property
    def is_bundled(self) -> bool:
        """True for data the project makes itself and ships."""
        return bool(self.bundled)


def registry() -> dict[str, DatasetInfo]:
    """All registered datasets by name."""
    data = tomllib.loads((resource_dir("datasets") / "registry.toml").read_text())
    return {name: _entry(name, dict(entry)) for name, entry in data.items()}


def _entry(name: str, entry: dict[str, Any]) -> DatasetInfo:
    files = {key: DataFile(**spec) for key, spec in entry.pop("files", {}).items()}
    if not files and entry.get("file"):
        files = {SINGLE_FILE: DataFile(entry["file"], entry.get("sha256", ""), entry.get("url", ""))}
    splits = tuple(entry.pop("splits", ()))
    return DatasetInfo(name=name, files=files, splits=splits, **entry)


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


def locate(name: str, download: bool = True, key: str | None = None) -> Path:
    """Path of one file of the dataset: bundled, mirror, cache, or freshly downloaded and verified.

    Parameters
    ----------
    name : str
        Registry name.
    download : bool
        Fetch from the pinned URL if the file is neither mirrored nor cached.
    key : str, optional
        Which file of a multi-file dataset (a key of ``info(name).files``); not needed for one file.

    Raises
    ------
    DatasetError
        If the file cannot be found or fetched, its checksum does not match, or ``key`` is missing
        or unknown.
    """
    entry = info(name)
    if entry.is_bundled:
        return resource_dir("datasets") / entry.bundled
    if key is None and len(entry.files) == 1:
        key = next(iter(entry.files))
    if key not in entry.files:
        raise DatasetError(
            f"dataset '{name}' has files {', '.join(sorted(entry.files))}; "
            f"pass key= one of them{f', not {key!r}' if key is not None else ''}"
        )
    return _locate_file(entry, entry.files[key], download)


def locate_files(name: str, download: bool = True) -> dict[str, Path]:
    """Paths of all files of the dataset by key (bundled data: the one key ``"data"``).

    Raises
    ------
    DatasetError
        As :func:`locate`, for the first file that fails.
    """
    entry = info(name)
    if entry.is_bundled:
        return {SINGLE_FILE: resource_dir("datasets") / entry.bundled}
    return {key: _locate_file(entry, spec, download) for key, spec in entry.files.items()}


def available(name: str) -> bool:
    """True if ``name`` can be loaded without the network."""
    try:
        locate_files(name, download=False)
    except DatasetError:
        return False
    return True


def load(name: str, drop_outliers: bool = False, download: bool = True, split: str | None = None) -> Runs:
    """Load a registered dataset as validated runs.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"epoch_chinchilla"`` or the bundled ``"chinchilla_sim"``.
    drop_outliers : bool
        Apply the exclusion rule the dataset's authors used (Epoch: drop the 5 highest-loss runs).
    download : bool
        Fetch from the pinned URL if the data is neither mirrored nor cached.
    split : str, optional
        Only the runs of this split (one of ``info(name).splits``, e.g. ``"fit"`` or
        ``"extrapolate"``); ``None`` gives all runs.

    Returns
    -------
    Runs

    Raises
    ------
    DatasetError
        Unknown dataset or split, files not reachable or failing their checksum.
    """
    entry = info(name)
    _check_split(entry, split)
    if not entry.reader:
        runs = read_runs(locate(name, download), columns=entry.columns, source=name)
    else:
        table = _select_split(readers.read(entry.reader, locate_files(name, download)), entry, split)
        runs = read_runs(table, columns=entry.columns, check_units=entry.check_units,
                         source=name if split is None else f"{name} ({split} split)",
                         inputs=None if "params" in table else ("tokens",))  # a curve without model size
    if drop_outliers and entry.outliers:
        runs = _drop_outliers(runs, entry.outliers)
    return runs


def schedules(name: str, download: bool = True) -> pd.DataFrame:
    """Each curve's learning-rate schedule, for datasets of learning curves whose source gives it: one row
    per curve with the checkpoint-table columns ``curve``, ``schedule``, ``lr_warmup``, ``lr_final``,
    ``total_tokens`` and, where the decay ends early, ``lr_decay_end``
    (:mod:`bayes_scaling.data.schedules`), to merge into a checkpoint table.

    Raises
    ------
    DatasetError
        If the dataset gives no schedules, or its files cannot be found.
    """
    entry = info(name)
    if not entry.schedules:
        raise DatasetError(f"dataset '{name}' gives no learning-rate schedules")
    return readers.SCHEDULE_READERS[entry.schedules](locate_files(name, download))


def _check_split(entry: DatasetInfo, split: str | None) -> None:
    if split is None or split in entry.splits:
        return
    if not entry.splits:
        raise DatasetError(f"dataset '{entry.name}' has no splits; load it with split=None")
    raise DatasetError(
        f"dataset '{entry.name}' has no split {split!r}; its splits are {', '.join(map(repr, entry.splits))}"
    )


def _select_split(table: pd.DataFrame, entry: DatasetInfo, split: str | None) -> pd.DataFrame:
    if not entry.splits:
        return table
    if "split" not in table or not set(table["split"]) <= set(entry.splits):
        raise DatasetError(f"reader '{entry.reader}' does not label every row with one of the splits {entry.splits}")
    if split is not None:
        table = table[table["split"] == split]
    return table.drop(columns="split").reset_index(drop=True)


def _drop_outliers(runs: Runs, rule: dict[str, Any]) -> Runs:
    if rule.get("rule") != "highest_loss":
        raise DatasetError(f"unknown outlier rule {rule!r}")
    loss = runs.column("loss")
    threshold = np.sort(loss)[-int(rule["count"])]
    table = runs.table[loss < threshold].reset_index(drop=True)
    return Runs(table, runs.compute_factor, runs.source + " (outliers dropped)", runs.filled)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _locate_file(entry: DatasetInfo, spec: DataFile, download: bool) -> Path:
    candidates = []
    mirror = os.environ.get(ENV_MIRROR)
    if mirror:
        candidates.append(Path(mirror) / (entry.folder or entry.name) / spec.file)
    candidates.append(cache_dir() / (entry.folder or entry.name) / spec.file)
    for path in candidates:
        if path.is_file():
            _verify(path, entry, spec)
            return path
    if not download:
        raise DatasetError(
            f"dataset '{entry.name}' is not available locally (looked in {', '.join(map(str, candidates))})"
        )
    return _download(entry, spec, candidates[-1])


def _verify(path: Path, entry: DatasetInfo, spec: DataFile) -> None:
    digest = _sha256(path)
    if digest != spec.sha256:
        raise DatasetError(
            f"{path} does not match the registered checksum of '{entry.name}' "
            f"(sha256 {digest[:12]}…, expected {spec.sha256[:12]}…); remove it or fix the mirror"
        )


def _download(entry: DatasetInfo, spec: DataFile, target: Path) -> Path:
    if not spec.url:
        raise DatasetError(
            f"dataset '{entry.name}' is not mirrored (set ${ENV_MIRROR}) nor cached, and its file "
            f"{spec.file} is a transcription of {spec.transcribed_from} that cannot be downloaded; "
            f"put it in ${ENV_MIRROR}/{entry.name}/"
        )
    try:
        with urllib.request.urlopen(spec.url, timeout=30) as response:
            payload = response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise DatasetError(
            f"dataset '{entry.name}' is not mirrored (set ${ENV_MIRROR}) nor cached, and downloading "
            f"{spec.url} failed: {getattr(exc, 'reason', exc)}"
        ) from None
    if hashlib.sha256(payload).hexdigest() != spec.sha256:
        raise DatasetError(
            f"download of '{entry.name}' ({spec.file}) does not match its registered checksum; not saved"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(payload)
    return target
