"""Plots of posterior summaries, one family a module: forests, fitted curves, compute-optimal plans and loss targets.

Compute is kept apart from drawing: every function here takes the xarray or pandas objects that other
modules compute (draws with dims ``(chain, draw, ...)``), reduces them to medians and central
(equal-tailed) intervals over the sample dims, and draws on a given matplotlib ``ax``. With ``ax=None``
a new figure is made. Each function returns the Axes it drew on (or the Figure, for several panels);
nothing is shown, so the Agg backend works.

matplotlib is optional (``pip install 'bayes_scaling[plot]'``) and imported only when a plot is made,
so ``import bayes_scaling.present.plots`` works without it.
"""

from __future__ import annotations

from .base import AXIS_LABELS, shade_fitted
from .curve import scaling_curve
from .forest import forest
from .frontier import frontier
from .groups import group_curves
from .isoflop import isoflop
from .planning import plan_curve, returns_curve, target_curve
from .validation import coverage_curve, extrapolation, pit_histogram

__all__ = ["AXIS_LABELS", "coverage_curve", "extrapolation", "forest", "frontier", "group_curves", "isoflop",
           "pit_histogram", "plan_curve", "returns_curve", "scaling_curve", "shade_fitted", "target_curve"]
