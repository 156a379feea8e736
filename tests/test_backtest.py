"""Backtests (bayes_scaling.validation.backtest), the M4 baseline (bayes_scaling.validation.baselines.m4), their CLI and plots."""

from __future__ import annotations

import json
import math
import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from conftest import SEED

import bayes_scaling as bs
from bayes_scaling.cli import main
from bayes_scaling.inference import Diagnostics, SamplerSettings
from bayes_scaling.laws.m4 import m4_solve
from bayes_scaling.present import plots
from bayes_scaling.result.fit import Fit
from bayes_scaling.validation.backtest import (
    Backtest,
    backtest,
    empirical_scores,
    pointwise_scores,
    predict_runs,
    summarise,
)
from bayes_scaling.validation.baselines.m4 import fit_m4, fit_m4_curves
from bayes_scaling.validation.predictive import discrepancy_scale
from bayes_scaling.validation.splits import split_holdout, spread_tasks


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _curves(tasks: dict[str, dict[str, float]], n: int = 24, sigma: float = 0.005, seed: int = 0) -> bs.Runs:
    """Saturating learning curves E + A (x + x0)^-alpha, one task each, in domain 'vision'."""
    from bayes_scaling.validation.simulate import simulate_groups

    design = pd.DataFrame({"tokens": np.geomspace(1e6, 1e9, n)})
    frame = simulate_groups(design, {"vision": tasks}, law="saturating", sigma=sigma, nu=None, seed=seed)
    frame["params"] = 1e8
    return bs.read_runs(frame[["params", "tokens", "loss", "domain", "task"]])


CURVE = {"E": 0.1, "A": 60.0, "x0": 1e5, "alpha": 0.35}
#: M4 with the original's algorithm but far fewer steps (the original's 100 x 1000 gradient steps take seconds).
QUICK_M4 = {"epochs": 200, "grad_iters": 20, "max_iterations": 300}


# ------------------------------------------------------------------------------------------- splits


def test_compute_holdout_takes_the_top_budgets_together(sim_runs):
    train, test = split_holdout(sim_runs, "compute:0.2")
    assert len(test) == 24 and len(train) == 84  # 22 runs asked; the 12 runs of a budget stay together
    assert test.column("compute").min() > train.column("compute").max()


def test_threshold_and_half_holdouts():
    runs = _curves({"a": CURVE, "b": CURVE}, n=10)
    train, test = split_holdout(runs, "tokens:>=1e8")
    assert test.column("tokens").min() >= 1e8 > train.column("tokens").max()
    train, test = split_holdout(runs, "tokens:half")
    for task in ("a", "b"):
        x_max = runs.table.loc[runs.table["task"] == task, "tokens"].max()
        held = test.table.loc[test.table["task"] == task, "tokens"]
        assert len(held) and (held > x_max / 2).all()
        assert (train.table.loc[train.table["task"] == task, "tokens"] <= x_max / 2).all()
    train, test = split_holdout(runs, "tokens:tail0.3")  # the last 30% of x of each curve
    for task in ("a", "b"):
        x_max = runs.table.loc[runs.table["task"] == task, "tokens"].max()
        assert (test.table.loc[test.table["task"] == task, "tokens"] > 0.7 * x_max).all()
        assert (train.table.loc[train.table["task"] == task, "tokens"] <= 0.7 * x_max).all()
    with pytest.raises(bs.InputError, match="fraction of x must lie strictly between 0 and 1"):
        split_holdout(runs, "tokens:tail1.5")


@pytest.mark.parametrize(("holdout", "message"), [
    ("compute", "unknown holdout"),
    ("loss:0.2", "unknown holdout"),
    ("compute:1.5", "strictly between 0 and 1"),
    ("params:>1e12", "holds out no runs"),
    ("params:>1", "holds out every run"),
])
def test_bad_holdouts_raise_input_errors(sim_runs, holdout, message):
    with pytest.raises(bs.InputError, match=message):
        split_holdout(sim_runs, holdout, spec="chinchilla")


def test_holdout_leaving_fewer_runs_than_parameters_is_refused(sim_runs):
    fourth = float(np.sort(sim_runs.column("params"))[3])
    with pytest.raises(bs.InputError, match="leaves 3 training runs, too few for the 5 parameters"):
        split_holdout(sim_runs, f"params:>={fourth!r}", spec="chinchilla")


def test_held_out_task_without_training_runs_is_refused():
    runs = _curves({"a": CURVE, "b": {**CURVE, "alpha": 0.3}}, n=10)
    table = runs.table.copy()
    table.loc[table["task"] == "b", "tokens"] *= 1e3  # task b lies entirely beyond the cut
    runs = bs.read_runs(table)
    spec = bs.load_spec("saturating").with_pooling(**{p: "task" for p in ("log_l0", "logit_f", "alpha", "log_x0")})
    with pytest.raises(bs.QueryError, match="held-out task.*'b'.*no training runs"):
        split_holdout(runs, "tokens:>5e8", spec)
    split_holdout(runs, "tokens:>5e8", "saturating")  # a shared spec can predict task b
    one_x = bs.read_runs(pd.concat([runs.table[runs.table["task"] == "a"],
                                    runs.table[runs.table["task"] == "b"].head(1)], ignore_index=True))
    with pytest.raises(bs.QueryError, match=r"lie in the held-out part") as refused:  # not: "use 'tokens:half'"
        split_holdout(one_x, "tokens:half", spec)
    assert "e.g. 'tokens:half'" not in str(refused.value)


# ----------------------------------------------------------------------------------------- scoring


def test_pointwise_scores_match_hand_computation():
    mu = np.array([[0.0, 1.0], [0.2, 1.0], [0.4, 1.0]])  # 3 draws, 2 runs
    sigma = 0.5
    log_obs = np.array([0.1, 2.0])
    out = pointwise_scores(log_obs, mu, sigma)
    z = (log_obs[None, :] - mu) / sigma
    np.testing.assert_allclose(out["median"], np.exp([0.2, 1.0]))
    np.testing.assert_allclose(out["pit"], stats.norm.cdf(z).mean(axis=0))
    np.testing.assert_allclose(out["lpd"], np.log(stats.norm.pdf(z).mean(axis=0) / sigma))
    t = pointwise_scores(log_obs, mu, sigma, nu=3.0)
    np.testing.assert_allclose(t["pit"], stats.t.cdf(z, 3.0).mean(axis=0))


def test_summarise_matches_hand_computation():
    frame = pd.DataFrame({"loss": [1.0, 2.0, 4.0, 0.5], "median": [1.1, 2.0, 3.0, 0.5],
                          "pit": [0.5, 0.7, 0.99, 0.3], "lpd": [1.0, 2.0, 3.0, 4.0]})
    out = summarise(frame, (0.5, 0.9))
    errors = np.log([1.1, 1.0, 0.75, 1.0])
    assert out["rmsle"] == pytest.approx(np.sqrt(np.mean(errors**2)))
    assert out["coverage_50"] == 0.75 and out["coverage_90"] == 0.75  # only PIT 0.99 falls outside
    assert out["calibration_error"] == pytest.approx(((0.75 - 0.5) ** 2 + (0.75 - 0.9) ** 2) / 2)
    assert out["mlpd"] == 2.5
    assert out["mlpd_loss"] == pytest.approx(2.5 - np.mean(np.log([1.0, 2.0, 4.0, 0.5])))
    point = summarise(frame.assign(pit=np.nan, lpd=np.nan), (0.5,))
    assert math.isnan(point["coverage_50"]) and math.isnan(point["mlpd"]) and point["rmsle"] == out["rmsle"]


def test_empirical_scores_of_a_sample():
    draws = np.log(np.arange(1.0, 101.0))[:, None]  # 100 predictions of one run: 1, 2, ..., 100
    out = empirical_scores(np.log([30.5]), draws, (0.9,))
    assert out["pit"].iloc[0] == 0.30 and np.isnan(out["lpd"].iloc[0])
    assert out["lower_90"].iloc[0] == pytest.approx(np.exp(np.quantile(draws, 0.05)), rel=1e-12)  # log-space quantile
    assert 5.0 < out["lower_90"].iloc[0] < 6.0 and 95.0 < out["upper_90"].iloc[0] < 96.0


# -------------------------------------------------------------------------------------- prediction


def _task_fit() -> Fit:
    """A hand-made posterior of the compute law, every parameter by task, 2 chains x 3 draws."""
    runs = bs.read_runs(pd.DataFrame({"params": [1e8] * 6, "compute": np.tile([1e18, 1e19, 1e20], 2),
                                      "loss": [3.0, 2.8, 2.6, 2.0, 1.8, 1.7], "domain": "d",
                                      "task": ["t1"] * 3 + ["t2"] * 3}))
    spec = bs.load_spec("compute").with_pooling(log_e="task", log_c0="task", alpha="task")
    rng = np.random.default_rng(0)
    dims, coords = ("chain", "draw", "task"), {"task": ["t1", "t2"]}
    post = xr.Dataset({
        "log_e": (dims, np.log([[[1.5, 0.9]] * 3] * 2) + 0.01 * rng.standard_normal((2, 3, 2))),
        "log_c0": (dims, np.full((2, 3, 2), -1.0) + np.array([0.0, 0.5])),
        "alpha": (dims, np.full((2, 3, 2), 0.3) + np.array([0.0, 0.1])),
        "sigma": (("chain", "draw"), np.full((2, 3), 0.01)),
        "nu": (("chain", "draw"), np.full((2, 3), 5.0)),
    }, coords=coords)
    idata = xr.DataTree.from_dict({"posterior": post})
    diagnostics = Diagnostics(0, 6, 1.0, 1000.0, 1000.0, 2.0)
    return Fit(idata, runs, spec, SamplerSettings(seed=3), diagnostics, {"compute": float(np.log(1e19))})


def test_predict_runs_uses_each_runs_own_group():
    fit = _task_fit()
    runs = bs.read_runs(pd.DataFrame({"params": 1e8, "compute": [1e21, 1e22, 1e21], "loss": 1.0, "domain": "d",
                                      "task": ["t2", "t1", "t1"]}))
    out = predict_runs(fit, runs, seed=1)
    assert out["loss_mean"].dims == ("chain", "draw", "run") and out.sizes["run"] == 3
    grid = fit.predict(compute=[1e21, 1e22], level="task")["loss_mean"]
    for run, (task, point) in enumerate([("t2", 0), ("t1", 1), ("t1", 0)]):
        expected = grid.sel(task=task).isel(point=point)
        np.testing.assert_allclose(out["loss_mean"].isel(run=run).values, expected.values, rtol=1e-12)
    assert list(out["task"].values) == ["t2", "t1", "t1"]
    assert float(np.abs(np.log(out["loss_pred"] / out["loss_mean"])).max()) < 0.5  # noise of scale 0.01
    unknown = bs.read_runs(pd.DataFrame({"params": [1e8], "compute": [1e21], "loss": [1.0], "task": ["t9"]}))
    with pytest.raises(bs.QueryError, match="'t9'"):
        predict_runs(fit, unknown)


# ---------------------------------------------------------------------------------------- backtest


@pytest.fixture(scope="module")
def sim_backtest(sim_runs) -> Backtest:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        return backtest(sim_runs, "chinchilla", holdout="compute:0.2", baselines=True, draws=300, tune=500, chains=2,
                        seed=SEED, n_resamples=40)


def test_backtest_on_known_truth_is_accurate_and_calibrated(sim_backtest):
    m = sim_backtest.metrics.set_index("method")
    assert list(m.index) == ["posterior", "posterior+structural", "huber", "bootstrap", "bootstrap+noise"]
    assert set(m.columns) >= {"rmsle", "coverage_50", "coverage_80", "coverage_90", "coverage_95", "mlpd",
                              "calibration_error", "n_train", "n_test"}
    assert (m["n_train"] == 84).all() and (m["n_test"] == 24).all()
    post = m.loc["posterior"]
    assert post["rmsle"] < 0.03  # noise is 0.01·t_4 on log loss; the extrapolation adds little
    assert post["coverage_90"] >= 0.75 and post["coverage_50"] >= 0.25  # 24 runs: sane, not exact
    assert post["calibration_error"] < 0.05 and np.isfinite(post["mlpd"]) and post["mlpd"] > 1.5
    assert m.loc["huber", "rmsle"] < 0.03 and np.isnan(m.loc["huber", "coverage_90"])
    assert m.loc["bootstrap", "coverage_95"] <= post["coverage_95"]  # parameter uncertainty only
    noisy = m.loc["bootstrap+noise"]  # the same refits with the fit's residual noise: a density to score
    assert np.isnan(m.loc["bootstrap", "mlpd"]) and np.isfinite(noisy["mlpd"])
    assert noisy["coverage_90"] >= m.loc["bootstrap", "coverage_90"] and noisy["rmsle"] == m.loc["bootstrap", "rmsle"]
    wide = m.loc["posterior+structural"]
    assert wide["rmsle"] == post["rmsle"] and wide["coverage_90"] >= post["coverage_90"]


def test_backtest_per_run_rows_and_json(sim_backtest):
    per_run = sim_backtest.per_run
    post = per_run[per_run["method"] == "posterior"]
    assert len(post) == 24 and (post["lower_90"] <= post["median"]).all() and (post["median"] <= post["upper_90"]).all()
    recomputed = np.sqrt(np.mean(post["log_error"] ** 2))
    assert sim_backtest.metrics.loc[0, "rmsle"] == pytest.approx(recomputed)
    doc = json.loads(json.dumps(sim_backtest.to_dict()))
    assert doc["holdout"] == "compute:0.2" and doc["metrics"][0]["method"] == "posterior"
    huber = next(m for m in doc["metrics"] if m["method"] == "huber")
    assert huber["coverage_90"] is None  # NaN -> null


def test_spread_tasks_keeps_whole_tasks_spread_over_each_domain():
    table = pd.DataFrame({"params": 1e8, "tokens": np.tile([1e9, 1e10, 1e11], 10), "loss": np.tile([0.5, 0.4, 0.35], 10),
                          "domain": np.repeat(["a"] * 7 + ["b"] * 3, 3), "task": np.repeat([f"t{i}" for i in range(10)], 3)})
    runs = bs.read_runs(table)
    kept = spread_tasks(runs, 3).table
    assert sorted(kept["task"].unique()) == ["t0", "t3", "t6", "t7", "t8", "t9"]  # ends and middle of a; all of b
    assert (kept.groupby("task").size() == 3).all()
    with pytest.raises(bs.InputError, match="at least 1"):
        spread_tasks(runs, 0)


def test_discrepancy_scale_finds_the_misfit_the_noise_misses(sim_backtest):
    """Held-out runs perturbed by a known extra error on log loss: the profile's best tau recovers its size;
    the clean runs (the law is true here) need next to none."""
    fit, test = sim_backtest.fit, sim_backtest.test
    clean_tau, profile = discrepancy_scale(fit, test)
    assert list(profile.columns) == ["tau", "mlpd"] and profile["tau"].iloc[0] == 0.0
    assert clean_tau < 0.01  # the simulated noise is 0.01·t_4: little left over
    shift = 0.05 * np.random.default_rng(SEED).standard_normal(len(test))
    table = test.table.assign(loss=test.table["loss"] * np.exp(shift))
    perturbed = bs.Runs(table, test.compute_factor, test.source)
    tau, _ = discrepancy_scale(fit, perturbed)
    assert 0.03 < tau < 0.08


def test_backtest_with_discrepancy_widens_intervals(sim_runs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        result = backtest(sim_runs, "chinchilla", holdout="compute:0.2", discrepancy=True, draws=150, tune=300,
                          chains=2, seed=SEED)
    m = result.metrics.set_index("method")
    assert list(m.index) == ["posterior", "posterior+structural", "posterior+discrepancy"]
    assert result.discrepancy is not None and 0.0 <= result.discrepancy < 0.05
    assert m.loc["posterior+discrepancy", "rmsle"] == m.loc["posterior", "rmsle"]  # same medians
    assert m.loc["posterior+discrepancy", "coverage_90"] >= m.loc["posterior", "coverage_90"]
    assert json.loads(json.dumps(result.to_dict()))["discrepancy"] == result.discrepancy
    with pytest.raises(bs.InputError, match="nested split for the discrepancy"):
        backtest(sim_runs, "chinchilla", holdout="compute:0.2", discrepancy="params:>1e13", draws=10, tune=10)


def test_backtest_given_split_and_refusals(sim_runs):
    train, test = split_holdout(sim_runs, "compute:0.2")
    with pytest.raises(bs.InputError, match="not both"):
        backtest((train, test), holdout="compute:0.2")
    with pytest.raises(bs.InputError, match="holds out no runs"):
        backtest((train, bs.Runs(test.table.iloc[:0])), draws=10, tune=10)
    with pytest.raises(bs.InputError, match="levels"):
        backtest(sim_runs, levels=(0.5, 1.0))


def test_learning_curve_backtest_scores_m4_per_task():
    runs = _curves({"a": CURVE, "b": CURVE}, n=16, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        result = backtest(runs, "saturating", holdout="tokens:half", baselines=True, draws=200, tune=400, chains=2,
                          seed=SEED, m4_options=QUICK_M4)
    m = result.metrics.set_index("method")
    assert list(m.index) == ["posterior", "posterior+structural", "m4"] and (m["n_tasks"] == 2).all()
    assert set(result.per_task["task"]) == {"a", "b"} and len(result.per_task) == 6
    assert m.loc["posterior", "rmsle_task_mean"] == pytest.approx(result.per_task.query("method == 'posterior'")["rmsle"].mean())
    assert m.loc["posterior", "rmsle"] < 0.05 and m.loc["m4", "rmsle"] < 0.1


# -------------------------------------------------------------------------------------------- M4


def test_m4_recovers_a_curve_and_extrapolates():
    x = np.geomspace(1e5, 1e9, 40)
    log_k = np.log(3.0) - 0.4 * np.log(x)
    log_t, _ = m4_solve(np, log_k, np.full_like(x, np.log(0.8)), np.full_like(x, 0.7))
    y = 0.1 + np.exp(log_t)  # eps_inf 0.1, eps_0 0.9
    fit = fit_m4(x[:25], y[:25] * np.exp(0.002 * np.random.default_rng(1).standard_normal(25)), **QUICK_M4)
    pred = fit.predict(x[25:])
    assert np.sqrt(np.mean(np.log(pred / y[25:]) ** 2)) < 0.03
    np.testing.assert_allclose(fit.predict(x[25:], "exact"), pred, atol=1e-3)  # the grid resolves 1e-4
    assert fit.c < 0 and fit.alpha >= 0 and fit.err_inf < y.min()


def test_m4_batch_equals_single_and_refuses_bad_curves():
    x = np.geomspace(1e5, 1e8, 12)
    y1, y2 = 0.2 + 5 * x**-0.3, 0.3 + 2 * x**-0.2
    quick = {"epochs": 50, "grad_iters": 5, "max_iterations": 40}
    both = fit_m4_curves([(x, y1), (x, y2)], **quick)
    assert both[1] == fit_m4(x, y2, **quick)
    with pytest.raises(bs.InputError, match="at least 3"):
        fit_m4([1.0, 2.0], [0.5, 0.4])
    with pytest.raises(bs.InputError, match="err_0"):
        fit_m4(x, y1 + 1.0)


# -------------------------------------------------------------------------------------------- CLI


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("holdout", ["compute:1.5", "bogus", "params:>1e13", "compute:0.97"])
def test_cli_bad_holdout_exits_2_with_one_line(capsys, holdout):
    code, out, err = run(capsys, "backtest", "chinchilla_sim", "--holdout", holdout)
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(lines) == 1 and out == ""


def test_cli_split_test_needs_a_registered_dataset(capsys, tmp_path, sim_runs):
    csv = tmp_path / "runs.csv"
    sim_runs.table.to_csv(csv, index=False)
    code, _, err = run(capsys, "backtest", str(csv), "--split-test", "extrapolate")
    assert code == 2 and "error: --split and --split-test apply to registered datasets" in err


def test_cli_backtest_json(capsys):
    code, out, _ = run(capsys, "backtest", "chinchilla_sim", "--holdout", "params:>5e9", "--baselines", "--resamples",
                       "5", "--draws", "60", "--tune", "100", "--chains", "2", "--json")
    doc = json.loads(out)
    assert code == 0 and [m["method"] for m in doc["metrics"]] == ["posterior", "posterior+structural", "huber", "bootstrap",
                                                                   "bootstrap+noise"]
    assert doc["holdout"] == "params:>5e9" and "warnings" in doc and doc["discrepancy"] is None
    assert any("5 bootstrap resamples cannot resolve" in w for w in doc["warnings"])  # stderr's warning, in the JSON too
    code, out, _ = run(capsys, "backtest", "chinchilla_sim", "--holdout", "compute:0.2", "--discrepancy", "--noise-pool",
                       "shared", "--draws", "60", "--tune", "100", "--chains", "2")
    assert code == 0 and "posterior+discrepancy" in out and "discrepancy learned by the nested backtest: sd" in out


# ------------------------------------------------------------------------------------------- plots


def test_coverage_curve_and_extrapolation_draw(sim_backtest):
    ax = plots.coverage_curve(sim_backtest)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "posterior" in labels and "bootstrap" in labels and "huber" not in labels  # huber has no intervals
    ax = plots.extrapolation(sim_backtest)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "held-out runs" in labels and "posterior (90% interval)" in labels and "huber (point)" in labels
    with pytest.raises(ValueError, match="levels"):
        plots.extrapolation(sim_backtest, prob=0.66)


def test_held_out_runs_that_are_also_training_runs_are_named(sim_runs):
    """A given split whose test runs are also in its training runs warns before they are scored as if
    held out; a clean split does not."""
    from bayes_scaling.validation.splits import warn_overlap

    train, test = split_holdout(sim_runs, "compute:0.2")
    with pytest.warns(bs.DataWarning, match=r"5 of the \d+ held-out runs are also training runs"):
        assert warn_overlap(bs.Runs(pd.concat([train.table, test.table.iloc[:5]], ignore_index=True)), test) == 5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_overlap(train, test) == 0


def test_too_few_bootstrap_resamples_are_named_before_sampling(sim_runs):
    with (pytest.warns(bs.DataWarning, match="5 bootstrap resamples cannot resolve the tails"),
          pytest.raises(bs.BackendError, match="draws must be at least 1")):
        bs.backtest(sim_runs, "chinchilla", baselines=True, n_resamples=5, draws=0)
