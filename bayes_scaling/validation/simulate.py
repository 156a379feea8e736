"""Simulated training runs from known law parameters (recovery tests, calibration, the demo's data)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..data.runs import DEFAULT_COMPUTE_FACTOR
from ..laws import get_law

#: Epoch AI's estimates on the 240 Chinchilla runs (Besiroglu et al. 2024; REFERENCE_RESULTS.md §1b).
EPOCH_PARAMS = {"E": 1.81686, "A": 482.00572, "B": 2085.43420, "alpha": 0.34781, "beta": 0.36585}
#: The nine IsoFLOP budgets of Hoffmann et al. (2022), Approach 2.
CHINCHILLA_BUDGETS = (6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21)


def isoflop_design(
    budgets: Sequence[float] = CHINCHILLA_BUDGETS,
    per_budget: int = 12,
    params_range: tuple[float, float] = (4.4e7, 1.6e10),
    ratio_range: tuple[float, float] = (1.0, 400.0),
    compute_factor: float = DEFAULT_COMPUTE_FACTOR,
) -> pd.DataFrame:
    """A Chinchilla-like IsoFLOP design: for each budget, model sizes spread in log N.

    Sizes are log-spaced over the N for which D/N lies in ``ratio_range`` and N in ``params_range``.

    Returns
    -------
    pandas.DataFrame
        Columns ``params``, ``tokens``, ``compute``.
    """
    rows = []
    for c in budgets:
        nd = c / compute_factor
        lo = max(params_range[0], np.sqrt(nd / ratio_range[1]))
        hi = min(params_range[1], np.sqrt(nd / ratio_range[0]))
        for n in np.geomspace(lo, hi, per_budget):
            rows.append({"params": n, "tokens": nd / n, "compute": c})
    return pd.DataFrame(rows)


def simulate_runs(
    design: pd.DataFrame,
    law: str = "chinchilla",
    natural: Mapping[str, float] = EPOCH_PARAMS,
    sigma: float = 0.01,
    nu: float | None = 4.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Losses for a design from known natural parameters plus noise on log loss.

    Parameters
    ----------
    design : DataFrame
        The law's input columns (``params`` and ``tokens``, or ``compute``).
    law : str
        Law name.
    natural : mapping
        Natural parameters of the law (e.g. E, A, B, alpha, beta).
    sigma, nu : float
        Scale and degrees of freedom of the Student-t noise on log loss (``nu=None``: normal).
    seed : int
        Seed of the noise.

    Returns
    -------
    pandas.DataFrame
        ``design`` plus ``loss`` and ``loss_mean`` (the noise-free law).
    """
    spec_law = get_law(law)
    sampled = spec_law.sampled_from_natural({k: np.asarray(v, dtype=float) for k, v in natural.items()})
    logs = {k: np.log(design[k].to_numpy(dtype=float)) for k in spec_law.inputs}
    mu = spec_law.log_loss(sampled, logs, {k: 0.0 for k in spec_law.inputs})
    rng = np.random.default_rng(seed)
    noise = rng.standard_t(nu, size=mu.shape) if nu is not None else rng.standard_normal(mu.shape)
    out = design.copy()
    out["loss_mean"] = np.exp(mu)
    out["loss"] = np.exp(mu + sigma * noise)
    return out


def simulate_groups(
    design: pd.DataFrame,
    groups: Mapping[str, Mapping[str, Mapping[str, float]]],
    law: str = "chinchilla",
    sigma: float = 0.01,
    nu: float | None = 4.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Runs of several tasks in several domains, each task with its own known natural parameters.

    Parameters
    ----------
    design : DataFrame
        The law's inputs, repeated for every task.
    groups : mapping domain -> task -> natural parameters
        E.g. ``{"vision": {"v1": {...}, "v2": {...}}, "language": {...}}``.
    law, sigma, nu, seed
        As in :func:`simulate_runs`; each task gets its own noise stream from ``seed``.

    Returns
    -------
    pandas.DataFrame
        The design per task with ``domain``, ``task``, ``loss`` and ``loss_mean``.
    """
    frames = []
    rng = np.random.default_rng(seed)
    for domain, tasks in groups.items():
        for task, natural in tasks.items():
            frame = simulate_runs(design, law, natural, sigma, nu, seed=int(rng.integers(2**31)))
            frames.append(frame.assign(domain=domain, task=task))
    return pd.concat(frames, ignore_index=True)
