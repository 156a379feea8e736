"""Experiment design: the batch of next runs, its importance-reweighted update against a real refit,
the first sweep, and Approach 2 with a posterior (on simulated and on Open-Athena's real IsoFLOPs)."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import SEED, require_mirrored

import bayes_scaling as bs
from bayes_scaling import design
from bayes_scaling.design.approach2 import budgets_of, isoflop_table
from bayes_scaling.design.preposterior import Uncertainty, simulate
from bayes_scaling.design.propose import _moments, target_values
from bayes_scaling.laws.chinchilla import PUBLISHED, log_n_star

TARGET = 5.88e23


def rhat(draws: np.ndarray) -> float:
    """Rank-normalised split R-hat of one scalar (chains x draws), from arviz-stats."""
    from arviz_stats.base import array_stats

    return float(array_stats.rhat(draws, chain_axis=0, draw_axis=1))


@pytest.fixture(scope="module")
def proposal(sim_fit):
    return design.propose(sim_fit, budget=3e20, target_compute=TARGET, target="ratio", k=3)


def test_the_batch_fits_the_budget_and_shrinks_the_expected_interval(proposal):
    a = proposal.attrs
    assert proposal.sizes["run"] >= 1
    assert float(proposal["compute"].sum()) <= 3e20 * (1 + 1e-9)
    np.testing.assert_allclose(proposal["compute"], 6 * proposal["params"] * proposal["tokens"], rtol=1e-9)
    assert a["expected_after"] < a["current"] and a["reduction"] > 0
    assert np.all(np.diff(proposal["expected"].values) < 0), "each chosen run is expected to help"
    assert a["target_reach"]["compute"][0] > 2, "5.88e23 lies beyond the simulated runs"
    assert any("the target extrapolates" in w for w in a["warnings"])


def test_the_reweighted_update_matches_a_real_refit(sim_fit, sim_runs, proposal):
    """Outcomes at the proposed runs from one posterior draw: the importance-reweighted sd of
    log10 D*/N* agrees with the sd after refitting with those runs."""
    n = sim_fit.posterior.sizes["chain"] * sim_fit.posterior.sizes["draw"]
    values, _ = target_values(sim_fit, np.arange(n), "ratio", TARGET, None)
    new = pd.DataFrame({"params": proposal["params"].values, "tokens": proposal["tokens"].values})
    mu, sigma, nu = _moments(sim_fit, new.assign(compute=6 * new.params * new.tokens), np.arange(n))
    rng = np.random.default_rng(3)
    new["loss"] = np.exp(mu[7] + sigma[7] * rng.standard_t(nu[7], size=len(new)))
    w = design.reweight(sim_fit, new).values.ravel()
    sd_w = np.sqrt(w @ values**2 - (w @ values) ** 2)
    assert 1 / np.sum(w**2) > 50, "the update keeps enough draws to be trusted"
    refit = bs.fit(bs.read_runs(pd.concat([sim_runs.table[["params", "tokens", "loss"]], new], ignore_index=True)),
                   "chinchilla", draws=500, tune=700, chains=2, seed=SEED)
    after, _ = target_values(refit, np.arange(n), "ratio", TARGET, None)
    assert sd_w < values.std(), "the runs are informative"
    assert after.std() == pytest.approx(sd_w, rel=0.2)
    assert after.mean() == pytest.approx(w @ values, abs=0.5 * values.std())


def test_uncertainty_is_the_weighted_normal_width_and_the_truth_is_left_out():
    rng = np.random.default_rng(0)
    values = rng.normal(size=400)
    w = rng.random((3, 400))
    w /= w.sum(axis=1, keepdims=True)
    got = Uncertainty(values, "width", 0.9)(w)
    mean = w @ values
    sd = np.sqrt(w @ values**2 - mean**2)
    np.testing.assert_allclose(got, 2 * 1.6448536269514722 * sd, rtol=1e-10)
    ind = (values > 0).astype(float)
    p = w @ ind
    np.testing.assert_allclose(Uncertainty(ind, "sd")(w), np.sqrt(p * (1 - p)), rtol=1e-10)
    out = simulate(np.zeros((400, 2)), np.ones((400, 2)), None, 16, seed=1)
    start = out.start()
    assert np.all(np.isneginf(start[np.arange(16), out.truth]))
    assert np.isfinite(start).sum() == 16 * 399


def test_structural_error_moves_the_outcomes_and_not_the_likelihood():
    """Beyond the data an outcome deviates from the law by the structural error; the update weighs it
    with the fitted noise alone, as a refit of the run (then inside the fitted range) does."""
    from bayes_scaling.design.preposterior import loglik

    rng = np.random.default_rng(0)
    mu, sigma = rng.normal(size=(300, 2)), np.full((300, 2), 0.1)
    extra = np.column_stack([np.zeros(300), np.full(300, 0.3)])  # inside the data, and beyond it
    plain = simulate(mu, sigma, None, 4000, seed=5)
    moved = simulate(mu, sigma, None, 4000, seed=5, extra=extra)
    np.testing.assert_array_equal(plain.truth, moved.truth)
    np.testing.assert_array_equal(plain.y[:, 0], moved.y[:, 0])
    spread = (moved.y - mu[moved.truth]).std(axis=0)
    assert spread[0] == pytest.approx(0.1, rel=0.05) and spread[1] == pytest.approx(np.hypot(0.1, 0.3), rel=0.05)
    np.testing.assert_array_equal(moved.loglik, loglik(moved.y, mu, sigma, None))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"k": 0}, "at least 1"),
    ({"target_compute": 0.0}, "target compute"),
    ({"budget": 1e18, "limits": design.Limits(min_cost=1e19)}, "smaller than the cheapest"),
    ({"limits": design.Limits(max_params=10.0)}, "exclude every candidate"),
    ({"target": "prob"}, "threshold"),
])
def test_bad_design_questions_get_one_clear_error(sim_fit, kwargs, message):
    args = {"budget": 3e20, "target_compute": TARGET, **kwargs}
    with pytest.raises(bs.QueryError, match=message):
        design.propose(sim_fit, **args)


def test_the_prob_target_shrinks_the_uncertainty_of_reaching_a_loss(sim_fit):
    loss = float(np.median(sim_fit.predict(params=7e10, tokens=1.4e12)["loss_mean"]))
    ds = design.propose(sim_fit, 3e20, TARGET, "prob", k=2, threshold=loss, n_sim=32)
    assert ds.attrs["unit"] == "sd of the indicator"
    assert 0 < ds.attrs["current"] <= 0.5
    assert ds.attrs["expected_after"] <= ds.attrs["current"]


def test_layout_centres_each_budget_on_the_published_frontier():
    table = design.layout([1e18, 1e20], per_budget=7, span=1.0)
    p = PUBLISHED["epoch"]
    for c, group in table.groupby("budget"):
        centre = np.exp(log_n_star(p.A, p.B, p.alpha, p.beta, np.log(c / 6)))
        assert len(group) == 7
        assert group["params"].iloc[3] == pytest.approx(centre, rel=1e-12)
        assert group["params"].max() / group["params"].min() == pytest.approx(100.0)
        np.testing.assert_allclose(6 * group["params"] * group["tokens"], c, rtol=1e-12)
    with pytest.raises(bs.QueryError, match="at least 3"):
        design.layout([1e18], per_budget=2)
    with pytest.raises(bs.QueryError, match="positive"):
        design.layout([-1.0])


def test_budgets_are_recognised_from_compute_and_thin_ones_dropped():
    table = pd.DataFrame({"params": [1e8, 2e8, 4e8, 1e9, 2e9, 3e9],
                          "compute": [1e19, 1.05e19, 0.98e19, 1e21, 1e21, 1e21], "loss": 1.0})
    table["tokens"] = table["compute"] / (6 * table["params"])
    labels = budgets_of(table)
    assert len(set(labels[:3])) == 1 and len(set(labels[3:])) == 1 and labels[0] != labels[3]
    with pytest.warns(bs.DataWarning, match="fewer than 3 model sizes"):
        kept = isoflop_table(table.iloc[[0, 1, 3, 4, 5]])
    assert set(kept["budget"]) == {labels[3]}
    with pytest.raises(bs.InputError, match="at least one budget"), warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.DataWarning)
        isoflop_table(table.iloc[[0, 1, 3, 4]])
    with pytest.raises(bs.InputError, match="one family of IsoFLOP runs"):
        isoflop_table(table.assign(task=["a", "a", "a", "b", "b", "b"]))


def test_approach_two_recovers_the_exponent_of_an_isoflop_grid():
    """IsoFLOP grids from Epoch's published law: the vertices follow N* ∝ C^(beta/(alpha+beta))."""
    p = PUBLISHED["epoch"]
    rng = np.random.default_rng(4)
    rows = []
    for c in np.geomspace(1e18, 1e21, 5):
        centre = log_n_star(p.A, p.B, p.alpha, p.beta, np.log(c / 6))
        n = np.exp(centre + np.linspace(-0.6, 0.6, 7) * np.log(10))
        d = c / (6 * n)
        loss = (p.E + p.A * n**-p.alpha + p.B * d**-p.beta) * np.exp(rng.normal(0, 0.002, n.size))
        rows.append(pd.DataFrame({"params": n, "tokens": d, "loss": loss}))
    runs = bs.read_runs(pd.concat(rows, ignore_index=True))
    ds = bs.isoflop(runs, compute=[TARGET], sampler=bs.SamplerSettings(draws=1000, tune=1500, chains=2, seed=SEED,
                                                                      target_accept=0.95))
    a_true = p.beta / (p.alpha + p.beta)
    q = ds["a"].quantile([0.05, 0.95]).values
    assert q[0] < a_true < q[1]
    assert not [p for p in ds.attrs["diagnostics"] if "divergent" in p]
    assert float(rhat(ds["a"].values)) <= 1.01
    truth = np.exp(log_n_star(p.A, p.B, p.alpha, p.beta, np.log(TARGET / 6)))
    assert float(ds["params"].sel(compute=TARGET).median()) == pytest.approx(truth, rel=0.2)


@pytest.mark.slow
def test_approach_two_on_llama3_matches_the_published_exponent():
    """Open-Athena's 133 Llama 3 IsoFLOP points: Approach 2 by polyfit gives a = 0.4632, D*/N* = 40.9 at 3.8e25."""
    require_mirrored("openathena_isoflops")
    runs = bs.datasets.load("openathena_isoflops", split="llama3")
    ds = bs.isoflop(runs, compute=[3.8e25], sampler=bs.SamplerSettings(draws=500, tune=700, chains=2, seed=SEED,
                                                                      target_accept=0.95))
    assert float(ds["a"].median()) == pytest.approx(0.4632, abs=0.01)
    ratio = ds["ratio"].sel(compute=3.8e25)
    lo, hi = ratio.quantile([0.05, 0.95]).values
    assert lo < 40.9 < hi


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bayes_scaling.cli", *args], capture_output=True, text=True, check=False)


def test_design_and_layout_commands(sim_fit, tmp_path):
    path = sim_fit.save(tmp_path / "sim.nc")
    out = _cli("design", str(path), "--budget", "3e20", "--target-compute", "5.88e23", "-k", "2", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert len(doc["runs"]) >= 1 and doc["expected_after"] < doc["current"]
    assert doc["target_reach"]["compute"][0] > 2 and any("extrapolates" in w for w in doc["warnings"])
    assert doc["structural"]["used"] is True and doc["structural"]["kind"] == "extrapolation"
    exact = _cli("design", str(path), "--budget", "3e20", "--target-compute", "5.88e23", "-k", "2", "--law-exact", "--json")
    assert exact.returncode == 0 and json.loads(exact.stdout)["structural"]["used"] is False, exact.stderr
    bad = _cli("design", str(path), "--budget", "3e20", "--target-compute", "0")
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error:") and len(bad.stderr.strip().splitlines()) == 1
    lay = _cli("layout", "--budgets", "1e18", "1e19", "1e20", "--per-budget", "7", "--json")
    assert lay.returncode == 0 and len(json.loads(lay.stdout)["runs"]) == 21
    thin = tmp_path / "thin.csv"
    pd.DataFrame({"params": [1e8, 2e8], "tokens": [1e9, 5e8], "loss": [3.0, 3.1]}).to_csv(thin, index=False)
    err = _cli("isoflop", str(thin))
    assert err.returncode == 2 and "at least one budget" in err.stderr


def test_a_probability_every_draw_agrees_on_is_refused(sim_fit):
    for threshold, words in ((0.5, "in no posterior draw"), (50.0, "in every posterior draw")):
        with pytest.raises(bs.QueryError, match=words + ".*nothing for new runs to learn"):
            design.propose(sim_fit, 3e21, 1e22, "prob", k=2, threshold=threshold, n_sim=32)
