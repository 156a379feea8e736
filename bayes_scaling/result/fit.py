"""The ``Fit`` result: posterior + runs + spec, with summary, optimal, predict and save/load.

``fit(runs, spec)`` does the work and returns a :class:`Fit`; nothing samples in a constructor.
Post-processing never re-runs the sampler: it is numpy/xarray arithmetic over ``(chain, draw)``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..data.groups import Groups, expand
from ..data.reach import check_budget, reach, reach_warnings
from ..data.runs import Runs
from ..errors import QueryError, require_bool
from ..inference import Diagnostics, SamplerSettings
from ..laws import Law
from ..laws.allocation import optimal_allocation, require_distinct
from ..spec import LEVEL_RANK, ModelSpec, base_level
from ..structural import StructuralError, beyond_coord, family_effect, structural_extra
from ..version import package_version
from .intervals import (
    DEFAULT_PROB,
    check_prob,
    convergence_stats,
    convergence_table,
    interval_table,
)
from .storage import write_tree

FORMAT = "bayes_scaling.result.fit/1"
NOISE_VARS = ("sigma", "nu")


@dataclass(frozen=True)
class Fit:
    """A sampled posterior with everything needed to interpret it.

    Attributes
    ----------
    idata : xarray.DataTree
        ArviZ layout: ``posterior``, ``sample_stats``, ``observed_data``, ``constant_data``,
        ``convergence`` (R-hat and ESS of every summarised element, computed when the fit was made)
        and, in a saved file, ``runs`` (the validated input table).
    runs : Runs
    spec : ModelSpec
    settings : SamplerSettings
    diagnostics : Diagnostics
    pivots : dict
        Log pivots at which the levels were sampled.
    """

    idata: xr.DataTree
    runs: Runs
    spec: ModelSpec
    settings: SamplerSettings
    diagnostics: Diagnostics
    pivots: dict[str, float]

    @property
    def law(self) -> Law:
        """The law that was fitted."""
        return self.spec.law_obj

    @property
    def posterior(self) -> xr.Dataset:
        """Posterior draws, dims ``(chain, draw)``."""
        return self.idata["posterior"].to_dataset()

    @cached_property
    def groups(self) -> Groups:
        """Domain and task labels of the runs and the maps between them (made once per fit)."""
        return Groups.from_runs(self.runs)

    @property
    def level(self) -> str:
        """The finest level any law parameter varies at: ``"shared"``, ``"domain"`` or ``"task"``."""
        return self.spec.level()

    def sampled(self, level: str | None = None) -> dict[str, xr.DataArray]:
        """The law's sampled parameters laid out at one level (default: the finest).

        At a coarser level than a parameter's own, a partially pooled parameter gives its group
        mean (``alpha_domain`` for tasks in a domain, ``alpha_mu`` for all); a parameter fitted
        separately per group has no such value and raises :class:`QueryError`.
        """
        level = self.check_level(level)
        return {name: self._sampled_at(name, level) for name in self.law.sampled}

    def pivots_at(self, level: str | None = None) -> dict[str, float | xr.DataArray]:
        """Log pivots laid out at ``level`` (floats for a global pivot)."""
        level = self.check_level(level)
        out = {}
        for k, v in self.pivots.items():
            if isinstance(v, xr.DataArray):
                at = str(v.dims[0])
                if LEVEL_RANK[at] > LEVEL_RANK[level]:
                    raise QueryError(f"this fit centres its inputs per {at}: ask for results by {at}")
                v = expand(v, at, level, self.groups)
            out[k] = v
        return out

    def parameters(self, level: str | None = None) -> xr.Dataset:
        """Natural law parameters and the noise (sigma, nu), dims ``(chain, draw[, domain | task])``.

        At a level coarser than the fit's pivot (inputs centred per task, results asked by domain),
        only the parameters that do not depend on the pivot (exponents, E) are returned.
        """
        level = self.check_level(level)
        post = self.posterior
        try:
            pivots = self.pivots_at(level)
        except QueryError:  # pivot-dependent parameters come out NaN and are dropped
            pivots = {k: np.nan for k in self.pivots}
        natural = self.law.natural(self.sampled(level), pivots)
        out = {k: v for k, v in natural.items() if not bool(np.isnan(v).all())}
        if "sigma" in post and LEVEL_RANK[self.spec.noise_pooling] <= LEVEL_RANK[level]:
            out["sigma"] = expand(post["sigma"], self.spec.noise_pooling, level, self.groups)
        if "nu" in post:
            out["nu"] = post["nu"]
        return xr.Dataset(out)

    def hyperparameters(self) -> xr.Dataset:
        """Population values, between-group scales and group means of the pooled parameters."""
        post = self.posterior
        names = [n for n in post.data_vars
                 if any(n.startswith(f"{p}_") and not n.startswith(f"{p}_z_") for p in self.law.sampled)
                 and n not in self.law.sampled]
        return post[names]

    def summary_draws(self) -> xr.Dataset:
        """The draws the summary reports: natural parameters, then the hierarchy's values and scales."""
        natural, hyper = self.parameters(), self.hyperparameters()
        return xr.merge([natural, hyper], compat="override")[[*natural.data_vars, *hyper.data_vars]]

    def summary(self, prob: float = DEFAULT_PROB) -> pd.DataFrame:
        """Natural parameters (per group where they vary), the hierarchy's population values and
        scales, and the noise: median, mean, sd, central interval, R-hat and ESS, one row per element.

        The index is the variable name; group coordinates (``domain``, ``task``) are columns. The
        convergence verdict is in ``table.attrs["diagnostics"]`` and ``table.attrs["problems"]``;
        :func:`bayes_scaling.present.text.format_summary` prints it above the table.
        """
        params = self.summary_draws()
        stats = (self.idata["convergence"].to_dataset() if "convergence" in self.idata.children
                 else convergence_stats(params))
        table = interval_table(params, prob)
        checks = convergence_table(stats, list(params.data_vars))
        keys = [c for c in table.columns if c in checks.columns]
        table = table.merge(checks, on=keys, how="left")
        if "task" in table.columns:  # name each task's domain too
            groups = self.groups
            of_task = dict(zip(groups.tasks, groups.task_domain_labels()))
            known = table["task"].notna()
            table.loc[known, "domain"] = table.loc[known, "task"].map(of_task)
            table = table[["variable", "domain", "task"] + [c for c in table.columns if c not in ("variable", "domain", "task")]]
        table = table.set_index("variable")
        table.attrs.update(prob=check_prob(prob), diagnostics=self.diagnostics.to_dict(), problems=list(self.diagnostics.problems))
        return table

    def log_likelihood(self) -> xr.Dataset:
        """Pointwise log likelihood of each run under each draw, dims ``(chain, draw, run)``.

        Computed from the model on demand (saved files stay small) and never written into
        ``idata``: a fit does not change the tree it was given.
        """
        if "log_likelihood" in self.idata.children:
            return self.idata["log_likelihood"].to_dataset()
        import pymc as pm

        from ..model import build_model

        model = build_model(self.runs, self.spec)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            ll = pm.compute_log_likelihood(self.idata, model=model, extend_inferencedata=False, progressbar=False)
        if isinstance(ll, xr.DataTree):
            return ll["log_likelihood"].to_dataset() if "log_likelihood" in ll.children else ll.to_dataset()
        return ll

    def check_level(self, level: str | None) -> str:
        """The level an answer is asked at (default: the finest the fit varies at), or a QueryError."""
        if level is None:
            return self.level
        if level not in ("shared", "domain", "task"):
            raise QueryError(f"unknown level '{level}'; choose shared, domain or task")
        return level

    def _sampled_at(self, name: str, level: str) -> xr.DataArray:
        post = self.posterior
        pooling = self.spec.pooling[name]
        own = base_level(pooling)
        if LEVEL_RANK[own] <= LEVEL_RANK[level]:
            return expand(post[name], own, level, self.groups)
        if pooling.endswith("_separate"):
            raise QueryError(
                f"'{name}' is fitted separately per {own} (no pooling): it has no {level}-level value; "
                f"ask for results by {own}"
            )
        if level == "domain":
            return post[f"{name}_domain"]
        return post[f"{name}_mu"]

    def optimal(self, compute: float | Sequence[float], method: str = "auto", level: str | None = None,
                unique_tokens: float | None = None) -> xr.Dataset:
        """Compute-optimal ``params`` (N*), ``tokens`` (D*), ``ratio`` (D*/N*) and ``loss`` (L*).

        Parameters
        ----------
        compute : float or sequence of float
            Budgets in FLOPs (C = k·N·D, k the runs' compute factor).
        method : {"auto", "closed", "numeric"}
            Closed form (Chinchilla law) or golden-section search (every law with N and D).
        level : {"shared", "domain", "task"}, optional
            Answer per group at this level (default: the finest level the fit varies at).
        unique_tokens : float, optional
            The unique data available (laws that read ``unique_tokens``): D beyond it repeats it, and
            the answer gains ``epochs`` (D*/U_D, at least 1).

        Returns
        -------
        xarray.Dataset
            Dims ``(chain, draw, compute[, domain | task])``; summarise with
            :func:`bayes_scaling.interval_table`. ``loss`` is the law's L*; ``loss_pred`` that of one run
            trained at the optimum, with its noise and the structural error beyond the runs
            (:func:`bayes_scaling.result.optimum.optimum_loss_pred`; absent where the noise varies
            at a finer level than the answer). ``attrs["reach"]`` holds the decades of compute, N*
            and D* (medians) beyond the fitted runs, ``attrs["warnings"]`` says where they extrapolate.
            A budget more than a decade below every fitted run is refused (``QueryError``), as ``plan``
            refuses it.
        """
        from .optimum import optimum_loss_pred

        ds = optimal_allocation(self.law, self.sampled(level), self.pivots_at(level), compute,
                                self.runs.compute_factor, method, unique_tokens=unique_tokens)
        check_budget(self.runs, ds["compute"].values)
        require_distinct(ds["compute"].values)
        pred = optimum_loss_pred(self, ds, self.check_level(level), unique_tokens)
        ds = ds if pred is None else ds.assign(loss_pred=pred)
        distances = reach(self.runs, compute=ds["compute"].values, params=ds["params"].median(("chain", "draw")).values.ravel(),
                          tokens=ds["tokens"].median(("chain", "draw")).values.ravel())
        ds.attrs.update(reach=distances, warnings=reach_warnings(distances, "the optimum"))
        return ds

    def predict(
        self,
        params: float | Sequence[float] | None = None,
        tokens: float | Sequence[float] | None = None,
        compute: float | Sequence[float] | None = None,
        seed: int | None = None,
        level: str | None = None,
        structural: bool = True,
        unique_tokens: float | Sequence[float] | None = None,
    ) -> xr.Dataset:
        """Loss at new scales: the mean law (credible) and a new run with noise (predictive).

        Parameters
        ----------
        params, tokens : float or sequence, optional
            N and D of the runs to predict (laws in N and D; broadcast against each other).
        compute : float or sequence, optional
            C of the runs to predict (the compute law); derived as k·N·D otherwise.
        seed : int, optional
            Seed of the predictive noise (defaults to the fit's seed, so answers are reproducible).
        level : {"shared", "domain", "task"}, optional
            Predict for every group at this level (default: the finest level the fit varies at);
            select one with ``.sel(domain=...)``.
        structural : bool
            Add the spec's structural error beyond the data (:mod:`bayes_scaling.structural`) to
            ``loss_pred``: zero inside the fitted runs, growing with the decades beyond them.
        unique_tokens : float or sequence, optional
            U_D of the runs to predict, for laws that read it (default: every token unique).

        Returns
        -------
        xarray.Dataset
            ``loss_mean`` (the law's mean loss) and ``loss_pred`` (a new observed run), dims
            ``(chain, draw, point[, domain | task])``, with coordinates ``params``, ``tokens``,
            ``compute`` and ``beyond`` (decades beyond the fitted runs, the structural error's
            distance). ``attrs["reach"]`` holds the decades beyond the fitted runs of each input,
            ``attrs["warnings"]`` says where the prediction extrapolates and
            ``attrs["structural_error"]`` the error model added to ``loss_pred``.
        """
        level = self.check_level(level)
        points = self._points(params, tokens, compute, unique_tokens)
        logs = {k: xr.DataArray(np.log(points[k]), dims="point") for k in self.law.inputs}
        mu = self.law.log_loss(self.sampled(level), logs, self.pivots_at(level))
        mu = mu.transpose("chain", "draw", "point", ...)
        post = self.posterior
        noise_level = self.spec.noise_pooling
        if LEVEL_RANK[noise_level] > LEVEL_RANK[level]:
            raise QueryError(f"the noise scale varies by {noise_level}: predict by {noise_level}")
        sigma = expand(post["sigma"], noise_level, level, self.groups)
        table = pd.DataFrame(points)
        family = family_effect(self.spec.discrepancy, self.runs.table, post, table, "point")
        if family is not None:
            mu, sigma = mu + family[0], np.sqrt(sigma**2 + family[1])
        error = self.spec.discrepancy if require_bool(structural, "structural") else StructuralError()
        rng = np.random.default_rng(self.settings.seed if seed is None else query_seed(seed))
        nu = post["nu"].values if self.spec.likelihood == "student_t" else None
        pred = mu + sigma * xr.DataArray(predictive_noise(rng, mu.shape, nu), dims=mu.dims)
        own = mu["task"].values if self.per_task and "task" in mu.dims else None  # each curve from its own runs
        extra = structural_extra(self, table, "point", own) if structural else None
        if extra is not None:
            pred = pred + extra * xr.DataArray(rng.standard_normal(mu.shape), dims=mu.dims)
        coords = {k: ("point", v) for k, v in points.items()} | {"beyond": beyond_coord(self, table, own)}
        ds = xr.Dataset({"loss_mean": np.exp(mu), "loss_pred": np.exp(pred)}).assign_coords(coords)
        distances = reach(self.runs, **points)
        ds.attrs.update(reach=distances, warnings=reach_warnings(distances, "the prediction"),
                        structural_error=json.dumps(error.to_dict()))
        return ds

    def predict_final(self, total=None, fraction_seen=None, curves=None, seed=None, schedule=None) -> xr.Dataset:
        """Final loss of runs still training (a learning-curve fit, one curve per task): give each curve's
        ``total`` length (a number, a mapping by curve, or the :class:`Checkpoints` read) or the
        ``fraction_seen`` of training in (0, 1). A law that reads the learning-rate schedule
        (``curve_schedule``) takes each curve's from ``schedule`` (the Checkpoints read, or their
        ``schedule`` table), else from ``total`` where that is the Checkpoints. Dims ``(chain, draw,
        curve)``: ``loss_mean`` and ``loss_pred`` (with the noise and the structural error beyond each
        curve); see :mod:`bayes_scaling.result.final`."""
        from .final import predict_final

        return predict_final(self, total, fraction_seen, curves, seed, schedule)

    @property
    def per_task(self) -> bool:
        """Whether each task has its own parameters or pivot, so its own runs bound its range."""
        return self.spec.pivot == "task" or self.spec.level() == "task"

    def _points(self, params, tokens, compute, unique=None) -> dict[str, np.ndarray]:
        return self.law.points(self.runs.compute_factor, params, tokens, compute, unique)

    def drop_chains(self, chains: int | Sequence[int]) -> Fit:
        """This fit without ``chains`` (one stuck in a local mode, say), diagnosed again and on the record
        (:func:`bayes_scaling.result.chains.drop_chains`)."""
        from .chains import drop_chains

        return drop_chains(self, chains)

    def save(self, path: str | Path) -> Path:
        """Write the fit to NetCDF (h5netcdf) with its provenance and a checksum per group; returns the path.

        The write is atomic: a temporary file beside ``path`` is flushed and renamed over it, so an
        interrupted save leaves any previous file at ``path`` as it was.
        """
        tree = self.idata.copy()
        tree["runs"] = xr.DataTree(self.runs.to_dataset())
        tree.attrs.update(self.provenance())
        return write_tree(tree, path, checksums=True)

    def provenance(self) -> dict[str, str | int]:
        """What a saved fit records: spec, priors, data hash, package version, sampler settings."""
        return {
            "format": FORMAT,
            "package_version": package_version(),
            "spec": self.spec.to_json(),
            "sampler": json.dumps(asdict(self.settings)),
            "diagnostics": json.dumps(self.diagnostics.to_dict()),
            "converged": int(self.diagnostics.ok),
            "warnings": "; ".join(self.diagnostics.problems),
            "data_sha256": self.runs.digest,
            "data_source": self.runs.source,
            "pivots": json.dumps(pivots_to_json(self.pivots)),
        }


def query_seed(seed: object) -> int:
    """A seed given to an answer: a non-negative whole number, or a QueryError."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise QueryError(f"seed must be a non-negative whole number, got {seed!r}")
    return int(seed)


def predictive_noise(rng: np.random.Generator, shape: tuple[int, ...], nu: np.ndarray | None) -> np.ndarray:
    """Standardised noise of new runs: Student-t with the draws' ``nu`` (leading axes, broadcast over the
    rest of ``shape``), or standard normal when ``nu`` is None."""
    if nu is None:
        return rng.standard_normal(shape)
    return rng.standard_t(np.broadcast_to(nu.reshape(nu.shape + (1,) * (len(shape) - nu.ndim)), shape))


def pivots_to_json(pivots: Mapping[str, float | xr.DataArray]) -> dict:
    """Pivots as JSON: a float, or a level and one value per group."""
    out = {}
    for k, v in pivots.items():
        out[k] = {"level": str(v.dims[0]), "values": v.values.tolist()} if isinstance(v, xr.DataArray) else float(v)
    return out


__all__ = ["Fit", "pivots_to_json", "predictive_noise"]
