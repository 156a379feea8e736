"""Backtests: fit on the smaller runs, predict the held-out larger ones, and score the predictions.

``backtest(runs, spec, holdout="compute:0.2")`` splits the runs (:func:`split_holdout`), fits the posterior
on the training part, predicts every held-out run with its own group's parameters
(:func:`predict_runs`) and scores the predictions, side by side with the published baselines fitted on
the same split: the Huber point fit and its bootstrap (Chinchilla law; Hoffmann et al., Epoch) and the
M4 estimator per curve (learning-curve laws; Alabdulmohsin et al.).

The scores (RMSLE, interval coverage read from the PIT, mean log predictive density, NSL-PFN's calibration
error) are defined in :mod:`bayes_scaling.validation.scoring`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ..data.runs import Runs, read_runs
from ..errors import DataWarning, InputError, QueryError
from ..inference import SamplerSettings
from ..result.estimator import fit as fit_runs
from ..result.fit import Fit, predictive_noise
from ..spec import ModelSpec, Prior, load_spec
from ..structural import convolved, extra_sd, growth_draws
from .baselines.huber import bootstrap, huber_fit
from .baselines.m4 import fit_m4_curves
from .predictive import (
    discrepancy_scale,
    draw_matrices,
    log_predictive,
    predict_runs,
    with_discrepancy,
)
from .scoring import (
    DEFAULT_LEVELS,
    NSLPFN_LEVELS,
    bounds,
    check_levels,
    empirical_scores,
    noisy_draw_scores,
    pct,
    pointwise_scores,
    records,
    summarise,
    tabulate,
)
from .splits import DEFAULT_HOLDOUT, check_split, split_holdout, take, warn_overlap

#: Upper bound on draws x runs evaluated at once when predicting (bounds memory on large test sets).
CHUNK_ELEMENTS = 4_000_000

#: Bootstrap resamples below which the baseline's 95% intervals rest on one or two resamples.
MIN_RESAMPLES = 100


# ------------------------------------------------------------------------------- posterior scores


def _posterior_rows(fit: Fit, test: Runs, levels: Sequence[float], seed: int, tau: float = 0.0,
                    structural: bool = False) -> pd.DataFrame:
    draws = fit.posterior.sizes["chain"] * fit.posterior.sizes["draw"]
    step = max(1, CHUNK_ELEMENTS // draws)
    rng = np.random.default_rng(seed)
    error = fit.spec.discrepancy
    growth = growth_draws(error.scale, error.spread, draws, fit.settings.seed) if structural else None
    frames = []
    for start in range(0, len(test), step):
        part = take(test, np.arange(len(test)) // step == start // step)
        m, s, v = draw_matrices(fit, part)
        s = np.broadcast_to(with_discrepancy(s, tau), m.shape)
        extra = np.zeros(m.shape) if growth is None else \
            extra_sd(growth, error.distance_to(fit.runs.table, part.table, fit.law.distance_inputs, fit.per_task), error.power)
        scores = pointwise_scores(np.log(part.column("loss")), m, *convolved(s, v, extra, fit.settings.seed))
        pred = m + s * predictive_noise(rng, m.shape, None if v is None else v.ravel())
        if growth is not None:
            pred = pred + extra * rng.standard_normal(m.shape)
        frames.append(scores.assign(**bounds(pred, levels)))
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------------------- baselines


def _group_key(spec: ModelSpec) -> str | None:
    level = spec.level()
    return None if level == "shared" else level


def _huber_rows(train: Runs, test: Runs, spec: ModelSpec, levels: Sequence[float], n_resamples: int,
                starts: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The Huber fit's point predictions; its bootstrap refits (the peers' intervals, no noise); and the
    refits with the fit's residual noise (robust sd of its training residuals), which has a density."""
    key = _group_key(spec)
    point, boot, noisy = [], [], []
    for label, te in _by_group(test, key):
        tr = train.table if key is None else train.table[train.table[key] == label]
        tr_runs = Runs(tr.reset_index(drop=True), train.compute_factor, train.source, train.filled)
        hf = huber_fit(tr_runs, starts)
        log_n, log_d = np.log(te["params"].to_numpy(float)), np.log(te["tokens"].to_numpy(float))
        log_obs = np.log(te["loss"].to_numpy(float))
        mu = _chinchilla_log(hf.E, hf.A, hf.B, hf.alpha, hf.beta, log_n, log_d)
        point.append(pd.DataFrame({"median": np.exp(mu), "pit": np.nan, "lpd": np.nan}, index=te.index))
        if n_resamples:
            b = bootstrap(tr_runs, n_resamples=n_resamples, seed=seed, fit=hf)
            cols = [b[c].to_numpy(float)[:, None] for c in ("E", "A", "B", "alpha", "beta")]
            draws = _chinchilla_log(*cols, log_n[None, :], log_d[None, :])
            boot.append(empirical_scores(log_obs, draws, levels).set_index(te.index))
            noisy.append(noisy_draw_scores(log_obs, draws, _residual_sd(tr_runs, hf), levels, seed).set_index(te.index))
    done = [pd.concat(rows).sort_index() if rows else pd.DataFrame() for rows in (boot, noisy)]
    return pd.concat(point).sort_index(), *done


def _residual_sd(runs: Runs, hf: Any) -> float:
    """Robust sd (1.4826 MAD) of the Huber fit's residuals on the training runs' log loss."""
    log_n, log_d = np.log(runs.column("params")), np.log(runs.column("tokens"))
    resid = np.log(runs.column("loss")) - _chinchilla_log(hf.E, hf.A, hf.B, hf.alpha, hf.beta, log_n, log_d)
    return max(1.4826 * float(np.median(np.abs(resid - np.median(resid)))), float(np.finfo(float).eps))


def _chinchilla_log(E: ArrayLike, A: ArrayLike, B: ArrayLike, alpha: ArrayLike, beta: ArrayLike, log_n: ArrayLike,
                    log_d: ArrayLike) -> np.ndarray:
    return np.logaddexp(np.logaddexp(np.log(E), np.log(A) - alpha * log_n), np.log(B) - beta * log_d)


def _m4_rows(train: Runs, test: Runs, options: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """M4 per curve (task), with the authors' image-classification settings (err_0 = up_bound = 1) for
    curves whose losses all lie below 1 and ``err_0 = max(y) + 1e-3``, no upper bound, otherwise."""
    rows = []
    tasks = list(dict.fromkeys(test.table["task"]))
    curves = {t: train.table[train.table["task"] == t] for t in tasks}
    short = [t for t in tasks if curves[t]["tokens"].nunique() < 3]
    if short:
        raise QueryError(f"the M4 baseline fits each curve on its own and needs 3 training points per task; "
                         f"task '{short[0]}' has {curves[short[0]]['tokens'].nunique()}")
    bounded = [t for t in tasks if curves[t]["loss"].max() < 1.0]
    free = [t for t in tasks if t not in bounded]
    fits = {}
    for group, settings in ((bounded, {"err_0": 1.0, "up_bound": 1.0}), (free, {"err_0": None, "up_bound": None})):
        if group:
            pairs = [(curves[t]["tokens"].to_numpy(float), curves[t]["loss"].to_numpy(float)) for t in group]
            fits.update(zip(group, fit_m4_curves(pairs, **{**settings, **dict(options or {})})))
    for t in tasks:
        te = test.table[test.table["task"] == t]
        rows.append(pd.DataFrame({"median": fits[t].predict(te["tokens"].to_numpy(float)), "pit": np.nan,
                                  "lpd": np.nan}, index=te.index))
    return pd.concat(rows).sort_index()


def _by_group(runs: Runs, key: str | None) -> Iterator[tuple[object, pd.DataFrame]]:
    if key is None:
        yield None, runs.table
        return
    yield from runs.table.groupby(key, sort=False)


# ------------------------------------------------------------------------------------------ result


@dataclass(frozen=True)
class Backtest:
    """Scores of a posterior (and baselines) on held-out runs.

    Attributes
    ----------
    fit : Fit
        The posterior fitted to ``train``.
    train, test : Runs
    per_run : pandas.DataFrame
        One row per method and held-out run: the run's columns, ``method``, ``median``, ``pit``,
        ``lpd``, ``lower_<p>``/``upper_<p>`` (predictive interval bounds, NaN for point fits) and
        ``log_error`` (log median - log loss).
    metrics : pandas.DataFrame
        One row per method (``posterior``, ``posterior+structural`` where the spec has a structural
        error, then ``huber``, ``bootstrap`` or ``m4``): ``method``, ``n_train``, ``n_test``,
        ``n_tasks``, ``rmsle``, ``coverage_<p>``, ``coverage_error``, ``calibration_error``,
        ``mlpd``, ``mlpd_loss``, and each of these averaged over tasks (``<name>_task_mean``).
    per_task : pandas.DataFrame
        The same scores per method and task.
    levels : tuple of float
    holdout : str
    notes : tuple of str
        Baselines skipped and why.
    discrepancy : float or None
        The out-of-sample discrepancy sd on log loss learned by the nested backtest (``discrepancy=``
        of :func:`backtest`); None when not asked for.
    """

    fit: Fit
    train: Runs
    test: Runs
    per_run: pd.DataFrame
    metrics: pd.DataFrame
    per_task: pd.DataFrame
    levels: tuple[float, ...]
    holdout: str
    notes: tuple[str, ...] = field(default=())
    discrepancy: float | None = None

    @property
    def x_column(self) -> str:
        """The axis to draw runs against: ``tokens`` for learning curves, ``compute`` otherwise."""
        return "tokens" if self.fit.law.inputs == ("tokens",) else "compute"

    def coverage_long(self) -> pd.DataFrame:
        """Nominal vs observed coverage, one row per method with intervals and level (for plots)."""
        rows = [{"label": m.method, "nominal": p, "observed": getattr(m, f"coverage_{pct(p)}")}
                for m in self.metrics.itertuples() for p in self.levels]
        return pd.DataFrame(rows).dropna()

    def to_dict(self, per_run: bool = False) -> dict:
        """JSON-able summary (metrics, per-task scores, sampler settings and diagnostics)."""
        out = {"spec": self.fit.spec.name, "law": self.fit.law.formula, "holdout": self.holdout,
               "n_train": len(self.train), "n_test": len(self.test), "levels": list(self.levels),
               "metrics": records(self.metrics), "per_task": records(self.per_task),
               "sampler": asdict(self.fit.settings), "diagnostics": self.fit.diagnostics.to_dict(),
               "notes": list(self.notes), "discrepancy": self.discrepancy}
        if per_run:
            out["per_run"] = records(self.per_run)
        return out


def _as_runs(runs: Runs | pd.DataFrame | str | Path, spec: ModelSpec) -> Runs:
    return runs if isinstance(runs, Runs) else read_runs(runs, inputs=spec.law_obj.inputs)


def backtest(
    runs: Runs | pd.DataFrame | str | Path | tuple[Runs, Runs],
    spec: ModelSpec | str | Path = "chinchilla",
    holdout: str | None = None,
    pool: Mapping[str, str] | str | None = None,
    priors: Mapping[str, Prior] | None = None,
    baselines: bool = False,
    levels: Sequence[float] = DEFAULT_LEVELS,
    sampler: SamplerSettings | None = None,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    seed: int | None = None,
    backend: str | None = None,
    n_resamples: int = 200,
    huber_starts: str = "coarse",
    m4_options: Mapping[str, Any] | None = None,
    discrepancy: bool | str = False,
    structural: str | float | None = None,
) -> Backtest:
    """Fit on part of the runs, predict the held-out rest, and score posterior and baselines.

    Parameters
    ----------
    runs : Runs, DataFrame, CSV path, or (train, test) pair of Runs
        All runs (split by ``holdout``), or a given split, e.g.
        ``(bs.datasets.load(name, split="fit"), bs.datasets.load(name, split="extrapolate"))``.
    spec : ModelSpec, spec name or TOML path
    holdout : str, optional
        See :func:`split_holdout`; default ``"compute:0.2"``. Not allowed with a (train, test) pair.
    pool, priors
        Overrides of the spec's pooling and priors, as in :func:`bayes_scaling.result.fit`.
    baselines : bool
        Also score, on the same split: for the Chinchilla and data-constrained laws the Huber fit of
        Chinchilla's law (``"huber"``, point; the standard tool, which has no term for repeated data) and
        its bootstrap (``"bootstrap"``, ``n_resamples`` resamples); for learning-curve laws (one data axis)
        the M4 estimator per curve (``"m4"``, point). One baseline fit per group where the spec varies
        by group. Other laws have no baseline (recorded in ``notes``).
    levels : sequence of float
        Nominal masses of the central predictive intervals scored.
    sampler : SamplerSettings, optional
        How the posterior is sampled (default ``SamplerSettings()``); its seed also seeds the
        predictive noise and the bootstrap.
    draws, tune, chains, seed, backend : optional
        Override single fields of ``sampler``.
    n_resamples : int
        Bootstrap resamples (0: no bootstrap row).
    huber_starts : {"coarse", "full"}
        Grid of L-BFGS starts of the Huber fit (108 or Hoffmann's 4500).
    m4_options : mapping, optional
        Options of :func:`bayes_scaling.validation.baselines.m4.fit_m4_curves` (default: the original's settings).
    discrepancy : bool or str
        Also score ``"posterior+discrepancy"``: the posterior predictive with a discrepancy sd tau on
        log loss added to the noise, tau learned by a nested backtest inside the training runs
        (:func:`bayes_scaling.validation.predictive.discrepancy_scale`; one more fit). ``True`` splits the
        training runs by the same rule as ``holdout`` (``"tokens:half"`` for a given split of learning
        curves, ``"compute:0.2"`` otherwise); a string gives the rule.
    structural : {"none", "learned"} or float, optional
        Override of the spec's structural error (:mod:`bayes_scaling.structural`). Where the spec has
        one, ``"posterior+structural"`` scores the posterior predictive with it added beside
        ``"posterior"`` (without it).

    Returns
    -------
    Backtest

    Raises
    ------
    InputError, QueryError
        Bad holdouts (see :func:`split_holdout`), bad levels.
    """
    spec = load_spec(spec).overridden(priors, pool, structural)
    levels = check_levels(levels)
    if baselines and spec.law_obj.baseline == "huber" and 0 < n_resamples < MIN_RESAMPLES:
        warnings.warn(f"{n_resamples} bootstrap resamples cannot resolve the tails of the baseline's intervals (a 95% "
                      f"interval needs the 2.5% quantile of the resamples); give {MIN_RESAMPLES} or more", DataWarning,
                      stacklevel=2)
    train, test, holdout = _split(runs, holdout, spec)
    nested = None if discrepancy is False else _nested_split(train, spec, _inner_rule(discrepancy, holdout, spec))
    sampler = (sampler or SamplerSettings()).with_options(backend=backend, draws=draws, tune=tune, chains=chains,
                                                         seed=seed)
    seed = sampler.seed
    result = fit_runs(train, spec, sampler=sampler)
    rows = {"posterior": _posterior_rows(result, test, levels, seed)}
    if spec.discrepancy.active:
        rows["posterior+structural"] = _posterior_rows(result, test, levels, seed, structural=True)
    tau = None
    if nested is not None:  # fit the training runs' smaller part, predict their larger part
        tau, _ = discrepancy_scale(fit_runs(nested[0], spec, sampler=sampler), nested[1])
        rows["posterior+discrepancy"] = _posterior_rows(result, test, levels, seed, tau)
    notes = []
    if baselines:
        law = spec.law_obj
        if law.baseline == "huber":
            rows["huber"], boot, noisy = _huber_rows(train, test, spec, levels, n_resamples, huber_starts, seed)
            if len(boot):
                rows["bootstrap"], rows["bootstrap+noise"] = boot, noisy
        elif law.baseline == "m4":
            rows["m4"] = _m4_rows(train, test, m4_options)
        else:
            notes.append(f"no baseline is implemented for the '{law.name}' law (Huber/bootstrap need the "
                         "Chinchilla law; M4 a learning curve in one data axis)")
    base = test.table.reset_index(names="run")
    frames = [base.assign(method=m, **{c: r[c].to_numpy() for c in r.columns}) for m, r in rows.items()]
    per_run = pd.concat(frames, ignore_index=True)
    per_run["log_error"] = np.log(per_run["median"]) - np.log(per_run["loss"])
    metrics, per_task = tabulate(per_run, levels, len(train))
    return Backtest(result, train, test, per_run, metrics, per_task, levels, holdout, tuple(notes), tau)


def _split(runs: Runs | pd.DataFrame | str | Path | tuple[Runs, Runs], holdout: str | None,
           spec: ModelSpec) -> tuple[Runs, Runs, str]:
    """Training runs, held-out runs and the name of the split: a given pair, or a holdout rule."""
    if isinstance(runs, tuple):
        if holdout is not None:
            raise InputError("give either a (train, test) pair of runs or a holdout rule, not both")
        if len(runs) != 2:
            raise InputError(f"a given split is a (train, test) pair of runs, got {len(runs)} items")
        train, test = (_as_runs(r, spec) for r in runs)
        check_split(train, test, spec, "the given split")
        warn_overlap(train, test)
        return train, test, "given split"
    holdout = holdout or DEFAULT_HOLDOUT
    return (*split_holdout(_as_runs(runs, spec), holdout, spec), holdout)


def _inner_rule(discrepancy: bool | str, holdout: str, spec: ModelSpec) -> str:
    if isinstance(discrepancy, str):
        return discrepancy
    if holdout != "given split":
        return holdout
    return "tokens:half" if spec.law_obj.inputs == ("tokens",) else DEFAULT_HOLDOUT


def _nested_split(train: Runs, spec: ModelSpec, rule: str) -> tuple[Runs, Runs]:
    """The split of the training runs that the discrepancy is learned on (checked before any fit)."""
    try:
        return split_holdout(train, rule, spec)
    except InputError as exc:
        raise InputError(f"the nested split for the discrepancy ('{rule}' within the training runs): {exc}") from None


__all__ = ["DEFAULT_LEVELS", "NSLPFN_LEVELS", "Backtest", "backtest", "empirical_scores", "log_predictive",
           "pointwise_scores", "predict_runs", "summarise"]
