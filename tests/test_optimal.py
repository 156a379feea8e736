"""Compute-optimal allocation on hand-made posteriors with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from bayes_scaling.errors import QueryError
from bayes_scaling.laws import get_law
from bayes_scaling.laws.allocation import optimal_allocation

CHINCHILLA_C = 5.88e23
# REFERENCE_RESULTS.md §1: closed-form D*/N* at 5.88e23 FLOPs for three published parameter sets.
PUBLISHED = {
    "hoffmann_rounded": ({"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}, 92.83),
    "hoffmann_unrounded": ({"E": np.exp(0.5267228), "A": np.exp(6.0073404), "B": np.exp(6.0179186),
                            "alpha": 0.33917084, "beta": 0.2849083}, 59.04),
    "epoch": ({"E": 1.81686, "A": 482.00572, "B": 2085.43420, "alpha": 0.34781, "beta": 0.36585}, 18.33),
}


def posterior(law_name: str, natural_draws: dict[str, np.ndarray]) -> dict[str, xr.DataArray]:
    """Sampled parameters at zero pivots, dims (chain, draw)."""
    law = get_law(law_name)
    sampled = law.sampled_from_natural({k: np.asarray(v, float) for k, v in natural_draws.items()})
    return {k: xr.DataArray(np.broadcast_to(v, (1, np.size(v))).copy(), dims=("chain", "draw")) for k, v in sampled.items()}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_ratios_at_chinchilla_compute(name):
    params, ratio = PUBLISHED[name]
    out = optimal_allocation(get_law("chinchilla"), posterior("chinchilla", params), {"params": 0, "tokens": 0}, CHINCHILLA_C)
    assert float(out.ratio.squeeze()) == pytest.approx(ratio, abs=0.01)
    assert float((6 * out.params * out.tokens).squeeze()) == pytest.approx(CHINCHILLA_C, rel=1e-12)


def test_closed_form_and_numeric_optimiser_agree_for_chinchilla():
    rng = np.random.default_rng(3)
    draws = {"E": rng.uniform(1.5, 2, 50), "A": rng.uniform(100, 3000, 50), "B": rng.uniform(100, 3000, 50),
             "alpha": rng.uniform(0.2, 0.5, 50), "beta": rng.uniform(0.2, 0.5, 50)}
    law, piv, c = get_law("chinchilla"), {"params": 0, "tokens": 0}, [1e19, 5.88e23, 1e27]
    closed = optimal_allocation(law, posterior("chinchilla", draws), piv, c, method="closed")
    numeric = optimal_allocation(law, posterior("chinchilla", draws), piv, c, method="numeric")
    np.testing.assert_allclose(numeric.params, closed.params, rtol=1e-5)  # flat optimum: N to 1e-5, L to 1e-12
    np.testing.assert_allclose(numeric.loss, closed.loss, rtol=1e-12)
    assert closed.ratio.dims == ("chain", "draw", "compute")


def test_numeric_optimiser_matches_kaplan_first_order_condition():
    """For Kaplan's law, d/dN [(N_c/N)^p + 6 D_c N / C] = 0 gives N^(p+1) = p N_c^p C / (6 D_c)."""
    nat = {"N_c": 6.4e13, "D_c": 1.8e13, "alpha_n": 0.076, "alpha_d": 0.103}
    c = np.array([1e20, 1e23, 1e26])
    out = optimal_allocation(get_law("kaplan"), posterior("kaplan", nat), {"params": 0, "tokens": 0}, c)
    p = nat["alpha_n"] / nat["alpha_d"]
    expected = (p * nat["N_c"] ** p * c / (6 * nat["D_c"])) ** (1 / (p + 1))
    np.testing.assert_allclose(out.params.squeeze(), expected, rtol=1e-7)


def test_compute_law_has_no_allocation():
    with pytest.raises(QueryError, match="no N/D"):
        optimal_allocation(get_law("compute"), posterior("compute", {"E": 1.7, "C0": 1e8, "alpha": 0.05}),
                           {"compute": 0}, 1e21)


@pytest.mark.parametrize("bad", [[], [-1.0], [np.nan], 0.0])
def test_bad_budgets(bad):
    with pytest.raises(QueryError, match="compute budgets|one or more"):
        optimal_allocation(get_law("chinchilla"), posterior("chinchilla", PUBLISHED["epoch"][0]),
                           {"params": 0, "tokens": 0}, bad)
