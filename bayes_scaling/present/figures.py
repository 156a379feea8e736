"""One figure of a fit by kind (``curve``, ``isoflop``, ``frontier``, ``forest``, ``groups``): what the
``plot`` command draws and the report links, and the draws a forest shows."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from ..decisions.compare import group_draws
from ..decisions.frontier import (
    curve_axis,
    scaling_curve_data,
)
from ..defaults import FIGURE_KINDS
from ..errors import InputError, QueryError
from ..result.fit import Fit
from ..result.intervals import DEFAULT_PROB, check_prob

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def forest_draws(fit: Fit, param: str | None = None, by: str | None = None) -> dict[str, xr.DataArray]:
    """Draws of the parameters that vary by group, one DataArray per parameter (what a forest plot shows).

    Parameters
    ----------
    fit : Fit
    param : str, optional
        One natural or sampled parameter; default every natural parameter that varies by group.
    by : {"domain", "task"}, optional
        The grouping (default: the fit's finest level). Task draws carry a ``domain`` coordinate.

    Returns
    -------
    dict of str to DataArray
        Draws with dims ``(chain, draw, domain | task)``, for :func:`bayes_scaling.present.plots.forest`.

    Raises
    ------
    QueryError
        The fit has no groups, or ``param`` does not vary by ``by``.
    """
    by = fit.level if by is None else by
    if by == "shared":
        raise QueryError(f"a forest plot needs parameters that vary by domain or task; every parameter of spec "
                         f"'{fit.spec.name}' is shared (refit with --pool, e.g. alpha=domain)")
    names = [param] if param is not None else [n for n, da in fit.parameters(by).data_vars.items() if by in da.dims]
    if not names:
        raise QueryError(f"no parameter of this fit varies by {by}")
    out = {}
    for name in names:
        draws = group_draws(fit, name, by)
        if by == "task":
            draws = draws.assign_coords(domain=("task", list(fit.groups.task_domain_labels())))
        out[name] = draws.rename(name)
    return out


def figure(
    fit: Fit,
    kind: str,
    param: str | None = None,
    level: str | None = None,
    prob: float = DEFAULT_PROB,
    compute: Sequence[float] | None = None,
) -> Figure:
    """Draw one kind of figure for a fit and return its Figure.

    Parameters
    ----------
    fit : Fit
    kind : {"curve", "isoflop", "frontier", "forest", "groups"}
        ``curve``: the scaling curve with credible and predictive bands over the runs; ``isoflop``:
        loss against N at fixed budgets; ``frontier``: N*(C), D*(C), D*/N*(C) against the published
        point fits; ``forest``: parameters across domains or tasks; ``groups``: one curve per group.
    param : str, optional
        The parameter of a forest (default: every parameter that varies by group).
    level : {"shared", "domain", "task"}, optional
        Group level (default: the fit's finest).
    prob : float
        Mass of the intervals.
    compute : sequence of float, optional
        ``isoflop``: the budgets; ``frontier``: its range is stretched to cover them; ``curve``: the
        x range is extended to reach them (laws in compute).

    Returns
    -------
    matplotlib.figure.Figure
        Not shown and not closed; save it with :func:`save_figure`.

    Raises
    ------
    QueryError
        A kind the fit cannot draw (IsoFLOPs or a frontier for a law without an N/D split, a forest
        or group curves for a fit without groups) or an unknown kind.
    """
    from . import plots

    if kind not in FIGURE_KINDS:
        raise QueryError(f"unknown figure kind '{kind}'; choose one of {', '.join(FIGURE_KINDS)}")
    prob = check_prob(prob)
    if kind in ("isoflop", "frontier") and not fit.law.has_allocation:
        raise QueryError(f"a{'n' if kind == 'isoflop' else ''} {kind} figure needs a law with an N/D split; the "
                         f"'{fit.law.name}' law ({fit.law.formula}) has none: try --kind curve")
    extra = np.asarray(compute if compute is not None else [], dtype=float)
    if np.any(~np.isfinite(extra)) or np.any(extra <= 0):
        raise QueryError(f"compute budgets must be positive and finite, got {extra.tolist()}")
    if kind == "curve":
        ax = plots.scaling_curve(fit, x=_curve_grid(fit, extra), prob=prob, level=level)
        return _shade_runs(ax, fit.runs.column(curve_axis(fit)), curve_axis(fit)).figure
    if kind == "isoflop":
        ax = plots.isoflop(fit, budgets=extra if extra.size else None, prob=prob)
        return _shade_runs(ax, fit.runs.column("params"), "params").figure
    if kind == "frontier":
        c = fit.runs.column("compute")
        lo = 10 ** np.floor(np.log10(min(c.min(), *extra) if extra.size else c.min()))
        hi = max(1e26, c.max() * 100, *(extra * 10))
        return plots.frontier(fit, (lo, hi), prob=prob, level=level)
    if kind == "returns":
        return _returns_figure(fit, extra, prob, level)
    if kind == "forest":
        draws = forest_draws(fit, param, level)
        if len(draws) == 1:
            return plots.forest(next(iter(draws.values())), prob=prob).figure
        return plots.forest(draws, prob=prob)
    dim = fit.check_level(level)
    if dim == "shared":
        raise QueryError(f"group curves need a fit whose parameters vary by domain or task; spec "
                         f"'{fit.spec.name}' shares them all: try --kind curve")
    data = scaling_curve_data(fit, _curve_grid(fit, extra), level=dim)
    name = data.attrs["x_name"]
    ax = plots.group_curves(data["x"].values, data["loss_mean"], observed=fit.runs.table, prob=prob,
                            x_label=name, group_dim=dim)
    ax.set_xlabel(plots.AXIS_LABELS.get(name, name))
    return _shade_runs(ax, fit.runs.column(name), name).figure


def _shade_runs(ax: Any, values: Any, name: str) -> Any:
    from . import plots

    return plots.shade_fitted(ax, np.min(values), np.max(values), label=f"{name} range of the fitted runs")


def _returns_figure(fit: Fit, extra: np.ndarray, prob: float, level: str | None) -> Figure:
    """Gain per doubling from the runs' smallest compute to 1000x past the largest (or the budgets given)."""
    from ..decisions.returns import returns
    from . import plots

    c = fit.runs.column("compute")
    grid = np.geomspace(c.min(), max(c.max() * 1e3, *(extra * 2)) if extra.size else c.max() * 1e3, 60)
    ds = returns(fit, grid, level=level)
    group = [d for d in ds["gain"].dims if d not in ("chain", "draw", "compute")]
    if group:
        raise QueryError(f"a returns figure draws one group: this fit varies by {group[0]}; use "
                         f"bs.returns(fit, ...).sel({group[0]}=...) with plots.returns_curve")
    ax = plots.returns_curve(ds, (float(c.min()), float(c.max())), prob=prob)
    ax.set_title("Diminishing returns along the compute-optimal frontier", fontsize="medium")
    return ax.figure


def _curve_grid(fit: Fit, extra: np.ndarray) -> np.ndarray | None:
    name = curve_axis(fit)
    if name != "compute" or not extra.size:
        return None
    values = fit.runs.column(name)
    return np.geomspace(min(values.min(), extra.min()), max(values.max(), extra.max()), 80)


def save_figure(fig: Figure, path: str | Path, dpi: int = 150) -> Path:
    """Save a figure as PNG (or any format matplotlib knows from the suffix) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a directory; give a file name such as {path / 'figure.png'}")
    if not path.suffix:
        path = path.with_suffix(".png")  # what matplotlib writes for a name without a suffix, said as written
    if not path.parent.is_dir():
        raise InputError(f"cannot write {path}: no directory {path.parent}")
    try:
        fig.savefig(path, dpi=dpi)
    except ValueError as exc:  # an image format matplotlib does not know
        raise InputError(f"cannot write {path}: {exc}") from None
    finally:
        plt.close(fig)
    return path


def report_figures(fit: Fit) -> list[str]:
    """The figure kinds a report of this fit shows: the curve, and IsoFLOPs, frontier and forest where they apply."""
    kinds = ["curve"]
    if fit.law.has_allocation:
        kinds += ["isoflop", "frontier"]
    if fit.level != "shared":
        kinds += ["forest", "groups"]
    return kinds


__all__ = ["figure", "forest_draws", "report_figures", "save_figure"]
