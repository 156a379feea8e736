"""The scaling curve: loss against one input with credible and predictive bands and the runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ...result.intervals import DEFAULT_PROB, check_prob
from .base import (
    AXIS_LABELS,
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


def scaling_curve(
    fit: Fit,
    x: Sequence[float] | np.ndarray | None = None,
    prob: float = DEFAULT_PROB,
    ax: Axes | None = None,
    level: str | None = None,
    groups: Sequence[str] | None = None,
    max_groups: int = 6,
) -> Axes:
    """The posterior scaling curve with credible and predictive bands, over the runs.

    Draws what :func:`bayes_scaling.decisions.frontier.scaling_curve_data` returns: for a law with an N/D split,
    loss against compute at the posterior-median compute-optimal allocation (the frontier L*(C); the
    runs, coloured by N, lie on or above it); for a one-input law (compute, or a learning curve's data
    axis), loss against that input.

    Parameters
    ----------
    fit : Fit
    x : sequence of float, optional
        Where to evaluate the curve (default: across the runs; pass a wider range to extrapolate).
    prob : float
        Mass of both bands.
    ax : Axes, optional
        Where to draw; ``None`` makes a new figure.
    level : {"shared", "domain", "task"}, optional
        One curve per group at this level (default: the fit's finest level).
    groups : sequence of str, optional
        Which groups to draw (default: the first ``max_groups``). With the default ``x``, each
        group's curve spans its own runs' range (within a factor 2).
    max_groups : int
        At most this many groups when ``groups`` is not given.

    Returns
    -------
    Axes
        Log-log axes; median line, credible band (darker) and predictive band (lighter) per curve,
        the runs as points, a legend naming the bands.
    """
    from ...decisions.frontier import scaling_curve_data

    prob = check_prob(prob)
    data = scaling_curve_data(fit, x, level=level)
    name = data.attrs["x_name"]
    xv = np.asarray(data["x"].values, dtype=float)
    dim = extra_dim(data["loss_mean"], "point")
    table = fit.runs.table
    ax = new_axes(ax, figsize=(6.5, 4.5) if dim is None else (9.0, 4.5))  # room for the legend beside
    if dim is None:
        draw_bands(ax, xv, data["loss_mean"], data["loss_pred"], prob, "C0", "median (law)")
        if fit.law.has_allocation:
            points = ax.scatter(table[name], table["loss"], c=np.log10(table["params"]), cmap="viridis", s=10,
                                edgecolors="none", zorder=3, label="runs")
            bar = ax.figure.colorbar(points, ax=ax)
            bar.set_label("log10 parameters N")
        else:
            ax.scatter(table[name], table["loss"], color="black", s=8, zorder=3, label="runs")
        handles, _ = ax.get_legend_handles_labels()
        ax.legend(handles=handles[:1] + band_handles(prob, "C0") + handles[1:], fontsize="small")
        shown = ""
    else:
        labels = pick_groups(data[dim].values, groups, max_groups)
        for g, color in zip(labels, palette(len(labels)), strict=True):
            obs = table[table[dim].astype(str) == g]
            keep = np.arange(xv.size)
            if x is None and len(obs):  # each group's curve over its own runs (within a factor 2)
                keep = np.flatnonzero((xv >= obs[name].min() / 2) & (xv <= obs[name].max() * 2))
            draw_bands(ax, xv[keep], data["loss_mean"].isel(point=keep).sel({dim: g}),
                        data["loss_pred"].isel(point=keep).sel({dim: g}), prob, color, g)
            ax.scatter(obs[name], obs["loss"], color=color, s=10, edgecolors="black", linewidths=0.3, zorder=3)
        handles, _ = ax.get_legend_handles_labels()
        ax.legend(handles=handles + band_handles(prob), fontsize="small", title=dim, loc="upper left",
                  bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, ncol=1 if len(labels) <= 12 else 2)
        total = data.sizes[dim]
        shown = f"; {len(labels)} of {total} {dim}s shown" if total > len(labels) else ""
    ax.set_xscale("log")
    ax.set_yscale("log")
    loss_ticks(ax)
    ax.set_xlabel(AXIS_LABELS.get(name, name))
    ax.set_ylabel("loss")
    what = "loss at the compute-optimal N*, D* (posterior median)" if fit.law.has_allocation else "loss"
    ax.set_title(f"{fit.law.formula}: {what}{shown}", fontsize="small")
    return ax


