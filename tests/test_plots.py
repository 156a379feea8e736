"""Plots in bayes_scaling.present.plots, on synthetic draws (no fits needed)."""

from __future__ import annotations

import importlib
import sys

import matplotlib  # in the test extra: plots are tested, never skipped
import numpy as np
import pandas as pd
import pytest
import xarray as xr

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PathCollection, PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

import bayes_scaling
from bayes_scaling.present import plots

CHAINS, DRAWS = 2, 100


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240417)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _draws(rng: np.random.Generator, centres: np.ndarray, dim: str, labels: list[str], **coords) -> xr.DataArray:
    values = centres + 0.1 * rng.standard_normal((CHAINS, DRAWS, len(centres)))
    return xr.DataArray(values, dims=("chain", "draw", dim), coords={dim: labels, **coords}, name="alpha")


def _kinds(ax: Axes, kind: type) -> list:
    return [c for c in ax.collections if isinstance(c, kind)]


# --------------------------------------------------------------------------------------------- forest


def test_forest_rows_sorted_by_median_with_reference(rng: np.random.Generator) -> None:
    centres = np.array([0.5, 0.1, 0.9, 0.3])
    da = _draws(rng, centres, "domain", ["a", "b", "c", "d"])
    ax = plots.forest(da, reference=0.45)
    assert isinstance(ax, Axes)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "d", "a", "c"]  # ascending median, top first
    lines = _kinds(ax, LineCollection)
    assert len(lines) == 2 and all(len(c.get_segments()) == 4 for c in lines)
    assert len(_kinds(ax, PathCollection)[0].get_offsets()) == 4
    thin, thick = lines
    assert thin.get_linewidths()[0] < thick.get_linewidths()[0]
    assert np.ptp(thin.get_segments()[0][:, 0]) > np.ptp(thick.get_segments()[0][:, 0])  # 90% wider than 50%
    ref = [ln for ln in ax.get_lines() if np.allclose(ln.get_xdata(), 0.45)]
    assert len(ref) == 1
    assert ax.get_legend() is None  # no domains: no legend
    assert ax.get_xlabel() == "alpha"


def test_forest_nested_tasks_coloured_and_sorted_by_domain(rng: np.random.Generator) -> None:
    tasks = ["t1", "t2", "t3", "t4", "t5"]
    domains = ["web", "code", "web", "code", "books"]
    centres = np.array([0.8, 0.6, 0.2, 0.1, 0.5])
    da = _draws(rng, centres, "task", tasks, domain=("task", domains))
    ax = plots.forest(da, prob=0.8, label="task effect")
    # domains alphabetically, then by median inside each domain
    assert [t.get_text() for t in ax.get_yticklabels()] == ["t5", "t4", "t2", "t3", "t1"]
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["books", "code", "web"]
    colours = _kinds(ax, PathCollection)[0].get_facecolors()
    assert np.allclose(colours[1], colours[2])  # t4 and t2 share "code"
    assert np.allclose(colours[3], colours[4])  # t3 and t1 share "web"
    assert not np.allclose(colours[0], colours[1]) and not np.allclose(colours[1], colours[3])
    handle_colours = [to_rgba(h.get_color()) for h in legend.legend_handles]
    assert np.allclose(handle_colours[1], colours[1]) and np.allclose(handle_colours[2], colours[3])
    assert ax.get_xlabel() == "task effect"


def test_forest_thousand_tasks_renders(rng: np.random.Generator) -> None:
    n = 1000
    domains = np.repeat([f"d{i}" for i in range(8)], n // 8)
    da = _draws(rng, rng.normal(size=n), "task", [f"task{i}" for i in range(n)], domain=("task", domains))
    ax = plots.forest(da)
    assert len(ax.get_yticklabels()) == 0  # too many rows to label
    assert all(len(c.get_segments()) == n for c in _kinds(ax, LineCollection))
    assert len(_kinds(ax, PathCollection)[0].get_offsets()) == n
    assert len(ax.get_legend().get_texts()) == 8
    ax.figure.canvas.draw()  # really renders


def test_forest_mapping_stacks_panels(rng: np.random.Generator) -> None:
    a = _draws(rng, np.array([0.1, 0.2, 0.3]), "domain", ["x", "y", "z"])
    b = _draws(rng, np.array([1.0, 2.0]), "domain", ["x", "y"]).rename("beta")
    fig = plots.forest({"alpha": a, "beta": b}, reference={"beta": 1.5}, label="effects")
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == ["alpha", "beta"]
    assert [len(ax.get_yticklabels()) for ax in fig.axes] == [3, 2]
    assert len(fig.axes[0].get_lines()) == 0 and len(fig.axes[1].get_lines()) == 1  # reference only on beta
    assert fig.get_suptitle() == "effects"


def test_forest_rejects_bad_dims(rng: np.random.Generator) -> None:
    da = xr.DataArray(rng.normal(size=(2, 10)), dims=("chain", "draw"))
    with pytest.raises(ValueError, match="group dim"):
        plots.forest(da)
    with pytest.raises(ValueError, match="prob"):
        plots.forest(_draws(rng, np.zeros(2), "domain", ["a", "b"]), prob=1.5)


# --------------------------------------------------------------------------------------- group curves


def _curves(rng: np.random.Generator, n_groups: int) -> tuple[np.ndarray, xr.DataArray, pd.DataFrame]:
    x = np.geomspace(1e9, 1e12, 8)
    groups = [f"task{i}" for i in range(n_groups)]
    e = 1.5 + 0.1 * np.arange(n_groups)
    b = 300.0 * np.exp(0.05 * rng.standard_normal((CHAINS, DRAWS, 1, n_groups)))
    loss = e + b / x[None, None, :, None] ** 0.3
    da = xr.DataArray(loss, dims=("chain", "draw", "point", "task"), coords={"task": groups})
    obs = pd.DataFrame({
        "tokens": np.tile(x[::2], n_groups),
        "loss": (e[:, None] + 300.0 / x[None, ::2] ** 0.3).ravel(),
        "task": np.repeat(groups, 4),
    })
    return x, da, obs


def test_group_curves_lines_bands_points(rng: np.random.Generator) -> None:
    x, loss, obs = _curves(rng, 3)
    ax = plots.group_curves(x, loss, observed=obs, group_dim="task")
    assert isinstance(ax, Axes)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert len(ax.get_lines()) == 3
    assert len(_kinds(ax, PolyCollection)) == 3
    scatters = _kinds(ax, PathCollection)
    assert len(scatters) == 3 and all(len(s.get_offsets()) == 4 for s in scatters)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["task0", "task1", "task2"]
    assert "of" not in ax.get_title().split("interval")[-1]
    # median line lies inside its band and passes near the noiseless observations
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_ydata()[::2], obs["loss"][:4], rtol=0.02)


def test_group_curves_truncates_and_infers_group_dim(rng: np.random.Generator) -> None:
    x, loss, obs = _curves(rng, 15)
    ax = plots.group_curves(x, loss, observed=obs, max_groups=5)  # group dim inferred: "task"
    assert len(ax.get_lines()) == 5 and len(_kinds(ax, PolyCollection)) == 5
    assert len(_kinds(ax, PathCollection)) == 5  # observations of hidden tasks are dropped
    assert "first 5 of 15 task" in ax.get_title()
    assert len(ax.get_legend().get_texts()) == 5


def test_group_curves_single_curve_and_errors(rng: np.random.Generator) -> None:
    x, loss, obs = _curves(rng, 1)
    single = loss.isel(task=0, drop=True)
    ax = plots.group_curves(x, single, observed=obs.drop(columns="task"), prob=0.5, x_label="tokens")
    assert len(ax.get_lines()) == 1 and len(_kinds(ax, PolyCollection)) == 1
    assert ax.get_legend() is None
    with pytest.raises(ValueError, match="len\\(x\\)"):
        plots.group_curves(x[:-1], single)
    with pytest.raises(ValueError, match="lacks columns"):
        plots.group_curves(x, loss, observed=obs.drop(columns="task"), group_dim="task")


# ----------------------------------------------------------------------------------------- plan curve


def test_plan_curve_marks_choices(rng: np.random.Generator) -> None:
    n = np.geomspace(1e9, 1e12, 25)
    budget = 1e22
    d = budget / (6 * n)
    a = 400 * np.exp(0.05 * rng.standard_normal((CHAINS, DRAWS, 1)))
    loss = 1.7 + a / n**0.34 + 410 / d**0.28
    curve = xr.DataArray(loss, dims=("chain", "draw", "params"), coords={"params": n})
    choices = {"mean": 3e10, "quantile 0.9": 2e10}
    ax = plots.plan_curve(curve, choices)
    assert isinstance(ax, Axes) and ax.get_xscale() == "log"
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(texts) == 4 and texts[2].startswith("mean") and texts[3].startswith("quantile 0.9")
    assert len(_kinds(ax, PolyCollection)) == 1
    vlines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 2 and ln.get_xdata()[0] == ln.get_xdata()[1]]
    assert sorted(float(v.get_xdata()[0]) for v in vlines) == [2e10, 3e10]
    # the points sit on the median curve
    med = curve.median(("chain", "draw")).values
    marker = next(ln for ln in ax.get_lines() if ln.get_marker() == "o")
    assert np.isclose(marker.get_ydata()[0], np.interp(np.log(3e10), np.log(n), med))
    ax2 = plots.plan_curve(curve)
    assert len(ax2.get_legend().get_texts()) == 2


def test_plan_curve_rejects_missing_params(rng: np.random.Generator) -> None:
    bad = xr.DataArray(rng.normal(size=(2, 5, 3)), dims=("chain", "draw", "n"))
    with pytest.raises(ValueError, match="params"):
        plots.plan_curve(bad)


# --------------------------------------------------------------------------------------- target curve


def test_target_curve_one_line_per_prob() -> None:
    probs = [0.5, 0.9, 0.99]
    targets = np.array([2.0, 1.9, 1.95, 1.85])
    compute = 1e20 * np.exp(10 * (2.05 - targets))[None, :] * np.array([1.0, 2.0, 4.0])[:, None]
    compute[2, 3] = np.nan  # out of reach
    da = xr.DataArray(compute, dims=("prob", "target"), coords={"prob": probs, "target": targets})
    ax = plots.target_curve(da.T)  # either dim order
    assert isinstance(ax, Axes) and ax.get_yscale() == "log"
    assert len(ax.get_lines()) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [f"P(L <= x) >= {p:g}" for p in probs]
    assert np.all(np.diff(ax.get_lines()[0].get_xdata()) > 0)  # sorted by target
    with pytest.raises(ValueError, match="prob, target"):
        plots.target_curve(da.rename(target="loss"))
    shaded = plots.target_curve(da, runs_compute=(1e18, 1e21))
    (span,) = shaded.patches
    extent = span.get_path().transformed(span.get_patch_transform()).get_extents()
    assert (extent.y0, extent.y1) == pytest.approx((1e18, 1e21))
    assert "compute range of the runs" in [t.get_text() for t in shaded.get_legend().get_texts()]


# ------------------------------------------------------------------------------------- missing backend


def test_import_error_without_matplotlib(monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "bayes_scaling.present.plots")
    monkeypatch.setattr(bayes_scaling.present, "plots", plots)  # restored after the fresh import below
    fresh = importlib.import_module("bayes_scaling.present.plots")  # the module itself imports fine
    with pytest.raises(ImportError, match=r"pip install 'bayes_scaling\[plot\]'"):
        fresh.forest(_draws(rng, np.zeros(2), "domain", ["a", "b"]))
    with pytest.raises(ImportError, match="plots need matplotlib"):
        fresh.target_curve(xr.DataArray(np.ones((1, 2)), dims=("prob", "target"),
                                        coords={"prob": [0.5], "target": [1.0, 2.0]}))


@pytest.mark.parametrize(("kind", "column"), [("curve", "compute"), ("isoflop", "params")])
def test_figures_shade_the_range_of_the_fitted_runs(sim_fit, kind, column):
    """Whatever a figure draws outside the shaded range is extrapolated."""
    from bayes_scaling.present.figures import figure

    fig = figure(sim_fit, kind, compute=[5.88e23])
    values = sim_fit.runs.column(column)
    spans = [p.get_path().transformed(p.get_patch_transform()).get_extents() for p in fig.axes[0].patches]
    spans = [(e.x0, e.x1) for e in spans]
    assert any(np.isclose(lo, values.min(), rtol=1e-9) and np.isclose(hi, values.max(), rtol=1e-9) for lo, hi in spans), spans
    plt.close(fig)


@pytest.mark.parametrize("bad", ["abc", 1.5, -0.1])
def test_a_pit_table_holds_probabilities(bad):
    table = pd.DataFrame({"method": ["posterior"] * 3, "pit": [0.2, 0.5, 0.7]}).astype({"pit": object})
    table.loc[1, "pit"] = bad
    with pytest.raises(bayes_scaling.QueryError, match="column 'pit' holds probabilities in \\[0, 1\\]; row 1"):
        plots.pit_histogram(table)


def test_a_figure_is_written_where_it_says(tmp_path):
    from bayes_scaling.present.figures import save_figure

    with pytest.raises(bayes_scaling.InputError, match="it is a directory"):
        save_figure(plt.figure(), tmp_path)
    written = save_figure(plt.figure(), tmp_path / "curve")
    assert written == tmp_path / "curve.png" and written.is_file()
