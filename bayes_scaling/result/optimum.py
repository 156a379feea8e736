"""The loss of one run trained at the compute optimum: the law's L* with the run's noise and, beyond the
runs, the law's structural error (:mod:`bayes_scaling.structural`) at the optimum's distance, as
:meth:`Fit.predict` gives it at a point: with the family effect, and for a fit whose tasks have their
own ranges, each task's distance from its own runs. :meth:`Fit.optimal` adds it as ``loss_pred``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from ..data.groups import expand
from ..spec import LEVEL_RANK
from ..structural import family_effect, growth_draws

if TYPE_CHECKING:
    from .fit import Fit

SAMPLE_DIMS = ("chain", "draw")


def optimum_loss_pred(fit: Fit, ds: xr.Dataset, level: str, unique_tokens: float | None = None) -> xr.DataArray | None:
    """The loss of one run trained at each draw's optimum (``ds`` from :meth:`Fit.optimal`, its unique-data
    budget ``unique_tokens``): L* with the run's noise and, beyond the runs, the structural error at the
    optimum's distance. None where the noise varies at a finer level than the answer."""
    from .fit import predictive_noise

    post = fit.posterior
    if LEVEL_RANK[fit.spec.noise_pooling] > LEVEL_RANK[level]:
        return None
    log_l = np.log(ds["loss"]).transpose(*SAMPLE_DIMS, ...)
    sigma = expand(post["sigma"], fit.spec.noise_pooling, level, fit.groups)
    sigma = sigma.broadcast_like(log_l).transpose(*log_l.dims)
    log_l, sigma = _family(fit, log_l, sigma)
    rng = np.random.default_rng([fit.settings.seed, 4])
    nu = post["nu"].values if fit.spec.likelihood == "student_t" else None
    pred = log_l + sigma * xr.DataArray(predictive_noise(rng, log_l.shape, nu), dims=log_l.dims)
    error = fit.spec.discrepancy
    if error.active:
        points = pd.DataFrame({k: ds[k].broadcast_like(log_l).transpose(*log_l.dims).values.ravel()
                               for k in ("params", "tokens", "compute")})
        points["unique_tokens"] = points["tokens"] if unique_tokens is None else float(unique_tokens)  # capped at D there
        own = fit.per_task and "task" in log_l.dims  # each task from its own runs, as predict measures it
        if own:
            points["task"] = log_l["task"].broadcast_like(log_l).transpose(*log_l.dims).values.ravel()
        d = error.distance_to(fit.runs.table, points, fit.law.distance_inputs, own).reshape(log_l.shape)
        tau = growth_draws(error.scale, error.spread, log_l.shape[0] * log_l.shape[1], fit.settings.seed)
        tau = tau.reshape(log_l.shape[:2] + (1,) * (log_l.ndim - 2))
        extra = np.where(d > 0, tau * np.power(d, error.power), 0.0)
        pred = pred + extra * rng.standard_normal(log_l.shape)
    return np.exp(pred)


def _family(fit: Fit, log_l: xr.DataArray, sigma: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """The family effect (:func:`bayes_scaling.structural.family_effect`) at the optimum: a group the runs
    hold (a family by domain or task) keeps its offset; a new model size, token count or budget (an
    optimum is never one of the runs') adds ``family_sd^2`` to the noise."""
    error, post = fit.spec.discrepancy, fit.posterior
    if not error.family or "family_sd" not in post:
        return log_l, sigma
    if error.family not in log_l.dims:
        return log_l, np.sqrt(sigma**2 + post["family_sd"] ** 2)
    table = pd.DataFrame({error.family: log_l[error.family].values})
    offset, variance = family_effect(error, fit.runs.table, post, table, error.family)
    return log_l + offset, np.sqrt(sigma**2 + variance)


__all__ = ["optimum_loss_pred"]
