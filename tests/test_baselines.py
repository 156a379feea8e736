"""The Huber/L-BFGS point-fit baseline of Hoffmann et al. and Epoch (bayes_scaling.validation.baselines.huber)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.validation.baselines import huber as bl
from bayes_scaling.validation.simulate import (
    EPOCH_PARAMS,
    isoflop_design,
    simulate_runs,
)

#: Epoch's grid-search fit on the 240 runs (REFERENCE_RESULTS.md §1b, notebook cell 18).
EPOCH_GRID_FIT = {"A": 477.842, "B": 2143.864, "E": 1.81724, "alpha": 0.34731, "beta": 0.36718}
EPOCH_GRID_OBJECTIVE = 0.0010182740
FEW_STARTS = np.array([[6.0, 7.0, 0.5, 0.3, 0.3], [0, 10, 0, 0.5, 0.5], [10, 10, 0, 0.5, 0.5]])


def _simulated(seed: int = 0, sigma: float = 0.005, per_budget: int = 24, nu: float | None = 4.0) -> bs.Runs:
    frame = simulate_runs(isoflop_design(per_budget=per_budget), sigma=sigma, nu=nu, seed=seed)
    return bs.read_runs(frame[["params", "tokens", "loss"]])


@pytest.fixture(scope="module")
def simulated() -> bs.Runs:
    return _simulated()


def test_coarse_grid_reproduces_epoch_grid_fit(epoch_runs: bs.Runs) -> None:
    assert len(epoch_runs) == 240
    fit = bl.huber_fit(epoch_runs, starts="coarse")
    assert fit.n_starts == 108 and fit.converged and fit.n_converged >= 100
    for name, value in EPOCH_GRID_FIT.items():
        assert fit.natural[name] == pytest.approx(value, rel=0.01), name
    # The optimum itself is pinned much tighter than the parameters along its ridge.
    assert fit.objective == pytest.approx(EPOCH_GRID_OBJECTIVE, rel=1e-6)
    # D*/N* at Chinchilla's compute from Epoch's grid-fit parameters is 17.91 (their MLE fit gives 18.33).
    assert bl.optimal_ratio(fit.A, fit.B, fit.alpha, fit.beta, 5.88e23) == pytest.approx(17.91, rel=0.01)


def test_noise_free_simulation_is_recovered_exactly() -> None:
    runs = _simulated(sigma=1e-8, per_budget=12, nu=None)
    fit = bl.huber_fit(runs, starts=FEW_STARTS)
    for name, value in EPOCH_PARAMS.items():
        assert fit.natural[name] == pytest.approx(value, rel=1e-4), name


def test_noisy_simulation_is_recovered_within_sampling_error(simulated: bs.Runs) -> None:
    # 216 runs, Student-t(4) noise of scale 0.005 on log loss. Over 20 seeds the sampling sd of the
    # estimates was: E 0.017, log A 0.13, log B 0.18, alpha 0.008, beta 0.009, a 0.005; the tolerances
    # below are about 4 sd (the largest error over those seeds was about 2.5 sd).
    fit = bl.huber_fit(simulated, starts="coarse")
    true = EPOCH_PARAMS
    assert fit.converged
    assert fit.E == pytest.approx(true["E"], abs=0.07)
    assert np.log(fit.A) == pytest.approx(np.log(true["A"]), abs=0.6)
    assert np.log(fit.B) == pytest.approx(np.log(true["B"]), abs=0.7)
    assert fit.alpha == pytest.approx(true["alpha"], abs=0.03)
    assert fit.beta == pytest.approx(true["beta"], abs=0.035)
    a_true = true["beta"] / (true["alpha"] + true["beta"])
    assert fit.beta / (fit.alpha + fit.beta) == pytest.approx(a_true, abs=0.02)


def test_small_bootstrap_columns_reproducibility_and_spread(simulated: bs.Runs) -> None:
    fit = bl.huber_fit(simulated, starts=FEW_STARTS)
    first = bl.bootstrap(simulated, n_resamples=20, seed=3, fit=fit, compute=[5.88e23, 1e26])
    again = bl.bootstrap(simulated, n_resamples=20, seed=3, fit=fit, compute=[5.88e23, 1e26])
    other = bl.bootstrap(simulated, n_resamples=20, seed=4, fit=fit)
    expected = ["E", "A", "B", "alpha", "beta", "a", "objective", "converged", "n_converged",
                "ratio_5.88e+23", "ratio_1e+26"]
    assert list(first.columns) == expected and len(first) == 20
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["alpha"], other["alpha"])
    assert first["converged"].all()
    assert first["alpha"].std() > 0 and first["beta"].std() > 0
    np.testing.assert_allclose(first["a"], first["beta"] / (first["alpha"] + first["beta"]))
    assert np.all(first["ratio_5.88e+23"] > 0)


def test_bootstrap_with_explicit_starts(simulated: bs.Runs) -> None:
    table = bl.bootstrap(simulated, n_resamples=3, seed=0, starts=FEW_STARTS)
    assert len(table) == 3 and table["n_converged"].max() <= len(FEW_STARTS)
    with pytest.raises(bs.InputError):
        bl.bootstrap(simulated, n_resamples=2, starts=np.zeros((2, 4)))
    with pytest.raises(bs.InputError):
        bl.huber_fit(simulated, starts="nonsense")


@pytest.mark.parametrize("theta", [[6.0, 7.6, 0.6, 0.34, 0.36], [6.17, 7.67, 0.597, 0.3473, 0.3672],
                                   [25.0, 0.0, 1.0, 1.5, 0.0], [0.0, 20.0, -1.0, 0.0, 2.0]])
def test_analytic_gradient_matches_finite_differences(simulated: bs.Runs, theta: list[float]) -> None:
    logs = [np.log(simulated.column(c)) for c in ("params", "tokens", "loss")]
    theta_arr = np.array(theta)
    value, grad = bl.huber_objective(theta_arr, *logs)
    h = 1e-6
    numeric = np.array([(bl.huber_objective(theta_arr + h * e, *logs)[0]
                         - bl.huber_objective(theta_arr - h * e, *logs)[0]) / (2 * h) for e in np.eye(5)])
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8 * max(1.0, np.abs(grad).max()))
    # The value is the plain sum of Huber terms (not the mean), as in Epoch's scipy.special.huber.
    r = np.logaddexp(np.logaddexp(theta[0] - theta[3] * logs[0], theta[1] - theta[4] * logs[1]), theta[2]) - logs[2]
    huber = np.where(np.abs(r) <= bl.DELTA, 0.5 * r**2, bl.DELTA * (np.abs(r) - 0.5 * bl.DELTA))
    assert value == pytest.approx(huber.sum(), rel=1e-12)


def test_optimal_ratio_matches_a_numeric_search() -> None:
    p = EPOCH_PARAMS
    compute = 5.88e23
    log_n = np.linspace(np.log(1e8), np.log(1e12), 200_001)
    n = np.exp(log_n)
    loss = p["E"] + p["A"] * n ** -p["alpha"] + p["B"] * (compute / (6 * n)) ** -p["beta"]
    n_star = n[np.argmin(loss)]
    expected = compute / (6 * n_star) / n_star
    assert bl.optimal_ratio(p["A"], p["B"], p["alpha"], p["beta"], compute) == pytest.approx(expected, rel=1e-3)
