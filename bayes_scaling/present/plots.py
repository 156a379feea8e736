"""Plots of posterior summaries: forests, fitted curves, compute-optimal plans and loss targets.

Compute is kept apart from drawing: every function here takes the xarray or pandas objects that other
modules compute (draws with dims ``(chain, draw, ...)``), reduces them to medians and central
(equal-tailed) intervals over the sample dims, and draws on a given matplotlib ``ax``. With ``ax=None``
a new figure is made. Each function returns the Axes it drew on (or the Figure, for several panels);
nothing is shown, so the Agg backend works.

matplotlib is optional (``pip install 'bayes_scaling[plot]'``) and imported only when a plot is made,
so ``import bayes_scaling.present.plots`` works without it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import QueryError
from ..result.intervals import DEFAULT_PROB, SAMPLE_DIMS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["forest", "group_curves", "plan_curve", "target_curve"]

#: Above this many rows a forest hides its per-row tick labels (they would overlap).
MAX_LABELLED_ROWS = 60


def _pyplot() -> Any:
    """Import and return ``matplotlib.pyplot``, with an install hint when matplotlib is missing."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError("plots need matplotlib: pip install 'bayes_scaling[plot]'") from err
    return plt


def _check_prob(prob: float) -> float:
    prob = float(prob)
    if not 0.0 < prob < 1.0:
        raise QueryError(f"prob must lie strictly between 0 and 1, got {prob}")
    return prob


def _check_sample_dims(da: xr.DataArray, what: str) -> None:
    missing = [d for d in SAMPLE_DIMS if d not in da.dims]
    if missing:
        raise QueryError(f"{what} needs sample dims {SAMPLE_DIMS}, missing {missing} (dims are {da.dims})")


def _quantiles(da: xr.DataArray, qs: Sequence[float]) -> list[xr.DataArray]:
    """Quantiles of ``da`` over the sample dims, one DataArray per entry of ``qs``."""
    q = da.quantile(list(qs), dim=list(SAMPLE_DIMS))
    return [q.isel(quantile=i, drop=True) for i in range(len(qs))]


def _band(da: xr.DataArray, prob: float) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray]:
    """Median and the central ``prob`` interval of ``da`` over the sample dims."""
    lo, med, hi = _quantiles(da, [(1 - prob) / 2, 0.5, (1 + prob) / 2])
    return med, lo, hi


def _new_axes(ax: Axes | None, figsize: tuple[float, float] = (6.0, 4.0)) -> Axes:
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _colors(n: int) -> list[Any]:
    """``n`` distinct colours: tab10 up to 10, tab20 up to 20, then a continuous colormap."""
    plt = _pyplot()
    if n <= 10:
        return [plt.get_cmap("tab10")(i) for i in range(n)]
    if n <= 20:
        return [plt.get_cmap("tab20")(i) for i in range(n)]
    cmap = plt.get_cmap("turbo")
    return [cmap(v) for v in np.linspace(0.05, 0.95, n)]


def _plain_log_labels(axis: Any) -> None:
    """Label a log axis with plain numbers on its major and (a thinned subset of) minor ticks."""
    from matplotlib.ticker import LogFormatter

    axis.set_major_formatter(LogFormatter(labelOnlyBase=False))
    axis.set_minor_formatter(LogFormatter(labelOnlyBase=False))


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
    prob = _check_prob(prob)
    if isinstance(draws, Mapping):
        return _forest_panels(draws, prob, ax, label, reference)
    if ax is not None and not hasattr(ax, "plot"):
        raise TypeError("ax must be a matplotlib Axes for a single DataArray")
    ref = reference if not isinstance(reference, Mapping) else reference.get(str(draws.name))
    return _forest_one(draws, prob, ax, label, ref)


def _group_dim(da: xr.DataArray, what: str) -> str:
    _check_sample_dims(da, what)
    rest = [d for d in da.dims if d not in SAMPLE_DIMS]
    if len(rest) != 1:
        raise QueryError(f"{what} needs dims (chain, draw, G) with one group dim G, got {da.dims}")
    return str(rest[0])


def _forest_rows(draws: xr.DataArray, prob: float) -> pd.DataFrame:
    """One row per group, in plotting order (top first): label, domain, median and intervals."""
    g = _group_dim(draws, "forest")
    lo, q25, med, q75, hi = _quantiles(draws, [(1 - prob) / 2, 0.25, 0.5, 0.75, (1 + prob) / 2])
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
    plt = _pyplot()
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
        palette = dict(zip(domains, _colors(len(domains)), strict=True))
        colors = [palette[d] for d in rows["domain"]]
    else:
        colors = ["C0"] * n
    ax.hlines(y, rows["lo"], rows["hi"], colors=colors, linewidth=thin_lw)
    ax.hlines(y, rows["q25"], rows["q75"], colors=colors, linewidth=thick_lw)
    ax.scatter(rows["median"], y, c=colors, s=dot, zorder=3, edgecolors="none")
    if nested:
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], color=palette[d], marker="o", linewidth=thick_lw, label=d) for d in domains]
        ax.legend(handles=handles, title="domain", fontsize="small", loc="best",
                  ncol=1 if len(domains) <= 12 else 2)
    if reference is not None:
        ax.axvline(float(reference), color="0.4", linestyle="--", linewidth=1.0, zorder=1)

    ax.set_ylim(n - 0.5, -0.5)  # first row on top
    if many:
        ax.set_yticks([])
        ax.set_ylabel(f"{n} {_group_dim(draws, 'forest')} values, sorted")
    else:
        ax.set_yticks(y, labels=list(rows["label"]))
    ax.set_xlabel(label if label is not None else (str(draws.name) if draws.name is not None else ""))
    ax.set_title(f"median, 50% and {prob:.0%} intervals", fontsize="small")
    return ax


def _forest_panels(draws: Mapping[str, xr.DataArray], prob: float, ax: Any, label: str | None,
                   reference: float | Mapping[str, float] | None) -> Figure:
    plt = _pyplot()
    names = list(draws)
    if not names:
        raise QueryError("forest got an empty mapping of draws")
    if ax is None:
        sizes = [draws[k].sizes[_group_dim(draws[k], f"forest[{k!r}]")] for k in names]
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
    prob = _check_prob(prob)
    if max_groups < 1:
        raise QueryError(f"max_groups must be >= 1, got {max_groups}")
    _check_sample_dims(loss, "group_curves")
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

    ax = _new_axes(ax, figsize=(6.5, 4.5))
    order = np.argsort(xv)
    if group_dim is None:
        groups: list[Any] = [None]
        total = 1
    else:
        total = loss.sizes[group_dim]
        groups = list(loss[group_dim].values[:max_groups])
        loss = loss.isel({group_dim: slice(0, max_groups)})
    med, lo, hi = _band(loss, prob)
    colors = _colors(len(groups))
    for i, (g, color) in enumerate(zip(groups, colors, strict=True)):
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
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_log_labels(ax.yaxis)  # losses span less than a decade: label 1.8, 2, 2.4 rather than 2x10^0
    ax.set_xlabel(x_label)
    ax.set_ylabel("loss")
    title = f"median and {prob:.0%} interval"
    if group_dim is not None and total > len(groups):
        title += f"; first {len(groups)} of {total} {group_dim} shown"
    ax.set_title(title, fontsize="small")
    if group_dim is not None:
        ax.legend(title=group_dim, fontsize="small", ncol=1 if len(groups) <= 6 else 2)
    return ax


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
    prob = _check_prob(prob)
    _check_sample_dims(curve, "plan_curve")
    rest = [d for d in curve.dims if d not in SAMPLE_DIMS]
    if rest != ["params"] or "params" not in curve.coords:
        raise QueryError(f"plan_curve needs dims (chain, draw, params) with a params coordinate, got {curve.dims}")
    n = np.asarray(curve["params"].values, dtype=float)
    order = np.argsort(n)
    n = n[order]
    med, lo, hi = (a.values[order] for a in _band(curve, prob))

    ax = _new_axes(ax)
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


def target_curve(compute: xr.DataArray, ax: Axes | None = None) -> Axes:
    """Compute needed to reach each target loss with probability at least ``p``, one line per ``p``.

    Parameters
    ----------
    compute : DataArray
        Compute (FLOPs) with dims ``(prob, target)`` (either order) and coordinates ``prob`` (the
        probabilities) and ``target`` (loss values). NaN (target out of reach) leaves a gap.
    ax : Axes, optional
        Where to draw; ``None`` makes a new figure.

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
    ax = _new_axes(ax)
    for i, p in enumerate(compute["prob"].values):
        ax.plot(target[order], np.asarray(compute.values[i], dtype=float)[order], marker="o", markersize=3,
                label=f"P(L <= x) >= {float(p):g}")
    ax.set_yscale("log")
    ax.set_xlabel("target loss x")
    ax.set_ylabel("compute (FLOPs)")
    ax.legend(fontsize="small")
    return ax


# ------------------------------------------------------------------------- scaling curve, isoflop, frontier
# These take a Fit and draw the numbers that bayes_scaling.decisions.frontier computes from it.

if TYPE_CHECKING:
    from ..result.fit import Fit

#: Axis labels of the quantities a scaling curve can run along.
AXIS_LABELS = {"compute": "compute C (FLOPs)", "params": "parameters N", "tokens": "data x (tokens / examples seen)"}


def _log_tick_labels(axis: Any, minor_thresholds: tuple[float, float] = (1.0, 0.4)) -> None:
    """Label a log axis with plain numbers (0.4, 2.5, 30) on the ticks matplotlib's LogFormatter would label."""
    from matplotlib.ticker import LogFormatter

    class PlainLogFormatter(LogFormatter):
        def __call__(self, x: float, pos: int | None = None) -> str:
            return f"{x:.3g}" if super().__call__(x, pos) else ""

    axis.set_major_formatter(PlainLogFormatter(labelOnlyBase=False, minor_thresholds=minor_thresholds))
    axis.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False, minor_thresholds=minor_thresholds))


def _loss_ticks(ax: Axes) -> None:
    """Plain-number ticks on a log loss axis; within one decade, evenly spaced values (1.8, 2, 2.2...)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator

    lo, hi = ax.get_ylim()
    if not 0 < lo < hi or hi / lo >= 10:
        _log_tick_labels(ax.yaxis)
        return
    ticks = MaxNLocator(nbins=7, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
    ticks = ticks[(ticks >= lo) & (ticks <= hi)]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def _extra_dim(da: xr.DataArray, *known: str) -> str | None:
    rest = [str(d) for d in da.dims if d not in (*SAMPLE_DIMS, *known)]
    return rest[0] if rest else None


def _pick_groups(labels: Sequence[Any], groups: Sequence[str] | None, max_groups: int) -> list[str]:
    labels = [str(v) for v in labels]
    if groups is None:
        return labels[:max_groups]
    unknown = [g for g in groups if str(g) not in labels]
    if unknown:

        raise QueryError(f"unknown group(s) {unknown}; the fit has {labels[:10]}{' ...' if len(labels) > 10 else ''}")
    return [str(g) for g in groups]


def _band_handles(prob: float, color: Any = "0.4") -> list[Any]:
    from matplotlib.patches import Patch

    return [Patch(color=color, alpha=0.45, linewidth=0, label=f"{prob:.0%} credible (law)"),
            Patch(color=color, alpha=0.15, linewidth=0, label=f"{prob:.0%} predictive (new run)")]


def _draw_bands(ax: Axes, x: np.ndarray, mean: xr.DataArray, pred: xr.DataArray, prob: float, color: Any,
                label: str | None) -> None:
    """Predictive band (light), credible band (darker) and the median law, against x (sorted)."""
    order = np.argsort(x)
    med, lo, hi = (a.values[order] for a in _band(mean, prob))
    _, plo, phi = (a.values[order] for a in _band(pred, prob))
    ax.fill_between(x[order], plo, phi, color=color, alpha=0.15, linewidth=0)
    ax.fill_between(x[order], lo, hi, color=color, alpha=0.45, linewidth=0)
    ax.plot(x[order], med, color=color, linewidth=1.5, label=label)


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
    from ..decisions.frontier import scaling_curve_data

    prob = _check_prob(prob)
    data = scaling_curve_data(fit, x, level=level)
    name = data.attrs["x_name"]
    xv = np.asarray(data["x"].values, dtype=float)
    dim = _extra_dim(data["loss_mean"], "point")
    table = fit.runs.table
    ax = _new_axes(ax, figsize=(6.5, 4.5) if dim is None else (9.0, 4.5))  # room for the legend beside
    if dim is None:
        _draw_bands(ax, xv, data["loss_mean"], data["loss_pred"], prob, "C0", "median (law)")
        if fit.law.has_allocation:
            points = ax.scatter(table[name], table["loss"], c=np.log10(table["params"]), cmap="viridis", s=10,
                                edgecolors="none", zorder=3, label="runs")
            bar = ax.figure.colorbar(points, ax=ax)
            bar.set_label("log10 parameters N")
        else:
            ax.scatter(table[name], table["loss"], color="black", s=8, zorder=3, label="runs")
        handles, _ = ax.get_legend_handles_labels()
        ax.legend(handles=handles[:1] + _band_handles(prob, "C0") + handles[1:], fontsize="small")
        shown = ""
    else:
        labels = _pick_groups(data[dim].values, groups, max_groups)
        for g, color in zip(labels, _colors(len(labels)), strict=True):
            obs = table[table[dim].astype(str) == g]
            keep = np.arange(xv.size)
            if x is None and len(obs):  # each group's curve over its own runs (within a factor 2)
                keep = np.flatnonzero((xv >= obs[name].min() / 2) & (xv <= obs[name].max() * 2))
            _draw_bands(ax, xv[keep], data["loss_mean"].isel(point=keep).sel({dim: g}),
                        data["loss_pred"].isel(point=keep).sel({dim: g}), prob, color, g)
            ax.scatter(obs[name], obs["loss"], color=color, s=10, edgecolors="black", linewidths=0.3, zorder=3)
        handles, _ = ax.get_legend_handles_labels()
        ax.legend(handles=handles + _band_handles(prob), fontsize="small", title=dim, loc="upper left",
                  bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, ncol=1 if len(labels) <= 12 else 2)
        total = data.sizes[dim]
        shown = f"; {len(labels)} of {total} {dim}s shown" if total > len(labels) else ""
    ax.set_xscale("log")
    ax.set_yscale("log")
    _loss_ticks(ax)
    ax.set_xlabel(AXIS_LABELS.get(name, name))
    ax.set_ylabel("loss")
    what = "loss at the compute-optimal N*, D* (posterior median)" if fit.law.has_allocation else "loss"
    ax.set_title(f"{fit.law.formula}: {what}{shown}", fontsize="small")
    return ax


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

    from ..decisions.frontier import isoflop_curves, isoflop_runs

    prob = _check_prob(prob)
    data = isoflop_curves(fit, budgets, n_points=n_points)
    dim = _extra_dim(data["loss_mean"], "compute", "n")
    title = f"IsoFLOP curves of {fit.law.formula}"
    if dim is not None:
        label = _pick_groups(data[dim].values, None if group is None else [group], 1)[0]
        data = data.sel({dim: label})
        title += f" ({dim} {label})"
    runs = isoflop_runs(fit, data["compute"].values)
    if dim is not None:
        runs = runs[runs[dim].astype(str) == label]
    ax = _new_axes(ax, figsize=(6.5, 4.5))
    colors = _colors(data.sizes["compute"])
    for i, (c, color) in enumerate(zip(data["compute"].values, colors, strict=True)):
        n = np.asarray(data["params"].values[i], dtype=float)
        mean = data["loss_mean"].isel(compute=i)
        _draw_bands(ax, n, mean, data["loss_pred"].isel(compute=i), prob, color, f"C = {c:.3g} FLOPs")
        near = runs[runs["budget"] == c]
        ax.scatter(near["params"], near["loss"], color=color, s=14, edgecolors="black", linewidths=0.4, zorder=3)
        med, lo, hi = (float(v) for v in _band(data["params_opt"].isel(compute=i), prob))
        y = float(np.interp(np.log(med), np.log(n), mean.median(SAMPLE_DIMS).values))
        ax.errorbar([med], [y], xerr=[[med - lo], [hi - med]], fmt="D", color=color, markeredgecolor="black",
                    markersize=5, capsize=3, zorder=4)
    handles, _ = ax.get_legend_handles_labels()
    handles += _band_handles(prob)
    handles.append(Line2D([], [], color="0.3", marker="D", linestyle="none", label=f"N* median, {prob:.0%} interval"))
    handles.append(Line2D([], [], color="0.3", marker="o", markeredgecolor="black", linestyle="none",
                          label="runs near the budget"))
    ax.legend(handles=handles, fontsize="small")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _loss_ticks(ax)
    ax.set_xlabel(AXIS_LABELS["params"] + " (D = C/(kN))")
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize="small")
    return ax


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
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from ..decisions.frontier import (
        CHINCHILLA_COMPUTE,
        PUBLISHED_FITS,
        published_frontier,
    )

    prob = _check_prob(prob)
    lo, hi = (float(v) for v in compute_range)
    if not 0 < lo < hi:
        raise QueryError(f"compute_range must be two increasing positive budgets, got {compute_range}")
    if not fit.law.has_allocation:
        raise QueryError(f"the compute-optimal frontier needs a law with an N/D split; '{fit.law.name}' has none")
    grid = np.geomspace(lo, hi, int(n_points))
    opt = fit.optimal(grid, level=level)
    published = fit.law.published is PUBLISHED_FITS if published is None else published
    ref = published_frontier(grid, compute_factor=fit.runs.compute_factor) if published else None
    dim = _extra_dim(opt["params"], "compute")
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13.0, 4.4), layout="constrained")
    panels = (("params", "N* (parameters)"), ("tokens", "D* (tokens)"), ("ratio", "D*/N* (tokens per parameter)"))
    labels = [None] if dim is None else [str(v) for v in opt[dim].values]
    colors = ["C0"] if dim is None else _colors(len(labels))
    styles = ["--", "-.", ":", (0, (5, 1, 1, 1))]
    c_runs = fit.runs.column("compute")
    handles: list[Any] = []
    for ax, (var, ylabel) in zip(axes, panels, strict=True):
        ax.axvspan(c_runs.min(), c_runs.max(), color="0.85", alpha=0.6, linewidth=0)
        for g, color in zip(labels, colors, strict=True):
            da = opt[var] if g is None else opt[var].sel({dim: g})
            med, blo, bhi = (a.values for a in _band(da, prob))
            ax.fill_between(grid, blo, bhi, color=color, alpha=0.3, linewidth=0)
            ax.plot(grid, med, color=color, linewidth=1.8)
        if ref is not None:
            for j, name in enumerate(ref["fit"].values):
                ax.plot(grid, ref[var].sel(fit=name).values, color=f"C{j + 1}" if dim is None else "0.3",
                        linestyle=styles[j % len(styles)], linewidth=1.4)
            if var == "params":
                ax.plot([CHINCHILLA_COMPUTE], [70e9], marker="*", color="black", markersize=11, linestyle="none")
            elif var == "tokens":
                ax.plot([CHINCHILLA_COMPUTE], [1.4e12], marker="*", color="black", markersize=11, linestyle="none")
            else:
                ax.plot([CHINCHILLA_COMPUTE], [20.0], marker="*", color="black", markersize=11, linestyle="none")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(AXIS_LABELS["compute"])
        ax.set_ylabel(ylabel)
        ax.grid(True, which="major", alpha=0.3)
    _log_tick_labels(axes[2].yaxis, minor_thresholds=(2.0, 0.5))
    for g, color in zip(labels, colors, strict=True):
        name = "posterior median" if g is None else f"{dim} {g}"
        handles.append(Line2D([], [], color=color, linewidth=1.8, label=name))
    handles.append(Patch(color=colors[0] if dim is None else "0.5", alpha=0.3, linewidth=0,
                         label=f"{prob:.0%} credible interval"))
    if ref is not None:
        for j, label in enumerate(ref["label"].values):
            handles.append(Line2D([], [], color=f"C{j + 1}" if dim is None else "0.3",
                                  linestyle=styles[j % len(styles)], label=f"{label} (point fit)"))
        handles.append(Line2D([], [], color="black", marker="*", markersize=10, linestyle="none",
                              label="Chinchilla itself (70B, 1.4T)"))
    handles.append(Patch(color="0.85", alpha=0.6, label="compute range of the runs"))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(4, len(handles)), fontsize="small")
    fig.suptitle(f"Compute-optimal allocation, {fit.law.formula} (C = {fit.runs.compute_factor:g}·N·D)")
    return fig


__all__ += ["frontier", "isoflop", "scaling_curve"]


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
    ax = _new_axes(ax, (4.8, 4.5))
    ax.plot([0, 1], [0, 1], color="0.5", linestyle="--", linewidth=1, label="nominal = observed")
    groups = list(table.groupby("label", sort=False))
    for color, (label, frame) in zip(_colors(max(1, len(groups))), groups):
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
    prob = _check_prob(prob)
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
    ax = _new_axes(ax, (6.5, 4.5))
    ax.scatter(train[x_col], train["loss"], s=12, color="0.65", label="training runs", zorder=1)
    held = rows.drop_duplicates("run")
    ax.scatter(held[x_col], held["loss"], s=18, color="black", label="held-out runs", zorder=4)
    methods = list(dict.fromkeys(rows["method"]))
    for i, (method, color) in enumerate(zip(methods, _colors(len(methods)))):
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
    _plain_log_labels(ax.yaxis)
    ax.set_xlabel({"compute": "compute C (FLOPs)", "tokens": "data x (tokens / examples seen)"}.get(x_col, x_col))
    ax.set_ylabel("loss")
    ax.set_title(f"holdout {backtest.holdout}" + (f", task {task}" if task is not None else ""), fontsize="small")
    ax.legend(fontsize="small")
    return ax


__all__ += ["coverage_curve", "extrapolation"]
