"""Commands of experiment design: ``design`` (the next runs), ``layout`` (a first sweep) and ``isoflop``
(Approach 2, and its check of a law's frontier)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import (
    header,
    load,
    positive_float,
    print_json,
    prob_arg,
    reach_lines,
    read_data,
    records,
    sampler_args,
)

TARGETS = ("ratio", "params", "loss", "prob")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the design commands to the parser."""
    p = sub.add_parser("design", help="the batch of runs that most shrinks a target's uncertainty within a compute budget")
    p.add_argument("fit", help="a fit file written by 'bayes-scaling fit'")
    p.add_argument("--budget", type=positive_float, required=True, help="FLOPs for the new runs together")
    p.add_argument("--target-compute", type=float, required=True, help="compute of the planned large run")
    p.add_argument("--target", default="ratio", choices=TARGETS, help="what to learn (default: D*/N*)")
    p.add_argument("-k", type=int, default=5, help="largest number of runs (default 5)")
    p.add_argument("--threshold", type=positive_float, default=None, help="target loss (--target prob)")
    p.add_argument("--max-params", type=positive_float, default=None)
    p.add_argument("--max-tokens", type=positive_float, default=None)
    p.add_argument("--min-cost", type=positive_float, default=None, help="cheapest run worth training (FLOPs)")
    p.add_argument("--max-cost", type=positive_float, default=None, help="dearest single run (FLOPs)")
    p.add_argument("--law-exact", action="store_true",
                   help="simulate outcomes that follow the law exactly, without its structural error beyond the data")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=cmd_design)

    p = sub.add_parser("layout", help="a first IsoFLOP sweep: sizes around a published frontier at each budget")
    p.add_argument("--budgets", type=positive_float, nargs="+", required=True, help="IsoFLOP budgets in FLOPs")
    p.add_argument("--per-budget", type=int, default=7, help="model sizes per budget (default 7)")
    p.add_argument("--span", type=float, default=1.0, help="decades of N either side of the centre (default 1)")
    p.add_argument("--max-params", type=positive_float, default=None)
    p.add_argument("--max-tokens", type=positive_float, default=None)
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=cmd_layout)

    p = sub.add_parser("isoflop", help="Approach 2 with a posterior: a parabola per budget, N*(C) and D*(C)")
    p.add_argument("data", help="runs (CSV or registered dataset), or with --check a fit file")
    p.add_argument("--check", action="store_true", help="compare with the fit's law frontier and flag disagreement")
    p.add_argument("--compute", type=positive_float, nargs="+", default=None, help="also extrapolate to these budgets")
    p.add_argument("--split", default=None, help="a registered dataset's split (e.g. llama3)")
    p.add_argument("--columns", default="", help="rename columns of a CSV")
    p.add_argument("--drop-outliers", action="store_true")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    prob_arg(p)
    sampler_args(p)
    p.set_defaults(func=cmd_isoflop)


def cmd_design(args: argparse.Namespace) -> int:
    from ..design import Limits, propose

    result = load(args)
    ds = propose(result, args.budget, args.target_compute, args.target, args.k, args.threshold,
                 Limits(args.max_params, args.max_tokens, args.min_cost, args.max_cost), structural=not args.law_exact)
    table = ds.to_dataframe().reset_index()
    keys = ("current", "expected_after", "reduction", "reduction_per_1e21", "spent", "budget", "target_compute", "unit", "rule")
    if args.json:
        head = header(result)  # its structural error, and whether this design drew outcomes with it (--law-exact: not)
        print_json({**head, "structural": {**head["structural"], "used": bool(ds.attrs["structural"])},
                    "target": args.target, **{k: ds.attrs[k] for k in keys}, "runs": records(table),
                    "reach": ds.attrs["reach"], "target_reach": ds.attrs["target_reach"],
                    "warnings": [*head["warnings"], *ds.attrs["warnings"]]})
        return 0
    reach_lines(ds.attrs)
    a = ds.attrs
    print(f"design for {args.target} at {args.target_compute:.3g} FLOPs: uncertainty {a['current']:.4g} -> "
          f"{a['expected_after']:.4g} expected ({a['unit']}), {a['spent']:.3g} of {a['budget']:.3g} FLOPs spent")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def cmd_layout(args: argparse.Namespace) -> int:
    from ..design import layout

    table = layout(args.budgets, args.per_budget, args.span, max_params=args.max_params, max_tokens=args.max_tokens)
    if args.json:
        print_json({"centre": table.attrs["centre"], "runs": records(table)})
        return 0
    print(f"first IsoFLOP sweep, centred on the frontier of {table.attrs['centre']}:")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def _iso_rows(ds, prob: float) -> list[dict]:
    lo, hi = (1 - prob) / 2, (1 + prob) / 2
    rows = []
    for c in ds["compute"].values:
        row = {"compute": float(c)}
        for name in ("params", "tokens", "ratio"):
            v = ds[name].sel(compute=c)
            row[name] = {"median": float(v.median()), "lower": float(v.quantile(lo)), "upper": float(v.quantile(hi))}
        rows.append(row)
    return rows


def cmd_isoflop(args: argparse.Namespace) -> int:
    from ..design.approach2 import check_frontier, isoflop
    from ..inference import SamplerSettings

    settings = SamplerSettings(args.backend, args.draws, args.tune, args.chains, args.seed, target_accept=0.95)
    fitted = None
    if args.check:
        if not Path(args.data).is_file():
            raise_input(f"--check needs a fit file; {args.data} is not one")
        given = [o for o, v in (("--split", args.split), ("--columns", args.columns), ("--drop-outliers", args.drop_outliers)) if v]
        if given:
            raise_input(f"--check reads the runs the fit was made from; {', '.join(given)} "
                        f"{'applies' if len(given) == 1 else 'apply'} to a table of runs")
        args.fit = args.data
        fitted = load(args)
        runs = fitted.runs
    else:
        runs = read_data(args.data, args.columns, args.drop_outliers, args.split)
    ds = isoflop(runs, args.compute, sampler=settings)
    a = ds["a"]
    lo, hi = (1 - args.prob) / 2, (1 + args.prob) / 2
    exponent = {"median": float(a.median()), "lower": float(a.quantile(lo)), "upper": float(a.quantile(hi))}
    doc = {"a": exponent, "n_runs": ds.attrs["n_runs"], "budgets_dropped": ds.attrs["budgets_dropped"],
           "diagnostics": ds.attrs["diagnostics"], "optimum": _iso_rows(ds, args.prob)}
    check = check_frontier(fitted, ds, args.prob) if fitted is not None else None
    warnings = [f"isoflop sampler: {p}" for p in ds.attrs["diagnostics"]]
    if fitted is not None and args.json:  # the text mode prints the fit's own problems after the answer
        warnings += [f"the fit: {p}" for p in fitted.diagnostics.problems]
    if check is not None:
        warnings += check.attrs["warnings"]
        warnings += [f"the law's N* and Approach 2's disagree at {c:.3g} FLOPs (P(law larger) = {p:.2f})"
                     for c, p, d in zip(check["compute"], check["p_law_larger"], check["disagrees"], strict=True) if d]
    if args.json:
        print_json({**doc, "check": records(check) if check is not None else None, "warnings": warnings})
        return 0
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)
    print(f"Approach 2 on {ds.attrs['n_runs']} runs: N* ∝ C^a with a = {exponent['median']:.4f} "
          f"[{exponent['lower']:.4f}, {exponent['upper']:.4f}] ({args.prob:.0%} interval)")
    for row in doc["optimum"]:
        p, r = row["params"], row["ratio"]
        print(f"  C = {row['compute']:.3g}: N* = {p['median']:.4g} [{p['lower']:.4g}, {p['upper']:.4g}], "
              f"D*/N* = {r['median']:.4g} [{r['lower']:.4g}, {r['upper']:.4g}]")
    if check is not None:
        print("against the law's frontier:")
        print(check.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def raise_input(message: str) -> None:
    from ..errors import InputError

    raise InputError(message)
