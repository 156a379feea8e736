"""The 92-curve hierarchy (``saturating_tasks`` on Alabdulmohsin et al.'s ``fit`` split) at a given
warm-up, draws, backend and mass-matrix adaptation: wall time of the fit (model build, compile,
sampling) and its convergence, against the issue's target of R-hat <= 1.01, bulk ESS >= 400 and no
divergences in 10 minutes on 2 cores.

    python benchmarks/hierarchy_curves.py --adaptation low_rank --tune 800 --draws 600 [--backend numpyro]

Appends one record to ``benchmarks/results/hierarchy_curves.json`` (or ``--out``). ``low_rank`` is
nutpie's low-rank metric, and a dense one on numpyro.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from datetime import datetime
from pathlib import Path

import bayes_scaling as bs
from bayes_scaling.inference import SamplerSettings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import gpu_name

RESULTS = Path(__file__).parent / "results" / "hierarchy_curves.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--adaptation", choices=["diag", "low_rank"], default="low_rank")
    parser.add_argument("--tune", type=int, default=800)
    parser.add_argument("--draws", type=int, default=600)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=20240417)
    parser.add_argument("--backend", default="nutpie")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--plain", action="store_true",
                        help="sample each curve's alpha as it is, not in its local coordinates (Law.local_shift)")
    args = parser.parse_args()
    if args.plain:
        from dataclasses import replace

        from bayes_scaling.laws import LAWS

        LAWS["saturating"] = replace(LAWS["saturating"], local_shift={})
    runs = bs.datasets.load("alabdulmohsin2022_revisiting", split="fit")
    sampler = SamplerSettings(backend=args.backend, draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed,
                              dense_mass=args.adaptation == "low_rank")
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bs.fit(runs, "saturating_tasks", sampler=sampler)
    d = fit.diagnostics
    alpha = fit.posterior["alpha_domain"].quantile([0.05, 0.5, 0.95], dim=("chain", "draw"))
    record = {"measured": datetime.now().isoformat(timespec="seconds"), "machine": platform.machine(),
              "cores": os.cpu_count(), "python": platform.python_version(), "gpu": gpu_name(), "runs": len(runs),
              "backend": args.backend, "coordinates": "plain" if args.plain else "local",
              "adaptation": args.adaptation, "chains": args.chains, "tune": args.tune, "draws": args.draws,
              "seed": args.seed, "seconds": time.perf_counter() - start, "max_rhat": d.max_rhat,
              "min_ess_bulk": d.min_ess_bulk, "min_ess_tail": d.min_ess_tail, "divergences": d.divergences,
              "mean_tree_depth": d.mean_tree_depth, "converged": d.ok,
              "alpha_domain": {str(dom): alpha.sel(domain=dom).values.tolist() for dom in alpha["domain"].values}}
    print(json.dumps(record, indent=1))
    previous = json.loads(args.out.read_text()) if args.out.exists() else []
    args.out.write_text(json.dumps([*previous, record], indent=1) + "\n")


if __name__ == "__main__":
    main()
