"""Diminishing returns along the frontier, held against the Chinchilla frontier's closed form."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling.decisions.returns import compute_below, returns

BUDGETS = [1e21, 5.88e23, 1e25]


def _closed_form(fit: bs.Fit, compute: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """gamma = alpha·beta/(alpha+beta), L*(C) - E = K·C^-gamma: the gain (L* - E)(1 - 2^-gamma)."""
    p = fit.parameters()
    a, b, e = (p[k].values.ravel() for k in ("alpha", "beta", "E"))
    g = a * b / (a + b)
    loss = fit.optimal(compute, method="closed")["loss"].values.reshape(a.size, -1)
    k = (loss[:, 0] - e) * compute[0] ** g
    return g, k, e


def test_gain_per_doubling_is_the_closed_form_of_the_frontier(sim_fit):
    ds = bs.returns(sim_fit, BUDGETS)
    g, k, _e = _closed_form(sim_fit, np.array(BUDGETS))
    expected = (k[:, None] * np.array(BUDGETS)[None, :] ** -g[:, None]) * (1 - 2.0 ** -g[:, None])
    got = ds["gain"].values.reshape(g.size, -1)
    np.testing.assert_allclose(got, expected, rtol=1e-8)
    assert np.all(np.diff(got, axis=1) < 0), "returns diminish with compute"
    np.testing.assert_allclose(ds["relative_gain"], ds["gain"] / ds["loss"])


def test_compute_below_a_threshold_matches_the_closed_form(sim_fit):
    threshold = 0.01
    at, not_reached = compute_below(sim_fit, threshold)
    g, k, _ = _closed_form(sim_fit, np.array(BUDGETS))
    expected = (k * (1 - 2.0 ** -g) / threshold) ** (1 / g)
    np.testing.assert_allclose(at.values.ravel(), expected, rtol=1e-6)
    assert not_reached == 0.0
    assert at.dims == ("chain", "draw")


def test_a_threshold_no_draw_reaches_within_the_search_is_refused(sim_fit):
    """With no draw below the threshold there is no interval to give (it printed 'from C = nan [nan, nan]')."""
    with pytest.raises(bs.QueryError, match="stays above 1e-12 in every draw up to .* where the search ends"):
        compute_below(sim_fit, 1e-12)


def test_a_threshold_met_where_the_search_starts_is_named(sim_fit):
    """A gain already below the threshold a decade below the smallest run in every draw is refused (the
    search's first budget is no answer); in some draws it is kept as an upper bound, with a warning."""
    with pytest.raises(bs.QueryError, match="already at"):
        compute_below(sim_fit, 1.0)
    start = 10 ** (np.log10(sim_fit.runs.column("compute").min()) - 1.0)
    gains = returns(sim_fit, [start])["gain"].values.ravel()
    with pytest.warns(bs.ExtrapolationWarning, match=r"in (4|5|6)\d% of draws .* upper bound"):
        at, _ = compute_below(sim_fit, float(np.median(gains)))
    assert float(at.min()) == pytest.approx(start)


def test_compute_law_and_groups(hier_fit):
    ds = returns(hier_fit, [1e22, 1e24], threshold=1e-3, level="task")
    assert set(ds["gain"].dims) == {"chain", "draw", "compute", "task"}
    assert (ds["gain"] > 0).all()
    assert ds["compute_below"].dims == ("chain", "draw", "task")
    assert ds.attrs["warnings"], "budgets beyond the runs say so"


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), "ten", [0.01, 0.02], True])
def test_bad_threshold(sim_fit, bad):
    with pytest.raises(bs.QueryError, match="threshold"):
        returns(sim_fit, BUDGETS, threshold=bad)


def test_a_search_that_starts_one_decade_below_the_runs_is_not_refused_by_rounding():
    """The search starts a decade below the smallest run; 10**(log10(c) - 1) is a hair below c/10 for some c
    (Epoch's smallest run, 1.397e18 FLOPs), which the budget check read as too far below the runs."""
    import pandas as pd

    from bayes_scaling.data.reach import check_budget

    runs = bs.read_runs(pd.DataFrame({"compute": [1.397e18, 1e19, 1e20], "loss": [3.0, 2.8, 2.6]}))
    start = float(np.logspace(np.log10(1.397e18) - 1.0, 20.0, 5)[0])
    assert np.log10(1.397e18 / start) > 1.0  # the rounding this guards against
    check_budget(runs, start)
    with pytest.raises(bs.QueryError, match="too small"):
        check_budget(runs, start / 1.01)


@pytest.mark.parametrize("fit", ["fit.nc", None])
def test_returns_refuses_what_is_not_a_fit(fit):
    with pytest.raises(bs.QueryError, match="returns answers from a fit"):
        returns(fit, BUDGETS)


def test_curve_laws_have_no_frontier():
    import pandas as pd

    runs = bs.read_runs(pd.DataFrame({"params": 1e8, "tokens": np.geomspace(1e3, 1e6, 8), "loss": np.linspace(3.0, 2.1, 8)}))
    with pytest.warns(bs.SamplerWarning):  # a few draws only: the question is refused before any answer
        fit = bs.fit(runs, "saturating", draws=50, tune=50, chains=1, seed=1)
    with pytest.raises(bs.QueryError, match="returns need a law of compute"):
        returns(fit, BUDGETS)


def test_cli_returns_json_and_bad_input(sim_fit, tmp_path):
    path = sim_fit.save(tmp_path / "sim.nc")
    cli = [sys.executable, "-m", "bayes_scaling.cli"]
    out = subprocess.run([*cli, "returns", str(path), "--compute", *map(str, BUDGETS), "--threshold", "0.01",
                          "--json"], capture_output=True, text=True, check=True)
    doc = json.loads(out.stdout)
    assert [r["compute"] for r in doc["returns"]] == BUDGETS
    assert doc["compute_below"]["threshold"] == 0.01 and doc["compute_below"]["intervals"][0]["median"] > 1e21
    assert doc["reach"]["compute"][-1] > 0 and doc["warnings"]
    bad = subprocess.run([*cli, "returns", str(path), "--compute", "1e21", "--threshold", "-1"],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("error:") and len(bad.stderr.strip().splitlines()) == 1


def test_returns_figure_draws_the_band_and_the_threshold(sim_fit):
    import matplotlib  # in the test extra: plots are tested, never skipped

    matplotlib.use("Agg")
    from matplotlib.collections import PolyCollection

    from bayes_scaling.present.figures import figure
    from bayes_scaling.present.plots import returns_curve

    fig = figure(sim_fit, "returns")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and sum(isinstance(c, PolyCollection) for c in ax.collections) == 1
    ds = returns(sim_fit, np.geomspace(1e20, 1e26, 20), threshold=0.01)
    ax = returns_curve(ds, (1e18, 1e21))
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(label.startswith("gain below threshold from") for label in labels) and "threshold 0.01" in labels


def test_returns_figure_refuses_several_groups(hier_fit):
    from bayes_scaling.present.figures import figure

    with pytest.raises(bs.QueryError, match="draws one group"):
        figure(hier_fit, "returns", level="task")
