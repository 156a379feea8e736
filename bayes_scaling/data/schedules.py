"""Learning-rate schedules of runs still training, as the two quantities a schedule-aware law reads.

A run's learning rate eta(t), relative to its peak, rises linearly over a warm-up of ``warmup``
tokens (or steps), stays at the peak until ``start`` (the end of the warm-up unless given: a
warm-up-stable-decay run decays only over its last tenth or fifth), then decays to ``final`` times
the peak at ``end`` (the run's planned length unless the decay ends earlier, as GPT-3's does at 260B
of 300B tokens) and stays there:

- ``constant``: eta = 1 after the warm-up;
- ``cosine``: eta = final + (1 - final)·(1 + cos(pi·p))/2, p the fraction of the decay done;
- ``linear``: eta = final + (1 - final)·(1 - p).

The law reads, at each checkpoint t (Tissue et al. 2024, "Scaling law with learning rate
annealing"), the *forward area* S1(t) = integral of eta over [0, t], the tokens the run has seen at
its peak rate (closed form below), and the *annealed fraction* a(t) = 1 - eta(t) after the warm-up
(0 during it): how much of the rate the run has already given up. Tissue et al. weigh past decreases
with a momentum memory of about a thousand steps; for runs of 10^5 steps and more that memory is
under 1% of the run and a(t) is its limit.

The two enter a run table as positive columns that follow ``tokens`` (they share its pivot):
``lr_tokens`` = S1 and ``annealed_tokens`` = t·(1 + a), so that log(annealed_tokens / tokens) =
log(1 + a). A run without a schedule has S1 = t and a = 0 (a constant rate), which is what the
columns default to.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..errors import DataWarning, InputError
from .runs import numeric_column

KINDS = ("constant", "cosine", "linear")
#: Columns of a checkpoint table that describe each curve's schedule (one value per curve).
COLUMNS = ("schedule", "lr_warmup", "lr_final", "lr_decay_start", "lr_decay_end")


def _decay_fraction(t: np.ndarray, end: float, start: float) -> np.ndarray:
    return np.clip((t - start) / max(end - start, 1e-300), 0.0, 1.0)


def learning_rate(t: np.ndarray, kind: str, end: float, warmup: float = 0.0, final: float = 0.0,
                  start: float | None = None) -> np.ndarray:
    """eta(t) / eta_peak at ``t`` (tokens or steps, the unit of ``end``, ``warmup`` and ``start``)."""
    t = np.asarray(t, dtype=float)
    p = _decay_fraction(t, end, max(warmup, start or 0.0))
    shape = {"constant": np.ones_like(p), "cosine": 0.5 * (1 + np.cos(np.pi * p)), "linear": 1 - p}[kind]
    decayed = final + (1 - final) * shape if kind != "constant" else shape
    rise = t / warmup if warmup > 0 else np.ones_like(t)
    return np.where(t < warmup, rise, decayed)


def forward_area(t: np.ndarray, kind: str, end: float, warmup: float = 0.0, final: float = 0.0,
                 start: float | None = None) -> np.ndarray:
    """S1(t): the integral of eta / eta_peak from 0 to ``t``, in the unit of ``t``."""
    t = np.asarray(t, dtype=float)
    rise = np.minimum(t, warmup) ** 2 / (2 * warmup) if warmup > 0 else np.zeros_like(t)
    if kind == "constant":
        return rise + np.maximum(t - warmup, 0.0)
    start = max(warmup, start or 0.0)
    plateau = np.clip(t, warmup, start) - warmup
    span = max(end - start, 0.0)
    p = _decay_fraction(t, end, start)
    if kind == "cosine":
        done = final * p + (1 - final) * 0.5 * (p + np.sin(np.pi * p) / np.pi)
    else:
        done = final * p + (1 - final) * (p - p**2 / 2)
    return rise + plateau + span * done + np.maximum(t - end, 0.0) * final


def schedule_columns(t: np.ndarray, kind: str, end: float, warmup: float = 0.0, final: float = 0.0,
                     start: float | None = None) -> dict[str, np.ndarray]:
    """``lr_tokens`` (S1) and ``annealed_tokens`` (t·(1 + a)) at checkpoints ``t`` (module docstring)."""
    t = np.asarray(t, dtype=float)
    annealed = np.where(t < warmup, 0.0, 1.0 - learning_rate(t, kind, end, warmup, final, start))
    return {"lr_tokens": forward_area(t, kind, end, warmup, final, start), "annealed_tokens": t * (1.0 + annealed)}


def read_schedules(table: pd.DataFrame, total: pd.Series, x: str) -> pd.DataFrame | None:
    """Each curve's schedule (``kind``, ``warmup``, ``final``, ``start``, ``end``, by curve) from a
    checkpoint table's :data:`COLUMNS`, or None where it has no ``schedule`` column. The decay starts
    at ``lr_decay_start`` where given, else at the end of the warm-up, and ends at ``lr_decay_end``
    where given, else at the run's planned length ``total``.

    Raises
    ------
    InputError
        An unknown schedule, a schedule that changes within a curve, a decaying schedule without the
        end of its decay, a warm-up outside [0, end), a decay that starts before the warm-up ends or
        after it ends, or a final rate outside [0, 1].
    """
    if "schedule" not in table:
        for name in COLUMNS[1:]:
            if name in table:
                raise InputError(f"column '{name}' describes a learning-rate schedule; give the 'schedule' column too "
                                 f"({', '.join(KINDS)})")
        return None
    numbers = {name: numeric_column(table[name], name) for name in COLUMNS[1:] if name in table}
    for name, values in numbers.items():
        bad = values.notna() & np.isinf(values.fillna(0.0))
        if bad.any():
            i = int(np.argmax(bad.to_numpy()))
            raise InputError(f"column '{name}' must be a finite number; it has {table[name].iloc[i]!r} in row {i}")
    frame = pd.DataFrame({"kind": table["schedule"].astype(str).str.strip().str.lower(), "curve": table["curve"],
                          "warmup": numbers.get("lr_warmup", 0.0), "final": numbers.get("lr_final", 0.0),
                          "start": numbers.get("lr_decay_start", np.nan), "end": numbers.get("lr_decay_end", np.nan)})
    unknown = sorted(set(frame["kind"]) - set(KINDS))
    if unknown:
        raise InputError(f"unknown learning-rate schedule {unknown[0]!r}; use one of {', '.join(KINDS)}")
    keys = ["kind", "warmup", "final", "start", "end"]
    varying = frame.groupby("curve", sort=False)[keys].nunique(dropna=False).max(axis=1) > 1
    if varying.any():
        raise InputError(f"curve {varying.index[varying][0]!r}: {', '.join(COLUMNS)} must be one value per curve")
    out = frame.groupby("curve", sort=False)[keys].first()
    if out[["warmup", "final"]].isna().any().any():
        raise InputError("lr_warmup and lr_final must be numbers")
    given = out["end"].where(out["kind"] != "constant")  # a constant rate has no decay to end
    out["end"] = out["end"].fillna(total.reindex(out.index))
    need = out[(out["kind"] != "constant") & out["end"].isna()]
    if len(need):
        raise InputError(f"curve {need.index[0]!r}: a {need['kind'].iloc[0]} schedule decays to the run's planned length; "
                         f"give total_{'tokens' if x == 'tokens' else 'steps'} (or lr_decay_end)")
    out["end"] = out["end"].fillna(np.inf)
    out["start"] = out["start"].fillna(out["warmup"])
    _check_ranges(out)
    _warn_beyond_total(given, total.reindex(out.index), x)
    return out


def _warn_beyond_total(end: pd.Series, total: pd.Series, x: str) -> None:
    """A decay that ends after the run's planned length is legal (the run stopped early) but more often
    an end given in other units than the run's length, so it is named."""
    beyond = end.notna() & total.notna() & (end > total * (1 + 1e-9))
    if beyond.any():
        curve = beyond.index[beyond][0]
        warnings.warn(f"curve {curve!r}: lr_decay_end {end[curve]:g} lies beyond its planned length "
                      f"total_{'tokens' if x == 'tokens' else 'steps'} {total[curve]:g}"
                      f"{f' (and {int(beyond.sum()) - 1} more curves)' if beyond.sum() > 1 else ''}: the run stops "
                      "before its learning rate has decayed; check that both are in the same units",
                      DataWarning, stacklevel=4)


def _check_ranges(out: pd.DataFrame) -> None:
    bad = out[(out["warmup"] < 0) | (out["warmup"] >= out["end"])]
    if len(bad):
        raise InputError(f"curve {bad.index[0]!r}: lr_warmup {bad['warmup'].iloc[0]:g} must lie in [0, the end of the decay)")
    bad = out[(out["start"] < out["warmup"]) | ((out["start"] >= out["end"]) & (out["kind"] != "constant"))]
    if len(bad):
        raise InputError(f"curve {bad.index[0]!r}: lr_decay_start {bad['start'].iloc[0]:g} must lie between the end of "
                         "the warm-up and the end of the decay")
    bad = out[(out["final"] < 0) | (out["final"] > 1)]
    if len(bad):
        raise InputError(f"curve {bad.index[0]!r}: lr_final {bad['final'].iloc[0]:g} is a fraction of the peak rate, in [0, 1]")


def columns_at(schedules: pd.DataFrame, curves: pd.Series, t: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`schedule_columns` for rows of curves ``curves`` at ``t``, each from its curve's schedule."""
    t = np.asarray(t, dtype=float)
    out = {"lr_tokens": np.empty_like(t), "annealed_tokens": np.empty_like(t)}
    labels = np.asarray(curves, dtype=str)
    for curve, row in schedules.iterrows():
        rows = labels == str(curve)
        cols = schedule_columns(t[rows], row["kind"], float(row["end"]), float(row["warmup"]), float(row["final"]),
                                float(row["start"]))
        for name, values in cols.items():
            out[name][rows] = values
    return out
