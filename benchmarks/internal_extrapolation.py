"""Can a study's own runs say how far its law holds beyond them? A within-study extrapolation check.

    python benchmarks/internal_extrapolation.py [--out benchmarks/results/internal_extrapolation.json]

The structural error's prior is learned across studies because the error is zero inside the data:
a study's runs say nothing about it directly (docs/structural.md). One indirect signal remains, how
well the law extrapolates *within* the runs. This benchmark measures that signal, and whether
updating the error's scale by it would help, on every final-loss study that
``benchmarks/calibration_real.py fit`` cached (its training runs, fitted by the study's spec), and on
a study where the law is true (the bundled ``chinchilla_sim``, fitted the same way and cached beside
them under another name, so it never enters the learned prior).

- **Inner backtest.** The top 20% of compute of a study's training runs is held out again (the
  *inner hold-out*); the runs below the cut are fitted with the cached fit's sampler settings and
  the inner hold-out is scored without and with the structural error, at its distance beyond the
  runs below the cut. (Reweighting the cached posterior by Pareto-smoothed importance sampling,
  leave-future-out style, was tried first: it cannot reach draws the full posterior never visits,
  and the inner runs looked better predicted than a refit predicts them.)
- **Update.** tau = scale·m, where scale, power and distance are the prior learned without the study
  (``loso_priors`` of ``benchmarks/results/calibration_real.json``) and log m ~ Normal(0, spread).
  The inner hold-out's log predictive density as a function of m updates that prior on a grid;
  tau's draws are stratified quantiles of the result, as :func:`bayes_scaling.structural.growth_draws`
  draws them. spread = 0 is the shipped model (no update). Each study's runs really held out are
  then scored with each spread, and with the spread that maximises the mean mlpd of the *other*
  real studies (leave-one-study-out, as the prior itself is learned). The law-true study is scored
  with the spread chosen on all real studies.

Nothing here is shipped: the record says whether it would be worth building into ``fit``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import calibration_real as cr
from markers import replace_between

OUT = HERE / "results" / "internal_extrapolation.json"
DOC = HERE.parent / "docs" / "structural.md"
LAW_TRUE = "law_true_chinchilla_sim"
INNER = "compute:0.2"
LEVELS = (0.5, 0.8, 0.9, 0.95)
#: Grid of log m, the multiplier of the learned scale (1/64 ... 64).
LOG_M = np.linspace(np.log(1 / 64), np.log(64), 49)
SPREADS = (0.0, 0.5, 1.0, 1.5, 2.0)


def law_true_fit(seed: int) -> None:
    """Fit ``chinchilla_sim`` as ``calibration_real.py fit`` fits a study (top 20% of compute held out)."""
    if (cr.CACHE / f"{LAW_TRUE}.nc").is_file():
        return
    cr.STUDIES[LAW_TRUE] = ("chinchilla_sim", None, "chinchilla", "compute:0.2", None)
    try:
        cr.fit_one(LAW_TRUE, 500, 500, seed)
    finally:
        del cr.STUDIES[LAW_TRUE]


def scores(log_obs, mu, sigma, nu, extra, seed: int) -> dict:
    """The four coverages, the mean absolute coverage error, the mlpd and the per-run lpd of the
    predictive given by draws, with a structural error of sd ``extra`` (draws, runs)."""
    from bayes_scaling.structural import convolved
    from bayes_scaling.validation.scoring import pointwise_scores

    per = pointwise_scores(log_obs, mu, *convolved(sigma, nu, extra, seed))
    pit = per["pit"].to_numpy()
    cover = [float(np.mean(np.abs(pit - 0.5) <= q / 2)) for q in LEVELS]
    out = {f"coverage_{round(100 * q)}": c for q, c in zip(LEVELS, cover)}
    return out | {"coverage_error": float(np.mean(np.abs(np.array(cover) - LEVELS))),
                  "mlpd": float(per["lpd"].mean()), "lpd_sum": float(per["lpd"].sum())}


def updated_tau(scale: float, spread: float, log_lik: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` draws of tau = scale·m, log m ~ Normal(0, spread) updated by ``log_lik`` on :data:`LOG_M`:
    stratified quantiles of the gridded posterior, permuted by ``seed``."""
    if spread == 0:
        return np.full(n, float(scale))
    log_w = -0.5 * (LOG_M / spread) ** 2 + log_lik
    w = np.exp(log_w - log_w.max())
    cdf = np.cumsum(w / w.sum())
    index = np.minimum(np.searchsorted(cdf, (np.arange(n) + 0.5) / n), LOG_M.size - 1)
    return np.random.default_rng(seed).permutation(scale * np.exp(LOG_M[index]))


def study_row(name: str, prior: dict) -> dict:
    """Inner backtest, the inner log likelihood of m, and the external scores for every spread."""
    from dataclasses import replace

    from bayes_scaling.result.fitfile import load_fit
    from bayes_scaling.structural import extra_sd
    from bayes_scaling.validation.backtest import backtest
    from bayes_scaling.validation.predictive import draw_matrices
    from bayes_scaling.validation.splits import split_holdout
    from bayes_scaling.validation.structural import load_study

    scale, power = prior["scale"], prior["power"]
    fit = load_fit(cr.CACHE / f"{name}.nc")
    inner, outer = split_holdout(fit.runs, INNER, fit.spec)
    path = cr.CACHE / f"{name}@inner.nc"
    if path.is_file():
        inner_fit = load_fit(path)
    else:
        inner_fit = backtest((inner, outer), fit.spec, sampler=fit.settings).fit
        inner_fit.save(path)
    error = replace(fit.spec.discrepancy, distance=prior["distance"])
    mu, sigma, nu = draw_matrices(inner_fit, outer)
    log_obs = np.log(outer.table["loss"].to_numpy())
    d = error.distance_to(inner.table, outer.table, inner_fit.law.distance_inputs, inner_fit.per_task)
    seed = inner_fit.settings.seed
    at = {m: scores(log_obs, mu, sigma, nu, extra_sd(np.full(mu.shape[0], scale * np.exp(m)), d, power), seed)
          for m in LOG_M}
    log_lik = np.array([at[m]["lpd_sum"] for m in LOG_M])
    inner_none = scores(log_obs, mu, sigma, nu, np.zeros_like(mu), seed)
    inner_with = scores(log_obs, mu, sigma, nu, extra_sd(np.full(mu.shape[0], scale), d, power), seed)
    study = load_study(cr.CACHE, name)
    distance = study.distances[prior["distance"]]
    external = {"none": scores(study.log_obs, study.mu, study.sigma, study.nu, np.zeros_like(study.mu), study.seed)}
    for spread in SPREADS:
        tau = updated_tau(scale, spread, log_lik, study.mu.shape[0], study.seed)
        external[str(spread)] = scores(study.log_obs, study.mu, study.sigma, study.nu, extra_sd(tau, distance, power),
                                       study.seed) | {"tau_median": float(np.median(tau))}
    drop = ("lpd_sum",)
    return {"study": name, "law_true": name == LAW_TRUE, "prior": prior, "n_inner": len(inner), "n_outer": len(outer),
            "inner_converged": bool(inner_fit.diagnostics.ok),
            "inner_posterior": {k: v for k, v in inner_none.items() if k not in drop},
            "inner_structural": {k: v for k, v in inner_with.items() if k not in drop},
            "inner_gain": inner_with["mlpd"] - inner_none["mlpd"],
            "m_best": float(np.exp(LOG_M[np.argmax(log_lik)])),
            "external": {k: {kk: vv for kk, vv in v.items() if kk not in drop} for k, v in external.items()}}


def loso(rows: list[dict]) -> dict:
    """Each real study scored with the spread that maximises the other real studies' mean mlpd; the
    law-true study with the spread chosen on all of them."""
    real = [r for r in rows if not r["law_true"]]

    def best(among):
        return max(SPREADS, key=lambda s: np.mean([r["external"][str(s)]["mlpd"] for r in among]))

    chosen = {r["study"]: best([o for o in real if o is not r]) for r in real}
    chosen |= {r["study"]: best(real) for r in rows if r["law_true"]}

    def mean(key, which):
        return float(np.mean([r["external"][which(r)][key] for r in real]))

    return {"spread_chosen": {k: v for k, v in chosen.items()},
            "real_mean_mlpd": {"shipped": mean("mlpd", lambda r: "0.0"), "updated": mean("mlpd", lambda r: str(chosen[r["study"]]))},
            "real_mean_coverage_error": {"shipped": mean("coverage_error", lambda r: "0.0"),
                                         "updated": mean("coverage_error", lambda r: str(chosen[r["study"]]))}}


def table_md(record: dict) -> str:
    """The page's table: each study's inner and external gain, and its scores with and without the update."""
    chosen = record["summary"]["spread_chosen"]
    lines = [(f"From `benchmarks/results/internal_extrapolation.json` on {record['machine']['platform']} "
             f"(Python {record['machine']['python']}; `{record['command']}`; do not edit by hand)."), "",
             ("| study | inner gain in mlpd from the error | external gain | external mlpd / coverage error, shipped "
             "| spread chosen | external mlpd / coverage error, updated |"), "| --- | --- | --- | --- | --- | --- |"]
    for row in record["rows"]:
        ext, spread = row["external"], str(chosen[row["study"]])
        gain = "–" if row["law_true"] else f"{ext['0.0']['mlpd'] - ext['none']['mlpd']:+.2f}"
        name = f"{row['study']} (law true)" if row["law_true"] else row["study"]
        lines.append(f"| {name} | {row['inner_gain']:+.2f} | {gain} | {ext['0.0']['mlpd']:.3f} / "
                     f"{ext['0.0']['coverage_error']:.3f} | {spread} | {ext[spread]['mlpd']:.3f} / "
                     f"{ext[spread]['coverage_error']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--doc-only", action="store_true", help="rewrite the page's table from the record")
    args = parser.parse_args(argv)
    if args.doc_only:
        replace_between(DOC, "internal_extrapolation", table_md(json.loads(args.out.read_text())))
        return 0
    warnings.filterwarnings("ignore")
    law_true_fit(args.seed)
    record = json.loads(cr.OUT.read_text())
    studies = [s for s, (_, _, _, rule, _) in cr.STUDIES.items()
               if rule.startswith("compute") and (cr.CACHE / f"{s}.nc").is_file()]
    rows = []
    for name in studies + [LAW_TRUE]:
        row = study_row(name, record["loso_priors"].get(name, record["prior"]))
        rows.append(row)
        ext = row["external"]
        print(f"{name:30s} inner gain {row['inner_gain']:+.3f}  m* {row['m_best']:.3g}  external mlpd none "
              f"{ext['none']['mlpd']:.3f} " + " ".join(f"s={s}: {ext[str(s)]['mlpd']:.3f}/{ext[str(s)]['coverage_error']:.3f}"
                                                        for s in SPREADS), flush=True)
    summary = loso(rows)
    out = {"machine": {"platform": platform.platform(), "python": platform.python_version()},
           "command": "python benchmarks/internal_extrapolation.py", "inner_holdout": INNER,
           "spreads": list(SPREADS), "rows": rows, "summary": summary}
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    replace_between(DOC, "internal_extrapolation", table_md(out))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
