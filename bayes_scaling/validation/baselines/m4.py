"""The M4 estimator of Alabdulmohsin et al. (2022), per learning curve: the published extrapolation baseline.

M4 models the error (or loss) eps of a learning curve in the data axis x as

    (eps - eps_inf) / (eps_0 - eps)^alpha = beta · x^c,       c < 0, alpha >= 0, eps_inf < eps < eps_0,

and is fitted, as in the authors' code (google-research ``revisiting_neural_scaling_laws/methods/m4.py``,
which this module re-implements without its sklearn dependency), by alternating

1. non-negative least squares for (log beta, -c, alpha) in
   ``log(y - eps_inf) = log beta - (-c)·log x + alpha·log(eps_0_init - y)`` (all three coefficients
   constrained >= 0, so beta >= 1; the third column uses the *initial* eps_0 throughout, as the
   original precomputes it), and
2. updates of (eps_inf, eps_0) that reduce the squared log residual ``log g - log f``: 1000 steps of
   gradient descent (learning rate 1e-8) in each of the first 100 iterations, then 100 damped Newton
   steps (rate 0.1) per iteration, each followed by the projection
   ``lo_bound <= eps_inf <= min(y) - 1e-3``, ``max(y) + 1e-3 <= eps_0 <= up_bound + 1e-3``;

until beta changes by less than 1e-10 (after iteration 101) or 10,000 iterations. Duplicate x keep their
last y (the original fits a dict keyed by x). Predictions solve ``w = f·(b - w)^alpha`` for
w = eps - eps_inf on a grid of 10,000 points in [0, b], b = eps_0 - eps_inf, as the original does
(``method="grid"``), or exactly with :func:`bayes_scaling.laws.m4.m4_solve` (``method="exact"``).

All curves of a batch are fitted together: the gradient and Newton steps are vectorised over curves (a
curve stops updating once it has converged); only the small NNLS problems loop over curves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import nnls

from ...errors import InputError
from ...laws.m4 import m4_solve

#: Margin the original puts around the observed range when projecting eps_inf and eps_0.
ERR_MARGIN = 1e-3
#: Below this |alpha| the original predicts with M2 (eps = eps_inf + beta·x^c); also its Hessian floor.
EPS = 1e-5
#: Grid size of the original's prediction (``predict_loss(..., prec=10_000)``).
GRID_POINTS = 10_000


@dataclass(frozen=True)
class M4Fit:
    """One fitted M4 curve.

    Attributes
    ----------
    err_inf, err_0 : float
        The limit with infinite data (eps_inf) and the random-guess level (eps_0).
    beta, c, alpha : float
        ``(eps - err_inf)/(err_0 - eps)^alpha = beta·x^c``.
    iterations : int
        Alternating iterations run.
    converged : bool
        Whether the stopping rule on beta was met before ``max_iterations``.
    """

    err_inf: float
    err_0: float
    beta: float
    c: float
    alpha: float
    iterations: int
    converged: bool

    def predict(self, x: ArrayLike, method: str = "grid") -> np.ndarray:
        """Predicted error/loss at data sizes ``x``.

        Parameters
        ----------
        x : array_like
            Data sizes (> 0).
        method : {"grid", "exact"}
            ``"grid"``: the original's 10,000-point grid search (what the published numbers used);
            ``"exact"``: the root of the implicit equation to float precision.
        """
        x = np.atleast_1d(np.asarray(x, dtype=float))
        f = self.beta * x ** self.c
        b = self.err_0 - self.err_inf
        if abs(self.alpha) < EPS:
            return self.err_inf + f
        if method == "exact":
            log_t, _ = m4_solve(np, np.log(f), np.full_like(f, np.log(b)), np.full_like(f, self.alpha))
            return self.err_inf + np.exp(log_t)
        if method != "grid":
            raise InputError(f"unknown M4 prediction method {method!r}; choose 'grid' or 'exact'")
        w = np.linspace(0.0, b, GRID_POINTS)
        gap = np.abs(w[None, :] - f[:, None] * (b - w[None, :]) ** self.alpha)
        return w[np.argmin(gap, axis=1)] + self.err_inf

    def to_dict(self) -> dict[str, float | int | bool]:
        """JSON-able parameters."""
        return {"err_inf": self.err_inf, "err_0": self.err_0, "beta": self.beta, "c": self.c,
                "alpha": self.alpha, "iterations": self.iterations, "converged": self.converged}


def fit_m4(x: ArrayLike, y: ArrayLike, **options: float | None) -> M4Fit:
    """Fit M4 to one learning curve; ``options`` as in :func:`fit_m4_curves`."""
    return fit_m4_curves([(x, y)], **options)[0]


def fit_m4_curves(
    curves: Sequence[tuple[ArrayLike, ArrayLike]],
    err_0: float | None = 1.0,
    up_bound: float | None = 1.0,
    err_inf: float | None = None,
    lo_bound: float = 0.0,
    c: float = -0.5,
    max_iterations: int = 10_000,
    lr: float = 1e-8,
    epochs: int = 1000,
    grad_iters: int = 100,
    stop: float = 1e-10,
) -> list[M4Fit]:
    """Fit M4 to each of several learning curves with the original alternating algorithm.

    Parameters
    ----------
    curves : sequence of (x, y)
        Data sizes (> 0) and errors/losses of each curve.
    err_0, up_bound : float or None
        Initial random-guess level (None: max(y) + 1e-3) and its upper bound (None: unbounded). The
        defaults, 1.0 and 1.0, are the authors' settings for image classification error rates; they used
        ``up_bound=None`` for NMT and LM losses.
    err_inf : float or None
        Initial eps_inf (None: min(y) - 1e-3, the original's default).
    lo_bound : float
        Lower bound of the error (eps_inf >= max(0, lo_bound - 1e-3)).
    c, max_iterations, lr, epochs, grad_iters, stop
        As ``Estimator(..., c=)`` and ``estimate_scaling_params(...)`` of the original.

    Returns
    -------
    list of M4Fit
        One per curve, in order.

    Raises
    ------
    InputError
        A curve with fewer than 3 distinct x, non-positive x or y, or y >= err_0.
    """
    xs, ys = _clean_curves(curves)
    k = len(xs)
    X, Y, W = _pad_curves(xs, ys)
    min_err = np.array([y.min() for y in ys]) - ERR_MARGIN
    max_err = np.array([y.max() for y in ys]) + ERR_MARGIN
    e0 = max_err.copy() if err_0 is None else np.full(k, float(err_0))
    if np.any(e0 <= max_err - ERR_MARGIN):
        raise InputError(f"err_0 = {err_0} is not above every observed value: pass err_0=None or a larger value")
    lo = max(0.0, lo_bound - ERR_MARGIN)
    hi = np.inf if up_bound is None else up_bound + ERR_MARGIN
    # the third column keeps the *initial* err_0, as the original precomputes it
    design = [np.column_stack([np.ones(len(x)), -np.log(x), np.log(e0[i] - y)]) for i, (x, y) in enumerate(zip(xs, ys))]
    err_i = min_err.copy() if err_inf is None else np.full(k, float(err_inf))
    beta, cs, alpha = np.ones(k), np.full(k, float(c)), np.zeros(k)
    log_x = np.log(X)
    active = np.ones(k, dtype=bool)
    iterations, converged = np.zeros(k, dtype=int), np.zeros(k, dtype=bool)
    old_beta = beta.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        for it in range(max_iterations):
            idx = np.flatnonzero(active)
            if idx.size == 0:
                break
            for i in idx:  # (log beta, -c, alpha) >= 0 by NNLS, as sklearn's LinearRegression(positive=True)
                coef, _ = nnls(design[i], np.log(ys[i] - err_i[i]))
                beta[i], cs[i], alpha[i] = np.exp(coef[0]), -coef[1], coef[2]
            err_i[idx], e0[idx] = _update_errs(
                Y[idx], W[idx], alpha[idx], np.log(beta[idx])[:, None] + cs[idx, None] * log_x[idx], err_i[idx],
                e0[idx], lo, min_err[idx], max_err[idx], hi, newton=it >= grad_iters,
                steps=100 if it >= grad_iters else epochs, lr=lr)
            iterations[idx] = it + 1
            done = (np.abs(beta[idx] - old_beta[idx]) < stop) & (it > grad_iters + 1)
            old_beta[idx] = beta[idx]
            converged[idx[done]] = True
            active[idx[done]] = False
    return [M4Fit(float(err_i[i]), float(e0[i]), float(beta[i]), float(cs[i]), float(alpha[i]), int(iterations[i]),
                  bool(converged[i])) for i in range(k)]


def _clean_curves(curves: Sequence[tuple[ArrayLike, ArrayLike]]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Check each curve and return its sorted distinct x and their (last) y."""
    xs, ys = [], []
    for i, (x, y) in enumerate(curves):
        x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
        if x.shape != y.shape or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))) or np.any(x <= 0) or np.any(y <= 0):
            raise InputError(f"curve {i}: x and y must be positive finite arrays of the same length")
        last = dict(zip(x.tolist(), y.tolist()))  # duplicate x keep their last y, as the original's dict
        ux = np.array(sorted(last))
        if len(ux) < 3:
            raise InputError(f"curve {i} has {len(ux)} distinct x; M4 needs at least 3")
        xs.append(ux)
        ys.append(np.array([last[v] for v in ux]))
    return xs, ys


def _pad_curves(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stack the curves into (curve, point) arrays of x, y and weights 1/n, padding with weight 0."""
    k, n_max = len(xs), max(len(x) for x in xs)
    X, Y, W = np.ones((k, n_max)), np.empty((k, n_max)), np.zeros((k, n_max))
    for i, (x, y) in enumerate(zip(xs, ys)):  # padding repeats a real point with weight 0 (logs stay finite)
        X[i], Y[i] = x[-1], y.max()
        X[i, :len(x)], Y[i, :len(y)], W[i, :len(x)] = x, y, 1.0 / len(x)
    return X, Y, W


def _update_errs(y: np.ndarray, w: np.ndarray, alpha: np.ndarray, log_f: np.ndarray, err_inf: np.ndarray,
                 err_0: np.ndarray, lo: float, min_err: np.ndarray, max_err: np.ndarray, hi: float, newton: bool,
                 steps: int, lr: float) -> tuple[np.ndarray, np.ndarray]:
    """``steps`` projected gradient (rate ``lr``) or damped Newton (rate 0.1) steps on (eps_inf, eps_0) of
    the mean squared residual log g - log f, every curve at once (rows; ``w`` = 1/n or 0 for padding)."""
    a = alpha[:, None]
    for _ in range(steps):
        above, below = y - err_inf[:, None], err_0[:, None] - y
        wr = w * (np.log(above) - a * np.log(below) - log_f)
        g_inf = -(wr / above).sum(axis=1)
        g_0 = -alpha * (wr / below).sum(axis=1)
        if newton:
            h_inf = (w / above**2).sum(axis=1) - (wr / above**2).sum(axis=1)
            h_0 = alpha * (alpha * (w / below**2).sum(axis=1) + (wr / below**2).sum(axis=1))
            err_inf = err_inf - np.where(np.abs(h_inf) > EPS, 0.1 * g_inf / h_inf, 0.0)
            err_0 = err_0 - np.where(np.abs(h_0) > EPS, 0.1 * g_0 / h_0, 0.0)
        else:
            err_inf = err_inf - lr * g_inf
            err_0 = err_0 - lr * g_0
        err_inf = np.minimum(np.maximum(err_inf, lo), min_err)  # the original's projection
        err_0 = np.minimum(np.maximum(err_0, max_err), hi)
    return err_inf, err_0


__all__ = ["M4Fit", "fit_m4", "fit_m4_curves"]
