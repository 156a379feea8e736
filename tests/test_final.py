"""Extrapolation from early training: checkpoint tables, their errors, and the final loss of runs still going."""

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
from bayes_scaling.data.checkpoints import checkpoints_from_runs, read_checkpoints

#: Four runs of one family: L = E + A·x^-alpha in tokens seen, each run its own A and alpha.
TRUTH = {"r1": (2.0, 3e4, 0.5), "r2": (2.0, 6e4, 0.52), "r3": (2.1, 2e4, 0.48), "r4": (1.9, 4e4, 0.5)}
TOTAL = 2e11


def _loss(curve: str, x: np.ndarray) -> np.ndarray:
    e, a, alpha = TRUTH[curve]
    return e + a * x**-alpha


def _checkpoints(fraction: float, noise: float = 0.004, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for curve in TRUTH:
        x = np.geomspace(1e9, fraction * TOTAL, 25)
        rows.append(pd.DataFrame({"curve": curve, "tokens": x, "total_tokens": TOTAL,
                                  "loss": _loss(curve, x) * np.exp(rng.normal(0, noise, x.size))}))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def early_fit():
    """Four curves pooled under Gamma scales: about one fit in ten (by seed or machine) has a single
    divergent transition in 2,000 draws, which is tolerated here and nothing worse."""
    ck = read_checkpoints(_checkpoints(0.3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        fit = bs.fit(ck.runs, "curve_power", draws=1000, tune=1000, chains=2, seed=SEED, target_accept=0.99)
    d = fit.diagnostics
    assert d.divergences <= 2 and d.max_rhat <= 1.01 and d.min_ess_bulk >= 400, d
    return fit, ck


def test_the_final_loss_of_simulated_runs_lies_in_its_interval(early_fit):
    fit, ck = early_fit
    ds = fit.predict_final(ck)
    truth = np.array([_loss(c, np.array([TOTAL]))[0] for c in ds["curve"].values])
    median = ds["loss_mean"].median(("chain", "draw")).values
    lo, hi = (ds["loss_pred"].quantile(q, ("chain", "draw")).values for q in (0.05, 0.95))
    assert np.mean(np.abs(median - truth) / truth) < 0.03, "ARE within the guide's few percent"
    assert np.mean((truth >= lo) & (truth <= hi)) >= 0.75
    np.testing.assert_allclose(ds["final"], TOTAL)
    np.testing.assert_allclose(ds["fraction_seen"], 0.3, rtol=1e-9)
    assert np.all(ds["beyond"] > 0.5), "0.3 -> 1 is half a decade beyond each curve"
    assert any("cosine" in w for w in ds.attrs["warnings"]), "the answer says it assumes no schedule"


def test_fraction_seen_gives_the_total_and_must_lie_in_0_1(early_fit):
    fit, ck = early_fit
    a = fit.predict_final(ck)
    b = fit.predict_final(fraction_seen=0.3)
    np.testing.assert_allclose(b["final"], ck.seen.reindex(b["curve"].values) / 0.3)
    np.testing.assert_allclose(a["final"], b["final"], rtol=1e-9)
    for bad in (0.0, 1.0, 1.5, -0.2):
        with pytest.raises(bs.QueryError, match="strictly between 0 and 1"):
            fit.predict_final(fraction_seen=bad)
    with pytest.raises(bs.QueryError, match="total length or the fraction"):
        fit.predict_final()


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.groupby("curve").head(1), "at least 4"),
    (lambda t: t.assign(tokens=t["tokens"][::-1].to_numpy()), "must increase"),
    (lambda t: t.assign(total_tokens=1e9), "below its last checkpoint"),
    (lambda t: t.drop(columns="curve"), "needs columns"),
    (lambda t: t.drop(columns="tokens"), "'tokens' or 'step'"),
    (lambda t: t.assign(total_tokens=t["total_tokens"].astype(object).where(t.index > 0, "ten billion")),
     "column 'total_tokens' has non-numeric value 'ten billion' in row 0"),
    (lambda t: t.assign(total_tokens=np.where(t.index == 0, 3e11, TOTAL)), "one value per curve"),
    (lambda t: t.assign(curve=t["curve"].where(t.index > 3, None)), "column 'curve' is empty in row 0"),
    (lambda t: t.assign(group=np.where(t.index == 0, "a", "b")), "is listed in 2 groups"),
    (lambda t: t.assign(schedule="linear", lr_decay_start=t["tokens"].astype(object).where(t.index > 0, "soon")),
     "'lr_decay_start' has non-numeric value 'soon' in row 0"),
])
def test_bad_checkpoint_tables_get_one_clear_error(edit, message):
    with pytest.raises(bs.InputError, match=message):
        read_checkpoints(edit(_checkpoints(0.3)))


@pytest.mark.parametrize(("call", "message"), [
    ({"fraction_seen": "abc"}, "one number for every curve or a mapping"),
    ({"fraction_seen": [0.3, 0.3]}, "one number for every curve or a mapping"),
    ({"total": {"a": "x"}}, "must map each curve to a number"),
    ({"fraction_seen": 0.3, "curves": 5}, "a curve name or a list of them"),
    ({"fraction_seen": 0.3, "curves": []}, "curves is empty"),
    ({"total": TOTAL, "fraction_seen": 0.5}, "disagree; give one of them"),
    ({"total": float("inf")}, "not a finite number"),
    ({"fraction_seen": 1e-300}, "not a finite number"),
])
def test_predict_final_refuses_what_it_cannot_read_in_one_query_error(early_fit, call, message):
    fit, _ = early_fit
    with pytest.raises(bs.QueryError, match=message):
        fit.predict_final(**call)


def test_one_curve_by_name_is_one_curve(early_fit):
    fit, _ = early_fit
    name = str(fit.groups.tasks[0])
    assert fit.predict_final(fraction_seen=0.3, curves=name)["curve"].values.tolist() == [name]


def test_predict_final_refuses_before_it_samples(tmp_path):
    """Questions the table cannot answer end in one line before the sampler runs (no progress line)."""
    table = tmp_path / "ck.csv"
    _checkpoints(0.3).to_csv(table, index=False)
    run = [sys.executable, "-m", "bayes_scaling.cli", "predict-final", str(table)]
    for extra, words in ((["--fraction-seen", "0.5"], "(so 0.3 of it seen) and fraction_seen 0.5 disagree"),
                         (["--spec", "curve_kaplan"], "give the checkpoint table a params column"),
                         (["--out", str(tmp_path / "none" / "x.nc")], "no such directory"),
                         (["--warmup", "0.1", "--warmup-tokens", "1e9"], "alternatives")):
        out = subprocess.run([*run, *extra], capture_output=True, text=True, check=False)
        assert out.returncode == 2 and out.stderr.strip().splitlines() == [out.stderr.strip()], out.stderr
        assert out.stderr.startswith("error:") and words in out.stderr, out.stderr


def test_warm_up_checkpoints_are_dropped():
    table = _checkpoints(0.3)
    ck = read_checkpoints(table, warmup=0.02)
    assert ck.runs.table["tokens"].min() > 0.02 * TOTAL
    assert ck.dropped == int((table["tokens"] <= 0.02 * TOTAL).sum()) > 0
    absolute = read_checkpoints(table, warmup_tokens=1e10)
    assert absolute.runs.table["tokens"].min() > 1e10
    with pytest.raises(bs.InputError, match="warmup"):
        read_checkpoints(table, warmup=1.0)


def test_predict_final_command(early_fit, tmp_path):
    fit, _ = early_fit
    path = fit.save(tmp_path / "curves.nc")
    run = [sys.executable, "-m", "bayes_scaling.cli", "predict-final", str(path)]
    out = subprocess.run([*run, "--fraction-seen", "0.3", "--target", "2.3", "--json"], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert len(doc["curves"]) == 4 and all(0 <= c["p_below_target"] <= 1 for c in doc["curves"])
    spec = subprocess.run([*run, "--fraction-seen", "0.3", "--spec", "curve_kaplan"], capture_output=True, text=True,
                          check=False)
    assert spec.returncode == 2 and "--spec applies to a checkpoint table" in spec.stderr
    bad = subprocess.run([*run, "--fraction-seen", "1.2"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error:") and len(bad.stderr.strip().splitlines()) == 1
    table = tmp_path / "ck.csv"
    _checkpoints(0.3).groupby("curve").head(1).to_csv(table, index=False)
    thin = subprocess.run([sys.executable, "-m", "bayes_scaling.cli", "predict-final", str(table)],
                          capture_output=True, text=True, check=False)
    assert thin.returncode == 2 and "at least 4" in thin.stderr


@pytest.mark.slow
def test_olmo_from_thirty_percent_of_its_curves():
    """OLMo's three cross-entropy curves (ColPret): the final loss from 30% of each run within 4% ARE."""
    require_mirrored("colpret_curves")
    table = bs.datasets.load("colpret_curves").table
    runs = bs.read_runs(table[table["domain"] == "olmo"], check_units=False)
    ck, last = checkpoints_from_runs(runs, 0.3)
    fit = bs.fit(ck.runs, "curve_power", draws=500, tune=700, chains=2, seed=SEED, target_accept=0.95)
    ds = fit.predict_final(ck)
    median = ds["loss_mean"].median(("chain", "draw")).to_series()
    y = last.reindex(median.index)
    assert float((abs(median - y) / y).mean()) < 0.04


def test_one_run_alone_is_extrapolated_without_a_family():
    from bayes_scaling.result.final import fit_checkpoints

    table = _checkpoints(0.3)
    ck = read_checkpoints(table[table["curve"] == "r1"])
    fit = fit_checkpoints(ck, draws=500, tune=700, chains=2, seed=SEED, target_accept=0.95)
    ds = fit.predict_final(ck)
    truth = _loss("r1", np.array([TOTAL]))[0]
    assert list(ds["curve"].values) == ["r1"]
    lo, hi = ds["loss_pred"].quantile([0.05, 0.95]).values
    assert lo < truth < hi


def test_kaplan_curves_of_several_sizes_extrapolate_each_run():
    """Kaplan's L(N, S) (Eq. 1.6, Table 3 constants) on the first 30% of four runs' steps."""
    n_c, a_n, s_c, a_s = 6.5e13, 0.077, 2.1e3, 0.76
    rng = np.random.default_rng(2)
    rows = []
    for n in (1e8, 3e8, 1e9, 3e9):
        s = np.geomspace(3e3, 3e4, 20)
        loss = ((n_c / n) ** a_n + (s_c / s) ** a_s) * np.exp(rng.normal(0, 0.003, s.size))
        rows.append(pd.DataFrame({"curve": f"n{n:.0e}", "step": s, "params": n, "total_steps": 1e5, "loss": loss}))
    ck = read_checkpoints(pd.concat(rows, ignore_index=True))
    assert ck.x_name == "step"
    fit = bs.fit(ck.runs, "curve_kaplan", draws=500, tune=700, chains=2, seed=SEED, target_accept=0.95)
    ds = fit.predict_final(ck)
    n = fit.runs.table.groupby("task")["params"].first().reindex(ds["curve"].values).to_numpy()
    truth = (n_c / n) ** a_n + (s_c / 1e5) ** a_s
    lo, hi = (ds["loss_pred"].quantile(q, ("chain", "draw")).values for q in (0.05, 0.95))
    assert np.all((truth >= lo) & (truth <= hi))
    median = ds["loss_mean"].median(("chain", "draw")).values
    assert np.max(np.abs(median - truth) / truth) < 0.01
    alpha_s = fit.parameters()["alpha_s"]
    assert float(alpha_s.quantile(0.05)) < a_s < float(alpha_s.quantile(0.95))


@pytest.mark.parametrize(("name", "natural", "formula"), [
    ("power_curve", {"E": 1.9, "A": 40.0, "alpha": 0.3}, lambda n, x, p: n["E"] + n["A"] * x**-n["alpha"]),
    ("kaplan_steps", {"N_c": 6.5e13, "S_c": 2.1e3, "alpha_n": 0.077, "alpha_s": 0.76},
     lambda n, x, p: (n["N_c"] / p) ** n["alpha_n"] + (n["S_c"] / x) ** n["alpha_s"]),
])
def test_the_curve_laws_are_their_textbook_formulas_at_any_pivot(name, natural, formula):
    import pytensor
    import pytensor.tensor as pt

    law = bs.get_law(name)
    x, n_params = np.geomspace(1e3, 1e11, 9), np.geomspace(1e7, 1e10, 9)
    inputs = {"tokens": np.log(x), "params": np.log(n_params)}
    zero = law.sampled_from_natural(natural)
    got = np.exp(law.log_loss(zero, inputs, {k: 0.0 for k in law.inputs}))
    np.testing.assert_allclose(got, formula(natural, x, n_params), rtol=1e-10)
    pivots = {"tokens": 20.0, "params": 19.0}
    # natural -> sampled -> natural is the identity; numpy and PyTensor agree at a non-zero pivot
    moved = {k: float(v) for k, v in law.sampled_from_natural(natural).items()}
    back = law.natural(moved, {k: 0.0 for k in law.inputs})
    for key, value in natural.items():
        assert float(back[key]) == pytest.approx(value, rel=1e-10)
    sym = {k: pt.dscalar(k) for k in law.sampled}
    f = pytensor.function(list(sym.values()), law.log_loss(sym, {k: float(v[4]) for k, v in inputs.items()},
                                                           pivots, xp=pt))
    np.testing.assert_allclose(f(*moved.values()), law.log_loss(moved, {k: v[4] for k, v in inputs.items()}, pivots),
                               rtol=1e-12)


def test_a_fit_of_final_losses_of_several_sizes_is_not_a_learning_curve(sim_fit, tmp_path):
    """A Chinchilla fit of final losses (runs of many sizes, no 'curve' column) has one task, 'all':
    predict_final refuses it with one line instead of continuing the first size's 'curve'."""
    from bayes_scaling.errors import QueryError

    with pytest.raises(QueryError, match="model sizes"):
        sim_fit.predict_final(fraction_seen=0.3)
    path = sim_fit.save(tmp_path / "final_losses.nc")
    out = subprocess.run([sys.executable, "-m", "bayes_scaling.cli", "predict-final", str(path), "--fraction-seen", "0.3"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 2 and out.stderr.strip().startswith("error:") and "model sizes" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_a_law_that_reads_params_refuses_a_curve_of_several_sizes():
    from bayes_scaling.result.final import check_checkpoints
    from bayes_scaling.spec import load_spec

    table = _checkpoints(0.3).assign(params=lambda t: np.where(t.index % 2 == 0, 1e8, 2e8))
    with pytest.raises(bs.InputError, match="holds 2 values of params: a curve is one run"):
        check_checkpoints(read_checkpoints(table), load_spec("curve_kaplan"))


def test_a_curve_whose_loss_rises_at_its_end_is_named():
    table = _checkpoints(0.3)
    last = table.groupby("curve").tail(3).index
    rising = table.assign(loss=table["loss"].where(~table.index.isin(last[:3]), table["loss"] * 1.3))
    with pytest.warns(bs.DataWarning, match="the loss rises at the end of 1 curve"):
        read_checkpoints(rising)
    steep = pd.DataFrame({"curve": "a", "tokens": np.geomspace(1e9, 6e9, 8), "total_tokens": 1e10,
                          "loss": [4.0, 3.6, 3.3, 3.1, 2.95, 2.8, 2.6, 2.5]})  # still falling fast: no rise
    with warnings.catch_warnings():
        warnings.simplefilter("error", bs.DataWarning)
        read_checkpoints(table)
        read_checkpoints(steep)
    with pytest.raises(bs.InputError, match="column 'loss' has non-numeric value 'n/a'"):
        read_checkpoints(steep.assign(loss=steep["loss"].astype(object).where(steep.index > 0, "n/a")))


def test_a_curve_s_total_wins_and_the_fraction_serves_the_others(early_fit):
    fit, ck = early_fit
    ds = fit.predict_final(total={"r1": TOTAL}, fraction_seen=0.5)
    final = dict(zip(ds["curve"].values, ds["final"].values, strict=True))
    assert final["r1"] == pytest.approx(TOTAL)
    assert final["r2"] == pytest.approx(ck.seen["r2"] / 0.5)


def test_a_saved_curve_fit_keeps_the_planned_lengths_it_was_made_with(tmp_path):
    from bayes_scaling.result.final import fit_checkpoints

    ck = read_checkpoints(_checkpoints(0.3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)  # a short run: the lengths are the point here
        fit = fit_checkpoints(ck, "curve_power", draws=200, tune=300, chains=2, seed=SEED)
        before = fit.predict_final(ck)
        after = bs.load_fit(fit.save(tmp_path / "curves.nc")).predict_final()  # no lengths given again
    np.testing.assert_array_equal(after["final"].values, before["final"].values)
    np.testing.assert_array_equal(after["loss_pred"].values, before["loss_pred"].values)
