"""The point-fit baseline: Huber regression on log loss with a grid of L-BFGS starts.

This is how Hoffmann et al. (2022, Approach 3) and Besiroglu et al. (2024, Epoch) fit the Chinchilla law
L = E + A N^-alpha + B D^-beta: minimise the *sum* over runs of

    Huber_delta(LSE(a - alpha log N, b - beta log D, e) - log L),    A, B, E = exp(a, b, e),

with delta = 1e-3, by L-BFGS-B from every point of a grid of starts, keeping the best optimum; and get
intervals by refitting bootstrap resamples of the runs. Parameter vectors ``theta`` are ordered
``(a, b, e, alpha, beta)`` throughout, as in Epoch's notebook.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits  # a dependency of pymc

from ...data.runs import Runs
from ...errors import InputError
from ...laws.chinchilla import log_n_star

DELTA = 1e-3
#: L-BFGS-B options. scipy's defaults (``options={}``, what Hoffmann et al. and Epoch ran) stop on an absolute
#: decrease of 2.2e-9 when |objective| < 1; with objective ~1e-3 a refit started near the optimum stops almost
#: where it started, and bootstrap SEs come out 4-8 times too small (Epoch data). These run to the optimum.
TIGHT = {"ftol": 1e-15, "gtol": 1e-10, "maxiter": 15000}
#: A run counts as converged if L-BFGS-B reports success or stops (line search at machine precision) with
#: every |gradient component| below scipy's default gtol.
GTOL_CONVERGED = 1e-5
#: Hoffmann et al. / Epoch grid of starts, per parameter of theta = (a, b, e, alpha, beta): 6*6*5*5*5 = 4500.
FULL_GRID = ((0, 5, 10, 15, 20, 25), (0, 5, 10, 15, 20, 25), (-1, -0.5, 0, 0.5, 1), (0, 0.5, 1, 1.5, 2), (0, 0.5, 1, 1.5, 2))
#: A 3*3*3*2*2 = 108-start subset of the full grid, for tests and quick looks.
COARSE_GRID = ((0, 10, 20), (0, 10, 20), (-1, 0, 1), (0.5, 1.5), (0.5, 1.5))
GRIDS = {"full": FULL_GRID, "coarse": COARSE_GRID}


@dataclass(frozen=True)
class HuberFit:
    """Best optimum of a multi-start Huber fit.

    Attributes
    ----------
    E, A, B, alpha, beta : float
        Natural parameters of L = E + A N^-alpha + B D^-beta.
    objective : float
        Sum of Huber terms at the optimum.
    n_starts, n_converged : int
        Starts tried and starts whose L-BFGS-B run converged (see :data:`GTOL_CONVERGED`).
    converged : bool
        Whether the run that produced the best optimum converged.
    theta : numpy.ndarray
        The optimum as (a, b, e, alpha, beta).
    optima, optima_objective : numpy.ndarray
        Up to ten distinct local optima (k, 5), best first (the first is ``theta``), and their objectives.
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    objective: float
    n_starts: int
    n_converged: int
    converged: bool
    theta: np.ndarray = field(repr=False, compare=False)
    optima: np.ndarray = field(repr=False, compare=False)
    optima_objective: np.ndarray = field(repr=False, compare=False)

    @property
    def natural(self) -> dict[str, float]:
        """``{"E", "A", "B", "alpha", "beta"}`` as a dict (the keys of ``simulate.EPOCH_PARAMS``)."""
        return {"E": self.E, "A": self.A, "B": self.B, "alpha": self.alpha, "beta": self.beta}


def grid(name: str = "full") -> np.ndarray:
    """Starting points of a named grid (``"full"``: 4500 starts; ``"coarse"``: 108), shape (k, 5)."""
    if name not in GRIDS:
        raise InputError(f"unknown grid '{name}'; choose one of {sorted(GRIDS)}")
    return np.array(list(itertools.product(*GRIDS[name])), dtype=float)


def huber_objective(
    theta: ArrayLike, log_n: ArrayLike, log_d: ArrayLike, log_loss: ArrayLike, delta: float = DELTA
) -> tuple[float, np.ndarray]:
    """Sum of Huber terms of the log-loss residuals at ``theta`` = (a, b, e, alpha, beta), and its gradient.

    Returns
    -------
    value : float
    gradient : numpy.ndarray, shape (5,)
    """
    features = np.stack([np.ones_like(log_n, dtype=float), log_n, log_d]).astype(float)
    return _objective(np.asarray(theta, dtype=float), features, np.asarray(log_loss, dtype=float), delta)


def _objective(theta: np.ndarray, features: np.ndarray, log_loss: np.ndarray, delta: float) -> tuple[float, np.ndarray]:
    """:func:`huber_objective` on ``features`` = rows (1, log N, log D): the hot loop, about 15 numpy calls."""
    a, b, e, alpha, beta = theta.tolist()
    z = np.array([[a, -alpha, 0.0], [b, 0.0, -beta], [e, 0.0, 0.0]]) @ features  # the three LSE arguments
    m = z.max(axis=0)
    z -= m
    np.exp(z, out=z)  # unnormalised softmax weights w_k = exp(z_k - m)
    s = z.sum(axis=0)
    r = np.log(s) + (m - log_loss)  # residual LSE - log L
    psi = np.clip(r, -delta, delta)  # Huber'(r)
    value = float(psi @ (r - 0.5 * psi))  # = sum(r^2/2 if |r| <= delta else delta (|r| - delta/2))
    g = z @ (features * (psi / s)).T  # g[k, j] = sum_i psi_i softmax_k,i feature_j,i
    return value, np.array([g[0, 0], g[1, 0], g[2, 0], -g[0, 1], -g[1, 2]])


def _logs(runs: Runs) -> tuple[np.ndarray, np.ndarray]:
    log_n, log_d = np.log(runs.column("params")), np.log(runs.column("tokens"))
    return np.stack([np.ones_like(log_n), log_n, log_d]), np.log(runs.column("loss"))


def _as_starts(starts: str | ArrayLike | None) -> np.ndarray:
    if starts is None or isinstance(starts, str):
        return grid(starts or "full")
    x = np.atleast_2d(np.asarray(starts, dtype=float))
    if x.ndim != 2 or x.shape[1] != 5 or x.shape[0] == 0 or not np.all(np.isfinite(x)):
        raise InputError("starts must be finite rows of (a, b, e, alpha, beta), shape (k, 5)")
    return x


def _multistart(
    features: np.ndarray, log_loss: np.ndarray, starts: np.ndarray, delta: float, options: dict
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run L-BFGS-B from each start; return optima (k, 5), objective values (k,) and success flags (k,)."""
    thetas, values, ok = np.empty_like(starts), np.empty(len(starts)), np.empty(len(starts), dtype=bool)
    with threadpool_limits(1):
        for i, x0 in enumerate(starts):
            res = minimize(_objective, x0, args=(features, log_loss, delta), method="L-BFGS-B", jac=True,
                           options=options)
            thetas[i], values[i] = res.x, res.fun
            ok[i] = res.success or bool(np.max(np.abs(res.jac)) <= GTOL_CONVERGED)
    values[~np.isfinite(values)] = np.inf
    return thetas, values, ok


def _distinct(thetas: np.ndarray, values: np.ndarray, k: int = 10, tol: float = 1e-2) -> list[int]:
    """Indices of the best ``k`` optima that differ from each other by more than ``tol`` in some coordinate."""
    kept: list[int] = []
    for i in np.argsort(values, kind="stable")[np.isfinite(np.sort(values))]:
        if len(kept) < k and all(np.max(np.abs(thetas[i] - thetas[j])) > tol for j in kept):
            kept.append(int(i))
    return kept


def huber_fit(
    runs: Runs, starts: str | ArrayLike | None = None, delta: float = DELTA, options: dict | None = None
) -> HuberFit:
    """Fit the Chinchilla law by multi-start L-BFGS-B on the summed Huber loss of log residuals.

    Parameters
    ----------
    runs : Runs
        Training runs (``params``, ``tokens``, ``loss``).
    starts : {"full", "coarse"} or array of shape (k, 5), optional
        Starting points as (a, b, e, alpha, beta). ``None`` or ``"full"``: the 4500-point grid of
        Hoffmann et al. and Epoch; ``"coarse"``: a 108-point subset.
    delta : float
        Huber threshold (1e-3 as in both papers).
    options : dict, optional
        ``scipy.optimize.minimize`` options for L-BFGS-B; default :data:`TIGHT`. ``{}`` gives scipy's
        defaults, i.e. exactly the papers' procedure.

    Returns
    -------
    HuberFit
        The lowest objective over all starts.
    """
    if not delta > 0:
        raise InputError(f"delta must be positive, got {delta!r}")
    x0 = _as_starts(starts)
    thetas, values, ok = _multistart(*_logs(runs), x0, delta, TIGHT if options is None else options)
    best = int(np.argmin(values))
    t, kept = thetas[best], _distinct(thetas, values)
    return HuberFit(E=float(np.exp(t[2])), A=float(np.exp(t[0])), B=float(np.exp(t[1])), alpha=float(t[3]),
                    beta=float(t[4]), objective=float(values[best]), n_starts=len(x0), n_converged=int(ok.sum()),
                    converged=bool(ok[best]), theta=t.copy(), optima=thetas[kept], optima_objective=values[kept])


def optimal_ratio(A: ArrayLike, B: ArrayLike, alpha: ArrayLike, beta: ArrayLike, compute: ArrayLike,
                  compute_factor: float = 6.0) -> np.ndarray:
    """Compute-optimal D*/N* from the closed form of Hoffmann et al. (2022, Eq. 4); broadcasts.

    G = (alpha A / (beta B))^(1/(alpha+beta)), N* = G (C/k)^(beta/(alpha+beta)), D* = C/(k N*).
    """
    log_budget = np.log(np.asarray(compute, dtype=float) / compute_factor)
    log_n = log_n_star(np.asarray(A, dtype=float), np.asarray(B, dtype=float),
                             np.asarray(alpha, dtype=float), np.asarray(beta, dtype=float), log_budget)
    return np.exp(log_budget - 2.0 * log_n)


def bootstrap(
    runs: Runs,
    n_resamples: int = 1000,
    seed: int = 0,
    starts: str | ArrayLike | None = None,
    compute: Sequence[float] | None = None,
    fit: HuberFit | None = None,
    n_optima: int = 5,
    delta: float = DELTA,
    options: dict | None = None,
) -> pd.DataFrame:
    """Refit the Huber baseline on resamples of the runs drawn with replacement.

    Parameters
    ----------
    runs : Runs
        Training runs.
    n_resamples, seed : int
        Number of resamples and seed of the resampling (``numpy.random.default_rng``).
    starts : {"full", "coarse"} or array of shape (k, 5), optional
        Starts of every refit. Default: the full-data optimum and the next-best distinct local optima the
        grid found whose objective is within 50% of the best (``fit.optima``), at most ``n_optima``. A
        resample moves the optimum only a little, so these start close to it (on Epoch's data this
        matches 108-start refits to 1e-9 in objective); pass a grid to be thorough (and slow).
    compute : sequence of float, optional
        Budgets (FLOPs) at which to add columns ``ratio_<C>`` with the compute-optimal D*/N*.
    fit : HuberFit, optional
        The full-data fit whose optima start the refits; if None (and ``starts`` is None), a coarse-grid fit.
    n_optima : int
        At most this many of ``fit.optima`` start each refit.
    delta, options
        As in :func:`huber_fit`; see :data:`TIGHT` for why the default is not scipy's tolerances.

    Returns
    -------
    pandas.DataFrame
        One row per resample: ``E, A, B, alpha, beta, a`` (= beta/(alpha+beta)), ``objective``,
        ``converged`` (the best start's L-BFGS-B run converged), ``n_converged`` (starts that did)
        and ``ratio_<C>`` (e.g. ``ratio_5.88e+23``) for each budget.
    """
    if n_resamples < 1:
        raise InputError(f"n_resamples must be at least 1, got {n_resamples}")
    if starts is None:
        fit = fit if fit is not None else huber_fit(runs, "coarse", delta, options)
        x0 = fit.optima[fit.optima_objective <= 1.5 * fit.objective][:n_optima]
    else:
        x0 = _as_starts(starts)
    features, log_loss = _logs(runs)
    rng, n, rows = np.random.default_rng(seed), len(runs), np.empty((n_resamples, 5))
    objective, converged, n_ok = np.empty(n_resamples), np.empty(n_resamples, bool), np.empty(n_resamples, int)
    for j in range(n_resamples):
        idx = rng.integers(0, n, size=n)
        thetas, values, ok = _multistart(features[:, idx], log_loss[idx], x0, delta,
                                        TIGHT if options is None else options)
        best = int(np.argmin(values))
        rows[j], objective[j], converged[j], n_ok[j] = thetas[best], values[best], ok[best], ok.sum()
    out = pd.DataFrame({"E": np.exp(rows[:, 2]), "A": np.exp(rows[:, 0]), "B": np.exp(rows[:, 1]),
                        "alpha": rows[:, 3], "beta": rows[:, 4]})
    out["a"] = out["beta"] / (out["alpha"] + out["beta"])
    out["objective"], out["converged"], out["n_converged"] = objective, converged, n_ok
    for c in compute or ():
        out[f"ratio_{c:.3g}"] = optimal_ratio(out["A"], out["B"], out["alpha"], out["beta"], c,
                                              runs.compute_factor)
    return out
