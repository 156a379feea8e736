"""Does following ``design`` shrink the interval of D*/N* more than the alternatives? Simulated from Epoch's posterior.

For each repetition a "true" law is drawn from the posterior of the Chinchilla law on Epoch's runs.
Four strategies spend the same extra budget on at most five new runs:

- ``design``: :func:`bayes_scaling.design.propose` (target D*/N* at 5.88e23 FLOPs), whose simulated
  outcomes carry the spec's structural error beyond the data (the default);
- ``design_law``: the same, ``structural=False``: every outcome taken to follow the law;
- ``ssl_suggest``: simple-scaling-laws' ``suggest_runs`` on the same runs, same target budget and
  candidate budgets, kept while the runs fit the budget;
- ``isoflop_grid``: a uniform IsoFLOP grid, five sizes one decade either side of N*(B/5) at B/5 each;
- ``double_largest``: the largest runs again at twice their compute (sqrt 2 N, sqrt 2 D), largest first.

Each strategy's runs get outcomes from the true law with the fitted noise; the law is refitted on
Epoch's runs plus them, and the 90% interval of D*/N* at 5.88e23 FLOPs is measured (in decades,
log10 upper/lower). Two worlds are simulated: in ``law`` the law is exact, in ``structural`` each new
run beyond Epoch's runs also deviates from it by the spec's structural error (sd tau·d^power, d its
distance beyond the runs), the error a fit with the shipped prior expects there. The strategies are
chosen once from today's posterior; the repetitions vary the truth and the noise, the same in both
worlds. ``python benchmarks/design.py [--reps 20] [--world law structural]`` writes
``benchmarks/results/design.json`` and the tables of docs/design.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from markers import replace_between

import bayes_scaling as bs
from bayes_scaling.design import propose
from bayes_scaling.design.candidates import Limits, candidate_budgets
from bayes_scaling.design.propose import _moments
from bayes_scaling.structural import structural_extra

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "benchmarks" / "results" / "design.json"
DOC = ROOT / "docs" / "design.md"
TARGET = 5.88e23
BUDGET = 3e22
K = 5
SAMPLER = {"draws": 500, "tune": 600, "chains": 2}
WORLDS = ("law", "structural")


def width(fit: bs.Fit) -> float:
    r = fit.optimal([TARGET])["ratio"].values.ravel()
    return float(np.log10(np.quantile(r, 0.95) / np.quantile(r, 0.05)))


def strategies(fit: bs.Fit, runs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    k = 6.0
    out = {}
    ds = propose(fit, BUDGET, TARGET, "ratio", K)
    out["design"] = pd.DataFrame({"params": ds["params"].values, "tokens": ds["tokens"].values})
    ds = propose(fit, BUDGET, TARGET, "ratio", K, structural=False)
    out["design_law"] = pd.DataFrame({"params": ds["params"].values, "tokens": ds["tokens"].values})
    c = BUDGET / K
    n_star = float(fit.optimal([c])["params"].median())
    n = n_star * np.logspace(-1, 1, K)
    out["isoflop_grid"] = pd.DataFrame({"params": n, "tokens": c / (k * n)})
    top = runs.assign(compute=k * runs.params * runs.tokens).sort_values("compute", ascending=False)
    rows, spent = [], 0.0
    for _, r in top.iterrows():
        if len(rows) == K or spent + 2 * r.compute > BUDGET:
            break
        rows.append({"params": np.sqrt(2) * r.params, "tokens": np.sqrt(2) * r.tokens})
        spent += 2 * r.compute
    out["double_largest"] = pd.DataFrame(rows)
    out["ssl_suggest"] = ssl_suggest(runs, candidate_budgets(BUDGET, Limits()))
    return out


def ssl_suggest(runs: pd.DataFrame, budgets: np.ndarray) -> pd.DataFrame:
    import simple_scaling_laws as ssl

    table = runs.assign(training_run_id=[f"run{i:04d}" for i in range(len(runs))]).rename(columns={
        "params": "model_size__params", "tokens": "dataset_size__tokens", "loss": "test_loss__val"})[
        ["training_run_id", "model_size__params", "dataset_size__tokens", "test_loss__val"]]
    model = ssl.fit(table, seed=0)
    cost = ssl.cost_model("power", k=6.0, a=1.0, b=1.0)
    got = ssl.design.suggest_runs(model, [TARGET], cost, n=3 * K, candidate_budgets=list(budgets)).to_pandas()
    rows, spent = [], 0.0
    for _, r in got.iterrows():
        if len(rows) == K:
            break
        if spent + r["budget"] <= BUDGET * (1 + 1e-9):
            rows.append({"params": r["model_size__params"], "tokens": r["dataset_size__tokens"]})
            spent += r["budget"]
    return pd.DataFrame(rows)


def outcome(fit: bs.Fit, new: pd.DataFrame, truth: int, rng: np.random.Generator, world: str) -> np.ndarray:
    """Losses of the new runs under draw ``truth``: the law and the fitted Student-t noise, plus the
    structural error beyond the fitted runs in the ``structural`` world."""
    table = new.assign(compute=6.0 * new.params * new.tokens)
    mu, _sigma, nu = _moments(fit, table, np.array([truth]))
    post = fit.posterior
    sig = post["sigma"].stack(s=("chain", "draw")).values[truth]
    eps = rng.standard_t(nu[0], size=len(new)) if nu is not None else rng.standard_normal(len(new))
    log_loss = mu[0] + sig * eps
    if world == "structural":
        extra = structural_extra(fit, table, "run").stack(s=("chain", "draw")).transpose("s", "run").values[truth]
        log_loss = log_loss + extra * rng.standard_normal(len(new))
    return np.exp(log_loss)


def run(reps: int, only: list[str] | None = None, worlds: tuple[str, ...] = WORLDS) -> dict:
    runs = bs.datasets.load("epoch_chinchilla")
    base = bs.fit(runs, "chinchilla", seed=1)
    table = runs.table[["params", "tokens", "loss"]]
    chosen = strategies(base, table)
    if only:
        chosen = {k: v for k, v in chosen.items() if k in only}
    n_total = base.posterior.sizes["chain"] * base.posterior.sizes["draw"]
    rng = np.random.default_rng(2026)
    truths = rng.integers(0, n_total, reps)
    widths = {world: {name: [] for name in chosen} for world in worlds}
    start = time.time()
    for rep, truth in enumerate(truths):
        for world in worlds:
            for name, new in chosen.items():
                loss = outcome(base, new, int(truth), np.random.default_rng([rep, int(truth)]), world)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    refit = bs.fit(bs.read_runs(pd.concat([table, new.assign(loss=loss)], ignore_index=True)),
                                   "chinchilla", seed=1 + rep, **SAMPLER)
                widths[world][name].append(width(refit))
            print(f"rep {rep + 1}/{reps} {world}: " + ", ".join(f"{k} {v[-1]:.4f}" for k, v in widths[world].items()),
                  flush=True)
    spent = {k: float((6 * v.params * v.tokens).sum()) for k, v in chosen.items()}
    return {
        "machine": f"{platform.platform()} ({__import__('os').cpu_count()} CPUs, Python {platform.python_version()})",
        "bayes_scaling": bs.__version__, "reps": reps, "budget": BUDGET, "target_compute": TARGET, "k": K,
        "sampler": SAMPLER, "seconds": time.time() - start, "width_now": width(base),
        "runs": {k: v.to_dict(orient="records") for k, v in chosen.items()},
        "worlds": {world: {k: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)), "widths": v, "spent": spent[k]}
                           for k, v in by_name.items()} for world, by_name in widths.items()},
    }


def table_md(record: dict, world: str) -> str:
    strategies = record["worlds"][world]
    ref_name = "design" if world == "structural" else "design_law"
    lines = [f"| strategy | runs | FLOPs spent | 90% width of D*/N* (decades), mean ± sd | narrower than {ref_name} in |",
             "| --- | --- | --- | --- | --- |",
             f"| today's posterior | 0 | 0 | {record['width_now']:.4f} | – |"]
    ref = np.asarray(strategies[ref_name]["widths"]) if ref_name in strategies else None
    for name, s in sorted(strategies.items(), key=lambda kv: kv[1]["mean"]):
        wins = "–" if ref is None or name == ref_name else f"{int(np.sum(np.asarray(s['widths']) < ref))} of {ref.size}"
        lines.append(f"| {name} | {len(record['runs'][name])} | {s['spent']:.3g} | {s['mean']:.4f} ± {s['sd']:.4f} | {wins} |")
    return "\n".join(lines)


def write_doc(record: dict) -> None:
    tables = "\n\n".join(f"World `{world}`:\n\n{table_md(record, world)}" for world in record["worlds"])
    replace_between(DOC, "design", f"{record['reps']} repetitions on {record['machine']}, from "
                    f"`benchmarks/results/design.json` (`python benchmarks/design.py`; do not edit by hand).\n\n"
                    f"{tables}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--world", nargs="+", choices=WORLDS, default=list(WORLDS))
    parser.add_argument("--doc-only", action="store_true", help="rewrite docs/design.md from the record")
    parser.add_argument("--only", nargs="+", default=None,
                        help="run these strategies and merge them into the existing record (same truths and seeds)")
    args = parser.parse_args()
    if args.only:
        record = json.loads(RECORD.read_text())
        new = run(args.reps, args.only, tuple(args.world))
        record["runs"].update(new["runs"])
        for world, strategies in new["worlds"].items():
            record["worlds"].setdefault(world, {}).update(strategies)
        record["seconds"] += new["seconds"]
        RECORD.write_text(json.dumps(record, indent=1) + "\n")
    elif not args.doc_only:
        RECORD.write_text(json.dumps(run(args.reps, worlds=tuple(args.world)), indent=1) + "\n")
    write_doc(json.loads(RECORD.read_text()))
