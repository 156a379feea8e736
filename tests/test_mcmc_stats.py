"""R-hat and ESS in numpy equal arviz_stats' on every kind of chain a fit can produce."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from arviz_stats import ess as az_ess
from arviz_stats import rhat as az_rhat

from bayes_scaling.mcmc_stats import ess_bulk, ess_tail, per_element, rhat


def _ar1(rng: np.random.Generator, chains: int, draws: int, phi: float, shift: np.ndarray | None = None) -> np.ndarray:
    x = np.zeros((chains, draws))
    noise = rng.normal(size=(chains, draws))
    for t in range(1, draws):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    return x + (0 if shift is None else shift[:, None])


def _chains() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    heavy = rng.standard_t(1.5, size=(4, 1000))
    return {
        "independent": rng.normal(size=(4, 1000)),
        "sticky": _ar1(rng, 4, 1000, 0.95),
        "stuck apart": _ar1(rng, 4, 400, 0.5, shift=np.array([0.0, 0.0, 3.0, 3.0])),
        "heavy tails": heavy,
        "odd draws": rng.normal(size=(3, 501)),
        "ties": rng.integers(0, 4, size=(4, 300)).astype(float),
        "constant": np.full((4, 100), 2.5),
        "two chains": rng.exponential(size=(2, 50)),
        "one chain": rng.normal(size=(1, 200)),
        "too short": rng.normal(size=(4, 3)),
        "nan": np.where(np.arange(400).reshape(4, 100) == 17, np.nan, 1.0) * rng.normal(size=(4, 100)),
    }


def _reference(ary: np.ndarray) -> tuple[float, float, float]:
    da = xr.Dataset({"x": (("chain", "draw"), ary)})
    return (float(az_rhat(da)["x"]), float(az_ess(da, method="bulk")["x"]), float(az_ess(da, method="tail")["x"]))


@pytest.mark.parametrize("name", list(_chains()))
def test_equal_to_arviz_stats(name):
    ary = _chains()[name]
    with np.errstate(all="ignore"):
        ref = _reference(ary)
    ours = (rhat(ary), ess_bulk(ary), ess_tail(ary))
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=0, equal_nan=True)


def test_the_checks_see_what_they_must():
    chains = _chains()
    assert rhat(chains["independent"]) < 1.01
    assert rhat(chains["stuck apart"]) > 1.5
    assert ess_bulk(chains["sticky"]) < 0.1 * ess_bulk(chains["independent"])
    assert np.isnan(rhat(chains["one chain"]))
    assert ess_bulk(chains["one chain"]) > 50


def test_per_element_keeps_the_other_dims():
    rng = np.random.default_rng(3)
    da = xr.DataArray(rng.normal(size=(2, 200, 3)), dims=("chain", "draw", "task"), coords={"task": ["a", "b", "c"]})
    out = per_element(ess_bulk, da)
    assert out.dims == ("task",) and list(out["task"].values) == ["a", "b", "c"]
    ref = az_ess(da.to_dataset(name="x"), method="bulk")["x"]
    np.testing.assert_allclose(out.values, ref.transpose("task").values, rtol=1e-9)
