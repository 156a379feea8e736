"""Predictive distributions of individual runs, and the law's discrepancy out of sample.

:func:`predict_runs` and :func:`log_predictive` give each run the predictive distribution of its own
group (task or domain), at a cost of draws x runs.

:func:`discrepancy_scale` measures what those distributions leave out. The posterior predictive of a
run beyond the fitted range holds parameter uncertainty and run-to-run noise, but not the law's own
error there: on real runs the law is a summary, and its misfit beyond the data is systematic (Epoch's
Chinchilla runs: noise sigma ~0.004 on log loss in sample, RMSLE ~0.012 on the top 20% of compute).
A discrepancy term delta ~ Normal(0, tau) on log loss, added to the noise, can carry it. Its scale is
not identified by the runs in sample, so it is learned out of sample, by a nested backtest: fit the
training runs' smaller part, predict their larger part, and take the tau that maximises the mean log
predictive density of those runs (a proper score, so tau is neither tuned to a coverage level nor
free to grow without cost). :func:`bayes_scaling.validation.backtest.backtest` does this with ``discrepancy=True``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..data.runs import Runs, read_runs
from ..errors import QueryError
from ..result.fit import Fit, predictive_noise
from ..structural import family_effect
from .scoring import pointwise_scores

#: Columns of the runs carried as coordinates of predictions.
COLUMNS = ("params", "tokens", "compute")
#: Candidate discrepancy scales (sd on log loss): 0 and 1e-4 ... 1 on a log grid of ratio 1.12.
TAU_GRID = np.concatenate([[0.0], np.geomspace(1e-4, 1.0, 81)])


def predict_runs(fit: Fit, runs: Runs | pd.DataFrame, seed: int | None = None) -> xr.Dataset:
    """Predict each run with its own group's parameters: the law's mean loss and a new observed run.

    Unlike :meth:`Fit.predict` (every point for every group), each run gets only the parameters (and the
    noise scale and pivot) of its own task or domain, so the cost is draws x runs.

    Parameters
    ----------
    fit : Fit
    runs : Runs or DataFrame
        Runs to predict (their ``loss`` is not used). Their domains/tasks must be groups of the fit
        wherever the fit varies by group.
    seed : int, optional
        Seed of the predictive noise (default: the fit's seed).

    Returns
    -------
    xarray.Dataset
        ``loss_mean`` and ``loss_pred``, dims ``(chain, draw, run)``, with the runs' ``params``,
        ``tokens``, ``compute``, ``domain`` and ``task`` as coordinates.

    Raises
    ------
    QueryError
        A run whose group the fit has no parameters for.
    """
    runs = runs if isinstance(runs, Runs) else read_runs(runs, inputs=fit.law.inputs)
    mu, sigma, nu = log_predictive(fit, runs)
    rng = np.random.default_rng(fit.settings.seed if seed is None else seed)
    pred = mu + sigma * xr.DataArray(predictive_noise(rng, mu.shape, None if nu is None else nu.values), dims=mu.dims)
    return xr.Dataset({"loss_mean": np.exp(mu), "loss_pred": np.exp(pred)}).assign_coords(_run_coords(runs))


def log_predictive(fit: Fit, runs: Runs) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray | None]:
    """Location, scale and degrees of freedom of each run's predictive distribution of log loss.

    Returns
    -------
    mu : DataArray
        The law's log mean loss, dims ``(chain, draw, run)``.
    sigma : DataArray
        Noise scale, dims ``(chain, draw[, run])``.
    nu : DataArray or None
        Student-t degrees of freedom ``(chain, draw)``; None for normal noise.
    """
    index: dict[str, xr.DataArray] = {}

    def at_runs(value: float | xr.DataArray) -> float | xr.DataArray:
        if not isinstance(value, xr.DataArray):
            return value
        for level in ("task", "domain"):
            if level in value.dims:
                if level not in index:
                    index[level] = _group_index(fit, runs, level)
                return value.isel({level: index[level]}).drop_vars(level, errors="ignore")
        return value

    sampled = {k: at_runs(v) for k, v in fit.sampled().items()}
    pivots = {k: at_runs(v) for k, v in fit.pivots_at().items()}
    logs = {k: xr.DataArray(np.log(runs.column(k)), dims="run") for k in fit.law.inputs}
    mu = fit.law.log_loss(sampled, logs, pivots).transpose("chain", "draw", "run")
    post = fit.posterior
    sigma = post["sigma"]
    if fit.spec.noise_pooling != "shared":
        sigma = at_runs(sigma).transpose("chain", "draw", "run")
    family = family_effect(fit.spec.discrepancy, fit.runs.table, post, runs.table, "run")
    if family is not None:
        mu = (mu + family[0]).transpose("chain", "draw", "run")
        sigma = np.sqrt(sigma**2 + family[1]).transpose("chain", "draw", "run")
    nu = post["nu"] if fit.spec.likelihood == "student_t" else None
    return mu, sigma, nu


def _group_index(fit: Fit, runs: Runs, level: str) -> xr.DataArray:
    position = {label: i for i, label in enumerate(fit.groups.labels(level))}
    labels = runs.table[level].astype(str)
    missing = sorted(set(labels) - set(position))
    if missing:
        raise QueryError(
            f"{level}(s) {', '.join(repr(m) for m in missing[:3])} are not in the fit, which has parameters per "
            f"{level} for {', '.join(repr(g) for g in list(position)[:3])}{'...' if len(position) > 3 else ''}"
        )
    return xr.DataArray(labels.map(position).to_numpy(dtype=int), dims="run")


def _run_coords(runs: Runs) -> dict[str, tuple[str, np.ndarray]]:
    t = runs.table
    return {**{c: ("run", t[c].to_numpy(dtype=float)) for c in COLUMNS if c in t},
            "domain": ("run", t["domain"].to_numpy(dtype=str)), "task": ("run", t["task"].to_numpy(dtype=str))}


def draw_matrices(fit: Fit, runs: Runs) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """:func:`log_predictive` as arrays over (draw, run): location, scale (broadcast) and nu (draw, 1) or None."""
    mu, sigma, nu = log_predictive(fit, runs)
    draws = mu.sizes["chain"] * mu.sizes["draw"]
    m = mu.values.reshape(draws, -1)
    s = np.broadcast_to(sigma.values.reshape(draws, -1), m.shape)
    return m, s, None if nu is None else nu.values.reshape(draws, 1)


def with_discrepancy(sigma: np.ndarray | xr.DataArray, tau: float) -> np.ndarray | xr.DataArray:
    """Noise scale with a discrepancy of sd ``tau`` added in quadrature: sqrt(sigma^2 + tau^2)."""
    return np.sqrt(sigma**2 + tau**2) if tau > 0 else sigma


def discrepancy_scale(fit: Fit, runs: Runs) -> tuple[float, pd.DataFrame]:
    """The discrepancy sd on log loss that best predicts ``runs`` (held out from ``fit``).

    Parameters
    ----------
    fit : Fit
        A posterior fitted without ``runs``.
    runs : Runs
        Held-out runs (beyond the fitted range, for an extrapolation discrepancy).

    Returns
    -------
    tau : float
        The value of :data:`TAU_GRID` with the largest mean log predictive density of ``runs`` when
        the predictive noise scale is sqrt(sigma^2 + tau^2).
    table : pandas.DataFrame
        ``tau`` and ``mlpd`` over the grid (the score's profile).
    """
    m, s, v = draw_matrices(fit, runs)
    log_obs = np.log(runs.column("loss"))
    mlpd = [float(pointwise_scores(log_obs, m, with_discrepancy(s, tau), v)["lpd"].mean()) for tau in TAU_GRID]
    table = pd.DataFrame({"tau": TAU_GRID, "mlpd": mlpd})
    return float(TAU_GRID[int(np.argmax(mlpd))]), table


__all__ = ["TAU_GRID", "discrepancy_scale", "draw_matrices", "log_predictive", "predict_runs", "with_discrepancy"]
