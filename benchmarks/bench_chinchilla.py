"""Benchmark: our posterior against the L-BFGS + Huber bootstrap and against the naive parameterisation.

Run from the repository root (BAYES_SCALING_DATA pointing at a mirror with epoch_chinchilla, else
the bundled simulation is used):

    python benchmarks/bench_chinchilla.py [--out benchmarks/results/chinchilla.json] [--backends pymc numpyro nutpie]

Everything is measured in one process, and the figures that matter are printed as ratios against a
baseline measured in the same run, so they travel between machines better than seconds do:
- time to posterior (compile + warm-up + sampling) vs the 4,500-start grid fit + 1,000-resample bootstrap;
- ESS per second of sampling, pivot + dense metric vs the naive parameterisation (raw log A, log B,
  diagonal metric) on the same data and backend.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

import bayes_scaling as bs
from bayes_scaling.baselines import bootstrap, huber_fit
from bayes_scaling.inference import check_backend, diagnose, sample
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
    idata, _settings = sample(model, backend=backend, draws=draws, tune=tune, chains=4, seed=seed, dense_mass=centred)
    total = time.perf_counter() - start
    sampling = float(idata["posterior"].attrs.get("sampling_time", np.nan))
    d = diagnose(idata, PARAMS)
    ess = min(d.min_ess_bulk, d.min_ess_tail)
    return {"backend": backend, "parameterisation": "pivot+dense" if centred else "naive+diag", "draws": draws,
            "tune": tune, "chains": 4, "time_to_posterior_s": total, "sampling_s": sampling,
            "compile_and_init_s": total - sampling, "min_ess": ess, "ess_per_s_sampling": ess / sampling,
            "ess_per_s_total": ess / total, "divergences": d.divergences, "max_rhat": d.max_rhat,
            "mean_tree_depth": d.mean_tree_depth}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/chinchilla.json")
    parser.add_argument("--backends", nargs="+", default=["pymc"])
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--naive-draws", type=int, default=1000)
    args = parser.parse_args()
    runs = load_runs()
    print(f"data: {runs.source} ({len(runs)} runs); machine: {platform.machine()}, {os.cpu_count()} cores")

    t = time.perf_counter()
    point = huber_fit(runs)
    grid_s = time.perf_counter() - t
    t = time.perf_counter()
    boot = bootstrap(runs, n_resamples=args.bootstrap, seed=0)
    boot_s = time.perf_counter() - t
    baseline = {"grid_fit_s": grid_s, "bootstrap_s": boot_s, "bootstrap_resamples": args.bootstrap,
                "total_s": grid_s + boot_s, "bootstrap_converged": float(boot["converged"].mean()), "point": {k: getattr(point, k) for k in ("E", "A", "B", "alpha", "beta")}}
    print(f"L-BFGS + Huber: grid fit {grid_s:.1f} s, {args.bootstrap}-resample bootstrap {boot_s:.1f} s")

    results = []
    for backend in args.backends:
        try:
            check_backend(backend)
        except bs.BackendError as exc:
            print(f"skip {backend}: {exc}")
            continue
        for label in ("cold-or-cached", "warm"):  # second run in-process: compile caches are warm
            r = posterior_run(runs, backend, True, 1000, 1000, seed=1)
            r["run"] = label
            results.append(r)
            print(f"{backend:8s} pivot+dense ({label}): {r['time_to_posterior_s']:.1f} s to posterior "
                  f"({r['compile_and_init_s']:.1f} s compile+init, {r['sampling_s']:.1f} s sampling), "
                  f"min ESS {r['min_ess']:.0f}, tree depth {r['mean_tree_depth']:.1f}, {r['divergences']} divergences")
    naive = posterior_run(runs, "pymc", False, args.naive_draws, args.naive_draws, seed=1)
    naive["run"] = "warm"
    results.append(naive)
    print(f"pymc     naive+diag: {naive['sampling_s']:.1f} s sampling, min ESS {naive['min_ess']:.0f}, "
          f"tree depth {naive['mean_tree_depth']:.1f}, {naive['divergences']} divergences")

    ours = next(r for r in results if r["backend"] == "pymc" and r["run"] == "warm" and r["parameterisation"] == "pivot+dense")
    ratios = {
        "bootstrap_time_over_posterior_time_warm": baseline["total_s"] / ours["time_to_posterior_s"],
        "ess_per_s_pivot_over_naive": ours["ess_per_s_sampling"] / naive["ess_per_s_sampling"],
    }
    for r in results:
        if r["parameterisation"] == "pivot+dense":
            ratios[f"bootstrap_time_over_{r['backend']}_{r['run']}"] = baseline["total_s"] / r["time_to_posterior_s"]
    print("ratios:", json.dumps({k: round(v, 2) for k, v in ratios.items()}, indent=1))
    record = {"machine": {"platform": platform.platform(), "cores": os.cpu_count(), "python": platform.python_version()},
              "package_version": bs.__version__, "data": runs.source, "runs": len(runs),
              "baseline": baseline, "posterior": results, "ratios": ratios,
              "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
