"""nutpie's compiled model persists across processes and serves every study with the same spec."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import bayes_scaling as bs

#: A child process: build the model for a dataset, compile it, report whether both callbacks came
#: from the disk cache and the first draws of a short chain.
CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np, nutpie
    from nutpie.compile_pymc import _wrap_with_lock
    from pymc.initial_point import make_initial_point_fn
    import bayes_scaling as bs
    from bayes_scaling.compiled import compile_model
    from bayes_scaling.model import build_model
    runs = bs.read_runs(sys.argv[1])
    model = build_model(runs, bs.load_spec("chinchilla"))
    init = _wrap_with_lock(make_initial_point_fn(model=model, jitter_rvs=set(model.free_RVs),
                                                 return_transformed=True))
    compiled = compile_model(model, init)
    trace = nutpie.sample(compiled, draws=20, tune=50, chains=1, seed=3, progress_bar=False)
    print(json.dumps({"hits": [compiled.compiled_logp_func._cache_hits, compiled.compiled_expand_func._cache_hits],
                      "stored": compiled.logp_func is None,
                      "alpha": trace.posterior["alpha"].values.ravel()[:5].tolist()}))
""")


def _child(csv, cache_dir) -> dict:
    # PyTensor's fast-math on, as by default: compile_model turns it off for what it compiles
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={cache_dir},numba__fastmath=True"}
    out = subprocess.run([sys.executable, "-c", CHILD, str(csv)], env=env, capture_output=True, text=True,
                         timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_second_process_and_another_study_load_the_compiled_model(sim_runs, tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    sim_runs.table.to_csv(first, index=False)
    other = sim_runs.table.iloc[::2].copy()  # another study: fewer runs, other numbers, same spec
    other["loss"] = other["loss"] * 1.01
    other.to_csv(second, index=False)
    cold = _child(first, tmp_path / "cache")
    warm = _child(first, tmp_path / "cache")
    assert cold["hits"] == [0, 0] and not cold["stored"]
    assert warm["hits"] == [1, 1]
    assert warm["stored"]  # the model's structure was recorded: no rewriting in the second process
    assert warm["alpha"] == cold["alpha"]  # the cached code computes the same draws, to the digit
    other = _child(second, tmp_path / "cache")
    assert other["hits"] == [1, 1]
    assert not other["stored"]  # fewer runs: other shapes, so the graphs are rewritten (the code still loads)


@pytest.mark.slow
def test_a_record_whose_compiled_code_is_gone_is_compiled_again(sim_runs, tmp_path):
    import shutil

    csv = tmp_path / "a.csv"
    sim_runs.table.to_csv(csv, index=False)
    cold = _child(csv, tmp_path / "cache")
    assert list((tmp_path / "cache" / "bayes_scaling" / "models").glob("*.json"))
    shutil.rmtree(tmp_path / "cache" / "numba")  # the records stay, the numba cache goes
    again = _child(csv, tmp_path / "cache")
    assert again["hits"] == [0, 0] and not again["stored"]
    assert again["alpha"] == cold["alpha"]


def test_nutpie_draws_are_those_of_pm_sample(sim_runs):
    import pymc as pm
    import pytensor

    from bayes_scaling.compiled import sample_nutpie
    from bayes_scaling.model import build_model

    model = build_model(sim_runs, bs.load_spec("chinchilla"))
    nuts = {"target_accept": 0.9, "adaptation": "low_rank"}
    ours = sample_nutpie(model, 100, 100, 2, 11, 2, nuts, False)
    with pytensor.config.change_flags(numba__fastmath=False):  # as sample() compiles for every backend
        theirs = pm.sample(nuts_sampler="nutpie", nuts=nuts, cores=2, draws=100, tune=100, chains=2,
                           random_seed=11, model=model, progressbar=False, compute_convergence_checks=False)
    for name in ("alpha", "beta", "log_e", "E"):
        np.testing.assert_array_equal(ours["posterior"][name].values, theirs["posterior"][name].values)
    assert set(ours.children) == set(theirs.children)


def test_a_recorded_hierarchy_samples_as_the_one_it_was_recorded_from(hier_runs, tmp_path, monkeypatch):
    """The record's path (no rewrites) rebuilds dims, coords and data slots of a grouped model exactly."""
    import nutpie
    from nutpie.compile_pymc import _wrap_with_lock
    from pymc.initial_point import make_initial_point_fn

    from bayes_scaling.compiled import compile_model
    from bayes_scaling.model import build_model

    spec = bs.load_spec("compute").overridden(pool="alpha=task,e=domain,c0=task")
    monkeypatch.setattr("bayes_scaling.compiled._store", lambda: tmp_path / "models")  # an empty store
    draws = {}
    for label in ("built", "recorded"):
        model = build_model(hier_runs, spec)
        init = _wrap_with_lock(make_initial_point_fn(model=model, jitter_rvs=set(model.free_RVs),
                                                     return_transformed=True))
        compiled = compile_model(model, init)
        assert (compiled.logp_func is None) == (label == "recorded")
        trace = nutpie.sample(compiled, draws=30, tune=60, chains=1, seed=5, progress_bar=False)
        draws[label] = trace.posterior
    assert draws["recorded"]["alpha"].dims == draws["built"]["alpha"].dims
    assert list(draws["recorded"]["alpha"]["task"].values) == list(draws["built"]["alpha"]["task"].values)
    for name in draws["built"].data_vars:
        np.testing.assert_array_equal(draws["recorded"][name].values, draws["built"][name].values)


def test_a_damaged_record_is_built_again(sim_runs, tmp_path, monkeypatch):
    import json

    from nutpie.compile_pymc import _wrap_with_lock
    from pymc.initial_point import make_initial_point_fn

    from bayes_scaling.compiled import compile_model
    from bayes_scaling.model import build_model

    monkeypatch.setattr("bayes_scaling.compiled._store", lambda: tmp_path / "models")
    model = build_model(sim_runs, bs.load_spec("chinchilla"))
    init = _wrap_with_lock(make_initial_point_fn(model=model, jitter_rvs=set(model.free_RVs), return_transformed=True))
    assert compile_model(model, init).logp_func is not None
    (record,) = (tmp_path / "models").glob("*.json")
    damaged = {k: v for k, v in json.loads(record.read_text()).items() if k != "slots"}
    record.write_text(json.dumps(damaged))
    assert compile_model(model, init).logp_func is not None  # built in full, and recorded again
    assert "slots" in json.loads(record.read_text())
    assert compile_model(model, init).logp_func is None
