"""Scores of probabilistic predictions of held-out runs, per run and pooled (used by :mod:`bayes_scaling.validation.backtest`).

Scores, per held-out run and pooled over runs (and, for several tasks, per task and averaged over tasks,
which is how learning-curve benchmarks report them):

``rmsle``
    sqrt(mean((log pred - log obs)^2)) with pred the posterior median of the law's mean loss (for a
    bootstrap, the median over resamples; for a point fit, its prediction).
``coverage_<p>``
    Fraction of runs inside the central (equal-tailed) predictive interval of mass p. For the posterior
    it is read exactly from the probability integral transform PIT = F(obs), F the predictive CDF (the
    mixture over draws of the Student-t or normal noise on log loss): inside iff |PIT - 1/2| <= p/2.
    Bootstrap intervals hold parameter uncertainty only (the law's mean, no run-to-run noise), as the
    published tools report them.
``coverage_error``
    The mean over the nominal levels of |coverage - nominal|: 0.05 means intervals miss their
    stated mass by five points on average.
``calibration_error``
    NSL-PFN's mean over the nominal levels of (coverage - nominal)^2 (squared, so it shrinks small
    misses: a coverage error of 0.38 is 0.147 here).
``mlpd``
    Mean log predictive density of the observed loss, log((1/S)·sum_s p(obs | draw s)), on the model's
    scale: the density of log loss. ``mlpd_loss`` is the same on the loss itself (mlpd - mean log obs,
    the change of variables), the scale NSL-PFN reports its log-likelihood on. Undefined (NaN) for the
    baselines, which have no noise model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import special, stats

from ..errors import InputError

#: Nominal levels of the predictive intervals scored by default.
DEFAULT_LEVELS = (0.5, 0.8, 0.9, 0.95)
#: The levels NSL-PFN averages its calibration error over (Lee et al. 2025, ``inference.py``).
NSLPFN_LEVELS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


def pointwise_scores(log_obs: np.ndarray, mu: np.ndarray, sigma: np.ndarray | float,
                     nu: np.ndarray | float | None = None) -> pd.DataFrame:
    """Per-run scores of a predictive distribution given by draws of its location and scale on log loss.

    Parameters
    ----------
    log_obs : array, shape (n,)
        Observed log loss.
    mu : array, shape (S, n)
        Draws of the law's log mean loss.
    sigma : array broadcastable to (S, n)
        Noise scale per draw (and run).
    nu : array broadcastable to (S, n), optional
        Student-t degrees of freedom per draw; None for normal noise.

    Returns
    -------
    pandas.DataFrame
        ``median`` (exp of the median of mu over draws), ``pit`` (predictive CDF at the observation),
        ``lpd`` (log of the mean predictive density of log obs over draws).
    """
    mu = np.asarray(mu, dtype=float)
    sigma = np.broadcast_to(np.asarray(sigma, dtype=float), mu.shape)
    z = (np.asarray(log_obs, dtype=float)[None, :] - mu) / sigma
    if nu is None:
        cdf, logpdf = special.ndtr(z), stats.norm.logpdf(z)
    else:
        nu = np.broadcast_to(np.asarray(nu, dtype=float), mu.shape)
        cdf, logpdf = special.stdtr(nu, z), stats.t.logpdf(z, nu)
    lpd = special.logsumexp(logpdf - np.log(sigma), axis=0) - np.log(mu.shape[0])
    return pd.DataFrame({"median": np.exp(np.median(mu, axis=0)), "pit": cdf.mean(axis=0), "lpd": lpd})


def empirical_scores(log_obs: np.ndarray, draws: np.ndarray, levels: Sequence[float]) -> pd.DataFrame:
    """Per-run scores of a sample of predictions without a noise model (e.g. bootstrap refits).

    ``pit`` is the fraction of draws at or below the observation; ``lpd`` is NaN; ``lower_<p>`` and
    ``upper_<p>`` are the sample's equal-tailed quantiles (in loss units).
    """
    draws = np.asarray(draws, dtype=float)
    out = pd.DataFrame({"median": np.exp(np.median(draws, axis=0)),
                        "pit": (draws <= np.asarray(log_obs)[None, :]).mean(axis=0), "lpd": np.nan})
    return out.assign(**bounds(draws, levels))


def noisy_draw_scores(log_obs: np.ndarray, draws: np.ndarray, scale: float, levels: Sequence[float],
                      seed: int) -> pd.DataFrame:
    """Per-run scores of a sample of predictions (e.g. bootstrap refits) with normal noise of sd ``scale``
    on log loss added: a predictive distribution with a density, so ``lpd`` is scored as the posterior's is."""
    draws = np.asarray(draws, dtype=float)
    noisy = draws + scale * np.random.default_rng(seed).standard_normal(draws.shape)
    return pointwise_scores(log_obs, draws, scale).assign(**bounds(noisy, levels))


def summarise(per_run: pd.DataFrame, levels: Sequence[float]) -> dict[str, float]:
    """Pooled scores of per-run rows (``loss``, ``median``, ``pit``, ``lpd``): see the module docstring."""
    log_obs = np.log(per_run["loss"].to_numpy(dtype=float))
    error = np.log(per_run["median"].to_numpy(dtype=float)) - log_obs
    pit = per_run["pit"].to_numpy(dtype=float)
    out = {"n_test": len(per_run), "rmsle": float(np.sqrt(np.mean(error**2)))}
    coverage = [float(np.mean(np.abs(pit - 0.5) <= p / 2)) if np.all(np.isfinite(pit)) else np.nan for p in levels]
    out.update({f"coverage_{pct(p)}": c for p, c in zip(levels, coverage)})
    out["coverage_error"] = float(np.mean(np.abs(np.asarray(coverage) - np.asarray(levels))))
    out["calibration_error"] = float(np.mean((np.asarray(coverage) - np.asarray(levels)) ** 2))
    lpd = per_run["lpd"].to_numpy(dtype=float)
    out["mlpd"] = float(np.mean(lpd))
    out["mlpd_loss"] = float(np.mean(lpd - log_obs))
    return out


def pct(p: float) -> str:
    """A level as it appears in column names: 0.9 -> ``"90"``, 0.975 -> ``"97.5"``."""
    return format(round(100 * p, 6), "g")


def bounds(log_draws: np.ndarray, levels: Sequence[float]) -> dict[str, np.ndarray]:
    """Equal-tailed quantiles of draws of log loss over axis 0, as loss: ``lower_<p>``, ``upper_<p>``."""
    qs = [q for p in levels for q in ((1 - p) / 2, (1 + p) / 2)]
    values = np.exp(np.quantile(log_draws, qs, axis=0))
    out = {}
    for i, p in enumerate(levels):
        out[f"lower_{pct(p)}"], out[f"upper_{pct(p)}"] = values[2 * i], values[2 * i + 1]
    return out


def tabulate(per_run: pd.DataFrame, levels: Sequence[float], n_train: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row of pooled scores per method (with means over tasks) and one per method and task."""
    rows, task_rows = [], []
    for method, frame in per_run.groupby("method", sort=False):
        tasks = [{"method": method, "task": t, "domain": f["domain"].iloc[0], **summarise(f, levels)}
                 for t, f in frame.groupby("task", sort=False)]
        task_rows += tasks
        row = {"method": method, "n_train": n_train, "n_tasks": len(tasks), **summarise(frame, levels)}
        names = [k for k in tasks[0] if k not in ("method", "task", "domain", "n_test")]
        row.update({f"{k}_task_mean": float(np.mean([t[k] for t in tasks])) for k in names})
        rows.append(row)
    return pd.DataFrame(rows), pd.DataFrame(task_rows)


def check_levels(levels: Sequence[float]) -> tuple[float, ...]:
    """Levels as floats, each strictly between 0 and 1 (else :class:`InputError`)."""
    out = tuple(float(p) for p in levels)
    if not out or any(not 0.0 < p < 1.0 for p in out):
        raise InputError(f"levels must lie strictly between 0 and 1, got {list(levels)}")
    return out


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts for JSON, NaN as None."""
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
            for row in frame.to_dict(orient="records")]


__all__ = ["DEFAULT_LEVELS", "NSLPFN_LEVELS", "bounds", "check_levels", "empirical_scores", "pct", "pointwise_scores",
           "records", "summarise", "tabulate"]
