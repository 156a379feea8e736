"""``bayes-scaling``: a thin command line over the public API.

Every error a user can cause ends with exit code 2 and one line ``error: ...`` on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from . import datasets
from .compare import compare, compare_models
from .data import Runs, read_runs
from .errors import BayesScalingError, InputError, SamplerWarning
from .fit import Fit, fit, format_summary, load_fit
from .inference import BACKENDS, DEFAULT_BACKEND
from .intervals import DEFAULT_PROB, interval_table
from .planning import compute_for_target, format_plan, format_target, plan
from .spec import NOISE_LEVELS, ModelSpec, load_spec, parse_pooling

CHINCHILLA_COMPUTE = 5.88e23  # 6 · 70e9 · 1.4e12 FLOPs
DEMO_COMPUTE = (1e21, CHINCHILLA_COMPUTE, 1e25)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bayes-scaling`` command."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    warnings.simplefilter("ignore", SamplerWarning)  # reported by the commands themselves
    try:
        return args.func(args)
    except BayesScalingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bayes-scaling", description="Bayesian inference for neural scaling laws.")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("fit", help="fit a scaling law to a CSV of runs (or a registered dataset) and save the posterior")
    p.add_argument("data", help="CSV path, or the name of a registered dataset (e.g. epoch_chinchilla)")
    p.add_argument("--spec", default="chinchilla", help="shipped spec name or TOML path (default: chinchilla)")
    p.add_argument("--out", required=True, help="where to write the fit (NetCDF)")
    p.add_argument("--columns", default="", help="rename columns, e.g. 'Model Size=params,Training FLOP=compute'")
    p.add_argument("--drop-outliers", action="store_true", help="apply the dataset's published outlier rule")
    p.add_argument("--split", default=None, help="a registered dataset's split to fit (e.g. fit)")
    _pooling_args(p)
    _sampler_args(p)
    p.set_defaults(func=_cmd_fit)

    p = sub.add_parser("summary", help="parameters with intervals and convergence diagnostics")
    _fit_arg(p)
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser("optimal", help="compute-optimal N*, D*, D*/N*, L* at given budgets")
    _fit_arg(p)
    p.add_argument("--compute", type=float, nargs="+", required=True, help="budgets in FLOPs")
    p.add_argument("--method", default="auto", choices=("auto", "closed", "numeric"))
    _level_arg(p)
    p.set_defaults(func=_cmd_optimal)

    p = sub.add_parser("predict", help="loss at new scales: credible interval of the law, predictive interval of a run")
    _fit_arg(p)
    p.add_argument("--params", type=float, nargs="+", help="N of each run to predict")
    p.add_argument("--tokens", type=float, nargs="+", help="D of each run to predict")
    p.add_argument("--compute", type=float, nargs="+", help="C of each run (compute law)")
    _level_arg(p)
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("compare", help="posterior differences of a parameter between domains or tasks")
    _fit_arg(p)
    p.add_argument("--param", required=True, help="parameter to compare, e.g. alpha, beta, E")
    p.add_argument("--by", default="domain", choices=("domain", "task"))
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser("plan", help="choose N and D for compute budgets under the whole posterior (mean, quantile, CVaR)")
    _fit_arg(p)
    p.add_argument("--budget", type=float, nargs="+", required=True, help="compute budgets in FLOPs")
    p.add_argument("--objective", default="mean", choices=("mean", "quantile", "cvar"))
    p.add_argument("--q", type=float, default=0.9, help="quantile / CVaR level (default 0.9)")
    p.add_argument("--max-params", type=float, default=None, help="largest model that fits in memory")
    p.add_argument("--max-tokens", type=float, default=None, help="tokens available (data-limited)")
    p.add_argument("--params", type=float, default=None, help="a fixed model size N")
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser("target", help="smallest compute that reaches a loss with a given probability")
    _fit_arg(p)
    p.add_argument("--loss", type=float, nargs="+", required=True, help="target loss(es)")
    p.add_argument("--target-prob", "--p", dest="target_prob", type=float, nargs="+", default=[0.9],
                   help="required probability P(L <= loss) (default 0.9)")
    p.add_argument("--max-params", type=float, default=None)
    p.add_argument("--max-tokens", type=float, default=None)
    p.set_defaults(func=_cmd_target)

    p = sub.add_parser("compare-models", help="rank fits of the same runs by PSIS-LOO")
    p.add_argument("fits", nargs="+", help="two or more fit files of the same data")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=_cmd_compare_models)

    p = sub.add_parser("demo", help="fit the Chinchilla law to the bundled default data and show the answers")
    p.add_argument("--out", default="bayes_scaling_demo.nc", help="where to save the demo fit")
    _sampler_args(p)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("backtest", help="fit on part of the runs, predict the held-out rest; score the posterior "
                                        "and baselines (RMSLE, interval coverage, log predictive density)")
    p.add_argument("data", help="CSV path, or the name of a registered dataset (e.g. epoch_chinchilla)")
    p.add_argument("--spec", default="chinchilla", help="shipped spec name or TOML path (default: chinchilla)")
    p.add_argument("--holdout", default=None,
                   help="compute:0.2 (top 20%% by compute; default), params:>1e9 (threshold), tokens:half (x > x_max/2 per task)")
    p.add_argument("--split", default=None, help="a registered dataset's split to use (to train on, with --split-test)")
    p.add_argument("--split-test", default=None, help="a registered dataset's split to predict instead of a holdout (e.g. extrapolate)")
    p.add_argument("--domain", nargs="+", default=None, help="keep only the runs of these domains")
    p.add_argument("--columns", default="", help="rename columns, e.g. 'Model Size=params,Training FLOP=compute'")
    p.add_argument("--drop-outliers", action="store_true", help="apply the dataset's published outlier rule")
    _pooling_args(p)
    p.add_argument("--discrepancy", nargs="?", const=True, default=False, metavar="RULE",
                   help="also score the posterior with an out-of-sample discrepancy learned by a nested backtest "
                        "inside the training runs (RULE: its split; default the same rule as --holdout)")
    p.add_argument("--baselines", action="store_true", help="also score Huber + bootstrap (Chinchilla) or M4 (learning curves)")
    p.add_argument("--resamples", type=int, default=200, help="bootstrap resamples of the baseline (default 200)")
    p.add_argument("--levels", type=float, nargs="+", default=[0.5, 0.8, 0.9, 0.95], help="interval masses scored")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    _sampler_args(p)
    p.set_defaults(func=_cmd_backtest)

    p = sub.add_parser("calibrate", help="simulation-based calibration: refit simulated data sets and check that the "
                                         "intervals cover the truth")
    p.add_argument("--spec", default="chinchilla", help="a spec with every parameter shared (default: chinchilla)")
    p.add_argument("--n", type=int, default=50, help="simulated data sets (default 50)")
    p.add_argument("--truth", default="prior", help="'prior' (default), 'epoch' (Epoch's estimates, fixed) or a fit file")
    p.add_argument("--design", default=None,
                   help="CSV or registered dataset whose N and D are the design (default: chinchilla_sim's IsoFLOP design)")
    p.add_argument("--compute", type=float, default=CHINCHILLA_COMPUTE, help="budget of the D*/N* check (FLOPs)")
    p.add_argument("--levels", type=float, nargs="+", default=[0.5, 0.8, 0.9], help="interval masses checked")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    _sampler_args(p)
    p.set_defaults(func=_cmd_calibrate, draws=500, tune=500, chains=2)

    from .report import DEFAULT_COMPUTE as REPORT_COMPUTE
    from .report import FIGURE_KINDS

    p = sub.add_parser("plot", help="draw a figure of a fit (scaling curve, IsoFLOPs, frontier, forest, group curves)")
    p.add_argument("fit", help="a fit file written by 'bayes-scaling fit'")
    p.add_argument("--kind", required=True, choices=FIGURE_KINDS, help="which figure")
    p.add_argument("--out", required=True, help="image to write (PNG; any suffix matplotlib knows)")
    p.add_argument("--param", default=None, help="forest: the parameter (default: every one that varies by group)")
    p.add_argument("--compute", type=float, nargs="+", default=None,
                   help="isoflop: the budgets; frontier, curve: budgets the x range must reach (FLOPs)")
    p.add_argument("--prob", type=float, default=DEFAULT_PROB, help=f"interval mass (default {DEFAULT_PROB})")
    _level_arg(p)
    p.set_defaults(func=_cmd_plot, json=False)

    p = sub.add_parser("report", help="write a Markdown report with a LaTeX table (and figures) of a fit, for a paper")
    p.add_argument("fit", help="a fit file written by 'bayes-scaling fit'")
    p.add_argument("--out", required=True, help="the Markdown file; the LaTeX table (.tex) and figures go beside it")
    p.add_argument("--compute", type=float, nargs="+", default=list(REPORT_COMPUTE),
                   help="budgets (FLOPs) for N*, D*, D*/N* (default 1e21 5.88e23 1e25)")
    p.add_argument("--figures", action="store_true", help="draw the figures as PNG files beside the report and link them")
    p.add_argument("--prob", type=float, default=DEFAULT_PROB, help=f"interval mass (default {DEFAULT_PROB})")
    p.set_defaults(func=_cmd_report, json=False)

    p = sub.add_parser("sweep", help="run a grid of fits or backtests (datasets x specs x pooling x priors x holdouts "
                                     "x seeds) on Dask workers; a restart skips finished jobs")
    p.add_argument("sweep_file", help="the grid, a TOML file (see sweeps/*.toml)")
    p.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler, e.g. tcp://host:8786 "
                                                     "(default: a local cluster)")
    p.add_argument("--workers", type=int, default=None, help="workers of the local cluster (default: one per core)")
    p.add_argument("--results", default=None, help="folder of the results (default: <sweep file name>-results)")
    p.add_argument("--serial", action="store_true", help="run the jobs one after another in this process (no Dask)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=_cmd_sweep)
    return parser


def _pooling_args(p: argparse.ArgumentParser) -> None:
    """The spec overrides that :func:`_spec_from` reads: --pool and --noise-pool."""
    p.add_argument("--pool", default="", help="override pooling, e.g. 'alpha=domain,beta=domain,e=task'")
    p.add_argument("--noise-pool", default=None, choices=NOISE_LEVELS,
                   help="one noise scale for all runs, or one per domain or task (default: the spec's)")


def _sampler_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--backend", default=DEFAULT_BACKEND, choices=BACKENDS)


def _level_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--level", default=None, choices=("shared", "domain", "task"),
                   help="answer per group at this level (default: the finest level the fit varies at)")


def _fit_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("fit", help="a fit file written by 'bayes-scaling fit'")
    p.add_argument("--prob", type=float, default=DEFAULT_PROB, help=f"interval mass (default {DEFAULT_PROB})")
    p.add_argument("--json", action="store_true", help="print one JSON document")


def _read_data(source: str, columns: str, drop_outliers: bool, split: str | None = None) -> Runs:
    if Path(source).is_file():
        if split:
            raise InputError("--split applies to registered datasets, not to CSV files")
        return read_runs(source, columns=_mapping(columns))
    if source in datasets.registry():
        return datasets.load(source, drop_outliers=drop_outliers, split=split)
    raise InputError(f"'{source}' is neither a CSV file nor a registered dataset ({', '.join(datasets.registry())})")


def _mapping(text: str) -> dict[str, str]:
    pairs = [item for item in text.split(",") if item.strip()]
    try:
        return {k.strip(): v.strip() for k, v in (item.split("=", 1) for item in pairs)}
    except ValueError:
        raise InputError(f"--columns must look like 'Old Name=params,Other=loss', got {text!r}") from None


def _fit_from(args: argparse.Namespace, runs: Runs, spec: ModelSpec) -> Fit:
    progress = sys.stderr.isatty()
    print(f"fitting '{spec.name}' to {len(runs)} runs from {runs.source} "
          f"({args.chains} chains x {args.draws} draws, backend {args.backend})...", file=sys.stderr)
    return fit(runs, spec, backend=args.backend, draws=args.draws, tune=args.tune, chains=args.chains,
               seed=args.seed, progressbar=progress)


def _spec_from(args: argparse.Namespace) -> ModelSpec:
    """The spec named by --spec with the --pool and --noise-pool overrides."""
    spec = load_spec(args.spec)
    if args.pool:
        spec = spec.with_pooling(**parse_pooling(args.pool))
    if args.noise_pool:
        spec = replace(spec, noise_pooling=args.noise_pool)
    return spec


def _cmd_fit(args: argparse.Namespace) -> int:
    spec = _spec_from(args)
    runs = _read_data(args.data, args.columns, args.drop_outliers, args.split)
    result = _fit_from(args, runs, spec)
    path = result.save(args.out)
    print(format_summary(result))
    print(f"saved {path}")
    return 0


def _load(args: argparse.Namespace) -> Fit:
    result = load_fit(args.fit)
    if not args.json:
        for problem in result.diagnostics.problems:
            print(f"WARNING: {problem}", file=sys.stderr)
    return result


def _json(document: dict) -> None:
    print(json.dumps(document, indent=2, default=_to_builtin))


def _to_builtin(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(type(value).__name__)


def _header(result: Fit) -> dict:
    return {"spec": result.spec.name, "law": result.law.formula, "runs": len(result.runs),
            "data_sha256": result.runs.digest, "diagnostics": result.diagnostics.to_dict(),
            "warnings": list(result.diagnostics.problems)}


def _records(table: pd.DataFrame) -> list[dict]:
    return table.to_dict(orient="records")


def _cmd_summary(args: argparse.Namespace) -> int:
    result = _load(args)
    if args.json:
        table = result.summary(args.prob)
        _json({**_header(result), "prob": args.prob, "parameters": table.to_dict(orient="index")})
    else:
        print(format_summary(result, args.prob))
    return 0


def _cmd_optimal(args: argparse.Namespace) -> int:
    result = _load(args)
    table = interval_table(result.optimal(args.compute, args.method, args.level), args.prob)
    if args.json:
        _json({**_header(result), "prob": args.prob, "optimal": _records(table)})
    else:
        print(_wide(table, "compute", args.prob))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    result = _load(args)
    pred = result.predict(params=args.params, tokens=args.tokens, compute=args.compute, level=args.level)
    table = interval_table(pred, args.prob)
    for name in ("params", "tokens", "compute"):
        if name in pred.coords:
            table[name] = pred[name].values[table["point"].to_numpy()]
    if args.json:
        _json({**_header(result), "prob": args.prob, "predictions": _records(table)})
    else:
        print(f"loss_mean: credible interval of the law's loss; loss_pred: predictive interval of one run ({args.prob:.0%})")
        print(table.drop(columns=["point"]).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def _wide(table: pd.DataFrame, by: str, prob: float) -> str:
    keys = [by] + [c for c in ("domain", "task") if c in table.columns]
    frame = table.rename(columns={"variable": "quantity", "lower": f"{prob:.0%} low", "upper": f"{prob:.0%} high"})
    frame = frame[keys + ["quantity", "median", f"{prob:.0%} low", f"{prob:.0%} high"]]
    frame = frame.sort_values(keys, kind="stable")
    return frame.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def _cmd_compare(args: argparse.Namespace) -> int:
    result = _load(args)
    table = compare(result, args.param, by=args.by, prob=args.prob)
    if args.json:
        _json({**_header(result), "prob": args.prob, "comparisons": _records(table)})
        return 0
    print(f"{args.param} by {args.by}: posterior of group - other and group / other ({args.prob:.0%} intervals), "
          f"{table.attrs['draws']} draws")
    for row in table.itertuples():
        ratio = (f"; ratio {row.ratio_median:.4g} [{row.ratio_lower:.4g}, {row.ratio_upper:.4g}]"
                 if hasattr(row, "ratio_median") and np.isfinite(row.ratio_median) else "")
        print(f"{row.group} - {row.other}: {row.diff_median:+.4g} [{row.diff_lower:+.4g}, {row.diff_upper:+.4g}]; "
              f"P({args.param}[{row.group}] > {args.param}[{row.other}]) = {row.p_greater:.3f}{ratio}")
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    result = _load(args)
    ds = plan(result, args.budget, objective=args.objective, q=args.q, max_params=args.max_params,
              max_tokens=args.max_tokens, params=args.params)
    if args.json:
        table = interval_table(ds[["loss"]], args.prob)
        choice = ds[["params", "tokens", "ratio", "objective"]].to_dataframe().reset_index()
        _json({**_header(result), "prob": args.prob, "objective": args.objective, "q": args.q,
               "plan": _records(choice), "loss": _records(table)})
    else:
        print(format_plan(ds, args.prob))
    return 0


def _cmd_target(args: argparse.Namespace) -> int:
    result = _load(args)
    ds = compute_for_target(result, args.loss, prob=args.target_prob, max_params=args.max_params,
                            max_tokens=args.max_tokens)
    if args.json:
        table = ds[["budget", "params", "tokens", "ratio"]].to_dataframe().reset_index()
        _json({**_header(result), "targets": _records(table)})
    else:
        print(format_target(ds))
    return 0


def _cmd_compare_models(args: argparse.Namespace) -> int:
    fits = {}
    for path in args.fits:
        result = load_fit(path)
        fits[Path(path).stem if Path(path).stem not in fits else path] = result
    table = compare_models(fits)
    for warning in table.attrs["warnings"]:
        print(f"WARNING: {warning}", file=sys.stderr)
    if args.json:
        _json({"comparison": table.reset_index(names="model").to_dict(orient="records"),
               "warnings": table.attrs["warnings"]})
        return 0
    shown = table[[c for c in ("rank", "elpd", "se", "p", "elpd_diff", "dse", "weight", "n_high_k") if c in table]]
    print("PSIS-LOO, best first (elpd on log loss; higher is better):")
    print(shown.to_string(float_format=lambda v: f"{v:.4g}"))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    if datasets.available("epoch_chinchilla"):
        runs = datasets.load("epoch_chinchilla", drop_outliers=True)
        note = "Epoch AI's 240 digitised Chinchilla runs (found locally)"
    else:
        runs = datasets.load("chinchilla_sim")
        note = ("the bundled simulation 'chinchilla_sim' (Chinchilla-like runs from Epoch's fit); "
                f"set ${datasets.ENV_MIRROR} to a mirror holding epoch_chinchilla for the real data")
    print(f"demo data: {note}")
    result = _fit_from(args, runs, load_spec("chinchilla"))
    print(format_summary(result, 0.8))
    print("\ncompute-optimal allocation (80% intervals):")
    print(_wide(interval_table(result.optimal(DEMO_COMPUTE), 0.8), "compute", 0.8))
    pred = interval_table(result.predict(params=70e9, tokens=1.4e12), 0.8).set_index("variable")
    print(f"\nChinchilla itself (N=70e9, D=1.4e12): law loss {pred.loc['loss_mean', 'median']:.4f} "
          f"[{pred.loc['loss_mean', 'lower']:.4f}, {pred.loc['loss_mean', 'upper']:.4f}], a new run "
          f"[{pred.loc['loss_pred', 'lower']:.4f}, {pred.loc['loss_pred', 'upper']:.4f}] (80%)")
    print(f"saved {result.save(args.out)}  (try: bayes-scaling optimal {args.out} --compute 1e24)")
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from .report import figure, save_figure

    if args.param is not None and args.kind != "forest":
        raise InputError(f"--param applies to --kind forest, not {args.kind}")
    if not Path(args.out).resolve().parent.is_dir():
        raise InputError(f"cannot write {args.out}: no such directory")
    result = _load(args)
    fig = figure(result, args.kind, param=args.param, level=args.level, prob=args.prob, compute=args.compute)
    print(f"wrote {save_figure(fig, args.out)}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from .report import write_report

    if not Path(args.out).resolve().parent.is_dir():
        raise InputError(f"cannot write {args.out}: no such directory")
    result = _load(args)
    written = write_report(result, args.out, compute=args.compute, prob=args.prob, figures=args.figures,
                           fit_path=args.fit)
    if result.diagnostics.problems:
        print("WARNING: the report says so at the top: the sampler did not converge", file=sys.stderr)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _cmd_backtest(args: argparse.Namespace) -> int:
    from .backtest import backtest, take

    spec = _spec_from(args)
    if args.split_test:
        if args.holdout:
            raise InputError("--holdout and --split-test are alternatives: give one")
        data: Runs | tuple[Runs, Runs] = tuple(_read_data(args.data, args.columns, args.drop_outliers, s)
                                               for s in (args.split, args.split_test))
    else:
        data = _read_data(args.data, args.columns, args.drop_outliers, args.split)
    if args.domain:
        parts = data if isinstance(data, tuple) else (data,)
        parts = tuple(take(r, r.table["domain"].isin(args.domain)) for r in parts)
        if any(len(r) == 0 for r in parts):
            raise InputError(f"no runs in domain(s) {args.domain}")
        data = parts if isinstance(data, tuple) else parts[0]
    print(f"backtest of '{spec.name}' on {args.data} ({args.chains} chains x {args.draws} draws"
          f"{', with baselines' if args.baselines else ''})...", file=sys.stderr)
    result = backtest(data, spec, holdout=args.holdout, baselines=args.baselines, levels=args.levels,
                      draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed, backend=args.backend,
                      n_resamples=args.resamples, discrepancy=args.discrepancy)
    problems = list(result.fit.diagnostics.problems)
    if args.json:
        _json({**result.to_dict(), "warnings": problems})
        return 0
    for problem in problems:
        print(f"WARNING: {problem}")
    print(f"holdout {result.holdout}: {len(result.train)} training runs, {len(result.test)} held out")
    if result.discrepancy is not None:
        print(f"discrepancy learned by the nested backtest: sd {result.discrepancy:.4g} on log loss")
    shown = ["method", "rmsle"] + [c for c in result.metrics.columns if c.startswith("coverage_") and "task" not in c]
    shown += ["calibration_error", "mlpd"]
    if result.metrics["n_tasks"].max() > 1:
        shown += ["rmsle_task_mean", "mlpd_task_mean", "calibration_error_task_mean"]
    print(result.metrics[shown].to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-"))
    print("mlpd: mean log predictive density of log loss; coverage: observed share inside the central predictive interval")
    for note in result.notes:
        print(f"note: {note}")
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from .calibrate import calibrate
    from .simulate import EPOCH_PARAMS

    if args.truth == "prior":
        truth: object = "prior"
    elif args.truth == "epoch":
        truth = EPOCH_PARAMS
    elif Path(args.truth).is_file():
        truth = load_fit(args.truth)
    else:
        raise InputError(f"--truth must be 'prior', 'epoch' or a fit file, got {args.truth!r}")
    design = None if args.design is None else _read_data(args.design, "", False).table
    result = calibrate(args.spec, design, n_datasets=args.n, truth=truth, compute=args.compute, levels=args.levels,
                       seed=args.seed, draws=args.draws, tune=args.tune, chains=args.chains, backend=args.backend,
                       progress=True)
    if args.json:
        _json(result.to_dict())
        return 0
    print(f"{result.n_datasets} simulated data sets (truth: {result.truth}; {result.n_rejected} rejected by the loss "
          f"guard; {result.n_unconverged} refits with sampler warnings); coverage of the central intervals:")
    table = result.coverage.pivot(index="quantity", columns="level", values="coverage")
    table = table.reindex(result.coverage["quantity"].unique())
    print(table.rename(columns=lambda p: f"{p:.0%}").to_string(float_format=lambda v: f"{v:.2f}"))
    print("SBC rank histogram (counts per bin of the normalised rank; p_uniform: chi-square test):")
    print(result.histogram.to_string(float_format=lambda v: f"{v:.3g}"))
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from .sweep import format_sweep, jobs_from_toml, sweep, validate_job

    jobs = jobs_from_toml(args.sweep_file)
    for job in jobs:  # before anything starts
        validate_job(job)
    results = args.results or f"{Path(args.sweep_file).stem}-results"
    print(f"sweep: {len(jobs)} jobs from {args.sweep_file}; results in {results}", file=sys.stderr)
    table = sweep(jobs, scheduler=args.scheduler, n_workers=args.workers, results_dir=results, serial=args.serial,
                  progress=lambda state: print(f"sweep: {state}", file=sys.stderr, flush=True))
    if args.json:
        _json({"results": str(results), "jobs": _records(table.astype(object).where(table.notna(), None))})
    else:
        print(format_sweep(table))
    failed = int((table["status"] != "ok").sum())
    if failed:
        print(f"sweep: {failed} of {len(table)} jobs failed (see their 'error'); run it again to retry them",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
