"""IsoFLOP curves: loss against N at fixed budgets, with the runs near each budget."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ...result.intervals import DEFAULT_PROB, SAMPLE_DIMS, check_prob
from .base import (
    AXIS_LABELS,
    band,
    band_handles,
    draw_bands,
    extra_dim,
    loss_ticks,
    new_axes,
    palette,
    pick_groups,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ...result.fit import Fit


def isoflop(
    fit: Fit,
    budgets: float | Sequence[float] | np.ndarray | None = None,
    prob: float = DEFAULT_PROB,
    ax: Axes | None = None,
    group: str | None = None,
    n_points: int = 60,
) -> Axes:
    """IsoFLOP curves: loss against N at fixed compute, with bands, the runs near each budget and N*.

    Draws what :func:`bayes_scaling.decisions.frontier.isoflop_curves` returns, and the runs of
    :func:`bayes_scaling.decisions.frontier.isoflop_runs`.

    Parameters
    ----------
    fit : Fit
        A fit of a law with an N/D split (else :class:`~bayes_scaling.QueryError`).
    budgets : float or sequence of float, optional
        Budgets in FLOPs (default: :func:`bayes_scaling.decisions.frontier.default_budgets`).
    prob : float
        Mass of the bands and of the N* interval.
    ax : Axes, optional
        Where to draw; ``None`` makes a new figure.
    group : str, optional
        For a grouped fit, the domain or task to draw (default: the first).
    n_points : int
        Points per curve.

    Returns
    -------
    Axes
        Log-log axes; one colour per budget: median, credible and predictive bands, the runs, and the
        posterior median N* with its interval as a horizontal error bar.
    """
    from matplotlib.lines import Line2D

    from ...decisions.frontier import isoflop_curves, isoflop_runs

    prob = check_prob(prob)
    data = isoflop_curves(fit, budgets, n_points=n_points)
    dim = extra_dim(data["loss_mean"], "compute", "n")
    title = f"IsoFLOP curves of {fit.law.formula}"
    if dim is not None:
        label = pick_groups(data[dim].values, None if group is None else [group], 1)[0]
        data = data.sel({dim: label})
        title += f" ({dim} {label})"
    runs = isoflop_runs(fit, data["compute"].values)
    if dim is not None:
        runs = runs[runs[dim].astype(str) == label]
    ax = new_axes(ax, figsize=(6.5, 4.5))
    colors = palette(data.sizes["compute"])
    for i, (c, color) in enumerate(zip(data["compute"].values, colors, strict=True)):
        n = np.asarray(data["params"].values[i], dtype=float)
        mean = data["loss_mean"].isel(compute=i)
        draw_bands(ax, n, mean, data["loss_pred"].isel(compute=i), prob, color, f"C = {c:.3g} FLOPs")
        near = runs[runs["budget"] == c]
        ax.scatter(near["params"], near["loss"], color=color, s=14, edgecolors="black", linewidths=0.4, zorder=3)
        med, lo, hi = (float(v) for v in band(data["params_opt"].isel(compute=i), prob))
        y = float(np.interp(np.log(med), np.log(n), mean.median(SAMPLE_DIMS).values))
        ax.errorbar([med], [y], xerr=[[med - lo], [hi - med]], fmt="D", color=color, markeredgecolor="black",
                    markersize=5, capsize=3, zorder=4)
    handles, _ = ax.get_legend_handles_labels()
    handles += band_handles(prob)
    handles.append(Line2D([], [], color="0.3", marker="D", linestyle="none", label=f"N* median, {prob:.0%} interval"))
    handles.append(Line2D([], [], color="0.3", marker="o", markeredgecolor="black", linestyle="none",
                          label="runs near the budget"))
    ax.legend(handles=handles, fontsize="small")
    ax.set_xscale("log")
    ax.set_yscale("log")
    loss_ticks(ax)
    ax.set_xlabel(AXIS_LABELS["params"] + " (D = C/(kN))")
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize="small")
    return ax


