"""The compute-optimal frontier: N*, D*, D*/N* against compute, beside published point fits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import QueryError
from ...result.intervals import DEFAULT_PROB, check_prob
from .base import (
    AXIS_LABELS,
    band,
    extra_dim,
    log_tick_labels,
    palette,
    pyplot,
    shade_fitted,
)

_REF_STYLES: list[Any] = ["--", "-.", ":", (0, (5, 1, 1, 1))]

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ...result.fit import Fit


def frontier(
    fit: Fit,
    compute_range: tuple[float, float] = (1e18, 1e26),
    prob: float = DEFAULT_PROB,
    published: bool | None = None,
    level: str | None = None,
    n_points: int = 60,
) -> Figure:
    """The compute-optimal frontier N*(C), D*(C) and D*/N*(C), with bands, against published point fits.

    Draws :meth:`Fit.optimal` on a log grid of budgets and, for the Chinchilla law,
    :func:`bayes_scaling.decisions.frontier.published_frontier` (Hoffmann et al. rounded and unrounded, Epoch).

    Parameters
    ----------
    fit : Fit
        A fit of a law with an N/D split (else :class:`~bayes_scaling.QueryError`).
    compute_range : (float, float)
        Smallest and largest budget in FLOPs.
    prob : float
        Mass of the band.
    published : bool, optional
        Draw the published point fits (default: for the Chinchilla law).
    level : {"shared", "domain", "task"}, optional
        One band per group at this level (default: the fit's finest level).
    n_points : int
        Budgets on the grid.

    Returns
    -------
    Figure
        Three log-log panels; the runs' compute range shaded; a legend under the panels.
    """
    from ...decisions.frontier import PUBLISHED_FITS, published_frontier

    prob = check_prob(prob)
    lo, hi = (float(v) for v in compute_range)
    if not 0 < lo < hi:
        raise QueryError(f"compute_range must be two increasing positive budgets, got {compute_range}")
    if not fit.law.has_allocation:
        raise QueryError(f"the compute-optimal frontier needs a law with an N/D split; '{fit.law.name}' has none")
    grid = np.geomspace(lo, hi, int(n_points))
    opt = fit.optimal(grid, level=level)
    published = fit.law.published is PUBLISHED_FITS if published is None else published
    ref = published_frontier(grid, compute_factor=fit.runs.compute_factor) if published else None
    dim = extra_dim(opt["params"], "compute")
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13.0, 4.4), layout="constrained")
    panels = (("params", "N* (parameters)"), ("tokens", "D* (tokens)"), ("ratio", "D*/N* (tokens per parameter)"))
    labels = [None] if dim is None else [str(v) for v in opt[dim].values]
    colors = ["C0"] if dim is None else palette(len(labels))
    c_runs = fit.runs.column("compute")
    for ax, (var, ylabel) in zip(axes, panels, strict=True):
        _draw_panel(ax, var, ylabel, grid, opt, ref, dim, labels, colors, prob, c_runs)
    log_tick_labels(axes[2].yaxis, minor_thresholds=(2.0, 0.5))
    handles = _legend_handles(labels, colors, dim, prob, ref)
    fig.legend(handles=handles, loc="outside lower center", ncol=min(4, len(handles)), fontsize="small")
    fig.suptitle(f"Compute-optimal allocation, {fit.law.formula} (C = {fit.runs.compute_factor:g}·N·D)")
    return fig


def _draw_panel(ax: Axes, var: str, ylabel: str, grid: np.ndarray, opt: xr.Dataset, ref: xr.Dataset | None,
                dim: str | None, labels: list[str | None], colors: list[Any], prob: float, c_runs: np.ndarray) -> None:
    """Draw one frontier panel: the runs' compute range, a band per group and the published point fits."""
    from ...decisions.frontier import CHINCHILLA_COMPUTE

    shade_fitted(ax, c_runs.min(), c_runs.max())
    for g, color in zip(labels, colors, strict=True):
        da = opt[var] if g is None else opt[var].sel({dim: g})
        med, blo, bhi = (a.values for a in band(da, prob))
        ax.fill_between(grid, blo, bhi, color=color, alpha=0.3, linewidth=0)
        ax.plot(grid, med, color=color, linewidth=1.8)
    if ref is not None:
        for j, name in enumerate(ref["fit"].values):
            ax.plot(grid, ref[var].sel(fit=name).values, color=f"C{j + 1}" if dim is None else "0.3",
                    linestyle=_REF_STYLES[j % len(_REF_STYLES)], linewidth=1.4)
        star = {"params": 70e9, "tokens": 1.4e12}.get(var, 20.0)
        ax.plot([CHINCHILLA_COMPUTE], [star], marker="*", color="black", markersize=11, linestyle="none")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(AXIS_LABELS["compute"])
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)


def _legend_handles(labels: list[str | None], colors: list[Any], dim: str | None, prob: float,
                    ref: xr.Dataset | None) -> list[Any]:
    """Legend entries of the frontier figure: groups, band, published fits, Chinchilla and the runs' range."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = []
    for g, color in zip(labels, colors, strict=True):
        name = "posterior median" if g is None else f"{dim} {g}"
        handles.append(Line2D([], [], color=color, linewidth=1.8, label=name))
    handles.append(Patch(color=colors[0] if dim is None else "0.5", alpha=0.3, linewidth=0,
                         label=f"{prob:.0%} credible interval"))
    if ref is not None:
        for j, label in enumerate(ref["label"].values):
            handles.append(Line2D([], [], color=f"C{j + 1}" if dim is None else "0.3",
                                  linestyle=_REF_STYLES[j % len(_REF_STYLES)], label=f"{label} (point fit)"))
        handles.append(Line2D([], [], color="black", marker="*", markersize=10, linestyle="none",
                              label="Chinchilla itself (70B, 1.4T)"))
    handles.append(Patch(color="0.85", alpha=0.6, label="compute range of the runs"))
    return handles




