"""Splits of runs into training and held-out parts: holdout rules, given splits and their checks."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pandas as pd

from ..data.runs import Runs
from ..errors import DataWarning, InputError, QueryError
from ..spec import LEVEL_RANK, ModelSpec, load_spec

#: Default holdout: the top 20% of runs by compute (Hoffmann / Epoch-style extrapolation).
DEFAULT_HOLDOUT = "compute:0.2"
_HOLDOUT = re.compile(r"^\s*(params|tokens|compute)\s*:\s*(half|tail|>=|<=|>|<)?\s*([^\s]*)\s*$")
_SYNTAX = ("'compute:0.2' (top fraction by a column), 'params:>1e9' (threshold: >, >=, <, <=) or "
           "'tokens:half' (x > x_max/2 within each task) or 'tokens:tail0.3' (x > 0.7·x_max within each task)")


#: Relative tolerance of every cut: values within it of the cut count as equal to it, so one nominal
#: budget computed in different ways (6·N·D rounds differently) is never split.
CUT_RTOL = 1e-9


def split_holdout(runs: Runs, holdout: str, spec: ModelSpec | str | None = None) -> tuple[Runs, Runs]:
    """Split runs into a training and a held-out part.

    Parameters
    ----------
    runs : Runs
        All runs.
    holdout : str
        ``"<column>:<fraction>"``: the top fraction of runs by params, tokens or compute (runs tied at
        the cut, within a relative :data:`CUT_RTOL`, are held out together, so slightly more may be
        held out); ``"<column>:>X"`` (or
        ``>=``, ``<``, ``<=``): a threshold; ``"<column>:half"``: within each task, the runs with
        x > x_max/2 (the protocol of Alabdulmohsin et al. 2022); ``"<column>:tailF"``: within
        each task, the runs in the last fraction F of x (x > (1 − F)·x_max).
    spec : ModelSpec or spec name, optional
        When given, also refuse splits the spec cannot be fitted and scored on (see
        :func:`check_split`).

    Returns
    -------
    (Runs, Runs)
        Training runs and held-out runs.

    Raises
    ------
    InputError
        Unknown syntax, an empty holdout, no training runs, fewer training runs than the law has
        parameters.
    QueryError
        Held-out groups the spec fits per group but that have no training runs.
    """
    if not isinstance(holdout, str):
        raise InputError(f"holdout must be a string like {_SYNTAX}, got {type(holdout).__name__}")
    match = _HOLDOUT.match(holdout)
    if not match:
        raise InputError(f"unknown holdout '{holdout}'; use {_SYNTAX}")
    column, rule, text = match.groups()
    x = runs.column(column)
    if rule == "half":
        if text:
            raise InputError(f"unknown holdout '{holdout}'; use {_SYNTAX}")
        x_max = runs.table.groupby("task")[column].transform("max").to_numpy(dtype=float)
        held = x > (x_max / 2) * (1 + CUT_RTOL)
    elif rule == "tail":
        value = _number(text, holdout)
        if not 0.0 < value < 1.0:
            raise InputError(f"holdout '{holdout}': the fraction of x must lie strictly between 0 and 1")
        x_max = runs.table.groupby("task")[column].transform("max").to_numpy(dtype=float)
        held = x > x_max * (1 - value) * (1 + CUT_RTOL)
    else:
        value = _number(text, holdout)
        if rule is None:
            if not 0.0 < value < 1.0:
                raise InputError(f"holdout '{holdout}': the fraction must lie strictly between 0 and 1")
            k = max(1, math.ceil(value * len(runs)))
            held = x >= np.sort(x)[::-1][k - 1] * (1 - CUT_RTOL)
        else:
            up, down = value * (1 + CUT_RTOL), value * (1 - CUT_RTOL)
            held = {">": x > up, ">=": x >= down, "<": x < down, "<=": x <= up}[rule]
    train, test = take(runs, ~held, "train"), take(runs, held, "test")
    check_split(train, test, spec, f"holdout '{holdout}'", runs.column(column).max(), column)
    return train, test


def warn_overlap(train: Runs, test: Runs, what: str = "the given split") -> int:
    """Warn (DataWarning) when held-out runs are also training runs (same inputs, loss and groups):
    they would be scored as if held out. Returns how many are."""
    columns = [c for c in ("params", "tokens", "compute", "loss", "domain", "task") if c in test.table and c in train.table]
    shared = test.table[columns].merge(train.table[columns].drop_duplicates(), on=columns, how="inner")
    if len(shared):
        warnings.warn(f"{what}: {len(shared)} of the {len(test)} held-out runs are also training runs; they are "
                      "scored as if held out, which flatters the scores", DataWarning, stacklevel=3)
    return len(shared)


def check_split(train: Runs, test: Runs, spec: ModelSpec | str | None = None, what: str = "the split",
                largest: float | None = None, column: str = "") -> None:
    """Refuse a split that cannot be fitted or scored.

    Raises
    ------
    InputError
        No held-out runs, no training runs, or no more training runs than the law has parameters.
    QueryError
        A held-out domain or task that the spec fits its own parameters (or noise, or pivot) for but
        that has no training runs.
    """
    if len(test) == 0:
        hint = f" (largest {column} is {largest:.4g})" if largest is not None and column else ""
        raise InputError(f"{what} holds out no runs{hint}; hold out at least one run")
    if len(train) == 0:
        raise InputError(f"{what} holds out every run: nothing is left to fit")
    if spec is None:
        return
    spec = load_spec(spec)
    law = spec.law_obj
    if len(train) <= law.n_parameters:
        raise InputError(
            f"{what} leaves {len(train)} training run{'s' if len(train) != 1 else ''}, too few for the "
            f"{law.n_parameters} parameters of the '{law.name}' law; hold out fewer runs (at least "
            f"{law.n_parameters + 1} must remain)"
        )
    finest = max((spec.level(), spec.noise_pooling, spec.pivot), key=LEVEL_RANK.__getitem__)
    for level in ("domain", "task"):
        if LEVEL_RANK[level] > LEVEL_RANK[finest]:
            continue
        missing = sorted(set(test.table[level]) - set(train.table[level]))
        if missing:
            shown = ", ".join(f"'{m}'" for m in missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
            within = ":half" in what or ":tail" in what
            advice = (f"their runs all lie in the held-out part (runs of one {level} at one x?)" if within else
                      f"hold out runs within each {level} (e.g. 'tokens:half')")
            raise QueryError(
                f"held-out {level}(s) {shown} have no training runs, but spec '{spec.name}' fits each {level} "
                f"its own values: {advice}, or use a spec shared across them"
            )


def take(runs: Runs, mask: np.ndarray | pd.Series, part: str = "") -> Runs:
    """The runs where ``mask`` is true, renumbered (a subset of valid runs stays valid)."""
    table = runs.table[np.asarray(mask, dtype=bool)].reset_index(drop=True)
    return Runs(table, runs.compute_factor, f"{runs.source} ({part})" if part else runs.source, runs.filled)


def spread_tasks(runs: Runs, per_domain: int) -> Runs:
    """The runs of ``per_domain`` tasks of each domain, spread evenly over its sorted task names
    (a reproducible subset of many curves, covering each domain's range of tasks)."""
    if per_domain < 1:
        raise InputError(f"per_domain must be at least 1, got {per_domain}")
    keep: list[str] = []
    for _, part in runs.table.groupby("domain", sort=True):
        tasks = sorted(part["task"].astype(str).unique())
        picks = np.linspace(0, len(tasks) - 1, min(per_domain, len(tasks))).round().astype(int)
        keep += [tasks[i] for i in picks]
    return take(runs, runs.table["task"].astype(str).isin(keep), f"{per_domain} tasks per domain")


def _number(text: str, holdout: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"unknown holdout '{holdout}'; use {_SYNTAX}") from None
    if not math.isfinite(value):
        raise InputError(f"holdout '{holdout}' needs a finite number")
    return value
