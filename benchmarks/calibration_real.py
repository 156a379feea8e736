"""Calibration beyond the data on every real study of the mirror, and the structural-error priors learned from them.

    python benchmarks/calibration_real.py fit   [--studies ...] [--draws 500] [--tune 500]
    python benchmarks/calibration_real.py score [--out benchmarks/results/calibration_real.json]
                                                [--priors models/learned/structural_error.toml]
    python benchmarks/calibration_real.py readme   (the README's table from the JSON record)
    python benchmarks/calibration_real.py fit --curves && python benchmarks/calibration_real.py score --curves

``fit`` backtests each study (:data:`STUDIES`: its spec and the held-out part beyond its data; the
top 20% of compute for (N, D) studies, the given or the last-30%-of-x split for curves) with the
baselines, and caches the posterior fit and the scored rows under ``benchmarks/results/cache/``
(one child process per study). ``score`` reads the cache, learns the structural-error prior
leave-one-study-out (:mod:`bayes_scaling.validation.structural`), scores every study with the prior
learned from the others, writes the JSON record and the Markdown table, and writes the prior learned
from all studies (the specs' default) with its provenance. ``score`` is deterministic given the
cache, so the shipped prior is regenerated bit-identically from the same fits.

``--curves`` does the same for runs still training (:data:`CURVE_STUDIES`): a family's curves fitted
on their first checkpoints with ``curve_power``, their later checkpoints held out. The error of a
curve's continuation is not the error of a law across final losses, so it is its own prior,
``models/learned/structural_error_curves.toml``, which the learning-curve specs name.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from markers import replace_between

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("BAYES_SCALING_CALIBRATION_CACHE", ROOT / "benchmarks" / "results" / "cache"))
OUT = ROOT / "benchmarks" / "results" / "calibration_real.json"
TABLE = ROOT / "docs" / "calibration_real.md"
PRIORS = ROOT / "models" / "learned" / "structural_error.toml"
COMMAND = "python benchmarks/calibration_real.py fit && python benchmarks/calibration_real.py score"
CURVE_OUT = ROOT / "benchmarks" / "results" / "calibration_curves.json"
CURVE_TABLE = ROOT / "docs" / "calibration_curves.md"
CURVE_PRIORS = ROOT / "models" / "learned" / "structural_error_curves.toml"
CURVE_COMMAND = ("python benchmarks/calibration_real.py fit --curves && "
                 "python benchmarks/calibration_real.py score --curves")

#: name -> (dataset, split of the loader or None, spec, holdout rule or "given", points per curve or None).
#: Each study is fitted with the law a user of this package would choose for its data: repeated data
#: (the datablations runs) with the data-constrained law, the 4-digit-addition curve, whose first 14
#: points already show its break, with the one-break BNSL; the error learned is then the error of a
#: fitting law beyond the data, not of a law that cannot describe the runs it was fitted to.
STUDIES: dict[str, tuple[str, str | None, str, str, int | None]] = {
    "epoch_chinchilla": ("epoch_chinchilla", None, "chinchilla", "compute:0.2", None),
    "muennighoff2023_datablations": ("muennighoff2023_datablations", None, "data_constrained", "compute:0.2", None),
    "cerebras_gpt_pile_table": ("cerebras_gpt_pile_table", None, "chinchilla_domain", "compute:0.2", None),
    "openathena_llama3": ("openathena_isoflops", "llama3", "chinchilla", "compute:0.2", None),
    "openathena_marin_comma": ("openathena_isoflops", "marin_comma", "chinchilla", "compute:0.2", None),
    "openathena_marin_dclm": ("openathena_isoflops", "marin_dclm", "chinchilla", "compute:0.2", None),
    "openathena_marin_nemotron": ("openathena_isoflops", "marin_nemotron", "chinchilla", "compute:0.2", None),
    "cherti2023_openclip": ("cherti2023_openclip", None, "chinchilla", "compute:0.2", None),
    "bnsl_4digit_addition": ("bnsl_4digit_addition", None, "bnsl", "given", None),
    "colpret_curves": ("colpret_curves", None, "saturating_tasks", "tokens:tail0.3", 40),
    "alabdulmohsin2022_revisiting": ("alabdulmohsin2022_revisiting", None, "saturating_tasks", "given", None),
}


#: Studies whose law needs a more careful sampler than the default (the benchmark's draws and tuning
#: otherwise): a break's position and the decay of repeated data are funnels at target_accept 0.8.
CAREFUL = {"bnsl_4digit_addition": {"tune": 1000, "target_accept": 0.95},
           "muennighoff2023_datablations": {"tune": 1000, "target_accept": 0.95}}


#: Learning-curve studies: name -> (dataset, family). Each curve of the family is cut at
#: :data:`CURVE_FRACTION` of its length as ``benchmarks/early_training.py`` cuts it (warm-up dropped, at
#: most :data:`CURVE_POINTS` checkpoints); its later checkpoints (at most :data:`CURVE_HELD` per curve,
#: evenly in log tokens, the last always) are held out.
CURVE_STUDIES: dict[str, tuple[str, str]] = {
    "colpret_datablations@early": ("colpret_curves", "datablations"),
    "colpret_gpt3@early": ("colpret_curves", "gpt3_paper_figure_digitized"),
    "colpret_olmo@early": ("colpret_curves", "olmo"),
    "colpret_redpajama@early": ("colpret_curves", "redpajama_incite"),
    "openclip_laion2b@early": ("cherti2023_openclip_curves", "LAION-2B"),
    "openclip_laion400m@early": ("cherti2023_openclip_curves", "LAION-400M"),
    "openclip_laion80m@early": ("cherti2023_openclip_curves", "LAION-80M"),
}
CURVE_FRACTION, CURVE_POINTS, CURVE_HELD = 0.2, 40, 20


def curve_split(name: str):
    """The (train, test) runs of a learning-curve study: early checkpoints, and the later ones."""
    from early_training import early

    from bayes_scaling.data import datasets
    from bayes_scaling.data.checkpoints import read_checkpoints
    from bayes_scaling.data.runs import read_runs

    dataset, family = CURVE_STUDIES[name]
    table = datasets.load(dataset).table
    table = table[table["domain"] == family]
    frame, _, _ = early(table, CURVE_FRACTION, CURVE_POINTS)
    seen = frame.groupby("curve")["tokens"].max()
    table = table.sort_values("tokens").drop_duplicates(["task", "tokens"])
    held = table[table["task"].isin(seen.index) & (table["tokens"] > table["task"].map(seen))]
    held = held.sort_values("task", kind="stable")[["params", "tokens", "loss", "task", "domain"]].astype(
        {"task": str, "domain": str})
    test = read_runs(held.reset_index(drop=True), check_units=False, source=name)
    return read_checkpoints(frame).runs, thin(test, CURVE_HELD)


def thin(runs, per_curve: int):
    """At most ``per_curve`` points of each curve, evenly spaced in log x, always keeping both ends."""
    from bayes_scaling.validation.splits import take

    keep = np.zeros(len(runs), dtype=bool)
    for index in runs.table.groupby("task", sort=False).indices.values():
        if len(index) <= per_curve:
            keep[index] = True
            continue
        x = np.log(runs.table["tokens"].to_numpy()[index])
        targets = np.linspace(x.min(), x.max(), per_curve)
        keep[index[np.unique(np.abs(x[:, None] - targets[None, :]).argmin(axis=0))]] = True
    return take(runs, keep)


def study_split(name: str):
    """The (train, test) runs of a study, as ``fit`` backtests them."""
    from bayes_scaling.data import datasets
    from bayes_scaling.validation.splits import split_holdout

    dataset, split, spec, rule, per_curve = STUDIES[name]
    if rule == "given":
        train = datasets.load(dataset, split="fit")
        test = datasets.load(dataset, split="extrapolate")
        if per_curve:
            train = thin(train, per_curve)
        return train, test
    runs = datasets.load(dataset, split=split)
    if per_curve:
        runs = thin(runs, per_curve)
    return split_holdout(runs, rule, spec)


#: Variants of the model measured beside the shipped one: name -> [discrepancy] keys set on the spec.
VARIANTS = {"family": {"family": "params"}}


def variant_spec(spec_name: str, variant: str | None):
    """The study's spec, with a variant's structural-error keys."""
    from dataclasses import replace

    from bayes_scaling.spec import load_spec

    spec = load_spec(spec_name)
    if variant:
        spec = replace(spec, discrepancy=replace(spec.discrepancy, **VARIANTS[variant]))
    return spec


def fit_one(name: str, draws: int, tune: int, seed: int, variant: str | None = None) -> dict:
    """Backtest one study (a final-loss study with its baselines); cache the fit and the scored rows."""
    from bayes_scaling.inference import TARGET_ACCEPT, SamplerSettings
    from bayes_scaling.validation.backtest import backtest

    start = time.perf_counter()
    if name in CURVE_STUDIES:  # the early-training benchmark's settings: curve funnels need a careful sampler
        spec, rule = variant_spec("curve_power", variant), f"first {CURVE_FRACTION:.0%} of each curve"
        train, test = curve_split(name)
        sampler = SamplerSettings(draws=draws, tune=max(tune, 700), chains=2, seed=seed, backend="nutpie",
                                  target_accept=0.95)
        bt = backtest((train, test), spec, sampler=sampler)
    else:
        spec, rule = variant_spec(STUDIES[name][2], variant), STUDIES[name][3]
        train, test = study_split(name)
        careful = CAREFUL.get(name, {})
        sampler = SamplerSettings(draws=draws, tune=max(tune, careful.get("tune", 0)), chains=2, seed=seed,
                                  backend="nutpie", target_accept=careful.get("target_accept", TARGET_ACCEPT))
        bt = backtest((train, test), spec, baselines=True, sampler=sampler, n_resamples=200)
    seconds = time.perf_counter() - start
    CACHE.mkdir(parents=True, exist_ok=True)
    key = f"{name}@{variant}" if variant else name
    bt.fit.save(CACHE / f"{key}.nc")
    test.table.to_csv(CACHE / f"{key}.test.csv", index=False)
    bt.per_run.to_csv(CACHE / f"{key}.per_run.csv", index=False)
    record = {"study": key, "spec": spec.name, "variant": variant, "holdout": rule, "n_train": len(train), "n_test": len(test),
              "seconds": seconds, "diagnostics": bt.fit.diagnostics.to_dict(), "notes": list(bt.notes)}
    (CACHE / f"{key}.json").write_text(json.dumps(record, indent=1, default=float))
    return record


def cmd_fit(args: argparse.Namespace) -> int:
    names = args.studies or list(CURVE_STUDIES if args.curves else STUDIES)
    for name in names:
        if args.child:
            record = fit_one(name, args.draws, args.tune, args.seed, args.variant)
            print(json.dumps({k: record[k] for k in ("study", "n_train", "n_test", "seconds")}), flush=True)
            continue
        cmd = [sys.executable, __file__, "fit", "--child", "--studies", name, "--draws", str(args.draws),
               "--tune", str(args.tune), "--seed", str(args.seed)] + (["--curves"] if args.curves else []) + (["--variant", args.variant] if args.variant else [])
        done = subprocess.run(cmd, check=False, env=os.environ.copy(), capture_output=True, text=True)
        tail = (done.stdout + done.stderr).strip().splitlines()[-1:] or [""]
        print(f"{name}: exit {done.returncode} {tail[0][:300]}", flush=True)
    return 0


def header(record: dict, result) -> str:
    """The head of the generated results page: what, where, how to regenerate."""
    machine = record["machine"]
    curves = record["command"] == CURVE_COMMAND
    data = "calibration_curves" if curves else "calibration_real"
    return "\n".join([
        "# Calibration of learning curves continued from their first checkpoints" if curves else
        "# Calibration beyond the data on real studies",
        "",
        (f"Each curve is fitted on its first {CURVE_FRACTION:.0%} (after the warm-up) and scored on its later "
         "checkpoints, up to the last one." if curves else ""),
        "",
        (f"Generated by `{record['command']}` on {machine['platform']} ({machine['cpus']} CPUs, Python {machine['python']}) "
        f"from the JSON record `benchmarks/results/{data}.json`; do not edit by hand. What the "
        "methods and columns mean: [structural.md](structural.md)."),
        "",
        (f"Prior learned from all {len(result.studies)} studies (the specs' default): scale {result.scale:.4g}, "
        f"spread {result.spread:g}, power {result.power:g}, distance {result.distance}. Each study's "
        "`posterior+structural` row uses the prior learned from the other studies (leave-one-study-out)."),
        "",
        ("Each study's law (its spec): " + "; ".join(f"{k} `{v}`" for k, v in record.get("specs", {}).items()) + "."
         if record.get("specs") else ""),
        "",
        "",
    ])




def readme_table(record: dict) -> str:
    """The README's table, from the JSON record: per study, 90% coverage, mean absolute coverage error and
    mlpd with and without the structural error (leave-one-study-out), and the mlpd of the bootstrap
    with noise where the study has that baseline."""
    rows = {(m["study"], m["method"]): m for m in record["metrics"] if not m.get("domain")}
    specs = record.get("specs", {})
    lines = [("| study | law | held out | 90% coverage: posterior | with structural error | coverage error: posterior "
              "| with structural error | mlpd: posterior | with structural error | bootstrap+noise |"),
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for study in record["studies"]:
        post, wide = rows[(study, "posterior")], rows[(study, "posterior+structural")]
        boot = rows.get((study, "bootstrap+noise"), {}).get("mlpd")
        lines.append(f"| {study} | {specs.get(study, '')} | {int(post['n_test'])} | {post['coverage_90']:.2f} | {wide['coverage_90']:.2f} "
                     f"| {post['coverage_error']:.3f} | {wide['coverage_error']:.3f} | {post['mlpd']:.2f} | {wide['mlpd']:.2f} "
                     f"| {'–' if boot is None else f'{boot:.2f}'} |")
    return "\n".join(lines)


def write_readme(path: Path, table: str) -> None:
    """Replace the table between the README's markers (left alone where the markers are missing)."""
    replace_between(path, "calibration_real", table)


def cmd_score(args: argparse.Namespace) -> int:
    from bayes_scaling.validation.structural import learn_and_score

    wanted = args.studies or list(CURVE_STUDIES if args.curves else STUDIES)
    names = [n for n in wanted if (CACHE / f"{n}.nc").is_file()]
    missing = sorted(set(wanted) - set(names))
    command = CURVE_COMMAND if args.curves else COMMAND
    out, priors, table = (CURVE_OUT, CURVE_PRIORS, CURVE_TABLE) if args.curves else (OUT, PRIORS, TABLE)
    args.out, args.priors, args.table = args.out or str(out), args.priors or str(priors), args.table or str(table)
    args.readme = "" if args.curves else args.readme
    result = learn_and_score(CACHE, names)
    variants = {}
    for variant in () if args.curves else VARIANTS:
        keys = [f"{n}@{variant}" for n in names if (CACHE / f"{n}@{variant}.nc").is_file()]
        if len(keys) > 1:
            variants[variant] = learn_and_score(CACHE, keys)
    record = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
              "command": command, "studies_missing": missing,
              "specs": {n: json.loads((CACHE / f"{n}.json").read_text())["spec"] for n in names}, **result.to_dict(),
              "variants": {v: r.to_dict() for v, r in variants.items()}}
    Path(args.out).write_text(json.dumps(record, indent=1, default=float) + "\n")
    Path(args.table).write_text(header(record, result) + result.markdown() + "".join(
        f"\n## Variant: {v} ({VARIANTS[v]}), with the prior learned among its own fits\n\n" + r.markdown()
        for v, r in variants.items()))
    result.write_prior(Path(args.priors), command)
    if args.readme:
        write_readme(Path(args.readme), readme_table(record))
    print(result.markdown())
    return 0


def cmd_readme(args: argparse.Namespace) -> int:
    write_readme(Path(args.readme), readme_table(json.loads(Path(args.record).read_text())))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("fit")
    p.add_argument("--studies", nargs="*", choices=list(STUDIES) + list(CURVE_STUDIES))
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--tune", type=int, default=500)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--variant", default=None, choices=list(VARIANTS), help="fit a variant of the model instead")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    s = sub.add_parser("score")
    s.add_argument("--studies", nargs="*", choices=list(STUDIES) + list(CURVE_STUDIES))
    s.add_argument("--out", default=None, help=f"JSON record (default {OUT.name}, {CURVE_OUT.name} with --curves)")
    s.add_argument("--priors", default=None, help="learned prior to write (default structural_error[_curves].toml)")
    s.add_argument("--table", default=None, help="Markdown results page (default docs/calibration_{real,curves}.md)")
    for q in (p, s):
        q.add_argument("--curves", action="store_true",
                       help="the learning-curve studies (CURVE_STUDIES) and their prior, structural_error_curves")
    s.add_argument("--readme", default=str(ROOT / "README.md"), help="README whose calibration table to rewrite ('' for none)")
    r = sub.add_parser("readme", help="rewrite the README's table from the JSON record (no refitting, no rescoring)")
    r.add_argument("--record", default=str(OUT))
    r.add_argument("--readme", default=str(ROOT / "README.md"))
    args = parser.parse_args(argv)
    return {"fit": cmd_fit, "score": cmd_score, "readme": cmd_readme}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
