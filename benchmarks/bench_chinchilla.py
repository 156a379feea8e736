"""Part (a)-(c) of ``benchmarks/run.py`` (the entry point): the Chinchilla posterior on one backend and
parameterisation, timed (compile + init, sampling) with its ESS and diagnostics.

The naive parameterisation samples raw log A and log B (levels at N = D = 1) with a diagonal metric;
ours samples each term's level at the pivot with a dense metric.
"""

from __future__ import annotations

import time

import numpy as np

import bayes_scaling as bs
from bayes_scaling.inference import SamplerSettings, diagnose, sample
from bayes_scaling.model import build_model

PARAMS = ["log_e", "log_a0", "alpha", "log_b0", "beta"]
# The naive model samples raw log A and log B (levels at N = D = 1): priors centred where they live.
NAIVE_PRIORS = {"log_a0": bs.Prior("Normal", mu=5.0, sigma=5.0), "log_b0": bs.Prior("Normal", mu=5.0, sigma=5.0)}


def load_runs() -> bs.Runs:
    if bs.datasets.available("epoch_chinchilla"):
        return bs.datasets.load("epoch_chinchilla", drop_outliers=True)
    return bs.datasets.load("chinchilla_sim")


def posterior_run(runs: bs.Runs, backend: str, centred: bool, draws: int, tune: int, seed: int) -> dict:
    spec = bs.load_spec("chinchilla")
    if not centred:
        spec = spec.with_priors(**NAIVE_PRIORS)
    start = time.perf_counter()
    model = build_model(runs, spec, centred=centred)
    idata, _settings = sample(model, SamplerSettings(backend=backend, draws=draws, tune=tune, chains=4, seed=seed,
                                                     dense_mass=centred))
    total = time.perf_counter() - start
    sampling = float(idata["posterior"].attrs.get("sampling_time", np.nan))
    d = diagnose(idata, PARAMS)
    ess = min(d.min_ess_bulk, d.min_ess_tail)
    return {"backend": backend, "parameterisation": "pivot+dense" if centred else "naive+diag", "draws": draws,
            "tune": tune, "chains": 4, "time_to_posterior_s": total, "sampling_s": sampling,
            "compile_and_init_s": total - sampling, "min_ess": ess, "ess_per_s_sampling": ess / sampling,
            "ess_per_s_total": ess / total, "divergences": d.divergences, "max_rhat": d.max_rhat,
            "mean_tree_depth": d.mean_tree_depth}
