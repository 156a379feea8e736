"""Group curves: the fitted loss of each group (domain or task) against its runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from ...errors import QueryError
from ...result.intervals import DEFAULT_PROB, SAMPLE_DIMS, check_prob
from .base import (
    band,
    check_sample_dims,
    new_axes,
    palette,
    plain_log_labels,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes



# --------------------------------------------------------------------------------------- group curves


def group_curves(
    x: np.ndarray,
    loss: xr.DataArray,
    observed: pd.DataFrame | None = None,
    prob: float = DEFAULT_PROB,
    ax: Axes | None = None,
    x_label: str = "tokens",
    group_dim: str | None = None,
    max_groups: int = 12,
) -> Axes:
    """Predicted loss curves per group: median line and central ``prob`` band, on log-log axes.

    Parameters
    ----------
    x : array of float
        The x values (e.g. tokens) the predictions were made at; one per ``point``.
    loss : DataArray
        Predicted loss with dims ``(chain, draw, point)`` or ``(chain, draw, point, group_dim)``
        (any order). ``loss.sizes["point"] == len(x)``; the point dim is the one non-sample dim that
        is not ``group_dim``.
    observed : DataFrame, optional
        Observed runs to overlay as points: columns ``x_label``, ``"loss"`` and, with groups, a
        column named ``group_dim`` holding the group labels.
    prob : float
        Mass of the central band.
    ax : Axes, optional
        Where to draw; ``None`` makes a new figure.
    x_label : str
        Name of the x quantity: the x-axis label and the column of ``observed`` holding x.
    group_dim : str, optional
        The group dim of ``loss`` (e.g. ``"task"``). ``None``: inferred when ``loss`` has a second
        non-sample dim besides ``"point"``, else a single ungrouped curve.
    max_groups : int
        Draw at most this many groups (the first ones along ``group_dim``); the title says so when
        some are left out.

    Returns
    -------
    Axes
        One median line per group shown (labelled in the legend), one band per group, and one
        scatter of observations per group that has any.
    """
    prob = check_prob(prob)
    if max_groups < 1:
        raise QueryError(f"max_groups must be >= 1, got {max_groups}")
    check_sample_dims(loss, "group_curves")
    group_dim, point, xv = _resolve_dims(x, loss, observed, x_label, group_dim)

    ax = new_axes(ax, figsize=(6.5, 4.5))
    order = np.argsort(xv)
    if group_dim is None:
        groups: list[Any] = [None]
        total = 1
    else:
        total = loss.sizes[group_dim]
        groups = list(loss[group_dim].values[:max_groups])
        loss = loss.isel({group_dim: slice(0, max_groups)})
    med, lo, hi = band(loss, prob)
    colors = palette(len(groups))
    for i, (g, color) in enumerate(zip(groups, colors, strict=True)):
        _draw_group(ax, i, g, color, xv, order, (med, lo, hi), point, observed, x_label, group_dim)
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain_log_labels(ax.yaxis)  # losses span less than a decade: label 1.8, 2, 2.4 rather than 2x10^0
    ax.set_xlabel(x_label)
    ax.set_ylabel("loss")
    title = f"median and {prob:.0%} interval"
    if group_dim is not None and total > len(groups):
        title += f"; first {len(groups)} of {total} {group_dim} shown"
    ax.set_title(title, fontsize="small")
    if group_dim is not None:
        ax.legend(title=group_dim, fontsize="small", ncol=1 if len(groups) <= 6 else 2)
    return ax


def _resolve_dims(x: np.ndarray, loss: xr.DataArray, observed: pd.DataFrame | None, x_label: str,
                  group_dim: str | None) -> tuple[str | None, str, np.ndarray]:
    """Check the inputs of :func:`group_curves`; return the group dim, the point dim and x as floats."""
    rest = [str(d) for d in loss.dims if d not in SAMPLE_DIMS]
    if group_dim is None and len(rest) == 2:
        if "point" not in rest:
            raise QueryError(f"group_curves: name the group dim (group_dim=...) among {rest}")
        group_dim = next(d for d in rest if d != "point")
    if group_dim is not None and group_dim not in rest:
        raise QueryError(f"group_dim {group_dim!r} is not a dim of loss {loss.dims}")
    point_dims = [d for d in rest if d != group_dim]
    if len(point_dims) != 1:
        raise QueryError(f"group_curves needs loss dims (chain, draw, point[, group]), got {loss.dims}")
    point = point_dims[0]
    xv = np.asarray(x, dtype=float).ravel()
    if xv.size != loss.sizes[point]:
        raise QueryError(f"len(x) = {xv.size} but loss has {loss.sizes[point]} {point!r} values")
    if observed is not None:
        need = [x_label, "loss"] + ([group_dim] if group_dim is not None else [])
        missing = [c for c in need if c not in observed.columns]
        if missing:
            raise QueryError(f"observed lacks columns {missing} (has {list(observed.columns)})")
    return group_dim, point, xv


def _draw_group(ax: Axes, i: int, g: Any, color: Any, xv: np.ndarray, order: np.ndarray,
                bands: tuple[xr.DataArray, xr.DataArray, xr.DataArray], point: str,
                observed: pd.DataFrame | None, x_label: str, group_dim: str | None) -> None:
    """Draw the band, median line and observed runs of the ``i``-th group."""
    med, lo, hi = bands
    sel = {} if group_dim is None else {group_dim: i}
    m = med.isel(sel).transpose(point).values[order]
    ax.fill_between(xv[order], lo.isel(sel).transpose(point).values[order],
                    hi.isel(sel).transpose(point).values[order], color=color, alpha=0.2, linewidth=0)
    ax.plot(xv[order], m, color=color, label="median" if g is None else str(g))
    if observed is not None:
        obs = observed if group_dim is None else observed[observed[group_dim].astype(str) == str(g)]
        if len(obs):
            ax.scatter(obs[x_label], obs["loss"], color=color, s=12, edgecolors="black",
                       linewidths=0.3, zorder=3)
