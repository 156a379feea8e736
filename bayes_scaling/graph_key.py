"""A key of a PyMC model's structure, taken before PyTensor rewrites or compiles anything.

nutpie needs a model's log density, its gradient and the function that expands a point into the
stored variables. Building them (``nutpie.compile_pymc._make_functions``) rewrites and links the
graphs, which takes about 1 s of a fit from a cold shell even when the compiled code itself loads
from disk. :func:`model_key` names the model's structure so that what that step produces (the
sizes, names and shapes nutpie needs, and the keys of the cached callbacks) can be stored once and
read back by a later process with the same structure (:mod:`bayes_scaling.compiled`).

The key covers everything the rewritten graphs depend on: every node from the model's random
variables, deterministics and potentials to the roots, each op with all its parameters, the value of
every constant, the type, name and shape of every shared variable (the data) and the value of every
integer or boolean one (a dim's length, group indices), the transforms, the value variables,
``check_bounds``, and the versions of the packages that rewrite and compile. It leaves out the
values of the float data, which the compiled callbacks read at run time.

Only what a name and the package versions fix is written by name: classes and plain functions of
PyTensor, PyMC, numpy and scipy. Where a model holds anything else (a class made at run time, such
as the one ``CustomDist`` makes around a user's logp; a user's function, partial or closure; an op
without ``__props__`` or with a gradient override; a graph held in a parameter; an object whose
only text is its address) there is no key and the model is compiled as usual.
"""

from __future__ import annotations

import functools
import hashlib
import sys
import types
from importlib.metadata import version
from typing import Any

import numpy as np

#: Packages whose versions change what the graphs rewrite to or how they compile.
VERSIONED = ("pymc", "pytensor", "nutpie", "numba", "numpy")


#: Where the classes and functions of a keyed graph may come from: their behaviour is fixed by the
#: versions in the key (numpy's ufuncs and builtins are written by name).
LIBRARIES = ("pytensor", "pymc", "numpy", "scipy", "builtins", "math", "operator")
#: PyTensor settings that change what the graphs rewrite or compile to.
REWRITE_FLAGS = ("floatX", "numba__fastmath", "mode", "optimizer", "optimizer_excluding", "optimizer_including",
                 "optimizer_requiring")


class Uncacheable(Exception):
    """Some part of the model has no faithful text; the model is compiled without the store."""


def model_key(model: Any, extra: tuple = ()) -> str | None:
    """SHA-256 of the model's structure, or ``None`` where it cannot be written down faithfully.

    Parameters
    ----------
    model : pymc.Model
        The model to key.
    extra : tuple
        Further settings the compiled result depends on (compile flags), written into the key.

    Returns
    -------
    str or None
        Equal for two models whose rewritten graphs are equal, whatever the values of their data.
    """
    try:
        text = repr(_model_parts(model, extra))
    except Exception:  # noqa: BLE001 - Uncacheable, or anything else the writer cannot follow: no record
        return None
    return hashlib.sha256(text.encode()).hexdigest()


def _model_parts(model: Any, extra: tuple) -> tuple:
    from pytensor.graph.traversal import toposort

    outputs = [*model.free_RVs, *model.observed_RVs, *model.deterministics, *model.potentials]
    writer = _GraphWriter()
    nodes = [writer.node(node) for node in toposort(outputs)]

    def named(seq: list) -> tuple:
        return tuple(writer.var(v) for v in seq)

    values = tuple((writer.var(rv), writer.var(model.rvs_to_values[rv])) for rv in [*model.free_RVs, *model.observed_RVs])
    transforms = tuple((writer.var(rv), _value(model.rvs_to_transforms.get(rv)),
                        _value(getattr(model, "rvs_to_total_sizes", {}).get(rv))) for rv in model.free_RVs)
    totals = tuple(_value(getattr(model, "rvs_to_total_sizes", {}).get(rv)) for rv in model.observed_RVs)
    import pytensor

    flags = tuple((name, str(getattr(pytensor.config, name, None))) for name in REWRITE_FLAGS)
    return ("bayes_scaling.model_key/1", tuple(version(p) for p in VERSIONED), flags, extra, tuple(writer.roots),
            tuple(nodes), named(model.free_RVs), named(model.observed_RVs), named(model.deterministics),
            named(model.potentials), values, transforms, totals, bool(model.check_bounds))


class _GraphWriter:
    """Numbers the variables of a graph and writes each root and node as plain data."""

    def __init__(self) -> None:
        self.ids: dict[int, int] = {}
        self.keep: list[Any] = []  # the variables numbered, alive while the ids are in use
        self.roots: list[tuple] = []

    def var(self, v: Any) -> int:
        if id(v) not in self.ids:
            if v.owner is not None:
                raise Uncacheable(f"variable {v} is used before its node")
            self.ids[id(v)] = len(self.ids)
            self.keep.append(v)
            self.roots.append(self._root(v))
        return self.ids[id(v)]

    def type(self, v: Any) -> Any:
        t = v.type
        text = repr(t)
        if " at 0x" not in text:
            return text
        if hasattr(t, "__props__"):
            return _op(t)
        if not vars(t):  # a type without parameters (NoneTypeT, the random generators' type)
            return f"{type(t).__module__}.{type(t).__qualname__}"
        raise Uncacheable(f"type {type(t).__name__} has no text of its own")

    def node(self, node: Any) -> tuple:
        inputs = tuple(self.var(v) for v in node.inputs)
        outputs = []
        for out in node.outputs:
            self.ids[id(out)] = len(self.ids)
            self.keep.append(out)
            outputs.append((self.ids[id(out)], _text(out.name), self.type(out)))
        return (_op(node.op), inputs, tuple(outputs))

    def _root(self, v: Any) -> tuple:
        from pytensor.compile.sharedvalue import SharedVariable
        from pytensor.graph.basic import Constant

        if isinstance(v, Constant):
            return ("constant", self.type(v), _value(v.data))
        if isinstance(v, SharedVariable):
            value = v.get_value(borrow=True)
            if not isinstance(value, np.ndarray | np.generic):
                return ("shared", _text(v.name), self.type(v), type(value).__name__)
            value = np.asarray(value)
            # Integers and booleans (a dim's length, group indices) fix the shapes of what is stored;
            # only the values of float data stay out of the key.
            content = _value(value) if value.dtype.kind in "biu" else None
            return ("shared", _text(v.name), self.type(v), value.shape, str(value.dtype), content)
        return ("input", _text(v.name), self.type(v))


def _library_class(cls: type) -> str:
    """``module.qualname`` of a class of a versioned library, importable under that name.

    A class made at run time (PyMC's ``CustomDist`` makes one per variable, with the user's logp
    outside its parameters) or defined outside the libraries whose versions are in the key has
    behaviour the key cannot see: :class:`Uncacheable`.
    """
    name = f"{cls.__module__}.{cls.__qualname__}"
    if cls.__module__.split(".")[0] not in LIBRARIES:
        raise Uncacheable(f"{name} is not a class of {', '.join(LIBRARIES)}")
    found: Any = sys.modules.get(cls.__module__)
    for part in cls.__qualname__.split("."):
        found = getattr(found, part, None)
    if found is not cls:
        raise Uncacheable(f"{name} is made at run time")
    return name


def _op(op: Any) -> tuple:
    """An op as its class and the values of all its parameters (inner graphs written out)."""
    from pytensor.compile.builders import OpFromGraph

    cls = _library_class(type(op))
    if isinstance(op, OpFromGraph):
        if any(getattr(op, k, None) is not None for k in ("pullback_overrides", "pushforward_overrides")):
            raise Uncacheable(f"op {cls} overrides its gradient with a function")
        props = tuple((p, _value(getattr(op, p))) for p in getattr(op, "__props__", ()))
        inner = _GraphWriter()
        for v in op.inner_inputs:
            inner.var(v)
        from pytensor.graph.traversal import toposort

        nodes = tuple(inner.node(n) for n in toposort(op.inner_outputs, blockers=op.inner_inputs))
        settings = tuple((k, _value(getattr(op, k))) for k in ("is_inline", "destroy_map") if hasattr(op, k))
        return (cls, props, settings, tuple(inner.roots), nodes, tuple(inner.var(v) for v in op.inner_outputs))
    props = getattr(op, "__props__", None)
    if props is None:
        raise Uncacheable(f"op {cls} has no __props__")
    return (cls, tuple((p, _value(getattr(op, p))) for p in props))


def _value(v: Any) -> Any:
    """A parameter as plain data; :class:`Uncacheable` where it has no faithful text."""
    if v is None or isinstance(v, bool | int | float | complex | str | bytes):
        return repr(v)
    if isinstance(v, np.ndarray | np.generic):
        arr = np.ascontiguousarray(v)
        return ("array", str(arr.dtype), arr.shape, hashlib.sha256(arr.tobytes()).hexdigest())
    if isinstance(v, tuple | list | frozenset | set):
        items = [_value(x) for x in v]
        return (type(v).__name__, tuple(sorted(items, key=repr) if isinstance(v, frozenset | set) else items))
    if isinstance(v, dict):
        return ("dict", tuple(sorted(((repr(k), _value(x)) for k, x in v.items()), key=lambda kv: kv[0])))
    if isinstance(v, np.dtype):
        return ("dtype", str(v))
    if isinstance(v, type):
        return ("type", _library_class(v) if v.__module__ != "builtins" else v.__qualname__)
    if isinstance(v, functools.partial):
        return ("partial", _value(v.func), _value(v.args), _value(v.keywords))
    if isinstance(v, types.FunctionType | types.BuiltinFunctionType | types.MethodType):
        return ("function", _library_function(v))
    if isinstance(v, _variable_type()):
        raise Uncacheable("a graph variable held as a parameter")
    if hasattr(v, "__props__"):
        return _op(v)
    if hasattr(v, "__dict__"):
        fields = {k: x for k, x in vars(v).items() if k != "__doc__"}
        return ("object", _library_class(type(v)), _value(fields))
    return ("text", _text(v))


def _library_function(f: Any) -> str:
    """A plain function of a versioned library by its name; anything else is :class:`Uncacheable`.

    A function of the user's own (whose body may change between processes), a closure, a lambda or
    a bound method has no name that fixes what it computes.
    """
    name = f"{getattr(f, '__module__', None)}.{getattr(f, '__qualname__', '?')}"
    if isinstance(f, types.MethodType) and not isinstance(f.__self__, type):
        raise Uncacheable(f"method {name} is bound to an object")
    if (getattr(f, "__closure__", None) or "<locals>" in name or "<lambda>" in name
            or str(getattr(f, "__module__", None)).split(".")[0] not in LIBRARIES):
        raise Uncacheable(f"function {name} is not a plain function of {', '.join(LIBRARIES)}")
    return name


def _variable_type() -> type:
    from pytensor.graph.basic import Variable

    return Variable


def _text(v: Any) -> str:
    """``repr(v)``, unless it shows an address (which differs from process to process)."""
    text = repr(v)
    if " at 0x" in text:
        raise Uncacheable(f"{type(v).__name__} has no text of its own")
    return text


__all__ = ["model_key"]
