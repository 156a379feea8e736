"""``predict-final``: the final loss of runs still training, from their checkpoints (or a saved curve fit)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import (
    header,
    not_an_input,
    positive_float,
    print_json,
    prob_arg,
    records,
    sampler_args,
)

DEFAULT_SPEC = "curve_power"
SCHEDULE_SPEC = "curve_schedule"  # the default where the table gives each run's learning-rate schedule


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``predict-final`` to the parser."""
    p = sub.add_parser("predict-final", help="final loss of runs still training, with predictive intervals")
    p.add_argument("data", help="a checkpoint table (CSV: curve, tokens or step, loss[, params, total_tokens, group, "
                                "schedule, lr_warmup, lr_final, lr_decay_start, lr_decay_end]) or a curve fit file")
    p.add_argument("--spec", default=None, help=f"learning-curve spec (default {SCHEDULE_SPEC} where the table gives "
                                                 f"a schedule column, else {DEFAULT_SPEC})")
    p.add_argument("--fraction-seen", type=float, default=None,
                   help="fraction of training each run has done, in (0, 1), where the table has no total_tokens")
    p.add_argument("--warmup", type=float, default=None, help="fraction of each run dropped as warm-up (default 0.02)")
    p.add_argument("--warmup-tokens", type=positive_float, default=None,
                   help="drop checkpoints below this many tokens instead (the Hitchhiker's guide: 1e10)")
    p.add_argument("--target", type=positive_float, default=None, help="also P(final loss <= target) per run")
    p.add_argument("--out", default=None, help="save the curve fit here")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    prob_arg(p)
    sampler_args(p, target_accept=True)
    p.set_defaults(func=cmd_predict_final)


def _fit(args: argparse.Namespace):
    from ..data.checkpoints import WARMUP, read_checkpoints
    from ..errors import InputError
    from ..result.final import check_checkpoints, fit_checkpoints, planned_lengths
    from ..spec import load_spec

    path = Path(args.data)
    if path.suffix == ".nc":
        from ..result.fitfile import load_fit

        if args.warmup is not None or args.warmup_tokens is not None:
            raise InputError("--warmup applies to a checkpoint table, not to a saved fit")
        if args.spec is not None:
            raise InputError("--spec applies to a checkpoint table, not to a saved fit (which has its spec)")
        changed = _sampler_options_given(args)
        if changed:
            raise InputError(f"{', '.join(changed)} appl{'ies' if len(changed) == 1 else 'y'} to fitting a checkpoint "
                             "table, not to a saved fit (which has its draws)")
        return load_fit(path), None
    if args.out:
        from ..result.storage import check_writable

        check_writable(args.out)
        not_an_input(args.out, path)
    if args.warmup is not None and args.warmup_tokens is not None:
        raise InputError("--warmup and --warmup-tokens are alternatives: give one")
    ck = read_checkpoints(path, args.warmup if args.warmup is not None else WARMUP, args.warmup_tokens)
    if args.spec is None:
        args.spec = SCHEDULE_SPEC if ck.schedule is not None else DEFAULT_SPEC
    planned_lengths(ck.seen, ck.total, args.fraction_seen)  # lengths it cannot answer are refused before sampling
    check_checkpoints(ck, load_spec(args.spec))  # refusals are the one line of an error, before the progress line
    print(f"fitting '{args.spec}' to {len(ck.runs)} checkpoints of {len(ck.seen)} runs "
          f"({ck.dropped} warm-up checkpoints dropped)...", file=sys.stderr)
    result = fit_checkpoints(ck, args.spec, backend=args.backend, draws=args.draws, tune=args.tune, chains=args.chains,
                             seed=args.seed, target_accept=args.target_accept)
    return result, ck


def _sampler_options_given(args: argparse.Namespace) -> list[str]:
    """The sampler options set to other than their defaults (a saved fit would ignore them)."""
    from .. import defaults

    expected = {"draws": defaults.DRAWS, "tune": defaults.TUNE, "chains": defaults.CHAINS, "seed": defaults.SEED,
                "backend": defaults.DEFAULT_BACKEND, "target_accept": defaults.TARGET_ACCEPT}
    return [f"--{name.replace('_', '-')}" for name, value in expected.items() if getattr(args, name) != value]


def cmd_predict_final(args: argparse.Namespace) -> int:
    result, ck = _fit(args)
    ds = result.predict_final(ck, fraction_seen=args.fraction_seen)
    lo, hi = (1 - args.prob) / 2, (1 + args.prob) / 2
    dims = ("chain", "draw")
    import pandas as pd

    table = pd.DataFrame({name: ds[name].values for name in ("curve", "seen", "final", "fraction_seen", "beyond")})
    table["median"] = ds["loss_mean"].median(dims).values
    table["lower"] = ds["loss_pred"].quantile(lo, dims).values
    table["upper"] = ds["loss_pred"].quantile(hi, dims).values
    if args.target is not None:
        table["p_below_target"] = (ds["loss_pred"] <= args.target).mean(dims).values
    if args.out:
        result.save(args.out)
    problems = list(result.diagnostics.problems)
    structural = header(result)["structural"]
    if args.json:
        print_json({"spec": result.spec.name, "prob": args.prob, "target": args.target, "curves": records(table),
                    "diagnostics": result.diagnostics.to_dict(), "structural": structural,
                    "warnings": [*problems, *ds.attrs["warnings"]]})
        return 0
    for line in [*problems, *ds.attrs["warnings"]]:
        print(f"warning: {line}", file=sys.stderr)
    print(f"final loss of each run (median of the law; {args.prob:.0%} predictive interval of the run):")
    if result.spec.discrepancy.active and bool((table["beyond"] > 0).any()):
        print(f"the interval beyond each run's checkpoints adds the law's structural error: {structural['description']}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0
