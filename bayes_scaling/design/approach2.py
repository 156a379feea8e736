"""Approach 2 with a posterior: a parabola in log N per IsoFLOP budget, pooled across budgets.

Hoffmann et al.'s Approach 2 fits, for each budget b, log L against x = log10 N as a parabola and
takes its vertex x*_b as the compute-optimal size; a line through the vertices gives
N*(C) ∝ C^a. Here the parabolas are one hierarchical model:

    log L_bj = v_b + c_b·(x_j − x*_b)^2 + eps,    eps ~ StudentT(nu, 0, sigma)
    x*_b = m + a·(log10 C_b − l0) + s·z_b,        z_b ~ Normal(0, 1)
    log c_b ~ Normal(log_c, s_c)

so the vertices scatter about the power law by s decades and the curvatures share a scale: a
budget with few sizes borrows the shape of the others. The vertices are non-centred (their
scatter s may be near zero, a funnel otherwise); the curvatures are centred, as each budget's
sizes locate its own curvature well. N*(C) = 10^(m + a·(log10 C − l0)) and
D*(C) = C/(k N*) follow with intervals at any compute. The estimator assumes nothing about the
loss law beyond a smooth valley at each budget, which is why it cross-checks a law's frontier.
Budgets come from a ``budget`` column, or are recognised by grouping runs whose compute lies within
``tolerance`` decades of each other; a budget with fewer than three sizes is dropped with a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..data.runs import Runs
from ..errors import DataWarning, InputError
from ..inference import SamplerSettings, diagnose, sample

MIN_SIZES = 3
TUNE = 1500
TOLERANCE = 0.1  # decades of compute within which runs belong to one budget


def budgets_of(table: pd.DataFrame, tolerance: float = TOLERANCE) -> np.ndarray:
    """The budget of every run: its ``budget`` column, or its compute grouped within ``tolerance`` decades."""
    if "budget" in table:
        return table["budget"].to_numpy(dtype=float)
    log_c = np.log10(table["compute"].to_numpy(dtype=float))
    order = np.argsort(log_c, kind="stable")
    label = np.empty(log_c.size)
    start, members = log_c[order[0]], [order[0]]
    for i in order[1:]:
        if log_c[i] - start > tolerance:
            label[members] = 10 ** np.mean(log_c[members])
            start, members = log_c[i], []
        members.append(i)
    label[members] = 10 ** np.mean(log_c[members])
    return label


def isoflop_table(runs: Runs | pd.DataFrame, tolerance: float = TOLERANCE) -> pd.DataFrame:
    """The runs with their ``budget``, budgets of fewer than three distinct sizes dropped (with a warning,
    and listed in ``attrs["budgets_dropped"]``).

    Raises
    ------
    InputError
        When the runs hold more than one task (losses of different studies are not comparable), or
        no budget with three sizes is left.
    """
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 < tolerance < 1:
        raise InputError(f"tolerance is the decades within which runs share a budget, in (0, 1), got {tolerance!r}")
    table = (runs.table if isinstance(runs, Runs) else runs).copy()
    tasks = sorted(set(table["task"])) if "task" in table else []
    if len(tasks) > 1:
        raise InputError(f"isoflop fits one family of IsoFLOP runs; these runs have {len(tasks)} tasks "
                         f"({', '.join(map(str, tasks[:4]))}{', ...' if len(tasks) > 4 else ''}): pick one (--split)")
    if "params" not in table:
        raise InputError("isoflop fits a parabola in log N at each budget: the runs need a 'params' column")
    table["budget"] = budgets_of(table, tolerance)
    sizes = table.groupby("budget")["params"].nunique()
    thin = sizes[sizes < MIN_SIZES]
    if len(thin):
        warnings.warn(f"isoflop: dropped {len(thin)} budget(s) with fewer than {MIN_SIZES} model sizes "
                      f"({', '.join(f'{b:.3g}' for b in thin.index)} FLOPs): a parabola needs three", DataWarning,
                      stacklevel=2)
    table = table[table["budget"].isin(sizes[sizes >= MIN_SIZES].index)]
    table.attrs["budgets_dropped"] = sorted(float(b) for b in thin.index)
    if table.empty:
        raise InputError(f"isoflop needs at least one budget with {MIN_SIZES} or more model sizes; none has "
                         "(give a 'budget' column, or runs whose compute groups into IsoFLOP budgets)")
    return table.sort_values(["budget", "params"], kind="stable").reset_index(drop=True)


def build_isoflop_model(table: pd.DataFrame):
    """The hierarchical parabola model (module docstring) with dims ``run`` and ``budget``."""
    import pymc as pm

    budgets, index = np.unique(table["budget"].to_numpy(), return_inverse=True)
    x = np.log10(table["params"].to_numpy(dtype=float))
    y = np.log(table["loss"].to_numpy(dtype=float))
    lc = np.log10(budgets)
    l0 = float(lc.mean())
    vertex0 = np.array([x[index == b][np.argmin(y[index == b])] for b in range(budgets.size)])
    level0 = np.array([y[index == b].min() for b in range(budgets.size)])
    with pm.Model(coords={"budget": budgets, "run": np.arange(len(table))}) as model:
        m = pm.Normal("m", float(vertex0.mean()), 1.0)
        a = pm.Normal("a", 0.5, 0.25)
        s = pm.HalfNormal("s", 0.1)
        z = pm.Normal("z", 0.0, 1.0, dims="budget")
        vertex = pm.Deterministic("log10_n_star", m + a * (lc - l0) + s * z, dims="budget")
        log_c = pm.Normal("log_c", np.log(0.03), 1.5)
        s_c = pm.HalfNormal("s_c", 0.5)
        log_curvature = pm.Normal("log_curvature", log_c, s_c, dims="budget")
        curvature = pm.Deterministic("curvature", pm.math.exp(log_curvature), dims="budget")
        v = pm.Normal("v", level0, 0.5, dims="budget")
        mu = v[index] + curvature[index] * (x - vertex[index]) ** 2
        sigma = pm.HalfNormal("sigma", 0.05)
        nu = pm.Gamma("nu", 2.0, 0.1)
        pm.StudentT("log_loss", nu=nu, mu=mu, sigma=sigma, observed=y, dims="run")
    model.l0 = l0  # type: ignore[attr-defined]
    return model


def isoflop(runs: Runs | pd.DataFrame, compute: Sequence[float] | None = None, compute_factor: float | None = None,
            tolerance: float = TOLERANCE, sampler: SamplerSettings | None = None) -> xr.Dataset:
    """Approach 2 with a posterior: N*(C), D*(C) and D*/N* per budget and at ``compute``.

    Parameters
    ----------
    runs : Runs or DataFrame
        Runs with ``params``, ``tokens``, ``compute`` and ``loss`` (and optionally ``budget``).
    compute : sequence of float, optional
        Budgets to extrapolate the power law to (besides the fitted budgets).
    compute_factor : float, optional
        k in C = k·N·D (default: the runs', else 6).
    tolerance : float
        Decades of compute within which runs form one budget (without a ``budget`` column).
    sampler : SamplerSettings, optional
        NUTS settings (default ``SamplerSettings(tune=1500, target_accept=0.95)``: the scatter of
        the vertices over a handful of budgets is a hierarchical scale that needs a long warm-up).

    Returns
    -------
    xarray.Dataset
        Draws (dims ``chain, draw``) of ``a`` (N* ∝ C^a), ``b`` = 1 − a, the vertex
        ``log10_n_star`` per ``budget``, and ``params``, ``tokens``, ``ratio`` along ``compute``
        (the power law at the fitted budgets and at ``compute``). ``attrs``: ``diagnostics`` (a
        list of problems, empty when converged), ``budgets_dropped`` and ``n_runs``.
    """
    k = compute_factor or (runs.compute_factor if isinstance(runs, Runs) else 6.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        table = isoflop_table(runs, tolerance)
    for w in caught:
        warnings.warn(w.message, w.category, stacklevel=2)
    model = build_isoflop_model(table)
    idata, _ = sample(model, sampler or SamplerSettings(tune=TUNE, target_accept=0.95))
    post = idata["posterior"].to_dataset()
    budgets = post["budget"].values
    extra = np.asarray(compute if compute is not None else [], dtype=float)
    if np.any(~np.isfinite(extra)) or np.any(extra <= 0):
        raise InputError(f"compute must be positive numbers of FLOPs, got {extra.tolist()}")
    at = xr.DataArray(np.unique(np.concatenate([budgets, extra])), dims="compute")
    log10_n = post["m"] + post["a"] * (np.log10(at) - model.l0)
    params = 10**log10_n
    tokens = at / (k * params)
    out = xr.Dataset({"a": post["a"], "b": 1 - post["a"], "log10_n_star": post["log10_n_star"],
                      "curvature": post["curvature"], "scatter": post["s"],
                      "params": params, "tokens": tokens, "ratio": tokens / params}).assign_coords(compute=at)
    problems = diagnose(idata, ["m", "a", "s", "log_c", "s_c", "sigma"]).problems
    out.attrs.update(diagnostics=list(problems), n_runs=len(table), compute_factor=float(k),
                     budgets_dropped=sorted(set(budgets_of((runs.table if isinstance(runs, Runs) else runs), tolerance))
                                            - set(budgets.tolist())))
    return out


#: The law and Approach 2 disagree where one's N* exceeds the other's with at least this probability.
DISAGREE = 0.95


def check_frontier(fit, iso: xr.Dataset, prob: float = 0.9) -> pd.DataFrame:
    """The law's compute-optimal N* and D*/N* beside Approach 2's, at every compute of ``iso``.

    ``p_law_larger`` is P(N*_law > N*_isoflop) over independent draws of the two posteriors; a row
    ``disagrees`` when it is above :data:`DISAGREE` or below 1 − DISAGREE. A fit with groups is refused.
    """
    from ..errors import QueryError

    if any(d not in ("chain", "draw") for da in fit.sampled().values() for d in da.dims):
        raise QueryError("isoflop --check compares one frontier: fit the runs without groups")
    compute = iso["compute"].values
    law = fit.optimal(compute)
    lo, hi = (1 - prob) / 2, (1 + prob) / 2
    rows = []
    for c in compute:
        a = np.log10(law["params"].sel(compute=c).values.ravel())
        b = np.log10(iso["params"].sel(compute=c).values.ravel())
        n = min(a.size, b.size)
        p_larger = float(np.mean(a[:n] > np.random.default_rng(0).permutation(b)[:n]))
        ra = law["ratio"].sel(compute=c).values.ravel()
        rb = iso["ratio"].sel(compute=c).values.ravel()
        rows.append({"compute": float(c),
                     "law_params": 10 ** np.median(a), "law_params_lower": 10 ** np.quantile(a, lo),
                     "law_params_upper": 10 ** np.quantile(a, hi),
                     "isoflop_params": 10 ** np.median(b), "isoflop_params_lower": 10 ** np.quantile(b, lo),
                     "isoflop_params_upper": 10 ** np.quantile(b, hi),
                     "law_ratio": float(np.median(ra)), "isoflop_ratio": float(np.median(rb)),
                     "p_law_larger": p_larger, "disagrees": bool(p_larger > DISAGREE or p_larger < 1 - DISAGREE)})
    table = pd.DataFrame(rows)
    table.attrs["reach"] = law.attrs["reach"]
    table.attrs["warnings"] = list(law.attrs["warnings"])
    return table
