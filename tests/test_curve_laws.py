"""Learning-curve laws (saturating, M4): formulas, the M4 solver, PyTensor gradients and recovery."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest

import bayes_scaling as bs
from bayes_scaling.laws import get_law
from bayes_scaling.laws.m4 import m4_log_t, m4_solve
from bayes_scaling.spec import LAW_PRIORS

SEED = 20240417
LOG_X = np.log(np.geomspace(1e2, 1e7, 23))
NATURAL = {
    "saturating": {"E": 0.12, "A": 3.5, "x0": 250.0, "alpha": 0.45},
    "m4": {"E": 0.05, "eps0": 0.9, "beta": 32.5, "alpha": 0.5, "shape": 1.3},
}
# sampled parameters at a pivot inside the data, as the model sees them
SAMPLED = {
    "saturating": {"log_l0": -0.8, "logit_f": -0.9, "alpha": 0.45, "log_x0": -2.5},
    "m4": {"log_e": -2.5, "log_gap": -0.2, "log_b0": -1.0, "alpha": 0.5, "shape": 1.3},
}
PIVOT = {"tokens": float(np.mean(LOG_X))}


def direct_saturating(n, x):
    return n["E"] + n["A"] * (x + n["x0"]) ** -n["alpha"]


def m4_residual(eps, n, x):
    """(eps - E)/(eps0 - eps)^shape / (beta·x^-alpha) - 1: zero on the M4 curve."""
    return (eps - n["E"]) / (n["eps0"] - eps) ** n["shape"] / (n["beta"] * x ** -n["alpha"]) - 1.0


# -- registry and specs ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["saturating", "m4"])
def test_registered_as_single_axis_laws_with_shared_specs(name):
    law = get_law(name)
    assert law.inputs == ("tokens",) and not law.has_allocation
    assert set(LAW_PRIORS[name]) == set(law.sampled)
    spec = bs.load_spec(name)
    assert spec.law == name and set(spec.pooling.values()) == {"shared"}
    assert {k: spec.priors[k] for k in law.sampled} == LAW_PRIORS[name]


# -- saturating --------------------------------------------------------------------------------------


def test_saturating_numpy_matches_the_formula():
    law = get_law("saturating")
    n = NATURAL["saturating"]
    got = np.exp(law.log_loss(law.sampled_from_natural(n), {"tokens": LOG_X}, {"tokens": 0.0}))
    np.testing.assert_allclose(got, direct_saturating(n, np.exp(LOG_X)), rtol=1e-12)
    # at a pivot: the natural parameters of the sampled ones give the same curve
    p = SAMPLED["saturating"]
    nat = law.natural(p, PIVOT)
    got = np.exp(law.log_loss(p, {"tokens": LOG_X}, PIVOT))
    np.testing.assert_allclose(got, direct_saturating(nat, np.exp(LOG_X)), rtol=1e-12)


def test_saturating_with_no_shift_is_a_plain_power_law():
    law = get_law("saturating")
    n = {**NATURAL["saturating"], "x0": 0.0}
    got = np.exp(law.log_loss(law.sampled_from_natural(n), {"tokens": LOG_X}, {"tokens": 0.0}))
    np.testing.assert_allclose(got, n["E"] + n["A"] * np.exp(LOG_X) ** -n["alpha"], rtol=1e-12)


# -- M4 solver ---------------------------------------------------------------------------------------

SHAPES = [0.0, 0.5, 3.0]
GAPS = [1e-3, 0.1, 1.0, 10.0]
LOG_K = np.log(np.geomspace(1e-8, 1e8, 49))


def test_m4_satisfies_the_implicit_equation():
    law = get_law("m4")
    for shape in (0.3, 1.0, 2.5):
        n = {**NATURAL["m4"], "shape": shape}
        eps = np.exp(law.log_loss(law.sampled_from_natural(n), {"tokens": LOG_X}, {"tokens": 0.0}))
        assert np.all((eps > n["E"]) & (eps < n["eps0"]))
        assert np.abs(m4_residual(eps, n, np.exp(LOG_X))).max() < 1e-10


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("gap", GAPS)
def test_m4_solver_is_accurate_and_finite_at_extremes(shape, gap):
    """t = K(gap - t)^shape in log form, log t - log K - shape·log(gap - t) = 0 (a relative error)."""
    log_t, log_r = m4_solve(np, LOG_K, np.log(gap), shape)
    assert np.all(np.isfinite(log_t)) and np.all(np.isfinite(log_r))
    if shape > 0:
        np.testing.assert_allclose(log_t - LOG_K - shape * log_r, 0.0, atol=1e-10)
        np.testing.assert_allclose(np.exp(log_t) + np.exp(log_r), gap, rtol=1e-12)  # t + (gap - t) = gap
        assert np.all(log_t <= np.log(gap)) and np.all(log_r < np.log(gap))  # t may round to gap
    mean = get_law("m4").log_mean(np, {"tokens": LOG_K}, {"log_e": np.log(0.01), "log_gap": np.log(gap),
                                                          "log_b0": 0.0, "alpha": -1.0, "shape": shape})
    assert np.all(np.isfinite(mean))


def test_m4_solver_is_accurate_for_random_parameters():
    rng = np.random.default_rng(SEED)
    log_k, log_gap = rng.uniform(-40, 40, 4000), rng.uniform(-8, 3, 4000)
    shape = np.exp(rng.uniform(-30, 3, 4000))
    log_t, log_r = m4_solve(np, log_k, log_gap, shape)
    scale = 1.0 + np.abs(log_k) + np.abs(log_gap)  # the rounding of the inputs themselves
    assert (np.abs(log_t - log_k - shape * log_r) / scale).max() < 1e-13
    assert np.all(np.isfinite(log_t)) and np.all(np.isfinite(log_r))


def test_m4_shape_zero_is_m2():
    """shape = 0: eps = E + K exactly, even where K exceeds the gap (M2 has no upper bound)."""
    law = get_law("m4")
    n = {**NATURAL["m4"], "shape": 0.0}
    x = np.exp(LOG_X)
    eps = np.exp(law.log_loss(law.sampled_from_natural(n), {"tokens": LOG_X}, {"tokens": 0.0}))
    m2 = n["E"] + n["beta"] * x ** -n["alpha"]
    assert m2.max() > n["eps0"]  # the design reaches past eps0 ...
    np.testing.assert_allclose(eps, m2, rtol=1e-13)  # ... and shape = 0 still follows M2
    np.testing.assert_array_equal(m4_log_t(np, LOG_K, 0.0, 0.0), LOG_K)


def test_m4_is_continuous_as_shape_goes_to_zero_below_the_gap():
    log_k = np.log(np.geomspace(1e-6, 0.5, 9))  # K < gap = 1: M4 -> M2 as shape -> 0
    np.testing.assert_allclose(m4_log_t(np, log_k, 0.0, 1e-9), log_k, atol=1e-8)


# -- PyTensor ----------------------------------------------------------------------------------------


def _symbolic(name):
    law = get_law(name)
    sym = {k: pt.dscalar(k) for k in law.sampled}
    x = pt.dvector("x")
    out = law.log_mean(pt, {"tokens": x}, sym)
    grads = pytensor.grad(out.sum(), [sym[k] for k in law.sampled])
    return pytensor.function([x, *(sym[k] for k in law.sampled)], [out, *grads])


@pytest.fixture(scope="module")
def compiled():
    return {name: _symbolic(name) for name in ("saturating", "m4")}


CASES = [
    ("saturating", SAMPLED["saturating"]),
    ("m4", SAMPLED["m4"]),
    ("m4", {**SAMPLED["m4"], "shape": 0.5, "log_b0": 3.0}),  # curve pressed against eps0
    ("m4", {**SAMPLED["m4"], "shape": 3.0, "log_gap": 2.0}),
    ("m4", {**SAMPLED["m4"], "shape": 1e-4}),
]


@pytest.mark.parametrize(("name", "p"), CASES)
def test_pytensor_matches_numpy_and_gradients_match_finite_differences(compiled, name, p):
    law = get_law(name)
    x = LOG_X - PIVOT["tokens"]
    out, *grads = compiled[name](x, *(p[k] for k in law.sampled))
    np.testing.assert_allclose(out, law.log_mean(np, {"tokens": x}, p), rtol=1e-12, atol=1e-13)
    step = 1e-6
    for key, grad in zip(law.sampled, grads):
        up, down = dict(p), dict(p)
        up[key] += step
        down[key] -= step
        fd = (law.log_mean(np, {"tokens": x}, up).sum() - law.log_mean(np, {"tokens": x}, down).sum()) / (2 * step)
        np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-7, err_msg=f"{name}: d/d{key}")


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("gap", GAPS)
def test_pytensor_gradients_are_finite_at_extremes(compiled, shape, gap):
    p = {"log_e": np.log(0.01), "log_gap": np.log(gap), "log_b0": 0.0, "alpha": -1.0, "shape": shape}
    law = get_law("m4")
    out, *grads = compiled["m4"](LOG_K, *(p[k] for k in law.sampled))
    assert np.all(np.isfinite(out)) and all(np.isfinite(g) for g in grads)
    np.testing.assert_allclose(out, law.log_mean(np, {"tokens": LOG_K}, p), rtol=1e-12, atol=1e-13)


# -- natural parameters ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["saturating", "m4"])
def test_natural_round_trip(name):
    law = get_law(name)
    n = NATURAL[name]
    zero = law.sampled_from_natural(n)
    back = law.natural(zero, {"tokens": 0.0})
    for key in law.natural_names:
        np.testing.assert_allclose(back[key], n[key], rtol=1e-12)
    # sampled at a pivot -> natural -> sampled at zero pivot: the same curve
    p = SAMPLED[name]
    zero = law.sampled_from_natural(law.natural(p, PIVOT))
    np.testing.assert_allclose(law.log_loss(zero, {"tokens": LOG_X}, {"tokens": 0.0}),
                               law.log_loss(p, {"tokens": LOG_X}, PIVOT), rtol=1e-11)


# -- PyMC recovery -----------------------------------------------------------------------------------


def _recovery_model(name, truth, sigma=0.02, n_points=40):
    law = get_law(name)
    log_x = np.log(np.geomspace(1e2, 1e6, n_points))
    mu = law.log_loss(law.sampled_from_natural(truth), {"tokens": log_x}, {"tokens": 0.0})
    y = mu + sigma * np.random.default_rng(SEED).standard_normal(n_points)
    pivot = float(np.mean(log_x))
    with pm.Model() as model:
        x = pm.Data("x_tokens", log_x - pivot)
        p = {k: LAW_PRIORS[name][k].to_pymc(k) for k in law.sampled}
        s = pm.HalfNormal("sigma", 0.1)
        pm.Normal("log_loss", mu=law.log_mean(pt, {"tokens": x}, p), sigma=s, observed=y)
    return model


def _map(model):
    with model:
        est = pm.find_MAP(progressbar=False, random_seed=SEED, jitter=False, return_inferencedata=True)
    assert bool(est["optimizer_result"]["success"])
    return {k: float(v.values.squeeze()) for k, v in est["posterior"].data_vars.items()}


@pytest.mark.parametrize("name", ["saturating", "m4"])
def test_map_recovers_alpha(name):
    """The law compiles inside a PyMC model with its default priors and recovers the exponent.

    (find_MAP keeps this to seconds; NUTS on the same M4 problem — nutpie, 1 chain, 200 + 200 — gave
    alpha 0.48 ± 0.04 and shape 1.26 ± 0.48 against 0.5 and 1.3, with no divergences, but its numba
    compilation alone takes ~15 s.)
    """
    truth = NATURAL[name]
    est = _map(_recovery_model(name, truth))
    assert np.isfinite(list(est.values())).all()
    assert abs(est["alpha"] - truth["alpha"]) < 0.15
