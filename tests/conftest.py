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
    if not bs.datasets.available("epoch_chinchilla"):
        pytest.skip("public data epoch_chinchilla is not mirrored here: set BAYES_SCALING_DATA to ../shared/datasets")
    return bs.datasets.load("epoch_chinchilla", drop_outliers=True)
