"""Risk-aware budget planning: hand-made posteriors with closed-form answers, and the simulated fit."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from bayes_scaling.decisions import planning as P
from bayes_scaling.errors import QueryError
from bayes_scaling.laws import get_law
from bayes_scaling.laws.allocation import optimal_allocation
from bayes_scaling.laws.chinchilla import log_n_star
from bayes_scaling.present.text import format_plan, format_target

CHINCHILLA_C = 5.88e23
K = 6.0
PIV = {"params": 0.0, "tokens": 0.0}
CHIN = get_law("chinchilla")
EPOCH = {"E": 1.81686, "A": 482.00572, "B": 2085.43420, "alpha": 0.34781, "beta": 0.36585}
SYMMETRIC = {"E": 1.8, "A": 400.0, "B": 1600.0, "alpha": 0.35, "beta": 0.35}  # alpha = beta: L*(C) analytic


def posterior(natural: dict, n: int = 1, law: str = "chinchilla", chains: int = 1) -> dict[str, xr.DataArray]:
    """Sampled parameters at zero pivots, dims (chain, draw); scalars are repeated over n draws."""
    law_obj = get_law(law)
    draws = {k: np.broadcast_to(np.asarray(v, float), (n,)) for k, v in natural.items()}
    sampled = law_obj.sampled_from_natural(draws)
    return {k: xr.DataArray(np.asarray(v, float).reshape(chains, -1), dims=("chain", "draw"))
            for k, v in sampled.items()}


def n_star(A, B, alpha, beta, compute):
    return np.exp(log_n_star(A, B, alpha, beta, np.log(np.asarray(compute) / K)))


def chin_loss(nat: dict, n, d):
    return nat["E"] + nat["A"] * n ** -nat["alpha"] + nat["B"] * d ** -nat["beta"]


def symmetric_compute(E, A, B, alpha, x):
    """alpha = beta: L*(C) = E + 2·sqrt(AB)·(C/k)^(-alpha/2), solved for C."""
    return K * (2 * np.sqrt(A * B) / (x - E)) ** (2 / alpha)


def only_a_varies(n: int = 1000, seed: int = 7, base: dict | None = None) -> tuple[dict, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = np.exp(rng.normal(np.log(400.0), 0.3, n))
    nat = dict(base or SYMMETRIC, A=a)
    return nat, a


# ---------------------------------------------------------------------------------------------- plan

def test_degenerate_posterior_every_objective_is_the_optimal_frontier():
    samp = posterior(EPOCH, n=4)
    c = [1e21, CHINCHILLA_C, 1e25]
    opt = optimal_allocation(CHIN, samp, PIV, c)
    for objective in P.OBJECTIVES:
        pl = P.plan_from_draws(P.Draws(CHIN, samp, PIV), c, objective=objective)
        np.testing.assert_allclose(pl.params, opt.params.isel(chain=0, draw=0), rtol=1e-6)
        np.testing.assert_allclose(pl.objective, opt.loss.isel(chain=0, draw=0), rtol=1e-12)
    np.testing.assert_allclose(K * pl.params * pl.tokens, c, rtol=1e-12)
    np.testing.assert_allclose(pl.ratio, pl.tokens / pl.params, rtol=1e-12)


def test_plan_layout_and_loss_curve():
    rng = np.random.default_rng(1)
    nat = {k: v * np.exp(rng.normal(0, 0.05, 200)) for k, v in EPOCH.items()}
    samp = posterior(nat, n=200, chains=2)
    pl = P.plan_from_draws(P.Draws(CHIN, samp, PIV), [1e21, CHINCHILLA_C], objective="quantile", q=0.8, n_grid=41)
    assert pl.params.dims == ("budget",) and pl.objective.dims == ("budget",)
    assert pl.loss.dims == ("chain", "draw", "budget")
    assert pl.loss_curve.dims == ("chain", "draw", "budget", "n_grid") and pl.loss_curve.sizes["n_grid"] == 41
    assert pl.objective_curve.dims == ("budget", "n_grid")
    assert pl.params_grid.dims == ("budget", "n_grid")
    np.testing.assert_allclose(K * pl.params_grid * pl.tokens_grid, pl.budget.broadcast_like(pl.params_grid),
                               rtol=1e-12)
    # the loss at the choice is the law there; the objective is its 0.8-quantile and beats the grid
    np.testing.assert_allclose(pl.loss.stack(s=("chain", "draw")).transpose("s", "budget"),
                               chin_loss({k: v[:, None] for k, v in nat.items()}, pl.params.values, pl.tokens.values),
                               rtol=1e-12)
    np.testing.assert_allclose(pl.objective, pl.loss.quantile(0.8, dim=("chain", "draw")), rtol=1e-12)
    assert (pl.objective <= pl.objective_curve.min("n_grid") + 1e-12).all()
    assert pl.attrs["objective"] == "quantile" and pl.attrs["q"] == 0.8


def test_mean_plan_agrees_with_fit_optimal(sim_fit):
    pl = P.plan(sim_fit, CHINCHILLA_C)
    opt = sim_fit.optimal(CHINCHILLA_C)
    median = float(opt.params.median(("chain", "draw"))[0])
    assert float(pl.params[0]) == pytest.approx(median, rel=0.01)
    assert float(pl.ratio[0]) == pytest.approx(float(opt.ratio.median(("chain", "draw"))[0]), rel=0.02)
    assert pl.loss.sizes["chain"] == 2 and pl.loss.sizes["draw"] == 500


@pytest.mark.parametrize("objective", ["quantile", "cvar"])
def test_risk_plans_have_closed_form_when_only_a_varies(objective):
    """L_i(N) = c0(N) + A_i·c1(N) with c1 > 0: the quantile / CVaR of L over draws is the law at
    the quantile / CVaR of A, so each plan is the Chinchilla optimum at that A."""
    nat, a = only_a_varies()
    samp = posterior(nat, n=a.size)
    c = [1e21, CHINCHILLA_C]
    mean = P.plan_from_draws(P.Draws(CHIN, samp, PIV), c, objective="mean")
    risky = P.plan_from_draws(P.Draws(CHIN, samp, PIV), c, objective=objective, q=0.9)
    tail = np.sort(a)[-100:].mean()  # q·n = 900 exactly: the CVaR is the mean of the worst 100 draws
    a_risk = np.quantile(a, 0.9) if objective == "quantile" else tail
    b, al, be = SYMMETRIC["B"], SYMMETRIC["alpha"], SYMMETRIC["beta"]
    np.testing.assert_allclose(mean.params, n_star(a.mean(), b, al, be, c), rtol=1e-6)
    np.testing.assert_allclose(risky.params, n_star(a_risk, b, al, be, c), rtol=1e-6)
    # hedging against a large parameter term means a bigger model, and a higher risk level
    assert (risky.params > 1.2 * mean.params).all()
    assert (risky.objective > mean.objective).all()


def test_risk_plans_differ_sensibly_on_a_general_posterior():
    rng = np.random.default_rng(2)
    n = 600
    nat = {"E": rng.uniform(1.7, 1.9, n), "A": np.exp(rng.normal(6.2, 0.3, n)), "B": np.exp(rng.normal(7.5, 0.6, n)),
           "alpha": rng.uniform(0.33, 0.37, n), "beta": rng.uniform(0.34, 0.40, n)}
    samp = posterior(nat, n=n, chains=2)
    plans = {o: P.plan_from_draws(P.Draws(CHIN, samp, PIV), CHINCHILLA_C, objective=o, q=0.9) for o in P.OBJECTIVES}

    def score(plan_ds, objective):
        return float(P.risk(plan_ds.loss, objective, 0.9)[0])

    for own in P.OBJECTIVES:  # each plan is the best under its own criterion
        for other in P.OBJECTIVES:
            assert score(plans[own], own) <= score(plans[other], own) + 1e-12
    assert score(plans["mean"], "mean") < score(plans["quantile"], "quantile") < score(plans["cvar"], "cvar")
    assert plans["quantile"].params[0] != pytest.approx(float(plans["mean"].params[0]), rel=1e-3)


def test_uncertain_data_term_shifts_risk_averse_plans_to_more_tokens():
    rng = np.random.default_rng(4)
    nat = dict(SYMMETRIC, B=np.exp(rng.normal(np.log(1600.0), 0.4, 1000)))
    samp = posterior(nat, n=1000)
    mean = P.plan_from_draws(P.Draws(CHIN, samp, PIV), CHINCHILLA_C)
    cv = P.plan_from_draws(P.Draws(CHIN, samp, PIV), CHINCHILLA_C, objective="cvar", q=0.9)
    assert float(cv.tokens[0]) > 1.2 * float(mean.tokens[0])


def test_sim_fit_risk_plans(sim_fit):
    pl = {o: P.plan(sim_fit, [1e21, CHINCHILLA_C], objective=o, n_grid=31) for o in P.OBJECTIVES}
    assert (pl["mean"].objective < pl["quantile"].objective).all()
    assert (pl["quantile"].objective < pl["cvar"].objective).all()
    for o in ("quantile", "cvar"):  # a tight posterior: risk-averse plans move N by a few percent at most
        np.testing.assert_allclose(pl[o].params, pl["mean"].params, rtol=0.15)


def test_constraints_bind():
    samp = posterior(EPOCH, n=2)
    free = P.plan_from_draws(P.Draws(CHIN, samp, PIV), CHINCHILLA_C)
    n0, d0 = float(free.params[0]), float(free.tokens[0])
    capped = P.plan_from_draws(P.Draws(CHIN, samp, PIV), CHINCHILLA_C, max_params=n0 / 2)
    assert float(capped.params[0]) == pytest.approx(n0 / 2, rel=1e-9)
    data = P.plan_from_draws(P.Draws(CHIN, samp, PIV), CHINCHILLA_C, max_tokens=d0 / 3)
    assert float(data.tokens[0]) == pytest.approx(d0 / 3, rel=1e-9)
    slack = P.plan_from_draws(P.Draws(CHIN, samp, PIV), CHINCHILLA_C, max_params=10 * n0, max_tokens=10 * d0)
    assert float(slack.params[0]) == pytest.approx(n0, rel=1e-6)
    fixed = P.plan_from_draws(P.Draws(CHIN, samp, PIV), [1e22, CHINCHILLA_C], params=[1e9, 7e10])
    np.testing.assert_allclose(fixed.params, [1e9, 7e10])
    np.testing.assert_allclose(fixed.tokens, np.array([1e22, CHINCHILLA_C]) / (K * np.array([1e9, 7e10])))
    assert fixed.attrs["fixed_params"] == 1
    assert float(fixed.objective[1]) > float(free.objective[0])
    assert float(fixed.objective[1]) == pytest.approx(chin_loss(EPOCH, 7e10, CHINCHILLA_C / (K * 7e10)), rel=1e-12)
    for ds in (capped, data):
        assert ds.objective[0] > free.objective[0]


def test_kaplan_plan_matches_numeric_optimum():
    nat = {"N_c": 6.4e13, "D_c": 1.8e13, "alpha_n": 0.076, "alpha_d": 0.103}
    law = get_law("kaplan")
    samp = posterior(nat, n=3, law="kaplan")
    c = [1e20, 1e23]
    pl = P.plan_from_draws(P.Draws(law, samp, PIV), c)
    p = nat["alpha_n"] / nat["alpha_d"]
    expected = (p * nat["N_c"] ** p * np.array(c) / (6 * nat["D_c"])) ** (1 / (p + 1))
    np.testing.assert_allclose(pl.params, expected, rtol=1e-6)


# ---------------------------------------------------------------------------------------------- target

def test_compute_for_target_degenerate_posterior_is_analytic():
    samp = posterior(SYMMETRIC, n=3)
    targets = [2.3, 2.0, 1.9]
    out = P.target_from_draws(P.Draws(CHIN, samp, PIV), targets, [0.5, 0.9])
    assert out.budget.dims == ("target", "prob")
    e, a, b, al = (SYMMETRIC[k] for k in ("E", "A", "B", "alpha"))
    expected = symmetric_compute(e, a, b, al, np.array(targets))
    for prob in (0.5, 0.9):
        np.testing.assert_allclose(out.budget.sel(prob=prob), expected, rtol=1e-6)
    np.testing.assert_allclose(out.loss_quantile, np.broadcast_to(np.array(targets)[:, None], (3, 2)), rtol=1e-9)
    np.testing.assert_allclose(out.params, n_star(a, b, al, al, out.budget), rtol=1e-5)


def test_compute_for_target_when_only_a_varies():
    """alpha = beta and only A varies: the prob-quantile plan is the optimum at A_q, so
    C(x, p) = k·(2·sqrt(A_q·B)/(x − E))^(2/alpha), A_q the p-quantile of A."""
    nat, a = only_a_varies(n=500)
    samp = posterior(nat, n=a.size)
    targets, probs = np.array([2.2, 2.0]), np.array([0.5, 0.8, 0.95])
    out = P.target_from_draws(P.Draws(CHIN, samp, PIV), targets, probs)
    e, b, al = SYMMETRIC["E"], SYMMETRIC["B"], SYMMETRIC["alpha"]
    expected = symmetric_compute(e, np.quantile(a, probs)[None, :], b, al, targets[:, None])
    np.testing.assert_allclose(out.budget.transpose("target", "prob"), expected, rtol=1e-6)
    c = out.budget.transpose("target", "prob").values
    assert np.all(np.diff(c, axis=1) > 0)  # more certainty costs more compute
    assert np.all(c[1] > c[0])  # a lower target costs more compute
    assert (out.prob_achieved >= out.prob - 1.0 / a.size).all()


def test_compute_for_target_respects_constraints():
    samp = posterior(SYMMETRIC, n=2)
    free = P.target_from_draws(P.Draws(CHIN, samp, PIV), 2.0, 0.5)
    n0 = float(free.params[0, 0])
    capped = P.target_from_draws(P.Draws(CHIN, samp, PIV), 2.0, 0.5, max_params=n0 / 2)
    assert float(capped.params[0, 0]) == pytest.approx(n0 / 2, rel=1e-6)
    assert float(capped.budget[0, 0]) > float(free.budget[0, 0])
    assert float(capped.loss_quantile[0, 0]) == pytest.approx(2.0, rel=1e-9)


def test_compute_for_target_on_sim_fit(sim_fit):
    out = P.compute_for_target(sim_fit, [2.0, 1.95], [0.5, 0.9])
    c = out.budget.transpose("target", "prob").values
    assert np.all(c[:, 1] > c[:, 0]) and np.all(c[1] > c[0])
    np.testing.assert_allclose(out.loss_quantile, [[2.0, 2.0], [1.95, 1.95]], rtol=1e-9)
    # the plan at the answer is the quantile plan of that budget
    pl = P.plan(sim_fit, float(out.budget.sel(target=2.0, prob=0.9)), objective="quantile", q=0.9, n_grid=31)
    assert float(pl.params[0]) == pytest.approx(float(out.params.sel(target=2.0, prob=0.9)), rel=1e-4)
    assert "smallest compute" in format_target(out)


# ---------------------------------------------------------------------------------------------- prob_below

def test_prob_below_matches_empirical_fraction(sim_fit):
    n, d, x = [1e9, 7e10], [2e10, 1.4e12], [1.9, 2.0, 2.1]
    out = P.prob_below(sim_fit, x, n, d)
    pred = sim_fit.predict(params=n, tokens=d)
    assert out.prob.dims == ("target", "point")
    for j, xj in enumerate(x):
        np.testing.assert_allclose(out.prob[j], (pred.loss_mean <= xj).mean(("chain", "draw")), atol=1e-12)
    noisy = P.prob_below(sim_fit, x, n, d, predictive=True)
    for j, xj in enumerate(x):  # the exact CDF average against 1000 simulated noisy runs
        np.testing.assert_allclose(noisy.prob[j], (pred.loss_pred <= xj).mean(("chain", "draw")), atol=0.05)
    np.testing.assert_allclose(out["compute"], K * np.array(n) * np.array(d))


def test_prob_below_hand_made_noise_is_exact():
    samp = posterior(EPOCH, n=4)
    mu = np.log(chin_loss(EPOCH, 1e9, 2e10))
    noise = {"sigma": xr.DataArray(np.full((1, 4), 0.02), dims=("chain", "draw"))}
    out = P.prob_below_from_draws(P.Draws(CHIN, samp, PIV, noise), np.exp(mu + 0.02), 1e9, 2e10, predictive=True)
    assert float(out.prob[0, 0]) == pytest.approx(0.8413447460685429, rel=1e-9)  # Phi(1)
    noise["nu"] = xr.DataArray(np.full((1, 4), 3.0), dims=("chain", "draw"))
    out = P.prob_below_from_draws(P.Draws(CHIN, samp, PIV, noise), np.exp(mu + 0.02), 1e9, 2e10, predictive=True)
    assert float(out.prob[0, 0]) == pytest.approx(0.8044988905221147, rel=1e-9)  # t_3 CDF at 1
    exact = P.prob_below_from_draws(P.Draws(CHIN, samp, PIV), [np.exp(mu) * 0.999, np.exp(mu) * 1.001], 1e9, 2e10)
    np.testing.assert_array_equal(exact.prob[:, 0], [0.0, 1.0])


# ---------------------------------------------------------------------------------------------- regret and VOI

def test_regret_of_the_plugin_plan():
    degenerate = P.regret_from_draws(P.Draws(CHIN, posterior(EPOCH, n=3), PIV), CHINCHILLA_C)
    assert float(degenerate.regret[0]) == pytest.approx(0.0, abs=1e-12)
    assert float(degenerate.params_ratio[0]) == pytest.approx(1.0, rel=1e-6)
    nat, a = only_a_varies()
    out = P.regret_from_draws(P.Draws(CHIN, posterior(nat, n=a.size), PIV), CHINCHILLA_C, objective="quantile", q=0.9)
    b, al = SYMMETRIC["B"], SYMMETRIC["alpha"]
    n_plugin = n_star(np.median(a), b, al, al, CHINCHILLA_C)
    assert float(out.params_plugin[0]) == pytest.approx(n_plugin, rel=1e-6)  # median of log A, even n
    assert float(out.params_bayes[0]) == pytest.approx(n_star(np.quantile(a, 0.9), b, al, al, CHINCHILLA_C), rel=1e-6)
    assert float(out.regret[0]) > 1e-4
    assert float(out.params_ratio[0]) < 1  # the plug-in under-sizes the model for the risk-averse criterion


def test_regret_and_value_of_information_on_sim_fit(sim_fit):
    r = P.regret(sim_fit, [1e21, CHINCHILLA_C])
    assert (r.regret >= -1e-12).all() and (r.regret < 1e-3).all()
    np.testing.assert_allclose(r.params_ratio, 1.0, rtol=0.05)
    v = P.value_of_information(sim_fit, CHINCHILLA_C, params=1e10, tokens=2e11, n_sim=100)
    assert (v.evsi >= 0).all() and (v.evsi_se >= 0).all()
    assert float(v.ess_min) > 100
    assert float(v.evsi[0]) < 1e-3  # one more run barely moves a flat optimum


def test_value_of_information_degenerate_posterior_is_zero():
    samp = posterior(EPOCH, n=50)
    noise = {"sigma": xr.DataArray(np.full((1, 50), 0.01), dims=("chain", "draw"))}
    v = P.voi_from_draws(P.Draws(CHIN, samp, PIV, noise), CHINCHILLA_C, 1e9, 2e10, n_sim=20)
    assert float(v.evsi[0]) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(QueryError, match="sigma"):
        P.voi_from_draws(P.Draws(CHIN, samp, PIV, {}), CHINCHILLA_C, 1e9, 2e10)


# ---------------------------------------------------------------------------------------------- groups

def grouped_posterior(n: int = 300) -> tuple[dict[str, xr.DataArray], list[float]]:
    rng = np.random.default_rng(5)
    nat = {k: v * np.exp(rng.normal(0, 0.03, n)) for k, v in EPOCH.items()}
    samp = posterior(nat, n=n, chains=2)
    alphas = [0.30, 0.40]
    shift = xr.DataArray(np.array(alphas) - EPOCH["alpha"], dims="domain", coords={"domain": ["web", "code"]})
    samp["alpha"] = samp["alpha"] + shift  # (chain, draw, domain); the other parameters are shared
    return samp, alphas


def test_group_dims_flow_through_every_query():
    samp, _ = grouped_posterior()
    c = [1e21, CHINCHILLA_C]
    pl = P.plan_from_draws(P.Draws(CHIN, samp, PIV), c, objective="cvar", n_grid=21)
    assert pl.params.dims == ("budget", "domain") and pl.loss.dims == ("chain", "draw", "budget", "domain")
    assert pl.loss_curve.dims == ("chain", "draw", "budget", "n_grid", "domain")
    tg_all = P.target_from_draws(P.Draws(CHIN, samp, PIV), 2.1, 0.9)
    for dom in ("web", "code"):
        single = {k: v.sel(domain=dom, drop=True) if "domain" in v.dims else v for k, v in samp.items()}
        one = P.plan_from_draws(P.Draws(CHIN, single, PIV), c, objective="cvar", n_grid=21)
        np.testing.assert_allclose(pl.params.sel(domain=dom), one.params, rtol=1e-6)
        np.testing.assert_allclose(pl.objective.sel(domain=dom), one.objective, rtol=1e-9)
        tg = P.target_from_draws(P.Draws(CHIN, single, PIV), 2.1, 0.9)
        np.testing.assert_allclose(tg_all.budget.sel(domain=dom), tg.budget, rtol=1e-6)
    assert tg_all.budget.dims == ("target", "prob", "domain")
    assert not np.isclose(float(pl.params[1, 0]), float(pl.params[1, 1]), rtol=0.05)
    pb = P.prob_below_from_draws(P.Draws(CHIN, samp, PIV), [2.0, 2.1], 1e10, 2e11)
    assert pb.prob.dims == ("target", "point", "domain")
    rg = P.regret_from_draws(P.Draws(CHIN, samp, PIV), c, n_grid=21)
    assert rg.regret.dims == ("budget", "domain") and (rg.regret >= -1e-12).all()
    text = format_plan(pl)
    assert len(text.splitlines()) == 2 + 4 and "domain" in text
    assert len(format_target(tg_all).splitlines()) == 2 + 2


# ---------------------------------------------------------------------------------------------- infeasible

SAMP = posterior(EPOCH, n=2)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: P.plan_from_draws(P.Draws(CHIN, SAMP, PIV), [1e21, -1.0]), "positive"),
    (lambda: P.plan_from_draws(P.Draws(CHIN, SAMP, PIV), []), "one or more"),
    (lambda: P.plan_from_draws(P.Draws(CHIN, SAMP, PIV), 3.0), "too small"),
    (lambda: P.plan_from_draws(P.Draws(CHIN, SAMP, PIV), 1e21, objective="median"), "unknown objective"),
    (lambda: P.plan_from_draws(P.Draws(CHIN, SAMP, PIV), 1e21, objective="quantile", q=1.0), "between 0 and 1"),
    (lambda: P.plan_from_draws(P.Draws(CHIN, SAMP, PIV), 1e24, max_params=1e9, max_tokens=1e12), "cannot be spent"),
    (lambda: P.plan_from_draws(P.Draws(CHIN, SAMP, PIV), 1e21, max_params=0.5), "at least 1"),
    (lambda: P.plan_from_draws(P.Draws(CHIN, SAMP, PIV), 1e21, max_tokens=-5), "positive"),
    (lambda: P.plan_from_draws(P.Draws(CHIN, SAMP, PIV), 1e21, params=1e10, max_params=1e9), "exceeds max_params"),
    (lambda: P.plan_from_draws(P.Draws(CHIN, SAMP, PIV), 1e21, params=1e6, max_tokens=1e12), "max_tokens"),
    (lambda: P.plan_from_draws(P.Draws(CHIN, SAMP, PIV), 1e21, params=1e21), "cannot be trained"),
    (lambda: P.plan_from_draws(P.Draws(CHIN, SAMP, PIV), [1e21, 1e22], params=[1e9, 1e9, 1e9]), "one per budget"),
    (lambda: P.target_from_draws(P.Draws(CHIN, SAMP, PIV), 1.8, 0.9), "irreducible"),
    (lambda: P.target_from_draws(P.Draws(CHIN, SAMP, PIV), 2.0, 1.2), "between 0 and 1"),
    (lambda: P.target_from_draws(P.Draws(CHIN, SAMP, PIV), 2.0, [0.5, 0.0]), "between 0 and 1"),
    (lambda: P.target_from_draws(P.Draws(CHIN, SAMP, PIV), 0.0, 0.5), "positive"),
    (lambda: P.target_from_draws(P.Draws(CHIN, SAMP, PIV), 1.9, 0.5, max_params=1e8, max_tokens=1e10), "within max_params"),
    (lambda: P.target_from_draws(P.Draws(CHIN, SAMP, PIV), 1.9, 0.5, max_compute=1e20), "not reached by any budget up to max_compute"),
    (lambda: P.prob_below_from_draws(P.Draws(CHIN, SAMP, PIV), 2.0, [1e9, 2e9], [1e10, 2e10, 3e10]), "same length"),
])
def test_infeasible_requests_raise(call, message):
    with pytest.raises(QueryError, match=message):
        call()


def test_irreducible_loss_message_gives_the_probability():
    """E uniform on [1.7, 1.9]: P(E < 1.8) is about one half, so 1.8 is out of reach at 0.9 but not at 0.4."""
    rng = np.random.default_rng(6)
    samp = posterior(dict(SYMMETRIC, E=rng.uniform(1.7, 1.9, 400)), n=400)
    with pytest.raises(QueryError, match=r"irreducible loss .* below 1\.8 in only (4[5-9]|5[0-5])\.\d% of draws"):
        P.target_from_draws(P.Draws(CHIN, samp, PIV), 1.8, 0.9)
    out = P.target_from_draws(P.Draws(CHIN, samp, PIV), 1.8, 0.4)
    assert np.isfinite(out.budget).all() and float(out.prob_achieved[0, 0]) >= 0.4 - 1 / 400


def test_compute_only_law_has_nothing_to_plan():
    law = get_law("compute")
    samp = posterior({"E": 1.7, "C0": 1e8, "alpha": 0.05}, law="compute")
    for call in (lambda: P.plan_from_draws(P.Draws(law, samp, {"compute": 0}), 1e21),
                 lambda: P.target_from_draws(P.Draws(law, samp, {"compute": 0}), 2.0),
                 lambda: P.prob_below_from_draws(P.Draws(law, samp, {"compute": 0}), 2.0, 1e9, 1e10)):
        with pytest.raises(QueryError, match="no N/D"):
            call()


def test_format_plan_one_line_per_budget(sim_fit):
    pl = P.plan(sim_fit, [1e21, CHINCHILLA_C, 1e25], objective="quantile", q=0.9, max_params=1e11, n_grid=21)
    lines = format_plan(pl).splitlines()
    assert len(lines) == 2 + 3
    assert "quantile_0.9(L)" in lines[0] and "max_params=1e+11" in lines[0]
    assert float(pl.params[2]) == pytest.approx(1e11)



def test_quantile_by_selection_equals_the_sorted_order_statistics():
    """One level for every element is answered by np.partition; the values equal the sort's, to the bit."""
    from bayes_scaling.decisions import risk

    x = np.random.default_rng(3).normal(size=(3, 4, 2, 250))
    for level in (0.0, 0.05, 0.5, 0.9, 0.999, 1.0):
        mixed = np.array([level, level, level, 0.5 if level != 0.5 else 0.6])  # several levels: sorted
        by_sort = risk.np_quantile(x, mixed)
        np.testing.assert_array_equal(risk.np_quantile(x, level)[:, :3], by_sort[:, :3])
        np.testing.assert_array_equal(risk.np_quantile(x, np.full(4, level))[:, :3], by_sort[:, :3])
        np.testing.assert_allclose(risk.np_quantile(x, level), np.quantile(x.reshape(3, 4, -1), level, axis=-1),
                                   rtol=1e-14)
    assert risk.np_quantile(x, np.full((5, 1, 1), 0.9)).shape == (5, 3, 4)
