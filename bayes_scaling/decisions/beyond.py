"""The law's structural error in decisions: the loss an allocation is planned on beyond the fitted runs.

A prediction beyond the runs adds the spec's structural error (:mod:`bayes_scaling.structural`) to
the loss of a new run. The compute optimum and a plan are answers in the same place, often further
out, so they carry it too:

- :func:`with_structural` gives a plan's draws the law's error: log L = law + tau·d^power·z, d the
  distance of the allocation (N, D = C/(kN), C, and the unique data where the law reads it) beyond
  the runs, tau and z drawn once per posterior draw. One z per draw is shared by every N the plan
  weighs, as the law is wrong in one way at a given draw, not independently at every N: a quantile
  or CVaR of L then charges for the distance an allocation reaches, and the choice between two
  allocations is not blurred by noise that no allocation can avoid. Inside the runs d = 0 and the
  plan is the law's.
- :func:`bayes_scaling.result.optimum.optimum_loss_pred` gives the loss of one run trained at each
  draw's optimum: the law's L* with the run's noise and the structural error at that optimum's
  distance, as ``predict`` gives it.

Distances are measured from all the runs (for a fit whose tasks have their own ranges, ``predict``
measures each task from its own runs; a plan of such a fit does not).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from ..data.reach import distance_axes, log_distance
from ..structural import EDGE_DECADES, MIN_SPAN, growth_draws
from .draws import SAMPLE_DIMS, Draws

if TYPE_CHECKING:
    from ..result.fit import Fit

#: The key of tau·z, the structural error of each draw at distance 1, among a plan's sampled parameters.
TZ = "structural_tz"


class StructuralLoss:
    """A law whose log loss carries the structural error ``p[TZ]·d^power`` beyond ``[lo, hi]`` (log10,
    per axis); every other attribute is the law's own."""

    def __init__(self, law: Any, lo: Mapping[str, float], hi: Mapping[str, float], power: float,
                 relative: bool, compute_factor: float) -> None:
        self._law, self.lo, self.hi, self.power = law, dict(lo), dict(hi), float(power)
        self.span = MIN_SPAN if relative else None
        self.log10_k = float(np.log10(compute_factor))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._law, name)

    def distance(self, log_inputs: Mapping[str, Any]) -> Any:
        """d at natural-log inputs: the largest distance over the axes, 0 at the edge of the runs."""
        x = {k: v / np.log(10) for k, v in log_inputs.items()}  # numpy or xarray, as given
        if "compute" in self.lo and "compute" not in x:
            x["compute"] = self.log10_k + x["params"] + x["tokens"]
        d = 0.0
        for axis, lo in self.lo.items():
            value = x[axis] if axis in x else x[self._law.follows[axis]]  # unique tokens follow tokens
            if axis == "unique_tokens":  # a run sees at most the tokens it trains on: a larger budget is unused
                value = np.minimum(value, x["tokens"])
            d = np.maximum(d, log_distance(value, lo, self.hi[axis], self.span))
        return d * (d > EDGE_DECADES)

    def log_loss(self, p: Mapping[str, Any], log_inputs: Mapping[str, Any], pivots: Mapping[str, Any],
                 xp: Any = np) -> Any:
        mean = self._law.log_loss(p, log_inputs, pivots, xp)
        if TZ not in p:
            return mean
        return mean + p[TZ] * np.power(self.distance(log_inputs), self.power)


def with_structural(fit: Fit, draws: Draws, seed: int | None = None) -> Draws:
    """``draws`` with the fit's structural error beyond its runs in every log loss they give (unchanged
    where the spec has none). tau is drawn per posterior draw as ``predict`` draws it; z is seeded by
    ``seed`` (default: the fit's), so a plan is reproducible to the last digit."""
    error = fit.spec.discrepancy
    if not error.active:
        return draws
    table = fit.runs.table
    axes = distance_axes(fit.law.distance_inputs)
    lo = {a: float(np.log10(table[a].min())) for a in axes}
    hi = {a: float(np.log10(table[a].max())) for a in axes}
    law = StructuralLoss(draws.law, lo, hi, error.power, error.distance == "relative", draws.compute_factor)
    shape = tuple(fit.posterior.sizes[d] for d in SAMPLE_DIMS)
    tau = growth_draws(error.scale, error.spread, shape[0] * shape[1], fit.settings.seed)
    z = np.random.default_rng([fit.settings.seed if seed is None else int(seed), 3]).standard_normal(tau.size)
    tz = xr.DataArray((tau * z).reshape(shape), dims=SAMPLE_DIMS)
    return replace(draws, law=law, sampled={**draws.sampled, TZ: tz})


def law_params(sampled: Mapping[str, xr.DataArray]) -> dict[str, xr.DataArray]:
    """The law's own sampled parameters, without the structural error's draws."""
    return {k: v for k, v in sampled.items() if k != TZ}


__all__ = ["TZ", "StructuralLoss", "law_params", "with_structural"]
