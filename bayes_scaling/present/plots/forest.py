"""Forest plots: one row per group, the median and central interval of each parameter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from ...errors import QueryError
from ...result.intervals import DEFAULT_PROB, check_prob
from .base import (
    MAX_LABELLED_ROWS,
    group_dim,
    palette,
    pyplot,
    quantiles,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure



# --------------------------------------------------------------------------------------------- forest


def forest(
    draws: xr.DataArray | Mapping[str, xr.DataArray],
    prob: float = DEFAULT_PROB,
    ax: Axes | Sequence[Axes] | None = None,
    label: str | None = None,
    reference: float | Mapping[str, float] | None = None,
) -> Axes | Figure:
    """Forest plot of a grouped parameter: one row per group, median dot, 50% and ``prob`` intervals.

    Parameters
    ----------
    draws : DataArray or mapping of str to DataArray
        Draws with dims ``(chain, draw, G)``, ``G`` a group dim such as ``"domain"`` or ``"task"``.
        If ``G`` carries a non-dim coordinate ``"domain"`` (tasks nested in domains), rows are sorted
        by domain then by median, coloured by domain, and a legend names the domains; otherwise rows
        are sorted by median. A mapping ``{name: DataArray}`` stacks one forest per parameter in a
        column of subplots, each titled by its name, and returns the Figure.
    prob : float
        Mass of the central interval drawn as the thin line (the thick line is the central 50%).
    ax : Axes, sequence of Axes or None
        Where to draw; ``None`` makes a new figure. For a mapping, a sequence of as many Axes as
        entries, or ``None``.
    label : str, optional
        x-axis label; defaults to the DataArray's name. For a mapping, the figure's title.
    reference : float or mapping of str to float, optional
        x of a dashed vertical reference line (e.g. the population mean); for a mapping of draws, a
        single value for every panel or a mapping by name.

    Returns
    -------
    Axes or Figure
        The Axes for a single DataArray; the Figure for a mapping.

    Notes
    -----
    Rows run top to bottom. With more than ``MAX_LABELLED_ROWS`` (60) rows the per-row tick labels
    are hidden and lines and markers are thinned, so 1,000 tasks still render legibly as a shape.
    """
    prob = check_prob(prob)
    if isinstance(draws, Mapping):
        return _forest_panels(draws, prob, ax, label, reference)
    if ax is not None and not hasattr(ax, "plot"):
        raise TypeError("ax must be a matplotlib Axes for a single DataArray")
    ref = reference if not isinstance(reference, Mapping) else reference.get(str(draws.name))
    return _forest_one(draws, prob, ax, label, ref)


def _forest_rows(draws: xr.DataArray, prob: float) -> pd.DataFrame:
    """One row per group, in plotting order (top first): label, domain, median and intervals."""
    g = group_dim(draws, "forest")
    lo, q25, med, q75, hi = quantiles(draws, [(1 - prob) / 2, 0.25, 0.5, 0.75, (1 + prob) / 2])
    rows = pd.DataFrame({
        "label": [str(v) for v in draws[g].values],
        "median": med.values, "lo": lo.values, "q25": q25.values, "q75": q75.values, "hi": hi.values,
    })
    nested = "domain" in draws.coords and g != "domain" and draws.coords["domain"].dims == (g,)
    if nested:
        rows["domain"] = [str(v) for v in draws.coords["domain"].values]
        rows = rows.sort_values(["domain", "median"], kind="stable")
    else:
        rows["domain"] = None
        rows = rows.sort_values("median", kind="stable")
    return rows.reset_index(drop=True)


def _forest_one(draws: xr.DataArray, prob: float, ax: Axes | None, label: str | None,
                reference: float | None) -> Axes:
    plt = pyplot()
    rows = _forest_rows(draws, prob)
    n = len(rows)
    if ax is None:
        height = min(max(2.5, 0.22 * n + 1.2), 10.0)
        _, ax = plt.subplots(figsize=(6.0, height), layout="constrained")
    many = n > MAX_LABELLED_ROWS
    thin_lw, thick_lw, dot = (0.4, 1.0, 2.0) if many else (1.0, 3.0, 20.0)

    y = np.arange(n)
    nested = rows["domain"].notna().all() and n > 0
    if nested:
        domains = list(dict.fromkeys(rows["domain"]))
        by_domain = dict(zip(domains, palette(len(domains)), strict=True))
        colors = [by_domain[d] for d in rows["domain"]]
    else:
        colors = ["C0"] * n
    ax.hlines(y, rows["lo"], rows["hi"], colors=colors, linewidth=thin_lw)
    ax.hlines(y, rows["q25"], rows["q75"], colors=colors, linewidth=thick_lw)
    ax.scatter(rows["median"], y, c=colors, s=dot, zorder=3, edgecolors="none")
    if nested:
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], color=by_domain[d], marker="o", linewidth=thick_lw, label=d) for d in domains]
        ax.legend(handles=handles, title="domain", fontsize="small", loc="best",
                  ncol=1 if len(domains) <= 12 else 2)
    if reference is not None:
        ax.axvline(float(reference), color="0.4", linestyle="--", linewidth=1.0, zorder=1)

    ax.set_ylim(n - 0.5, -0.5)  # first row on top
    if many:
        ax.set_yticks([])
        ax.set_ylabel(f"{n} {group_dim(draws, 'forest')} values, sorted")
    else:
        ax.set_yticks(y, labels=list(rows["label"]))
    ax.set_xlabel(label if label is not None else (str(draws.name) if draws.name is not None else ""))
    ax.set_title(f"median, 50% and {prob:.0%} intervals", fontsize="small")
    return ax


def _forest_panels(draws: Mapping[str, xr.DataArray], prob: float, ax: Any, label: str | None,
                   reference: float | Mapping[str, float] | None) -> Figure:
    plt = pyplot()
    names = list(draws)
    if not names:
        raise QueryError("forest got an empty mapping of draws")
    if ax is None:
        sizes = [draws[k].sizes[group_dim(draws[k], f"forest[{k!r}]")] for k in names]
        heights = [min(max(2.0, 0.22 * s + 1.0), 6.0) for s in sizes]
        fig, axes = plt.subplots(len(names), 1, figsize=(6.0, sum(heights)), layout="constrained",
                                 gridspec_kw={"height_ratios": heights}, squeeze=False)
        axes = list(axes[:, 0])
    else:
        axes = list(np.ravel(ax)) if not hasattr(ax, "plot") else [ax]
        if len(axes) != len(names):
            raise QueryError(f"forest of {len(names)} parameters needs {len(names)} Axes, got {len(axes)}")
        fig = axes[0].figure
    for name, a in zip(names, axes, strict=True):
        ref = reference.get(name) if isinstance(reference, Mapping) else reference
        _forest_one(draws[name], prob, a, None, ref)
        a.set_title(name)
    if label is not None:
        fig.suptitle(label)
    return fig


