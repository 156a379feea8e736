"""The data-constrained law on Muennighoff et al.'s runs: R_D*, R_N* and the best number of epochs.

    python benchmarks/data_constrained.py [--max-epochs 100] [--draws 6000] [--out benchmarks/results/data_constrained.json]

Needs the registered dataset ``muennighoff2023_parametric`` (the 296 runs of the datablations
parametric-fit notebook; BAYES_SCALING_DATA pointing at a mirror). Runs repeated more than
``--max-epochs`` times are left out: beyond a few hundred epochs the loss rises again (overfitting),
which no term of the law describes. Fits the ``data_constrained`` spec (4 chains, nutpie,
target_accept 0.95) and records the convergence, R_D* and R_N* with 90% intervals beside the
published 15.4 and 5.3, and the compute-optimal N, D and epochs at two budgets under a unique-data
budget. Writes one JSON record and the table of docs/laws.md (between its markers).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from markers import replace_between

import bayes_scaling as bs

HERE = Path(__file__).resolve().parent
DOC = HERE.parent / "docs" / "laws.md"
PUBLISHED = {"R_D": 15.387756, "R_N": 5.309743}
QUESTIONS = [(1e21, 1e10), (1e22, 1e10), (1e22, 1e11)]  # (compute, unique tokens)


def _interval(da) -> dict:
    return {"median": float(da.median()), "lower": float(da.quantile(0.05)), "upper": float(da.quantile(0.95))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-epochs", type=float, default=100.0)
    parser.add_argument("--draws", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=str(HERE / "results" / "data_constrained.json"))
    args = parser.parse_args()
    if not os.environ.get("BAYES_SCALING_DATA"):
        raise SystemExit("set BAYES_SCALING_DATA to the datasets mirror")
    table = bs.datasets.load("muennighoff2023_parametric").table
    runs = bs.read_runs(table[table["tokens"] / table["unique_tokens"] <= args.max_epochs], source="muennighoff2023_parametric")
    start = time.perf_counter()
    fit = bs.fit(runs, "data_constrained", draws=args.draws, seed=args.seed, target_accept=0.95)
    seconds = time.perf_counter() - start
    p = fit.parameters()
    answers = []
    for compute, unique in QUESTIONS:
        opt = fit.optimal(compute, unique_tokens=unique)
        answers.append({"compute": compute, "unique_tokens": unique,
                        **{k: _interval(opt[k]) for k in ("params", "tokens", "epochs", "loss")}})
    record = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "package_version": bs.package_version(),
              "machine": {"machine": platform.machine(), "cores": os.cpu_count(), "python": platform.python_version()},
              "runs": len(runs), "max_epochs": args.max_epochs, "fit_seconds": seconds,
              "diagnostics": fit.diagnostics.to_dict(),
              "parameters": {k: _interval(p[k]) for k in ("E", "A", "B", "alpha", "beta", "R_D", "R_N")},
              "published": PUBLISHED, "optimal": answers}
    Path(args.out).write_text(json.dumps(record, indent=2, default=float))
    replace_between(DOC, "data_constrained", doc_table(record))
    print(json.dumps(record, indent=1, default=float))


def doc_table(record: dict) -> str:
    d = record["diagnostics"]
    lines = [(f"Measured {record['when']} on {record['machine']['machine']} with {record['machine']['cores']} cores: "
             f"{record['runs']} runs (at most {record['max_epochs']:g} epochs), {d['draws']} draws in all, "
             f"{d['divergences']} divergences, max R-hat {d['max_rhat']:.3f}, min bulk ESS {d['min_ess_bulk']:.0f} "
             "(`benchmarks/results/data_constrained.json`)."), "",
             "| parameter | median | 90% interval | published |", "| --- | --- | --- | --- |"]
    for k, v in record["parameters"].items():
        pub = f"{record['published'][k]:.1f}" if k in record["published"] else ""
        lines.append(f"| {k} | {v['median']:.4g} | [{v['lower']:.4g}, {v['upper']:.4g}] | {pub} |")
    lines += ["", "| compute (FLOPs) | unique tokens | N* | D* | epochs |", "| --- | --- | --- | --- | --- |"]
    for a in record["optimal"]:
        cells = [f"{a[k]['median']:.3g} [{a[k]['lower']:.3g}, {a[k]['upper']:.3g}]" for k in ("params", "tokens", "epochs")]
        lines.append(f"| {a['compute']:.0e} | {a['unique_tokens']:.0e} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
