"""Broken power laws on real curves: the BNSL protocol on 4-digit addition, and Alabdulmohsin's curves.

    python benchmarks/bnsl.py [--parts addition curves] [--curves 92] [--out benchmarks/results/bnsl.json]

Needs the registered datasets ``bnsl_4digit_addition`` and ``alabdulmohsin2022_revisiting``
(BAYES_SCALING_DATA pointing at a mirror).

- ``addition``: Caballero et al.'s protocol: fit the first 14 points, score points 15-17. The
  one- and two-break laws, the saturating law and M4 (posteriors, 4 chains x 1000 draws after 1000
  at target_accept 0.95), with M4's point estimator as the baseline: RMSLE of the posterior median,
  coverage of the central predictive intervals, mlpd. The break position d1 with its 90% interval,
  and the number of breaks compared by PSIS-LOO on the 14 fitted points.
- ``curves``: every curve of Alabdulmohsin et al.'s benchmark on its ``extrapolate`` split, the
  one-break law fitted per curve (2 chains x 500 draws after 1000), beside M4's point estimator on
  the same points: RMSLE per curve and its mean, coverage pooled over the held-out points.

Writes one JSON record and the table of docs/laws.md (between its markers).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
from markers import replace_between

import bayes_scaling as bs
from bayes_scaling.decisions.compare import compare_models

HERE = Path(__file__).resolve().parent
DOC = HERE.parent / "docs" / "laws.md"
COLUMNS = ("method", "rmsle", "coverage_50", "coverage_80", "coverage_90", "coverage_95", "coverage_error", "mlpd")


def _rows(bt: bs.Backtest, spec: str) -> list[dict]:
    keep = [c for c in COLUMNS if c in bt.metrics.columns]
    return [{"spec": spec, **{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}}
            for row in bt.metrics[keep].to_dict(orient="records")]


def addition_part(seed: int) -> dict:
    train = bs.datasets.load("bnsl_4digit_addition", split="fit")
    test = bs.datasets.load("bnsl_4digit_addition", split="extrapolate")
    settings = bs.SamplerSettings(draws=1000, tune=1000, chains=4, seed=seed, target_accept=0.95)
    rows, fits, problems = [], {}, {}
    for spec in ("bnsl", "bnsl2", "saturating", "m4"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            bt = bs.backtest((train, test), spec, sampler=settings, baselines=True)
            fits[spec] = bs.fit(train, spec, sampler=settings)
        problems[spec] = sorted({str(w.message) for w in caught if issubclass(w.category, bs.SamplerWarning)})
        rows += [r for r in _rows(bt, spec) if r["method"] != "m4" or spec == "bnsl"]
        print(f"addition {spec}: " + ", ".join(f"{r['method']} RMSLE {r['rmsle']:.4f}" for r in _rows(bt, spec)),
              flush=True)
    breaks = {}
    for spec in ("bnsl", "bnsl2"):
        p = fits[spec].parameters()
        breaks[spec] = {name: {"median": float(p[name].median()), "lower": float(p[name].quantile(0.05)),
                               "upper": float(p[name].quantile(0.95))} for name in p.data_vars if name[0] == "d"}
    loo = compare_models({k: fits[k] for k in ("bnsl", "bnsl2", "saturating")})
    return {"metrics": rows, "breaks": breaks, "sampler_problems": problems,
            "loo": loo.reset_index(names="model")[["model", "rank", "elpd", "se", "elpd_diff", "dse"]]
            .to_dict(orient="records"),
            "diagnostics": {k: f.diagnostics.to_dict() for k, f in fits.items()}}


def curves_part(n_curves: int, seed: int) -> dict:
    train_all = bs.datasets.load("alabdulmohsin2022_revisiting", split="fit")
    test_all = bs.datasets.load("alabdulmohsin2022_revisiting", split="extrapolate")
    settings = bs.SamplerSettings(draws=500, tune=1000, chains=2, seed=seed, target_accept=0.95)
    per_curve, held = [], []
    for task in train_all.tasks[:n_curves]:
        train = bs.read_runs(train_all.table[train_all.table["task"] == task], source=task)
        test = bs.read_runs(test_all.table[test_all.table["task"] == task], source=task)
        if len(test) == 0:
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                bt = bs.backtest((train, test), "bnsl", sampler=settings, baselines=True)
            except bs.BayesScalingError as exc:
                per_curve.append({"task": task, "error": str(exc)})
                continue
        metrics = bt.metrics.set_index("method")
        per_curve.append({"task": task, "domain": train.domains[0], "n_train": len(train), "n_test": len(test),
                          "posterior_rmsle": float(metrics.loc["posterior", "rmsle"]),
                          "m4_rmsle": float(metrics.loc["m4", "rmsle"]) if "m4" in metrics.index else None,
                          "coverage_90": float(metrics.loc["posterior", "coverage_90"]),
                          "unconverged": any(issubclass(w.category, bs.SamplerWarning) for w in caught)})
        held.append(len(test))
        print(f"curve {task}: bnsl {per_curve[-1]['posterior_rmsle']:.4f}, m4 {per_curve[-1]['m4_rmsle']}", flush=True)
    ok = [c for c in per_curve if "error" not in c]
    weights = np.array([c["n_test"] for c in ok], dtype=float)
    summary = {"curves": len(ok), "refused": len(per_curve) - len(ok),
               "mean_rmsle_bnsl": float(np.mean([c["posterior_rmsle"] for c in ok])),
               "mean_rmsle_m4": float(np.mean([c["m4_rmsle"] for c in ok if c["m4_rmsle"] is not None])),
               "bnsl_better_share": float(np.mean([c["posterior_rmsle"] < c["m4_rmsle"] for c in ok
                                                   if c["m4_rmsle"] is not None])),
               "coverage_90_pooled": float(np.sum(weights * [c["coverage_90"] for c in ok]) / weights.sum()),
               "unconverged": int(sum(c["unconverged"] for c in ok))}
    return {"summary": summary, "per_curve": per_curve}


def doc_table(record: dict) -> str:
    lines = [(f"Measured {record['when']} on {record['machine']['machine']} with {record['machine']['cores']} cores "
             "(`benchmarks/results/bnsl.json`)."), ""]
    if "addition" in record:
        lines += ["4-digit addition, fit on points 1-14, scored on 15-17:", "",
                  "| law | method | RMSLE | 50% | 80% | 90% | 95% | mlpd |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in record["addition"]["metrics"]:
            cells = [f"{r[k]:.2f}" if r.get(k) is not None else "" for k in
                     ("coverage_50", "coverage_80", "coverage_90", "coverage_95")]
            mlpd = f"{r['mlpd']:.2f}" if r.get("mlpd") is not None else ""
            lines.append(f"| {r['spec']} | {r['method']} | {r['rmsle']:.4f} | {' | '.join(cells)} | {mlpd} |")
        d1 = record["addition"]["breaks"]["bnsl"]["d1"]
        lines += ["", f"The break d1 = {d1['median']:.0f} examples [{d1['lower']:.0f}, {d1['upper']:.0f}] (90%).",
                  "PSIS-LOO on the 14 fitted points, best first: "
                  + ", ".join(f"{r['model']} (elpd {r['elpd']:.1f} ± {r['se']:.1f})" for r in record["addition"]["loo"])
                  + "."]
    if "curves" in record:
        s = record["curves"]["summary"]
        lines += ["", (f"Alabdulmohsin et al.'s curves, `extrapolate` split, one break per curve ({s['curves']} curves): "
                  f"mean RMSLE {s['mean_rmsle_bnsl']:.4f} against M4's {s['mean_rmsle_m4']:.4f}; the BNSL posterior "
                  f"is closer on {s['bnsl_better_share']:.0%} of curves; 90% coverage pooled over held-out points "
                  f"{s['coverage_90_pooled']:.2f}; {s['unconverged']} fits flagged by the sampler checks.")]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["addition", "curves"], choices=("addition", "curves"))
    parser.add_argument("--curves", type=int, default=92)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=str(HERE / "results" / "bnsl.json"))
    args = parser.parse_args()
    if not os.environ.get("BAYES_SCALING_DATA"):
        raise SystemExit("set BAYES_SCALING_DATA to the datasets mirror")
    record = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
    record.update(when=time.strftime("%Y-%m-%d %H:%M:%S"), package_version=bs.package_version(),
                  machine={"machine": platform.machine(), "cores": os.cpu_count(), "python": platform.python_version()})
    start = time.perf_counter()
    if "addition" in args.parts:
        record["addition"] = addition_part(args.seed)
    if "curves" in args.parts:
        record["curves"] = curves_part(args.curves, args.seed)
    record["seconds"] = time.perf_counter() - start
    Path(args.out).write_text(json.dumps(record, indent=2, default=float))
    replace_between(DOC, "bnsl", doc_table(record))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
