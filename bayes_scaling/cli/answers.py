"""Commands that answer questions of a saved fit: ``summary``, ``optimal``, ``predict``, ``compare``,
``compare-models``, ``plan``, ``target`` and ``returns``.

Every one prints one JSON document with ``--json``; answers outside the fitted runs carry their
``reach`` (decades beyond the data) and a warning.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .common import (
    fit_arg,
    header,
    level_arg,
    load,
    positive_float,
    print_json,
    probability,
    reach_lines,
    records,
    wide,
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the read commands to the parser."""
    p = sub.add_parser("summary", help="parameters with intervals and convergence diagnostics")
    fit_arg(p)
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("optimal", help="compute-optimal N*, D*, D*/N*, L* at given budgets")
    fit_arg(p)
    p.add_argument("--compute", type=positive_float, nargs="+", required=True, help="budgets in FLOPs")
    p.add_argument("--method", default="auto", choices=("auto", "closed", "numeric"))
    p.add_argument("--unique-tokens", type=positive_float, default=None,
                   help="unique data available (data-constrained law): the answer gains the number of epochs")
    level_arg(p)
    p.set_defaults(func=cmd_optimal)

    p = sub.add_parser("predict", help="loss at new scales: credible interval of the law, predictive interval of a run")
    fit_arg(p)
    p.add_argument("--params", type=positive_float, nargs="+", help="N of each run to predict")
    p.add_argument("--tokens", type=positive_float, nargs="+", help="D of each run to predict")
    p.add_argument("--compute", type=positive_float, nargs="+", help="C of each run (compute law)")
    p.add_argument("--unique-tokens", type=positive_float, nargs="+", default=None,
                   help="U_D of each run (data-constrained law; default: every token unique)")
    level_arg(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("compare", help="posterior differences of a parameter between domains or tasks")
    fit_arg(p)
    p.add_argument("--param", required=True, help="parameter to compare, e.g. alpha, beta, E")
    p.add_argument("--by", default="domain", choices=("domain", "task"))
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("plan", help="choose N and D for compute budgets under the whole posterior (mean, quantile, CVaR)")
    fit_arg(p)
    p.add_argument("--budget", type=positive_float, nargs="+", required=True, help="compute budgets in FLOPs")
    p.add_argument("--objective", default="mean", choices=("mean", "quantile", "cvar"))
    p.add_argument("--q", type=probability, default=0.9, help="quantile / CVaR level (default 0.9)")
    p.add_argument("--max-params", type=positive_float, default=None, help="largest model that fits in memory")
    p.add_argument("--max-tokens", type=positive_float, default=None, help="tokens available (data-limited)")
    p.add_argument("--params", type=positive_float, default=None, help="a fixed model size N")
    p.add_argument("--unique-tokens", type=positive_float, default=None,
                   help="unique data available (data-constrained law): the plan gains the number of epochs")
    p.add_argument("--law-exact", action="store_true",
                   help="plan on the law's loss alone, without its structural error beyond the data")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("target", help="smallest compute that reaches a loss with a given probability")
    fit_arg(p)
    p.add_argument("--loss", type=positive_float, nargs="+", required=True, help="target loss(es)")
    p.add_argument("--target-prob", "--p", dest="target_prob", type=probability, nargs="+", default=[0.9],
                   help="required probability P(L <= loss) (default 0.9)")
    p.add_argument("--max-params", type=positive_float, default=None)
    p.add_argument("--max-tokens", type=positive_float, default=None)
    p.add_argument("--law-exact", action="store_true",
                   help="the law's loss alone, without its structural error beyond the data")
    p.set_defaults(func=cmd_target)

    _register_returns(sub)
    p = sub.add_parser("compare-models", help="rank fits of the same runs by PSIS-LOO")
    p.add_argument("fits", nargs="+", help="two or more fit files of the same data")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=cmd_compare_models)


def _register_returns(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("returns", help="loss gained per doubling of compute along the compute-optimal frontier")
    fit_arg(p)
    p.add_argument("--compute", type=positive_float, nargs="+", required=True, help="budgets in FLOPs")
    p.add_argument("--threshold", type=positive_float, default=None,
                   help="also the compute at which the gain per doubling falls below this loss")
    level_arg(p)
    p.set_defaults(func=cmd_returns)


def parameter_records(table: Any) -> dict[str, dict]:
    """Summary rows keyed by a unique label: the variable, with its group where it has one
    (``alpha``, ``alpha[vision]``, ``alpha[vision/IC-1]``)."""
    out = {}
    for variable, row in zip(table.index, records(table), strict=True):
        groups = [str(row[c]) for c in ("domain", "task") if c in row and isinstance(row[c], str) and row[c]]
        key = f"{variable}[{'/'.join(groups)}]" if groups else str(variable)
        out[key] = {"variable": str(variable), **row}
    return out


def summary_document(result: Any, prob: float) -> dict[str, Any]:
    """``summary --json``: the fit's header and its parameters' intervals at ``prob``."""
    return {**header(result), "prob": prob, "parameters": parameter_records(result.summary(prob))}


def optimal_fields(ds: Any, prob: float, warnings: list[str]) -> dict[str, Any]:
    """What ``optimal --json`` adds to a document: the allocation's rows, its reach, and the warnings."""
    from ..result.intervals import interval_table

    return {"optimal": records(interval_table(ds, prob)), "reach": ds.attrs["reach"],
            "warnings": [*warnings, *ds.attrs["warnings"]]}


def optimal_text(ds: Any, prob: float, error: Any = None) -> str:
    """The allocation as ``optimal`` prints it, with what ``loss`` and ``loss_pred`` are (and, given the
    fit's structural ``error`` and an optimum beyond the runs, what it adds); extrapolation warnings go
    to stderr."""
    from ..present.text import describe
    from ..result.intervals import interval_table

    reach_lines(ds.attrs)
    lines = []
    if "loss_pred" in ds:
        lines.append(f"loss: the law's L* (credible); loss_pred: one run trained at the optimum (predictive, {prob:.0%})")
        if error is not None and error.active and any(abs(d) > 0 for v in ds.attrs["reach"].values() for d in v):
            lines.append(f"loss_pred beyond the runs adds the law's structural error: {describe(error)}")
    return "\n".join([*lines, wide(interval_table(ds, prob), "compute", prob)])


def cmd_summary(args: argparse.Namespace) -> int:
    from ..present.text import format_summary

    result = load(args)
    if args.json:
        print_json(summary_document(result, args.prob))
    else:
        print(format_summary(result, args.prob))
    return 0


def cmd_optimal(args: argparse.Namespace) -> int:
    result = load(args)
    ds = result.optimal(args.compute, args.method, args.level, unique_tokens=args.unique_tokens)
    if args.json:
        head = header(result)
        print_json({**head, "prob": args.prob, **optimal_fields(ds, args.prob, head["warnings"])})
    else:
        print(optimal_text(ds, args.prob, result.spec.discrepancy))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from ..present.text import describe
    from ..result.intervals import interval_table

    result = load(args)
    pred = result.predict(params=args.params, tokens=args.tokens, compute=args.compute, level=args.level,
                          unique_tokens=args.unique_tokens)
    table = interval_table(pred, args.prob)
    for name in ("params", "tokens", "compute", "unique_tokens"):
        if name in pred.coords:
            table[name] = pred[name].values[table["point"].to_numpy()]
    if args.json:
        print_json({**header(result), "prob": args.prob, "predictions": records(table), "reach": pred.attrs["reach"],
                    "warnings": [*header(result)["warnings"], *pred.attrs["warnings"]]})
    else:
        reach_lines(pred.attrs)
        print(f"loss_mean: credible interval of the law's loss; loss_pred: predictive interval of one run ({args.prob:.0%})")
        if result.spec.discrepancy.active and bool((pred["beyond"] > 0).any()):
            print(f"loss_pred beyond the runs adds the law's structural error: {describe(result.spec.discrepancy)}")
        print(table.drop(columns=["point"]).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    import numpy as np

    from ..decisions.compare import compare

    result = load(args)
    table = compare(result, args.param, by=args.by, prob=args.prob)
    if args.json:
        print_json({**header(result), "prob": args.prob, "comparisons": records(table)})
        return 0
    print(f"{args.param} by {args.by}: posterior of group - other and group / other ({args.prob:.0%} intervals), "
          f"{table.attrs['draws']} draws")
    for row in table.itertuples():
        ratio = (f"; ratio {row.ratio_median:.4g} [{row.ratio_lower:.4g}, {row.ratio_upper:.4g}]"
                 if hasattr(row, "ratio_median") and np.isfinite(row.ratio_median) else "")
        print(f"{row.group} - {row.other}: {row.diff_median:+.4g} [{row.diff_lower:+.4g}, {row.diff_upper:+.4g}]; "
              f"P({args.param}[{row.group}] > {args.param}[{row.other}]) = {row.p_greater:.3f}{ratio}")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    import warnings

    from ..decisions.plan import plan
    from ..errors import ExtrapolationWarning
    from ..present.text import format_plan
    from ..result.intervals import interval_table

    result = load(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)  # printed below, once, from the answer
        ds = plan(result, args.budget, objective=args.objective, q=args.q, max_params=args.max_params,
                  max_tokens=args.max_tokens, params=args.params, unique_tokens=args.unique_tokens,
                  structural=not args.law_exact)
    if args.json:
        table = interval_table(ds[["loss"]], args.prob)
        chosen = ["params", "tokens", "ratio", "objective"] + (["epochs"] if "epochs" in ds else [])
        choice = ds[chosen].to_dataframe().reset_index()
        head = header(result)
        print_json({**head, "structural": {**head["structural"], "used": bool(ds.attrs["structural"])},
                    "prob": args.prob, "objective": args.objective, "q": args.q,
                    "plan": records(choice), "loss": records(table), "reach": ds.attrs["reach"],
                    "warnings": [*head["warnings"], *ds.attrs["warnings"]]})
    else:
        reach_lines(ds.attrs)
        print(format_plan(ds, args.prob))
        structural_line(result, ds.attrs)
    return 0


def structural_line(result: Any, attrs: Mapping[str, Any]) -> None:
    """Under a plan or a target that reaches beyond the runs: the structural error its L carries."""
    from ..present.text import describe

    if attrs["structural"] and any(abs(d) > 0 for v in attrs["reach"].values() for d in v):
        print(f"L beyond the runs carries the law's structural error (--law-exact: without it): "
              f"{describe(result.spec.discrepancy)}")


def cmd_target(args: argparse.Namespace) -> int:
    from ..decisions.target import compute_for_target
    from ..present.text import format_target

    result = load(args)
    ds = compute_for_target(result, args.loss, prob=args.target_prob, max_params=args.max_params,
                            max_tokens=args.max_tokens, structural=not args.law_exact)
    if args.json:
        table = ds[["budget", "params", "tokens", "ratio"]].to_dataframe().reset_index()
        head = header(result)
        print_json({**head, "structural": {**head["structural"], "used": bool(ds.attrs["structural"])},
                    "targets": records(table), "reach": ds.attrs["reach"],
                    "warnings": [*head["warnings"], *ds.attrs["warnings"]]})
    else:
        reach_lines(ds.attrs)
        print(format_target(ds))
        structural_line(result, ds.attrs)
    return 0


def cmd_returns(args: argparse.Namespace) -> int:
    from ..decisions.returns import returns
    from ..present.text import format_returns
    from ..result.intervals import interval_table

    result = load(args)
    ds = returns(result, args.compute, threshold=args.threshold, level=args.level)
    table = interval_table(ds[["loss", "gain", "relative_gain"]], args.prob)
    below = None
    if args.threshold is not None:
        below = {"threshold": args.threshold, "not_reached": ds.attrs["not_reached"],
                 "intervals": records(interval_table(ds[["compute_below"]], args.prob).drop(columns="variable"))}
    if args.json:
        keys = ["compute"] + [c for c in ("domain", "task") if c in table.columns]
        rows = [{**dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True)),
                 **{r["variable"]: {k: r[k] for k in ("median", "lower", "upper")} for r in records(group)}}
                for key, group in table.groupby(keys, sort=False)]
        print_json({**header(result), "prob": args.prob, "returns": rows, "compute_below": below,
                    "reach": ds.attrs["reach"], "warnings": [*header(result)["warnings"], *ds.attrs["warnings"]]})
    else:
        reach_lines(ds.attrs)
        print(format_returns(table, below, args.prob))
    return 0


def cmd_compare_models(args: argparse.Namespace) -> int:
    from ..decisions.compare import compare_models
    from ..result.fitfile import load_fit

    fits = {}
    for path in args.fits:
        result = load_fit(path)
        fits[Path(path).stem if Path(path).stem not in fits else path] = result
    table = compare_models(fits)
    for warning in table.attrs["warnings"]:
        print(f"WARNING: {warning}", file=sys.stderr)
    if args.json:
        print_json({"comparison": table.reset_index(names="model").to_dict(orient="records"),
                    "warnings": table.attrs["warnings"]})
        return 0
    shown = table[[c for c in ("rank", "elpd", "se", "p", "elpd_diff", "dse", "weight", "n_high_k") if c in table]]
    print("PSIS-LOO, best first (elpd on log loss; higher is better):")
    print(shown.to_string(float_format=lambda v: f"{v:.4g}"))
    return 0
