"""Vision against language on Alabdulmohsin et al. (2022): pooling choices compared by LOO and extrapolation.

    python benchmarks/alabdulmohsin_pooling.py [--draws 500 --tune 1000 --backend nutpie]
        [--choices partial none complete] [--out benchmarks/results/alabdulmohsin_pooling.json]

Needs the registered dataset ``alabdulmohsin2022_revisiting`` (BAYES_SCALING_DATA pointing at a mirror).
Every choice fits the saturating law L = E + A·(x + x0)^-alpha to the 92 learning curves of the ``fit``
split (4,272 points) and predicts the held-out ``extrapolate`` split (the larger x of every curve):

- ``partial``: the shipped spec ``saturating_tasks``: every parameter partially pooled by task within
  domain (tasks centred, domains non-centred), inputs centred per curve, noise per curve;
- ``none``: every parameter per curve with its prior only (``task_separate``): independent curve fits;
- ``complete``: the exponent alpha shared by every curve of a domain (``domain_separate``), the rest
  (loss at the pivot, irreducible fraction, x0) per curve, since curves are in different units (error
  rates, log-perplexities, losses) and x0 is measured from each curve's own centre.

Printed and saved: convergence, P(alpha_vision > alpha_language) with the posterior of the difference
(partial pooling: the domain-level exponents), PSIS-LOO of the three choices (ArviZ, Pareto-k warnings
kept), and RMSLE, mean log predictive density and 50/80/90/95% coverage on the extrapolate split, also
as means over curves (the published bars are means over curves).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path

import bayes_scaling as bs
from bayes_scaling.decisions.compare import compare, compare_models
from bayes_scaling.validation.backtest import backtest
from bayes_scaling.validation.splits import spread_tasks, take

DATASET = "alabdulmohsin2022_revisiting"
SHAPE = ("alpha",)
LEVELS = ("log_l0", "logit_f", "log_x0")
CHOICES = {
    "partial": None,
    "none": {p: "task_separate" for p in SHAPE + LEVELS},
    "complete": {"alpha": "domain_separate", **{p: "task_separate" for p in LEVELS}},
}
METRICS = ("rmsle", "mlpd", "coverage_50", "coverage_80", "coverage_90", "coverage_95", "calibration_error")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--choices", nargs="+", default=list(CHOICES), choices=list(CHOICES))
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backend", default="nutpie")
    parser.add_argument("--curves-per-domain", type=int, default=None,
                        help="a subset: this many curves of each domain, spread over their names (default: all)")
    parser.add_argument("--out", default="benchmarks/results/alabdulmohsin_pooling.json")
    args = parser.parse_args()
    train = bs.datasets.load(DATASET, split="fit")
    test = bs.datasets.load(DATASET, split="extrapolate")
    if args.curves_per_domain:
        train = spread_tasks(train, args.curves_per_domain)
        test = take(test, test.table["task"].isin(train.table["task"]))
    print(f"{DATASET}: {len(train)} fit points, {len(test)} extrapolate points; "
          f"{platform.machine()}, {os.cpu_count()} cores", flush=True)
    record: dict = {"machine": {"platform": platform.platform(), "cores": os.cpu_count()},
                    "curves": sorted(train.table["task"].unique()),
                    "sampler": vars(args), "choices": {}}
    fits = {}
    for name in args.choices:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bs.SamplerWarning)  # reported below, from the diagnostics
            bt = backtest((train, test), "saturating_tasks", pool=CHOICES[name], backend=args.backend,
                          draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed)
        seconds = time.perf_counter() - start
        fits[name] = bt.fit
        row = bt.metrics.iloc[0]
        entry = {"seconds": seconds, "diagnostics": bt.fit.diagnostics.to_dict(),
                 **{m: float(row[m]) for m in METRICS}, **{f"{m}_task_mean": float(row[f"{m}_task_mean"])
                                                          for m in METRICS}}
        record["choices"][name] = entry
        d = bt.fit.diagnostics
        print(f"{name:9s} {seconds:6.0f} s  R-hat {d.max_rhat:.3f}  ESS {d.min_ess_bulk:.0f}  "
              f"divergences {d.divergences}  RMSLE {entry['rmsle']:.4f} (curve mean {entry['rmsle_task_mean']:.4f})  "
              f"cov90 {entry['coverage_90']:.3f}  mlpd {entry['mlpd']:.3f}" + ("" if d.ok else "  NOT CONVERGED"),
              flush=True)
        if name == "partial":
            table = compare(bt.fit, "alpha", by="domain")
            record["vision_vs_language"] = table.to_dict(orient="records")
            print(table.to_string(index=False), flush=True)
    if len(fits) > 1:
        loo = compare_models(fits)
        record["loo"] = loo.reset_index().to_dict(orient="records")
        print(loo.to_string(), flush=True)
    record["when"] = time.strftime("%Y-%m-%d %H:%M:%S")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2, default=str))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
