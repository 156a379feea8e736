"""R-hat and effective sample sizes of MCMC draws, as ArviZ computes them, in numpy alone.

Every fit reports the rank-normalised split R-hat and the bulk and tail ESS of Vehtari et al.
(2021, Bayesian Analysis 16(2)) for every parameter. ``arviz_stats`` computes them, but importing it
imports ``scipy.stats``, whose import-time docstring processing takes about 0.9 s on 2 cores: a fifth
of a fit from a cold shell. The functions here are ``arviz_stats``' own definitions, step for step
(Blom's rank transform, the split chains, Geyer's initial monotone sequence, the tail ESS at the
quantiles of ArviZ's ``stats.ci_prob``), with the inverse normal CDF from ``scipy.special`` (which
PyMC has already imported); ``tests/test_mcmc_stats.py`` checks them against ``arviz_stats`` on
well- and badly-mixed chains, ties, constants and NaNs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import xarray as xr


def rhat(ary: np.ndarray) -> float:
    """Rank-normalised split R-hat of a ``(chain, draw)`` array: the larger of the bulk and tail R-hats."""
    ary = np.asarray(ary, dtype=float)
    if _not_valid(ary, min_chains=2):
        return float("nan")
    split = _split_chains(ary)
    bulk = _rhat(_z_scale(split))
    tail = _rhat(_z_scale(np.abs(split - np.median(split))))
    return float(max(bulk, tail))


def ess_bulk(ary: np.ndarray) -> float:
    """Bulk effective sample size of a ``(chain, draw)`` array (rank-normalised split chains)."""
    ary = np.asarray(ary, dtype=float)
    if _not_valid(ary, min_chains=1):
        return float("nan")
    return float(_ess(_z_scale(_split_chains(ary))))


def ess_tail(ary: np.ndarray, prob: float | None = None) -> float:
    """Tail effective sample size: the smaller ESS of the indicators below the two tail quantiles.

    ``prob`` is the central mass between them (default ArviZ's ``rcParams["stats.ci_prob"]``).
    """
    ary = np.asarray(ary, dtype=float)
    if _not_valid(ary, min_chains=1):
        return float("nan")
    if prob is None:
        from arviz_base import rcParams

        prob = float(rcParams["stats.ci_prob"])
    low, high = sorted((prob, 1 - prob))
    return float(min(_ess(_split_chains(ary <= np.quantile(ary, q)).astype(float)) for q in (low, high)))


def per_element(func: Callable[[np.ndarray], float], da: xr.DataArray) -> xr.DataArray:
    """``func`` of the ``(chain, draw)`` draws of every element of ``da``, with the other dims and coordinates."""
    rest = [d for d in da.dims if d not in ("chain", "draw")]
    values = da.transpose("chain", "draw", *rest).values
    out = np.empty(values.shape[2:])
    for index in np.ndindex(out.shape):
        out[index] = func(values[(slice(None), slice(None), *index)])
    return xr.DataArray(out, dims=rest, coords={d: da.coords[d] for d in rest if d in da.coords})


def _not_valid(ary: np.ndarray, min_chains: int, min_draws: int = 4) -> bool:
    return bool(ary.ndim != 2 or np.isnan(ary).any() or ary.shape[0] < min_chains or ary.shape[1] < min_draws)


def _split_chains(ary: np.ndarray) -> np.ndarray:
    half = ary.shape[1] // 2
    return np.vstack((ary[:, :half], ary[:, -half:]))


def _z_scale(ary: np.ndarray) -> np.ndarray:
    """Normal scores of the average ranks, with Blom's offset of 3/8."""
    from scipy.special import ndtri

    flat = ary.ravel()
    order = np.argsort(flat, kind="mergesort")
    ordered = flat[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]]
    starts = np.r_[np.flatnonzero(first), flat.size]
    average = (starts[:-1] + 1 + starts[1:]) / 2.0  # the mean rank of each run of tied values
    ranks = np.empty(flat.size)
    ranks[order] = average[np.cumsum(first) - 1]
    return ndtri((ranks - 3 / 8) / (flat.size - 2 * 3 / 8 + 1)).reshape(ary.shape)


def _rhat(ary: np.ndarray) -> float:
    n = ary.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        between = n * np.var(np.mean(ary, axis=1), ddof=1)
        within = np.mean(np.var(ary, axis=1, ddof=1))
        return float(np.sqrt((between / within + n - 1) / n))


def _autocov(ary: np.ndarray) -> np.ndarray:
    """Autocovariance at every lag along the draws, by FFT."""
    n = ary.shape[1]
    m = _next_fast_len(2 * n)
    centred = ary - ary.mean(axis=1, keepdims=True)
    spectrum = np.fft.rfft(centred, n=m, axis=1)
    spectrum *= np.conjugate(spectrum)
    return np.fft.irfft(spectrum, n=m, axis=1)[:, :n] / n


def _next_fast_len(target: int) -> int:
    """The smallest 5-smooth number (2^a 3^b 5^c) at least ``target``."""
    n = max(int(target), 1)
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


def _ess(ary: np.ndarray) -> float:
    """ESS of a ``(chain, draw)`` array with Geyer's initial monotone sequence."""
    if (np.max(ary) - np.min(ary)) < np.finfo(float).resolution:
        return float(ary.size)
    n_chain, n_draw = ary.shape
    acov = _autocov(ary)
    mean_var = np.mean(acov[:, 0]) * n_draw / (n_draw - 1.0)
    var_plus = mean_var * (n_draw - 1.0) / n_draw
    if n_chain > 1:
        var_plus += np.var(ary.mean(axis=1), ddof=1)
    rho = np.zeros(n_draw)
    rho_even, rho_odd = 1.0, 1.0 - (mean_var - np.mean(acov[:, 1])) / var_plus
    rho[0], rho[1] = rho_even, rho_odd
    t = 1
    while t < n_draw - 3 and rho_even + rho_odd > 0.0:
        rho_even = 1.0 - (mean_var - np.mean(acov[:, t + 1])) / var_plus
        rho_odd = 1.0 - (mean_var - np.mean(acov[:, t + 2])) / var_plus
        if rho_even + rho_odd >= 0:
            rho[t + 1], rho[t + 2] = rho_even, rho_odd
        t += 2
    max_t = t - 2
    if rho_even > 0:
        rho[max_t + 1] = rho_even
    t = 1
    while t <= max_t - 2:
        if rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]:
            rho[t + 1] = rho[t + 2] = (rho[t - 1] + rho[t]) / 2.0
        t += 2
    size = n_chain * n_draw
    tau = -1.0 + 2.0 * np.sum(rho[: max_t + 1]) + np.sum(rho[max_t + 1: max_t + 2])
    tau = max(tau, 1 / np.log10(size))
    return float("nan") if np.isnan(rho).any() else float(size / tau)


__all__ = ["ess_bulk", "ess_tail", "per_element", "rhat"]
