"""The loss of one run trained at the compute optimum: the law's L* with the run's noise and, beyond the
runs, the law's structural error (:mod:`bayes_scaling.structural`) at the optimum's distance, as
:meth:`Fit.predict` gives it at a point (the distance measured from all the runs, as a plan measures
it). :meth:`Fit.optimal` adds it as ``loss_pred``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from ..data.groups import expand
from ..spec import LEVEL_RANK
from ..structural import growth_draws

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
    rng = np.random.default_rng([fit.settings.seed, 4])
    nu = post["nu"].values if fit.spec.likelihood == "student_t" else None
    pred = log_l + sigma * xr.DataArray(predictive_noise(rng, log_l.shape, nu), dims=log_l.dims)
    error = fit.spec.discrepancy
    if error.active:
        points = pd.DataFrame({k: ds[k].broadcast_like(log_l).transpose(*log_l.dims).values.ravel()
                               for k in ("params", "tokens", "compute")})
        points["unique_tokens"] = np.minimum(points["tokens"], np.inf if unique_tokens is None else float(unique_tokens))
        d = error.distance_to(fit.runs.table, points, fit.law.distance_inputs, False).reshape(log_l.shape)
        tau = growth_draws(error.scale, error.spread, log_l.shape[0] * log_l.shape[1], fit.settings.seed)
        tau = tau.reshape(log_l.shape[:2] + (1,) * (log_l.ndim - 2))
        extra = np.where(d > 0, tau * np.power(d, error.power), 0.0)
        pred = pred + extra * rng.standard_normal(log_l.shape)
    return np.exp(pred)


__all__ = ["optimum_loss_pred"]
