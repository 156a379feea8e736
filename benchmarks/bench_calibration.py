"""Benchmark: are the intervals honest? Simulation-based coverage and backtests on real data.

    python benchmarks/bench_calibration.py calibration [--truth fit|prior] [--n 50]   # -> results/calibration.json
    python benchmarks/bench_calibration.py epoch                                      # -> results/backtest_epoch.json
    python benchmarks/bench_calibration.py curves [--spec saturating_tasks]           # -> results/backtest_curves.json

``calibration``: ``n`` simulated data sets on the design of the bundled ``chinchilla_sim`` (nine IsoFLOP
budgets 6e18-3e21 FLOPs, 12 sizes each, 108 runs). ``--truth fit`` (default) draws each data set's true
parameters and noise from the posterior of a fit of ``chinchilla_sim`` itself (Chinchilla-like truths near
Epoch's estimates, the regime of simple-scaling-laws' simulations); ``--truth prior`` from the spec's prior
(exact SBC). Each data set is refitted (PyMC NUTS, 2 chains) and the 50/80/90/95% intervals of E, A, B,
alpha, beta, a and D*/N* at 5.88e23 FLOPs are checked against the truth.

``epoch``: Epoch's 240 Chinchilla runs (5 outliers dropped), the top 20% of compute held out; posterior,
posterior with the out-of-sample discrepancy learned by a nested backtest (top 20% of the training runs'
compute), Huber fit (Hoffmann's 4500-start grid) and its bootstrap (1000 resamples).

``curves``: the 72 image-classification curves of Alabdulmohsin et al. (2022) (domain "vision"), fit on
``Training == 1``, scored on the rest: M4 per curve (the published baseline) and a posterior pooled across
curves; NSL-PFN's calibration levels (0.5 ... 0.99) are used so its calibration error is comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

import bayes_scaling as bs
from bayes_scaling.validation.backtest import NSLPFN_LEVELS, backtest
from bayes_scaling.validation.calibrate import calibrate
from bayes_scaling.validation.splits import take

RESULTS = Path(__file__).resolve().parent / "results"
LEVELS = (0.5, 0.8, 0.9, 0.95)


def machine() -> dict:
    return {"platform": platform.platform(), "machine": platform.machine(), "cores": os.cpu_count(),
            "python": platform.python_version(), "package_version": bs.package_version()}


def run_calibration(args: argparse.Namespace) -> dict:
    start = time.perf_counter()
    truth: object = "prior"
    if args.truth == "fit":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bs.SamplerWarning)
            truth = bs.fit(bs.datasets.load("chinchilla_sim"), "chinchilla", draws=500, tune=700, chains=2, seed=args.seed)
    cal = calibrate("chinchilla", n_datasets=args.n, truth=truth, levels=LEVELS, seed=args.seed, draws=args.draws,
                    tune=args.tune, chains=2, progress=True)
    table = cal.coverage.pivot(index="quantity", columns="level", values="coverage")
    converged = cal.coverage.pivot(index="quantity", columns="level", values="coverage_converged")
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"refits without sampler warnings only ({cal.coverage['n_converged'].iloc[0]} of {cal.n_datasets}):")
    print(converged.to_string(float_format=lambda v: f"{v:.3f}"))
    print(cal.histogram.to_string())
    return {"machine": machine(), "seconds": time.perf_counter() - start,
            "design": "chinchilla_sim's: 9 IsoFLOP budgets 6e18-3e21 FLOPs x 12 sizes (108 runs)",
            "truth_source": {"fit": "posterior draws of a fit of chinchilla_sim (2x500 draws)",
                             "prior": "the chinchilla spec's prior"}[args.truth],
            "coverage_table": {q: {str(k): v for k, v in row.items()} for q, row in table.iterrows()},
            "coverage_table_converged": {q: {str(k): v for k, v in row.items()} for q, row in converged.iterrows()},
            **cal.to_dict()}


def run_epoch(args: argparse.Namespace) -> dict:
    start = time.perf_counter()
    runs = bs.datasets.load("epoch_chinchilla", drop_outliers=True)
    bt = backtest(runs, "chinchilla", holdout="compute:0.2", baselines=True, levels=LEVELS, draws=1000, tune=1000,
                  chains=2, seed=args.seed, n_resamples=1000, huber_starts="full", discrepancy=True)
    print(bt.metrics.to_string())
    doc = {"machine": machine(), "seconds": time.perf_counter() - start, "data": "epoch_chinchilla (outliers dropped)",
           **bt.to_dict(per_run=True)}
    post = bt.fit.summary().loc[["E", "A", "B", "alpha", "beta"], ["median", "lower", "upper"]]
    doc["posterior_parameters"] = post.to_dict(orient="index")
    return doc


def run_curves(args: argparse.Namespace) -> dict:
    start = time.perf_counter()
    name = "alabdulmohsin2022_revisiting"
    train, test = (bs.datasets.load(name, split=s) for s in ("fit", "extrapolate"))
    train, test = (take(r, r.table["domain"] == "vision") for r in (train, test))
    spec = bs.load_spec(args.spec)
    if args.spec == "m4":  # M4 with every parameter pooled by curve, centred per curve
        spec = replace(spec.with_pooling(**{p: "task" for p in spec.law_obj.sampled}), pivot="task", hierarchy="centred")
    if args.noise_pooling:
        spec = replace(spec, noise_pooling=args.noise_pooling)
    elif spec.noise_pooling == "domain":  # one domain here: one noise scale
        spec = replace(spec, noise_pooling="shared")
    bt = backtest((train, test), spec, baselines=True, levels=NSLPFN_LEVELS, draws=args.draws, tune=args.tune,
                  chains=2, seed=args.seed, backend=args.backend, discrepancy=args.discrepancy)
    cols = ["method", "rmsle_task_mean", "mlpd_task_mean", "mlpd_loss_task_mean", "calibration_error_task_mean",
            "coverage_90_task_mean", "rmsle"]
    print(bt.metrics[cols].to_string())
    return {"machine": machine(), "seconds": time.perf_counter() - start,
            "data": f"{name}, domain vision (72 curves), fit split -> extrapolate split", "spec_detail": spec.to_dict(),
            "published": {"m4_rmsle": 0.0415, "nslpfn_rmsle": 0.0280, "nslpfn_log_likelihood": 3.33},
            **bt.to_dict()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("calibration", "epoch", "curves"))
    parser.add_argument("--truth", default="fit", choices=("fit", "prior"))
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--seed", type=int, default=20240417)
    parser.add_argument("--spec", default="saturating_tasks")
    parser.add_argument("--backend", default="pymc")
    parser.add_argument("--noise-pooling", default=None, choices=("shared", "task"), help="curves: noise scale level")
    parser.add_argument("--discrepancy", action="store_true", help="curves: also learn the out-of-sample discrepancy "
                        "(nested backtest, one more fit)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    doc = {"calibration": run_calibration, "epoch": run_epoch, "curves": run_curves}[args.part](args)
    default = {"calibration": "calibration.json", "epoch": "backtest_epoch.json", "curves": "backtest_curves.json"}
    out = Path(args.out) if args.out else RESULTS / default[args.part]
    out.write_text(json.dumps(doc, indent=1, default=lambda v: v.item() if isinstance(v, np.generic) else str(v)) + "\n")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
