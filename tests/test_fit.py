"""Real sampling on the bundled simulation: recovery, prediction, save/load, reproducibility, loud diagnostics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from conftest import SEED

import bayes_scaling as bs
from bayes_scaling.validation.simulate import EPOCH_PARAMS


def test_sampler_converged(sim_fit):
    d = sim_fit.diagnostics
    assert d.ok, d.problems
    assert d.divergences == 0 and d.max_rhat <= 1.01
    assert str(d).startswith("0 divergences in 1000 draws") and str(d).endswith(": converged")


def test_summary_table(sim_fit):
    table = sim_fit.summary()
    assert list(table.index) == ["E", "A", "B", "alpha", "beta", "a", "sigma", "nu"]
    assert {"median", "lower", "upper", "r_hat", "ess_bulk", "ess_tail"} <= set(table.columns)
    assert (table["lower"] < table["median"]).all() and (table["median"] < table["upper"]).all()
    assert table.attrs["problems"] == []


def test_parameters_are_recovered(sim_fit):
    """The truth (Epoch's fit, used to simulate) lies inside the 99% interval, and the exponents are
    pinned down to a few hundredths: honest tolerances for 108 runs with sigma = 0.01 t-noise."""
    table = sim_fit.summary(prob=0.99)
    for name, truth in EPOCH_PARAMS.items():
        assert table.loc[name, "lower"] <= truth <= table.loc[name, "upper"], (name, truth, table.loc[name].to_dict())
    for name in ("alpha", "beta"):
        assert abs(table.loc[name, "median"] - EPOCH_PARAMS[name]) < 0.05
    assert table.loc["sigma", "median"] == pytest.approx(0.01, rel=0.3)


def test_optimal_closed_and_numeric_agree_on_the_posterior(sim_fit):
    closed = sim_fit.optimal([1e21, 5.88e23], method="closed")
    numeric = sim_fit.optimal([1e21, 5.88e23], method="numeric")
    np.testing.assert_allclose(numeric.ratio, closed.ratio, rtol=1e-4)
    ratio = bs.interval_table(closed.ratio, 0.8)
    assert (ratio["lower"] < ratio["median"]).all() and (ratio["median"] < ratio["upper"]).all()


def test_predictive_interval_contains_the_credible_one(sim_fit):
    pred = sim_fit.predict(params=[70e9, 1e9], tokens=[1.4e12, 2e10])
    table = bs.interval_table(pred).set_index(["variable", "point"])
    for point in (0, 1):
        mean, new = table.loc[("loss_mean", point)], table.loc[("loss_pred", point)]
        assert new["lower"] < mean["lower"] < mean["upper"] < new["upper"]
    assert pred.loss_mean.dims == ("chain", "draw", "point")
    np.testing.assert_allclose(pred["compute"], 6 * pred["params"] * pred["tokens"])
    again = sim_fit.predict(params=[70e9, 1e9], tokens=[1.4e12, 2e10])
    np.testing.assert_array_equal(again.loss_pred, pred.loss_pred)  # seeded noise


def test_predict_needs_the_law_inputs(sim_fit):
    with pytest.raises(bs.QueryError, match="needs params and tokens"):
        sim_fit.predict(compute=1e21)
    with pytest.raises(bs.QueryError, match="positive"):
        sim_fit.predict(params=-1, tokens=1e9)


def test_predict_refuses_queries_it_would_answer_wrongly(sim_fit):
    """Inputs a prediction would silently misread are refused with one QueryError each: compute that
    is not k·N·D beside N and D (the mean reads N and D, the structural error's distance reads C),
    unique tokens for a law without them (ignored before), no points, text."""
    ok = sim_fit.predict(params=1e9, tokens=2e10, compute=6 * 1e9 * 2e10)
    assert float(ok["compute"][0]) == pytest.approx(1.2e20)
    with pytest.raises(bs.QueryError, match="give two of them"):
        sim_fit.predict(params=1e9, tokens=1e10, compute=1e30)
    with pytest.raises(bs.QueryError, match="does not read unique tokens"):
        sim_fit.predict(params=1e9, tokens=1e10, unique_tokens=1e3)
    with pytest.raises(bs.QueryError, match="positive finite"):
        sim_fit.predict(params=[], tokens=1e10)
    with pytest.raises(bs.QueryError, match="must be numbers"):
        sim_fit.predict(params="abc", tokens=1e10)
    with pytest.raises(bs.QueryError, match="too small"):  # N* = 0.06 parameters before, as plan refuses
        sim_fit.optimal(6.0)
    with pytest.raises(bs.QueryError, match="must differ"):  # a duplicated coordinate before
        sim_fit.optimal([1e21, 1e21])
    with pytest.raises(bs.QueryError, match="must be numbers"):
        sim_fit.optimal("abc")
    with pytest.raises(bs.QueryError, match="one number or a list"):  # numpy's "truth value" ValueError before
        bs.plan(sim_fit, [[1e21, 1e22]])
    for seed in (-1, 1.5):  # numpy's ValueError / TypeError before
        with pytest.raises(bs.QueryError, match="seed must be"):
            sim_fit.predict(params=1e9, tokens=1e10, seed=seed)
    with pytest.raises(bs.QueryError, match="same length"):  # numpy's broadcast ValueError before
        bs.planning.prob_below(sim_fit, 2.0, [1e9, 2e9], [1e10, 2e10, 3e10], predictive=True)
    with pytest.raises(bs.QueryError, match="compares fits"):
        bs.compare_models([sim_fit, "fit.nc"])
    with pytest.raises(bs.SpecError, match="a spec is"):
        bs.fit(sim_fit.runs, None)
    with pytest.raises(bs.FitFileError, match="a fit file is a path"):
        bs.load_fit(None)


def test_save_load_round_trip(sim_fit, tmp_path):
    path = sim_fit.save(tmp_path / "fit.nc")
    loaded = bs.load_fit(path)
    for name in sim_fit.posterior.data_vars:
        np.testing.assert_array_equal(loaded.posterior[name].values, sim_fit.posterior[name].values)
    assert loaded.summary().equals(sim_fit.summary())
    assert loaded.spec == sim_fit.spec and loaded.settings == sim_fit.settings
    assert loaded.runs.digest == sim_fit.runs.digest
    assert loaded.idata.attrs["package_version"] == bs.__version__


def test_corrupt_and_truncated_fit_files(sim_fit, tmp_path):
    path = sim_fit.save(tmp_path / "fit.nc")
    blob = path.read_bytes()
    truncated = tmp_path / "truncated.nc"
    truncated.write_bytes(blob[: len(blob) // 2])
    garbage = tmp_path / "garbage.nc"
    garbage.write_bytes(b"not a netcdf file at all")
    for bad in (truncated, garbage, tmp_path / "absent.nc"):
        with pytest.raises(bs.FitFileError):
            bs.load_fit(bad)


def test_same_seed_same_draws_and_loud_warnings(sim_runs):
    """Identical to the last digit with one seed; a too-short run is reported, not hidden."""
    kwargs = {"draws": 30, "tune": 30, "chains": 2}
    with pytest.warns(bs.SamplerWarning):
        a = bs.fit(sim_runs, seed=SEED, **kwargs)
    with pytest.warns(bs.SamplerWarning):
        b = bs.fit(sim_runs, seed=SEED, **kwargs)
    with pytest.warns(bs.SamplerWarning):
        c = bs.fit(sim_runs, seed=SEED + 1, **kwargs)
    np.testing.assert_array_equal(a.posterior["alpha"].values, b.posterior["alpha"].values)
    assert not np.array_equal(a.posterior["alpha"].values, c.posterior["alpha"].values)
    assert not a.diagnostics.ok and any("ESS" in p for p in a.diagnostics.problems)
    assert "WARNING" in bs.format_summary(a)
    assert str(a.diagnostics).endswith("PROBLEMS: " + "; ".join(a.diagnostics.problems))


def test_one_chain_is_flagged_and_written_as_strict_json(sim_runs, tmp_path):
    """R-hat of one chain is undefined: a problem in words, null (not NaN) in JSON, NaN again on reload."""
    with pytest.warns(bs.SamplerWarning, match="one chain only"):
        one = bs.fit(sim_runs, draws=30, tune=30, chains=1, seed=SEED)
    doc = json.loads(json.dumps(one.diagnostics.to_dict(), allow_nan=False))
    assert doc["max_rhat"] is None and doc["ok"] is False
    assert np.isfinite(one.diagnostics.mean_tree_depth)  # read from the sampler's stats
    one.save(tmp_path / "one.nc")
    with pytest.warns(bs.SamplerWarning, match="one chain only"):
        back = bs.load_fit(tmp_path / "one.nc")
    assert np.isnan(back.diagnostics.max_rhat) and back.diagnostics.problems == one.diagnostics.problems


def _draws(centres: list[float], seed: int = 0) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    x = np.stack([c + rng.standard_normal(400) for c in centres])
    return xr.Dataset({"x": (("chain", "draw"), x), "y": (("chain", "draw"), rng.standard_normal(x.shape))})


def test_chains_in_different_modes_are_grouped_and_named():
    from bayes_scaling.result.diagnosis import chains_apart

    text = chains_apart(_draws([0.0, 8.0, 0.2, 8.1]), ["x", "y"])
    assert text.startswith("the chains settled apart (chains 0, 2 | chains 1, 3) in x:"), text
    assert "chain 3)" in chains_apart(_draws([0.0, 0.1, -0.1, 6.0]), ["x"])
    assert chains_apart(_draws([0.0, 0.5, -0.5, 0.3]), ["x", "y"]) == ""  # slow mixing, one mode
    assert chains_apart(_draws([0.0]), ["x"]) == ""


def test_a_chain_far_below_in_log_density_is_a_local_mode():
    from bayes_scaling.result.diagnosis import chains_apart

    post = _draws([0.0, 8.0, 0.2, 8.1])
    lp = xr.DataArray(np.array([80.0, 41.0, 79.0, 60.0])[:, None] + np.zeros((4, 400)), dims=("chain", "draw"))
    local = chains_apart(post, ["x"], lp)
    assert "mean log density 79.5 | 50.5" in local and "chains 1, 3 sat in a local mode" in local, local
    similar = chains_apart(post, ["x"], lp.where(lp > 70, 75.0))
    assert "modes of similar density" in similar and "local mode" not in similar, similar


def test_modes_are_read_only_after_a_full_warm_up():
    from bayes_scaling.result.diagnosis import explain

    tree = xr.DataTree.from_dict({"posterior": _draws([0.0, 8.0, 0.0, 8.0])})
    d = bs.Diagnostics(0, 1600, 2.0, 10.0, 10.0, 3.0, ("R-hat up to 2.000 (> 1.01)",))
    settled = explain(d, tree, bs.SamplerSettings(tune=1000))
    assert any("settled apart" in p for p in settled.problems)
    short = explain(d, tree, bs.SamplerSettings(tune=100))  # a chain may still be on its way
    assert short.problems == d.problems


def test_chains_apart_are_named_by_their_labels_after_a_drop():
    from bayes_scaling.result.diagnosis import chains_apart

    post = _draws([0.0, 8.0, 0.1]).assign_coords(chain=[0, 2, 3])
    lp = xr.DataArray(np.array([80.0, 40.0, 79.0])[:, None] + np.zeros((3, 400)), dims=("chain", "draw"),
                      coords={"chain": [0, 2, 3]})
    text = chains_apart(post, ["x"], lp)
    assert "(chains 0, 3 | chain 2)" in text and "fit.drop_chains([2])" in text, text


def test_an_interrupted_trace_is_cut_to_the_draws_every_running_chain_completed():
    """A sampler pads the chains it stopped with NaN to the longest one; chains that never started are all NaN."""
    from bayes_scaling.inference import _complete_draws

    x = np.arange(4 * 10, dtype=float).reshape(4, 10)
    x[0, 7:] = np.nan   # chain 0 stopped after 7 draws
    x[2:, :] = np.nan   # chains 2 and 3 waited for a core
    tree = xr.DataTree.from_dict({"posterior": xr.Dataset({"a": (("chain", "draw"), x)}),
                                  "sample_stats": xr.Dataset({"logp": (("chain", "draw"), np.zeros((4, 10)))})})
    cut, kept, unstarted = _complete_draws(tree)
    assert (kept, unstarted) == (7, (2, 3))
    assert cut["posterior"]["a"].shape == (2, 7) and np.isfinite(cut["posterior"]["a"].values).all()
    assert cut["sample_stats"]["logp"].shape == (2, 7) and cut["posterior"].to_dataset()["chain"].values.tolist() == [0, 1]


def test_a_stuck_chain_is_not_offered_for_dropping_when_too_few_would_stay():
    from bayes_scaling.result.diagnosis import chains_apart

    lp = xr.DataArray(np.array([80.0, 40.0])[:, None] + np.zeros((2, 400)), dims=("chain", "draw"))
    text = chains_apart(_draws([0.0, 8.0]), ["x"], lp)
    assert "rerun with another seed (or more chains)" in text and "drop_chains" not in text, text
