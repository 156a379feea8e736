"""Saving fits safely: atomic writes, a writability check before any work, and group checksums.

A fit file is written to a temporary file in the destination's folder, flushed to disk, and renamed
over the destination in one step, so a reader (or a crash) sees the previous file or the whole new
one, never a part. :func:`group_checksums` hashes the values of every group of a tree; the digests
are stored in the file and checked when it is read back, so an altered array is refused.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import h5netcdf
import numpy as np
import xarray as xr

from ..errors import FitFileError
from .h5read import read_plain_tree

#: Root attribute of a saved tree that holds the checksum of each group (JSON).
CHECKSUM_ATTR = "checksums"
#: The root attribute holding the checksum of the other root attributes (the provenance).
PROVENANCE_ATTR = "provenance_checksum"
#: How the root attributes are named among the groups in messages.
ROOT = "/"
#: Prefix of the temporary files a save writes beside its destination.
TEMP_PREFIX = ".bayes_scaling-"


def check_writable(path: str | Path) -> Path:
    """Refuse, before any sampling, an output path that cannot be written.

    Creates and removes an empty temporary file in the destination's folder, which is what a save
    does, so a missing or read-only folder, or a destination that is a folder, fails here.

    Raises
    ------
    FitFileError
        Naming the path and the reason.
    """
    path = Path(path)
    if path.is_dir():
        raise FitFileError(f"cannot write {path}: it is a directory")
    try:
        path = destination(path)
    except OSError as exc:
        raise FitFileError(f"cannot write {path}: {exc.strerror}") from None
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FitFileError(f"cannot write {path}: no such directory {folder}")
    try:
        fd, probe = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".probe", dir=folder)
    except OSError as exc:
        raise FitFileError(f"cannot write {path}: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(probe)
    return path


def destination(path: Path) -> Path:
    """The file a save replaces: ``path``, or the file a symbolic link at ``path`` points to (the link
    stays). An existing destination that is not a regular file (a device, a pipe, a socket) is refused
    with an OSError: renaming over it would replace it."""
    if path.is_symlink():
        path = path.resolve()
    if path.exists() and not path.is_file():
        raise OSError(errno.EEXIST, "it exists and is not a regular file", str(path))
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` (:func:`destination`); on success it is flushed and renamed over it.

    On any failure (or interrupt) the temporary file is removed and ``path`` is left as it was.
    """
    path = destination(Path(path))
    folder = path.parent if str(path.parent) else Path(".")
    fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX + path.name + ".", suffix=".tmp", dir=folder)
    os.close(fd)
    temp = Path(name)
    os.chmod(temp, 0o666 & ~_umask())  # mkstemp makes 0600; a saved fit gets the usual mode
    try:
        yield temp
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, path)
        _fsync_folder(folder)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open a folder
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_tree(tree: xr.DataTree, path: str | Path, checksums: bool = True) -> Path:
    """Write a DataTree to NetCDF (h5netcdf) atomically; returns the path.

    With ``checksums``, the groups are hashed and the digests go into the root attribute
    ``checksums`` before the file is renamed into place. :func:`dataset_checksum` hashes booleans,
    integers, floats, dates and strings in a form that survives the NetCDF round trip; a tree with
    object, bytes or timedelta arrays (which NetCDF may store differently, e.g. None as NaN) is hashed as it reads back
    from the written file.

    Raises
    ------
    FitFileError
        The destination cannot be written, or is not a path.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise FitFileError(f"a fit is saved to a path, got {type(path).__name__}")
    path = Path(path)
    if path.is_dir():
        raise FitFileError(f"cannot write {path}: it is a directory")
    try:
        tree = _plain_objects(tree)
        with atomic_path(path) as temp:
            tree.to_netcdf(temp, engine="h5netcdf")
            if checksums:
                source = tree if _round_trips(tree) else read_tree(temp)
                digests = json.dumps(group_checksums(source))
                with h5netcdf.File(temp, "r+") as handle:
                    handle.attrs[CHECKSUM_ATTR] = digests
                    handle.attrs[PROVENANCE_ATTR] = attrs_checksum(dict(source.attrs))
    except OSError as exc:
        raise FitFileError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def _plain_objects(tree: xr.DataTree) -> xr.DataTree:
    """The tree with each object variable that holds only None (nutpie's divergence messages of a
    clean run) as the NaN floats NetCDF stores for it, and each that holds only strings as strings."""
    def plain(values: np.ndarray) -> np.ndarray | None:
        items = values.ravel().tolist()
        if all(v is None for v in items):
            return np.full(values.shape, np.nan)
        if all(isinstance(v, str) for v in items):
            return values.astype(str)
        return None

    def convert(ds: xr.Dataset) -> xr.Dataset:
        new = {name: (var.dims, fixed, var.attrs) for name, var in ds.data_vars.items()
               if var.dtype.kind == "O" and (fixed := plain(var.values)) is not None}
        return ds.assign(new) if new else ds

    if not any(var.dtype.kind == "O" for node in tree.subtree for var in node.data_vars.values()):
        return tree
    return tree.map_over_datasets(convert)


def _round_trips(tree: xr.DataTree) -> bool:
    """Whether every variable is of a kind :func:`dataset_checksum` hashes the same after a NetCDF round trip."""
    return all(var.dtype.kind in "biufMU" for node in tree.subtree for var in node.variables.values())


def read_tree(path: str | Path) -> xr.DataTree:
    """Read a whole NetCDF DataTree into memory.

    Raises
    ------
    FitFileError
        Missing, unreadable (permissions) or damaged files, each with its own one-line reason.
    """
    path = Path(path)
    if path.is_dir():
        raise FitFileError(f"{path} is a directory, not a fit file")
    if path.exists() and not path.is_file():
        raise FitFileError(f"{path} is not a regular file (a device or a pipe), not a fit file")
    if not path.is_file():
        raise FitFileError(f"no such fit file: {path}")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(8)
    except OSError as exc:
        raise FitFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    if path.stat().st_size == 0:
        raise FitFileError(f"{path} is empty (0 bytes): not a fit file")
    if not magic.startswith((b"\x89HDF", b"CDF")):  # a fit is NetCDF-4 (HDF5)
        kind = "text (a CSV of runs? fit it with 'bayes-scaling fit')" if _is_text(magic) else "not NetCDF"
        raise FitFileError(f"{path} is not a fit file: it is {kind}")
    try:
        plain = read_plain_tree(str(path))
        if plain is not None:
            return plain
        with xr.open_datatree(path, engine="h5netcdf") as tree:
            return tree.load()
    except PermissionError as exc:
        raise FitFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001 -- h5py/netCDF raise many types for a damaged file
        raise FitFileError(f"{path} is not a readable fit file (corrupt or truncated?): {type(exc).__name__}") from None


def _is_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c >= 32 or c in b"\t\r\n" for c in head)


def _canonical(values: np.ndarray) -> bytes:
    """Bytes of an array that survive a NetCDF round trip (booleans, integer widths, strings)."""
    values = np.asarray(values)
    if values.dtype.kind == "b":
        return values.astype(np.uint8).tobytes()
    if values.dtype.kind in "iu":
        return values.astype(np.int64).tobytes()
    if values.dtype.kind == "f":
        return np.ascontiguousarray(values, dtype=np.float64).tobytes()
    if values.dtype.kind == "M":
        return values.astype("datetime64[ns]").astype(np.int64).tobytes()
    return "\x1f".join(str(v) for v in values.ravel()).encode()


def dataset_checksum(ds: xr.Dataset) -> str:
    """SHA-256 of a dataset's variables and coordinates: names, shapes, dims and values."""
    digest = hashlib.sha256()
    for name in sorted(map(str, [*ds.data_vars, *ds.coords])):
        da = ds[name]
        digest.update(f"{name}|{','.join(map(str, da.dims))}|{da.shape}|".encode())
        digest.update(_canonical(da.values))
    return digest.hexdigest()


def attrs_checksum(attrs: dict) -> str:
    """SHA-256 of the root attributes (the provenance a fit is read back with), the checksums left out."""
    digest = hashlib.sha256()
    for key in sorted(k for k in attrs if k not in (CHECKSUM_ATTR, PROVENANCE_ATTR)):
        value = attrs[key].tolist() if hasattr(attrs[key], "tolist") else attrs[key]  # numpy scalars read back
        digest.update(f"{key}\x1f{value}\x1e".encode())
    return digest.hexdigest()


def group_checksums(tree: xr.DataTree) -> dict[str, str]:
    """One checksum per child group of ``tree`` (see :func:`dataset_checksum`)."""
    return {name: dataset_checksum(tree[name].to_dataset()) for name in sorted(tree.children)}


def verify_checksums(tree: xr.DataTree, expected: dict[str, str], path: str | Path) -> None:
    """Raise :class:`FitFileError` if a group is missing or its values differ from when it was saved, or
    (where the file has its checksum: :data:`PROVENANCE_ATTR`) its root attributes do."""
    actual = group_checksums(tree)
    if PROVENANCE_ATTR in tree.attrs:  # beside the groups' checksums, so that earlier versions still read the file
        expected = {**expected, ROOT: str(tree.attrs[PROVENANCE_ATTR])}
    if ROOT in expected:
        actual = {**actual, ROOT: attrs_checksum(dict(tree.attrs))}
    missing = sorted(set(expected) - set(actual))
    if missing:
        raise FitFileError(f"{path} lacks group(s) {missing} that were saved")
    changed = sorted(name for name, digest in expected.items() if actual[name] != digest)
    if changed:
        what = ", ".join("its provenance (root attributes)" if n == ROOT else f"group '{n}'" for n in changed)
        verb = "differs" if len(changed) == 1 else "differ"
        raise FitFileError(f"{path}: {what} {verb} from what was saved (checksum mismatch): "
                           "the file was altered or damaged")
