"""Which runs to train next: the batch of k runs that most shrinks a target's uncertainty within a budget.

:func:`propose` builds candidates on an IsoFLOP grid (:mod:`.candidates`), simulates their outcomes
from the posterior, reweights the draws by each outcome (:mod:`.preposterior`), and chooses the batch
greedily (:mod:`.batch`). Targets, each computed per posterior draw:

``ratio``
    log10 of D*/N* at the target compute (its 90% interval width, in decades, is shrunk).
``params``
    log10 N* at the target compute.
``loss``
    log10 of the law's loss of the planned run: the posterior-median N* at the target compute.
``prob``
    Whether that planned run reaches ``threshold`` (the sd of the indicator is shrunk: the
    uncertainty of P(L <= threshold)).

A candidate's simulated outcome carries the spec's structural error where it lies beyond the fitted
runs (the law is not exact there), and the update weighs it with the fitted noise alone, as a refit
does: once fitted, the run is inside the fitted range, where the structural error is zero. Fits with
groups (domains, tasks) are refused: a design for one group would have to say which, and the shared
parameters couple them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from ..data.reach import reach, reach_warnings
from ..decisions.draws import SAMPLE_DIMS
from ..decisions.optimise import draw_optimum
from ..errors import QueryError, require_bool
from ..structural import structural_extra
from .batch import best_batch
from .candidates import Limits, candidate_budgets, grid
from .preposterior import LEVEL, Uncertainty, loglik, normalise, simulate

if TYPE_CHECKING:
    from ..result.fit import Fit

TARGETS = ("ratio", "params", "loss", "prob")
N_SIM = 64
MAX_DRAWS = 4000
MIN_ESS_FRACTION = 0.05  # below this share of the draws, the update is flagged


def _flat(da: xr.DataArray, index: np.ndarray) -> np.ndarray:
    """Draws of ``da`` stacked over (chain, draw), the rows at ``index``, other dims after."""
    other = [d for d in da.dims if d not in SAMPLE_DIMS]
    return da.stack(sample=SAMPLE_DIMS).transpose("sample", *other).values[index]


def _check(fit: Fit, budget: float, target_compute: float, target: str, k: int, threshold: float | None) -> None:
    if not fit.law.has_allocation:
        raise QueryError(f"the '{fit.law.name}' law has no N/D allocation to design runs for; fit a law in params and tokens")
    if any(d not in SAMPLE_DIMS for da in fit.sampled().values() for d in da.dims):
        raise QueryError("design needs a fit without groups (domains or tasks): fit one group's runs alone")
    if target not in TARGETS:
        raise QueryError(f"unknown design target {target!r}; choose one of {', '.join(TARGETS)}")
    if int(k) < 1:
        raise QueryError(f"k, the number of runs to propose, must be at least 1, got {k}")
    for name, value in (("the design budget", budget), ("the target compute", target_compute)):
        if not np.isfinite(value) or value <= 0:
            raise QueryError(f"{name} must be a positive number of FLOPs, got {value!r}")
    if target == "prob" and (threshold is None or not np.isfinite(threshold) or threshold <= 0):
        raise QueryError("the 'prob' target needs a positive loss threshold")
    if target != "prob" and threshold is not None:
        raise QueryError(f"a loss threshold applies to the 'prob' target, not to '{target}'")


def target_values(fit: Fit, index: np.ndarray, target: str, target_compute: float,
                  threshold: float | None) -> tuple[np.ndarray, str]:
    """The target of every kept draw and the kind of its uncertainty (``width`` or ``sd``)."""
    law, piv = fit.law, fit.pivots_at()
    p = {n: _flat(da, index) for n, da in fit.sampled().items()}
    log_m = np.log(target_compute / fit.runs.compute_factor)
    u = draw_optimum(law, p, piv, log_m, 0.0, log_m)
    if target == "ratio":
        return (log_m - 2 * u) / np.log(10), "width"
    if target == "params":
        return u / np.log(10), "width"
    u_plan = float(np.median(u))
    log_l = law.log_loss(p, {"params": u_plan, "tokens": log_m - u_plan}, piv)
    if target == "loss":
        return log_l / np.log(10), "width"
    reached = (log_l <= np.log(threshold)).astype(float)
    if reached.min() == reached.max():  # every draw agrees: no run can change the answer
        lo, hi = np.exp(np.quantile(log_l, [0.05, 0.95]))
        raise QueryError(f"the planned run at {target_compute:.4g} FLOPs reaches loss {threshold:.4g} in "
                         f"{'every' if reached[0] else 'no'} posterior draw: there is nothing for new runs to learn; "
                         f"give a threshold the posterior is unsure of (its 90% interval there is [{lo:.4g}, {hi:.4g}])")
    return reached, "sd"


def _moments(fit: Fit, table: pd.DataFrame, index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Mean log loss, noise scale and Student-t degrees of freedom of every kept draw at every candidate."""
    logs = {n: xr.DataArray(np.log(table[n].to_numpy()), dims="candidate") for n in fit.law.inputs}
    mu = fit.law.log_loss(fit.sampled(), logs, fit.pivots_at())
    post = fit.posterior
    if any(d not in SAMPLE_DIMS for d in post["sigma"].dims):
        raise QueryError("design needs one noise scale for all runs; this fit's varies by group")
    sigma = post["sigma"] + 0.0 * mu
    nu = _flat(post["nu"], index) if fit.spec.likelihood == "student_t" else None
    return _flat(mu.transpose(*SAMPLE_DIMS, "candidate"), index), _flat(sigma.transpose(*SAMPLE_DIMS, "candidate"), index), nu


def propose(fit: Fit, budget: float, target_compute: float, target: str = "ratio", k: int = 5,
            threshold: float | None = None, limits: Limits | None = None, budgets: list[float] | None = None,
            n_sim: int = N_SIM, max_draws: int = MAX_DRAWS, seed: int | None = None,
            structural: bool = True) -> xr.Dataset:
    """The batch of at most ``k`` runs, costing at most ``budget`` FLOPs together, that most shrinks a target.

    Parameters
    ----------
    fit : Fit
        A fit of a law in N and D, without groups.
    budget : float
        FLOPs available for the new runs together.
    target_compute : float
        The compute of the planned large run the target is about.
    target : {"ratio", "params", "loss", "prob"}
        See the module docstring.
    k : int
        Largest number of runs in the batch.
    threshold : float, optional
        The loss the planned run must reach (``prob`` target).
    limits : Limits, optional
        Largest N and D, and the cost range of one run.
    budgets : list of float, optional
        Candidate budgets of one run (default: log-spaced from the minimum cost, or two decades below
        the top, up to min(max cost, ``budget``)).
    n_sim, max_draws, seed
        Simulated outcomes per candidate, posterior draws kept (evenly spaced), and the seed
        (default: the fit's).
    structural : bool
        Simulate the outcomes of candidates beyond the fitted runs with the spec's structural error
        (default); without it, every outcome follows the law exactly.

    Returns
    -------
    xarray.Dataset
        Dim ``run`` (the chosen runs in order): ``params``, ``tokens``, ``compute``, ``expected``
        (the target's expected uncertainty once this and the earlier runs are known) and
        ``ess_min``. ``attrs``: ``current`` and ``expected_after`` uncertainty, ``reduction``,
        ``reduction_per_1e21`` (per 1e21 FLOPs spent), ``spent``, ``unit``, ``rule``, ``reach`` of the runs
        and ``target_reach``, ``structural`` (whether the outcomes carried the structural error) and
        ``warnings``.
    """
    limits = limits or Limits()
    limits.check()
    _check(fit, float(budget), float(target_compute), target, k, threshold)
    seed = fit.settings.seed if seed is None else int(seed)
    n_total = fit.posterior.sizes["chain"] * fit.posterior.sizes["draw"]
    index = np.unique(np.linspace(0, n_total - 1, min(int(max_draws), n_total)).round().astype(int))
    cand = np.asarray(budgets, dtype=float) if budgets is not None else candidate_budgets(float(budget), limits)
    if np.any(~np.isfinite(cand)) or np.any(cand <= 0) or np.all(cand > budget):
        raise QueryError(f"the design budget {budget:.4g} FLOPs is smaller than the cheapest candidate run ({cand.min():.4g} FLOPs)")
    p = {n: _flat(da, index) for n, da in fit.sampled().items()}
    log_mc = np.log(cand / fit.runs.compute_factor)[:, None]
    median_u = np.median(draw_optimum(fit.law, p, fit.pivots_at(), log_mc, 0.0, log_mc), axis=1)
    table = grid(cand, median_u, fit.runs.compute_factor, limits)
    table = table[table["compute"] <= budget * (1 + 1e-9)].reset_index(drop=True)
    values, kind = target_values(fit, index, target, float(target_compute), threshold)
    mu, sigma, nu = _moments(fit, table, index)
    extra = structural_extra(fit, table, "candidate") if require_bool(structural, "structural") else None
    extra = None if extra is None else _flat(extra.transpose(*SAMPLE_DIMS, "candidate"), index)
    outcomes = simulate(mu, sigma, nu, n_sim, seed, extra)
    uncertainty = Uncertainty(values, kind, LEVEL)
    batch = best_batch(outcomes, uncertainty, table["compute"].to_numpy(), float(budget), int(k))
    runs = table.iloc[batch.chosen].reset_index(drop=True)
    ds = _answer(fit, runs, batch, uncertainty.uniform(), kind, target, float(budget), float(target_compute), n_sim, seed,
                 index.size)
    ds.attrs["structural"] = extra is not None
    return ds


def _answer(fit, runs, batch, current, kind, target, budget, target_compute, n_sim, seed, n_draws) -> xr.Dataset:
    spent = float(runs["compute"].sum())
    ds = xr.Dataset(
        {"params": ("run", runs["params"].to_numpy()), "tokens": ("run", runs["tokens"].to_numpy()),
         "compute": ("run", runs["compute"].to_numpy()), "expected": ("run", np.asarray(batch.expected)),
         "ess_min": ("run", np.asarray(batch.ess_min))},
        coords={"run": np.arange(1, len(runs) + 1)},
    )
    run_reach = reach(fit.runs, params=runs["params"].to_numpy(), tokens=runs["tokens"].to_numpy(),
                      compute=runs["compute"].to_numpy())
    target_reach = reach(fit.runs, compute=[target_compute])
    lines = reach_warnings(run_reach, "a proposed run") + reach_warnings(target_reach, "the target")
    if batch.ess_min and min(batch.ess_min) < MIN_ESS_FRACTION * n_draws:
        lines.append(f"the reweighted posterior keeps an effective sample size of only {min(batch.ess_min):.0f} of "
                     f"{n_draws} draws: the expected reduction is uncertain; refit after the first runs and ask again")
    reduction = current - batch.final
    ds.attrs.update(
        target=target, unit="decades (90% interval width)" if kind == "width" else "sd of the indicator",
        current=current, expected_after=batch.final, reduction=reduction,
        reduction_per_1e21=reduction / spent * 1e21 if spent > 0 else float("nan"), spent=spent, budget=budget,
        target_compute=target_compute, rule=batch.rule, n_sim=int(n_sim), seed=int(seed),
        reach=run_reach, target_reach=target_reach, warnings=lines,
    )
    return ds


def reweight(fit: Fit, new_runs: pd.DataFrame) -> xr.DataArray:
    """Importance weights (dims ``chain, draw``, summing to one) of the posterior once ``new_runs`` are seen.

    ``new_runs`` has ``params``, ``tokens`` and the observed ``loss``, each weighed with the fitted
    noise, as a refit weighs it. This is the update :func:`propose` simulates; comparing it with a
    refit says whether to trust it.
    """
    missing = [c for c in ("params", "tokens", "loss") if c not in new_runs]
    if missing:
        raise QueryError(f"new runs need columns {missing}")
    table = new_runs.assign(compute=fit.runs.compute_factor * new_runs["params"] * new_runs["tokens"])
    n_total = fit.posterior.sizes["chain"] * fit.posterior.sizes["draw"]
    mu, sigma, nu = _moments(fit, table, np.arange(n_total))
    y = np.log(table["loss"].to_numpy(dtype=float))[None, :]
    log_w = loglik(y, mu, sigma, nu)[:, 0, :].sum(axis=0)
    w = normalise(log_w)
    return xr.DataArray(w.reshape(fit.posterior.sizes["chain"], fit.posterior.sizes["draw"]), dims=SAMPLE_DIMS)
