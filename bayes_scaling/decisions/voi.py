"""The value of information of one more run: how much it would improve the mean plan, before it is trained.

Preposterior analysis: V0 = min_N E[L(N)] is the expected loss of today's Bayes plan N0. A new run's
log loss y is simulated ``n_sim`` times from the posterior predictive (a random draw i, then
y = mu_i + sigma_i·eps with the fitted noise); for each y the draws are reweighted by the
likelihood w_i ∝ p(y | theta_i) (importance sampling from the current posterior to the posterior
with the extra run), and the plan is re-optimised, V1(y) = min_N E_w[L(N)]. The estimator is the
mean over y of E_w[L(N0)] − V1(y): each term is >= 0 and its mean equals V0 − E_y[V1(y)] in
expectation (E_y[E_w[L(N0)]] = V0), with lower variance than the plain difference.

Limits, stated rather than hidden: only the ``mean`` objective (the reweighted quantile or CVaR
would need weighted order statistics per simulation); the same draws both simulate y and are
reweighted, and min over N of a Monte-Carlo average is biased low (the optimiser's curse), so with
few draws the EVSI is overstated by O(Monte-Carlo error); importance reweighting is only
trustworthy while the weights keep a large effective sample size (reported as ``ess_min``: a run
far outside the data can collapse it); the new run is assumed to follow the fitted likelihood, in
the same group as the decision when the posterior has group dims.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr
from scipy import special

from ..errors import QueryError
from ..search import golden
from .draws import SAMPLE_DIMS, Draws, positive_1d
from .optimise import REFINE_ITERATIONS, transpose
from .plan import plan_from_draws

if TYPE_CHECKING:
    from ..result.fit import Fit

MIN_ESS_FRACTION = 0.1  # below this share of the draws as effective sample size, VOI warns


def log_noise_pdf(z: xr.DataArray, noise: Mapping[str, xr.DataArray]) -> xr.DataArray:
    """Log density of the standardised noise: Student-t with ``noise["nu"]`` degrees of freedom, or normal."""
    if "nu" in noise:
        nu = noise["nu"]
        return (special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2) - 0.5 * np.log(nu * np.pi)
                - (nu + 1) / 2 * np.log1p(z**2 / nu))
    return -0.5 * z**2 - 0.5 * np.log(2 * np.pi)


def _weights(draws: Draws, mu: xr.DataArray, n_sim: int, seed: int) -> xr.DataArray:
    """Importance weights (dims ``sim, chain, draw, *groups``) of ``n_sim`` simulated outcomes of a run
    whose mean log loss per draw is ``mu``."""
    noise = draws.noise
    sigma = noise["sigma"] + 0.0 * mu
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, mu.sizes["chain"] * mu.sizes["draw"], int(n_sim))
    at = {"chain": xr.DataArray(pick // mu.sizes["draw"], dims="sim"),
          "draw": xr.DataArray(pick % mu.sizes["draw"], dims="sim")}

    def draw_of(da: xr.DataArray) -> xr.DataArray:
        return (da + 0.0 * mu).isel(at).drop_vars(list(SAMPLE_DIMS), errors="ignore").reset_coords(drop=True)

    mu_j = draw_of(mu)
    sigma_j = draw_of(sigma).transpose(*mu_j.dims)
    if "nu" in noise:
        nu_j = draw_of(noise["nu"]).transpose(*mu_j.dims)
        eps = xr.DataArray(rng.standard_t(nu_j.values), dims=mu_j.dims)
    else:
        eps = xr.DataArray(rng.standard_normal(mu_j.shape), dims=mu_j.dims)
    y = mu_j + sigma_j * eps  # dims (sim, *groups)
    log_w = log_noise_pdf((y - mu) / sigma, noise) - np.log(sigma)  # (sim, chain, draw, *groups)
    log_w = log_w - log_w.max(SAMPLE_DIMS)
    w = np.exp(log_w)
    return w / w.sum(SAMPLE_DIMS)


def voi_from_draws(
    draws: Draws,
    budget: float | Sequence[float] | np.ndarray,
    params: float,
    tokens: float,
    max_params: float | None = None,
    max_tokens: float | None = None,
    n_sim: int = 200,
    seed: int = 0,
    n_grid: int = 65,
) -> xr.Dataset:
    """Expected value of sample information of one more run at (``params``, ``tokens``) for the mean plan.

    See the module docstring for the estimator and its limits.

    Returns
    -------
    xarray.Dataset
        Dims ``(budget, *groups)``: ``evsi`` (expected reduction of E[L] at the chosen N, in loss
        units), ``evsi_se`` (its Monte-Carlo standard error), ``expected_loss`` (V0),
        ``params`` (N0), ``mean_abs_log_shift`` (E_y|log N1(y) − log N0|) and ``ess_min`` (the
        smallest Kish effective sample size of the weights over simulations; a ``UserWarning`` is
        raised when it falls below 10% of the draws).
    """
    draws.check(("budget", "n_grid", "sim"))
    if "sigma" not in draws.noise:
        raise QueryError("the value of information needs the noise scale 'sigma' in the posterior")
    if int(n_sim) < 2:
        raise QueryError(f"n_sim must be at least 2, got {n_sim}")
    n_new = float(positive_1d(params, "params", "run")[0])
    d_new = float(positive_1d(tokens, "tokens", "run")[0])
    base = plan_from_draws(draws, budget, "mean", 0.9, max_params, max_tokens, n_grid=n_grid, span=1.0)
    log_m = np.log(base["budget"] / draws.compute_factor)
    mu = draws.log_loss({"params": xr.DataArray(np.log(n_new)), "tokens": xr.DataArray(np.log(d_new))})
    w = _weights(draws, mu, n_sim, seed)
    ess = 1.0 / (w**2).sum(SAMPLE_DIMS)

    def weighted(u: xr.DataArray) -> xr.DataArray:
        return (w * np.exp(draws.log_loss({"params": u, "tokens": log_m - u}))).sum(SAMPLE_DIMS)

    u0 = np.log(base["params"])
    grid = np.log(base["params_grid"]).reset_coords(drop=True)
    # E_w[L] on the grid for every simulation: dims (sim, budget, n_grid, *groups)
    curve = xr.dot(w, base["loss_curve"].reset_coords(drop=True), dim=list(SAMPLE_DIMS))
    i = curve.argmin("n_grid")
    a, b = grid.isel(n_grid=0), grid.isel(n_grid=-1)
    step = (b - a) / (grid.sizes["n_grid"] - 1)
    u_ref = golden(weighted, a + step * np.maximum(i - 1, 0), a + step * np.minimum(i + 1, grid.sizes["n_grid"] - 1),
                   REFINE_ITERATIONS)
    v_ref = weighted(u_ref)
    v_grid = curve.min("n_grid")
    u1 = xr.where(v_ref <= v_grid, u_ref, a + step * i)
    gain = weighted(u0) - np.minimum(v_ref, v_grid)
    low = float(ess.min())
    if low < MIN_ESS_FRACTION * draws.n_draws:
        warnings.warn(f"value_of_information: the importance weights of a run at N={n_new:.3g}, D={d_new:.3g} "
                      f"keep an effective sample size of only {low:.0f} draws; the estimate is unreliable "
                      "(a run far outside the data, or too few posterior draws)", UserWarning, stacklevel=2)
    out = xr.Dataset({
        "evsi": gain.mean("sim"),
        "evsi_se": gain.std("sim", ddof=1) / np.sqrt(gain.sizes["sim"]),
        "expected_loss": base["objective"],
        "params": base["params"],
        "mean_abs_log_shift": abs(u1 - u0).mean("sim"),
        "ess_min": ess.min("sim"),
    })
    out = transpose(out, "budget")
    out.attrs.update(params_new=n_new, tokens_new=d_new, n_sim=int(n_sim), seed=int(seed),
                     compute_factor=draws.compute_factor)
    return out


def value_of_information(fit: Fit, budget: float | Sequence[float], params: float, tokens: float,
                         max_params: float | None = None, max_tokens: float | None = None,
                         n_sim: int = 200, seed: int | None = None) -> xr.Dataset:
    """Expected value of one more run at (``params``, ``tokens``) for the mean plan at each budget.

    ``seed`` defaults to the fit's sampler seed. See :func:`voi_from_draws` for the estimator and
    its limits.
    """
    seed = fit.settings.seed if seed is None else seed
    return voi_from_draws(Draws.from_fit(fit), budget, params, tokens, max_params, max_tokens, n_sim, seed)
