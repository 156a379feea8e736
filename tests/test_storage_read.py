"""The direct HDF5 reader of fit files (``result.h5read``) gives the tree xarray's h5netcdf backend
reads, and hands whatever it does not decode back to xarray."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayes_scaling as bs
from bayes_scaling.errors import FitFileError
from bayes_scaling.result.h5read import read_plain_tree
from bayes_scaling.result.storage import read_tree


def _xarray_read(path) -> xr.DataTree:
    with xr.open_datatree(path, engine="h5netcdf") as tree:
        return tree.load()


def assert_same_tree(fast: xr.DataTree, ref: xr.DataTree) -> None:
    """Identical values, dims, coordinates and attributes, with the same dtypes, orders and attribute types."""
    xr.testing.assert_identical(fast, ref)
    for mine, theirs in zip(fast.subtree, ref.subtree, strict=True):
        assert mine.path == theirs.path
        assert list(mine.variables) == list(theirs.variables), mine.path
        assert list(mine.coords) == list(theirs.coords), mine.path
        for name, var in theirs.variables.items():
            assert mine[name].dtype == var.dtype, (mine.path, name)
        assert list(mine.attrs) == list(theirs.attrs), mine.path
        for key, value in theirs.attrs.items():
            assert type(mine.attrs[key]) is type(value), (mine.path, key)
            assert np.array_equal(np.asarray(mine.attrs[key]), np.asarray(value)), (mine.path, key)


def test_a_saved_fit_reads_as_xarray_reads_it(sim_fit, tmp_path):
    path = sim_fit.save(tmp_path / "fit.nc")
    fast = read_plain_tree(str(path))
    assert fast is not None, "a fit file is in the subset the direct reader decodes"
    assert_same_tree(fast, _xarray_read(path))
    assert bs.load_fit(path).posterior["alpha"].values.tolist() == sim_fit.posterior["alpha"].values.tolist()


def test_a_hierarchical_fit_with_labels_reads_as_xarray_reads_it(hier_fit, tmp_path):
    path = hier_fit.save(tmp_path / "hier.nc")
    fast = read_plain_tree(str(path))
    assert fast is not None
    assert_same_tree(fast, _xarray_read(path))
    assert fast["runs"]["task"].dtype.kind == "U"


def _plain_tree() -> xr.DataTree:
    """Strings, booleans, NaN, a dimension without a coordinate, a non-index coordinate, scalars, attrs."""
    runs = xr.Dataset(
        {"loss": ("run", [2.1, np.nan, 1.9]), "ok": ("run", [True, False, True]),
         "grid": (("run", "k"), np.arange(6, dtype=np.int32).reshape(3, 2)),
         "best": ((), 1.5)},
        coords={"run": [10, 11, 12], "task": ("run", ["a", "", "çà 東京"])},
        attrs={"note": "text", "scale": 6.0, "levels": np.array([0.5, 0.9]), "names": ["x", "y"]})
    return xr.DataTree.from_dict({"/": xr.Dataset(attrs={"format": "test"}), "/runs": runs,
                                  "/empty": xr.Dataset(attrs={"n": np.int64(3)})})


def test_plain_variables_round_trip_identically(tmp_path):
    path = tmp_path / "plain.nc"
    _plain_tree().to_netcdf(path, engine="h5netcdf")
    fast = read_plain_tree(str(path))
    assert fast is not None
    assert_same_tree(fast, _xarray_read(path))
    assert fast["runs"]["ok"].dtype == bool and np.isnan(fast["runs"]["loss"].values[1])


@pytest.mark.parametrize("encoded", ["time", "int_fill", "scaled"])
def test_what_it_does_not_decode_goes_to_xarray(tmp_path, encoded):
    ds = xr.Dataset({"loss": ("run", [2.1, 2.0, 1.9])}, coords={"run": [0, 1, 2]})
    if encoded == "time":
        ds["when"] = ("run", pd.date_range("2026-01-01", periods=3))
    elif encoded == "int_fill":
        ds["count"] = ("run", np.array([1, 2, 3], dtype=np.int64))
        ds["count"].encoding["_FillValue"] = -1
    else:
        ds["loss"].encoding.update({"scale_factor": 0.01, "dtype": "int16", "_FillValue": -9999})
    path = tmp_path / f"{encoded}.nc"
    xr.DataTree.from_dict({"/": xr.Dataset(), "/runs": ds}).to_netcdf(path, engine="h5netcdf")
    assert read_plain_tree(str(path)) is None
    assert_same_tree(read_tree(path), _xarray_read(path))


def test_a_damaged_fit_is_still_refused_in_one_line(sim_fit, tmp_path):
    path = sim_fit.save(tmp_path / "fit.nc")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(FitFileError, match="not a readable fit file"):
        read_tree(path)


def _write(path, ds: xr.Dataset) -> None:
    xr.DataTree.from_dict({"/": xr.Dataset(), "/g": ds}).to_netcdf(path, engine="h5netcdf")


def _edited(path, edit) -> None:
    import h5py

    _write(path, xr.Dataset({"v": ("x", [0.0, 1, 2]), "w": ("y", [0.0, 1, 2])}, coords={"x": [0, 1, 2]}))
    with h5py.File(path, "r+") as handle:
        edit(handle["g"])


def _reattach(group) -> None:
    group["v"].dims[0].detach_scale(group["x"])
    group["v"].dims[0].attach_scale(group["y"])


def _string_fill() -> xr.Dataset:
    ds = xr.Dataset({"s": ("x", ["a", "N/A"])})
    ds["s"].encoding["_FillValue"] = "N/A"
    return ds


def _ascii_strings(group) -> None:
    import h5py

    data = group.create_dataset("s", data=np.array([b"a", b"b", b"c"], dtype=object), dtype=h5py.string_dtype("ascii"))
    data.dims[0].attach_scale(group["x"])


FILES = {  # each is read exactly as xarray reads it, or handed to xarray; never read differently
    "big-endian": lambda p: _write(p, xr.Dataset({"v": ("x", np.arange(3, dtype=">f8"))})),
    "named like a dimension": lambda p: _write(p, xr.Dataset({"x": ("y", [1, 2]), "v": ("x", [1, 2, 3])})),
    "string fill value": lambda p: _write(p, _string_fill()),
    "group attributes named dtype": lambda p: _write(p, xr.Dataset(attrs={"dtype": "float64", "_FillValue": 1.0})),
    "dimensions re-attached": lambda p: _edited(p, _reattach),
    "empty attribute": lambda p: _edited(p, lambda g: g.attrs.create("e", __import__("h5py").Empty("S1"))),
    "bytes array attribute": lambda p: _edited(p, lambda g: g.attrs.__setitem__("s", np.array([b"a", b"b"]))),
    "non-ASCII bytes attribute": lambda p: _edited(p, lambda g: g.attrs.__setitem__("s", np.bytes_("café".encode()))),
    "2-d attribute": lambda p: _edited(p, lambda g: g.attrs.__setitem__("m", np.array([[1, 2]]))),
    "ASCII strings": lambda p: _edited(p, _ascii_strings),
    "group coordinates as bytes": lambda p: _edited(p, lambda g: g.attrs.__setitem__("coordinates", np.bytes_(b"v"))),
}


@pytest.mark.parametrize("case", list(FILES))
def test_files_outside_the_plain_subset_are_never_read_differently(tmp_path, case):
    path = tmp_path / "f.nc"
    FILES[case](path)
    fast = read_plain_tree(str(path))
    if fast is not None:
        assert_same_tree(fast, _xarray_read(path))
    assert_same_tree(read_tree(path), _xarray_read(path))
