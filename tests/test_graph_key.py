"""The key of a model's structure: equal for equal structures, different wherever the graphs differ."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

import bayes_scaling as bs
from bayes_scaling.graph_key import model_key
from bayes_scaling.model import build_model


def _key(runs: bs.Runs, spec: str | bs.ModelSpec = "chinchilla") -> str | None:
    return model_key(build_model(runs, bs.load_spec(spec)))


def test_the_same_structure_gives_the_same_key_whatever_the_data(sim_runs):
    other = sim_runs.table.copy()
    other["loss"] = other["loss"] * 1.02  # other numbers, same columns and sizes
    other["params"] = other["params"] * 1.5
    key = _key(sim_runs)
    assert key is not None and len(key) == 64
    assert _key(sim_runs) == key
    assert _key(bs.read_runs(other)) == key


def test_the_key_is_the_same_in_another_process(sim_runs):
    code = ("import bayes_scaling as bs; from bayes_scaling.graph_key import model_key; "
            "from bayes_scaling.model import build_model; "
            "print(model_key(build_model(bs.datasets.load('chinchilla_sim'), bs.load_spec('chinchilla'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == _key(sim_runs)


def test_a_prior_a_law_or_the_number_of_runs_changes_the_key(sim_runs, hier_runs):
    key = _key(sim_runs)
    wider = bs.load_spec("chinchilla").with_priors(alpha=bs.Prior("HalfNormal", sigma=0.71))
    assert _key(sim_runs, wider) != key
    assert _key(sim_runs, "kaplan") != key
    assert _key(bs.read_runs(sim_runs.table.iloc[:-1])) != key  # the stored shapes depend on it
    assert model_key(build_model(sim_runs, bs.load_spec("chinchilla")), extra=(("numba__fastmath", True),)) != key
    normal = dataclasses.replace(bs.load_spec("chinchilla"), likelihood="normal")
    assert _key(sim_runs, normal) != key
    grouped = bs.load_spec("compute").overridden(pool="alpha=task,e=domain,c0=task")
    assert _key(hier_runs, grouped) != _key(hier_runs, "compute")


def _tiny(prior_sigma: float, constant: np.ndarray) -> pm.Model:
    with pm.Model() as model:
        x = pm.Normal("x", 0.0, prior_sigma)
        pm.Normal("y", x + pt.as_tensor(constant), 1.0, observed=np.zeros(len(constant)))
    return model


def test_every_constant_value_is_part_of_the_key():
    base = np.linspace(0.0, 1.0, 500)  # large enough that its text would be elided
    changed = base.copy()
    changed[250] += 1e-12
    assert model_key(_tiny(1.0, base)) == model_key(_tiny(1.0, base.copy()))
    assert model_key(_tiny(1.0, base)) != model_key(_tiny(1.0, changed))
    assert model_key(_tiny(1.0, base)) != model_key(_tiny(1.0 + 1e-12, base))


class _Opaque(Op):
    """An op that says nothing of its parameters (no ``__props__``)."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def make_node(self, x):
        x = pt.as_tensor(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = inputs[0] * self.factor


@pytest.mark.parametrize("factor", [2.0])
def test_a_model_that_cannot_be_written_down_has_no_key(factor):
    with pm.Model() as model:
        x = pm.Normal("x", 0.0, 1.0)
        pm.Deterministic("scaled", _Opaque(factor)(x))
    assert model_key(model) is None


def _grouped(groups: int) -> pm.Model:
    with pm.Model(coords={"g": range(groups)}) as model:
        x = pm.Normal("x", 0.0, 1.0, dims="g")
        pm.Normal("y", x.sum(), 1.0, observed=np.zeros(3))
    return model


def test_the_length_of_a_dim_is_part_of_the_key():
    assert model_key(_grouped(3)) == model_key(_grouped(3))
    assert model_key(_grouped(3)) != model_key(_grouped(4))  # the stored shapes differ


def test_the_rewrite_settings_are_part_of_the_key(sim_runs):
    """PyTensor's optimizer is fixed when it is imported, so the other setting runs in a child process."""
    import os

    code = ("import bayes_scaling as bs; from bayes_scaling.graph_key import model_key; "
            "from bayes_scaling.model import build_model; "
            "print(model_key(build_model(bs.datasets.load('chinchilla_sim'), bs.load_spec('chinchilla'))))")
    env = {**os.environ, "PYTENSOR_FLAGS": "optimizer=fast_compile"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120, env=env)
    assert out.stdout.strip().splitlines()[-1] != _key(sim_runs)


def _lp_one(value, mu):
    return -((value - mu) ** 2)


def _lp_two(value, mu):
    return -abs(value - mu)


def _custom(logp) -> pm.Model:
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 1.0)
        pm.CustomDist("y", mu, logp=logp, observed=np.zeros(3))
    return model


def _interval(bounds) -> pm.Model:
    from pymc.distributions.transforms import Interval

    with pm.Model() as model:
        pm.Normal("x", 0.0, 1.0, transform=Interval(bounds_fn=bounds))
    return model


def _bounds(low: float, rv, *args):
    return low, 10.0


def test_what_the_key_cannot_see_gets_no_key():
    """A user's function (a CustomDist's logp, a transform's bounds) or a graph held in a parameter:
    its behaviour is not in its name, so two such models must never share a record."""
    import functools

    from bayes_scaling.graph_key import Uncacheable, _value

    assert model_key(_custom(_lp_one)) is None and model_key(_custom(_lp_two)) is None
    assert model_key(_interval(functools.partial(_bounds, 1.0))) is None
    with pytest.raises(Uncacheable):  # a graph held in a parameter is not walked as an object
        _value(pt.constant(1.0) + 0)
