"""Part (d) of ``benchmarks/run.py`` (the entry point): cost of a hierarchical fit as the number of
tasks grows (10, 100, 1,000 simulated tasks). Each task has 8 runs (1e17 to 1e23 FLOPs) of the compute law L = E + (C0/C)^alpha with its own exponent and level
(pooled by task, tasks in 4 domains) and E per domain. The same sampler settings are used at every
size (2 chains, diagonal metric, chosen by ``dense_mass="auto"`` above 60 parameters; centred: every
task and domain value is pinned by many precise runs, where a non-centred domain level mixes badly).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd

import bayes_scaling as bs
from bayes_scaling.inference import SamplerSettings, diagnose, model_dim, sample
from bayes_scaling.model import build_model
from bayes_scaling.validation.simulate import simulate_groups

DOMAINS = ("language", "vision", "code", "speech")
RUNS_PER_TASK = 8


def simulated_runs(n_tasks: int, seed: int = 0) -> bs.Runs:
    rng = np.random.default_rng(seed)
    design = pd.DataFrame({"compute": np.geomspace(1e17, 1e23, RUNS_PER_TASK)})
    base = {d: 0.30 + 0.05 * i for i, d in enumerate(DOMAINS)}
    groups: dict[str, dict[str, dict[str, float]]] = {d: {} for d in DOMAINS}
    for t in range(n_tasks):
        d = DOMAINS[t % len(DOMAINS)]
        groups[d][f"{d}-{t}"] = {"E": 0.3 + 0.1 * DOMAINS.index(d), "C0": 1e18 * np.exp(0.3 * rng.standard_normal()),
                                 "alpha": base[d] * np.exp(0.1 * rng.standard_normal())}
    frame = simulate_groups(design, groups, law="compute", sigma=0.01, seed=seed)
    frame["params"] = np.sqrt(frame["compute"] / 120.0)
    return bs.read_runs(frame[["params", "compute", "loss", "domain", "task"]])


def measure(n_tasks: int, draws: int, tune: int, seed: int, hierarchy: str, backend: str = "pymc") -> dict:
    """Build and sample one hierarchy; ``seconds`` includes compilation, ``sampling_s`` is NUTS alone."""
    runs = simulated_runs(n_tasks, seed)
    spec = replace(bs.load_spec("compute").with_pooling(alpha="task", c0="task", e="domain"), hierarchy=hierarchy)
    start = time.perf_counter()
    model = build_model(runs, spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata, settings = sample(model, SamplerSettings(backend=backend, draws=draws, tune=tune, chains=2, seed=seed))
    seconds = time.perf_counter() - start
    sampling = float(idata["posterior"].attrs.get("sampling_time", seconds))
    d = diagnose(idata)
    return {"tasks": n_tasks, "runs": len(runs), "dim": model_dim(model), "backend": backend, "hierarchy": hierarchy,
            "dense_mass": settings.dense_mass, "seconds": seconds, "sampling_s": sampling,
            "seconds_per_task": sampling / n_tasks, "min_ess_bulk": d.min_ess_bulk,
            "min_ess_bulk_per_s": d.min_ess_bulk / sampling, "max_rhat": d.max_rhat, "divergences": d.divergences,
            "mean_tree_depth": d.mean_tree_depth}
