"""The data-constrained law on Muennighoff et al.'s runs: R_D*, R_N* and the best number of epochs.

    python benchmarks/data_constrained.py [--max-epochs 100] [--draws 6000] [--out benchmarks/results/data_constrained.json]
    python benchmarks/data_constrained.py --table colpret [--seeds 1 2 3 4 5]

Needs the registered dataset ``muennighoff2023_parametric`` (the 296 runs of the datablations
parametric-fit notebook; BAYES_SCALING_DATA pointing at a mirror). Runs repeated more than
``--max-epochs`` times are left out: beyond a few hundred epochs the loss rises again (overfitting),
which no term of the law describes. Fits the ``data_constrained`` spec (4 chains, nutpie,
target_accept 0.95) and records the convergence, R_D* and R_N* with 90% intervals beside the
published 15.4 and 5.3, and the compute-optimal N, D and epochs at two budgets under a unique-data
budget. Writes one JSON record and the table of docs/laws.md (between its markers).

``--table colpret`` fits instead the 48 final losses of ``muennighoff2023_datablations`` (C4 and
OSCAR, three model sizes, eight epoch counts), with E by corpus (``log_e=domain_separate``: the
corpora's validation losses differ by 0.5 nats) and 4 x 12,000 draws after 3,000, once per seed, and
records each seed's convergence beside the first seed's answers
(``results/data_constrained_colpret.json``, markers ``data_constrained_colpret``).
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
COLPRET = {"pool": {"log_e": "domain_separate"}, "draws": 12000, "tune": 3000}


def _interval(da) -> dict:
    return {"median": float(da.median()), "lower": float(da.quantile(0.05)), "upper": float(da.quantile(0.95))}


def _machine() -> dict:
    return {"machine": platform.machine(), "cores": os.cpu_count(), "python": platform.python_version()}


def _answers(fit: bs.Fit) -> list[dict]:
    answers = []
    for compute, unique in QUESTIONS:
        opt = fit.optimal(compute, unique_tokens=unique)
        if "domain" in opt.dims:  # the allocation does not depend on a level per corpus; E does
            opt = opt.isel(domain=0)
        answers.append({"compute": compute, "unique_tokens": unique,
                        **{k: _interval(opt[k]) for k in ("params", "tokens", "epochs", "loss")}})
    return answers


def _parameters(fit: bs.Fit) -> dict:
    p = fit.parameters()
    out = {}
    for k in ("E", "A", "B", "alpha", "beta", "R_D", "R_N"):
        if "domain" in p[k].dims:
            out.update({f"{k} ({d})": _interval(p[k].sel(domain=d)) for d in p[k].domain.values})
        else:
            out[k] = _interval(p[k])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", choices=("parametric", "colpret"), default="parametric")
    parser.add_argument("--max-epochs", type=float, default=100.0)
    parser.add_argument("--draws", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5], help="--table colpret")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if not os.environ.get("BAYES_SCALING_DATA"):
        raise SystemExit("set BAYES_SCALING_DATA to the datasets mirror")
    if args.table == "colpret":
        return colpret(args)
    table = bs.datasets.load("muennighoff2023_parametric").table
    runs = bs.read_runs(table[table["tokens"] / table["unique_tokens"] <= args.max_epochs], source="muennighoff2023_parametric")
    start = time.perf_counter()
    fit = bs.fit(runs, "data_constrained", draws=args.draws, seed=args.seed, target_accept=0.95)
    extra = {"max_epochs": args.max_epochs, "fit_seconds": time.perf_counter() - start}
    _write(fit, len(runs), extra, Path(args.out or HERE / "results" / "data_constrained.json"),
           "data_constrained", doc_table)


def _write(fit: bs.Fit, n_runs: int, extra: dict, out: Path, marker: str, table) -> None:
    """The JSON record of one fit (its diagnostics, parameters and answers) and its table in docs/laws.md."""
    record = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "package_version": bs.package_version(),
              "machine": _machine(), "runs": n_runs, **extra, "diagnostics": fit.diagnostics.to_dict(),
              "parameters": _parameters(fit), "published": PUBLISHED, "optimal": _answers(fit)}
    out.write_text(json.dumps(record, indent=2, default=float))
    replace_between(DOC, marker, table(record))
    print(json.dumps(record, indent=1, default=float))


def colpret(args: argparse.Namespace) -> None:
    """The 48 ColPret runs with E by corpus, once per seed: convergence per seed, answers of the first."""
    runs = bs.datasets.load("muennighoff2023_datablations")
    seeds, fits = [], []
    for seed in args.seeds:
        start = time.perf_counter()
        fits.append(bs.fit(runs, "data_constrained", seed=seed, **COLPRET))
        seeds.append({"seed": seed, "fit_seconds": time.perf_counter() - start, **fits[-1].diagnostics.to_dict()})
        print(seeds[-1])
    _write(fits[0], len(runs), {"settings": COLPRET, "seeds": seeds},
           Path(args.out or HERE / "results" / "data_constrained_colpret.json"), "data_constrained_colpret",
           colpret_table)


def doc_table(record: dict) -> str:
    d = record["diagnostics"]
    lines = [(f"Measured {record['when']} on {record['machine']['machine']} with {record['machine']['cores']} cores: "
             f"{record['runs']} runs (at most {record['max_epochs']:g} epochs), {d['draws']} draws in all, "
             f"{d['divergences']} divergences, max R-hat {d['max_rhat']:.3f}, min bulk ESS {d['min_ess_bulk']:.0f} "
             "(`benchmarks/results/data_constrained.json`)."), "",
             "| parameter | median | 90% interval | published |", "| --- | --- | --- | --- |"]
    return "\n".join(lines + _answer_lines(record))


def _answer_lines(record: dict) -> list[str]:
    lines = []
    for k, v in record["parameters"].items():
        pub = f"{record['published'][k]:.1f}" if k in record["published"] else ""
        lines.append(f"| {k} | {v['median']:.4g} | [{v['lower']:.4g}, {v['upper']:.4g}] | {pub} |")
    lines += ["", "| compute (FLOPs) | unique tokens | N* | D* | epochs |", "| --- | --- | --- | --- | --- |"]
    for a in record["optimal"]:
        cells = [f"{a[k]['median']:.3g} [{a[k]['lower']:.3g}, {a[k]['upper']:.3g}]" for k in ("params", "tokens", "epochs")]
        lines.append(f"| {a['compute']:.0e} | {a['unique_tokens']:.0e} | " + " | ".join(cells) + " |")
    return lines


def colpret_table(record: dict) -> str:
    s = record["settings"]
    runs = [f"seed {r['seed']}: {r['divergences']} divergences, R-hat {r['max_rhat']:.3f}, bulk ESS {r['min_ess_bulk']:.0f}"
            for r in record["seeds"]]
    ok = sum(r["ok"] for r in record["seeds"])
    lines = [(f"Measured {record['when']} on {record['machine']['machine']} with {record['machine']['cores']} cores: "
              f"{record['runs']} runs, E by corpus, {s['draws']} draws per chain after {s['tune']}; "
              f"{ok} of {len(record['seeds'])} seeds pass every check ({'; '.join(runs)}). "
              f"Answers of seed {record['seeds'][0]['seed']} (`benchmarks/results/data_constrained_colpret.json`)."), "",
             "| parameter | median | 90% interval | published |", "| --- | --- | --- | --- |"]
    return "\n".join(lines + _answer_lines(record))


if __name__ == "__main__":
    main()
