"""A key of a PyMC model's structure, taken before PyTensor rewrites or compiles anything.

nutpie needs a model's log density, its gradient and the function that expands a point into the
stored variables. Building them (``nutpie.compile_pymc._make_functions``) rewrites and links the
graphs, which takes about 2 s of a 3 s fit from a cold shell even when the compiled code itself
loads from disk. :func:`model_key` names the model's structure so that what that step produces (the
sizes, names and shapes nutpie needs, and the keys of the cached callbacks) can be stored once and
read back by a later process with the same structure (:mod:`bayes_scaling.compiled`).

The key covers everything the rewritten graphs depend on: every node from the model's random
variables, deterministics and potentials to the roots, each op with all its parameters, the value of
every constant, the type, name and shape of every shared variable (the data) and the value of every
integer or boolean one (a dim's length, group indices), the transforms, the value variables,
``check_bounds``, and the versions of the packages that rewrite and compile. It leaves out the
values of the float data, which the compiled callbacks read at run time. Where some part of the model cannot be written down faithfully (an op without ``__props__``, a closure, an
object whose only text is its address) there is no key and the model is compiled as usual.
"""

from __future__ import annotations

import hashlib
import types
from importlib.metadata import version
from typing import Any

import numpy as np

#: Packages whose versions change what the graphs rewrite to or how they compile.
VERSIONED = ("pymc", "pytensor", "nutpie", "numba", "numpy")


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
    except Uncacheable:
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


def _op(op: Any) -> tuple:
    """An op as its class and the values of all its parameters (inner graphs written out)."""
    from pytensor.compile.builders import OpFromGraph

    cls = f"{type(op).__module__}.{type(op).__qualname__}"
    if isinstance(op, OpFromGraph):
        inner = _GraphWriter()
        for v in op.inner_inputs:
            inner.var(v)
        from pytensor.graph.traversal import toposort

        nodes = tuple(inner.node(n) for n in toposort(op.inner_outputs, blockers=op.inner_inputs))
        settings = tuple((k, _value(getattr(op, k))) for k in ("is_inline", "destroy_map") if hasattr(op, k))
        return (cls, settings, tuple(inner.roots), nodes, tuple(inner.var(v) for v in op.inner_outputs))
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
    if isinstance(v, np.dtype | type):
        return ("type", _text(v))
    if isinstance(v, types.FunctionType | types.BuiltinFunctionType | types.MethodType):
        if getattr(v, "__closure__", None) or "<locals>" in v.__qualname__ or "<lambda>" in v.__qualname__:
            raise Uncacheable(f"function {v.__qualname__} closes over values")
        return ("function", f"{v.__module__}.{v.__qualname__}")
    if hasattr(v, "__props__"):
        return _op(v)
    if hasattr(v, "__dict__") and not isinstance(v, type):
        fields = {k: x for k, x in vars(v).items() if k != "__doc__"}
        return ("object", f"{type(v).__module__}.{type(v).__qualname__}", _value(fields))
    return ("text", _text(v))


def _text(v: Any) -> str:
    """``repr(v)``, unless it shows an address (which differs from process to process)."""
    text = repr(v)
    if " at 0x" in text:
        raise Uncacheable(f"{type(v).__name__} has no text of its own")
    return text


__all__ = ["model_key"]
