"""The structural error beyond the data: its spec block, its distance, its draws, and what it does to answers."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SEED, require_mirrored

import bayes_scaling as bs
from bayes_scaling.errors import SpecError
from bayes_scaling.present.text import describe
from bayes_scaling.spec import ModelSpec, load_spec
from bayes_scaling.structural import (
    StructuralError,
    convolved,
    decades_beyond,
    extra_sd,
    growth_draws,
    learned_prior,
    parse,
)

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------ the spec block

@pytest.mark.parametrize(("block", "message"), [
    ({"kind": "extrapolation", "scale": -0.1}, "scale must be a positive number"),
    ({"kind": "extrapolation", "scale": 0}, "scale must be a positive number"),
    ({"kind": "extrapolation", "scale": 0.02, "power": "fast"}, "power must be a positive number"),
    ({"kind": "extrapolation", "scale": 0.02, "spread": -1.0}, "spread must be a number >= 0"),
    ({"kind": "gaussian_process"}, "unknown [discrepancy] kind 'gaussian_process'"),
    ({"kind": "extrapolation", "distance": "miles"}, "unknown [discrepancy] distance 'miles'"),
    ({"kind": "extrapolation", "width": 2}, "unknown [discrepancy] key(s) ['width']"),
    ({"kind": "extrapolation", "family": "model_size"}, "family 'model_size' is not a column of the runs"),
    ({"kind": "none", "family": "params", "family_scale": 0}, "family_scale must be a positive number"),
    ({"kind": "extrapolation", "prior": "my_guess"}, "prior 'my_guess' is not a learned prior; choose one of"),
])
def test_bad_discrepancy_blocks_are_one_line_spec_errors(block, message):
    data = {"name": "bad", "law": "chinchilla", "discrepancy": block}
    with pytest.raises(SpecError) as err:
        ModelSpec.from_dict(data)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_spec_gives_its_own_error_or_none_and_round_trips():
    own = ModelSpec.from_dict({"name": "own", "law": "chinchilla",
                               "discrepancy": {"kind": "extrapolation", "scale": 0.03, "spread": 0.0, "power": 1.0,
                                               "distance": "decades"}})
    assert own.discrepancy == StructuralError("extrapolation", 0.03, 0.0, 1.0, source="spec")
    assert ModelSpec.from_dict(own.to_dict()).discrepancy == own.discrepancy  # stored with every fit
    off = ModelSpec.from_dict({"name": "off", "law": "chinchilla", "discrepancy": {"kind": "none"}})
    assert not off.discrepancy.active
    assert own.overridden(structural="none").discrepancy == StructuralError()
    assert own.overridden(structural=0.05).discrepancy.scale == 0.05
    with pytest.raises(SpecError, match="'none', 'learned' or a positive scale"):
        own.overridden(structural="wide")


def test_shipped_specs_default_to_the_learned_prior_with_its_provenance():
    learned = learned_prior()
    for key in ("scale", "spread", "power", "studies", "command", "package_version"):
        assert key in learned
    assert learned["studies_count"] == len(learned["studies"]) >= 8
    assert "calibration_real.py" in learned["command"]
    spec = load_spec("chinchilla")
    assert spec.discrepancy.active and spec.discrepancy.scale == learned["scale"]
    assert spec.discrepancy.source.startswith("learned")
    assert parse(None, "x") == spec.discrepancy


def test_the_learned_prior_states_its_held_out_record_and_only_its_own_values_claim_it():
    cover = learned_prior()["held_out_coverage_90"]
    assert 0 <= cover["min"] <= cover["median"] <= cover["max"] <= 1
    error = load_spec("chinchilla").discrepancy
    assert f"median {cover['median']:.0%}" in error.record and "each study scored with the prior" in error.record
    assert error.record in describe(error) and "0.0158·d^0.25" in describe(error)
    assert learned_prior("structural_error_curves")["held_out_coverage_90"]["max"] <= 1
    own = load_spec("chinchilla").overridden(structural=0.03).discrepancy
    assert own.record == "" and "override" in describe(own)
    partly = parse({"kind": "extrapolation", "power": 1.0}, "x")  # a power of one's own: not the record's prior
    assert partly.record == "" and partly.scale == learned_prior()["scale"]
    assert parse(error.to_dict(), "saved") == error  # a saved fit keeps the record it was made with
    assert describe(parse({"kind": "none"}, "x")).startswith("none")


def test_learning_curve_specs_read_the_prior_learned_on_continuations_of_curves():
    curves = learned_prior("structural_error_curves")
    assert "--curves" in curves["command"] and curves["studies_count"] == len(curves["studies"]) >= 2
    assert all(name.endswith("@early") for name in curves["studies"])
    for name in ("curve_power", "curve_kaplan"):
        error = load_spec(name).discrepancy
        assert error.active and error.prior == "structural_error_curves"
        assert (error.scale, error.power, error.distance) == (curves["scale"], curves["power"], curves["distance"])
        assert "structural_error_curves" in error.source
    assert load_spec("saturating").discrepancy.prior == "structural_error"


# ------------------------------------------------------------------------ distance, draws, widening

def test_distance_is_zero_inside_and_decades_outside():
    train = pd.DataFrame({"params": [1e8, 1e9], "tokens": [1e9, 1e10], "compute": [6e17, 6e19], "task": ["a", "b"]})
    points = pd.DataFrame({"params": [3e8, 1e11, 1e9, 1e7], "tokens": [3e9, 1e10, 1e12, 1e9],
                           "compute": [5.4e18, 6e21, 6e21, 6e16], "task": ["a", "a", "b", "zz"]})
    d = decades_beyond(train, points, ("params", "tokens"), per_task=False)
    np.testing.assert_allclose(d, [0.0, 2.0, 2.0, 1.0])  # N two decades up; D two; compute one decade down
    relative = decades_beyond(train, points, ("compute",), per_task=False, relative=True)
    np.testing.assert_allclose(relative, [0.0, 1.0, 1.0, 0.5])  # in spans of the data: 2 decades of compute
    curve = decades_beyond(train, points, ("tokens",), per_task=True)  # each task's own range of x
    np.testing.assert_allclose(curve, [np.log10(3), 1.0, 2.0, 0.0])


def test_a_law_in_n_d_and_unique_tokens_is_beyond_in_compute_too():
    """A run inside the range of each input can still lie beyond the data in compute (the top of a
    compute holdout): the data-constrained law's runs are measured in compute as Chinchilla's are."""
    train = pd.DataFrame({"params": [1e8, 1e9], "tokens": [1e10, 1e9], "unique_tokens": [1e9, 1e9],
                          "compute": [6e18, 6e18]})
    point = pd.DataFrame({"params": [1e9], "tokens": [1e10], "unique_tokens": [1e9], "compute": [6e19]})
    d = decades_beyond(train, point, ("params", "tokens", "unique_tokens"), per_task=False)
    np.testing.assert_allclose(d, [1.0])  # N, D and U inside their ranges; compute a decade above


def test_growth_draws_are_deterministic_and_centred_on_the_scale():
    a, b = growth_draws(0.02, 0.5, 4000, seed=3), growth_draws(0.02, 0.5, 4000, seed=3)
    assert np.array_equal(a, b) and not np.array_equal(a, growth_draws(0.02, 0.5, 4000, seed=4))
    assert np.median(a) == pytest.approx(0.02, rel=1e-3)
    assert np.std(np.log(a)) == pytest.approx(0.5, rel=0.01)
    assert np.all(growth_draws(0.02, 0.0, 10, seed=1) == 0.02)
    extra = extra_sd(np.full(3, 0.02), np.array([0.0, 4.0]), power=0.5)
    np.testing.assert_allclose(extra[:, 0], 0.0)  # zero inside the data
    np.testing.assert_allclose(extra[:, 1], 0.04)
    scale, nu = convolved(np.full((3, 2), 0.01), None, extra, seed=1)
    assert nu is None
    np.testing.assert_allclose(scale, [[0.01, np.hypot(0.01, 0.04)]] * 3)  # normal noise: quadrature


def test_student_t_noise_plus_the_structural_error_is_their_convolution():
    from scipy import special, stats

    draws, sigma, nu, extra = 4000, 0.01, 1.5, 0.03
    scale, nus = convolved(np.full((draws, 2), sigma), np.full(draws, nu),
                           np.tile([0.0, extra], (draws, 1)), seed=2)
    assert np.all(nus[:, 0] == nu) and np.all(scale[:, 0] == sigma)  # inside: the noise's own t
    assert np.all(np.isinf(nus[:, 1]))
    rng = np.random.default_rng(0)
    sample = sigma * rng.standard_t(nu, 400_000) + extra * rng.standard_normal(400_000)
    x = np.array([-0.1, -0.05, -0.02, 0.0, 0.01, 0.04, 0.08])
    mixture = special.ndtr(x[:, None] / scale[None, :, 1]).mean(axis=1)
    np.testing.assert_allclose(mixture, (sample[None, :] <= x[:, None]).mean(axis=1), atol=0.006)
    # widening the t's scale instead stretches its heavy tails to the structural error's width
    stretched = stats.t.ppf(0.975, nu) * np.hypot(sigma, extra)
    assert np.quantile(sample, 0.975) < 0.6 * stretched


# -------------------------------------------------------------------------- answers with real fits

def test_predict_widens_beyond_the_runs_only(sim_fit):
    from dataclasses import replace

    wide = replace(sim_fit, spec=sim_fit.spec.overridden(structural=0.05))
    inside = sim_fit.runs.table.iloc[[0, 5]]
    far = {"params": [7e10], "tokens": [1.4e12]}
    a = wide.predict(inside["params"].to_numpy(), inside["tokens"].to_numpy())
    b = wide.predict(inside["params"].to_numpy(), inside["tokens"].to_numpy(), structural=False)
    assert np.array_equal(a["loss_pred"].values, b["loss_pred"].values)  # zero inside: bit-identical
    assert float(a["beyond"].max()) == 0.0
    out, plain = wide.predict(**far), wide.predict(**far, structural=False)
    assert float(out["beyond"][0]) > 1.0
    spread = float(np.log(out["loss_pred"]).std())
    assert spread > 1.5 * float(np.log(plain["loss_pred"]).std())
    assert json.loads(out.attrs["structural_error"])["scale"] == 0.05
    np.testing.assert_array_equal(out["loss_mean"].values, plain["loss_mean"].values)  # the law is untouched


@pytest.mark.slow
def test_backtest_on_epoch_scores_the_structural_row_beside_the_posterior():
    require_mirrored("epoch_chinchilla")
    runs = bs.datasets.load("epoch_chinchilla")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)  # this test reads the scores, not R-hat
        bt = bs.backtest(runs, "chinchilla", holdout="compute:0.2", draws=500, tune=500, chains=2, seed=SEED)
    m = bt.metrics.set_index("method")
    assert list(m.index[:2]) == ["posterior", "posterior+structural"]
    post, structural = m.loc["posterior"], m.loc["posterior+structural"]
    assert structural["rmsle"] == post["rmsle"]  # the same median: the law's own prediction
    assert structural["coverage_90"] > post["coverage_90"]
    assert structural["coverage_error"] < post["coverage_error"]
    assert structural["mlpd"] > post["mlpd"]  # a proper score: not widening for free


@pytest.mark.slow
def test_the_learning_command_is_deterministic(tmp_path):
    """fit + score of two studies, twice in fresh processes, write the same prior to the last digit."""
    require_mirrored("openathena_isoflops")
    outs = []
    for run in range(2):
        cache = tmp_path / f"cache{run}"
        env = {"BAYES_SCALING_CALIBRATION_CACHE": str(cache)}
        studies = ["openathena_marin_comma", "openathena_marin_dclm"]
        base = [sys.executable, str(ROOT / "benchmarks" / "calibration_real.py")]
        for stage in (["fit", "--draws", "200", "--tune", "300"], ["score", "--out", str(tmp_path / f"{run}.json"),
                                                                    "--priors", str(tmp_path / f"{run}.toml"),
                                                                    "--table", str(tmp_path / f"{run}.md"),
                                                                    "--readme", ""]):
            subprocess.run([*base, *stage, "--studies", *studies], check=True, capture_output=True,
                           env={**__import__("os").environ, **env}, timeout=900)
        text = (tmp_path / f"{run}.toml").read_text()
        outs.append("\n".join(line for line in text.splitlines() if not line.startswith("generated")))
    assert outs[0] == outs[1]
    assert "scale = " in outs[0] and "studies_count = 2" in outs[0]


@pytest.mark.slow
def test_the_curve_prior_is_learned_from_continuations_of_early_checkpoints(tmp_path):
    """fit --curves + score --curves: each curve fitted on its first 20%, scored on its later
    checkpoints, and a prior that names the curve command in its provenance."""
    require_mirrored("colpret_curves")
    env = {**__import__("os").environ, "BAYES_SCALING_CALIBRATION_CACHE": str(tmp_path / "cache")}
    base = [sys.executable, str(ROOT / "benchmarks" / "calibration_real.py")]
    studies = ["colpret_olmo@early", "colpret_redpajama@early"]
    for stage in (["fit", "--curves", "--draws", "200", "--tune", "300"],
                  ["score", "--curves", "--out", str(tmp_path / "c.json"), "--priors", str(tmp_path / "c.toml"),
                   "--table", str(tmp_path / "c.md")]):
        subprocess.run([*base, *stage, "--studies", *studies], check=True, capture_output=True, env=env, timeout=900)
    record = json.loads((tmp_path / "c.json").read_text())
    rows = {(m["study"], m["method"]): m for m in record["metrics"] if not m.get("domain")}
    test = pd.read_csv(tmp_path / "cache" / "colpret_olmo@early.test.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)  # 2 x 200 draws: this test reads the split, not R-hat
        train = bs.load_fit(tmp_path / "cache" / "colpret_olmo@early.nc").runs.table
    assert (test.groupby("task")["tokens"].min() > train.groupby("task")["tokens"].max()).all()  # later checkpoints only
    assert rows[("colpret_olmo@early", "posterior")]["n_test"] == len(test) > 0
    assert {"posterior", "posterior+structural"} <= {m for _, m in rows}
    text = (tmp_path / "c.toml").read_text()
    assert "fit --curves" in text and "studies_count = 2" in text
    assert (tmp_path / "c.md").read_text().startswith("# Calibration of learning curves")


# ------------------------------------------------------------------------------- data and commands

@pytest.mark.parametrize(("name", "split", "n_runs", "n_tasks"), [
    ("bnsl_4digit_addition", "fit", 14, 1),
    ("bnsl_4digit_addition", "extrapolate", 3, 1),
    ("colpret_curves", None, 16510, 61),
    ("openathena_isoflops", "llama3", 133, 1),
    ("openathena_isoflops", "marin_comma", 85, 1),
    ("cherti2023_openclip", None, 29, 3),
])
def test_the_studies_the_prior_is_learned_on_load_through_the_registry(name, split, n_runs, n_tasks):
    require_mirrored(name)
    runs = bs.datasets.load(name, split=split)
    assert len(runs) == n_runs and runs.table["task"].nunique() == n_tasks
    info = bs.datasets.info(name)
    assert info.citation and info.licence and all(len(f.sha256) == 64 for f in info.files.values())


def test_backtest_save_and_the_pit_histogram_from_the_command_line(tmp_path, capsys):
    from bayes_scaling.cli import main

    table, png = tmp_path / "runs.csv", tmp_path / "pit.png"
    code = main(["backtest", "chinchilla_sim", "--holdout", "compute:0.2", "--draws", "100", "--tune", "200",
                 "--chains", "2", "--structural", "0.05", "--save", str(table)])
    out = capsys.readouterr().out
    assert code == 0 and "posterior+structural" in out and "coverage_error" in out
    rows = pd.read_csv(table)
    assert set(rows["method"]) == {"posterior", "posterior+structural"} and rows["pit"].between(0, 1).all()
    assert main(["plot", str(table), "--kind", "pit", "--out", str(png)]) == 0 and png.stat().st_size > 1000
    capsys.readouterr()
    assert main(["plot", str(tmp_path / "missing.csv"), "--kind", "pit", "--out", str(png)]) == 2
    assert "error: no such per-run table" in capsys.readouterr().err
    code = main(["backtest", "chinchilla_sim", "--structural", "-1", "--draws", "50", "--tune", "50"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "'none', 'learned' or a positive scale, got '-1'" in err


def test_the_family_effect_shares_an_offset_within_a_model_size(sim_runs):
    """family = "params": one offset per model size in the model; a new size gets its variance."""
    from dataclasses import replace

    spec = load_spec("chinchilla")
    spec = replace(spec, discrepancy=replace(spec.discrepancy, kind="none", family="params"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        fit = bs.fit(sim_runs, spec, draws=200, tune=300, chains=2, seed=SEED)
    post = fit.posterior
    sizes = sim_runs.table["params"].nunique()
    assert post["family_z"].sizes["family"] == sizes and "family_sd" in post
    known = float(sim_runs.table["params"].iloc[0])
    tokens = float(sim_runs.table["tokens"].iloc[0])
    seen = fit.predict(params=[known], tokens=[tokens])
    new = fit.predict(params=[known * 1.37], tokens=[tokens])
    plain = replace(fit, spec=replace(fit.spec, discrepancy=StructuralError()))
    assert not np.array_equal(seen["loss_pred"].values, plain.predict(params=[known], tokens=[tokens])["loss_pred"].values)
    offset = np.log(seen["loss_pred"]).std() - np.log(plain.predict(params=[known], tokens=[tokens])["loss_pred"]).std()
    wider = np.log(new["loss_pred"]).std() - np.log(plain.predict(params=[known * 1.37], tokens=[tokens])["loss_pred"]).std()
    assert float(wider) > 0 and float(wider) > float(offset) - 1e-3  # a new size is at least as uncertain
    # a run at the compute optimum is a new size too: its loss carries the family's variance, as predict's does
    spread = [float(np.log(o["loss_pred"] / o["loss"]).std()) for o in (fit.optimal(1e20), plain.optimal(1e20))]
    sd = float(np.sqrt((post["family_sd"] ** 2).mean()))
    assert spread[0] > spread[1] and spread[0] ** 2 == pytest.approx(spread[1] ** 2 + sd**2, rel=0.35)


def test_within_study_update_of_the_error_scale_follows_its_evidence():
    """benchmarks/internal_extrapolation.py's update of tau = scale·m: no spread is no update, evidence
    peaked at m = 1/8 pulls tau there under a wide prior, flat evidence leaves the prior's median, and
    the draws are the same for the same seed."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("internal_extrapolation",
                                                  ROOT / "benchmarks" / "internal_extrapolation.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    grid = module.LOG_M
    peaked = -0.5 * ((grid - np.log(1 / 8)) / 0.1) ** 2
    assert np.all(module.updated_tau(0.02, 0.0, peaked, 400, SEED) == 0.02)
    pulled = module.updated_tau(0.02, 2.0, peaked, 400, SEED)
    assert abs(np.log(np.median(pulled) / (0.02 / 8))) < 0.2
    flat = module.updated_tau(0.02, 0.5, np.zeros_like(grid), 400, SEED)
    assert abs(np.log(np.median(flat) / 0.02)) < 0.1 and np.std(np.log(flat)) > 0.4
    assert np.array_equal(flat, module.updated_tau(0.02, 0.5, np.zeros_like(grid), 400, SEED))


def test_a_fit_of_curves_measures_each_curve_from_its_own_runs():
    rng = np.random.default_rng(3)
    rows = []
    for curve, top in (("short", 1e9), ("long", 1e10)):
        x = np.geomspace(1e8, top, 14)
        rows.append(pd.DataFrame({"tokens": x, "loss": (2.0 + 40 * x**-0.25) * np.exp(rng.normal(0, 0.002, x.size)),
                                  "task": curve}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)  # this test reads the distances, not R-hat
        fit = bs.fit(pd.concat(rows, ignore_index=True), "curve_power", draws=150, tune=300, chains=2, seed=1)
    out, plain = fit.predict(tokens=[5e9]), fit.predict(tokens=[5e9], structural=False)
    beyond = out["beyond"].sel(point=0)
    assert out["beyond"].dims == ("point", "task")
    np.testing.assert_allclose(float(beyond.sel(task="short")), np.log10(5), rtol=1e-9)  # 0.7 decades past 1e9
    assert float(beyond.sel(task="long")) == 0.0  # inside the long curve's own runs
    np.testing.assert_array_equal(out["loss_pred"].sel(task="long").values, plain["loss_pred"].sel(task="long").values)
    short = [float(np.log(d["loss_pred"].sel(task="short")).std()) for d in (out, plain)]
    assert short[0] > 1.5 * short[1]
