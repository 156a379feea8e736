"""Reading a fit file straight from HDF5, the subset of NetCDF-4 this package writes.

``xr.open_datatree(engine="h5netcdf")`` spends most of a read command's time above the import floor
resolving every variable's dimension scales through HDF5 references (about 0.3 s for a fit of 74
variables, where reading their values takes 0.05 s). A fit file holds only plain variables:
numbers, booleans stored as ``int8`` with ``dtype="bool"``, UTF-8 strings, ``NaN`` as the fill value
of floats, and coordinates named by the CF ``coordinates`` attribute. :func:`read_plain_tree`
decodes exactly that, using the dimension ids NetCDF-4 stores beside each variable, and returns
``None`` for anything else (a scaled or time-encoded variable, a fill value other than ``NaN``, a
file written by another tool), so the caller reads that file with xarray. The result is the tree
xarray reads, values, dtypes, coordinates and attributes alike (``tests/test_storage_read.py``).
"""

from __future__ import annotations

import h5py
import numpy as np
import xarray as xr

#: The attributes NetCDF-4 and HDF5 keep for their own bookkeeping, which xarray does not show.
_HIDDEN = frozenset({"DIMENSION_LIST", "REFERENCE_LIST", "CLASS", "NAME", "_Netcdf4Dimid",
                     "_Netcdf4Coordinates", "_NCProperties", "_FillValue", "coordinates", "dtype",
                     "_nc3_strict", "_IsNetcdf4Coordinate"})
#: Attributes whose presence means a CF decoding this reader does not do.
_ENCODED = frozenset({"scale_factor", "add_offset", "missing_value", "_Unsigned", "units", "calendar",
                      "_Encoding", "flag_values", "flag_meanings", "_FillValue_", "valid_range",
                      "valid_min", "valid_max"})
#: The prefix of the ``NAME`` of a dimension that is not also a variable.
_PURE_DIMENSION = b"This is a netCDF dimension but not a netCDF variable"


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
    groups = {}
    _collect(handle, "/", {}, groups)
    return xr.DataTree.from_dict(groups)


def _collect(group: h5py.Group, path: str, outer: dict[int, str], out: dict[str, xr.Dataset]) -> None:
    datasets = {name: item for name, item in group.items() if isinstance(item, h5py.Dataset)}
    dims = {**outer, **_dimension_ids(datasets)}
    if path != "/" and any(_dim_id(d) in outer for d in datasets.values() if _is_scale(d)):
        raise _Unsupported("a dimension redefined in a subgroup")
    out[path] = _dataset(group, datasets, dims)
    if path == "/" and out[path].variables:
        raise _Unsupported("variables at the root, which xarray's tree may inherit")
    for name, item in group.items():
        if isinstance(item, h5py.Group):
            _collect(item, f"{path.rstrip('/')}/{name}", dims, out)
        elif not isinstance(item, h5py.Dataset):
            raise _Unsupported(f"an HDF5 object of type {type(item).__name__}")


def _is_scale(item: h5py.Dataset) -> bool:
    return item.attrs.get("CLASS") == b"DIMENSION_SCALE"


def _dim_id(item: h5py.Dataset) -> int:
    value = item.attrs.get("_Netcdf4Dimid")
    if value is None:
        raise _Unsupported("a dimension scale without its NetCDF-4 id")
    return int(value)


def _dimension_ids(datasets: dict[str, h5py.Dataset]) -> dict[int, str]:
    """Dimension id -> name, for the dimensions defined in one group."""
    return {_dim_id(item): name for name, item in datasets.items() if _is_scale(item)}


def _dataset(group: h5py.Group, datasets: dict[str, h5py.Dataset], dims: dict[int, str]) -> xr.Dataset:
    variables, coord_names = {}, set()
    for name, item in datasets.items():
        if _is_scale(item) and bytes(item.attrs.get("NAME", b"")).startswith(_PURE_DIMENSION):
            continue
        names = _variable_dims(name, item, dims)
        variables[name] = xr.Variable(names, _values(item), _attrs(item.attrs))
        if _is_scale(item):
            coord_names.add(name)
        coord_names.update(str(_attr(item.attrs["coordinates"])).split() if "coordinates" in item.attrs else ())
    if "coordinates" in group.attrs:
        coord_names.update(str(_attr(group.attrs["coordinates"])).split())
    if not coord_names <= set(variables):
        raise _Unsupported("a coordinate named in 'coordinates' that is not in its group")
    coords = {name: variables.pop(name) for name in list(variables) if name in coord_names}
    return xr.Dataset(variables, coords=coords, attrs=_attrs(group.attrs))


def _variable_dims(name: str, item: h5py.Dataset, dims: dict[int, str]) -> tuple[str, ...]:
    if item.ndim == 0:
        return ()
    ids = item.attrs.get("_Netcdf4Coordinates")
    if _is_scale(item) and item.ndim == 1:
        return (name,)
    if ids is None or len(ids) != item.ndim or any(int(i) not in dims for i in ids):
        raise _Unsupported(f"variable {name!r} without resolvable NetCDF-4 dimension ids")
    return tuple(dims[int(i)] for i in ids)


def _values(item: h5py.Dataset) -> np.ndarray:
    if any(key in _ENCODED for key in item.attrs):
        raise _Unsupported(f"variable {item.name!r} is CF-encoded")
    kind = item.dtype.kind
    if kind == "O":
        if h5py.check_string_dtype(item.dtype) is None:
            raise _Unsupported(f"variable {item.name!r} of an HDF5 object type")
        return np.asarray(item.asstr()[()], dtype=object).astype(str)
    if kind not in "biuf" or item.dtype.names is not None:
        raise _Unsupported(f"variable {item.name!r} of dtype {item.dtype}")
    values = item[()]
    fill = item.attrs.get("_FillValue")
    if fill is not None and not (kind == "f" and np.all(np.isnan(np.asarray(fill, dtype=float)))):
        raise _Unsupported(f"variable {item.name!r} with a fill value other than NaN")
    flag = item.attrs.get("dtype")
    if flag is not None:
        if _attr(flag) != "bool" or kind not in "iu":
            raise _Unsupported(f"variable {item.name!r} with dtype attribute {flag!r}")
        values = values.astype(bool)
    return np.asarray(values)


def _attrs(attrs: h5py.AttributeManager) -> dict:
    return {key: _attr(value) for key, value in attrs.items() if key not in _HIDDEN}


def _attr(value: object) -> object:
    """An attribute as h5netcdf hands it to xarray: text as ``str``, a one-element array as its
    scalar, an array of text as a list of ``str``."""
    if isinstance(value, bytes | np.bytes_):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "OSU":
            items = [v.decode("utf-8") if isinstance(v, bytes) else v for v in value.ravel().tolist()]
            if not all(isinstance(v, str) for v in items):
                raise _Unsupported("an attribute holding HDF5 references")
            return items[0] if value.size == 1 else items
        return value[0] if value.size == 1 else value
    return value
