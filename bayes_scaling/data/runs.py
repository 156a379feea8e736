"""Read and validate training runs: the one place that raises input errors.

A table of runs has one row per training run with the model size ``params`` (N), the training tokens
``tokens`` (D), the final ``loss`` and, optionally, the training ``compute`` (C, FLOPs), a ``domain`` and
a ``task``, and the ``unique_tokens`` a run saw (data-constrained runs). :func:`read_runs` turns a DataFrame or CSV into a validated :class:`Runs`; nothing downstream
checks the data again.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import DataWarning, InputError, require_bool
from .tables import as_frame, clean_columns, rename_columns

#: Default FLOPs per parameter per token: C = 6 N D (Kaplan et al. 2020; Hoffmann et al. 2022).
DEFAULT_COMPUTE_FACTOR = 6.0
NUMERIC = ("params", "tokens", "compute", "loss")
#: Numeric columns a table may have and some laws read: ``unique_tokens`` (U_D, the distinct tokens
#: a run trained on; D / U_D is its number of epochs) and ``budget`` (the IsoFLOP budget a run
#: was planned at, which Approach 2 groups by) and, for checkpoints under a known learning-rate
#: schedule, ``lr_tokens`` and ``annealed_tokens`` (:mod:`bayes_scaling.data.schedules`), kept only
#: where given.
OPTIONAL = ("unique_tokens", "budget", "lr_tokens", "annealed_tokens")
LABELS = ("domain", "task")
#: Column names that other tables use for ours; applied only when the canonical name is absent.
ALIASES = {"compute_flops": "compute"}
DEFAULT_GROUP = "all"
#: Largest plausible loss: ln of a 10^13-token vocabulary is 30 nats; error rates are below 1.
MAX_LOSS = 30.0
#: Smallest plausible largest model / token count when counts are given raw.
MIN_PLAUSIBLE_COUNT = 1_000.0
#: Decades between one run's value and every other's beyond which the reader warns of a typo.
ISOLATED_DECADES = 3.0
#: Decades a given compute may differ from k·params·tokens unnamed (attention FLOPs: under 2x).
COMPUTE_SLACK = 0.5


@dataclass(frozen=True)
class Runs:
    """A validated table of training runs.

    Attributes
    ----------
    table : pandas.DataFrame
        Columns ``params``, ``tokens``, ``compute``, ``loss`` (float, finite, > 0) and ``domain``,
        ``task`` (str), one row per run, index ``0..n-1``. Runs given by compute alone (laws in C)
        have no ``params`` or ``tokens``.
    compute_factor : float
        FLOPs per parameter per token used where compute or tokens had to be derived (C = k N D).
    source : str
        Where the runs came from (a path, a dataset name or ``"DataFrame"``).
    filled : tuple of str
        Columns the reader recorded itself, not the table: ``("params",)`` for learning curves read
        without model sizes (recorded as 1), which a law of model size must not read.
    """

    table: pd.DataFrame
    compute_factor: float = DEFAULT_COMPUTE_FACTOR
    source: str = "DataFrame"
    filled: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.table)

    def column(self, name: str) -> np.ndarray:
        """Return one numeric column as a float array.

        Raises
        ------
        InputError
            For an optional column (``unique_tokens``) the runs do not have.
        """
        if name not in self.table:
            raise InputError(f"the runs have no '{name}' column, which this question or law reads "
                             f"(the table has {[c for c in self.table.columns if c not in LABELS]})")
        return self.table[name].to_numpy(dtype=float)

    @property
    def numeric(self) -> list[str]:
        """The numeric columns these runs have: :data:`NUMERIC` and any of :data:`OPTIONAL` given."""
        return [*(c for c in NUMERIC if c in self.table), *(c for c in OPTIONAL if c in self.table)]

    @property
    def domains(self) -> list[str]:
        """Domain labels in order of first appearance."""
        return list(dict.fromkeys(self.table["domain"]))

    @property
    def tasks(self) -> list[str]:
        """Task labels in order of first appearance."""
        return list(dict.fromkeys(self.table["task"]))

    @property
    def digest(self) -> str:
        """SHA-256 of the canonical table: identifies the data a fit was made from."""
        text = self.table[[*self.numeric, *LABELS]].to_csv(index=False, float_format="%.17g")
        return hashlib.sha256(text.encode()).hexdigest()

    def to_dataset(self) -> xr.Dataset:
        """The runs as an xarray Dataset with dim ``run`` (labels as coordinates)."""
        t = self.table
        return xr.Dataset(
            {name: ("run", t[name].to_numpy(dtype=float)) for name in self.numeric},
            coords={"run": np.arange(len(t)), "domain": ("run", t["domain"].to_numpy(dtype=str)),
                    "task": ("run", t["task"].to_numpy(dtype=str))},
            attrs={"compute_factor": self.compute_factor, "source": self.source},
        )

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> Runs:
        """Inverse of :meth:`to_dataset` (used when a saved fit is loaded)."""
        table = pd.DataFrame({name: ds[name].values.astype(float) for name in (*NUMERIC, *OPTIONAL) if name in ds})
        for label in LABELS:
            table[label] = ds[label].values.astype(str)
        table = table[[c for c in table.columns if c not in OPTIONAL] + [c for c in OPTIONAL if c in table]]
        return cls(table, float(ds.attrs["compute_factor"]), str(ds.attrs["source"]))


def read_runs(
    data: pd.DataFrame | str | Path,
    columns: Mapping[str, str] | None = None,
    compute_factor: float = DEFAULT_COMPUTE_FACTOR,
    check_units: bool = True,
    source: str | None = None,
    inputs: Sequence[str] | None = None,
) -> Runs:
    """Validate a table of training runs.

    Parameters
    ----------
    data : DataFrame or path to a CSV file
        One row per run.
    columns : mapping, optional
        Renames columns of ``data`` to ours, e.g. ``{"Model Size": "params", "Training FLOP":
        "compute"}`` for Epoch's CSV.
    compute_factor : float
        k in C = k N D, used to derive ``tokens`` from ``compute`` or ``compute`` from ``tokens``.
    check_units : bool
        Refuse tables whose counts look like billions (largest ``params`` or ``tokens`` below 1,000).
    source : str, optional
        A name recorded with the runs; defaults to the path or ``"DataFrame"``.
    inputs : sequence of str, optional
        The inputs of the law the runs are for, where it is known. For a law of one curve in
        ``tokens`` (tokens, examples or steps seen), which reads no ``params``, a table of
        ``tokens`` and ``loss`` is complete (``params`` is recorded as 1) and ``tokens`` is not held
        to the unit check: 736 examples are a count, not thousands.

    Returns
    -------
    Runs

    Raises
    ------
    InputError
        Missing columns, non-numeric cells, NaN or infinite values, values <= 0, counts that look
        like billions, loss that looks like a percentage, duplicate rows, missing labels, or a task
        label used in two domains.
    """
    frame, default_source = as_frame(data)
    if columns is not None and not isinstance(columns, Mapping):
        raise InputError(f"columns maps the table's names to ours, e.g. {{'Model Size': 'params'}}, got {columns!r}")
    frame = rename_columns(clean_columns(frame), columns or {}, (*NUMERIC, *OPTIONAL, *LABELS))
    frame = frame.rename(columns={a: c for a, c in ALIASES.items() if a in frame.columns and c not in frame.columns})
    if (isinstance(compute_factor, bool) or not isinstance(compute_factor, (int, float, np.number))
            or not np.isfinite(compute_factor) or compute_factor <= 0):
        raise InputError(f"compute_factor must be a positive number, got {compute_factor!r}")
    table = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    for name in NUMERIC + OPTIONAL:
        if name in frame.columns:
            table[name] = numeric_column(frame[name], name)
    if inputs is not None and (isinstance(inputs, str) or not isinstance(inputs, Sequence)
                               or not all(isinstance(i, str) for i in inputs)):
        raise InputError(f"inputs are the law's input names, e.g. ('tokens',), got {inputs!r}")
    curve = inputs is not None and "tokens" in inputs and not {"params", "compute"} & set(inputs)
    filled = curve and "params" not in table and "tokens" in table
    if filled:
        table["params"] = 1.0
    _require_columns(table, [str(c) for c in frame.columns])
    all_three = {"params", "tokens", "compute"} <= set(table.columns)
    if "tokens" not in table and "params" in table:
        table["tokens"] = table["compute"] / (compute_factor * table["params"])
    if "compute" not in table:
        with np.errstate(over="ignore"):
            table["compute"] = compute_factor * table["params"] * table["tokens"]
        over = np.isinf(table["compute"]) & np.isfinite(table["params"]) & np.isfinite(table["tokens"])
        if over.any():
            raise InputError(f"compute = {compute_factor:g}·params·tokens overflows in {_rows(over)}: check the units "
                             "of params and tokens")
    if len(table) == 0:
        raise InputError("the table has no rows")
    for name in [*(c for c in NUMERIC if c in table), *(c for c in OPTIONAL if c in table)]:
        _check_values(table[name], name)
    _check_unique(table)
    _warn_isolated(table)
    if require_bool(check_units, "check_units"):
        _check_units(table.drop(columns=["params", "tokens"], errors="ignore") if curve else table)
    if all_three and not filled:
        _check_compute(table, compute_factor)
    for label in LABELS:
        table[label] = _labels(frame, label)
    if "task" not in frame.columns:
        table["task"] = table["domain"]
    _check_duplicates(table)
    _check_nesting(table)
    table = table[[*(c for c in NUMERIC if c in table), *LABELS, *(c for c in OPTIONAL if c in table)]]
    return Runs(table, float(compute_factor), source or default_source, ("params",) if filled else ())


def _require_columns(table: pd.DataFrame, columns: list[str]) -> None:
    """params with tokens or compute, or compute alone (laws in C), and loss."""
    compute_only = "compute" in table and "params" not in table and "tokens" not in table
    missing = [c for c in ("params", "loss") if c not in table and not (c == "params" and compute_only)]
    if "tokens" not in table and "compute" not in table:
        missing.append("tokens (or compute)")
    if missing:
        raise InputError(
            f"missing column(s): {', '.join(missing)}; a table of runs needs params, tokens (or "
            f"compute) and loss; use columns={{...}} to map other names (the table has {columns})"
        )


def numeric_column(column: pd.Series, name: str) -> pd.Series:
    """A column as floats (missing values stay NaN), refusing True/False, dates, durations, complex
    numbers and text that is not a number, with the row it is in.

    Raises
    ------
    InputError
        Naming the column, what it holds and the first row of it.
    """
    flags = column.map(lambda v: isinstance(v, bool | np.bool_)) if column.dtype == object else None
    if pd.api.types.is_bool_dtype(column) or (flags is not None and flags.any()):
        raise InputError(f"column '{name}' holds True/False, not numbers")
    kind = ("dates" if pd.api.types.is_datetime64_any_dtype(column) else "durations"
            if pd.api.types.is_timedelta64_dtype(column) else "complex numbers"
            if pd.api.types.is_complex_dtype(column) else None)
    if kind:
        raise InputError(f"column '{name}' holds {kind}, not real numbers")
    try:
        values = pd.to_numeric(column, errors="coerce")
    except OverflowError:  # an integer too large for float64 (10**400)
        raise InputError(f"column '{name}' has a number too large for floating point (above 1.8e308)") from None
    rows = np.flatnonzero((column.notna() & values.isna()).to_numpy())
    if len(rows):
        raise InputError(
            f"column '{name}' has non-numeric value {column.iloc[rows[0]]!r} in row {rows[0]}"
            + (f" (and {len(rows) - 1} more rows)" if len(rows) > 1 else "")
        )
    return values.astype(float)


def _rows(mask: pd.Series) -> str:
    rows = [int(i) for i in mask.index[mask]]
    shown = ", ".join(map(str, rows[:5]))
    return f"row{'s' if len(rows) > 1 else ''} {shown}" + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")


def _check_values(column: pd.Series, name: str) -> None:
    if column.isna().any():
        raise InputError(f"column '{name}' has missing values (NaN) in {_rows(column.isna())}")
    if np.isinf(column).any():
        raise InputError(f"column '{name}' has infinite values in {_rows(np.isinf(column))}")
    if (column <= 0).any():
        bad = column <= 0
        raise InputError(
            f"column '{name}' must be positive, but has {column[bad].iloc[0]:g} in {_rows(bad)}"
        )


def _check_unique(table: pd.DataFrame) -> None:
    """A run cannot see more distinct tokens than it trains on."""
    if "unique_tokens" not in table:
        return
    above = table["unique_tokens"] > table["tokens"] * (1 + 1e-9)
    if above.any():
        i = above.idxmax()
        raise InputError(
            f"unique_tokens above tokens in {_rows(above)} (row {i}: {table.loc[i, 'unique_tokens']:g} unique of "
            f"{table.loc[i, 'tokens']:g} tokens): a run cannot see more distinct tokens than it trains on"
        )


def _check_units(table: pd.DataFrame) -> None:
    for name, hint in (("params", "7e10, not 70"), ("tokens", "1.4e12, not 1400")):
        if name not in table:
            continue
        largest = table[name].max()
        if largest < MIN_PLAUSIBLE_COUNT:
            raise InputError(
                f"column '{name}' is at most {largest:g}: counts look like they are in millions or "
                f"billions; give raw counts (e.g. {hint}); from Python, read_runs(..., check_units=False) takes "
                "them as they are"
            )
    largest = table["loss"].max()
    if largest > MAX_LOSS:
        raise InputError(
            f"column 'loss' reaches {largest:g}: that looks like a percentage or a scaled loss; "
            "give loss in nats (cross-entropy) or error as a fraction in (0, 1]"
        )


def _warn_isolated(table: pd.DataFrame) -> None:
    """Warn of a run whose size or loss lies more than :data:`ISOLATED_DECADES` from every other run's
    (1e200 parameters among runs of 1e9): a typo or a unit slip, which would also silence the
    warnings of answers beyond the data."""
    for name in [c for c in (*NUMERIC, *OPTIONAL) if c in table and c != "budget"]:
        x = np.log10(table[name].to_numpy(dtype=float))
        if x.size < 3:
            continue
        order = np.argsort(x)
        for i, j, side in ((order[-1], order[-2], "above the next largest"), (order[0], order[1], "below the next smallest")):
            if abs(x[i] - x[j]) > ISOLATED_DECADES:
                warnings.warn(f"column '{name}' is {table[name].iloc[i]:.4g} in row {int(i)}, {abs(x[i] - x[j]):.0f} decades "
                              f"{side} ({table[name].iloc[j]:.4g}): a typo or a unit slip?", DataWarning, stacklevel=4)


def _check_compute(table: pd.DataFrame, k: float) -> None:
    """Warn where a given compute is more than :data:`COMPUTE_SLACK` decades from k·params·tokens."""
    off = np.abs(np.log10(table["compute"] / (k * table["params"] * table["tokens"])))
    if off.max() > COMPUTE_SLACK:
        row = int(off.idxmax())
        warnings.warn(f"column 'compute' is {10 ** off[row]:.3g} times off {k:g}·params·tokens in row {row}: check its "
                      "units (FLOPs) or compute_factor (laws in N and D read params and tokens, the compute law "
                      "reads compute)", DataWarning, stacklevel=3)


#: Characters a group label may not hold: control characters and lone surrogates (NetCDF cannot store them).
UNPRINTABLE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def _labels(frame: pd.DataFrame, label: str) -> pd.Series:
    if label not in frame.columns:
        return pd.Series(DEFAULT_GROUP, index=frame.index)
    column = frame[label]
    unprintable = pd.Series([UNPRINTABLE.search(str(v)) is not None for v in column], index=column.index, dtype=bool)
    if unprintable.any():  # NUL, tabs, lone surrogates: a saved fit cannot hold them
        raise InputError(f"column '{label}' has labels with control or unencodable characters in {_rows(unprintable)}")
    missing = column.isna() | (column.astype(str).str.strip() == "")
    if missing.any():
        raise InputError(f"column '{label}' has empty labels in {_rows(missing)}")
    text = column.astype(str).str.strip()
    spaced = column.astype(str) != text
    if spaced.any():  # "a" and "a " are one group: say so, as spaces around column names are said
        warnings.warn(f"column '{label}' has labels with spaces around them ({column[spaced].iloc[0]!r} in "
                      f"{_rows(spaced)}); they are read without them", DataWarning, stacklevel=3)
    kinds = (pd.Series([type(v).__name__ for v in column], index=column.index).groupby(text).nunique()
             if column.dtype == object else None)  # only an object column can mix numbers and text
    if kinds is not None and kinds.max() > 1:  # 1 and "1" (tables concatenated) would fit as one group
        warnings.warn(f"column '{label}' holds label '{kinds.idxmax()}' both as a number and as text; they are read "
                      "as one group", DataWarning, stacklevel=3)
    return text


def _check_duplicates(table: pd.DataFrame) -> None:
    dup = table.duplicated(keep=False)
    if dup.any():
        raise InputError(
            f"duplicate runs (identical in every column) in {_rows(dup)}; remove the copies, "
            "or give repeated seeds distinct losses"
        )


def _check_nesting(table: pd.DataFrame) -> None:
    per_task = table.groupby("task")["domain"].nunique()
    shared = per_task[per_task > 1]
    if len(shared):
        task = shared.index[0]
        domains = sorted(table.loc[table["task"] == task, "domain"].unique())
        raise InputError(
            f"task '{task}' appears in domains {domains}: tasks must be nested in one domain; "
            "give the task a distinct label in each domain"
        )
