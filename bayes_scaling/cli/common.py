"""What the commands share: checked argument types, common options, data and spec reading, output.

Nothing here imports the sampler stack at module level.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import defaults
from ..errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from ..data.runs import Runs
    from ..result.fit import Fit
    from ..spec import ModelSpec


# ------------------------------------------------------------------------------ interrupts

_INTERRUPT = {"hit": False}


def on_interrupt(signum: int, frame: object) -> None:
    """The command line's SIGINT handler: remember the interrupt, then raise it as usual.

    Some libraries swallow a KeyboardInterrupt raised while they import or run; the flag lets the
    command stop at its next step anyway (:func:`stop_if_interrupted`).
    """
    _INTERRUPT["hit"] = True
    raise KeyboardInterrupt


def reset_interrupt() -> None:
    """Forget earlier interrupts (each command line run starts clean)."""
    _INTERRUPT["hit"] = False


def stop_if_interrupted(when: str) -> None:
    """Raise KeyboardInterrupt if Ctrl-C arrived and was swallowed before ``when``."""
    if _INTERRUPT["hit"]:
        raise KeyboardInterrupt(f"before {when}")


# ------------------------------------------------------------------------------ argument types

def non_negative_int(text: str) -> int:
    """An integer >= 0 (seeds)."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (draws, tune, chains, counts)."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def probability(text: str) -> float:
    """A number strictly between 0 and 1 (interval masses, quantile levels, probabilities)."""
    value = _float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {text}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (budgets, sizes, losses)."""
    value = _float(text)
    if not value > 0.0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


# ------------------------------------------------------------------------------ common options

def sampler_args(p: argparse.ArgumentParser, target_accept: bool = False) -> None:
    """--draws, --tune, --chains, --seed, --backend (and --target-accept where the command passes it on)."""
    p.add_argument("--draws", type=positive_int, default=defaults.DRAWS)
    p.add_argument("--tune", type=positive_int, default=defaults.TUNE)
    p.add_argument("--chains", type=positive_int, default=defaults.CHAINS)
    p.add_argument("--seed", type=non_negative_int, default=defaults.SEED)
    p.add_argument("--backend", default=defaults.DEFAULT_BACKEND, choices=defaults.BACKENDS)
    if not target_accept:
        return
    p.add_argument("--target-accept", type=probability, default=defaults.TARGET_ACCEPT,
                   help=f"NUTS step-size target (default {defaults.TARGET_ACCEPT}; higher: smaller steps, "
                        "for posteriors that diverge)")


def pooling_args(p: argparse.ArgumentParser) -> None:
    """The spec overrides that :func:`spec_from` reads: --pool and --noise-pool."""
    p.add_argument("--pool", default=None, help="override pooling, e.g. 'alpha=domain,beta=domain,e=task'")
    p.add_argument("--noise-pool", default=None, choices=defaults.NOISE_LEVELS,
                   help="one noise scale for all runs, or one per domain or task (default: the spec's)")
    p.add_argument("--structural", default=None, metavar="none|learned|SCALE",
                   help="the law's structural error beyond the data: none, the prior learned across studies "
                        "(the default of the shipped specs) or a scale (sd of log loss at distance 1)")


def data_args(p: argparse.ArgumentParser) -> None:
    """The runs: a CSV or a registered dataset, with --columns and --drop-outliers."""
    p.add_argument("data", help="CSV path, or the name of a registered dataset (e.g. epoch_chinchilla)")
    p.add_argument("--spec", default="chinchilla", help="shipped spec name or TOML path (default: chinchilla)")
    p.add_argument("--columns", default="", help="rename columns, e.g. 'Model Size=params,Training FLOP=compute'")
    p.add_argument("--drop-outliers", action="store_true", help="apply the dataset's published outlier rule")


def level_arg(p: argparse.ArgumentParser) -> None:
    """--level of a grouped answer."""
    p.add_argument("--level", default=None, choices=defaults.ANSWER_LEVELS,
                   help="answer per group at this level (default: the finest level the fit varies at)")


def fit_arg(p: argparse.ArgumentParser) -> None:
    """A saved fit with --prob and --json."""
    p.add_argument("fit", help="a fit file written by 'bayes-scaling fit'")
    prob_arg(p)
    p.add_argument("--json", action="store_true", help="print one JSON document")


def prob_arg(p: argparse.ArgumentParser) -> None:
    """--prob, the mass of the intervals shown."""
    p.add_argument("--prob", type=probability, default=defaults.DEFAULT_PROB,
                   help=f"interval mass (default {defaults.DEFAULT_PROB})")


# ------------------------------------------------------------------------------ data, spec, fit

def read_data(source: str, columns: str, drop_outliers: bool, split: str | None = None,
              inputs: Sequence[str] | None = None) -> Runs:
    """Runs from a CSV path or a registered dataset (``inputs``: the law's, as :func:`read_runs` takes them)."""
    from ..data import datasets
    from ..data.runs import read_runs

    if Path(source).is_dir():
        raise InputError(f"{source} is a directory, not a CSV file")
    if Path(source).exists():
        if split:
            raise InputError("--split and --split-test apply to registered datasets, not to CSV files")
        if drop_outliers:
            raise InputError("--drop-outliers applies to registered datasets, which mark their outliers, not to CSV files")
        return read_runs(source, columns=mapping(columns), inputs=inputs)
    if source in datasets.registry():
        if columns.strip():
            raise InputError(f"--columns renames the columns of a CSV file; the registered dataset '{source}' "
                             "is read with its own column map")
        return datasets.load(source, drop_outliers=drop_outliers, split=split)
    raise InputError(f"'{source}' is neither a CSV file nor a registered dataset ({', '.join(datasets.registry())})")


def mapping(text: str) -> dict[str, str]:
    """``'Old Name=params,Other=loss'`` as a dict."""
    pairs = [item for item in text.split(",") if item.strip()]
    try:
        return {k.strip(): v.strip() for k, v in (item.split("=", 1) for item in pairs)}
    except ValueError:
        raise InputError(f"--columns must look like 'Old Name=params,Other=loss', got {text!r}") from None


def spec_from(args: argparse.Namespace) -> ModelSpec:
    """The spec named by --spec with the --pool and --noise-pool overrides."""
    from ..spec import load_spec, parse_pooling

    spec = load_spec(args.spec)
    if args.pool is not None:
        spec = spec.with_pooling(**parse_pooling(args.pool))
    if args.noise_pool:
        spec = replace(spec, noise_pooling=args.noise_pool)
    if getattr(args, "structural", None) is not None:
        spec = spec.overridden(structural=args.structural)
    return spec


def not_an_input(out: str | Path | None, *inputs: str | Path | None, option: str = "--out") -> None:
    """Refuse an output path that is one of the command's input files: writing it would replace what was read."""
    import os

    if not out or not Path(out).exists():
        return
    for source in inputs:
        if source and Path(source).is_file() and os.path.samefile(out, source):
            from ..errors import InputError

            raise InputError(f"{option} {out} is the input file {source}: writing it would replace the input; "
                             "choose another path")


def load(args: argparse.Namespace) -> Fit:
    """The fit named by ``args.fit``.

    Its sampler problems are printed to stderr once the command has answered (unless --json, whose
    document holds them), so a command that fails prints only its one ``error:`` line.
    """
    from ..result.fitfile import load_fit

    result = load_fit(args.fit)
    if not args.json:
        args.after = [*getattr(args, "after", []), *(f"WARNING: {p}" for p in result.diagnostics.problems),
                      *(f"note: {n}" for n in result.diagnostics.notes)]
    return result


# ------------------------------------------------------------------------------ output

#: The warnings this command has printed so far (``warning: ...`` lines on stderr), in order.
SHOWN: list[str] = []


def print_json(document: Mapping[str, Any]) -> None:
    """One strict JSON document (NaN and infinities become null). A document with a ``warnings`` list
    also holds the warnings the command printed on stderr (data warnings, say), so a reader of the
    JSON alone sees them."""
    if isinstance(document.get("warnings"), list):
        document = {**document, "warnings": [*document["warnings"],
                                             *(w for w in SHOWN if w not in document["warnings"])]}
    print(json.dumps(_strict(document), indent=2, allow_nan=False))


def _strict(value: Any) -> Any:
    import numpy as np

    if isinstance(value, Mapping):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_strict(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def header(result: Fit) -> dict[str, Any]:
    """What every read command's JSON starts with: the fit's identity, its diagnostics and its structural error."""
    from ..present.text import describe
    from ..structural import learned_prior

    error = result.spec.discrepancy
    held_out = {k: learned_prior(error.prior).get(k) for k in ("held_out_coverage_90", "held_out_coverage_error")} \
        if error.record else None
    return {"spec": result.spec.name, "law": result.law.formula, "runs": len(result.runs),
            "data_sha256": result.runs.digest, "diagnostics": result.diagnostics.to_dict(),
            "sampler": {"backend": result.settings.backend, "chains": result.settings.chains,
                        "draws": result.settings.draws, "interrupted": result.settings.interrupted,
                        "chains_kept": int(result.posterior.sizes["chain"]),
                        "dropped_chains": list(result.settings.dropped_chains),
                        "unstarted_chains": list(result.settings.unstarted_chains)},
            "structural": {**error.to_dict(), "record": error.record, "held_out": held_out,
                           "description": describe(error)},
            "warnings": list(result.diagnostics.problems)}


def records(table: pd.DataFrame) -> list[dict]:
    """A table as JSON records."""
    return table.to_dict(orient="records")


def wide(table: pd.DataFrame, by: str, prob: float) -> str:
    """An interval table as text, one row per quantity."""
    keys = [by] + [c for c in ("domain", "task") if c in table.columns]
    frame = table.rename(columns={"variable": "quantity", "lower": f"{prob:.0%} low", "upper": f"{prob:.0%} high"})
    frame = frame[keys + ["quantity", "median", f"{prob:.0%} low", f"{prob:.0%} high"]]
    frame = frame.sort_values(keys, kind="stable")
    return frame.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def reach_lines(attrs: Mapping[str, Any]) -> list[str]:
    """Print an answer's extrapolation warnings (``attrs["warnings"]``) to stderr; returns them."""
    lines = list(attrs.get("warnings", []))
    for line in lines:
        print(f"warning: {line}", file=sys.stderr)
    return lines
