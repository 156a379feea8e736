"""Extrapolation from early training: the final loss of each run from its first 10%, 20% and 30%.

    python benchmarks/early_training.py [--draws 500] [--max-points 40]

For each source group (the curves of one family: ColPret's cross-entropy groups, and the OpenCLIP
ImageNet curves by LAION subset), each run is cut at a fraction of its length, its warm-up (the
first 2%) dropped and its checkpoints thinned to at most ``--max-points`` (evenly in log tokens).
``curve_power`` is fitted to all curves of the group at once and ``predict_final`` gives each run's
loss at its last checkpoint; where the group's runs differ in size, so is ``curve_kaplan`` (Kaplan's
L(N, S), one law across the sizes), and where the dataset gives the runs' learning-rate schedules
(``bs.datasets.schedules``: OpenCLIP's runs and ColPret's GPT-3 curves) so is ``curve_schedule`` on
the curves whose last checkpoint ends their schedule, with ``curve_power`` scored on the same curves.
Scores against the observed last loss: the Hitchhiker's guide's ARE
(mean |L - L̂|/L with the posterior median), RMSLE, and coverage of the 50/80/90/95% predictive
intervals. The same law is fitted to each curve alone by least squares (scipy's curve_fit on L, as
the guide does) on the same checkpoints, in the same run. Writes
``benchmarks/results/early_training.json`` and the table of docs/laws.md.
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
import pandas as pd
from markers import replace_between

import bayes_scaling as bs
from bayes_scaling.data.checkpoints import MIN_POINTS, WARMUP, read_checkpoints
from bayes_scaling.result.final import fit_checkpoints

HERE = Path(__file__).resolve().parent
RECORD = HERE / "results" / "early_training.json"
DOC = HERE.parent / "docs" / "laws.md"
FRACTIONS = (0.1, 0.2, 0.3)
LEVELS = (0.5, 0.8, 0.9, 0.95)
STUDIES = {"colpret_curves": "ColPret", "cherti2023_openclip_curves": "OpenCLIP"}


def _thin(part: pd.DataFrame, most: int) -> pd.DataFrame:
    if len(part) <= most:
        return part
    logs = np.log(part["tokens"].to_numpy())
    keep = np.unique([int(np.argmin(np.abs(logs - v))) for v in np.linspace(logs[0], logs[-1], most)])
    return part.iloc[keep]


def early(table: pd.DataFrame, fraction: float, most: int) -> tuple[pd.DataFrame, pd.Series, list[str]]:
    """Checkpoints of the first ``fraction`` of every curve that keeps four after the warm-up, and the last losses."""
    rows, last, dropped = [], {}, []
    for curve, part in table.sort_values("tokens").groupby("task", sort=True):
        part = part.drop_duplicates("tokens")
        total = float(part["tokens"].iloc[-1])
        cut = part[(part["tokens"] <= fraction * total) & (part["tokens"] > WARMUP * total)]
        if len(cut) < MIN_POINTS:
            dropped.append(curve)
            continue
        cut = _thin(cut, most)
        rows.append(pd.DataFrame({"curve": curve, "tokens": cut["tokens"], "loss": cut["loss"],
                                  "params": cut["params"], "group": cut["domain"], "total_tokens": total}))
        last[curve] = float(part["loss"].iloc[-1])
    return (pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()), pd.Series(last), dropped


def least_squares(frame: pd.DataFrame) -> pd.Series:
    """Each curve's L = E + A·x^-alpha by curve_fit on L (the guide's estimator), at its total length."""
    from scipy.optimize import curve_fit

    out = {}
    for curve, part in frame.groupby("curve"):
        x, y = part["tokens"].to_numpy() / part["tokens"].max(), part["loss"].to_numpy()
        total = float(part["total_tokens"].iloc[0]) / part["tokens"].max()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p, _ = curve_fit(lambda t, e, a, al: e + a * t**-al, x, y, p0=(0.8 * y.min(), 0.2 * y.min(), 0.3),
                                 bounds=([0, 0, 0], [np.inf, np.inf, 5]), maxfev=20000)
            out[curve] = p[0] + p[1] * total ** -p[2]
        except RuntimeError:
            out[curve] = np.nan
    return pd.Series(out)


def scores(median: pd.Series, y: pd.Series, pred: np.ndarray | None = None) -> dict:
    ok = median.notna()
    m, t = median[ok], y[median.index][ok]
    out = {"n": int(ok.sum()), "failed": int((~ok).sum()), "are": float(np.mean(np.abs(m - t) / t)),
           "rmsle": float(np.sqrt(np.mean((np.log(m) - np.log(t)) ** 2)))}
    if pred is not None:
        for level in LEVELS:
            lo, hi = np.quantile(pred, [(1 - level) / 2, (1 + level) / 2], axis=0)
            out[f"coverage_{round(level * 100)}"] = float(np.mean((y.to_numpy() >= lo) & (y.to_numpy() <= hi)))
    return out


def scheduled(frame: pd.DataFrame, schedules: pd.DataFrame) -> tuple[object, list[str]] | None:
    """The checkpoints with each curve's learning-rate schedule, for the curves that keep four after the
    schedule's warm-up and whose last checkpoint is within 3% of the schedule's end (curves with missing
    final epochs end before their decay does); None where none do."""
    keep, short = [], []
    for curve, part in frame[frame["curve"].isin(schedules.index)].groupby("curve", sort=False):
        row = schedules.loc[curve]
        ends = float(part["total_tokens"].iloc[0]) >= 0.97 * float(row["total_tokens"])
        (keep if ends and (part["tokens"] > row["lr_warmup"]).sum() >= MIN_POINTS else short).append(curve)
    if not keep:
        return None
    part = frame[frame["curve"].isin(keep)].drop(columns="total_tokens").merge(schedules, left_on="curve", right_index=True)
    return read_checkpoints(part), short


def schedule_record(frame: pd.DataFrame, last: pd.Series, schedules: pd.DataFrame, draws: int,
                    plain: pd.Series | None = None) -> dict:
    """``curve_schedule`` on the curves with a schedule, predicted at each one's last checkpoint; with
    ``plain`` (curve_power's medians by curve) also curve_power's scores on the same curves."""
    made = scheduled(frame, schedules)
    if made is None:
        return {"curves": 0}
    ck, short = made
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_checkpoints(ck, "curve_schedule", draws=draws, tune=700, chains=2, seed=1, target_accept=0.95)
    ends = frame.groupby("curve")["total_tokens"].first()
    ds = fit.predict_final(ends.reindex(list(ck.seen.index)).to_dict(), schedule=ck)
    names = list(ds["curve"].values)
    median = pd.Series(ds["loss_mean"].median(("chain", "draw")).values, index=names)
    pred = ds["loss_pred"].stack(s=("chain", "draw")).transpose("s", "curve").values
    gamma = fit.posterior["anneal"].median(("chain", "draw")).values
    out = {"curves": len(names), "dropped": short, "diagnostics": list(fit.diagnostics.problems),
           "gamma_median": [float(g) for g in np.atleast_1d(gamma)], **scores(median, last[names], pred)}
    if plain is not None:
        out["curve_power_same_curves"] = scores(plain.reindex(names), last[names])
    return out


def group_record(table: pd.DataFrame, fraction: float, draws: int, most: int,
                 schedules: pd.DataFrame | None = None) -> dict | None:
    frame, last, dropped = early(table, fraction, most)
    if frame.empty:
        return {"curves": 0, "dropped": len(dropped)}
    ck = read_checkpoints(frame)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_checkpoints(ck, "curve_power", draws=draws, tune=700, chains=2, seed=1, target_accept=0.95)
    ds = fit.predict_final(ck)
    names = list(ds["curve"].values)
    y = last[names]
    median = pd.Series(ds["loss_mean"].median(("chain", "draw")).values, index=names)
    pred = ds["loss_pred"].stack(s=("chain", "draw")).transpose("s", "curve").values
    record = {"curves": len(names), "dropped": len(dropped), "checkpoints": len(ck.runs), "seconds": time.perf_counter() - start,
              "diagnostics": list(fit.diagnostics.problems), "posterior": scores(median, y, pred),
              "least_squares": scores(least_squares(frame).reindex(names), y)}
    if ck.runs.table["params"].nunique() > 1:  # Kaplan's L(N, S): one law across the sizes of the family
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kaplan = fit_checkpoints(ck, "curve_kaplan", draws=draws, tune=700, chains=2, seed=1, target_accept=0.95)
        kd = kaplan.predict_final(ck)
        k_median = pd.Series(kd["loss_mean"].median(("chain", "draw")).values, index=list(kd["curve"].values))
        k_pred = kd["loss_pred"].stack(s=("chain", "draw")).transpose("s", "curve").values
        record["kaplan"] = scores(k_median, last[list(kd["curve"].values)], k_pred)
        record["kaplan_diagnostics"] = list(kaplan.diagnostics.problems)
    if schedules is not None and frame["curve"].isin(schedules.index).any():  # the schedule known: curve_schedule
        record["schedule"] = schedule_record(frame, last, schedules, draws, median)
    return record


def table_md(record: dict) -> str:
    lines = ["| study | group | from | curves | ARE, posterior | ARE, least squares | ARE, Kaplan L(N,S) | ARE, schedule law (curves; posterior on them) | RMSLE, posterior | RMSLE, least squares | coverage 50/80/90/95 | Kaplan coverage 90 | schedule law coverage 50/80/90/95 | sampler |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for key, r in record["groups"].items():
        study, group, frac = key.split("|")
        if not r.get("curves"):
            lines.append(f"| {study} | {group} | {float(frac):.0%} | 0 ({r['dropped']} too short) | – | – | – | – | – | – | – | – | – | – |")
            continue
        p, q = r["posterior"], r["least_squares"]
        cov = "/".join(f"{p[f'coverage_{lv}']:.2f}" for lv in (50, 80, 90, 95))
        flag = "flagged" if r["diagnostics"] else "converged"
        k = r.get("kaplan")
        k_are, k_cov = (f"{k['are']:.3f}", f"{k['coverage_90']:.2f}") if k else ("–", "–")
        sc = r.get("schedule") or {}
        same = sc.get("curve_power_same_curves", {}).get("are", float("nan"))
        s_are = f"{sc['are']:.3f} ({sc['curves']}; {same:.3f})" if sc.get("curves") else "–"
        s_cov = "/".join(f"{sc[f'coverage_{lv}']:.2f}" for lv in (50, 80, 90, 95)) if sc.get("curves") else "–"
        lines.append(f"| {study} | {group} | {float(frac):.0%} | {r['curves']} | {p['are']:.3f} | {q['are']:.3f} | {k_are} | "
                     f"{s_are} | {p['rmsle']:.3f} | {q['rmsle']:.3f} | {cov} | {k_cov} | {s_cov} | {flag} |")
    return "\n".join(lines)


def write_doc(record: dict) -> None:
    replace_between(DOC, "early_training", f"From `benchmarks/results/early_training.json` on {record['machine']} "
                    f"(`python benchmarks/early_training.py`; do not edit by hand).\n\n{table_md(record)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--max-points", type=int, default=40)
    parser.add_argument("--doc-only", action="store_true")
    args = parser.parse_args()
    if not args.doc_only:
        start = time.perf_counter()
        groups = {}
        for study, label in STUDIES.items():
            table = bs.datasets.load(study).table
            given = bs.datasets.info(study).schedules
            schedules = bs.datasets.schedules(study).set_index("curve") if given else None
            for group, part in table.groupby("domain"):
                for fraction in FRACTIONS:
                    key = f"{label}|{group}|{fraction}"
                    groups[key] = group_record(part, fraction, args.draws, args.max_points, schedules)
                    print(key, json.dumps(groups[key].get("posterior")), flush=True)
        record = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "package_version": bs.package_version(),
                  "machine": f"{platform.platform()} ({os.cpu_count()} CPUs, Python {platform.python_version()})",
                  "draws": args.draws, "max_points": args.max_points, "groups": groups,
                  "seconds": time.perf_counter() - start}
        RECORD.write_text(json.dumps(record, indent=1) + "\n")
    write_doc(json.loads(RECORD.read_text()))


if __name__ == "__main__":
    main()
