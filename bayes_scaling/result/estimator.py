"""``fit(runs, spec)``: the thin estimator from a table of runs to a :class:`Fit`.

It validates the runs, merges the priors and pooling overrides into the spec, checks the priors
against the data, builds the model, samples, and explains the diagnostics; nothing samples in a
constructor and nothing else is done here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import xarray as xr

from ..data.runs import Runs, read_runs
from ..errors import BackendError
from ..inference import SamplerSettings, diagnose, sample, warn_if_unconverged
from ..model import build_model, model_pivots
from ..spec import ModelSpec, Prior, load_spec
from .checks import (
    check_priors,
    warn_constant_inputs,
    warn_no_repeats,
    warn_several_groups,
)
from .diagnosis import checked_names, explain
from .fit import Fit
from .intervals import convergence_stats


def fit(
    runs: Runs | pd.DataFrame | str | Path,
    spec: ModelSpec | str | Path = "chinchilla",
    priors: Mapping[str, Prior] | None = None,
    pool: Mapping[str, str] | str | None = None,
    structural: str | float | None = None,
    sampler: SamplerSettings | None = None,
    backend: str | None = None,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    seed: int | None = None,
    target_accept: float | None = None,
    progressbar: bool = False,
    keep_partial: bool = False,
) -> Fit:
    """Fit a scaling law to training runs and return the posterior.

    Parameters
    ----------
    runs : Runs, DataFrame or CSV path
        Training runs (validated with :func:`bayes_scaling.read_runs` if not already).
    spec : ModelSpec, shipped spec name or TOML path
        Defaults to ``"chinchilla"``.
    priors : mapping of Prior, optional
        Overrides of the spec's priors (user > spec file > law default).
    pool : mapping or str, optional
        Overrides of the spec's pooling levels, ``{"alpha": "domain"}`` or ``"alpha=domain,e=task"``.
    structural : {"none", "learned"} or float, optional
        Override of the spec's structural error beyond the data (:mod:`bayes_scaling.structural`):
        none, the prior learned across studies, or a scale of your own. It widens predictions
        beyond the runs, not the posterior.
    sampler : SamplerSettings, optional
        How to sample (default ``SamplerSettings()``: nutpie's NUTS, 4 chains x 1000 draws after 1000
        warm-up, seed 1).
    backend, draws, tune, chains, seed, target_accept : optional
        Override single fields of ``sampler``.
    progressbar : bool
        Show the sampler's progress bar.
    keep_partial : bool
        On Ctrl-C, return the draws taken so far as a fit marked interrupted (its diagnostics, summary,
        saved file and ``--json`` say so) instead of raising.

    Returns
    -------
    Fit
        Convergence problems are also raised as a :class:`~bayes_scaling.SamplerWarning`.

    Raises
    ------
    SamplingInterrupted
        Ctrl-C during sampling (a :class:`KeyboardInterrupt`), unless ``keep_partial``.
    """
    spec = load_spec(spec).overridden(priors, pool, structural)
    if not isinstance(runs, Runs):
        runs = read_runs(runs, inputs=spec.law_obj.inputs)
    model = build_model(runs, spec)
    warn_several_groups(runs, spec)
    warn_no_repeats(runs, spec)
    warn_constant_inputs(runs, spec)
    check_priors(runs, spec)
    if sampler is not None and not isinstance(sampler, SamplerSettings):
        raise BackendError(f"sampler is a bs.SamplerSettings (e.g. bs.SamplerSettings(draws=2000)), got {sampler!r}")
    for name, switch in (("keep_partial", keep_partial), ("progressbar", progressbar)):
        if not isinstance(switch, bool):
            raise BackendError(f"{name} is True or False, got {switch!r}")
    settings = (sampler or SamplerSettings()).with_options(backend=backend, draws=draws, tune=tune, chains=chains,
                                                          seed=seed, target_accept=target_accept)
    idata, settings = sample(model, settings, progressbar=progressbar, keep_partial=keep_partial)
    checked = checked_names(idata, spec.law_obj)
    diagnostics = explain(diagnose(idata, checked), idata, settings, checked)
    warn_if_unconverged(diagnostics)
    result = Fit(idata, runs, spec, settings, diagnostics, model_pivots(runs, spec))
    idata["convergence"] = xr.DataTree(convergence_stats(result.summary_draws()))  # read commands need no arviz_stats
    return result


__all__ = ["fit"]
