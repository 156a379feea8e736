"""The structural error in decisions: the loss at the optimum, plans and targets beyond the runs."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.cli import main
from bayes_scaling.decisions import planning as P
from bayes_scaling.decisions.beyond import TZ, StructuralLoss, with_structural
from bayes_scaling.decisions.target import compute_for_target
from bayes_scaling.laws import get_law
from bayes_scaling.structural import decades_beyond, growth_draws

INSIDE = 1e20  # a budget inside the simulation's runs (6e18 to 3e21 FLOPs)
FAR = 5.88e23  # two decades above them


def test_the_distance_of_a_plan_is_the_distance_of_a_prediction():
    """The numpy distance the optimiser uses equals :func:`decades_beyond` on the same points, in
    decades and relative, with compute derived from N and D and unique tokens following tokens."""
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"params": [1e8, 1e10], "tokens": [1e9, 3e11], "unique_tokens": [1e9, 1e11]})
    train["compute"] = 6 * train["params"] * train["tokens"]
    n, d = 10 ** rng.uniform(6, 13, 200), 10 ** rng.uniform(7, 14, 200)
    points = pd.DataFrame({"params": n, "tokens": d, "unique_tokens": d, "compute": 6 * n * d})
    law = get_law("data_constrained")
    for relative in (False, True):
        lo = {a: np.log10(train[a].min()) for a in train}
        hi = {a: np.log10(train[a].max()) for a in train}
        wrapped = StructuralLoss(law, lo, hi, 0.5, relative, 6.0)
        got = wrapped.distance({"params": np.log(n), "tokens": np.log(d)})
        want = decades_beyond(train, points, law.inputs, per_task=False, relative=relative)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        assert (got == 0).any() and (got > 1).any()


def test_the_loss_of_a_run_at_the_optimum_adds_the_structural_error_beyond_the_runs_only(sim_fit):
    law_only = replace(sim_fit, spec=sim_fit.spec.overridden(structural="none"))
    out, plain = sim_fit.optimal([INSIDE, FAR]), law_only.optimal([INSIDE, FAR])
    np.testing.assert_array_equal(out["loss"].values, plain["loss"].values)  # L* is the law's
    inside, far = (np.log(out["loss_pred"].sel(compute=c)) - np.log(plain["loss_pred"].sel(compute=c))
                   for c in (INSIDE, FAR))
    assert np.array_equal(inside.values, np.zeros_like(inside.values))  # the noise alone, bit for bit
    # beyond: tau·d^power·z with d the distance of each draw's own optimum, z standard normal
    error = sim_fit.spec.discrepancy
    sel = out.sel(compute=FAR)
    points = pd.DataFrame({k: sel[k].values.ravel() for k in ("params", "tokens")}).assign(
        compute=FAR, unique_tokens=lambda t: t["tokens"])
    dist = decades_beyond(sim_fit.runs.table, points, sim_fit.law.distance_inputs, per_task=False)
    assert dist.min() > 1.5
    z = far.values.ravel() / (error.scale * dist**error.power)
    assert abs(z.mean()) < 4 / np.sqrt(z.size) and 0.9 < z.std() < 1.1
    width = lambda da: float(np.quantile(np.log(da), 0.95) - np.quantile(np.log(da), 0.05))
    assert width(sel["loss_pred"]) > 1.5 * width(plain["loss_pred"].sel(compute=FAR))


@pytest.mark.filterwarnings("ignore::bayes_scaling.errors.ExtrapolationWarning")
def test_a_plan_charges_the_structural_error_where_it_reaches_beyond_the_runs(sim_fit):
    kw = {"objective": "quantile", "q": 0.9, "n_grid": 31}
    honest = P.plan(sim_fit, [INSIDE, FAR], **kw)
    exact = P.plan(sim_fit, [INSIDE, FAR], structural=False, **kw)
    again = P.plan(sim_fit, [INSIDE, FAR], **kw)
    assert honest.attrs["structural"] == 1 and exact.attrs["structural"] == 0
    for name in ("params", "objective"):  # inside the runs the plan is the law's
        assert float(honest[name].sel(budget=INSIDE)) == pytest.approx(float(exact[name].sel(budget=INSIDE)), rel=1e-9)
    q_honest, q_exact = (float(p["objective"].sel(budget=FAR)) for p in (honest, exact))
    scale = sim_fit.spec.discrepancy.scale
    assert q_exact * np.exp(0.5 * scale) < q_honest < q_exact * np.exp(4 * scale)  # a 90% quantile of ~1.28·sd
    assert honest.identical(again)  # seeded: the same plan to the last digit
    # the plug-in plan, scored with the same error, is never better than the Bayes plan
    r = P.regret(sim_fit, [FAR], **{k: kw[k] for k in ("objective", "q")})
    assert float(r["regret"].min()) >= -1e-12


@pytest.mark.filterwarnings("ignore::bayes_scaling.errors.ExtrapolationWarning")
def test_a_target_beyond_the_runs_costs_more_compute_and_can_be_out_of_reach(sim_fit):
    honest = P.compute_for_target(sim_fit, [2.0, 1.95], [0.5, 0.9])
    exact = P.compute_for_target(sim_fit, [2.0, 1.95], [0.5, 0.9], structural=False)
    assert honest.attrs["structural"] == 1
    np.testing.assert_allclose(honest["loss_quantile"], [[2.0, 2.0], [1.95, 1.95]], rtol=1e-9)
    ratio = (honest["budget"] / exact["budget"]).transpose("target", "prob").values
    assert np.all(ratio[:, 1] > 1.5)  # at 90% the error must be paid for in compute
    assert np.all(np.abs(np.log(ratio[:, 0])) < 0.5 * np.log(ratio[:, 1]))  # at 50% a symmetric error costs less
    # the answer is the first budget that reaches the target: a plan there meets it, one 10% lower does not
    c = float(honest["budget"].sel(target=1.95, prob=0.9))
    at, below = (P.plan(sim_fit, b, objective="quantile", q=0.9, n_grid=31) for b in (c, c / 1.1))
    assert float(at["objective"][0]) == pytest.approx(1.95, rel=1e-4) and float(below["objective"][0]) > 1.95
    # a target the law reaches far out, but not with the error that far beyond the runs
    e90 = float(np.quantile(sim_fit.parameters()["E"], 0.9))
    law_reach = P.compute_for_target(sim_fit, e90 * 1.02, 0.9, structural=False)
    assert float(law_reach["budget"][0, 0]) > 1e25
    with pytest.raises(bs.QueryError, match="structural error grows faster than the law gains"):
        P.compute_for_target(sim_fit, e90 * 1.02, 0.9)


def test_with_structural_leaves_a_fit_without_the_error_as_it_is(sim_fit):
    law_only = replace(sim_fit, spec=sim_fit.spec.overridden(structural="none"))
    draws = P.Draws.from_fit(law_only)
    assert with_structural(law_only, draws) is draws
    wrapped = with_structural(sim_fit, P.Draws.from_fit(sim_fit))
    tz = wrapped.sampled[TZ].values.ravel()
    tau = growth_draws(sim_fit.spec.discrepancy.scale, sim_fit.spec.discrepancy.spread, tz.size, sim_fit.settings.seed)
    assert tz.shape == (sim_fit.posterior.sizes["chain"] * sim_fit.posterior.sizes["draw"],)
    assert 0.85 < float(np.std(tz / tau)) < 1.15


def test_plan_target_and_optimal_say_so_on_the_command_line(sim_fit, tmp_path, capsys):
    path = sim_fit.save(tmp_path / "sim.nc")
    assert main(["optimal", str(path), "--compute", str(FAR)]) == 0
    text = capsys.readouterr().out
    assert "loss_pred: one run trained at the optimum" in text and "structural error" in text
    assert main(["plan", str(path), "--budget", str(FAR), "--objective", "quantile", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["structural"]["used"] is True and doc["structural"]["scale"] > 0
    assert main(["plan", str(path), "--budget", str(FAR), "--objective", "quantile", "--json", "--law-exact"]) == 0
    exact = json.loads(capsys.readouterr().out)
    assert exact["structural"]["used"] is False
    assert exact["loss"][0]["upper"] < doc["loss"][0]["upper"]
    assert main(["target", str(path), "--loss", "2.0", "--p", "0.9"]) == 0
    assert "carries the law's structural error (--law-exact: without it)" in capsys.readouterr().out
    assert main(["target", str(path), "--loss", "2.0", "--p", "0.9", "--law-exact", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["structural"]["used"] is False


@pytest.mark.parametrize("value", ["no", "False", None, 1])
def test_the_structural_switch_is_true_or_false(sim_fit, value):
    for ask in (lambda: sim_fit.predict(params=7e10, tokens=1.4e12, structural=value),
                lambda: P.plan(sim_fit, FAR, structural=value),
                lambda: P.compute_for_target(sim_fit, 2.0, 0.9, structural=value)):
        with pytest.raises(bs.QueryError, match="structural is True or False"):
            ask()


def test_a_target_reached_only_far_below_the_runs_is_refused(sim_fit):
    with pytest.raises(bs.QueryError, match="decades below the smallest fitted run"):
        P.compute_for_target(sim_fit, [2.0, 100.0], 0.9)


@pytest.mark.filterwarnings("ignore::bayes_scaling.errors.ExtrapolationWarning")
def test_a_target_is_the_first_budget_that_reaches_it_where_the_error_is_not_monotone(sim_fit):
    """Just past the largest run the error rises before the law's gains bring the quantile down again,
    and near its least value a window of budgets can be narrower than any scan's step: the answer is
    the first budget that reaches the target, whatever max_compute is."""
    edge = float(sim_fit.runs.table["compute"].max())
    at_edge = float(P.plan(sim_fit, edge, objective="quantile", q=0.9)["objective"][0])
    beyond = float(P.plan(sim_fit, edge * 1.3, objective="quantile", q=0.9)["objective"][0])
    assert beyond > at_edge  # the bump the scan must not step over
    for max_compute in (1e25, 1e32, 1e40):
        c = float(compute_for_target(sim_fit, at_edge * (1 + 1e-5), 0.9, max_compute=max_compute)["budget"][0, 0])
        assert c <= edge * (1 + 1e-6)
    grid = np.logspace(27, 36, 181)
    least = P.plan(sim_fit, grid, objective="quantile", q=0.9)["objective"].values
    x = float(least.min()) * (1 + 2e-6)  # reached only near the least quantile
    c = float(compute_for_target(sim_fit, x, 0.9)["budget"][0, 0])
    assert float(P.plan(sim_fit, c, objective="quantile", q=0.9)["objective"][0]) <= x * (1 + 1e-9)
    assert c <= grid[np.argmax(least <= x)] * 1.01


def test_a_run_at_each_task_s_optimum_is_measured_from_that_task_s_runs(sim_runs):
    """A fit whose tasks have their own ranges: the loss of a run at a task's optimum carries the
    structural error at that task's distance, as predict gives it there."""
    import warnings

    table = sim_runs.table.copy()
    table["task"] = np.where(table["params"] < table["params"].median(), "small", "large")
    table["domain"] = "all"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short fit; what is checked is where the error is measured from
        fit = bs.fit(table, "chinchilla", pool="log_e=task,alpha=task", draws=300, tune=400, chains=2, seed=3)
        opt = fit.optimal(1e21).sel(task="small", compute=1e21)
        n, d = (float(opt[k].median()) for k in ("params", "tokens"))
        pred = fit.predict(params=n, tokens=d).sel(task="small").isel(point=0)
    assert float(pred["beyond"]) > 0.2  # the small task's runs end well below this budget
    spread = [float(np.log(a / b).std()) for a, b in ((opt["loss_pred"], opt["loss"]), (pred["loss_pred"], pred["loss_mean"]))]
    assert spread[0] == pytest.approx(spread[1], rel=0.25)
