"""Broken neural scaling laws: the formula, its gradients, and the BNSL protocol on real data."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from conftest import SEED, require_mirrored

import bayes_scaling as bs
from bayes_scaling.cli import main
from bayes_scaling.laws import get_law

NATURAL = {
    "bnsl": {"E": 0.3, "b": 5.0, "c0": 0.2, "c1": 1.5, "d1": 600.0, "f1": 0.2},
    "bnsl2": {"E": 0.3, "b": 5.0, "c0": 0.2, "c1": 1.5, "d1": 600.0, "f1": 0.2, "c2": -0.8, "d2": 5000.0, "f2": 0.5},
}
X = np.geomspace(100, 1e5, 25)


def direct(n: dict, x: np.ndarray) -> np.ndarray:
    """Caballero et al.'s form, written out: E + b·x^-c0·prod_i (1 + (x/d_i)^(1/f_i))^(-c_i·f_i)."""
    y = n["b"] * x ** -n["c0"]
    i = 1
    while f"d{i}" in n:
        y = y * (1 + (x / n[f"d{i}"]) ** (1 / n[f"f{i}"])) ** (-n[f"c{i}"] * n[f"f{i}"])
        i += 1
    return n["E"] + y


@pytest.mark.parametrize("name", sorted(NATURAL))
def test_matches_the_published_form_at_any_pivot(name):
    law = get_law(name)
    zero = law.sampled_from_natural(NATURAL[name])
    np.testing.assert_allclose(np.exp(law.log_loss(zero, {"tokens": np.log(X)}, {"tokens": 0.0})),
                               direct(NATURAL[name], X), rtol=1e-12)
    pivot = {"tokens": float(np.log(X).mean())}  # sampled at a pivot -> natural -> sampled at zero: one curve
    at_pivot = {**zero, "log_d1": -0.4, "log_l0": 0.1, "logit_f": -0.7}
    back = law.sampled_from_natural(law.natural(at_pivot, pivot))
    np.testing.assert_allclose(law.log_loss(back, {"tokens": np.log(X)}, {"tokens": 0.0}),
                               law.log_loss(at_pivot, {"tokens": np.log(X)}, pivot), rtol=1e-11)


def test_breaks_are_ordered_and_slopes_add_up():
    n = NATURAL["bnsl2"]
    law = get_law("bnsl2")
    p = law.sampled_from_natural(n)
    assert law.natural(p, {"tokens": 0.0})["d2"] > law.natural(p, {"tokens": 0.0})["d1"]
    log_x = np.log(np.array([1.0, 2.0, 1e9, 2e9]))
    reducible = np.exp(law.log_loss(p, {"tokens": log_x}, {"tokens": 0.0})) - n["E"]
    slopes = np.diff(np.log(reducible))[[0, 2]] / np.log(2.0)
    np.testing.assert_allclose(slopes, [-n["c0"], -(n["c0"] + n["c1"] + n["c2"])], rtol=1e-3)


@pytest.mark.parametrize("name", sorted(NATURAL))
def test_pytensor_matches_numpy_and_gradients_match_finite_differences(name):
    law = get_law(name)
    p = law.sampled_from_natural(NATURAL[name])
    sym = {k: pt.dscalar(k) for k in law.sampled}
    x = pt.dvector("x")
    out = law.log_mean(pt, {"tokens": x}, sym)
    f = pytensor.function([x, *sym.values()], [out, *pytensor.grad(out.sum(), list(sym.values()))])
    xc = np.log(X) - np.log(X).mean()
    value, *grads = f(xc, *(p[k] for k in law.sampled))
    np.testing.assert_allclose(value, law.log_mean(np, {"tokens": xc}, p), rtol=1e-12)
    for key, grad in zip(law.sampled, grads, strict=True):
        up, down = dict(p), dict(p)
        up[key] += 1e-6
        down[key] -= 1e-6
        fd = (law.log_mean(np, {"tokens": xc}, up).sum() - law.log_mean(np, {"tokens": xc}, down).sum()) / 2e-6
        np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6, err_msg=f"{name}: d/d{key}")


def test_more_breaks_than_the_points_allow_is_one_clear_error():
    runs = bs.read_runs(_toy(8))
    with pytest.raises(bs.InputError, match="cannot determine the 9 parameters of the 'bnsl2' law"):
        bs.fit(runs, "bnsl2", draws=10, tune=10, chains=1)


def _toy(n: int):
    import pandas as pd

    x = np.geomspace(100, 1000, n)
    return pd.DataFrame({"params": 1e8, "tokens": x, "loss": direct(NATURAL["bnsl"], x)})


@pytest.fixture(scope="module")
def addition():
    require_mirrored("bnsl_4digit_addition")
    return bs.datasets.load("bnsl_4digit_addition", split="fit"), bs.datasets.load("bnsl_4digit_addition",
                                                                                   split="extrapolate")


SETTINGS = bs.SamplerSettings(draws=500, tune=1000, chains=2, seed=SEED, target_accept=0.95)


@pytest.fixture(scope="module")
def protocol(addition):
    """Caballero et al.'s protocol: fit the first 14 points, score points 15-17."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)  # ESS is checked in the tests at this small draw count
        return bs.backtest(addition, "bnsl", sampler=SETTINGS, structural="none")


def test_bnsl_protocol_on_four_digit_addition(addition, protocol):
    """The one-break law extrapolates the sharp transition that a saturating power law misses by far
    (RMSLE 0.02 against 1.1 at 4 x 1000 draws, docs/laws.md)."""
    train, test = addition
    assert (len(train), len(test)) == (14, 3)
    post = protocol.metrics.set_index("method").loc["posterior"]
    assert post["rmsle"] < 0.1 and post["coverage_90"] == 1.0, protocol.metrics
    fit = protocol.fit
    assert fit.diagnostics.divergences == 0 and fit.diagnostics.max_rhat < 1.05
    d1 = fit.parameters()["d1"]
    lo, hi = (float(v) for v in d1.quantile([0.05, 0.95]))
    assert 400 < float(d1.median()) < 900 and hi - lo > 1, "the break sits at the transition, with an interval"


def test_loo_prefers_a_break_where_the_curve_bends(addition, protocol):
    train, _ = addition
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        fits = {"saturating": bs.fit(train, "saturating", sampler=SETTINGS), "bnsl": protocol.fit}
    table = bs.compare_models(fits)
    assert table.index[0] == "bnsl", table
    assert abs(table.loc["saturating", "elpd_diff"]) > 2 * table.loc["saturating", "dse"], table


def test_two_breaks_on_fourteen_points_are_named_as_chains_apart(addition):
    """With 14 points the second break is not identified: chains settle in different modes (a minor bend
    before the sharp break, or after it), and the fit says so instead of only reporting R-hat."""
    train, _ = addition
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        fit = bs.fit(train, "bnsl2", draws=500, tune=500, chains=4, seed=1, target_accept=0.95)
    apart = [p for p in fit.diagnostics.problems if p.startswith("the chains settled apart")]
    assert fit.diagnostics.max_rhat > 1.1 and len(apart) == 1, fit.diagnostics.problems
    assert apart[0].count("|") >= 1 and "several modes" in apart[0]


def test_a_mixing_fit_names_no_modes(protocol):
    assert not [p for p in protocol.fit.diagnostics.problems if "settled apart" in p]


@pytest.fixture(scope="module")
def two_breaks(tmp_path_factory):
    """30 points of a curve with breaks at 600 and 5000 (E small enough for the second to show), 1% noise."""
    import pandas as pd

    n = {**NATURAL["bnsl2"], "E": 0.01, "f2": 0.2}
    x = np.geomspace(100, 1e5, 30)
    noise = np.exp(0.01 * np.random.default_rng(1).standard_normal(x.size))
    runs = pd.DataFrame({"params": 1e8, "tokens": x, "loss": direct(n, x) * noise})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        fit = bs.fit(runs, "bnsl2", target_accept=0.95, seed=1)
    return n, fit, fit.save(tmp_path_factory.mktemp("bnsl2") / "two.nc")


def test_a_chain_stuck_in_a_local_mode_is_named_and_can_be_dropped(two_breaks, capsys):
    """One chain of four settles where the slope changes swap signs (c1 < 0 < c2), 38 nats below the others,
    which find both breaks; the fit names it, and without it the posterior converges on the truth."""
    n, fit, path = two_breaks
    logp = fit.idata["sample_stats"]["logp"].mean("draw")
    stuck = int(logp["chain"][int(np.argmin(logp.values))])
    assert not fit.diagnostics.ok
    [local] = [p for p in fit.diagnostics.problems if "sat in a local mode" in p]
    assert f"fit.drop_chains([{stuck}])" in local, local
    kept = fit.drop_chains(stuck)
    assert kept.diagnostics.ok, kept.diagnostics.problems
    assert kept.settings.dropped_chains == (stuck,) and f"chain {stuck} dropped after sampling" in kept.diagnostics.notes[0]
    table = kept.summary(prob=0.9)
    for name in ("d1", "d2", "c1", "c2"):
        assert table.loc[name, "lower"] < n[name] < table.loc[name, "upper"], (name, table.loc[name].to_dict())
    assert fit.diagnostics.notes == () and not fit.settings.dropped_chains  # the original is unchanged
    out = path.with_name("kept.nc")
    assert main(["drop-chains", str(path), "--chains", str(stuck), "--out", str(out), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["diagnostics"]["ok"] and document["diagnostics"]["notes"] == list(kept.diagnostics.notes)
    loaded = bs.load_fit(out)
    assert loaded.settings.dropped_chains == (stuck,) and loaded.diagnostics.notes == kept.diagnostics.notes
    np.testing.assert_array_equal(loaded.posterior["d2"].values, kept.posterior["d2"].values)
    assert main(["drop-chains", str(out), "--chains", str(stuck), "--out", str(path.with_name("k2.nc"))]) == 2
    assert f"chain {stuck} was dropped already" in capsys.readouterr().err
    report = path.with_name("report.md")
    assert main(["report", str(out), "--out", str(report)]) == 0
    assert f"Note: chain {stuck} dropped after sampling" in report.read_text()


def test_loo_prefers_two_breaks_where_the_curve_has_two(two_breaks):
    """With its stuck chain dropped, the two-break fit of a two-break curve beats one break by PSIS-LOO by
    far more than its standard error (58 +- 6 elpd here)."""
    _, fit, _ = two_breaks
    logp = fit.idata["sample_stats"]["logp"].mean("draw")
    kept = fit.drop_chains(int(logp["chain"][int(np.argmin(logp.values))]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        one = bs.fit(kept.runs, "bnsl", target_accept=0.95, seed=1)
    table = bs.compare_models({"one": one, "two": kept})
    assert table.index[0] == "two", table
    assert abs(table.loc["one", "elpd_diff"]) > 4 * table.loc["one", "dse"], table


def test_a_curve_of_tokens_and_loss_is_read_as_it_is_for_a_curve_law(tmp_path, addition, capsys):
    """The documented `fit runs.csv --spec bnsl`: a CSV of (tokens, loss), x a count of examples in the
    hundreds, needs no params column and is not taken for counts in billions; a law in N and D still
    asks for params."""
    train, _ = addition
    path = tmp_path / "curve.csv"
    train.table[["tokens", "loss"]].to_csv(path, index=False)
    assert main(["fit", str(path), "--spec", "bnsl", "--draws", "100", "--tune", "100", "--chains", "2",
                 "--out", str(tmp_path / "bnsl.nc")]) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)  # 2 x 100 draws: the reading is what is tested
        saved = bs.load_fit(tmp_path / "bnsl.nc")
    assert saved.runs.table["tokens"].tolist() == train.table["tokens"].tolist()
    capsys.readouterr()
    assert main(["fit", str(path), "--spec", "chinchilla", "--out", str(tmp_path / "c.nc")]) == 2
    assert "missing column(s): params" in capsys.readouterr().err
    with pytest.raises(bs.InputError, match="missing column"):
        bs.fit(train.table[["tokens", "loss"]], "chinchilla", draws=10, tune=10, chains=1)


def test_a_curve_law_says_it_is_a_curve_when_asked_for_an_allocation(protocol):
    with pytest.raises(bs.QueryError, match="the 'bnsl' law is a curve in tokens: it has no N/D allocation; "
                                            "use predict\\(tokens=...\\)"):
        protocol.fit.optimal(1e21)
    with pytest.raises(bs.QueryError, match="the 'bnsl' law is a curve in tokens: it reads no params"):
        protocol.fit.predict(params=1e9, tokens=1e3)
