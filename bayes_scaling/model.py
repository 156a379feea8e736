"""``build_model(runs, spec) -> pm.Model``: a pure function from validated data and priors to a model.

Dims live in :data:`DIMS`. Inputs enter as log values centred at the pivot (``pm.Data`` named
``x_params``, ``x_tokens`` or ``x_compute``), the observation is log loss, and every natural parameter
of the law (E, A, B, ...) is a ``pm.Deterministic`` so it lands in the posterior group.

Pooling (``spec.pooling``) gives each sampled parameter a level. Partially pooled parameters are
non-centred: for a parameter ``alpha`` pooled by domain,

    alpha[d] = alpha_mu * exp(alpha_sd_domain * alpha_z_domain[d])      (positive parameters)
    alpha[d] = alpha_mu + alpha_sd_domain * alpha_z_domain[d]           (unbounded parameters)

with ``alpha_mu`` given the spec's prior for ``alpha``, ``alpha_sd_domain`` the spec's scale prior and
``alpha_z_domain ~ Normal(0, 1)``. Pooled by task, tasks scatter the same way around their domain's
value ``alpha_domain``, which scatters around ``alpha_mu``. ``*_separate`` levels give each group the
spec's prior independently (no pooling). A centred hierarchy samples the group values themselves
(``alpha_raw_task ~ Normal(log alpha_domain, alpha_sd_task)``), and where the law gives the
parameter a local shift (:attr:`~bayes_scaling.laws.Law.local_shift`) the sampler moves
``alpha_local_task`` = log alpha - shift instead, with that prior as a potential at log alpha.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from .data.groups import GROUP_LEVELS, Groups, expand
from .data.requirements import (
    require_groups,
    require_runs,
    require_sizes,
    require_table,
)
from .data.runs import Runs
from .errors import InputError
from .laws import Law
from .spec import ModelSpec, Prior, base_level, is_positive, load_spec
from .structural import family_index, family_labels

#: The dim names used across the package.
DIMS = {"run": "run", "domain": "domain", "task": "task", "family": "family"}


def log_inputs(runs: Runs, law: Law) -> dict[str, np.ndarray]:
    """Log of each input column the law reads."""
    return {k: np.log(runs.column(k)) for k in law.inputs}


def model_pivots(runs: Runs, spec: ModelSpec | Law, centred: bool = True) -> dict[str, float | xr.DataArray]:
    """Log pivots of the model: the mean log input, over all runs or per group (``spec.pivot``).

    Returns floats for a global pivot and DataArrays with dim ``domain`` or ``task`` for a pivot per
    group; ``centred=False`` gives zeros (the naive parameterisation).
    """
    law = spec if isinstance(spec, Law) else spec.law_obj
    level = "global" if isinstance(spec, Law) else spec.pivot
    if not centred:
        return {k: 0.0 for k in law.inputs}
    logs = log_inputs(runs, law)
    logs = {k: logs[law.follows.get(k, k)] for k in logs}  # an input that follows another shares its pivot
    if level == "global":
        return {k: float(np.mean(v)) for k, v in logs.items()}
    groups = Groups.from_runs(runs)
    index = groups.run_index(level)
    counts = np.bincount(index, minlength=groups.size(level))
    return {k: xr.DataArray(np.bincount(index, weights=v, minlength=counts.size) / counts, dims=level,
                            coords={level: list(groups.labels(level))}) for k, v in logs.items()}


def run_pivots(pivots: Mapping[str, float | xr.DataArray], groups: Groups) -> dict[str, np.ndarray | float]:
    """Each run's pivot (a float for a global pivot)."""
    out: dict[str, np.ndarray | float] = {}
    for k, v in pivots.items():
        out[k] = v if not isinstance(v, xr.DataArray) else v.values[groups.run_index(str(v.dims[0]))]
    return out


def build_model(runs: Runs, spec: ModelSpec | str | Path, centred: bool = True, local: bool = True) -> pm.Model:
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
    local : bool
        Sample the law's :attr:`~bayes_scaling.laws.Law.local_shift` parameters in their local
        coordinates where they are pooled by task under a centred hierarchy (default); ``False``
        samples them as they are. The posterior is the same either way.

    Returns
    -------
    pymc.Model
        With dims ``run`` (and ``domain`` / ``task`` where the spec pools), data ``x_<input>``,
        observed ``log_loss`` and deterministics for the law's natural parameters at the finest
        pooling level.

    Raises
    ------
    InputError
        Too few runs for the law, a pooled group with one run, or one group at a pooled level.
    """
    spec = load_spec(spec)
    law = spec.law_obj
    require_table(runs)
    require_runs(runs, law.n_parameters, law.name)
    require_sizes(runs, law.inputs, law.name)
    groups = Groups.from_runs(runs)
    check_groups(runs, spec, groups)
    pivots = model_pivots(runs, spec, centred)
    at_run = run_pivots(pivots, groups)
    logs = log_inputs(runs, law)
    coords: dict[str, object] = {DIMS["run"]: np.arange(len(runs))}
    levels = {base_level(v) for v in spec.pooling.values()} | {spec.noise_pooling, spec.pivot}
    for level in ("domain", "task"):
        if level in levels or (level == "domain" and "task" in levels):
            coords.update(groups.coords(level))
    family = spec.discrepancy.family
    if family:
        labels = family_labels(runs.table[family])
        coords[DIMS["family"]] = [str(v) if labels.dtype.kind != "f" else f"{v:.9g}" for v in labels]
    with pm.Model(coords=coords) as model:
        x = {k: pm.Data(f"x_{k}", logs[k] - at_run[k], dims=DIMS["run"]) for k in law.inputs}
        p = _parameters(law, spec, groups, local)
        per_run = {name: _at_runs(value, base_level(spec.pooling[name]), groups) for name, value in p.items()}
        mu = law.log_mean(pt, x, per_run)
        if family:
            mu = mu + _family_offsets(spec, family_index(labels, runs.table[family]))
        sigma = spec.priors["sigma"].to_pymc("sigma", dims=None if spec.noise_pooling == "shared" else spec.noise_pooling)
        sigma_run = _at_runs(sigma, spec.noise_pooling, groups)
        observed = pm.Data("log_loss_observed", np.log(runs.column("loss")), dims=DIMS["run"])
        if spec.likelihood == "student_t":
            nu = spec.priors["nu"].to_pymc("nu")
            pm.StudentT("log_loss", nu=nu, mu=mu, sigma=sigma_run, observed=observed, dims=DIMS["run"])
        else:
            pm.Normal("log_loss", mu=mu, sigma=sigma_run, observed=observed, dims=DIMS["run"])
        _natural_deterministics(law, spec, p, pivots, groups)
    return model


def _parameters(law: Law, spec: ModelSpec, groups: Groups, local: bool) -> dict[str, pt.TensorVariable]:
    """The law's sampled parameters at their pooling levels; those with a local shift (pooled by task,
    centred) after the others, their shift computed from the others' task values."""
    centred = spec.hierarchy in ("centred", "centred_tasks")
    shifted = [n for n in law.sampled if local and centred and spec.pooling[n] == "task" and n in law.local_shift]
    p = {name: pooled_parameter(name, spec.priors[name], spec.scales[name], spec.pooling[name], groups, spec.hierarchy)
         for name in law.sampled if name not in shifted}
    for name in shifted:
        at_task = {k: _at_level(v, base_level(spec.pooling[k]), "task", groups) for k, v in p.items()}
        p[name] = pooled_parameter(name, spec.priors[name], spec.scales[name], spec.pooling[name], groups,
                                   spec.hierarchy, shift=law.local_shift[name](pt, at_task))
    return {name: p[name] for name in law.sampled}


def _family_offsets(spec: ModelSpec, index: np.ndarray) -> pt.TensorVariable:
    """The shared offset on log loss of each run's family: family_sd · z[family] (non-centred)."""
    sd = pm.HalfNormal("family_sd", sigma=spec.discrepancy.family_scale)
    z = pm.Normal("family_z", 0.0, 1.0, dims=DIMS["family"])
    return sd * z[index]


def pooled_parameter(name: str, prior: Prior, scale: Prior, pooling: str, groups: Groups,
                     hierarchy: str = "non_centred", shift: pt.TensorVariable | None = None) -> pt.TensorVariable:
    """One sampled law parameter at its pooling level (see the module docstring for the names).

    ``hierarchy="centred"`` samples group values directly (``<name>_raw_<level>``) instead of their
    standardised offsets: better when every group has many precise runs; ``"centred_tasks"`` does so
    for tasks only and keeps domains (few, with a weakly identified scale) non-centred. With a
    ``shift`` (by task, centred) the sampler moves ``<name>_local_task`` = value - shift and the
    task-level prior is a potential at value (unit Jacobian: the same posterior).
    """
    if pooling == "shared":
        return prior.to_pymc(name)
    level = base_level(pooling)
    if pooling.endswith("_separate"):
        return prior.to_pymc(name, dims=level)
    positive = is_positive(prior)
    mu = prior.to_pymc(f"{name}_mu")
    centre = pt.log(mu) if positive else mu

    def scatter(around: pt.TensorVariable, at: str) -> pt.TensorVariable:
        sd = scale.to_pymc(f"{name}_sd_{at}")
        if shift is not None and at == "task":
            value = pm.Flat(f"{name}_local_task", dims="task") + shift
            pm.Potential(f"{name}_prior_task", pm.logp(pm.Normal.dist(around, sd), value))
            return value
        if hierarchy == "centred" or (hierarchy == "centred_tasks" and at == "task"):
            return pm.Normal(f"{name}_raw_{at}", around, sd, dims=at)
        z = pm.Normal(f"{name}_z_{at}", 0.0, 1.0, dims=at)
        return around + sd * z

    if level == "domain":
        value = scatter(centre, "domain")
        return pm.Deterministic(name, pt.exp(value) if positive else value, dims="domain")
    if groups.size("domain") > 1:
        domain_value = scatter(centre, "domain")
    else:
        domain_value = pt.zeros(1) + centre
    pm.Deterministic(f"{name}_domain", pt.exp(domain_value) if positive else domain_value, dims="domain")
    value = scatter(domain_value[groups.task_domain], "task")
    return pm.Deterministic(name, pt.exp(value) if positive else value, dims="task")


def _at_runs(value: pt.TensorVariable, level: str, groups: Groups) -> pt.TensorVariable:
    if level in ("shared", "global"):
        return value
    return value[groups.run_index(level)]


def _at_level(value: pt.TensorVariable, level: str, to: str, groups: Groups) -> pt.TensorVariable:
    if level == to or level == "shared":
        return value
    return value[groups.task_domain]  # domain -> task


def _natural_deterministics(law: Law, spec: ModelSpec, p: dict, pivots: Mapping, groups: Groups) -> None:
    finest = spec.level()
    laid = {n: _at_level(v, base_level(spec.pooling[n]), finest, groups) for n, v in p.items()}
    dims = None if finest == "shared" else finest
    piv = {}
    for k, v in pivots.items():  # data, not constants: one compiled graph serves every study (compiled.py)
        if isinstance(v, xr.DataArray):
            piv[k] = pm.Data(f"pivot_{k}", expand(v, str(v.dims[0]), finest, groups).values, dims=dims)
        else:
            piv[k] = pm.Data(f"pivot_{k}", np.asarray(v, dtype=float))
    for name, value in law.natural(laid, piv, xp=pt).items():
        if name not in p:
            if dims is not None and value.ndim == 0:
                value = pt.broadcast_to(value, (groups.size(finest),))
            pm.Deterministic(name, value, dims=dims)


def check_groups(runs: Runs, spec: ModelSpec, groups: Groups | None = None) -> None:
    """Refuse data that cannot support the spec's pooling (``groups`` built from the runs where not given).

    Every group a parameter varies over needs at least two runs; a level with one group cannot
    be pooled (there is nothing to pool across); a group fitted separately needs more runs than the
    parameters it estimates on its own.

    Raises
    ------
    InputError
    """
    groups = Groups.from_runs(runs) if groups is None else groups
    for level in GROUP_LEVELS:
        params = [p for p, v in spec.pooling.items() if base_level(v) == level]
        needs_level = params or spec.noise_pooling == level or spec.pivot == level
        if not needs_level:
            continue
        require_groups(runs, level)
        if len(groups.labels(level)) < 2:
            what = f"parameter(s) {params}" if params else f"the {'noise' if spec.noise_pooling == level else 'pivot'}"
            raise InputError(
                f"spec '{spec.name}' lets {what} vary by {level}, but the runs have one {level} "
                f"('{groups.labels(level)[0]}'); give a '{level}' column with at least two groups or use a "
                "shared spec"
            )
        separate = [p for p, v in spec.pooling.items() if v == f"{level}_separate"]
        if separate:
            counts = runs.table[level].value_counts()
            small = counts[counts <= len(separate)]
            if len(small):
                raise InputError(
                    f"{level} '{small.index[0]}' has {int(small.iloc[0])} runs, too few to fit {separate} "
                    f"separately (unpooled) for it; pool them partially ('{level}') instead"
                )
