"""Reading a fit file straight from HDF5, the subset of NetCDF-4 this package writes.

``xr.open_datatree(engine="h5netcdf")`` spends most of a read command's time above the import floor
resolving every variable's dimensions through h5netcdf's objects (about 0.3 s for a fit of 74
variables, where reading their values takes 0.05 s). A fit file holds only plain variables:
numbers, booleans stored as ``int8`` with ``dtype="bool"``, UTF-8 strings, ``NaN`` as the fill value
of floats, and coordinates named by the CF ``coordinates`` attribute. :func:`read_plain_tree`
decodes exactly that, naming each axis by the dimension scale HDF5 attaches to it, and returns
``None`` for anything else (a scaled or time-encoded variable, a fill value other than ``NaN``, a
file written by another tool), so the caller reads that file with xarray. The result is the tree
xarray reads, values, dtypes, coordinates and attributes alike (``tests/test_storage_read.py``).
"""

from __future__ import annotations

import h5py
import numpy as np
import xarray as xr

#: The attributes h5netcdf keeps for NetCDF-4's and HDF5's bookkeeping and does not show.
_HIDDEN = frozenset({"DIMENSION_LIST", "REFERENCE_LIST", "CLASS", "NAME", "_Netcdf4Dimid",
                     "_Netcdf4Coordinates", "_NCProperties", "_nc3_strict"})
#: The attributes of a variable that xarray's decoding consumes (fill value, CF coordinates, booleans).
_DECODED = frozenset({"_FillValue", "coordinates", "dtype"})
#: Attributes whose presence means a CF decoding this reader does not do.
_ENCODED = frozenset({"scale_factor", "add_offset", "missing_value", "_Unsigned", "units", "calendar",
                      "_Encoding", "flag_values", "flag_meanings", "valid_range", "valid_min", "valid_max"})
#: The prefix of the ``NAME`` of a dimension that is not also a variable.
_PURE_DIMENSION = b"This is a netCDF dimension but not a netCDF variable"
#: The prefix h5netcdf gives a variable named like a dimension it does not lie along.
_RENAMED = "_nc4_non_coord_"


class _Unsupported(Exception):
    """Something in the file this reader does not decode as xarray would."""


def read_plain_tree(path: str) -> xr.DataTree | None:
    """The file's tree, decoded as xarray's h5netcdf backend decodes it, or ``None`` where the file
    holds something this reader does not decode (the caller then reads it with xarray)."""
    try:
        with h5py.File(path, "r") as handle:
            return _tree(handle)
    except OSError:
        raise  # unreadable or damaged: xarray would fail the same way, and the caller says which
    except Exception:  # noqa: BLE001 -- _Unsupported, or a structure xarray may still read (it decides)
        return None


def _tree(handle: h5py.File) -> xr.DataTree:
    groups: dict[str, xr.Dataset] = {}
    _collect(handle, "/", groups)
    if groups["/"].variables:
        raise _Unsupported("variables at the root, which xarray's tree may inherit")
    return xr.DataTree.from_dict(groups)


def _collect(group: h5py.Group, path: str, out: dict[str, xr.Dataset]) -> None:
    datasets, subgroups = {}, {}
    for name, item in group.items():  # each object is opened once
        if isinstance(item, h5py.Dataset):
            datasets[name] = item
        elif isinstance(item, h5py.Group):
            subgroups[name] = item
        else:
            raise _Unsupported(f"an HDF5 object of type {type(item).__name__}")
    out[path] = _dataset(group, datasets)
    for name, item in subgroups.items():
        _collect(item, f"{path.rstrip('/')}/{name}", out)


def _is_scale(item: h5py.Dataset) -> bool:
    return item.attrs.get("CLASS") == b"DIMENSION_SCALE"


def _dataset(group: h5py.Group, datasets: dict[str, h5py.Dataset]) -> xr.Dataset:
    variables, coord_names = {}, set()
    for name, item in datasets.items():
        if name.startswith(_RENAMED):
            raise _Unsupported(f"variable {name!r} renamed by h5netcdf")
        scale = _is_scale(item)
        if scale and bytes(item.attrs.get("NAME", b"")).startswith(_PURE_DIMENSION):
            continue
        attrs = _attrs(item.attrs, _HIDDEN | _DECODED)
        variables[name] = xr.Variable(_variable_dims(name, item, scale), _values(item), attrs)
        if scale:
            coord_names.add(name)
        if "coordinates" in item.attrs:
            coord_names.update(_text(item.attrs["coordinates"]).split())
    coordinates = group.attrs.get("coordinates")
    if isinstance(coordinates, bytes | np.bytes_):
        coordinates = _ascii(coordinates)
    if isinstance(coordinates, str):
        coord_names.update(coordinates.split())
    if not coord_names <= set(variables):
        raise _Unsupported("a coordinate named in 'coordinates' that is not in its group")
    coords = {name: variables.pop(name) for name in list(variables) if name in coord_names}
    hidden = _HIDDEN | ({"coordinates"} if isinstance(coordinates, str) else set())
    return xr.Dataset(variables, coords=coords, attrs=_attrs(group.attrs, hidden))


def _variable_dims(name: str, item: h5py.Dataset, scale: bool) -> tuple[str, ...]:
    """The names of the dimension scales attached to each axis, as h5netcdf resolves them."""
    if item.shape is None:
        raise _Unsupported(f"variable {name!r} without a dataspace")
    if item.ndim == 0:
        return ()
    if scale:
        if item.ndim != 1:
            raise _Unsupported(f"a {item.ndim}-d dimension scale {name!r}")
        return (name,)
    if "DIMENSION_LIST" not in item.attrs:
        raise _Unsupported(f"variable {name!r} without dimension scales")
    dims = []
    for refs in item.attrs["DIMENSION_LIST"]:
        if len(refs) != 1:
            raise _Unsupported(f"an axis of {name!r} with {len(refs)} dimension scales")
        dims.append(h5py.h5r.get_name(refs[0], item.file.id).decode("utf-8").rsplit("/", 1)[-1])
    if len(dims) != item.ndim:
        raise _Unsupported(f"variable {name!r} with {len(dims)} dimension scales for {item.ndim} axes")
    return tuple(dims)


def _values(item: h5py.Dataset) -> np.ndarray:
    if any(key in _ENCODED for key in item.attrs):
        raise _Unsupported(f"variable {item.name!r} is CF-encoded")
    kind = item.dtype.kind
    if kind == "O":
        string = h5py.check_string_dtype(item.dtype)
        if string is None or string.encoding != "utf-8" or "_FillValue" in item.attrs or "dtype" in item.attrs:
            raise _Unsupported(f"variable {item.name!r} of an HDF5 object type, or strings xarray decodes further")
        return np.asarray(item.asstr()[()], dtype=object).astype(str)
    if kind not in "biuf" or item.dtype.names is not None:
        raise _Unsupported(f"variable {item.name!r} of dtype {item.dtype}")
    values = np.asarray(item[()])
    if not values.dtype.isnative:
        values = values.astype(values.dtype.newbyteorder("="))
    fill = item.attrs.get("_FillValue")
    if fill is not None and not (kind == "f" and np.all(np.isnan(np.asarray(fill, dtype=float)))):
        raise _Unsupported(f"variable {item.name!r} with a fill value other than NaN")
    flag = item.attrs.get("dtype")
    if flag is not None:
        if not isinstance(flag, str) or flag != "bool" or kind not in "iu":
            raise _Unsupported(f"variable {item.name!r} with dtype attribute {flag!r}")
        values = values.astype(bool)
    return values


def _attrs(attrs: h5py.AttributeManager, hidden: frozenset[str] | set[str]) -> dict:
    return {key: _attr(value) for key, value in attrs.items() if key not in hidden}


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | np.bytes_):
        return _ascii(value)
    raise _Unsupported("a 'coordinates' attribute that is not text")


def _ascii(value: bytes) -> str:
    try:
        return bytes(value).decode("ascii")
    except UnicodeDecodeError:
        raise _Unsupported("an attribute of bytes that are not ASCII") from None


def _attr(value: object) -> object:
    """An attribute as h5netcdf hands it to xarray: text as ``str``, a one-element array as its
    scalar, a 1-d array of variable-length text as a list of ``str``; anything else is unsupported."""
    if isinstance(value, h5py.Empty):
        raise _Unsupported("an empty attribute")
    if isinstance(value, bytes | np.bytes_):
        return _ascii(value)
    if isinstance(value, np.ndarray):
        if value.ndim > 1 or value.dtype.kind in "SUV" or value.dtype.names is not None:
            raise _Unsupported(f"an attribute array of dtype {value.dtype} and {value.ndim} dimensions")
        if value.dtype.kind == "O":
            items = value.tolist()
            if not all(isinstance(v, str) for v in items):
                raise _Unsupported("an attribute array of objects that are not text")
            return items[0] if value.size == 1 else items
        return value[0] if value.size == 1 else value
    if not isinstance(value, str | int | float | np.number | np.bool_):
        raise _Unsupported(f"an attribute of type {type(value).__name__}")
    return value
