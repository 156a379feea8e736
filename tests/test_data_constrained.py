"""The data-constrained law: Muennighoff et al.'s formula, its reduction to Chinchilla, and its input."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
import pytest
from conftest import SEED, require_mirrored

import bayes_scaling as bs
from bayes_scaling.laws import get_law

#: Muennighoff et al.'s published fit (REFERENCE_RESULTS.md §4).
PUBLISHED = {"E": 1.8691, "A": 520.82, "B": 1487.72, "alpha": 0.3526596, "beta": 0.3526596,
             "R_D": 15.387756, "R_N": 5.309743}
rng = np.random.default_rng(3)
N = rng.uniform(1e7, 1e10, 30)
U = rng.uniform(1e8, 1e11, 30)
D = U * rng.uniform(1.0, 50.0, 30)


def direct(n: dict, params, tokens, unique) -> np.ndarray:
    """The law as printed in the datablations README, with U_N = min(N, N_opt(U_D))."""
    g = (n["alpha"] * n["A"] / (n["beta"] * n["B"])) ** (1 / (n["alpha"] + n["beta"]))
    n_opt = g ** (1 + n["beta"] / n["alpha"]) * unique ** (n["beta"] / n["alpha"])
    u_n = np.minimum(params, n_opt)
    r_d, r_n = tokens / unique - 1, params / u_n - 1
    d_eff = unique + unique * n["R_D"] * (1 - np.exp(-r_d / n["R_D"]))
    n_eff = u_n + u_n * n["R_N"] * (1 - np.exp(-r_n / n["R_N"]))
    return n["E"] + n["A"] / n_eff ** n["alpha"] + n["B"] / d_eff ** n["beta"]


def _log(law, p, piv, **inputs):
    return law.log_loss(p, {k: np.log(v) for k, v in inputs.items()}, piv)


def test_matches_the_published_formula_at_any_pivot():
    law = get_law("data_constrained")
    zero = law.sampled_from_natural(PUBLISHED)
    got = np.exp(_log(law, zero, {k: 0.0 for k in law.inputs}, params=N, tokens=D, unique_tokens=U))
    np.testing.assert_allclose(got, direct(PUBLISHED, N, D, U), rtol=1e-10)
    piv = {"params": 20.0, "tokens": 24.0, "unique_tokens": 24.0}  # unique tokens share the tokens' pivot
    at_pivot = {**zero, "log_a0": zero["log_a0"] - zero["alpha"] * 20.0, "log_b0": zero["log_b0"] - zero["beta"] * 24.0}
    np.testing.assert_allclose(np.exp(_log(law, at_pivot, piv, params=N, tokens=D, unique_tokens=U)),
                               direct(PUBLISHED, N, D, U), rtol=1e-10)
    for key, value in PUBLISHED.items():
        np.testing.assert_allclose(law.natural(at_pivot, piv)[key], value, rtol=1e-10)


def test_without_repetition_it_is_chinchilla():
    law, chinchilla = get_law("data_constrained"), get_law("chinchilla")
    n = {**PUBLISHED}
    small = N / 100  # below N_opt(U_D): no excess parameters
    zero = {k: 0.0 for k in law.inputs}
    dc = _log(law, law.sampled_from_natural(n), zero, params=small, tokens=D)  # no unique tokens given: all unique
    ch = chinchilla.log_loss(chinchilla.sampled_from_natural(n), {"params": np.log(small), "tokens": np.log(D)},
                             {"params": 0.0, "tokens": 0.0})
    np.testing.assert_allclose(dc, ch, rtol=1e-12)


def test_repeated_data_is_worth_less_and_saturates():
    law = get_law("data_constrained")
    p = law.sampled_from_natural(PUBLISHED)
    zero = {k: 0.0 for k in law.inputs}
    epochs = np.array([1.0, 4.0, 40.0, 400.0, 4000.0])
    u = 1e10
    loss = np.exp(_log(law, p, zero, params=np.full(5, 1e9), tokens=u * epochs, unique_tokens=np.full(5, u)))
    fresh = np.exp(_log(law, p, zero, params=np.full(5, 1e9), tokens=u * epochs))
    assert np.all(np.diff(loss) < 0) and np.all(loss[1:] > fresh[1:]), "repeats help, less than fresh data"
    assert loss[-2] - loss[-1] < 1e-3 * (loss[0] - loss[1]), "the gain of repeats vanishes"


def test_pytensor_gradients_match_finite_differences():
    law = get_law("data_constrained")
    p = law.sampled_from_natural(PUBLISHED)
    sym = {k: pt.dscalar(k) for k in law.sampled}
    xs = {k: pt.dvector(k) for k in law.inputs}
    out = law.log_mean(pt, xs, sym)
    f = pytensor.function([*xs.values(), *sym.values()], [out, *pytensor.grad(out.sum(), list(sym.values()))])
    x = {"params": np.log(N), "tokens": np.log(D), "unique_tokens": np.log(U)}
    value, *grads = f(*x.values(), *(p[k] for k in law.sampled))
    np.testing.assert_allclose(value, law.log_mean(np, x, p), rtol=1e-12)
    for key, grad in zip(law.sampled, grads, strict=True):
        up, down = dict(p), dict(p)
        up[key] += 1e-6
        down[key] -= 1e-6
        fd = (law.log_mean(np, x, up).sum() - law.log_mean(np, x, down).sum()) / 2e-6
        np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6, err_msg=f"d/d{key}")


def test_unique_tokens_above_tokens_is_one_clear_error():
    frame = pd.DataFrame({"params": [1e8, 2e8, 4e8], "tokens": [1e9, 2e9, 4e9], "unique_tokens": [1e9, 3e9, 4e9],
                          "loss": [3.0, 2.8, 2.6]})
    with pytest.raises(bs.InputError, match=r"unique_tokens above tokens in row 1 .*cannot see more distinct"):
        bs.read_runs(frame)


def test_the_law_needs_unique_tokens():
    frame = pd.DataFrame({"params": np.geomspace(1e8, 1e9, 10), "tokens": np.geomspace(1e9, 1e10, 10),
                          "loss": np.linspace(3.0, 2.5, 10)})
    with pytest.raises(bs.InputError, match="no 'unique_tokens' column"):
        bs.fit(bs.read_runs(frame), "data_constrained", draws=10, tune=10, chains=1)


def test_unique_tokens_round_trip_through_a_saved_table():
    frame = pd.DataFrame({"params": [1e8, 2e8], "tokens": [1e9, 2e9], "unique_tokens": [5e8, 2e9], "loss": [3.0, 2.8]})
    runs = bs.read_runs(frame)
    back = bs.Runs.from_dataset(runs.to_dataset())
    assert back.table.equals(runs.table) and back.digest == runs.digest
    plain = bs.read_runs(frame.drop(columns="unique_tokens"))
    assert plain.digest != runs.digest and "unique_tokens" not in plain.table


@pytest.fixture(scope="module")
def datablations_fit():
    require_mirrored("muennighoff2023_parametric")
    table = bs.datasets.load("muennighoff2023_parametric").table
    runs = bs.read_runs(table[table["tokens"] / table["unique_tokens"] <= 100])
    settings = bs.SamplerSettings(draws=500, tune=1000, chains=2, seed=SEED, target_accept=0.95)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)  # checked below at this small draw count
        return bs.fit(runs, "data_constrained", sampler=settings)


@pytest.mark.slow
def test_datablations_fit_gives_decay_constants_and_epochs(datablations_fit, tmp_path):
    fit = datablations_fit
    assert fit.diagnostics.divergences == 0 and fit.diagnostics.max_rhat < 1.05
    p = fit.parameters()
    for name in ("R_D", "R_N"):
        lo, hi = (float(v) for v in p[name].quantile([0.05, 0.95]))
        assert 0.1 < lo < hi < 500, (name, lo, hi)
    tight, loose = fit.optimal(1e22, unique_tokens=1e10), fit.optimal(1e22, unique_tokens=1e13)
    assert float(tight["epochs"].median()) > 5 and float(loose["epochs"].max()) == pytest.approx(1.0)
    assert float(tight["loss"].median()) > float(loose["loss"].median()), "less unique data, higher loss"
    with pytest.raises(bs.QueryError, match="no closed-form optimum"):
        fit.optimal(1e22, method="closed", unique_tokens=1e10)
    path = fit.save(tmp_path / "dc.nc")
    out = subprocess.run([sys.executable, "-m", "bayes_scaling.cli", "optimal", str(path), "--compute", "1e22",
                          "--unique-tokens", "1e10", "--json"], capture_output=True, text=True, check=True)
    rows = {r["variable"]: r for r in json.loads(out.stdout)["optimal"]}
    assert rows["epochs"]["median"] == pytest.approx(float(tight["epochs"].median()), rel=1e-9)


@pytest.mark.slow
def test_the_colpret_datablations_runs_converge_with_a_level_per_corpus(tmp_path):
    """Muennighoff et al.'s 48 C4 and OSCAR runs, fitted as docs/laws.md says (E by corpus, long draws),
    pass every sampler check, put the corpora's E about 0.5 nats apart and answer the epochs question;
    the same runs under one shared E warn that they hold two domains."""
    require_mirrored("muennighoff2023_datablations")
    out = tmp_path / "db.nc"
    done = subprocess.run([sys.executable, "-m", "bayes_scaling.cli", "fit", "muennighoff2023_datablations",
                           "--spec", "data_constrained", "--pool", "E=domain_separate", "--draws", "12000",
                           "--tune", "3000", "--seed", "1", "--out", str(out), "--json"],
                          check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    d = doc["diagnostics"]
    assert doc["warnings"] == [] and d["divergences"] == 0 and d["max_rhat"] <= 1.01 and d["min_ess_bulk"] >= 400, d
    fit = bs.load_fit(out)
    e = fit.parameters()["E"].median(("chain", "draw"))
    assert 0.3 < float(e.sel(domain="oscar") - e.sel(domain="c4")) < 0.7
    for name in ("R_D", "R_N"):
        lo, hi = (float(v) for v in fit.parameters()[name].quantile([0.05, 0.95]))
        assert 0.05 < lo < hi < 100, (name, lo, hi)
    epochs = fit.optimal(1e22, unique_tokens=1e10)["epochs"]
    assert float(epochs.min()) >= 1.0 and 1.0 < float(epochs.median()) < 100
    from bayes_scaling.result.checks import warn_several_groups
    from bayes_scaling.spec import load_spec

    with pytest.warns(bs.DataWarning, match=r"2 domains \(c4, oscar\).*E=domain_separate"):
        warn_several_groups(bs.datasets.load("muennighoff2023_datablations"), load_spec("data_constrained"))


def test_a_unique_budget_needs_a_law_that_reads_it(sim_fit):
    with pytest.raises(bs.QueryError, match="does not read unique tokens"):
        sim_fit.optimal(1e22, unique_tokens=1e10)


@pytest.mark.slow
def test_plan_under_a_unique_data_budget(datablations_fit, tmp_path):
    """The mean plan with U_D fixed: epochs = D/U_D, a higher expected loss when unique data is scarce, and
    the plain plan where data is ample."""
    fit = datablations_fit
    tight = bs.plan(fit, [1e22], unique_tokens=1e10)
    loose = bs.plan(fit, [1e22], unique_tokens=1e14)
    assert float(tight["epochs"].values.ravel()[0]) == pytest.approx(float(tight["tokens"].values.ravel()[0]) / 1e10)
    assert float(tight["epochs"].values.ravel()[0]) > 5 and float(loose["epochs"].values.ravel()[0]) == 1.0
    assert float(tight["objective"].values.ravel()[0]) > float(loose["objective"].values.ravel()[0])
    plain = bs.plan(fit, [1e22])
    np.testing.assert_allclose(loose["params"].values, plain["params"].values, rtol=1e-3)
    exact = bs.plan(fit, [1e22], unique_tokens=1e10, structural=False)  # 1e22 lies just above the runs' compute
    assert tight.attrs["structural"] == 1 and float(tight["objective"][0]) != float(exact["objective"][0])
    path = fit.save(tmp_path / "dc.nc")
    out = subprocess.run([sys.executable, "-m", "bayes_scaling.cli", "plan", str(path), "--budget", "1e22",
                          "--unique-tokens", "1e10", "--json"], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["plan"][0]["epochs"] == pytest.approx(float(tight["epochs"].values.ravel()[0]), rel=1e-9)


def test_a_unique_budget_plan_needs_a_law_that_reads_it(sim_fit):
    with pytest.raises(bs.QueryError, match="does not read unique tokens"):
        bs.plan(sim_fit, [1e22], unique_tokens=1e10)


def test_a_backtest_scores_the_standard_huber_fit_beside_the_law():
    """The data-constrained law is compared with the tool users have: the Huber fit of Chinchilla's law,
    which has no term for repeats, and its bootstrap."""
    require_mirrored("muennighoff2023_datablations")
    runs = bs.datasets.load("muennighoff2023_datablations")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)  # 2 x 150 draws: this test reads the rows
        bt = bs.backtest(runs, "data_constrained", holdout="compute:0.2", baselines=True, draws=150, tune=300,
                         chains=2, seed=SEED, n_resamples=10)
    metrics = bt.metrics.set_index("method")
    assert {"posterior", "huber", "bootstrap"} <= set(metrics.index)
    assert not bt.notes
    assert np.isfinite(metrics.loc["huber", "rmsle"]) and metrics.loc["huber", "rmsle"] > 0


def test_runs_that_repeat_no_data_are_named(sim_runs):
    """Unique tokens equal to tokens everywhere: R_D* and R_N* would be their priors."""
    from bayes_scaling.result.checks import warn_no_repeats
    from bayes_scaling.spec import load_spec

    fresh = bs.read_runs(sim_runs.table.assign(unique_tokens=sim_runs.table["tokens"]))
    with pytest.warns(bs.DataWarning, match="no run repeats its data"):
        warn_no_repeats(fresh, load_spec("data_constrained"))
    repeated = bs.read_runs(sim_runs.table.assign(unique_tokens=sim_runs.table["tokens"] / 2))
    assert warn_no_repeats(repeated, load_spec("data_constrained")) is None
    assert warn_no_repeats(fresh, load_spec("chinchilla")) is None
