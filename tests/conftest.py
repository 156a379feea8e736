"""Shared fixtures: the one or two real fits the suite needs, built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import bayes_scaling as bs

SEED = 20240417  # a named seed for every test fit
SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
if "BAYES_SCALING_DATA" not in os.environ and SHARED.is_dir():
    os.environ["BAYES_SCALING_DATA"] = str(SHARED)  # CI sets it too: the public data mirror


def require_mirrored(name: str) -> None:
    """Skip the calling test where the public dataset ``name`` is not mirrored on this machine."""
    if not bs.datasets.available(name):
        pytest.skip(f"public data {name} is not mirrored here: set BAYES_SCALING_DATA to ../shared/datasets")


@pytest.fixture(scope="session")
def sim_runs() -> bs.Runs:
    """The bundled simulation: 108 IsoFLOP runs from Epoch's fit (known truth)."""
    return bs.datasets.load("chinchilla_sim")


@pytest.fixture(scope="session")
def sim_fit(sim_runs: bs.Runs) -> bs.Fit:
    """A small but converged posterior on the simulation, shared by the post-processing tests."""
    return bs.fit(sim_runs, "chinchilla", draws=500, tune=700, chains=2, seed=SEED)


@pytest.fixture(scope="session")
def epoch_runs() -> bs.Runs:
    """Epoch's 240 Chinchilla runs, read through the loader from the mirror."""
    require_mirrored("epoch_chinchilla")
    return bs.datasets.load("epoch_chinchilla", drop_outliers=True)


#: Known group exponents of the simulated hierarchy (compute law, 2 domains x 3 tasks).
HIER_ALPHA = {"vision": {"v1": 0.28, "v2": 0.30, "v3": 0.32}, "language": {"l1": 0.14, "l2": 0.15, "l3": 0.16}}
HIER_E = {"vision": 0.4, "language": 1.7}


@pytest.fixture(scope="session")
def hier_runs() -> bs.Runs:
    """Ten budgets per task, each task with its own exponent, E per domain (noise sd 0.01 on log loss)."""
    import numpy as np
    import pandas as pd

    from bayes_scaling.validation.simulate import simulate_groups

    design = pd.DataFrame({"compute": np.geomspace(1e18, 1e22, 10)})
    groups = {d: {t: {"E": HIER_E[d], "C0": 1e18, "alpha": a} for t, a in ts.items()} for d, ts in HIER_ALPHA.items()}
    frame = simulate_groups(design, groups, law="compute", sigma=0.01, seed=5)
    frame["params"] = np.sqrt(frame["compute"] / 120.0)
    return bs.read_runs(frame[["params", "compute", "loss", "domain", "task"]])


@pytest.fixture(scope="session")
def hier_fit(hier_runs: bs.Runs) -> bs.Fit:
    """Exponent and level pooled by task (tasks in domains), E by domain: a real hierarchical posterior."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)  # the test on diagnostics reads them itself
        return bs.fit(hier_runs, "compute", pool="alpha=task,e=domain,c0=task", draws=500, tune=800, chains=2,
                      seed=SEED)
