"""Commands that sample: ``fit``, ``demo``, ``backtest``, ``calibrate`` and ``sweep``; and ``drop-chains``,
which writes a fit again without chains stuck in a local mode.

A command that saves checks its output path before it samples, and saves atomically, so a failed,
killed or interrupted fit leaves any previous file as it was.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .. import defaults
from ..errors import InputError
from .common import (
    data_args,
    not_an_input,
    pooling_args,
    positive_float,
    positive_int,
    print_json,
    probability,
    read_data,
    records,
    sampler_args,
    spec_from,
    stop_if_interrupted,
    wide,
)

if TYPE_CHECKING:
    from ..data.runs import Runs
    from ..result.fit import Fit
    from ..spec import ModelSpec


def register(sub: argparse._SubParsersAction) -> None:
    """Add the sampling commands to the parser."""
    p = sub.add_parser("fit", help="fit a scaling law to a CSV of runs (or a registered dataset) and save the posterior")
    data_args(p)
    p.add_argument("--out", required=True, help="where to write the fit (NetCDF)")
    p.add_argument("--split", default=None, help="a registered dataset's split to fit (e.g. fit)")
    p.add_argument("--keep-partial", action="store_true",
                   help="on Ctrl-C, save the draws taken so far, marked as an interrupted fit (default: save nothing)")
    p.add_argument("--compute", type=positive_float, nargs="+", default=None,
                   help="also print the compute-optimal N*, D*, D*/N*, L* at these budgets in FLOPs (as 'optimal' "
                        f"does, {defaults.DEFAULT_PROB:.0%}% intervals), without a second process")
    p.add_argument("--unique-tokens", type=positive_float, default=None,
                   help="with --compute: the unique data available (data-constrained law), as in 'optimal'")
    p.add_argument("--json", action="store_true",
                   help="print one JSON document (diagnostics, parameters, the allocation with --compute, the saved path)")
    pooling_args(p)
    sampler_args(p, target_accept=True)
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("drop-chains", help="write a fit again without some chains (one stuck in a local mode), "
                                           "its diagnostics computed from the rest and the drop on record")
    p.add_argument("fit", help="a fit file written by 'bayes-scaling fit'")
    p.add_argument("--chains", type=int, nargs="+", required=True, help="labels of the chains to drop (e.g. 1)")
    p.add_argument("--out", required=True, help="where to write the fit without them (NetCDF; may be the same file)")
    p.add_argument("--json", action="store_true", help="print one JSON document (diagnostics, the saved path)")
    p.set_defaults(func=cmd_drop_chains)

    p = sub.add_parser("demo", help="fit the Chinchilla law to the bundled default data and show the answers")
    p.add_argument("--out", default="bayes_scaling_demo.nc", help="where to save the demo fit")
    sampler_args(p, target_accept=True)
    p.set_defaults(func=cmd_demo, keep_partial=False, target_accept=defaults.DEMO_TARGET_ACCEPT)

    _backtest_parser(sub)
    p = sub.add_parser("calibrate", help="simulation-based calibration: refit simulated data sets and check that the "
                                         "intervals cover the truth")
    p.add_argument("--spec", default="chinchilla", help="a spec with every parameter shared (default: chinchilla)")
    p.add_argument("--n", type=positive_int, default=50, help="simulated data sets (default 50)")
    p.add_argument("--truth", default="prior", help="'prior' (default), 'epoch' (Epoch's estimates, fixed) or a fit file")
    p.add_argument("--design", default=None,
                   help="CSV or registered dataset whose N and D are the design (default: chinchilla_sim's IsoFLOP design)")
    p.add_argument("--compute", type=float, default=defaults.CHINCHILLA_COMPUTE, help="budget of the D*/N* check (FLOPs)")
    p.add_argument("--levels", type=probability, nargs="+", default=[0.5, 0.8, 0.9], help="interval masses checked")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    sampler_args(p)
    p.set_defaults(func=cmd_calibrate, draws=500, tune=500, chains=2)

    p = sub.add_parser("sweep", help="run a grid of fits or backtests (datasets x specs x pooling x priors x holdouts "
                                     "x seeds) on Dask workers; a restart skips finished jobs")
    p.add_argument("sweep_file", help="the grid, a TOML file (see sweeps/*.toml)")
    p.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler, e.g. tcp://host:8786 "
                                                     "(default: a local cluster)")
    p.add_argument("--workers", type=positive_int, default=None, help="workers of the local cluster (default: one per core)")
    p.add_argument("--results", default=None, help="folder of the results (default: <sweep file name>-results)")
    p.add_argument("--serial", action="store_true", help="run the jobs one after another in this process (no Dask)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=cmd_sweep)


def _backtest_parser(sub: argparse._SubParsersAction) -> None:
    """The ``backtest`` command's arguments."""
    p = sub.add_parser("backtest", help="fit on part of the runs, predict the held-out rest; score the posterior "
                                        "and baselines (RMSLE, interval coverage, log predictive density)")
    data_args(p)
    p.add_argument("--holdout", default=None,
                   help="compute:0.2 (top 20%% by compute; default), params:>1e9 (threshold), tokens:half (x > x_max/2 "
                        "per task), tokens:tail0.3 (the last 30%% of x of each curve)")
    p.add_argument("--split", default=None, help="a registered dataset's split to use (to train on, with --split-test)")
    p.add_argument("--split-test", default=None, help="a registered dataset's split to predict instead of a holdout (e.g. extrapolate)")
    p.add_argument("--domain", nargs="+", default=None, help="keep only the runs of these domains")
    pooling_args(p)
    p.add_argument("--discrepancy", nargs="?", const=True, default=False, metavar="RULE",
                   help="also score the posterior with an out-of-sample discrepancy learned by a nested backtest "
                        "inside the training runs (RULE: its split; default the same rule as --holdout)")
    p.add_argument("--baselines", action="store_true", help="also score Huber + bootstrap (Chinchilla) or M4 (learning curves)")
    p.add_argument("--resamples", type=positive_int, default=None, help="bootstrap resamples of the baseline (default 200)")
    p.add_argument("--levels", type=probability, nargs="+", default=[0.5, 0.8, 0.9, 0.95], help="interval masses scored")
    p.add_argument("--save", default=None, metavar="CSV",
                   help="also write the per-run rows (method, median, pit, lpd, interval bounds) as a CSV, "
                        "for 'bayes-scaling plot CSV --kind pit'")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    sampler_args(p)
    p.set_defaults(func=cmd_backtest)


def fit_from(args: argparse.Namespace, runs: Runs, spec: ModelSpec) -> Fit:
    """Sample the posterior with the command's sampler options."""
    from ..result.estimator import fit

    stop_if_interrupted("sampling")
    from ..data.requirements import require_runs, require_sizes
    from ..model import check_groups

    for name in spec.law_obj.inputs:  # refusals are the one line of an error, before any progress line
        runs.column(name)
    require_runs(runs, spec.law_obj.n_parameters, spec.law_obj.name)
    require_sizes(runs, spec.law_obj.inputs, spec.law_obj.name)
    check_groups(runs, spec)
    progress = sys.stderr.isatty()
    print(f"fitting '{spec.name}' to {len(runs)} runs from {runs.source} "
          f"({args.chains} chains x {args.draws} draws, backend {args.backend})...", file=sys.stderr)
    return fit(runs, spec, backend=args.backend, draws=args.draws, tune=args.tune, chains=args.chains,
               seed=args.seed, target_accept=args.target_accept, progressbar=progress,
               keep_partial=args.keep_partial)


def cmd_fit(args: argparse.Namespace) -> int:
    from ..result.storage import check_writable

    check_writable(args.out)
    not_an_input(args.out, args.data)
    spec = spec_from(args)
    if args.compute and not spec.law_obj.has_allocation:  # refused before sampling: nothing is written
        from ..laws.allocation import no_allocation

        raise InputError(f"--compute: {no_allocation(spec.law_obj)}; fit without --compute")
    if args.unique_tokens is not None and not args.compute:
        raise InputError("--unique-tokens answers the allocation of --compute: give --compute too")
    if args.unique_tokens is not None and "unique_tokens" not in spec.law_obj.inputs:
        raise InputError(f"--unique-tokens: the '{spec.law_obj.name}' law has no unique-data input; "
                         "use --spec data_constrained")
    runs = read_data(args.data, args.columns, args.drop_outliers, args.split, spec.law_obj.inputs)
    if args.compute:  # the budgets' refusals come before sampling, not after it
        from ..data.reach import check_budget
        from ..laws.allocation import unique_input

        check_budget(runs, args.compute)
        unique_input(spec.law_obj, args.unique_tokens)
        if len(set(args.compute)) != len(args.compute):
            raise InputError(f"--compute budgets must differ from each other, got {args.compute}")
    result = fit_from(args, runs, spec)
    if not args.keep_partial:  # a kept partial fit is saved, marked as interrupted
        stop_if_interrupted("saving")
    compute = args.compute if result.settings.draws_done is None else None
    if args.compute and compute is None:
        print("note: an interrupted fit gives no allocation for --compute", file=sys.stderr)
    # The answers are made before the save, so that once the file is written only printing is left.
    output = (_fit_json(result, compute, args.unique_tokens) if args.json
              else _fit_text(result, compute, args.unique_tokens))
    path = result.save(args.out)
    if args.json:
        print_json({**output, "saved": str(path)})
    else:
        print(output)
        print(f"saved {path}")
    return 0


def _fit_text(result: Fit, compute: list[float] | None, unique_tokens: float | None) -> str:
    """The summary, and the compute-optimal allocation at ``compute`` as the ``optimal`` command prints it."""
    from ..present.text import format_summary
    from .answers import optimal_text

    text = format_summary(result)
    if compute:
        table = optimal_text(result.optimal(compute, unique_tokens=unique_tokens), defaults.DEFAULT_PROB,
                             result.spec.discrepancy)
        text += f"\n\ncompute-optimal allocation ({defaults.DEFAULT_PROB:.0%} intervals):\n{table}"
    return text


def _fit_json(result: Fit, compute: list[float] | None, unique_tokens: float | None) -> dict:
    """The fit as ``summary --json`` gives it, with ``optimal --json``'s answer at ``compute``."""
    from .answers import optimal_fields, summary_document

    doc = summary_document(result, defaults.DEFAULT_PROB)
    if compute:
        ds = result.optimal(compute, unique_tokens=unique_tokens)
        doc.update(optimal_fields(ds, defaults.DEFAULT_PROB, doc["warnings"]))
    return doc


def cmd_drop_chains(args: argparse.Namespace) -> int:
    from ..result.fitfile import load_fit
    from ..result.storage import check_writable
    from .common import header

    check_writable(args.out)
    kept = load_fit(args.fit).drop_chains(args.chains)
    path = kept.save(args.out)
    if args.json:
        print_json({**header(kept), "saved": str(path)})
        return 0
    print(str(kept.diagnostics))
    print(f"saved {path}")
    args.after = [f"WARNING: {p}" for p in kept.diagnostics.problems]
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ..data import datasets
    from ..present.text import format_summary
    from ..result.intervals import interval_table
    from ..result.storage import check_writable
    from ..spec import load_spec

    check_writable(args.out)
    if datasets.available("epoch_chinchilla"):
        runs = datasets.load("epoch_chinchilla", drop_outliers=True)
        note = "Epoch AI's 240 digitised Chinchilla runs (found locally)"
    else:
        runs = datasets.load("chinchilla_sim")
        note = ("the bundled simulation 'chinchilla_sim' (Chinchilla-like runs from Epoch's fit); "
                f"set ${datasets.ENV_MIRROR} to a mirror holding epoch_chinchilla for the real data")
    print(f"demo data: {note}")
    result = fit_from(args, runs, load_spec("chinchilla"))
    stop_if_interrupted("saving")
    print(format_summary(result, 0.8))
    print("\ncompute-optimal allocation (80% intervals):")
    print(wide(interval_table(result.optimal(defaults.REPORT_COMPUTE), 0.8), "compute", 0.8))
    pred = interval_table(result.predict(params=70e9, tokens=1.4e12), 0.8).set_index("variable")
    print(f"\nChinchilla itself (N=70e9, D=1.4e12): law loss {pred.loc['loss_mean', 'median']:.4f} "
          f"[{pred.loc['loss_mean', 'lower']:.4f}, {pred.loc['loss_mean', 'upper']:.4f}], a new run "
          f"[{pred.loc['loss_pred', 'lower']:.4f}, {pred.loc['loss_pred', 'upper']:.4f}] (80%)")
    print(f"saved {result.save(args.out)}  (try: bayes-scaling optimal {args.out} --compute 1e24)")
    return 0


def _backtest_data(args: argparse.Namespace, inputs: tuple[str, ...]) -> Runs | tuple[Runs, Runs]:
    from ..validation.splits import take

    if args.split_test:
        if args.holdout:
            raise InputError("--holdout and --split-test are alternatives: give one")
        data: Runs | tuple[Runs, Runs] = tuple(read_data(args.data, args.columns, args.drop_outliers, s, inputs)
                                               for s in (args.split, args.split_test))
    else:
        data = read_data(args.data, args.columns, args.drop_outliers, args.split, inputs)
    if args.domain:
        parts = data if isinstance(data, tuple) else (data,)
        parts = tuple(take(r, r.table["domain"].isin(args.domain)) for r in parts)
        if any(len(r) == 0 for r in parts):
            raise InputError(f"no runs in domain(s) {args.domain}")
        data = parts if isinstance(data, tuple) else parts[0]
    return data


def cmd_backtest(args: argparse.Namespace) -> int:
    from ..data.requirements import require_sizes
    from ..model import check_groups
    from ..result.storage import atomic_path, check_writable
    from ..validation.backtest import backtest
    from ..validation.splits import DEFAULT_HOLDOUT, check_split, split_holdout

    if args.resamples is not None and not args.baselines:
        raise InputError("--resamples sets the baselines' bootstrap: give --baselines too")
    spec = spec_from(args)
    data = _backtest_data(args, spec.law_obj.inputs)
    if args.save:
        check_writable(args.save)
        not_an_input(args.save, args.data, option="--save")
    if isinstance(data, tuple):  # refuse a bad split before the status line and the sampler
        check_split(*data, spec, "the given split")
        train = data[0]
    else:
        train = split_holdout(data, args.holdout or DEFAULT_HOLDOUT, spec)[0]
    require_sizes(train, spec.law_obj.inputs, spec.law_obj.name)
    check_groups(train, spec)
    print(f"backtest of '{spec.name}' on {args.data} ({args.chains} chains x {args.draws} draws"
          f"{', with baselines' if args.baselines else ''})...", file=sys.stderr)
    result = backtest(data, spec, holdout=args.holdout, baselines=args.baselines, levels=args.levels,
                      draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed, backend=args.backend,
                      n_resamples=200 if args.resamples is None else args.resamples, discrepancy=args.discrepancy,
                      structural=getattr(args, "structural", None))
    if args.save:
        with atomic_path(args.save) as temp:
            result.per_run.to_csv(temp, index=False)
    problems = list(result.fit.diagnostics.problems)
    if args.json:
        print_json({**result.to_dict(), "warnings": problems})
        return 0
    for problem in problems:
        print(f"WARNING: {problem}")
    print(f"holdout {result.holdout}: {len(result.train)} training runs, {len(result.test)} held out")
    if result.discrepancy is not None:
        print(f"discrepancy learned by the nested backtest: sd {result.discrepancy:.4g} on log loss")
    shown = ["method", "rmsle"] + [c for c in result.metrics.columns
                                   if c.startswith("coverage_") and "task" not in c and c != "coverage_error"]
    shown += ["coverage_error", "mlpd"]
    if result.metrics["n_tasks"].max() > 1:
        shown += ["rmsle_task_mean", "mlpd_task_mean", "coverage_error_task_mean"]
    print(result.metrics[shown].to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-"))
    print("mlpd: mean log predictive density of log loss; coverage: observed share inside the central predictive "
          "interval; coverage_error: mean |coverage - nominal| over the levels")
    for note in result.notes:
        print(f"note: {note}")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from ..result.fitfile import load_fit
    from ..validation.calibrate import calibrate
    from ..validation.simulate import EPOCH_PARAMS

    if args.truth == "prior":
        truth: object = "prior"
    elif args.truth == "epoch":
        truth = EPOCH_PARAMS
    elif Path(args.truth).is_file():
        truth = load_fit(args.truth)
    else:
        raise InputError(f"--truth must be 'prior', 'epoch' or a fit file, got {args.truth!r}")
    design = None if args.design is None else read_data(args.design, "", False).table
    result = calibrate(args.spec, design, n_datasets=args.n, truth=truth, compute=args.compute, levels=args.levels,
                       seed=args.seed, draws=args.draws, tune=args.tune, chains=args.chains, backend=args.backend,
                       progress=True)
    if args.json:
        print_json(result.to_dict())
        return 0
    print(f"{result.n_datasets} simulated data sets (truth: {result.truth}; {result.n_rejected} rejected by the loss "
          f"guard; {result.n_unconverged} refits with sampler warnings); coverage of the central intervals:")
    table = result.coverage.pivot(index="quantity", columns="level", values="coverage")
    table = table.reindex(result.coverage["quantity"].unique())
    print(table.rename(columns=lambda p: f"{p:.0%}").to_string(float_format=lambda v: f"{v:.2f}"))
    print("SBC rank histogram (counts per bin of the normalised rank; p_uniform: chi-square test):")
    print(result.histogram.to_string(float_format=lambda v: f"{v:.3g}"))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from ..sweeps.sweep import format_sweep, jobs_from_toml, sweep, validate_job

    jobs = jobs_from_toml(args.sweep_file)
    for job in jobs:  # before anything starts
        validate_job(job)
    results = args.results or f"{Path(args.sweep_file).stem}-results"
    print(f"sweep: {len(jobs)} jobs from {args.sweep_file}; results in {results}", file=sys.stderr)
    table = sweep(jobs, scheduler=args.scheduler, n_workers=args.workers, results_dir=results, serial=args.serial,
                  progress=lambda state: print(f"sweep: {state}", file=sys.stderr, flush=True))
    if args.json:
        print_json({"results": str(results), "jobs": records(table.astype(object).where(table.notna(), None))})
    else:
        print(format_sweep(table))
    failed = int((table["status"] != "ok").sum())
    if failed:
        print(f"sweep: {failed} of {len(table)} jobs failed (see their 'error'); run it again to retry them",
              file=sys.stderr)
        return 1
    return 0
