"""Simulation-based calibration (bayes_scaling.validation.calibrate): mechanics on tiny runs, the guard, the CLI."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import bayes_scaling as bs
from bayes_scaling.cli import main
from bayes_scaling.present import plots
from bayes_scaling.validation.calibrate import (
    Calibration,
    _prior_draws,
    _score,
    calibrate,
)
from bayes_scaling.validation.simulate import EPOCH_PARAMS, isoflop_design

QUANTITIES = ["E", "A", "B", "alpha", "beta", "a", "ratio"]


@pytest.fixture(scope="module")
def fixed() -> Calibration:
    """Two data sets from Epoch's estimates on a 4-budget design, refitted with a tiny sampler."""
    design = isoflop_design(budgets=(1e19, 1e20, 1e21, 3e21), per_budget=8)
    return calibrate("chinchilla", design, n_datasets=2, truth=EPOCH_PARAMS, levels=(0.5, 0.9), seed=3, draws=60,
                     tune=100, chains=2)


def test_calibration_tables_are_consistent(fixed):
    assert fixed.n_datasets == 2 and fixed.n_rejected == 0 and fixed.truth == "fixed"
    cov = fixed.coverage
    assert list(cov["quantity"].unique()) == QUANTITIES and len(cov) == 2 * len(QUANTITIES)
    assert (cov["n"] == 2).all() and cov["coverage"].between(0, 1).all()
    ranks = fixed.ranks
    assert len(ranks) == 2 * len(QUANTITIES)
    assert ((ranks["rank"] >= 0) & (ranks["rank"] <= ranks["n_ranked"])).all() and (ranks["n_ranked"] == 99).all()
    assert (fixed.histogram.drop(columns="p_uniform").sum(axis=1) == 2).all()
    truth = ranks.set_index("quantity")["truth"]
    assert truth["alpha"].iloc[0] == EPOCH_PARAMS["alpha"]
    assert truth["ratio"].iloc[0] == pytest.approx(18.33, abs=0.01)  # Epoch's D*/N* at 5.88e23 (REFERENCE_RESULTS §1)
    inner = (ranks["lower_90"] <= ranks["median"]) & (ranks["median"] <= ranks["upper_90"])
    assert inner.all()


def test_calibration_to_dict_is_json(fixed):
    doc = json.loads(json.dumps(fixed.to_dict()))
    assert doc["n_datasets"] == 2 and doc["levels"] == [0.5, 0.9] and len(doc["coverage"]) == 14
    assert {"quantity", "p_uniform"} <= set(doc["rank_histogram"][0])


def test_score_by_hand():
    draws = np.arange(1000) / 1000.0
    row = _score(0, "alpha", 0.5, draws, (0.5, 0.9), 99, True)
    assert row["covered_50"] and row["covered_90"] and row["n_ranked"] == 99
    assert row["rank"] == 49  # 49 of the 99 evenly thinned draws lie below 0.5
    far = _score(0, "alpha", 0.99, draws, (0.5, 0.9), 99, True)
    assert not far["covered_90"] and far["rank"] == 98


def test_prior_draws_follow_the_spec_prior():
    spec = bs.load_spec("chinchilla")
    design = bs.read_runs(isoflop_design().assign(loss=1.0))
    draws = _prior_draws(spec, design, np.random.default_rng(0), batch=1000)
    sample = pd.DataFrame([next(draws) for _ in range(1000)])
    assert np.median(np.log(sample["E"])) == pytest.approx(0.0, abs=0.15)  # log E ~ Normal(0, 1)
    assert sample["alpha"].mean() == pytest.approx(np.sqrt(2 / np.pi), abs=0.08)  # HalfNormal(1)
    assert (sample["sigma"] > 0).all() and (sample["nu"] > 0).all()


def test_guard_rejects_and_counts():
    with pytest.raises(bs.InputError, match="rejected 150 of 150"):
        calibrate("chinchilla", n_datasets=1, truth=EPOCH_PARAMS, loss_range=(100.0, 200.0))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"spec": "chinchilla_domain"}, "pools by group"),
    ({"truth": "posterior"}, "truth must be"),
    ({"truth": {"E": 1.8}}, "lacks natural parameter"),
    ({"levels": (0.5, 1.0)}, "levels"),
    ({"n_datasets": 0}, "at least 1"),
])
def test_bad_requests(kwargs, message):
    with pytest.raises(bs.InputError, match=message):
        calibrate(**{"spec": "chinchilla", **kwargs})


def test_coverage_curve_of_a_calibration(fixed):
    ax = plots.coverage_curve(fixed)
    assert len(ax.get_lines()) == 1 + len(QUANTITIES)  # the diagonal and one line per quantity
    plt.close("all")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_calibrate_json_and_errors(capsys, tmp_path):
    design = tmp_path / "design.csv"
    isoflop_design(budgets=(1e19, 1e20, 1e21), per_budget=6).assign(loss=2.0).to_csv(design, index=False)
    code, out, err = run(capsys, "calibrate", "--n", "1", "--truth", "epoch", "--design", str(design), "--draws", "60",
                         "--tune", "80", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["n_datasets"] == 1 and doc["settings"]["design_runs"] == 18 and "[1/1]" in err
    for argv in (("--truth", "nonsense"), ("--spec", "compute_domain")):
        code, out, err = run(capsys, "calibrate", *argv)
        assert code == 2 and out == "" and len([line for line in err.splitlines() if line.startswith("error:")]) == 1
