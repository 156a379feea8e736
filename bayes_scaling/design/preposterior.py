"""Preposterior analysis by importance reweighting: how uncertain a target would be after new runs.

For candidate runs x_c with mean log loss mu_i(x_c) and noise scale sigma_i under posterior draw i,
an outcome is simulated from a "true" draw j: y_c = mu_j(x_c) + sigma_j·eps + s_j(x_c)·z, with
Student-t eps where the fit has it and s_j(x_c) the spec's structural error at x_c (zero inside the
fitted runs; z standard normal): the law is not exact beyond the data, and the outcome says so. The
posterior after observing y is the current one reweighted by the likelihood a refit gives the new
runs, w_i ∝ prod_c p(y_c | theta_i) with the fitted noise alone: once fitted, a run lies inside the
fitted range, where the structural error is zero.
The target's uncertainty under those weights (the width of its 90% interval, or the sd of an
indicator) averaged over simulated outcomes is the expected uncertainty after the runs.

The true draw is left out of its own reweighting: otherwise it would be weighted by the very
outcome it produced, and with informative runs the design would look better than it is. Outcomes
use common random numbers across candidates, so the candidates are compared on the same luck.
The update is trustworthy while the weights keep a large effective sample size; it is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from ..decisions.voi import log_noise_pdf

LEVEL = 0.9  # the interval whose width a design shrinks


@dataclass(frozen=True)
class Outcomes:
    """Simulated outcomes of every candidate and their log-likelihood under every draw.

    Attributes
    ----------
    truth : ndarray, shape (n_sim,)
        The index of the draw each simulation takes as the truth.
    y : ndarray, shape (n_sim, n_candidates)
        Simulated log loss of each candidate.
    loglik : ndarray, shape (n_candidates, n_sim, n_draws)
        log p(y_sc | theta_i).
    """

    truth: np.ndarray
    y: np.ndarray
    loglik: np.ndarray

    def start(self) -> np.ndarray:
        """Log weights before any new run, shape (n_sim, n_draws): zero, minus infinity at the true draw."""
        n_sim, n_draws = self.loglik.shape[1:]
        acc = np.zeros((n_sim, n_draws))
        acc[np.arange(n_sim), self.truth] = -np.inf
        return acc


def loglik(y: np.ndarray, mu: np.ndarray, sigma: np.ndarray, nu: np.ndarray | None) -> np.ndarray:
    """log p(y | draw i) for outcomes ``y`` (n_sim, n_c) under ``mu``, ``sigma`` (n_draws, n_c): (n_c, n_sim, n_draws)."""
    z = (y.T[:, :, None] - mu.T[:, None, :]) / sigma.T[:, None, :]
    noise = {} if nu is None else {"nu": nu[None, None, :]}
    return log_noise_pdf(z, noise) - np.log(sigma.T[:, None, :])


def simulate(mu: np.ndarray, sigma: np.ndarray, nu: np.ndarray | None, n_sim: int, seed: int,
             extra: np.ndarray | None = None) -> Outcomes:
    """``n_sim`` outcomes of every candidate, each from a true draw picked at random (seeded), with the
    structural error ``extra`` (sd per draw and candidate) added where given; their likelihood uses
    the noise ``sigma`` alone."""
    rng = np.random.default_rng(seed)
    n_draws, n_c = mu.shape
    truth = rng.integers(0, n_draws, int(n_sim))
    eps = rng.standard_t(nu[truth][:, None], size=(n_sim, n_c)) if nu is not None else rng.standard_normal((n_sim, n_c))
    y = mu[truth] + sigma[truth] * eps
    if extra is not None:
        y = y + extra[truth] * np.random.default_rng([seed, 2]).standard_normal((n_sim, n_c))
    return Outcomes(truth, y, loglik(y, mu, sigma, nu))


def normalise(log_w: np.ndarray) -> np.ndarray:
    """Weights summing to one over the last axis."""
    top = np.max(log_w, axis=-1, keepdims=True)
    w = np.exp(log_w - top)
    return w / w.sum(axis=-1, keepdims=True)


def ess(w: np.ndarray) -> np.ndarray:
    """Kish effective sample size of normalised weights (over the last axis)."""
    return 1.0 / np.sum(w**2, axis=-1)


class Uncertainty:
    """The uncertainty of a target under weights over the draws.

    ``kind="width"``: the width of the central ``level`` interval of a normal with the target's
    weighted mean and sd (on whatever scale the values are given: log10 values give decades). The
    weighted sd is used rather than weighted quantiles because it is far less noisy over a few
    dozen simulated outcomes, which is what a greedy choice between candidates compares.
    ``kind="sd"``: the sd of an indicator (the uncertainty of a probability), sqrt(p(1 - p)).
    """

    def __init__(self, values: np.ndarray, kind: str = "width", level: float = LEVEL) -> None:
        self.kind = kind
        self.values = np.asarray(values, dtype=float)
        self.scale = 2 * NormalDist().inv_cdf((1 + level) / 2) if kind == "width" else 1.0

    def __call__(self, w: np.ndarray) -> np.ndarray:
        """Uncertainty for each row of normalised weights ``w`` (..., n_draws)."""
        centred = self.values - self.values.mean()
        mean = w @ centred
        var = np.maximum(w @ centred**2 - mean**2, 0.0)
        return self.scale * np.sqrt(var)

    def uniform(self) -> float:
        """Uncertainty under the current posterior (equal weights)."""
        n = self.values.size
        return float(self(np.full((1, n), 1.0 / n))[0])
