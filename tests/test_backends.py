"""Backend selection: unknown or uninstalled backends get a clear error naming the extra."""

from __future__ import annotations

import importlib.util

import pytest

import bayes_scaling as bs
from bayes_scaling.inference import check_backend


def test_unknown_backend(sim_runs):
    with pytest.raises(bs.BackendError, match="unknown backend 'stan'"):
        bs.fit(sim_runs, backend="stan", draws=10, tune=10)


@pytest.mark.parametrize("backend", ["numpyro", "blackjax", "nutpie"])
def test_missing_extra_is_named(backend, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("jax", "nutpie") else real(name, *a))
    with pytest.raises(bs.BackendError, match=r'pip install "bayes_scaling\[jax\]"'):
        check_backend(backend)


def test_bad_sampler_settings(sim_runs):
    with pytest.raises(bs.BackendError, match="draws must be at least 1"):
        bs.fit(sim_runs, draws=0)
