"""Checkpoint tables: the loss of runs that are still training, one row per checkpoint.

Columns: ``curve`` (the run), ``tokens`` (tokens seen) or ``step``, ``loss``; optional ``params``
(the run's model size), ``total_tokens`` (or ``total_steps``: the run's planned length),
``group`` (a family of runs whose curves share their shape, pooled in the fit) and the run's
learning-rate schedule: ``schedule`` (``constant``, ``cosine`` or ``linear``), ``lr_warmup`` (the
warm-up's length, in the x unit), ``lr_final`` (the rate at the end, a fraction of the peak) and
``lr_decay_start``, ``lr_decay_end`` (where the decay runs), one value per curve
(:mod:`bayes_scaling.data.schedules`). The table becomes
:class:`~bayes_scaling.data.runs.Runs` with ``task`` = curve and ``domain`` = group, so a learning-
curve spec fits every curve at once.

The warm-up part of each curve is dropped: the first ``warmup`` of the run's length (2% by
default, about a learning-rate warm-up), or everything below ``warmup_tokens`` where it is given.
Choshen et al.'s guide drops the first 10B tokens of LLM curves (``warmup_tokens=1e10``); a
fraction is the default because curves here range from millions to trillions of tokens, and 10B
tokens would drop every checkpoint of a small model. A run's length is its ``total_tokens`` where given, else its last
checkpoint.

Where the table gives no total length, the prediction cannot know how far the run goes, and where it
gives no schedule it cannot know the learning rate: an intermediate checkpoint of a cosine-decayed
run is not a finished shorter run (its loss drops faster near the end of the decay). The answers
say so. Where it gives the schedule, the reader adds the columns the ``curve_schedule`` law reads
(``lr_tokens``, ``annealed_tokens``), and the warm-up dropped is at least the schedule's.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataWarning, InputError
from .runs import Runs, numeric_column, read_runs
from .schedules import columns_at, read_schedules
from .tables import as_frame, clean_columns

WARMUP = 0.02
#: A curve whose last checkpoints lie this far above its lowest loss rises (the laws cannot follow it).
RISE = 0.05
TAIL = 3  # checkpoints at the end of a curve that must all lie that far above
MIN_POINTS = 4  # a curve alone has three parameters; one point more says something about its noise


@dataclass(frozen=True)
class Checkpoints:
    """Validated checkpoints: the runs to fit and each curve's seen and planned length (in its x unit)."""

    runs: Runs
    seen: pd.Series  # last checkpoint of each curve, by curve
    total: pd.Series  # planned length of each curve (NaN where the table does not give it)
    x_name: str  # "tokens" or "step"
    dropped: int  # warm-up checkpoints dropped
    schedule: pd.DataFrame | None = None  # by curve: kind, warmup, final, start, end (None: not given)


def _table(source: pd.DataFrame | str | Path) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source.copy()
    path = Path(source)
    if not path.is_file():
        raise InputError(f"no checkpoint table at {path}")
    table = clean_columns(as_frame(path)[0])  # read as the runs are: one-line errors, names checked
    if table.empty:
        raise InputError(f"the checkpoint table {path} has no rows")
    return table


def _x_column(table: pd.DataFrame) -> tuple[str, str | None]:
    for x, total in (("tokens", "total_tokens"), ("step", "total_steps")):
        if x in table:
            return x, total if total in table else None
    raise InputError(f"a checkpoint table needs 'tokens' or 'step' (it has {list(table.columns)})")


def _check_order(table: pd.DataFrame, x: str) -> None:
    for curve, part in table.groupby("curve", sort=False):
        steps = np.diff(part[x].to_numpy(dtype=float))
        if np.any(steps <= 0):
            i = int(np.argmax(steps <= 0))
            raise InputError(f"curve {curve!r}: {x} must increase from one checkpoint to the next "
                             f"({part[x].iloc[i]:.4g} is followed by {part[x].iloc[i + 1]:.4g})")


def _totals(table: pd.DataFrame, column: str) -> pd.Series:
    """Each curve's planned length from ``column``: one positive finite number per curve (or none given)."""
    values = numeric_column(table[column], column)
    bad = values.notna() & (~np.isfinite(values.fillna(1.0)) | (values.fillna(1.0) <= 0))
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        value = table[column].iloc[i]
        raise InputError(f"column '{column}' must be a positive finite number; it has "
                         f"{repr(value) if isinstance(value, str) else value} in row {i}")
    varying = values.groupby(table["curve"], sort=False).nunique() > 1
    if varying.any():
        raise InputError(f"curve {varying.index[varying][0]!r}: {column} must be one value per curve (the run's planned "
                         "length)")
    return values.groupby(table["curve"], sort=False).first().astype(float)


def _warn_if_rising(table: pd.DataFrame) -> None:
    """A DataWarning naming curves (``task``) whose last :data:`TAIL` checkpoints all lie :data:`RISE` or more
    above the lowest loss before them: a rise, not a curve still falling or noise about a floor."""
    ordered = table.sort_values("tokens", kind="stable").groupby("task", sort=False)["loss"]
    long = ordered.size() > 2 * TAIL
    end = ordered.apply(lambda s: float(s.tail(TAIL).min()))[long]
    low = ordered.apply(lambda s: float(s.iloc[:-TAIL].min()))[long]
    rising = (end / low - 1)[end > low * (1 + RISE)].sort_values(ascending=False)
    if len(rising):
        shown = ", ".join(f"{c!r} (+{r:.0%})" for c, r in rising.head(3).items())
        warnings.warn(f"the loss rises at the end of {len(rising)} curve(s), above the lowest loss before: {shown}; the "
                      "curve laws fall or flatten, so they cannot follow it (overfitting, repeated data, a divergence)",
                      DataWarning, stacklevel=3)


def read_checkpoints(source: pd.DataFrame | str | Path, warmup: float = WARMUP,
                     warmup_tokens: float | None = None) -> Checkpoints:
    """Checkpoints from a DataFrame or CSV (module docstring), warm-up dropped.

    Raises
    ------
    InputError
        Missing columns, non-increasing tokens within a curve, a planned length below a curve's last
        checkpoint, a warm-up fraction outside [0, 1), or a curve left with fewer than four
        checkpoints (a learning curve needs more than one point per curve).
    """
    table = _table(source)
    missing = [c for c in ("curve", "loss") if c not in table]
    if missing:
        raise InputError(f"a checkpoint table needs columns {missing} (it has {list(table.columns)})")
    if not 0 <= warmup < 1:
        raise InputError(f"warmup must be a fraction in [0, 1), got {warmup}")
    x, total_col = _x_column(table)
    table[x] = numeric_column(table[x], x)
    if table[x].isna().any() or (table[x] <= 0).any() or np.isinf(table[x]).any():
        raise InputError(f"{x} must be positive finite numbers in every row")
    loss = numeric_column(table["loss"], "loss")  # checked before the warm-up is dropped: rows as the table numbers them
    bad = loss.isna() | ~np.isfinite(loss.fillna(1.0)) | (loss.fillna(1.0) <= 0)
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        raise InputError(f"column 'loss' must be a positive finite number; it has {table['loss'].iloc[i]} in row {i}")
    empty = table["curve"].isna() | (table["curve"].astype(str).str.strip() == "")
    if empty.any():
        raise InputError(f"column 'curve' is empty in row {int(np.argmax(empty.to_numpy()))}: every checkpoint "
                         "names its run")
    table["curve"] = table["curve"].astype(str)
    _check_order(table, x)
    if "group" in table:
        groups = table.groupby("curve", sort=False)["group"].nunique()
        if (groups > 1).any():
            raise InputError(f"curve {groups.index[groups > 1][0]!r} is listed in {int(groups.max())} groups: a curve "
                             "belongs to one family")
    seen = table.groupby("curve", sort=False)[x].max()
    total = _totals(table, total_col) if total_col else seen * np.nan
    short = total[total < seen * (1 - 1e-12)]
    if len(short):
        raise InputError(f"curve {short.index[0]!r}: {total_col} {short.iloc[0]:.4g} is below its last checkpoint "
                         f"({seen[short.index[0]]:.4g})")
    length = total.fillna(seen)
    schedule = read_schedules(table, total, x)
    cut = warmup_tokens if warmup_tokens is not None else warmup * table["curve"].map(length)
    if schedule is not None:
        cut = np.maximum(cut, table["curve"].map(schedule["warmup"]).to_numpy())
    keep = table[x] > cut
    dropped = int((~keep).sum())
    table = table[keep]
    counts = table.groupby("curve", sort=False).size().reindex(seen.index, fill_value=0)
    thin = counts[counts < MIN_POINTS]
    if len(thin):
        raise InputError(f"curve {thin.index[0]!r} has {int(thin.iloc[0])} checkpoint(s) after the warm-up is dropped; "
                         f"a learning curve needs at least {MIN_POINTS}")
    frame = pd.DataFrame({"tokens": table[x], "loss": table["loss"], "task": table["curve"],
                          "domain": table["group"].astype(str) if "group" in table else "all"})
    if "params" in table:
        frame.insert(0, "params", table["params"])
    if schedule is not None:
        frame = frame.assign(**columns_at(schedule, frame["task"], frame["tokens"].to_numpy()))
    runs = read_runs(frame.reset_index(drop=True), check_units=False, source="checkpoints",
                     inputs=None if "params" in table else ("tokens",))  # no sizes: recorded as 1, marked filled
    _warn_if_rising(runs.table)
    return Checkpoints(runs, seen, total, x, dropped, schedule)


def checkpoints_from_runs(runs: Runs, fraction: float, warmup: float = WARMUP) -> tuple[Checkpoints, pd.Series]:
    """The first ``fraction`` of each curve of ``runs`` (task = curve) as checkpoints, and each curve's
    last point's loss: a backtest of extrapolation from early training to the end of the run."""
    table = runs.table.sort_values(["task", "tokens"], kind="stable")
    last = table.groupby("task", sort=False).tail(1).set_index("task")
    length = table["task"].map(last["tokens"])
    early = table[table["tokens"] <= fraction * length]
    frame = pd.DataFrame({"curve": early["task"], "tokens": early["tokens"], "loss": early["loss"],
                          "params": early["params"], "group": early["domain"],
                          "total_tokens": early["task"].map(last["tokens"])})
    return read_checkpoints(frame, warmup), last["loss"]
