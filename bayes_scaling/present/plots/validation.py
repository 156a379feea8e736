"""Figures of backtests and calibration: coverage against nominal, held-out runs against predictions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...errors import QueryError
from ...result.intervals import check_prob
from .base import (
    new_axes,
    palette,
    plain_log_labels,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes



# ------------------------------------------------------------------------------ backtests and calibration


def coverage_curve(result: Any, ax: Axes | None = None) -> Axes:
    """Observed against nominal coverage of central intervals, with the diagonal of perfect calibration.

    Parameters
    ----------
    result : Backtest or Calibration
        A :class:`~bayes_scaling.validation.backtest.Backtest` (one line per method with intervals) or a
        :class:`~bayes_scaling.validation.calibrate.Calibration` (one line per quantity); the numbers come from
        its ``coverage_long()`` (columns ``label``, ``nominal``, ``observed``).
    ax : Axes, optional
        Where to draw; ``None`` makes a new figure.

    Returns
    -------
    Axes
        Points above the diagonal are intervals that cover more often than they claim (too wide).
    """
    table = result.coverage_long()
    ax = new_axes(ax, (4.8, 4.5))
    ax.plot([0, 1], [0, 1], color="0.5", linestyle="--", linewidth=1, label="nominal = observed")
    groups = list(table.groupby("label", sort=False))
    for color, (label, frame) in zip(palette(max(1, len(groups))), groups):
        frame = frame.sort_values("nominal")
        ax.plot(frame["nominal"], frame["observed"], marker="o", color=color, label=str(label))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("nominal coverage of the central interval")
    ax.set_ylabel("observed coverage")
    ax.legend(fontsize="small")
    return ax


def extrapolation(backtest: Any, ax: Axes | None = None, prob: float = 0.9, task: str | None = None) -> Axes:
    """Each method's prediction of the held-out runs, with its interval, against the observed losses.

    Parameters
    ----------
    backtest : Backtest
        From :func:`bayes_scaling.validation.backtest.backtest`; its ``per_run`` table holds every number drawn.
    ax : Axes, optional
        Where to draw; ``None`` makes a new figure.
    prob : float
        Mass of the central predictive interval drawn (one of the backtest's levels); methods
        without intervals (point fits) are drawn as points.
    task : str, optional
        The task to draw when the held-out runs span several (default: the first).

    Returns
    -------
    Axes
        Log axes: the training runs (grey), the held-out runs (black) and one marker per method and
        run (offset slightly along x so that methods do not hide each other), against compute (or the
        data axis x for learning curves).
    """
    prob = check_prob(prob)
    if not any(abs(prob - p) < 1e-9 for p in backtest.levels):
        raise QueryError(f"prob {prob} is not among the backtest's levels {list(backtest.levels)}")
    pct = format(round(100 * prob, 6), "g")
    x_col = backtest.x_column
    rows = backtest.per_run
    train = backtest.train.table
    tasks = list(dict.fromkeys(rows["task"]))
    if task is None and len(tasks) > 1:
        task = tasks[0]
    if task is not None:
        if task not in tasks:
            raise QueryError(f"task {task!r} is not among the held-out tasks")
        rows, train = rows[rows["task"] == task], train[train["task"] == task]
    ax = new_axes(ax, (6.5, 4.5))
    ax.scatter(train[x_col], train["loss"], s=12, color="0.65", label="training runs", zorder=1)
    held = rows.drop_duplicates("run")
    ax.scatter(held[x_col], held["loss"], s=18, color="black", label="held-out runs", zorder=4)
    methods = list(dict.fromkeys(rows["method"]))
    for i, (method, color) in enumerate(zip(methods, palette(len(methods)))):
        frame = rows[rows["method"] == method]
        x = frame[x_col].to_numpy(dtype=float) * 1.03 ** (i - (len(methods) - 1) / 2)
        med = frame["median"].to_numpy(dtype=float)
        lo = frame.get(f"lower_{pct}", pd.Series(np.nan, index=frame.index)).to_numpy(dtype=float)
        hi = frame.get(f"upper_{pct}", pd.Series(np.nan, index=frame.index)).to_numpy(dtype=float)
        if np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)):
            ax.errorbar(x, med, yerr=[med - lo, hi - med], fmt="o", markersize=4, color=color, capsize=2,
                        linewidth=1, label=f"{method} ({prob:.0%} interval)", zorder=3)
        else:
            ax.scatter(x, med, marker="x", s=24, color=color, label=f"{method} (point)", zorder=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain_log_labels(ax.yaxis)
    ax.set_xlabel({"compute": "compute C (FLOPs)", "tokens": "data x (tokens / examples seen)"}.get(x_col, x_col))
    ax.set_ylabel("loss")
    ax.set_title(f"holdout {backtest.holdout}" + (f", task {task}" if task is not None else ""), fontsize="small")
    ax.legend(fontsize="small")
    return ax




def pit_histogram(per_run: pd.DataFrame, ax: Axes | None = None, bins: int = 10) -> Axes:
    """Histogram of the probability integral transform of held-out runs, one outline per method.

    Parameters
    ----------
    per_run : pandas.DataFrame
        A backtest's per-run rows (``Backtest.per_run``, or the table ``backtest --save`` writes):
        columns ``method`` and ``pit``; methods without a predictive distribution (NaN PIT) are left out.
    ax : Axes, optional
    bins : int
        Equal bins on [0, 1].

    Returns
    -------
    Axes
        Calibrated predictions give a flat histogram at density 1 (the dashed line). A U shape means
        intervals too narrow (held-out runs fall in the tails); a hump, too wide; a slope, a bias.
    """
    if "pit" not in per_run or "method" not in per_run:
        raise QueryError("a PIT histogram needs a backtest's per-run table with columns 'method' and 'pit'")
    if int(bins) < 2:
        raise QueryError(f"bins must be at least 2, got {bins}")
    pit = pd.to_numeric(per_run["pit"], errors="coerce")
    bad = (per_run["pit"].notna() & pit.isna()) | (pit < 0) | (pit > 1)
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        raise QueryError(f"column 'pit' holds probabilities in [0, 1]; row {i} has {per_run['pit'].iloc[i]}")
    per_run = per_run.assign(pit=pit)
    groups = [(m, f["pit"].to_numpy(dtype=float)) for m, f in per_run.groupby("method", sort=False)]
    groups = [(m, p[np.isfinite(p)]) for m, p in groups if np.isfinite(p).any()]
    if not groups:
        raise QueryError("no method in the table has a predictive distribution (every PIT is missing)")
    ax = new_axes(ax, (5.2, 4.0))
    edges = np.linspace(0.0, 1.0, int(bins) + 1)
    for color, (method, pit) in zip(palette(len(groups)), groups):
        counts, _ = np.histogram(np.clip(pit, 0.0, 1.0), bins=edges)
        ax.stairs(counts / (len(pit) / int(bins)), edges, color=color, linewidth=1.8, label=f"{method} (n={len(pit)})")
    ax.axhline(1.0, color="0.5", linestyle="--", linewidth=1, label="calibrated")
    ax.set_xlim(0, 1)
    ax.set_xlabel("PIT: predictive CDF at the held-out loss")
    ax.set_ylabel("density")
    ax.legend(fontsize="small")
    return ax
