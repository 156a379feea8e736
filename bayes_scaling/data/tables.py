"""A table of runs as it arrives: a DataFrame or a CSV file, its column names cleaned and mapped.

:func:`bayes_scaling.data.runs.read_runs` validates what these return; here only the file (missing,
unreadable, not CSV, a saved fit given by mistake) and the column names (spaces around them, two of
one name, a mapping onto names) are checked.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ..errors import DataWarning, InputError, require_file


def fit_file_hint(path: Path) -> str | None:
    """What to say of a file that is not CSV because it is a saved fit (NetCDF/HDF5); None otherwise."""
    try:
        with open(path, "rb") as handle:
            magic = handle.read(8)
    except OSError:
        return None
    if magic.startswith((b"\x89HDF", b"CDF")):
        return "it is a saved fit (NetCDF), not a table of runs"
    return None


def as_frame(data: object) -> tuple[pd.DataFrame, str]:
    """The table as a DataFrame numbered 0..n-1, and where it came from (a CSV path or "DataFrame")."""
    if isinstance(data, pd.DataFrame):  # rows are numbered 0..n-1 in messages, whatever the index
        return data.reset_index(drop=True), "DataFrame"
    if isinstance(data, (str, Path)):
        path = Path(data)
        require_file(path, InputError, "a CSV of runs", "no such file: {path}")
        try:
            header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False)
            frame = pd.read_csv(path, index_col=False)  # a delimiter ending each row is not an index column
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"cannot read {path} as CSV: {fit_file_hint(path) or first}") from None
        frame.columns = list(header.iloc[0]) if len(header) and header.shape[1] == frame.shape[1] else frame.columns
        return frame, str(path)
    raise InputError(f"runs must be a pandas DataFrame or a CSV path, got {type(data).__name__}")


def clean_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Strip spaces around column names (with a :class:`DataWarning`) and refuse duplicate names."""
    names = [str(c) for c in frame.columns]
    stripped = [n.strip() for n in names]
    changed = [n for n, m in zip(names, stripped, strict=True) if n != m]
    if changed:
        warnings.warn(f"column name(s) {changed} have spaces around them; read as "
                      f"{[n.strip() for n in changed]}", DataWarning, stacklevel=4)
    seen: dict[str, int] = {}
    for n in stripped:
        seen[n] = seen.get(n, 0) + 1
    dupes = [n for n, count in seen.items() if count > 1]
    if dupes:
        raise InputError(f"the table has more than one column named {dupes} (as spelled: "
                         f"{[n for n in names if n.strip() in dupes]}); keep one of each")
    frame = frame.copy()
    frame.columns = stripped
    return frame


def rename_columns(frame: pd.DataFrame, columns: Mapping[str, str], allowed: tuple[str, ...]) -> pd.DataFrame:
    """The table with ``columns`` renamed (source -> ours), each target among ``allowed`` and none twice."""
    missing = [src for src in columns if src not in frame.columns]
    if missing:
        raise InputError(
            f"column mapping names column(s) {missing} that the table does not have; "
            f"it has {list(frame.columns)}"
        )
    unknown = sorted(set(columns.values()) - set(allowed))
    if unknown:
        raise InputError(f"column mapping targets {unknown}; targets must be among {list(allowed)}")
    targets = list(columns.values())
    clash = sorted({t for t in targets if targets.count(t) > 1 or (t in frame.columns and t not in columns)})
    if clash:
        raise InputError(f"column mapping would give two columns named {clash}: map one column to each name")
    return frame.rename(columns=dict(columns))
