"""Planning figures: the loss over N at a budget under a plan, and the compute needed for a target."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from ...errors import QueryError
from ...result.intervals import DEFAULT_PROB, SAMPLE_DIMS, check_prob
from .base import (
    band,
    check_sample_dims,
    new_axes,
    shade_fitted,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes



# ----------------------------------------------------------------------------------------- plan curve


def plan_curve(
    curve: xr.DataArray,
    choices: Mapping[str, float] | None = None,
    prob: float = DEFAULT_PROB,
    ax: Axes | None = None,
) -> Axes:
    """Loss against model size N at a fixed compute budget, with the N each objective chooses.

    Parameters
    ----------
    curve : DataArray
        Loss draws with dims ``(chain, draw, params)`` and a coordinate ``params`` holding the N
        values (positive).
    choices : mapping of str to float, optional
        The N chosen by each objective, e.g. ``{"mean": 6.1e10, "quantile 0.9": 4.8e10}``; each is
        marked by a vertical line and a point on the median curve, and named in the legend.
    prob : float
        Mass of the central band.
    ax : Axes, optional
        Where to draw; ``None`` makes a new figure.

    Returns
    -------
    Axes
        Log x axis; legend with the median, the band and one entry per choice.
    """
    prob = check_prob(prob)
    check_sample_dims(curve, "plan_curve")
    rest = [d for d in curve.dims if d not in SAMPLE_DIMS]
    if rest != ["params"] or "params" not in curve.coords:
        raise QueryError(f"plan_curve needs dims (chain, draw, params) with a params coordinate, got {curve.dims}")
    n = np.asarray(curve["params"].values, dtype=float)
    order = np.argsort(n)
    n = n[order]
    med, lo, hi = (a.values[order] for a in band(curve, prob))

    ax = new_axes(ax)
    ax.fill_between(n, lo, hi, color="C0", alpha=0.2, linewidth=0, label=f"{prob:.0%} interval")
    ax.plot(n, med, color="C0", label="median loss")
    styles = ["--", ":", "-.", (0, (5, 1, 1, 1))]
    for i, (name, value) in enumerate((choices or {}).items()):
        value = float(value)
        color = f"C{(i + 1) % 10}"
        ax.axvline(value, color=color, linestyle=styles[i % len(styles)], linewidth=1.2,
                   label=f"{name}: N = {value:.3g}")
        y = np.interp(np.log(value), np.log(n), med) if n.size and value > 0 else np.nan
        ax.plot([value], [y], marker="o", color=color, linestyle="none", zorder=3)
    ax.set_xscale("log")
    ax.set_xlabel("parameters N")
    ax.set_ylabel("loss")
    ax.legend(fontsize="small")
    return ax


# --------------------------------------------------------------------------------------- target curve


def target_curve(compute: xr.DataArray, ax: Axes | None = None,
                 runs_compute: tuple[float, float] | None = None) -> Axes:
    """Compute needed to reach each target loss with probability at least ``p``, one line per ``p``.

    Parameters
    ----------
    compute : DataArray
        Compute (FLOPs) with dims ``(prob, target)`` (either order) and coordinates ``prob`` (the
        probabilities) and ``target`` (loss values). NaN (target out of reach) leaves a gap.
    ax : Axes, optional
        Where to draw; ``None`` makes a new figure.
    runs_compute : (float, float), optional
        The fitted runs' compute range, shaded (a target needing more compute extrapolates).

    Returns
    -------
    Axes
        Target loss on x, compute on a log y axis; legend entries ``P(L <= x) >= p``.
    """
    if set(compute.dims) != {"prob", "target"}:
        raise QueryError(f"target_curve needs dims (prob, target), got {compute.dims}")
    for c in ("prob", "target"):
        if c not in compute.coords:
            raise QueryError(f"target_curve needs a {c!r} coordinate")
    compute = compute.transpose("prob", "target")
    target = np.asarray(compute["target"].values, dtype=float)
    order = np.argsort(target)
    ax = new_axes(ax)
    for i, p in enumerate(compute["prob"].values):
        ax.plot(target[order], np.asarray(compute.values[i], dtype=float)[order], marker="o", markersize=3,
                label=f"P(L <= x) >= {float(p):g}")
    if runs_compute is not None:
        shade_fitted(ax, *runs_compute, label="compute range of the runs", axis="y")
    ax.set_yscale("log")
    ax.set_xlabel("target loss x")
    ax.set_ylabel("compute (FLOPs)")
    ax.legend(fontsize="small")
    return ax




# ------------------------------------------------------------------------------------ returns curve


def returns_curve(
    returns: xr.Dataset,
    runs_compute: tuple[float, float] | None = None,
    prob: float = DEFAULT_PROB,
    ax: Axes | None = None,
) -> Axes:
    """The loss gained per doubling of compute along the frontier, against compute, with its band.

    Parameters
    ----------
    returns : Dataset
        From :func:`bayes_scaling.decisions.returns.returns`: ``gain`` with dims ``(chain, draw,
        compute)`` (one group), and ``compute_below`` where a threshold was given (its median is
        marked with the threshold).
    runs_compute : (float, float), optional
        The fitted runs' compute range, shaded (answers outside it extrapolate).
    prob : float
        Mass of the central band.
    ax : Axes, optional
        Where to draw; ``None`` makes a new figure.

    Returns
    -------
    Axes
    """
    prob = check_prob(prob)
    gain = returns["gain"]
    check_sample_dims(gain, "returns['gain']")
    if set(gain.dims) != {*SAMPLE_DIMS, "compute"}:
        raise QueryError(f"draw one group at a time: returns['gain'] has dims {gain.dims}; select a group first")
    ax = new_axes(ax)
    c = gain["compute"].values
    if runs_compute is not None:
        shade_fitted(ax, *runs_compute, label="compute range of the runs")
    med, lo, hi = (a.values for a in band(gain, prob))
    ax.fill_between(c, lo, hi, color="C0", alpha=0.3, linewidth=0, label=f"{prob:.0%} credible interval")
    ax.plot(c, med, color="C0", linewidth=1.8, label="posterior median")
    if "compute_below" in returns:
        threshold = float(returns["compute_below"].attrs["threshold"])
        ax.axhline(threshold, color="0.3", linestyle="--", linewidth=1.0, label=f"threshold {threshold:g}")
        at = float(returns["compute_below"].median(skipna=True))
        if np.isfinite(at):
            ax.axvline(at, color="C3", linestyle=":", linewidth=1.2, label=f"gain below threshold from {at:.2g} FLOPs")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("compute C (FLOPs)")
    ax.set_ylabel("loss gained by doubling C, L*(C) - L*(2C)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small")
    return ax
