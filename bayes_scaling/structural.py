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
prediction is reproducible to the last digit. The added error is combined with the noise scale in
quadrature (for Student-t noise this widens the t's scale, an approximation of the convolution).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .errors import SpecError
from .resources import resource_dir

KINDS = ("none", "extrapolation")
KEYS = ("kind", "scale", "spread", "power", "distance", "family", "family_scale", "source")
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
PRIOR_FILE = "learned/structural_error.toml"


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
    """

    kind: str = "none"
    scale: float = 0.0
    spread: float = 0.0
    power: float = 1.0
    distance: str = "decades"
    family: str = ""
    family_scale: float = FAMILY_SCALE
    source: str = "spec"

    @property
    def active(self) -> bool:
        """True where predictions beyond the data get the extrapolation error."""
        return self.kind != "none" and self.scale > 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def distance_to(self, train: pd.DataFrame, points: pd.DataFrame, inputs: tuple[str, ...],
                    per_task: bool) -> np.ndarray:
        """The distance d of each point beyond the training runs, measured as this model measures it."""
        return decades_beyond(train, points, inputs, per_task, relative=self.distance == "relative")


def learned_prior() -> dict[str, Any]:
    """The prior learned across studies (``models/learned/structural_error.toml``): scale, power, provenance."""
    path = resource_dir("models") / PRIOR_FILE
    if not path.is_file():
        raise SpecError(f"the learned structural-error prior {path} is missing; regenerate it with "
                        "'python benchmarks/calibration_real.py score'")
    with path.open("rb") as fh:
        return tomllib.load(fh)


def _positive(value: Any, key: str, spec_name: str, zero: bool = False) -> float:
    bad = isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value)
    if bad or value < 0 or (value == 0 and not zero):
        need = "a number >= 0" if zero else "a positive number"
        raise SpecError(f"spec '{spec_name}': [discrepancy] {key} must be {need} or '{LEARNED}', got {value!r}")
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
    if kind == "none":
        return StructuralError(family=family, family_scale=family_scale)
    values, learned = {}, None
    distance = block.get("distance", LEARNED)
    if distance == LEARNED:
        distance = str(learned_prior().get("distance", "decades"))
    if distance not in DISTANCES:
        raise SpecError(f"spec '{spec_name}': unknown [discrepancy] distance {distance!r}; choose one of "
                        f"{', '.join(DISTANCES)} or '{LEARNED}'")
    for key in ("scale", "spread", "power"):
        value = block.get(key, LEARNED)
        if value == LEARNED:
            learned = learned or learned_prior()
            values[key] = float(learned[key])
        else:
            values[key] = _positive(value, key, spec_name, zero=key == "spread")
    source = str(block.get("source", "spec")) if learned is None else \
        f"learned: models/{PRIOR_FILE} ({learned.get('studies_count', '?')} studies)"
    return StructuralError(kind, values["scale"], values["spread"], values["power"], distance, family, family_scale,
                           source)


def override(error: StructuralError, value: str | float | None) -> StructuralError:
    """The structural error with a user's override: ``"none"``, ``"learned"`` or a scale (float)."""
    if value is None:
        return error
    if value == "none":
        return StructuralError(family=error.family, family_scale=error.family_scale)
    if value == LEARNED:
        return parse({"kind": "extrapolation"}, "override")
    try:
        scale = float(value)
    except (TypeError, ValueError):
        raise SpecError(f"the structural error is 'none', 'learned' or a positive scale, got {value!r}") from None
    base = error if error.kind != "none" else parse({"kind": "extrapolation"}, "override")
    return StructuralError("extrapolation", _positive(scale, "scale", "override"), base.spread, base.power,
                           base.distance, error.family, error.family_scale, "override")


def decades_beyond(train: pd.DataFrame, points: pd.DataFrame, inputs: tuple[str, ...], per_task: bool,
                   relative: bool = False) -> np.ndarray:
    """Decades each point lies beyond the training runs: the largest over the law's inputs (and compute,
    for laws in N and D) of the distance in log10 outside [min, max] of the training values.

    ``train`` and ``points`` are tables with those columns (``Runs.table``). With ``per_task`` the range
    is that of the point's own task where ``points`` has a ``task`` column and the task has training
    runs (a learning curve is extrapolated from its own points), else of all training runs. With
    ``relative`` each axis's distance is divided by the span of the range (at least :data:`MIN_SPAN`).
    """
    axes = list(inputs) + (["compute"] if set(inputs) == {"params", "tokens"} else [])
    out = np.zeros(len(points))
    for axis in axes:
        x = np.log10(points[axis].to_numpy(dtype=float))
        lo = np.full(len(points), np.log10(train[axis].min()))
        hi = np.full(len(points), np.log10(train[axis].max()))
        if per_task and "task" in points:
            ranges = np.log10(train.groupby("task")[axis].agg(["min", "max"]))
            known = points["task"].isin(ranges.index).to_numpy()
            lo[known] = ranges["min"].reindex(points["task"][known]).to_numpy()
            hi[known] = ranges["max"].reindex(points["task"][known]).to_numpy()
        beyond = np.maximum(x - hi, lo - x)
        out = np.maximum(out, beyond / np.maximum(hi - lo, MIN_SPAN) if relative else beyond)
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


def widen(sigma: np.ndarray, tau: np.ndarray, distance: np.ndarray, power: float) -> np.ndarray:
    """The predictive scale with the structural error: sqrt(sigma^2 + (tau · d^power)^2), shape (draws, runs)."""
    extra = tau[:, None] * np.power(np.maximum(distance, 0.0), power)[None, :]
    return np.sqrt(np.asarray(sigma, dtype=float) ** 2 + extra**2)


__all__ = ["FAMILY_COLUMNS", "KINDS", "StructuralError", "decades_beyond", "family_effect", "family_index", "family_labels", "growth_draws", "learned_prior", "override", "parse", "widen"]
