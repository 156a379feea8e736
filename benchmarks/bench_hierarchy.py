"""Benchmark: cost of a hierarchical fit as the number of tasks grows (10, 100, 1,000 simulated tasks).

    python benchmarks/bench_hierarchy.py [--tasks 10 100 1000] [--out benchmarks/results/hierarchy.json]

Also used by ``benchmarks/run.py`` (part d). Each task has 8 runs (1e17 to 1e23 FLOPs) of the compute law L = E + (C0/C)^alpha with its own exponent and level
(pooled by task, tasks in 4 domains) and E per domain. The same sampler settings are used at every
size (2 chains, diagonal metric, chosen by ``dense_mass="auto"`` above 60 parameters; centred: every
task and domain value is pinned by many precise runs, where a non-centred domain level mixes badly).
Printed: seconds of sampling, seconds per task, min bulk ESS per second, and the ratio of each size's
cost per task to the smallest size's (1.0 = exactly linear in tasks).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_scaling as bs
from bayes_scaling.inference import diagnose, model_dim, sample
from bayes_scaling.model import build_model
from bayes_scaling.simulate import simulate_groups

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
        idata, settings = sample(model, backend=backend, draws=draws, tune=tune, chains=2, seed=seed)
    seconds = time.perf_counter() - start
    sampling = float(idata["posterior"].attrs.get("sampling_time", seconds))
    d = diagnose(idata)
    return {"tasks": n_tasks, "runs": len(runs), "dim": model_dim(model), "backend": backend, "hierarchy": hierarchy,
            "dense_mass": settings.dense_mass, "seconds": seconds, "sampling_s": sampling,
            "seconds_per_task": sampling / n_tasks, "min_ess_bulk": d.min_ess_bulk,
            "min_ess_bulk_per_s": d.min_ess_bulk / sampling, "max_rhat": d.max_rhat, "divergences": d.divergences,
            "mean_tree_depth": d.mean_tree_depth}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hierarchy", default="centred", choices=("centred", "non_centred", "centred_tasks"))
    parser.add_argument("--backend", default="pymc")
    parser.add_argument("--out", default="benchmarks/results/hierarchy.json")
    args = parser.parse_args()
    rows = []
    for n in args.tasks:
        row = measure(n, args.draws, args.tune, args.seed, args.hierarchy, args.backend)
        rows.append(row)
        print(json.dumps(row), flush=True)
    base = rows[0]["seconds_per_task"]
    for row in rows:
        row["cost_per_task_vs_smallest"] = row["seconds_per_task"] / base
    print(f"{'tasks':>6} {'runs':>6} {'dim':>6} {'seconds':>8} {'s/task':>8} {'per-task vs smallest':>21} "
          f"{'ESS/s':>7} {'R-hat':>6} {'div':>4} {'depth':>5}")
    for r in rows:
        print(f"{r['tasks']:>6} {r['runs']:>6} {r['dim']:>6} {r['seconds']:>8.1f} {r['seconds_per_task']:>8.3f} "
              f"{r['cost_per_task_vs_smallest']:>21.2f} {r['min_ess_bulk_per_s']:>7.1f} {r['max_rhat']:>6.3f} "
              f"{r['divergences']:>4} {r['mean_tree_depth']:>5.1f}")
    record = {"machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                          "cpus": os.cpu_count()}, "draws": args.draws, "tune": args.tune, "chains": 2, "hierarchy": args.hierarchy, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2))
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
