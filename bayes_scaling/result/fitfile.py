"""Reading a saved fit back: the format, the checksums of its groups, its provenance and data hash."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import xarray as xr

from ..data.groups import Groups
from ..data.runs import Runs
from ..errors import FitFileError
from ..inference import Diagnostics, SamplerSettings, warn_if_unconverged
from ..spec import ModelSpec
from .fit import FORMAT, Fit
from .storage import CHECKSUM_ATTR, read_tree, verify_checksums


def load_fit(path: str | Path) -> Fit:
    """Read a fit written by :meth:`Fit.save`, checking its format and data hash.

    Raises
    ------
    FitFileError
        If the file is missing, corrupt, truncated, not a bayes_scaling fit, or its data does not
        match the recorded hash.
    """
    if not isinstance(path, (str, Path)):
        raise FitFileError(f"a fit file is a path, got {type(path).__name__}")
    path = Path(path)
    tree = read_tree(path)
    attrs = tree.attrs
    if attrs.get("format") != FORMAT:
        if str(attrs.get("format", "")).startswith(FORMAT.split("/")[0] + "/"):
            raise FitFileError(f"{path} is a bayes_scaling fit in format {attrs['format']!r}, which this version "
                               f"({FORMAT!r}) cannot read: read it with the version that wrote it")
        raise FitFileError(f"{path} was not written by bayes_scaling (format {attrs.get('format')!r})")
    if CHECKSUM_ATTR not in attrs:
        raise FitFileError(f"{path} has no checksums of its groups: it was written by bayes_scaling 0.1.0 "
                           "(which saved none) or was altered; refit to get a verifiable file")
    try:
        expected = json.loads(attrs[CHECKSUM_ATTR])
    except (TypeError, ValueError):
        raise FitFileError(f"{path} has damaged checksums") from None
    verify_checksums(tree, expected, path)
    missing = [g for g in ("posterior", "runs") if g not in tree.children]
    if missing:
        raise FitFileError(f"{path} lacks group(s) {missing}")
    try:
        runs = Runs.from_dataset(tree["runs"].to_dataset())
        spec = ModelSpec.from_dict(json.loads(attrs["spec"]))
        stored = json.loads(attrs["sampler"])
        settings = SamplerSettings(**{**stored, **{k: tuple(stored.get(k, ())) for k in ("dropped_chains",
                                                                                         "unstarted_chains")}})
        diagnostics = Diagnostics.from_dict(json.loads(attrs["diagnostics"]))
        pivots = pivots_from_json(json.loads(attrs["pivots"]), Groups.from_runs(runs))
    except (KeyError, TypeError, ValueError) as exc:
        raise FitFileError(f"{path} has damaged provenance: {exc}") from None
    if runs.digest != attrs.get("data_sha256"):
        raise FitFileError(f"{path}: the stored runs do not match the recorded data hash")
    idata = xr.DataTree.from_dict({name: tree[name].to_dataset() for name in tree.children if name != "runs"})
    idata.attrs.update(attrs)
    warn_if_unconverged(diagnostics)
    return Fit(idata, runs, spec, settings, diagnostics, pivots)


__all__ = ["load_fit"]


def pivots_from_json(data: Mapping, groups: Groups) -> dict[str, float | xr.DataArray]:
    """Inverse of :func:`pivots_to_json`."""
    out: dict[str, float | xr.DataArray] = {}
    for k, v in data.items():
        if isinstance(v, Mapping):
            level = str(v["level"])
            out[k] = xr.DataArray(np.asarray(v["values"], dtype=float), dims=level,
                                  coords={level: list(groups.labels(level))})
        else:
            out[k] = float(v)
    return out
