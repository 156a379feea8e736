"""Plans: the risk-aware allocation of a compute budget, and the regret of planning with a point estimate.

:func:`plan_from_draws` chooses N (and D = C/(kN)) for each budget C = k·N·D minimising a risk
measure of the loss over the posterior (:mod:`.risk`), within limits on N and D, by the optimiser
of :mod:`.optimise`. :func:`regret_from_draws` scores the plug-in plan (posterior-median parameters)
against it under the full posterior. :func:`plan` and :func:`regret` take a Fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from ..data.reach import check_budget, reach, warn_reach
from ..errors import QueryError, require_bool
from ..laws.allocation import require_below_max, require_distinct, unique_input
from ..result.intervals import warn_if_unresolved
from .beyond import law_params, with_structural
from .draws import (
    SAMPLE_DIMS,
    Draws,
    FixedInputs,
    grid_size,
    limit_attr,
    numbers,
    optional_limit,
    positive_1d,
)
from .optimise import (
    DEFAULT_GRID,
    DEFAULT_SPAN,
    Frame,
    draw_optimum,
    feasible,
    optimise,
    transpose,
)
from .risk import check_objective, risk

if TYPE_CHECKING:
    from ..result.fit import Fit


def _fixed_log_params(params: Any, c: xr.DataArray, k: float, max_params: float | None,
                      max_tokens: float | None) -> xr.DataArray:
    """log N of a fixed model size (one, or one per budget), checked against the budgets and limits."""
    n = numbers(params, "params")
    if n.ndim != 1 or n.size not in (1, c.size) or not np.all(np.isfinite(n)) or np.any(n <= 0):
        raise QueryError(f"params must be one positive number or one per budget, got {np.ravel(n).tolist()}")
    fixed_u = xr.DataArray(np.log(np.broadcast_to(n, c.shape)), dims="budget", coords={"budget": c.values})
    tokens = np.exp(np.log(c / k) - fixed_u)
    for j in range(c.size):
        nj, dj, cj = float(np.exp(fixed_u[j])), float(tokens[j]), float(c[j])
        if nj < 1 or dj < 1:
            raise QueryError(f"params={nj:.4g} cannot be trained on budget {cj:.4g}: D = C/(kN) = {dj:.4g} tokens")
        if max_params is not None and nj > max_params * (1 + 1e-12):
            raise QueryError(f"params={nj:.4g} exceeds max_params={max_params:.4g}")
        if max_tokens is not None and dj > max_tokens * (1 + 1e-12):
            raise QueryError(f"params={nj:.4g} at budget {cj:.4g} needs D = {dj:.4g} tokens > max_tokens="
                             f"{max_tokens:.4g}: raise params to at least {cj / (k * max_tokens):.4g}")
    return fixed_u


def plan_from_draws(
    draws: Draws,
    budget: float | Sequence[float] | np.ndarray,
    objective: str = "mean",
    q: float = 0.9,
    max_params: float | None = None,
    max_tokens: float | None = None,
    params: float | Sequence[float] | np.ndarray | None = None,
    n_grid: int = DEFAULT_GRID,
    span: float = DEFAULT_SPAN,
) -> xr.Dataset:
    """Risk-aware allocation of each budget, from posterior draws (the core of :func:`plan`).

    Parameters
    ----------
    draws : Draws
        The posterior draws (parameters with dims ``(chain, draw, *groups)``) and k in C = k·N·D.
    budget : float or sequence
        Budgets C in FLOPs (dim ``budget``).
    objective : {"mean", "quantile", "cvar"}
        E[L], the q-quantile of L, or the mean of L over the worst 1 − q of draws.
    q : float
        Level of the quantile / CVaR (ignored by ``mean`` but still validated).
    max_params, max_tokens : float, optional
        Upper limits on N (memory) and on D (data).
    params : float or sequence, optional
        A fixed N (one, or one per budget): the plan then only evaluates it, with D = C/(kN).
    n_grid : int
        Points of the log-spaced grid of N (the loss curve).
    span : float
        The grid spans [min_i N*_i / span, max_i N*_i · span] (within the constraints), N*_i the
        optimum of draw i.

    Returns
    -------
    xarray.Dataset
        ``params``, ``tokens``, ``ratio`` (D/N), ``objective`` (value of the objective at the
        choice), dims ``(budget, *groups)``; ``loss`` at the choice, dims ``(chain, draw, budget,
        *groups)``; ``loss_curve`` (``chain, draw, budget, n_grid, *groups``) and
        ``objective_curve`` (``budget, n_grid, *groups``) with coordinates ``params_grid`` and
        ``tokens_grid`` (``budget, n_grid``). Attributes record objective, q, constraints and k.

    Raises
    ------
    QueryError
        Compute-only law, unknown objective, q outside (0, 1), non-positive budgets, constraints
        that exclude every allocation, or a fixed ``params`` that breaks them.
    """
    draws.check(("budget", "n_grid"))
    q = check_objective(objective, q)
    if objective != "mean":
        warn_if_unresolved(1.0 - q, draws.n_draws, f"the {objective} at q = {q:g}")
    n_grid = grid_size(n_grid)
    try:
        span = float(span)
    except (TypeError, ValueError):
        raise QueryError(f"span must be a number >= 1, got {span!r}") from None
    if not np.isfinite(span) or span < 1:
        raise QueryError(f"span must be a number >= 1, got {span}")
    k = draws.compute_factor
    c = positive_1d(budget, "budget", "budget")
    require_distinct(c.values)
    require_below_max(c.values)
    max_params = optional_limit(max_params, "max_params")
    max_tokens = optional_limit(max_tokens, "max_tokens")
    log_m = np.log(c / k)
    lo, hi = feasible(log_m, k, max_params, max_tokens)
    fixed_u = None if params is None else _fixed_log_params(params, c, k, max_params, max_tokens)
    sampled = draws.sampled
    frame = Frame(sampled, c)
    n_grid = int(n_grid)
    grid_axes = tuple(i for i, d in enumerate(frame.dims) if d != "budget")  # one grid per budget
    res = optimise(draws.law, {name: frame.np(v) for name, v in sampled.items()}, draws.pivots, frame.np(log_m),
                    frame.np(lo), frame.np(hi), objective, q, n_grid, float(np.log(span)), grid_axes,
                    None if fixed_u is None else frame.np(fixed_u))
    u = frame.da(res["u"], frame.rest)
    grid = frame.da(res["a"][..., None] + res["step"][..., None] * np.arange(n_grid), ["budget"], "n_grid")
    out = xr.Dataset({
        "params": np.exp(u),
        "tokens": np.exp(log_m - u),
        "ratio": np.exp(log_m - 2 * u),
        "objective": frame.da(res["objective"], frame.rest),
        "loss": frame.da(res["loss"], frame.dims),
        "loss_curve": frame.da(res["curve"], frame.dims, "n_grid"),
        "objective_curve": frame.da(res["objective_curve"], frame.rest, "n_grid"),
    })
    out = out.assign_coords(params_grid=np.exp(grid), tokens_grid=np.exp(log_m - grid))
    out = transpose(out, "chain", "draw", "budget", "n_grid")
    out.attrs.update(objective=objective, q=q, compute_factor=k,
                     max_params=limit_attr(max_params), max_tokens=limit_attr(max_tokens),
                     fixed_params=int(params is not None))
    return out


def regret_from_draws(
    draws: Draws,
    budget: float | Sequence[float] | np.ndarray,
    objective: str = "mean",
    q: float = 0.9,
    max_params: float | None = None,
    max_tokens: float | None = None,
    n_grid: int = DEFAULT_GRID,
) -> xr.Dataset:
    """The plug-in plan against the Bayes plan, both scored under the full posterior.

    The plug-in plan takes the posterior median of every sampled parameter (per group) as a point
    estimate and its optimal N (within the constraints). Both plans' loss distributions are then
    evaluated over all draws.

    Returns
    -------
    xarray.Dataset
        Dims ``(budget, *groups)``: ``params_bayes``, ``params_plugin``, ``tokens_bayes``,
        ``tokens_plugin``, ``objective_bayes``, ``objective_plugin``, ``regret``
        (objective_plugin − objective_bayes, >= 0 up to ~1e-12), ``params_ratio``
        (N_plugin / N_bayes); ``loss_bayes`` and ``loss_plugin`` with dims ``(chain, draw, budget,
        *groups)``.
    """
    bayes = plan_from_draws(draws, budget, objective, q, max_params, max_tokens, n_grid=n_grid)
    law, sampled, pivots, k = draws.law, draws.sampled, draws.pivots, draws.compute_factor
    c = bayes["budget"]
    log_m = np.log(c / k)
    lo, hi = feasible(log_m, k, optional_limit(max_params, "max_params"), optional_limit(max_tokens, "max_tokens"))
    point = {name: da.median(SAMPLE_DIMS).expand_dims(chain=1, draw=1) for name, da in law_params(sampled).items()}
    u_plugin = draw_optimum(law, point, pivots, log_m, lo, hi).isel(chain=0, draw=0, drop=True)
    loss_plugin = np.exp(draws.log_loss({"params": u_plugin, "tokens": log_m - u_plugin}))
    obj_plugin = risk(loss_plugin, objective, bayes.attrs["q"])
    out = xr.Dataset({
        "params_bayes": bayes["params"],
        "params_plugin": np.exp(u_plugin),
        "tokens_bayes": bayes["tokens"],
        "tokens_plugin": np.exp(log_m - u_plugin),
        "objective_bayes": bayes["objective"],
        "objective_plugin": obj_plugin,
        "regret": obj_plugin - bayes["objective"],
        "params_ratio": np.exp(u_plugin) / bayes["params"],
        "loss_bayes": bayes["loss"],
        "loss_plugin": loss_plugin,
    })
    out = transpose(out, "chain", "draw", "budget")
    keys = ("objective", "q", "compute_factor", "max_params", "max_tokens")
    out.attrs.update({key: bayes.attrs[key] for key in keys})
    return out


def plan(fit: Fit, budget: float | Sequence[float], objective: str = "mean", q: float = 0.9,
         max_params: float | None = None, max_tokens: float | None = None,
         params: float | Sequence[float] | None = None, n_grid: int = DEFAULT_GRID,
         span: float = DEFAULT_SPAN, unique_tokens: float | None = None, structural: bool = True) -> xr.Dataset:
    """Risk-aware allocation of each compute budget for a :class:`~bayes_scaling.Fit`.

    Parameters
    ----------
    fit : Fit
        A fit of a law with an N/D split.
    budget : float or sequence of float
        Budgets C = k·N·D in FLOPs.
    objective : {"mean", "quantile", "cvar"}
        E[L], the q-quantile of L, or the mean of L over the worst 1 − q of draws.
    q : float
        Level of the quantile or CVaR, in (0, 1).
    max_params, max_tokens : float, optional
        Upper limits on N (memory) and D (data).
    params : float or sequence of float, optional
        A fixed N (one, or one per budget), only evaluated.
    n_grid, span : optional
        The grid of N the loss curve is evaluated on (see :func:`plan_from_draws`).
    unique_tokens : float, optional
        For a law that reads it (``data_constrained``): the unique data, held fixed; tokens beyond
        it repeat it, and the Dataset gains ``epochs`` = max(D/U_D, 1).
    structural : bool
        Give the loss beyond the fitted runs the spec's structural error
        (:func:`bayes_scaling.decisions.beyond.with_structural`), so the objective charges for how
        far an allocation reaches (default); False plans on the law's loss alone.

    Returns
    -------
    xarray.Dataset
        As :func:`plan_from_draws`. ``attrs["structural"]`` says whether the loss carried the error,
        ``attrs["reach"]`` holds the decades beyond the fitted runs and ``attrs["warnings"]`` says
        where the plan extrapolates (also raised as :class:`~bayes_scaling.ExtrapolationWarning`).

    Raises
    ------
    QueryError
        A budget far below every fitted run (:func:`bayes_scaling.data.reach.check_budget`), and
        every refusal of :func:`plan_from_draws`.
    """
    draws = with_structural(fit, Draws.from_fit(fit)) if require_bool(structural, "structural") else Draws.from_fit(fit)
    check_budget(fit.runs, budget)
    fixed = unique_input(fit.law, unique_tokens)
    if fixed:
        draws = replace(draws, law=FixedInputs(draws.law, fixed))  # over the structural error, if any
    ds = plan_from_draws(draws, budget, objective, q, max_params, max_tokens, params, n_grid, span)
    if fixed:
        ds["epochs"] = np.maximum(ds["tokens"] / float(unique_tokens), 1.0)
        ds.attrs["unique_tokens"] = float(unique_tokens)
    distances = reach(fit.runs, compute=ds["budget"].values if "budget" in ds else budget,
                      params=ds["params"].values.ravel(), tokens=ds["tokens"].values.ravel())
    ds.attrs.update(reach=distances, warnings=warn_reach(distances, "the plan"),
                    structural=int(structural and fit.spec.discrepancy.active))
    return ds


def regret(fit: Fit, budget: float | Sequence[float], objective: str = "mean", q: float = 0.9,
           max_params: float | None = None, max_tokens: float | None = None, structural: bool = True) -> xr.Dataset:
    """Cost of planning with the posterior-median point estimate instead of the full posterior.

    See :func:`regret_from_draws`. Both plans are scored with the structural error beyond the runs
    unless ``structural`` is False (as :func:`plan`); the point estimate has none.
    """
    check_budget(fit.runs, budget)
    draws = with_structural(fit, Draws.from_fit(fit)) if require_bool(structural, "structural") else Draws.from_fit(fit)
    return regret_from_draws(draws, budget, objective, q, max_params, max_tokens)
