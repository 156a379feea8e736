"""Figures data, the report and the plot/report commands.

Most tests run on hand-made posteriors (draws around known values, no sampling): the Chinchilla law
around Epoch's published fit on the bundled simulation (whose truth it is), and a compute law pooled
by task on the simulated hierarchy. One test reports a real sampled fit.
"""

from __future__ import annotations

import dataclasses

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr
from conftest import HIER_ALPHA, HIER_E, SEED
from matplotlib.collections import PolyCollection

import bayes_scaling as bs
from bayes_scaling.cli import main
from bayes_scaling.decisions import frontier
from bayes_scaling.model import model_pivots
from bayes_scaling.present import figures, plots, report

CHAINS, DRAWS = 2, 1000
EPOCH = frontier.PUBLISHED_FITS["epoch"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _posterior(centres: dict[str, xr.DataArray | float], scales: dict[str, float], seed: int,
               chain_shift: float = 0.0) -> xr.DataTree:
    """Normal draws around each centre (``chain_shift`` moves the second chain: R-hat fails)."""
    rng = np.random.default_rng(seed)
    data = {}
    for name, centre in centres.items():
        centre = centre if isinstance(centre, xr.DataArray) else xr.DataArray(float(centre))
        z = rng.standard_normal((CHAINS, DRAWS, *centre.shape))
        z[1] += chain_shift
        values = centre.values + scales[name] * z
        data[name] = xr.DataArray(values, dims=("chain", "draw", *centre.dims),
                                  coords={"chain": np.arange(CHAINS), "draw": np.arange(DRAWS),
                                          **{d: centre[d].values for d in centre.dims}})
    return xr.DataTree.from_dict({"posterior": xr.Dataset(data)})


def _fit(runs: bs.Runs, spec: bs.ModelSpec, centres: dict, scales: dict, chain_shift: float = 0.0) -> bs.Fit:
    idata = _posterior(centres, scales, SEED, chain_shift)
    settings = bs.SamplerSettings(chains=CHAINS, draws=DRAWS, tune=0, seed=SEED, seconds=0.0)
    return bs.Fit(idata, runs, spec, settings, bs.diagnose(idata), model_pivots(runs, spec))


def _chinchilla(runs: bs.Runs, chain_shift: float = 0.0) -> bs.Fit:
    spec = bs.load_spec("chinchilla")
    piv = model_pivots(runs, spec)
    centres = {"log_e": np.log(EPOCH.E), "log_a0": np.log(EPOCH.A) - EPOCH.alpha * piv["params"],
               "alpha": EPOCH.alpha, "log_b0": np.log(EPOCH.B) - EPOCH.beta * piv["tokens"], "beta": EPOCH.beta,
               "sigma": 0.01, "nu": 5.0}
    scales = {"log_e": 0.005, "log_a0": 0.01, "alpha": 0.01, "log_b0": 0.01, "beta": 0.01, "sigma": 0.001, "nu": 0.5}
    return _fit(runs, spec, centres, scales, chain_shift)


@pytest.fixture(scope="module")
def chin_fit(sim_runs: bs.Runs) -> bs.Fit:
    return _chinchilla(sim_runs)


@pytest.fixture(scope="module")
def grouped_fit(hier_runs: bs.Runs) -> bs.Fit:
    """The compute law with alpha and C0 by task, E by domain, around the simulation's truth."""
    spec = bs.load_spec("compute").with_pooling(alpha="task", e="domain", log_c0="task")
    piv = model_pivots(hier_runs, spec)["compute"]
    tasks = [t for d in HIER_ALPHA for t in HIER_ALPHA[d]]
    alpha = xr.DataArray([HIER_ALPHA[d][t] for d in HIER_ALPHA for t in HIER_ALPHA[d]], dims="task", coords={"task": tasks})
    order = list(hier_runs.domains)
    centres = {"log_e": xr.DataArray(np.log([HIER_E[d] for d in order]), dims="domain", coords={"domain": order}),
               "alpha": alpha.sel(task=list(hier_runs.tasks)), "sigma": 0.01, "nu": 10.0}
    centres["log_c0"] = centres["alpha"] * (np.log(1e18) - piv)
    scales = {"log_e": 0.01, "alpha": 0.005, "log_c0": 0.02, "sigma": 0.001, "nu": 1.0}
    return _fit(hier_runs, spec, centres, scales)


def _saved(fit: bs.Fit, path) -> str:
    fit.save(path)
    return str(path)


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


# --------------------------------------------------------------------------------------- compute


def test_published_frontier_matches_the_closed_form_values() -> None:
    ref = frontier.published_frontier([5.76e23])  # SCIENCE.md §3: closed-form D/N at 5.76e23
    ratio = ref["ratio"].sel(compute=5.76e23)
    assert ratio.sel(fit="hoffmann_rounded") == pytest.approx(92.7, rel=2e-3)
    assert ratio.sel(fit="hoffmann_unrounded") == pytest.approx(58.9, rel=2e-3)
    assert ratio.sel(fit="epoch") == pytest.approx(18.4, rel=2e-3)
    params = ref["params"].sel(compute=5.76e23)
    assert params.sel(fit="hoffmann_rounded") == pytest.approx(32e9, rel=0.02)
    assert params.sel(fit="hoffmann_unrounded") == pytest.approx(40.4e9, rel=0.01)
    assert np.allclose(6 * ref["params"] * ref["tokens"], 5.76e23)


def test_frontier_table_against_published_fits(chin_fit: bs.Fit) -> None:
    table = frontier.frontier_table(chin_fit, [frontier.CHINCHILLA_COMPUTE], prob=0.9, published=True)
    ratio = table.set_index("variable").loc["ratio"]
    assert ratio["lower"] < ratio["epoch"] < ratio["upper"]  # the posterior is centred on Epoch's fit
    assert ratio["p_above_hoffmann_rounded"] == 0.0 and ratio["hoffmann_rounded"] > ratio["upper"]
    assert 0.2 < ratio["p_above_epoch"] < 0.8
    direct = bs.interval_table(chin_fit.optimal([frontier.CHINCHILLA_COMPUTE]), 0.9).set_index("variable")
    assert ratio["median"] == pytest.approx(direct.loc["ratio", "median"])


def test_isoflop_curves_have_their_minimum_at_the_optimum(chin_fit: bs.Fit) -> None:
    budgets = [1e19, 1e21]
    data = frontier.isoflop_curves(chin_fit, budgets, n_points=101)
    assert data["loss_mean"].dims == ("chain", "draw", "compute", "n")
    assert np.allclose(6 * data["params"] * data["tokens"], np.array(budgets)[:, None])
    for i in range(2):
        med = data["loss_mean"].isel(compute=i).median(("chain", "draw"))
        n_min = float(data["params"].isel(compute=i)[int(np.argmin(med.values))])
        n_star = float(data["params_opt"].isel(compute=i).median())
        assert abs(np.log(n_min / n_star)) < 0.1
    near = frontier.isoflop_runs(chin_fit, budgets)
    assert set(near["budget"]) <= set(budgets)
    assert np.all(np.abs(np.log10(near["compute"] / near["budget"])) <= frontier.ISOFLOP_TOLERANCE)


def test_scaling_curve_data_predictive_wider_than_credible(chin_fit: bs.Fit, grouped_fit: bs.Fit) -> None:
    data = frontier.scaling_curve_data(chin_fit, n_points=20)
    assert data.attrs["x_name"] == "compute" and data["loss_mean"].dims == ("chain", "draw", "point")
    grouped = frontier.scaling_curve_data(grouped_fit, n_points=20)
    assert grouped["loss_mean"].dims == ("chain", "draw", "point", "task")
    for ds in (data, grouped):
        q = ds.quantile([0.05, 0.95], dim=("chain", "draw"))
        width = q.sel(quantile=0.95) - q.sel(quantile=0.05)
        assert bool((width["loss_pred"] > width["loss_mean"]).all())


def test_isoflop_and_frontier_refuse_a_compute_only_law(grouped_fit: bs.Fit) -> None:
    with pytest.raises(bs.QueryError, match="N/D split"):
        frontier.isoflop_curves(grouped_fit)
    with pytest.raises(bs.QueryError, match="N/D split"):
        plots.frontier(grouped_fit)


# ----------------------------------------------------------------------------------------- plots


def test_plots_have_log_axes_bands_and_legends(chin_fit: bs.Fit) -> None:
    ax = plots.scaling_curve(chin_fit)
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 2  # credible + predictive
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "90% credible (law)" in labels and "90% predictive (new run)" in labels and "runs" in labels
    ax = plots.isoflop(chin_fit, [1e19, 1e20, 1e21])
    assert ax.get_xscale() == "log" and ax.get_xlabel().startswith("parameters N")
    assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 6
    fig = plots.frontier(chin_fit, (1e19, 1e25))
    assert len(fig.axes) == 3 and all(a.get_xscale() == a.get_yscale() == "log" for a in fig.axes)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    for point in frontier.PUBLISHED_FITS.values():
        assert f"{point.label} (point fit)" in legend


# ---------------------------------------------------------------------------------------- report


def test_report_sections_and_numbers_match_the_summary(chin_fit: bs.Fit, tmp_path) -> None:
    written = report.write_report(chin_fit, tmp_path / "report.md", compute=[1e21, 5.88e23], prob=0.9)
    assert [p.name for p in written] == ["report.md", "report.tex"]
    text = written[0].read_text()
    for section in ("## Data", "## Model", "## Sampler", "## Diagnostics", "## Parameters",
                    "## Compute-optimal allocation", "## LaTeX table"):
        assert section in text
    assert "WARNING" not in text and "**converged**" in text
    assert chin_fit.runs.digest in text and f"| runs | {len(chin_fit.runs)} |" in text
    assert "`HalfNormal(sigma=1)`" in text and "2 chains × 1000 draws" in text
    assert "Structural error beyond the runs: sd 0.0158·d^0.25 on log loss" in text
    summary = chin_fit.summary(0.9)
    for name, row in summary.iterrows():
        assert f"| `{name}` | {row['median']:.4g} | [{row['lower']:.4g}, {row['upper']:.4g}] |" in text
    opt = frontier.frontier_table(chin_fit, [5.88e23], 0.9).set_index("variable")
    assert f"{opt.loc['ratio', 'median']:.4g} [{opt.loc['ratio', 'lower']:.4g}, {opt.loc['ratio', 'upper']:.4g}]" in text
    assert "Published point fits" not in text  # simulated runs: no comparison with fits of other data
    tex = written[1].read_text()
    assert "```latex" in text and tex.strip() in text
    for token in (r"\begin{tabular}", r"\toprule", r"\bottomrule", r"$\alpha$", r"$D^*/N^*$ at $C = 5.88\times10^{23}$"):
        assert token in tex
    assert f"${summary.loc['alpha', 'median']:.4g}$" in tex


def test_report_is_loud_when_the_sampler_did_not_converge(sim_runs: bs.Runs, tmp_path) -> None:
    bad = _chinchilla(sim_runs, chain_shift=3.0)
    assert not bad.diagnostics.ok
    text = report.report_markdown(bad)
    head = text.split("## Data")[0]
    assert "WARNING: the sampler did not converge" in head
    for problem in bad.diagnostics.problems:
        assert problem in head
    assert "**NOT CONVERGED**" in text


def test_report_of_a_grouped_fit_with_figures(grouped_fit: bs.Fit, tmp_path) -> None:
    written = report.write_report(grouped_fit, tmp_path / "groups.md", figures=True)
    names = [p.name for p in written]
    assert names == ["groups.md", "groups.tex", "groups_curve.png", "groups_forest.png", "groups_groups.png"]
    assert all(p.stat().st_size > 10_000 for p in written[2:])
    text = written[0].read_text()
    assert "| `alpha` | vision / v1 |" in text and "## Compute-optimal allocation" not in text
    for name in names[2:]:
        assert f"]({name})" in text
    assert "Group" in written[1].read_text()


def test_report_of_a_sampled_fit(sim_fit: bs.Fit, tmp_path) -> None:
    text = report.report_markdown(sim_fit, compute=[5.88e23])
    summary = sim_fit.summary()
    assert f"{summary.loc['beta', 'median']:.4g}" in text
    assert f"{sim_fit.settings.chains} chains × {sim_fit.settings.draws} draws" in text


# ------------------------------------------------------------------------------------------- CLI


def test_cli_report(chin_fit: bs.Fit, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _saved(chin_fit, tmp_path / "fit.nc")
    out = tmp_path / "r.md"
    assert main(["report", path, "--out", str(out), "--compute", "1e22", "5.88e23", "--figures"]) == 0
    assert "wrote" in capsys.readouterr().out
    text = out.read_text()
    assert "| 1e+22 |" in text and "`fit.nc`" in text
    assert (tmp_path / "r.tex").is_file() and (tmp_path / "r_frontier.png").is_file()
    assert main(["report", str(tmp_path / "missing.nc"), "--out", str(out)]) == 2
    assert "missing.nc" in _error_line(capsys)
    assert main(["report", path, "--out", str(tmp_path / "no" / "r.md")]) == 2
    _error_line(capsys)
    assert main(["report", path, "--out", str(out), "--compute", "-1"]) == 2
    assert "positive" in _error_line(capsys)


def test_cli_report_of_an_unconverged_fit_warns(sim_runs: bs.Runs, tmp_path, capsys) -> None:
    path = _saved(_chinchilla(sim_runs, chain_shift=3.0), tmp_path / "bad.nc")
    assert main(["report", path, "--out", str(tmp_path / "bad.md")]) == 0
    assert "WARNING" in capsys.readouterr().err
    assert (tmp_path / "bad.md").read_text().startswith("# Scaling-law fit")
    assert "> **WARNING" in (tmp_path / "bad.md").read_text()


@pytest.mark.parametrize("kind", ["curve", "isoflop", "frontier"])
def test_cli_plot_each_kind_of_an_nd_law(kind: str, chin_fit: bs.Fit, tmp_path, capsys) -> None:
    path = _saved(chin_fit, tmp_path / "fit.nc")
    out = tmp_path / f"{kind}.png"
    assert main(["plot", path, "--kind", kind, "--out", str(out), "--prob", "0.8"]) == 0
    assert out.stat().st_size > 10_000 and out.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("kind", ["curve", "forest", "groups"])
def test_cli_plot_each_kind_of_a_grouped_fit(kind: str, grouped_fit: bs.Fit, tmp_path) -> None:
    path = _saved(grouped_fit, tmp_path / "fit.nc")
    out = tmp_path / f"{kind}.png"
    extra = ["--param", "alpha", "--level", "task"] if kind == "forest" else []
    assert main(["plot", path, "--kind", kind, "--out", str(out), *extra]) == 0
    assert out.stat().st_size > 10_000


def test_cli_plot_errors(chin_fit: bs.Fit, grouped_fit: bs.Fit, tmp_path, capsys) -> None:
    chin = _saved(chin_fit, tmp_path / "chin.nc")
    grouped = _saved(grouped_fit, tmp_path / "grouped.nc")
    out = str(tmp_path / "x.png")
    for kind in ("isoflop", "frontier"):  # a compute-only law has no N/D allocation
        assert main(["plot", grouped, "--kind", kind, "--out", out]) == 2
        assert "N/D split" in _error_line(capsys)
    for kind in ("forest", "groups"):  # every parameter shared
        assert main(["plot", chin, "--kind", kind, "--out", out]) == 2
        assert "domain or task" in _error_line(capsys)
    assert main(["plot", grouped, "--kind", "forest", "--param", "delta", "--out", out]) == 2
    assert "delta" in _error_line(capsys)
    assert main(["plot", chin, "--kind", "curve", "--param", "alpha", "--out", out]) == 2
    assert "--param" in _error_line(capsys)
    assert main(["plot", chin, "--kind", "curve", "--out", str(tmp_path / "x.nope")]) == 2
    _error_line(capsys)
    assert main(["plot", chin, "--kind", "curve", "--prob", "1.5", "--out", out]) == 2
    _error_line(capsys)
    assert main(["plot", chin, "--kind", "violin", "--out", out]) == 2  # argparse's error, as one line too
    assert "invalid choice: 'violin'" in _error_line(capsys)


def test_figure_kinds_a_fit_can_draw(chin_fit: bs.Fit, grouped_fit: bs.Fit) -> None:
    assert figures.report_figures(chin_fit) == ["curve", "isoflop", "frontier"]
    assert figures.report_figures(grouped_fit) == ["curve", "forest", "groups"]
    draws = figures.forest_draws(grouped_fit, by="task")
    assert set(draws) == {"E", "C0", "alpha"}
    assert list(draws["alpha"].coords["domain"].values[:3]) == ["vision"] * 3
    with pytest.raises(bs.QueryError):
        figures.figure(grouped_fit, "violin")
    assert dataclasses.is_dataclass(frontier.PUBLISHED_FITS["epoch"])


def test_the_model_section_names_no_hierarchy_where_nothing_is_partially_pooled() -> None:
    """A spec whose only grouping is a level fitted per group (E=domain_separate) has no hierarchy; one
    that pools partially names its parameterisation."""
    from types import SimpleNamespace

    from bayes_scaling.spec import load_spec

    separate = load_spec("data_constrained").overridden(None, "E=domain_separate", None)
    for spec, expected in ((separate, "Hierarchy: none (parameters shared or fitted per group)"),
                           (load_spec("chinchilla_domain"), "Hierarchy: non-centred")):
        text = "\n".join(report._model_lines(SimpleNamespace(spec=spec, law=spec.law_obj)))
        assert expected in text, text[:300]
