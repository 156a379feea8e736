"""What every plot shares: matplotlib on demand, checks of draws, bands, colours and log-axis labels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from ...errors import QueryError
from ...result.intervals import SAMPLE_DIMS

if TYPE_CHECKING:
    from matplotlib.axes import Axes

#: Above this many rows a forest hides its per-row tick labels (they would overlap).
MAX_LABELLED_ROWS = 60


def pyplot() -> Any:
    """Import and return ``matplotlib.pyplot``, with an install hint when matplotlib is missing."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError("plots need matplotlib: pip install 'bayes_scaling[plot]'") from err
    return plt


def check_sample_dims(da: xr.DataArray, what: str) -> None:
    missing = [d for d in SAMPLE_DIMS if d not in da.dims]
    if missing:
        raise QueryError(f"{what} needs sample dims {SAMPLE_DIMS}, missing {missing} (dims are {da.dims})")


def quantiles(da: xr.DataArray, qs: Sequence[float]) -> list[xr.DataArray]:
    """Quantiles of ``da`` over the sample dims, one DataArray per entry of ``qs``."""
    q = da.quantile(list(qs), dim=list(SAMPLE_DIMS))
    return [q.isel(quantile=i, drop=True) for i in range(len(qs))]


def band(da: xr.DataArray, prob: float) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray]:
    """Median and the central ``prob`` interval of ``da`` over the sample dims."""
    lo, med, hi = quantiles(da, [(1 - prob) / 2, 0.5, (1 + prob) / 2])
    return med, lo, hi


def shade_fitted(ax: Axes, lo: float, hi: float, label: str | None = None, axis: str = "x") -> Axes:
    """Shade the fitted runs' range on the ``x`` (or ``y``) axis, behind everything: what lies outside it
    is extrapolated."""
    span = ax.axvspan if axis == "x" else ax.axhspan
    span(float(lo), float(hi), color="0.85", alpha=0.6, linewidth=0, zorder=0, label=label)
    return ax


def new_axes(ax: Axes | None, figsize: tuple[float, float] = (6.0, 4.0)) -> Axes:
    plt = pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def palette(n: int) -> list[Any]:
    """``n`` distinct colours: tab10 up to 10, tab20 up to 20, then a continuous colormap."""
    plt = pyplot()
    if n <= 10:
        return [plt.get_cmap("tab10")(i) for i in range(n)]
    if n <= 20:
        return [plt.get_cmap("tab20")(i) for i in range(n)]
    cmap = plt.get_cmap("turbo")
    return [cmap(v) for v in np.linspace(0.05, 0.95, n)]


def plain_log_labels(axis: Any) -> None:
    """Label a log axis with plain numbers on its major and (a thinned subset of) minor ticks."""
    from matplotlib.ticker import LogFormatter

    axis.set_major_formatter(LogFormatter(labelOnlyBase=False))
    axis.set_minor_formatter(LogFormatter(labelOnlyBase=False))




def group_dim(da: xr.DataArray, what: str) -> str:
    check_sample_dims(da, what)
    rest = [d for d in da.dims if d not in SAMPLE_DIMS]
    if len(rest) != 1:
        raise QueryError(f"{what} needs dims (chain, draw, G) with one group dim G, got {da.dims}")
    return str(rest[0])

# ------------------------------------------------------------------------- scaling curve, isoflop, frontier
# These take a Fit and draw the numbers that bayes_scaling.decisions.frontier computes from it.


#: Axis labels of the quantities a scaling curve can run along.
AXIS_LABELS = {"compute": "compute C (FLOPs)", "params": "parameters N", "tokens": "data x (tokens / examples seen)"}


def log_tick_labels(axis: Any, minor_thresholds: tuple[float, float] = (1.0, 0.4)) -> None:
    """Label a log axis with plain numbers (0.4, 2.5, 30) on the ticks matplotlib's LogFormatter would label."""
    from matplotlib.ticker import LogFormatter

    class PlainLogFormatter(LogFormatter):
        def __call__(self, x: float, pos: int | None = None) -> str:
            return f"{x:.3g}" if super().__call__(x, pos) else ""

    axis.set_major_formatter(PlainLogFormatter(labelOnlyBase=False, minor_thresholds=minor_thresholds))
    axis.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False, minor_thresholds=minor_thresholds))


def loss_ticks(ax: Axes) -> None:
    """Plain-number ticks on a log loss axis; within one decade, evenly spaced values (1.8, 2, 2.2...)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator

    lo, hi = ax.get_ylim()
    if not 0 < lo < hi or hi / lo >= 10:
        log_tick_labels(ax.yaxis)
        return
    ticks = MaxNLocator(nbins=7, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
    ticks = ticks[(ticks >= lo) & (ticks <= hi)]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def extra_dim(da: xr.DataArray, *known: str) -> str | None:
    rest = [str(d) for d in da.dims if d not in (*SAMPLE_DIMS, *known)]
    return rest[0] if rest else None


def pick_groups(labels: Sequence[Any], groups: Sequence[str] | None, max_groups: int) -> list[str]:
    labels = [str(v) for v in labels]
    if groups is None:
        return labels[:max_groups]
    unknown = [g for g in groups if str(g) not in labels]
    if unknown:

        raise QueryError(f"unknown group(s) {unknown}; the fit has {labels[:10]}{' ...' if len(labels) > 10 else ''}")
    return [str(g) for g in groups]


def band_handles(prob: float, color: Any = "0.4") -> list[Any]:
    from matplotlib.patches import Patch

    return [Patch(color=color, alpha=0.45, linewidth=0, label=f"{prob:.0%} credible (law)"),
            Patch(color=color, alpha=0.15, linewidth=0, label=f"{prob:.0%} predictive (new run)")]


def draw_bands(ax: Axes, x: np.ndarray, mean: xr.DataArray, pred: xr.DataArray, prob: float, color: Any,
                label: str | None) -> None:
    """Predictive band (light), credible band (darker) and the median law, against x (sorted)."""
    order = np.argsort(x)
    med, lo, hi = (a.values[order] for a in band(mean, prob))
    _, plo, phi = (a.values[order] for a in band(pred, prob))
    ax.fill_between(x[order], plo, phi, color=color, alpha=0.15, linewidth=0)
    ax.fill_between(x[order], lo, hi, color=color, alpha=0.45, linewidth=0)
    ax.plot(x[order], med, color=color, linewidth=1.5, label=label)


