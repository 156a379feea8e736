"""The law's structural error beyond the data: what a prediction must add where the law is extrapolated.

A scaling law is a summary. Inside the fitted runs its misfit is absorbed by the noise; beyond them
it is systematic, and the posterior of the law's parameters does not contain it. The structural
error model adds to the predictive distribution of log loss at a point x

    delta(x) ~ Normal(0, tau · d(x)^power),   tau ~ LogNormal(log scale, spread),

where d(x) is the distance beyond the fitted runs (:func:`decades_beyond`), in decades or in spans
of the fitted range (``distance``): zero inside the data, so the runs say nothing about tau and its
prior is all there is (Brynjarsdóttir & O'Hagan 2014: a discrepancy learned from the same data is
confounded with the law). ``scale``, ``power``, ``distance`` (and ``spread``: 0 fixes tau at
``scale``; a larger spread mixes scales, which gives heavier tails) are therefore learned out of
sample, across real studies, by
:mod:`bayes_scaling.validation.structural`, and shipped as data in ``models/learned/structural_error.toml``
with their provenance. A spec declares the model in a ``[discrepancy]`` block::

    [discrepancy]
    kind = "extrapolation"   # or "none"
    scale = "learned"        # or the median of tau: sd on log loss at distance d = 1
    spread = "learned"       # or the log-scale sd of tau's prior (0: tau is fixed at scale)
    power = "learned"        # or the growth exponent of the sd with distance
    distance = "learned"     # or "decades", or "relative" (in spans of the fitted range)

Draws of tau are deterministic: stratified quantiles of the prior, permuted by the fit's seed, so a
prediction is reproducible to the last digit. The added error is summed with the run's noise: a predictive draw
is mu + sigma·eps + tau·d^power·z, and densities and CDFs use the exact convolution through the
Student-t's scale mixture of normals (:func:`convolved`).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .data.reach import distance_axes, log_distance
from .errors import SpecError
from .resources import resource_dir

KINDS = ("none", "extrapolation")
KEYS = ("kind", "scale", "spread", "power", "distance", "family", "family_scale", "prior", "source")
#: The values a learned prior file sets.
LEARNED_KEYS = ("scale", "spread", "power", "distance")
#: How the distance beyond the data is measured: in decades, or in multiples of the data's own span.
DISTANCES = ("decades", "relative")
#: Smallest span (decades) a relative distance divides by: an input the runs hardly vary.
MIN_SPAN = 0.1
#: Columns of the runs whose equal values may form a family of runs that share their errors.
FAMILY_COLUMNS = ("params", "tokens", "compute", "domain", "task")
#: Default HalfNormal scale of the family sd (on log loss).
FAMILY_SCALE = 0.05
LEARNED = "learned"
#: Distances below this many decades are the edge of the data (round-off of C = k·N·D), not beyond it.
EDGE_DECADES = 1e-9
#: The learned prior a spec uses unless its block names another (``prior = "<name>"``: models/learned/<name>.toml).
DEFAULT_PRIOR = "structural_error"
PRIOR_FILE = f"learned/{DEFAULT_PRIOR}.toml"


@dataclass(frozen=True)
class StructuralError:
    """The structural-error model of a spec (see the module docstring).

    Attributes
    ----------
    kind : {"none", "extrapolation"}
    scale : float
        Median of tau, the sd of the error on log loss at distance d = 1.
    spread : float
        Log-scale sd of tau's LogNormal prior; 0 fixes tau at ``scale``.
    power : float
        Growth exponent: the sd is tau · d^power at distance d beyond the data.
    distance : {"decades", "relative"}
        d in decades beyond the fitted range, or in multiples of that range's span (half a decade
        beyond runs spanning four decades is d = 0.125): a law fitted over a wide range is held to
        its extrapolation more tightly than one fitted over a narrow range.
    family : str
        A column of the runs (``params``: the runs of one model size; ``task``: the points of one
        curve) whose runs share a random offset on log loss, ``family_sd · z_f`` with
        ``family_sd ~ HalfNormal(family_scale)``: correlated residuals are then not counted as
        independent facts. Empty: no family effect.
    family_scale : float
    source : str
        Where ``scale`` and ``power`` come from: ``"spec"`` or the learned prior file and its provenance.
    prior : str
        The learned prior ``"learned"`` values are read from (``models/learned/<prior>.toml``).
    record : str
        Where every value is the learned prior's: how often its predictive intervals held the held-out
        runs of the studies it was learned from, each study scored with the prior learned from the
        others. Empty for a scale, spread, power or distance of one's own.
    """

    kind: str = "none"
    scale: float = 0.0
    spread: float = 0.0
    power: float = 1.0
    distance: str = "decades"
    family: str = ""
    family_scale: float = FAMILY_SCALE
    source: str = "spec"
    prior: str = DEFAULT_PRIOR
    record: str = ""

    @property
    def active(self) -> bool:
        """True where predictions beyond the data get the extrapolation error."""
        return self.kind != "none" and self.scale > 0

    def to_dict(self) -> dict[str, Any]:
        """The spec block as saved with a fit; ``record`` is not saved: it is read again from the learned
        file, for values that are still its own."""
        out = asdict(self)
        del out["record"]
        return out

    def distance_to(self, train: pd.DataFrame, points: pd.DataFrame, inputs: tuple[str, ...],
                    per_task: bool) -> np.ndarray:
        """The distance d of each point beyond the training runs, measured as this model measures it."""
        return decades_beyond(train, points, inputs, per_task, relative=self.distance == "relative")


def held_out_record(learned: Mapping[str, Any]) -> str:
    """The track record a learned prior file states (``held_out_coverage_90``), as one phrase; empty if none."""
    cover = learned.get("held_out_coverage_90")
    if not isinstance(cover, Mapping) or not {"min", "median", "max"} <= set(cover):
        return ""
    return (f"its 90% intervals held {cover['min']:.0%} to {cover['max']:.0%} (median {cover['median']:.0%}) of "
            "each study's held-out runs, each study scored with the prior learned from the others")


def learned_prior(name: str = DEFAULT_PRIOR) -> dict[str, Any]:
    """A prior learned across studies (``models/learned/<name>.toml``): scale, spread, power, distance and
    provenance. ``structural_error`` is learned on final losses; ``structural_error_curves`` on the
    continuation of runs from their first checkpoints."""
    path = resource_dir("models") / "learned" / f"{name}.toml"
    if not path.is_file():
        raise SpecError(f"the learned structural-error prior {path} is missing; regenerate it with "
                        "'python benchmarks/calibration_real.py score'")
    with path.open("rb") as fh:
        return tomllib.load(fh)


#: Largest structural-error scale (sd on log loss at distance 1) accepted: e^10 is a factor of 22,000.
MAX_SCALE = 10.0


def _positive(value: Any, key: str, spec_name: str, zero: bool = False) -> float:
    bad = isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value)
    if bad or value < 0 or (value == 0 and not zero):
        need = "a number >= 0" if zero else "a positive number"
        raise SpecError(f"spec '{spec_name}': [discrepancy] {key} must be {need} or '{LEARNED}', got {value!r}")
    if key == "scale" and value >= MAX_SCALE:
        raise SpecError(f"spec '{spec_name}': [discrepancy] scale is an sd on log loss; {value:g} would put predictions "
                        f"beyond any finite loss (give a scale below {MAX_SCALE:g}, e.g. 0.03)")
    return float(value)


def parse(block: Mapping[str, Any] | None, spec_name: str) -> StructuralError:
    """The ``[discrepancy]`` block of a spec; absent means the learned extrapolation error (none where
    the learned prior file is not shipped, as while its own command regenerates it).

    Raises
    ------
    SpecError
        An unknown key or kind, or a scale or power that is not a positive number or ``"learned"``.
    """
    if block is None:
        if not (resource_dir("models") / PRIOR_FILE).is_file():
            return StructuralError(source=f"none: models/{PRIOR_FILE} is not there to learn from")
        block = {"kind": "extrapolation"}
    block = dict(block)
    unknown = sorted(set(block) - set(KEYS))
    if unknown:
        raise SpecError(f"spec '{spec_name}': unknown [discrepancy] key(s) {unknown}; known: {', '.join(KEYS)}")
    kind = block.get("kind", "extrapolation")
    if kind not in KINDS:
        raise SpecError(f"spec '{spec_name}': unknown [discrepancy] kind {kind!r}; choose one of {', '.join(KINDS)}")
    family = str(block.get("family", ""))
    if family and family not in FAMILY_COLUMNS:
        raise SpecError(f"spec '{spec_name}': [discrepancy] family {family!r} is not a column of the runs; "
                        f"choose one of {', '.join(FAMILY_COLUMNS)}")
    family_scale = _positive(block.get("family_scale", FAMILY_SCALE), "family_scale", spec_name)
    prior = block.get("prior", DEFAULT_PRIOR)
    if not isinstance(prior, str) or not (resource_dir("models") / "learned" / f"{prior}.toml").is_file():
        known = sorted(p.stem for p in (resource_dir("models") / "learned").glob("*.toml"))
        raise SpecError(f"spec '{spec_name}': [discrepancy] prior {prior!r} is not a learned prior; choose one of "
                        f"{', '.join(known)}")
    if kind == "none":
        return StructuralError(family=family, family_scale=family_scale, prior=prior)
    values, learned = {}, None
    distance = block.get("distance", LEARNED)
    if distance == LEARNED:
        distance = str(learned_prior(prior).get("distance", "decades"))
    if distance not in DISTANCES:
        raise SpecError(f"spec '{spec_name}': unknown [discrepancy] distance {distance!r}; choose one of "
                        f"{', '.join(DISTANCES)} or '{LEARNED}'")
    for key in ("scale", "spread", "power"):
        value = block.get(key, LEARNED)
        if value == LEARNED:
            learned = learned or learned_prior(prior)
            values[key] = float(learned[key])
        else:
            values[key] = _positive(value, key, spec_name, zero=key == "spread")
    source, record = _provenance(block, prior, {**values, "distance": distance})
    return StructuralError(kind, values["scale"], values["spread"], values["power"], distance, family, family_scale,
                           source, prior, record)


def _provenance(block: Mapping[str, Any], prior: str, values: Mapping[str, Any]) -> tuple[str, str]:
    """The source and held-out record of the values parsed from ``block``: the learned file's record only
    where every value is that file's (learned now, or saved from it and unchanged)."""
    path = f"models/learned/{prior}.toml"
    taken = [key for key in LEARNED_KEYS if block.get(key, LEARNED) == LEARNED]
    if not taken:
        source = str(block.get("source", "spec"))
        learned = learned_prior(prior) if source.startswith("learned") else {}
        same = bool(learned) and all(learned.get(k, "decades" if k == "distance" else None) == values[k]
                                     for k in LEARNED_KEYS)
        return source, held_out_record(learned) if same else ""
    learned = learned_prior(prior)
    if len(taken) < len(LEARNED_KEYS):
        return f"{block.get('source', 'spec')}, with {', '.join(taken)} learned from {path}", ""
    return f"learned: {path} ({learned.get('studies_count', '?')} studies)", held_out_record(learned)


def override(error: StructuralError, value: str | float | None) -> StructuralError:
    """The structural error with a user's override: ``"none"``, ``"learned"`` or a scale (float)."""
    if value is None:
        return error
    if value == "none":
        return StructuralError(family=error.family, family_scale=error.family_scale, prior=error.prior)
    learned = {"kind": "extrapolation", "prior": error.prior}
    if isinstance(value, bool):
        raise SpecError(f"the structural error is 'none', 'learned' or a positive scale, got {value!r}")
    if value == LEARNED:
        return parse(learned, "override")
    try:
        scale = float(value)
    except (TypeError, ValueError):
        scale = math.nan
    if not (math.isfinite(scale) and 0 < scale < MAX_SCALE):
        raise SpecError(f"the structural error is 'none', 'learned' or a positive scale, got {value!r} (the scale "
                        f"is an sd on log loss, below {MAX_SCALE:g}: e.g. 0.03)")
    base = error if error.kind != "none" else parse(learned, "override")
    return StructuralError("extrapolation", scale, base.spread, base.power,
                           base.distance, error.family, error.family_scale, "override", error.prior)


def decades_beyond(train: pd.DataFrame, points: pd.DataFrame, inputs: tuple[str, ...], per_task: bool,
                   relative: bool = False) -> np.ndarray:
    """Decades each point lies beyond the training runs: the largest over the law's inputs (and compute,
    for laws whose inputs include N and D) of the distance in log10 outside [min, max] of the training
    values.

    ``train`` and ``points`` are tables with those columns (``Runs.table``). With ``per_task`` the range
    is that of the point's own task where ``points`` has a ``task`` column and the task has training
    runs (a learning curve is extrapolated from its own points), else of all training runs. With
    ``relative`` each axis's distance is divided by the span of the range (at least :data:`MIN_SPAN`).
    """
    axes = distance_axes(inputs)
    out = np.zeros(len(points))
    for axis in axes:
        x = np.log10((np.minimum(points[axis], points["tokens"]) if axis == "unique_tokens" and "tokens" in points
                      else points[axis]).to_numpy(dtype=float))  # a run uses at most the tokens it trains on
        lo = np.full(len(points), np.log10(train[axis].min()))
        hi = np.full(len(points), np.log10(train[axis].max()))
        if per_task and "task" in points:
            ranges = np.log10(train.groupby("task")[axis].agg(["min", "max"]))
            known = points["task"].isin(ranges.index).to_numpy()
            lo[known] = ranges["min"].reindex(points["task"][known]).to_numpy()
            hi[known] = ranges["max"].reindex(points["task"][known]).to_numpy()
        out = np.maximum(out, log_distance(x, lo, hi, MIN_SPAN if relative else None))
    return np.where(out > EDGE_DECADES, out, 0.0)


def family_labels(values: pd.Series) -> np.ndarray:
    """The distinct family values of the training runs, sorted (numbers as floats, labels as str)."""
    if pd.api.types.is_numeric_dtype(values):
        return np.unique(values.to_numpy(dtype=float))
    return np.unique(values.astype(str).to_numpy())


def family_index(labels: np.ndarray, values: pd.Series) -> np.ndarray:
    """Position of each value among the training families, -1 for a family the training runs lack
    (numbers match within a relative 1e-9)."""
    if labels.dtype.kind == "f":
        x = values.to_numpy(dtype=float)
        pos = np.clip(np.searchsorted(labels, x), 0, len(labels) - 1)
        near = np.where(np.abs(labels[pos - 1] - x) < np.abs(labels[pos] - x), pos - 1, pos)
        return np.where(np.isclose(labels[near], x, rtol=1e-9, atol=0.0), near, -1)
    lookup = {label: i for i, label in enumerate(labels)}
    return np.array([lookup.get(v, -1) for v in values.astype(str)], dtype=int)


def family_effect(error: StructuralError, train: pd.DataFrame, posterior: xr.Dataset, table: pd.DataFrame,
                  dim: str) -> tuple[xr.DataArray, xr.DataArray] | None:
    """The family effect at new runs or points (rows of ``table``, along ``dim``): the posterior offset
    of a family the training runs hold, or (a new family) the variance ``family_sd^2`` to add to the
    noise. None without a family effect, or where ``table`` lacks the family column."""
    if not error.family or "family_sd" not in posterior or error.family not in table:
        return None
    index = family_index(family_labels(train[error.family]), table[error.family])
    known = xr.DataArray(index >= 0, dims=dim)
    z = posterior["family_z"].isel(family=xr.DataArray(np.maximum(index, 0), dims=dim))
    offset = xr.where(known, posterior["family_sd"] * z.drop_vars("family", errors="ignore"), 0.0)
    return offset, xr.where(known, 0.0, posterior["family_sd"] ** 2)


def growth_draws(scale: float, spread: float, n: int, seed: int) -> np.ndarray:
    """``n`` draws of tau ~ LogNormal(log scale, spread): stratified quantiles, permuted by ``seed``."""
    if spread == 0:
        return np.full(n, float(scale))
    z = np.array([NormalDist().inv_cdf((i + 0.5) / n) for i in range(n)])
    return np.random.default_rng(seed).permutation(scale * np.exp(spread * z))


def extra_sd(tau: np.ndarray, distance: np.ndarray, power: float) -> np.ndarray:
    """The structural error's sd tau · d^power, shape (draws, runs); exactly 0 inside the data (d = 0)."""
    d = np.maximum(np.asarray(distance, dtype=float), 0.0)
    return np.where(d[None, :] > 0, tau[:, None] * np.power(d, power)[None, :], 0.0)


def structural_extra(fit: Any, table: pd.DataFrame, dim: str, tasks: Any = None) -> xr.DataArray | None:
    """The structural error's sd at the rows of ``table`` (along ``dim``), dims ``(chain, draw, dim)``: tau
    drawn per posterior draw (seeded by the fit), times d^power, d the distance beyond the fitted runs.
    With ``tasks`` (a fit whose tasks have their own range, answering for each of them) d is measured
    from each task's own runs, dims ``(chain, draw, dim, task)``. None where the spec has no structural error."""
    error = fit.spec.discrepancy
    if not error.active:
        return None
    shape = (fit.posterior.sizes["chain"], fit.posterior.sizes["draw"])
    tau = growth_draws(error.scale, error.spread, shape[0] * shape[1], fit.settings.seed)
    if tasks is None:
        d = error.distance_to(fit.runs.table, table, fit.law.distance_inputs, fit.per_task)
        return xr.DataArray(extra_sd(tau, d, error.power).reshape(shape + (len(table),)), dims=("chain", "draw", dim))
    rows, tasks = _per_task(table, tasks)
    d = error.distance_to(fit.runs.table, rows, fit.law.distance_inputs, True)
    return xr.DataArray(extra_sd(tau, d, error.power).reshape(shape + (len(table), len(tasks))),
                        dims=("chain", "draw", dim, "task"), coords={"task": tasks})


def beyond_coord(fit: Any, table: pd.DataFrame, tasks: Any = None) -> tuple:
    """The ``beyond`` coordinate of predictions at ``table``: decades beyond the fitted runs per point, or,
    with ``tasks`` (as :func:`structural_extra`), beyond each task's own runs, dims ``(point, task)``."""
    if tasks is None:
        return ("point", decades_beyond(fit.runs.table, table, fit.law.distance_inputs, per_task=False))
    rows, tasks = _per_task(table, tasks)
    d = decades_beyond(fit.runs.table, rows, fit.law.distance_inputs, per_task=True)
    return (("point", "task"), d.reshape(len(table), len(tasks)))


def _per_task(table: pd.DataFrame, tasks: Any) -> tuple[pd.DataFrame, list[str]]:
    """Every row of ``table`` once per task (rows in order, tasks fastest), with a ``task`` column."""
    tasks = [str(t) for t in tasks]
    return table.loc[table.index.repeat(len(tasks))].reset_index(drop=True).assign(task=tasks * len(table)), tasks


def mixing_scales(nu: np.ndarray, seed: int) -> np.ndarray:
    """One draw per posterior draw of lam ~ InvGamma(nu/2, nu/2), the mixing variable of Student-t noise
    (sigma·t_nu = sigma·sqrt(lam)·z): stratified quantiles, permuted by ``seed``."""
    from scipy import special

    nu = np.ravel(np.asarray(nu, dtype=float))
    u = np.random.default_rng([seed, 1]).permutation((np.arange(nu.size) + 0.5) / nu.size)
    return (nu / 2) / special.gammaincinv(nu / 2, 1 - u)


def convolved(sigma: np.ndarray, nu: np.ndarray | None, extra: np.ndarray,
              seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The predictive noise of runs with a structural error: noise (sigma, Student-t nu or normal) plus
    Normal(0, extra), as a (scale, nu) pair for densities and CDFs, each of shape (draws, runs).

    Normal noise adds in quadrature. Student-t noise is a scale mixture of normals, so with one mixing
    draw lam per posterior draw (:func:`mixing_scales`) the sum is Normal(0, sigma²·lam + extra²) there,
    and averaged over the draws the predictive is the convolution of the two: its centre is as wide
    as the structural error makes it, and its tails are those of the noise, not the noise's tails
    stretched to the structural error's width (what widening the t's scale gives). The returned nu is
    infinite (normal) wherever extra > 0 and the draw's nu elsewhere, so inside the data the
    predictive is the noise's own.
    """
    extra = np.asarray(extra, dtype=float)
    sigma = np.broadcast_to(np.asarray(sigma, dtype=float), extra.shape)
    if nu is None:
        return np.sqrt(sigma**2 + extra**2), None
    nu = np.broadcast_to(np.reshape(np.asarray(nu, dtype=float), (-1, 1)), extra.shape)
    lam = mixing_scales(nu[:, 0], seed)[:, None]
    beyond = extra > 0
    return np.where(beyond, np.sqrt(sigma**2 * lam + extra**2), sigma), np.where(beyond, np.inf, nu)


__all__ = ["FAMILY_COLUMNS", "KINDS", "StructuralError", "beyond_coord", "convolved", "decades_beyond", "extra_sd", "family_effect", "family_index", "family_labels", "growth_draws", "held_out_record", "learned_prior", "mixing_scales", "override", "parse", "structural_extra"]
