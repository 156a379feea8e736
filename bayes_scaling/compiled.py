"""A nutpie model whose compiled log density persists across processes.

nutpie compiles a PyMC model in two layers: PyTensor turns the log density, its gradient and the
deterministics into numba functions, and nutpie wraps them in two C callbacks that the Rust sampler
calls. PyTensor caches the first layer on disk (under its ``base_compiledir``), keyed by the graph;
nutpie's wrappers close over the data and are compiled again in every process, which is most of the
time a fresh shell spends before the first draw (about 3 s of 4 on Epoch's runs, 2 cores).

:func:`compile_model` builds the same two callbacks from generated source whose only free names are
globals (the PyTensor functions, the dtypes), registers that source with PyTensor's cache under a
key derived from PyTensor's own graph keys, the source and the versions of numba, PyTensor and
nutpie, and compiles them with ``cache=True``. A second process with the same model structure loads
them from the same cache directory. The data stay runtime inputs: every shared variable (each
``pm.Data``) is read through pointers in a small array handed to the callbacks, so runs of another
study with the same spec reuse the compiled code. The draws are those of ``pm.sample(...,
nuts_sampler="nutpie")``: the same functions are called in the same order.

Finding PyTensor's graph keys means rewriting and linking the graphs (nutpie's ``_make_functions``),
about 1 s even when every numba function then loads from the cache. So each build also writes a
small record, keyed by the model's structure before any rewrite (:func:`bayes_scaling.graph_key.model_key`):
the sizes, names and shapes nutpie needs, the order of the data slots and the callbacks' cache keys.
A process that finds the record assembles the model from it and the cached callbacks without
rewriting anything; where the record or the callbacks are missing or damaged, it builds as above.

Where a model cannot be cached this way (a graph PyTensor cannot key, a shared variable of more than
one dimension), :func:`compile_model` falls back to ``nutpie.compile_pymc_model``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .inference import COMPILE_FLAGS

#: Version of the stored records' layout.
RECORD_LAYOUT = 1

#: Source of the log-density callback: ``{unpack}`` binds the shared arrays ``s0, s1, ...``.
LOGP_SRC = """
def logp_callback(dim, x_, out_, logp_, user_data_):
    if dim != {n_dim}:
        return -1
    try:
        x = carray(x_, ({n_dim},))
        out = carray(out_, ({n_dim},))
        logp = carray(logp_, ())
        ud = carray(user_data_, ({n_user},), uint64)
{unpack}
        logp_val, grad = inner_logp(x{args})
        logp[()] = logp_val
        out[...] = grad
        if not np.all(np.isfinite(out)):
            return 3
        if not np.isfinite(logp_val):
            return 4
    except Exception:
        return 1
    return 0
"""

#: Source of the callback that maps a point to the stored (expanded) variables.
EXPAND_SRC = """
def expand_callback(dim, expanded, x_, out_, user_data_):
    if dim != {n_dim}:
        return -1
    if expanded != {n_expanded}:
        return -1
    try:
        x = carray(x_, ({n_dim},))
        out = carray(out_, ({n_expanded},))
        ud = carray(user_data_, ({n_user},), uint64)
{unpack}
        (values,) = inner_expand(x{args})
        out[...] = values
    except Exception:
        return -2
    return 0
"""


TEMPLATES = {"logp": LOGP_SRC, "expand": EXPAND_SRC}


def _signature(cb: str) -> Any:
    """The C signature nutpie calls the callback with."""
    from numba import types

    ptr = types.CPointer(types.double)
    if cb == "logp":
        return types.int64(types.uint64, ptr, ptr, ptr, types.voidptr)
    return types.int64(types.uint64, types.uint64, ptr, ptr, types.voidptr)


@contextlib.contextmanager
def _arviz_as_base() -> Iterator[None]:
    """While nutpie is first imported, its ``import arviz`` binds ``arviz_base``.

    nutpie takes two names from ``arviz``, ``from_dict`` and ``dict_to_dataset``, both
    ``arviz_base``'s own (``arviz`` re-exports them). Importing the ``arviz`` package also imports
    arviz_stats with scipy.stats, and arviz_plots with matplotlib where it is installed: 1-1.5 s of a
    fit from a cold shell. Outside this block ``import arviz`` is untouched, and where arviz or nutpie
    is already imported nothing changes.
    """
    if "arviz" in sys.modules or "nutpie" in sys.modules:
        yield
        return
    import arviz_base

    sys.modules["arviz"] = arviz_base
    try:
        yield
    finally:
        if sys.modules.get("arviz") is arviz_base:
            del sys.modules["arviz"]


def import_nutpie() -> Any:
    """``import nutpie``, without the ``arviz`` package's plotting and statistics (see :func:`_arviz_as_base`)."""
    with _arviz_as_base():
        import nutpie
        import nutpie.compile_pymc

    return nutpie


def sample_nutpie(model: Any, draws: int, tune: int, chains: int, seed: int, cores: int, options: dict,
                  progressbar: bool) -> xr.DataTree:
    """What ``pm.sample(nuts_sampler="nutpie", ...)`` does, with the model compiled by :func:`compile_model`.

    The chains' seed, the initial points (PyMC's support point, jittered) and the output layout are
    PyMC's; ``options`` go to ``nutpie.sample`` (``target_accept``, ``adaptation``).
    """
    nutpie = import_nutpie()
    from nutpie.compile_pymc import _wrap_with_lock
    from pymc.backends.arviz import patch_nutpie_idata
    from pymc.initial_point import make_initial_point_fn
    from pymc.util import get_random_generator

    chain_seed = int(get_random_generator(seed).spawn(chains)[0].integers(2**30))
    initial_point_fn = _wrap_with_lock(make_initial_point_fn(
        model=model, default_strategy="support_point", jitter_rvs=set(model.free_RVs), return_transformed=True))
    compiled = compile_model(model, initial_point_fn) or nutpie.compile_pymc_model(model)
    logging.getLogger("pymc").info(f"NUTS[nutpie]: {model.free_RVs}")  # the line pm.sample prints
    start = time.time()
    idata = nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, cores=cores, seed=chain_seed,
                          save_warmup=False, store_unconstrained=False, progress_bar=progressbar, **options)
    patch_nutpie_idata(idata, model, sampling_time=time.time() - start)
    return idata


def compile_model(model: Any, initial_point_fn: Any) -> Any:
    """A nutpie ``CompiledPyMCModel`` of ``model`` whose callbacks load from PyTensor's numba cache.

    Parameters
    ----------
    model : pymc.Model
        The model to sample.
    initial_point_fn : callable
        ``seed -> dict`` of transformed initial values, as ``nutpie.compile_pymc_model`` builds it.

    Returns
    -------
    nutpie.compile_pymc.CompiledPyMCModel
        Ready for ``nutpie.sample``; ``None`` when the model cannot be cached this way.

    Notes
    -----
    Compiled without fast-math (as every backend here samples): with it, LLVM may rearrange the
    arithmetic of the callback and the PyTensor function it inlines differently when it compiles
    both at once than when it loads them, and a cached process would not repeat a cold one's draws.
    """
    import pytensor

    with pytensor.config.change_flags(**COMPILE_FLAGS):
        return _compile(model, initial_point_fn)


def _compile(model: Any, initial_point_fn: Any) -> Any:
    from .graph_key import model_key

    key = model_key(model, _record_settings())
    if key is not None:
        record = read_record(key)
        if record is not None:
            try:
                compiled = _from_record(model, initial_point_fn, record)
            except Exception:  # noqa: BLE001 - callbacks not in the cache (_CacheMiss), a damaged record or
                compiled = None  # cache entry: the full build is the reference
            if compiled is not None:
                return compiled
    compiled, record = _build(model, initial_point_fn)
    names = record.get("shared", [])
    if compiled is not None and key is not None and None not in names and len(set(names)) == len(names):
        write_record(key, record)  # data found again by name: unnamed or repeated names are not recorded
    return compiled


def _record_settings() -> tuple:
    """What a record depends on besides the model: compile flags, the callbacks' templates, this package."""
    from .version import package_version

    templates = hashlib.sha256((LOGP_SRC + EXPAND_SRC).encode()).hexdigest()
    return (*sorted(COMPILE_FLAGS.items()), ("templates", templates), ("layout", RECORD_LAYOUT),
            ("bayes_scaling", package_version()))


def _build(model: Any, initial_point_fn: Any) -> tuple[Any, dict]:
    """Rewrite and link the model's functions (nutpie's ``_make_functions``) and wrap them in callbacks."""
    from nutpie.compile_pymc import _make_functions

    n_dim, n_expanded, logp_pt, expand_pt, init_fn, shape_info, renamed = _make_functions(
        model, mode="NUMBA", compute_grad=True, join_expanded=True, pymc_initial_point_fn=initial_point_fn)
    shared = list(dict.fromkeys([*logp_pt.get_shared(), *expand_pt.get_shared()]))
    values = [np.array(v.get_value(), order="C", copy=True) for v in shared]
    if any(v.ndim > 1 for v in values):
        return None, {}
    keys = [_graph_key(fn) for fn in (logp_pt, expand_pt)]
    if None in keys:
        return None, {}
    index = {var: i for i, var in enumerate(shared)}
    names, slices, shapes = shape_info
    record = {"n_dim": int(n_dim), "n_expanded": int(n_expanded), "n_free": len(model.free_RVs),
              "names": list(names), "slices": [[int(x.start), int(x.stop)] for x in slices],
              "shapes": [[int(d) for d in shape] for shape in shapes], "renamed": list(renamed),
              "shared": [v.name for v in shared],
              "slots": {"logp": [index[v] for v in logp_pt.get_shared()],
                        "expand": [index[v] for v in expand_pt.get_shared()]}}
    compiled = _assemble(model, values, shared, record, init_fn, shape_info,
                         {"logp": logp_pt.vm.jit_fn, "expand": expand_pt.vm.jit_fn},
                         graph_keys=dict(zip(("logp", "expand"), keys, strict=True)))
    compiled = dataclasses.replace(compiled, logp_func=logp_pt, expand_func=expand_pt)
    return compiled, record


def _from_record(model: Any, initial_point_fn: Any, record: dict) -> Any:
    """The compiled model from a stored record and the callbacks in numba's cache; ``None`` on any miss."""
    from nutpie.compile_pymc import _rv_dict_to_flat_array_wrapper

    shared = _shared_by_name(model, record["shared"])
    if shared is None:
        return None
    values = [np.array(v.get_value(), order="C", copy=True) for v in shared]  # types: fixed by the key
    names = record["names"]
    shapes = [tuple(shape) for shape in record["shapes"]]
    shape_info = (names, [slice(a, b) for a, b in record["slices"]], shapes)
    n_free = record["n_free"]
    init_fn = _rv_dict_to_flat_array_wrapper(initial_point_fn, names=names[:n_free], shapes=shapes[:n_free])
    return _assemble(model, values, shared, record, init_fn, shape_info,
                     {"logp": _NOT_COMPILED, "expand": _NOT_COMPILED})


class _CacheMiss(Exception):
    """A callback was not in numba's cache (and its inner function is not there to compile it)."""


#: Stands in for the PyTensor functions when the callbacks load from the cache: numba cannot type it,
#: so a callback that is not in the cache fails to compile instead of compiling something else.
_NOT_COMPILED = object()


def _assemble(model: Any, values: list[np.ndarray], shared: list[Any], record: dict, init_fn: Any,
              shape_info: tuple, inner: dict[str, Any], graph_keys: dict[str, str] | None = None) -> Any:
    """nutpie's model from its two callbacks. With ``graph_keys`` (a build) the callbacks' cache keys are
    derived and written into ``record``; without (a record's path) they are read from it."""
    import numba
    from nutpie.compile_pymc import CompiledPyMCModel, _prepare_dims_and_coords

    for v in values:
        v.flags.writeable = False
    user_data = np.array([x for v in values for x in (v.ctypes.data, v.size)], dtype=np.uint64)
    sizes = {"n_dim": record["n_dim"], "n_expanded": record["n_expanded"], "n_user": len(user_data)}
    cfuncs = {}
    for cb in ("logp", "expand"):
        slots = record["slots"][cb]
        src = _source(cb, slots, values, sizes)
        if graph_keys is not None:
            record[f"{cb}_key"] = _stamp(src, graph_keys[cb], [values[i].dtype for i in slots])
        fn = _callback(src, cb, inner[cb], slots, values, record[f"{cb}_key"])
        try:
            cfuncs[cb] = numba.cfunc(_signature(cb), cache=True)(fn)
        except numba.core.errors.NumbaError:
            if inner[cb] is _NOT_COMPILED:
                raise _CacheMiss(cb) from None
            raise
        if inner[cb] is _NOT_COMPILED and cfuncs[cb]._cache_hits != 1:
            raise _CacheMiss(cb)
    dims, coords = _prepare_dims_and_coords(model, shape_info, record["renamed"])
    names = [f"s{i}" for i in range(len(values))]
    return CompiledPyMCModel(
        _n_dim=record["n_dim"], dims=dims, _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info, strict=True)},
        compiled_logp_func=cfuncs["logp"], compiled_expand_func=cfuncs["expand"],
        initial_point_func=init_fn, shared_data=dict(zip(names, values, strict=True)),
        shared_var_keys=dict(zip(shared, names, strict=True)), user_data=user_data, n_expanded=record["n_expanded"],
        shape_info=shape_info, logp_func=None, expand_func=None, reparameterized_names=record["renamed"])


def _graph_key(fn: Any) -> str | None:
    """PyTensor's cache key of a compiled function's graph (``None`` where it has none)."""
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    jit_fn = getattr(getattr(fn, "vm", None), "jit_fn", None)
    return None if jit_fn is None else CACHED_SRC_FUNCTIONS.get(jit_fn.py_func)


def _source(cb: str, slots: list[int], values: list[np.ndarray], sizes: dict[str, int]) -> str:
    """The callback's source: ``{unpack}`` binds the shared arrays it reads as ``s0, s1, ...``."""
    unpack = "\n".join(f"        s{j} = carray(as_void(ud[{2 * i}]), "
                       + ("()" if values[i].ndim == 0 else f"(ud[{2 * i + 1}],)") + f", dtype{i})"
                       for j, i in enumerate(slots))
    return TEMPLATES[cb].format(unpack=unpack, args="".join(f", s{j}" for j in range(len(slots))), **sizes)


def _stamp(src: str, graph_key: str, dtypes: list[np.dtype]) -> str:
    """The callback's key in PyTensor's numba cache: its source, its inner graph's key and the versions."""
    stamp = "|".join([src, graph_key, *(str(d) for d in dtypes),
                      *(version(p) for p in ("numba", "pytensor", "nutpie"))])
    return hashlib.sha256(stamp.encode()).hexdigest()


def _callback(src: str, cb: str, inner: Any, slots: list[int], values: list[np.ndarray], key: str) -> Any:
    """The callback's Python function, registered with PyTensor's numba cache under ``key``."""
    from numba import carray
    from nutpie.compile_pymc import address_as_void_pointer
    from pytensor.link.numba.cache import compile_numba_function_src

    env = {"__name__": __name__, "carray": carray, "as_void": address_as_void_pointer, "uint64": np.uint64, "np": np,
           f"inner_{cb}": inner, **{f"dtype{i}": values[i].dtype.type for i in slots}}
    return compile_numba_function_src(src, f"{cb}_callback", global_env=env, cache_key=key)


def _shared_by_name(model: Any, names: list[str]) -> list[Any] | None:
    """The model's shared variables (its data) named ``names``, in that order; ``None`` if not unique."""
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.traversal import ancestors

    outputs = [*model.free_RVs, *model.observed_RVs, *model.deterministics, *model.potentials,
               *model.rvs_to_values.values()]
    found: dict[str, list[Any]] = {}
    for v in ancestors(outputs):
        if isinstance(v, SharedVariable) and v.name in names:
            found.setdefault(v.name, []).append(v)
    if any(len(found.get(n, ())) != 1 for n in names):
        return None
    return [found[n][0] for n in names]


def _store() -> Path:
    """Where the records of compiled models live: beside PyTensor's numba cache."""
    import pytensor

    return Path(pytensor.config.base_compiledir) / "bayes_scaling" / "models"


def read_record(key: str) -> dict | None:
    """The stored record of the model structure ``key``, or ``None`` (absent, unreadable or from another layout)."""
    try:
        record = json.loads((_store() / f"{key}.json").read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("layout") == RECORD_LAYOUT else None


def write_record(key: str, record: dict) -> None:
    """Store a record atomically; a folder that cannot be written only costs the next process the rewrites."""
    folder, temp = _store(), None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".tmp", delete=False) as out:
            temp = Path(out.name)
            json.dump({**record, "layout": RECORD_LAYOUT}, out)
        os.replace(temp, folder / f"{key}.json")
    except OSError:
        if temp is not None:  # no half-written record left beside the others
            temp.unlink(missing_ok=True)


__all__ = ["compile_model", "sample_nutpie"]
