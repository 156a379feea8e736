"""``build_model(runs, spec) -> pm.Model``: a pure function from validated data and priors to a model.

Dims live in :data:`DIMS`. Inputs enter as log values centred at the pivot (``pm.Data`` named
``x_params``, ``x_tokens`` or ``x_compute``), the observation is log loss, and every natural parameter
of the law (E, A, B, ...) is a ``pm.Deterministic`` so it lands in the posterior group.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from .data import Runs, require_runs
from .errors import SpecError
from .laws import Law, pivots_for
from .spec import ModelSpec, load_spec

#: The dim names used across the package.
DIMS = {"run": "run", "domain": "domain", "task": "task"}


def log_inputs(runs: Runs, law: Law) -> dict[str, np.ndarray]:
    """Log of each input column the law reads."""
    return {k: np.log(runs.column(k)) for k in law.inputs}


def model_pivots(runs: Runs, law: Law, centred: bool = True) -> dict[str, float]:
    """Log pivots of the model: the mean log input (``centred=True``) or 0 (the naive parameterisation)."""
    if not centred:
        return {k: 0.0 for k in law.inputs}
    return pivots_for(law, log_inputs(runs, law))


def build_model(runs: Runs, spec: ModelSpec | str | Path, centred: bool = True) -> pm.Model:
    """Build the PyMC model of a scaling law for a table of runs.

    Parameters
    ----------
    runs : Runs
        Validated runs (see :func:`bayes_scaling.read_runs`).
    spec : ModelSpec, spec name or TOML path
        Law, priors, pooling and likelihood.
    centred : bool
        Sample each term's level at the pivot inside the data (default). ``False`` gives the naive
        parameterisation (levels at N = D = 1, i.e. raw log A and log B), kept for benchmarks.

    Returns
    -------
    pymc.Model
        With dim ``run``, data ``x_<input>``, observed ``log_loss`` and deterministics for the law's
        natural parameters.

    Raises
    ------
    InputError
        If there are no more runs than law parameters.
    SpecError
        If the spec asks for a pooling level this version does not build.
    """
    spec = load_spec(spec)
    law = spec.law_obj
    require_runs(runs, law.n_parameters, law.name)
    pooled = {p: level for p, level in spec.pooling.items() if level != "shared"}
    if pooled:
        raise SpecError(
            f"spec '{spec.name}' pools {pooled}: hierarchical pooling is not available in this "
            "version; set every pooling level to 'shared'"
        )
    pivots = model_pivots(runs, law, centred)
    logs = log_inputs(runs, law)
    coords = {DIMS["run"]: np.arange(len(runs))}
    with pm.Model(coords=coords) as model:
        x = {k: pm.Data(f"x_{k}", logs[k] - pivots[k], dims=DIMS["run"]) for k in law.inputs}
        p = {name: spec.priors[name].to_pymc(name) for name in law.sampled}
        mu = law.log_mean(pt, x, p)
        sigma = spec.priors["sigma"].to_pymc("sigma")
        observed = np.log(runs.column("loss"))
        if spec.likelihood == "student_t":
            nu = spec.priors["nu"].to_pymc("nu")
            pm.StudentT("log_loss", nu=nu, mu=mu, sigma=sigma, observed=observed, dims=DIMS["run"])
        else:
            pm.Normal("log_loss", mu=mu, sigma=sigma, observed=observed, dims=DIMS["run"])
        for name, value in law.natural(p, pivots, xp=pt).items():
            if name not in p:
                pm.Deterministic(name, value)
    return model
