"""Checks of the runs and the spec made before sampling, which the sampler alone cannot make.

:func:`check_priors` is a prior predictive check made before sampling: it draws the law's
parameters and the noise from the spec's priors (numpy, no model compiled) and warns with a
:class:`PriorWarning` when the observed losses lie out of the prior predictive's reach, where the
posterior would be pinned to the edge of the prior and read as an answer. :func:`warn_several_groups`
warns when runs of several domains or tasks are fitted with one law.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from ..data.groups import Groups
from ..data.runs import Runs
from ..errors import DataWarning, PriorWarning
from ..model import log_inputs, model_pivots, run_pivots
from ..spec import ModelSpec, Prior, base_level, is_positive

#: Prior predictive draws of the check.
N_PRIOR_DRAWS = 4000
#: Runs the check evaluates at most (evenly spaced through the table): the share outside is an
#: estimate either way, and 4,000 draws at each of 19,595 curve points would take ~4 GB.
MAX_CHECKED_RUNS = 2000
#: Central mass of the prior predictive a run's loss should fall in.
REACH_MASS = 0.998
#: Share of runs outside that range above which the check warns.
MAX_OUTSIDE = 0.05


def draw_prior(prior: Prior, rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` draws of a :class:`Prior` with numpy (the same families as PyMC's)."""
    k = prior.kwargs
    dist = prior.dist
    if dist == "Normal":
        return rng.normal(k.get("mu", 0.0), k.get("sigma", 1.0), size)
    if dist == "HalfNormal":
        return np.abs(rng.normal(0.0, k.get("sigma", 1.0), size))
    if dist == "LogNormal":
        return rng.lognormal(k.get("mu", 0.0), k.get("sigma", 1.0), size)
    if dist == "Gamma":
        return rng.gamma(k["alpha"], 1.0 / k["beta"], size)
    if dist == "Exponential":
        return rng.exponential(1.0 / k["lam"], size)
    if dist == "Uniform":
        return rng.uniform(k.get("lower", 0.0), k.get("upper", 1.0), size)
    if dist == "HalfStudentT":
        return np.abs(rng.standard_t(k["nu"], size)) * k.get("sigma", 1.0)
    # Only TruncatedNormal needs scipy.stats, which costs a second to import.
    from scipy import stats

    mu, sd = k.get("mu", 0.0), k.get("sigma", 1.0)
    a = (k.get("lower", -np.inf) - mu) / sd
    b = (k.get("upper", np.inf) - mu) / sd
    return stats.truncnorm.rvs(a, b, loc=mu, scale=sd, size=size, random_state=rng)


def _parameter_draws(spec: ModelSpec, rng: np.random.Generator, size: int) -> dict[str, np.ndarray]:
    """One group's value of every sampled parameter per draw, scatter of a hierarchy included."""
    out = {}
    for name in spec.law_obj.sampled:
        prior, pooling = spec.priors[name], spec.pooling[name]
        value = draw_prior(prior, rng, size)
        if pooling != "shared" and not pooling.endswith("_separate"):
            scatter = draw_prior(spec.scales[name], rng, size) * rng.standard_normal(size)
            if base_level(pooling) == "task":
                scatter = scatter + draw_prior(spec.scales[name], rng, size) * rng.standard_normal(size)
            value = value * np.exp(scatter) if is_positive(prior) else value + scatter
        out[name] = value[:, None]
    return out


FEW_GROUPS = 3
"""Up to this many groups the warning of :func:`warn_several_groups` suggests a separate level per group."""


def warn_several_groups(runs: Runs, spec: ModelSpec) -> str | None:
    """Warn when the runs hold several domains or tasks and the spec fits one law to all of them (every
    parameter and the noise shared); returns the warning text (or None).

    Runs of two corpora, datasets or ladders under one law are legal, but their differences then
    read as noise and the law's parameters as a compromise: Muennighoff et al.'s C4 and OSCAR runs
    under one data-constrained law show a noise sd of 0.10 on log loss; with E by corpus, under 0.005.
    With two or three groups, partial pooling has a between-group scale the runs cannot inform (the
    datablations fit with E pooled by corpus stopped at R-hat 1.38), so the suggestion is a separate
    level per group (``domain_separate``); with more, a hierarchical spec.
    """
    if any(level != "shared" for level in (*spec.pooling.values(), spec.noise_pooling)):
        return None
    for label in ("domain", "task"):
        groups = sorted(runs.table[label].astype(str).unique())
        if len(groups) > 1:
            shown = ", ".join(groups[:4]) + (", ..." if len(groups) > 4 else "")
            way = (f"E={label}_separate (a level per {label}; with so few {label}s a between-{label} scale is "
                   "not learnable)" if len(groups) <= FEW_GROUPS else
                   f"{label} (a hierarchical spec such as chinchilla_domain)")
            text = (f"the runs hold {len(groups)} {label}s ({shown}) and spec '{spec.name}' fits one law to all of "
                    f"them; if they differ (corpora, datasets, ladders), pool parameters by {label} with "
                    f"pool=/--pool, e.g. {way}, or fit each {label} alone")
            warnings.warn(text, DataWarning, stacklevel=3)
            return text
    return None


def warn_constant_inputs(runs: Runs, spec: ModelSpec) -> str | None:
    """Warn when an input of the law takes one value in every run: the terms in it are then not
    identified by the runs (their exponent and level trade against E), and the posterior of those
    parameters is their prior. Returns the warning text (or None)."""
    law = spec.law_obj
    constant = [name for name in law.inputs if name in runs.table and name not in law.follows
                and name not in runs.filled and runs.table[name].nunique() == 1]
    if not constant:
        return None
    shown = ", ".join(f"'{name}' ({runs.table[name].iloc[0]:.4g})" for name in constant)
    text = (f"{shown} takes one value in every run, so the runs cannot separate the law's terms in it from E: "
            f"those parameters of spec '{spec.name}' are their priors; fit runs that vary {' and '.join(constant)}")
    warnings.warn(text, DataWarning, stacklevel=3)
    return text


def warn_no_repeats(runs: Runs, spec: ModelSpec) -> str | None:
    """Warn when a law with a term for repeated data is fitted to runs that repeat none (every run's
    tokens at most its unique tokens): its decay constants are then its priors, and so is every answer
    about epochs. Returns the warning text (or None)."""
    if "unique_tokens" not in spec.law_obj.inputs or "unique_tokens" not in runs.table:
        return None
    table = runs.table
    if (table["tokens"] > table["unique_tokens"] * (1 + 1e-9)).any():
        return None
    text = (f"no run repeats its data (tokens at most unique_tokens in every run), so the runs say nothing about "
            f"how repeated data decays: spec '{spec.name}''s R_D* and R_N* are their priors, and so is every answer "
            "about epochs; fit runs trained for more than one epoch")
    warnings.warn(text, DataWarning, stacklevel=3)
    return text


def check_priors(runs: Runs, spec: ModelSpec, seed: int = 0) -> str | None:
    """Warn when the priors put the observed losses out of reach; returns the warning text (or None).

    A run is out of reach when its log loss lies outside the central :data:`REACH_MASS` of the prior
    predictive at its inputs; the check warns when more than :data:`MAX_OUTSIDE` of the runs are
    (of at most :data:`MAX_CHECKED_RUNS` runs spread through the table).
    """
    law = spec.law_obj
    rng = np.random.default_rng(seed)
    p = _parameter_draws(spec, rng, N_PRIOR_DRAWS)
    pivots = model_pivots(runs, spec)
    at_run = run_pivots(pivots, Groups.from_runs(runs))
    keep = np.unique(np.linspace(0, len(runs) - 1, min(len(runs), MAX_CHECKED_RUNS)).astype(int))
    x = {k: (v - at_run[k])[keep] for k, v in log_inputs(runs, law).items()}
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            mu = np.asarray(law.log_mean(np, x, p), dtype=float)
        except Exception:  # noqa: BLE001 -- a law without a closed numpy form is not checked
            return None
        sigma = draw_prior(spec.priors["sigma"], rng, N_PRIOR_DRAWS)[:, None]
        if spec.likelihood == "student_t":
            noise = rng.standard_t(draw_prior(spec.priors["nu"], rng, N_PRIOR_DRAWS)[:, None], mu.shape)
        else:
            noise = rng.standard_normal(mu.shape)
        predicted = mu + sigma * noise
    tail = (1.0 - REACH_MASS) / 2
    observed = np.log(runs.column("loss"))[keep]
    # A run is out of reach when fewer than `tail` of the draws (NaN ignored) lie on one side of its
    # loss: the central interval's test by counting, without sorting 4,000 draws per run.
    drawn = (~np.isnan(predicted)).sum(axis=0)
    below = (predicted < observed).sum(axis=0)
    above = (predicted > observed).sum(axis=0)
    outside = (drawn == 0) | (above < tail * drawn) | (below < tail * drawn)
    if outside.mean() <= MAX_OUTSIDE:
        return None
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lower = np.nanquantile(predicted, tail, axis=0)
        upper = np.nanquantile(predicted, 1.0 - tail, axis=0)
    text = (f"the priors put the observed losses out of reach: {int(outside.sum())} of {len(keep)} runs checked lie outside "
            f"the central {REACH_MASS:.1%} of the prior predictive (observed loss {np.exp(observed.min()):.4g} to "
            f"{np.exp(observed.max()):.4g}; prior predictive {np.exp(np.nanmin(lower)):.4g} to "
            f"{np.exp(np.nanmax(upper)):.4g})")
    culprit = _culprit(spec, p, pivots, observed)
    text += f"; {culprit}" if culprit else "; widen or move the priors"
    warnings.warn(text, PriorWarning, stacklevel=3)
    return text


def _culprit(spec: ModelSpec, p: dict[str, np.ndarray], pivots: dict, observed: np.ndarray) -> str:
    """Name the irreducible loss E when its prior alone lies above every observed loss."""
    flat = {k: float(np.mean(v.values)) if isinstance(v, xr.DataArray) else v for k, v in pivots.items()}
    with np.errstate(all="ignore"):
        natural = spec.law_obj.natural({k: v[:, 0] for k, v in p.items()}, flat)
    if "E" in natural and np.nanquantile(natural["E"], 0.001) > np.exp(observed.max()):
        prior = next((f"{n} ~ {spec.priors[n]}" for n in ("log_e", "log_l0") if n in spec.priors), "")
        return (f"the prior of E ({prior}) puts the irreducible loss above every observed loss "
                f"(E > {np.nanquantile(natural['E'], 0.001):.4g} with 99.9% prior probability)")
    return ""
