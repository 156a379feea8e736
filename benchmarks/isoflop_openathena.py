"""Approach 2 beside the law's posterior on Open-Athena's IsoFLOP ladders (Llama 3 and three Marin ladders).

    python benchmarks/isoflop_openathena.py [--draws 1000]

For each ladder of ``openathena_isoflops``: the Chinchilla law fitted by ``bs.fit`` (spec
``chinchilla``, its structural error included) and Approach 2 by ``bs.isoflop`` on the same runs.
Records the data exponent a (N* ∝ C^a) of each with its 90% interval, and N* and D*/N* at the
largest budget of the ladder and at 3.8e25 FLOPs (Llama 3 405B), with P(N*_law > N*_isoflop).
Writes ``benchmarks/results/isoflop_openathena.json`` and the table of docs/design.md.
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
from bayes_scaling.design.approach2 import check_frontier

HERE = Path(__file__).resolve().parent
RECORD = HERE / "results" / "isoflop_openathena.json"
DOC = HERE.parent / "docs" / "design.md"
LADDERS = ("llama3", "marin_comma", "marin_dclm", "marin_nemotron")
FAR = 3.8e25
PUBLISHED = {"llama3": {"a_approach2": 0.4632, "a_vpnls": 0.5029, "ratio_approach2": 40.9, "ratio_vpnls": 16.4}}


def _interval(values: np.ndarray) -> dict:
    v = np.asarray(values).ravel()
    return {"median": float(np.median(v)), "lower": float(np.quantile(v, 0.05)), "upper": float(np.quantile(v, 0.95))}


def ladder(name: str, draws: int) -> dict:
    runs = bs.datasets.load("openathena_isoflops", split=name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bs.fit(runs, "chinchilla", draws=draws, seed=1, target_accept=0.95)
        iso = bs.isoflop(runs, compute=[FAR], sampler=bs.SamplerSettings(draws=draws, tune=1500, seed=1, target_accept=0.95))
    top = float(runs.table["compute"].max())
    check = check_frontier(fit, iso).set_index("compute")
    rows = {}
    for label, c in (("largest_budget", float(iso["compute"].values[-2])), ("far", FAR)):
        law = fit.optimal([c])
        rows[label] = {"compute": c,
                       "law_params": _interval(law["params"].values), "isoflop_params": _interval(iso["params"].sel(compute=c).values),
                       "law_ratio": _interval(law["ratio"].values), "isoflop_ratio": _interval(iso["ratio"].sel(compute=c).values),
                       "p_law_larger": float(check.loc[c, "p_law_larger"]), "disagrees": bool(check.loc[c, "disagrees"])}
    natural = fit.parameters()
    return {"runs": len(runs), "largest_run": top, "law_diagnostics": fit.diagnostics.to_dict(),
            "isoflop_diagnostics": iso.attrs["diagnostics"],
            "law_a": _interval(natural["a"].values), "isoflop_a": _interval(iso["a"].values), **rows,
            "budgets_disagreeing": int(check["disagrees"].sum()), "budgets": int(len(check) - 1),
            "published": PUBLISHED.get(name)}


def table_md(record: dict) -> str:
    def iv(d: dict, f: str = ".3f") -> str:
        return f"{d['median']:{f}} [{d['lower']:{f}}, {d['upper']:{f}}]"

    lines = ["| ladder | runs | a, law | a, Approach 2 | D*/N* at 3.8e25, law | D*/N* at 3.8e25, Approach 2 | P(N*law > N*A2) at 3.8e25 | budgets where they disagree |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in record["ladders"].items():
        lines.append(f"| {name} | {r['runs']} | {iv(r['law_a'])} | {iv(r['isoflop_a'])} | {iv(r['far']['law_ratio'], '.1f')} | "
                     f"{iv(r['far']['isoflop_ratio'], '.1f')} | {r['far']['p_law_larger']:.2f} | {r['budgets_disagreeing']} of {r['budgets']} |")
    return "\n".join(lines)


def write_doc(record: dict) -> None:
    replace_between(DOC, "isoflop", f"From `benchmarks/results/isoflop_openathena.json` on {record['machine']} "
                    f"(`python benchmarks/isoflop_openathena.py`; do not edit by hand). 90% intervals.\n\n"
                    f"{table_md(record)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--doc-only", action="store_true")
    args = parser.parse_args()
    if not args.doc_only:
        start = time.perf_counter()
        record = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "package_version": bs.package_version(),
                  "machine": f"{platform.platform()} ({os.cpu_count()} CPUs, Python {platform.python_version()})",
                  "ladders": {name: ladder(name, args.draws) for name in LADDERS}}
        record["seconds"] = time.perf_counter() - start
        RECORD.write_text(json.dumps(record, indent=1) + "\n")
    write_doc(json.loads(RECORD.read_text()))


if __name__ == "__main__":
    main()
