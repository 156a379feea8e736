"""The replication target of the foundation: Epoch's 240 Chinchilla runs, 4 chains x 1000 draws."""

from __future__ import annotations

import pytest
from conftest import SEED

import bayes_scaling as bs

# Epoch AI's 95% bootstrap intervals (REFERENCE_RESULTS.md §1b)
EPOCH_95 = {"E": (1.769, 1.871), "alpha": (0.317, 0.373), "beta": (0.331, 0.415)}


@pytest.mark.slow
def test_epoch_chinchilla_posterior(epoch_runs):
    fit = bs.fit(epoch_runs, "chinchilla", draws=1000, tune=1000, chains=4, seed=SEED)
    d = fit.diagnostics
    assert d.divergences == 0 and d.max_rhat <= 1.01
    summary = fit.summary()
    assert (summary["r_hat"] <= 1.01).all()
    assert (summary["ess_bulk"] >= 1000).all(), summary["ess_bulk"]
    for name, (lo, hi) in EPOCH_95.items():
        assert lo <= summary.loc[name, "median"] <= hi, (name, summary.loc[name, "median"])
    ratio = bs.interval_table(fit.optimal(5.88e23).ratio, prob=0.8).iloc[0]
    print(f"\nD*/N* at 5.88e23 FLOPs: median {ratio['median']:.1f}, 80% interval [{ratio['lower']:.1f}, {ratio['upper']:.1f}]")
    assert 14 <= ratio["median"] <= 24
    assert ratio["lower"] < ratio["median"] < ratio["upper"]
