"""Bad input to the Python API after a fit: one of the package's errors with a line that names the
problem, never a library's traceback, a silent N = 1 from ``True``, or an empty answer."""

from __future__ import annotations

import re

import pytest

import bayes_scaling as bs
from bayes_scaling.decisions import planning


@pytest.mark.parametrize("call, words", [
    (lambda f: bs.plan(f, 1e22, max_params="abc"), "max_params must be numbers"),
    (lambda f: bs.plan(f, 1e22, max_tokens=True), "max_tokens must be numbers"),
    (lambda f: bs.plan(f, 1e22, params="abc"), "params must be numbers"),
    (lambda f: bs.plan(f, 1e22, params=True), "params must be numbers"),
    (lambda f: bs.plan(f, [1e22, True]), "budgets must be numbers"),
    (lambda f: bs.plan(f, [1e22, 1e22]), "budgets must differ"),
    (lambda f: bs.plan(f, 1e61), r"above 1e\+60"),
    (lambda f: bs.plan(f, 1e22, n_grid=10**12), "n_grid must be a whole number from 3 to 10000"),
    (lambda f: bs.compute_for_target(f, 2.2, max_compute="1e30"), "max_compute must be numbers"),
    (lambda f: bs.compute_for_target(f, 2.2, max_compute=None), "max_compute must be"),
    (lambda f: bs.compute_for_target(f, 2.2, max_params=[1e12, 2e12]), "max_params must be one number"),
    (lambda f: planning.prob_below(f, 2.3, 1e9, 1e11, predictive="no"), "predictive is True or False"),
    (lambda f: planning.regret(f, 1e10), "below"),
    (lambda f: f.predict(params=[1e9, True], tokens=1e11), "params must be numbers"),
])
def test_bad_arguments_after_a_fit_are_refused_in_one_line(sim_fit, call, words):
    with pytest.raises(bs.BayesScalingError, match=words) as caught:
        call(sim_fit)
    assert len(str(caught.value).splitlines()) == 1


def test_compare_refuses_no_pairs_and_pairs_that_are_not_pairs(hier_fit):
    for pairs, words in (([], "pairs is empty"), ((p for p in []), "pairs is empty"), ([5], "must be"), (5, "must be")):
        with pytest.raises(bs.QueryError, match=words):
            bs.compare(hier_fit, "E", by="domain", pairs=pairs)
    table = bs.compare(hier_fit, "E", by="domain", pairs=(p for p in [("vision", "language")]))
    assert len(table) == 1  # a generator of pairs is read once, not exhausted by the checks


def test_a_switch_given_as_text_is_refused(sim_runs):
    frame = sim_runs.table[["params", "tokens", "loss"]].copy()
    for flag in ("no", None, 0):
        with pytest.raises(bs.QueryError, match="check_units is True or False"):
            bs.read_runs(frame, check_units=flag)
    assert len(bs.read_runs(frame, check_units=False).table) == len(frame)


def test_sampler_sizes_beyond_memory_are_refused_before_sampling(sim_runs):
    for option in ({"draws": 10**12}, {"tune": 10**9}, {"chains": 10**4}):
        with pytest.raises(bs.BackendError, match="at most"):
            bs.fit(sim_runs, **option)


def test_summaries_and_frontiers_refuse_what_they_cannot_read(sim_fit):
    import xarray as xr

    from bayes_scaling.decisions import frontier

    draws = sim_fit.posterior[["alpha"]]
    cases = [
        (lambda: bs.compare(sim_fit, "alpha", prob=[0.9]), "prob must be a number"),
        (lambda: bs.compare("fit.nc", "alpha"), "compare reads a fit"),
        (lambda: bs.compare(sim_fit, ["alpha"]), "param and by are names"),
        (lambda: bs.interval_table(xr.Dataset()), "no variables"),
        (lambda: bs.interval_table(draws.isel(chain=0)), "with dims (chain, draw)"),
        (lambda: bs.interval_table(draws.isel(draw=slice(0, 0))), "no numeric draws"),
        (lambda: bs.format_summary(sim_fit.summary()), "format_summary reads a fit"),
        (lambda: frontier.frontier_table("fit.nc"), "computed from a fit"),
        (lambda: frontier.frontier_table(sim_fit, published="yes"), "published is True or False"),
        (lambda: frontier.published_frontier(1e23, compute_factor=0), "compute_factor must be a positive number"),
        (lambda: frontier.published_frontier(1e23, fits={"x": 1}), "point fits"),
        (lambda: frontier.isoflop_runs(sim_fit, 6e18, tolerance=-1), "tolerance is a positive number"),
        (lambda: bs.fit(sim_fit.runs, progressbar="no"), "progressbar is True or False"),
    ]
    for call, words in cases:
        with pytest.raises(bs.BayesScalingError, match=re.escape(words)):
            call()
    assert sim_fit.summary(prob="0.8").attrs["prob"] == 0.8  # stored as the number it means
    assert "80% low" in bs.format_summary(sim_fit, prob="0.8")


def test_more_extra_inputs_are_refused_or_named(sim_fit, sim_runs):
    import warnings

    import pandas as pd

    from bayes_scaling.decisions import frontier

    huge = pd.DataFrame({"params": [1e9, 10**400], "tokens": [1e10, 2e10], "loss": [2.0, 1.9]}, dtype=object)
    with pytest.raises(bs.InputError, match="too large for floating point"):
        bs.read_runs(huge)
    for inputs in (5, "tokens"):
        with pytest.raises(bs.InputError, match="inputs are the law's input names"):
            bs.read_runs(sim_runs.table[["params", "tokens", "loss"]], inputs=inputs)
    for kwargs, words in (({"n_points": 2.9}, "n_points must be a whole number"),
                          ({"n_points": 10**9}, "n_points must be a whole number"),
                          ({"span": float("inf")}, "span must be a number above 1"),
                          ({"span": "x"}, "span must be a number above 1")):
        with pytest.raises(bs.QueryError, match=words):
            frontier.isoflop_curves(sim_fit, 6e20, **kwargs)
    with pytest.raises(bs.QueryError, match="n_points must be a whole number"):
        frontier.scaling_curve_data(sim_fit, n_points=0)
    n = sim_fit.posterior.sizes["chain"] * sim_fit.posterior.sizes["draw"]
    with pytest.warns(bs.DataWarning, match=f"finer than {n} draws resolve"):
        sim_fit.summary(prob=1 - 1 / n)
    with pytest.warns(bs.DataWarning, match="finer than"):
        bs.plan(sim_fit, 1e21, objective="quantile", q=1 - 0.5 / n)
    with warnings.catch_warnings():
        warnings.simplefilter("error", bs.DataWarning)
        sim_fit.summary(prob=0.9)  # 5% tails of 1,000 draws are resolved: no warning
