"""The ``Fit`` result: posterior + runs + spec, with summary, optimal, predict and save/load.

``fit(runs, spec)`` does the work and returns a :class:`Fit`; nothing samples in a constructor.
Post-processing never re-runs the sampler: it is numpy/xarray arithmetic over ``(chain, draw)``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from .data import Runs, read_runs
from .errors import FitFileError, QueryError
from .groups import Groups, expand
from .inference import (
    DEFAULT_BACKEND,
    Diagnostics,
    SamplerSettings,
    diagnose,
    sample,
    warn_if_unconverged,
)
from .intervals import DEFAULT_PROB, convergence_table, interval_table
from .laws import Law
from .model import build_model, model_pivots
from .optimal import optimal_allocation
from .prior_check import check_priors, explain
from .reach import reach, reach_warnings
from .spec import LEVEL_RANK, ModelSpec, Prior, base_level, load_spec, parse_pooling
from .storage import CHECKSUM_ATTR, read_tree, verify_checksums, write_tree
from .version import package_version

FORMAT = "bayes_scaling.fit/1"
NOISE_VARS = ("sigma", "nu")


@dataclass(frozen=True)
class Fit:
    """A sampled posterior with everything needed to interpret it.

    Attributes
    ----------
    idata : xarray.DataTree
        ArviZ layout: ``posterior``, ``sample_stats``, ``observed_data``, ``constant_data`` and
        ``runs`` (the validated input table).
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

    @property
    def groups(self) -> Groups:
        """Domain and task labels of the runs and the maps between them."""
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
        level = self._check_level(level)
        return {name: self._sampled_at(name, level) for name in self.law.sampled}

    def pivots_at(self, level: str | None = None) -> dict[str, float | xr.DataArray]:
        """Log pivots laid out at ``level`` (floats for a global pivot)."""
        level = self._check_level(level)
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
        level = self._check_level(level)
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

    def summary(self, prob: float = DEFAULT_PROB) -> pd.DataFrame:
        """Natural parameters (per group where they vary), the hierarchy's population values and
        scales, and the noise: median, mean, sd, central interval, R-hat and ESS, one row per element.

        The index is the variable name; group coordinates (``domain``, ``task``) are columns. The
        convergence verdict is in ``table.attrs["diagnostics"]`` and ``table.attrs["problems"]``;
        :func:`format_summary` prints it above the table.
        """
        natural, hyper = self.parameters(), self.hyperparameters()
        params = xr.merge([natural, hyper], compat="override")[[*natural.data_vars, *hyper.data_vars]]
        table = interval_table(params, prob)
        checks = convergence_table(params)
        keys = [c for c in table.columns if c in checks.columns]
        table = table.merge(checks, on=keys, how="left")
        if "task" in table.columns:  # name each task's domain too
            groups = self.groups
            of_task = dict(zip(groups.tasks, groups.task_domain_labels()))
            known = table["task"].notna()
            table.loc[known, "domain"] = table.loc[known, "task"].map(of_task)
            table = table[["variable", "domain", "task"] + [c for c in table.columns if c not in ("variable", "domain", "task")]]
        table = table.set_index("variable")
        table.attrs.update(prob=prob, diagnostics=self.diagnostics.to_dict(), problems=list(self.diagnostics.problems))
        return table

    def log_likelihood(self) -> xr.Dataset:
        """Pointwise log likelihood of each run under each draw, dims ``(chain, draw, run)``.

        Computed on demand from the model (not stored in saved files, which stay small).
        """
        if "log_likelihood" not in self.idata.children:
            model = build_model(self.runs, self.spec)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                ll = pm.compute_log_likelihood(self.idata, model=model, extend_inferencedata=False,
                                               progressbar=False)
            self.idata["log_likelihood"] = ll["log_likelihood"] if isinstance(ll, xr.DataTree) and "log_likelihood" in ll.children else ll
        return self.idata["log_likelihood"].to_dataset()

    def _check_level(self, level: str | None) -> str:
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

    def optimal(self, compute: float | Sequence[float], method: str = "auto", level: str | None = None) -> xr.Dataset:
        """Compute-optimal ``params`` (N*), ``tokens`` (D*), ``ratio`` (D*/N*) and ``loss`` (L*).

        Parameters
        ----------
        compute : float or sequence of float
            Budgets in FLOPs (C = k·N·D, k the runs' compute factor).
        method : {"auto", "closed", "numeric"}
            Closed form (Chinchilla law) or golden-section search (every law with N and D).
        level : {"shared", "domain", "task"}, optional
            Answer per group at this level (default: the finest level the fit varies at).

        Returns
        -------
        xarray.Dataset
            Dims ``(chain, draw, compute[, domain | task])``; summarise with
            :func:`bayes_scaling.interval_table`. ``attrs["reach"]`` holds the decades of compute, N*
            and D* (medians) beyond the fitted runs, ``attrs["warnings"]`` says where they extrapolate.
        """
        ds = optimal_allocation(self.law, self.sampled(level), self.pivots_at(level), compute,
                                self.runs.compute_factor, method)
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

        Returns
        -------
        xarray.Dataset
            ``loss_mean`` (the law's mean loss) and ``loss_pred`` (a new observed run), dims
            ``(chain, draw, point[, domain | task])``, with coordinates ``params``, ``tokens``,
            ``compute``. ``attrs["reach"]`` holds the decades beyond the fitted runs of each input and
            ``attrs["warnings"]`` says where the prediction extrapolates.
        """
        level = self._check_level(level)
        points = self._points(params, tokens, compute)
        logs = {k: xr.DataArray(np.log(points[k]), dims="point") for k in self.law.inputs}
        mu = self.law.log_loss(self.sampled(level), logs, self.pivots_at(level))
        mu = mu.transpose("chain", "draw", "point", ...)
        post = self.posterior
        noise_level = self.spec.noise_pooling
        if LEVEL_RANK[noise_level] > LEVEL_RANK[level]:
            raise QueryError(f"the noise scale varies by {noise_level}: predict by {noise_level}")
        sigma = expand(post["sigma"], noise_level, level, self.groups)
        rng = np.random.default_rng(self.settings.seed if seed is None else seed)
        nu = post["nu"].values if self.spec.likelihood == "student_t" else None
        pred = mu + sigma * xr.DataArray(predictive_noise(rng, mu.shape, nu), dims=mu.dims)
        coords = {k: ("point", v) for k, v in points.items()}
        ds = xr.Dataset({"loss_mean": np.exp(mu), "loss_pred": np.exp(pred)}).assign_coords(coords)
        distances = reach(self.runs, **points)
        ds.attrs.update(reach=distances, warnings=reach_warnings(distances, "the prediction"))
        return ds

    def _points(self, params, tokens, compute) -> dict[str, np.ndarray]:
        k = self.runs.compute_factor
        given = {n: v for n, v in (("params", params), ("tokens", tokens), ("compute", compute)) if v is not None}
        arrays = {n: np.atleast_1d(np.asarray(v, dtype=float)) for n, v in given.items()}
        for name, values in arrays.items():
            if values.ndim != 1 or not np.all(np.isfinite(values)) or np.any(values <= 0):
                raise QueryError(f"{name} must be positive finite numbers, got {np.ravel(values).tolist()}")
        try:
            arrays = dict(zip(arrays, np.broadcast_arrays(*arrays.values())))
        except ValueError:
            raise QueryError("params, tokens and compute must have the same length (or length 1)") from None
        if "params" in arrays and "tokens" in arrays:
            arrays.setdefault("compute", k * arrays["params"] * arrays["tokens"])
        missing = [n for n in self.law.inputs if n not in arrays]
        if missing:
            raise QueryError(f"the '{self.law.name}' law needs {' and '.join(self.law.inputs)} to predict; missing {missing}")
        return arrays

    def save(self, path: str | Path) -> Path:
        """Write the fit to NetCDF (h5netcdf) with its provenance and a checksum per group; returns the path.

        The write is atomic: a temporary file beside ``path`` is flushed and renamed over it, so an
        interrupted save leaves any previous file at ``path`` as it was.
        """
        path = Path(path)
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
            "pivots": json.dumps(_pivots_to_json(self.pivots)),
        }


def predictive_noise(rng: np.random.Generator, shape: tuple[int, ...], nu: np.ndarray | None) -> np.ndarray:
    """Standardised noise of new runs: Student-t with the draws' ``nu`` (leading axes, broadcast over the
    rest of ``shape``), or standard normal when ``nu`` is None."""
    if nu is None:
        return rng.standard_normal(shape)
    return rng.standard_t(np.broadcast_to(nu.reshape(nu.shape + (1,) * (len(shape) - nu.ndim)), shape))


def fit(
    runs: Runs | pd.DataFrame | str | Path,
    spec: ModelSpec | str | Path = "chinchilla",
    priors: Mapping[str, Prior] | None = None,
    pool: Mapping[str, str] | str | None = None,
    backend: str = DEFAULT_BACKEND,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int = 1,
    target_accept: float = 0.9,
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
    backend, draws, tune, chains, seed, target_accept, progressbar
        Passed to :func:`bayes_scaling.sample`.
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
    if not isinstance(runs, Runs):
        runs = read_runs(runs)
    spec = load_spec(spec)
    if priors:
        spec = spec.with_priors(**priors)
    if pool:
        spec = spec.with_pooling(**(parse_pooling(pool) if isinstance(pool, str) else dict(pool)))
    model = build_model(runs, spec)
    check_priors(runs, spec)
    idata, settings = sample(model, backend=backend, draws=draws, tune=tune, chains=chains, seed=seed,
                             target_accept=target_accept, progressbar=progressbar, keep_partial=keep_partial)
    diagnostics = diagnose(idata, [n for n in idata["posterior"].data_vars if n not in spec.law_obj.natural_names
                                   or n in spec.law_obj.sampled])
    diagnostics = explain(diagnostics, idata, settings)
    warn_if_unconverged(diagnostics)
    return Fit(idata, runs, spec, settings, diagnostics, model_pivots(runs, spec))


def load_fit(path: str | Path) -> Fit:
    """Read a fit written by :meth:`Fit.save`, checking its format and data hash.

    Raises
    ------
    FitFileError
        If the file is missing, corrupt, truncated, not a bayes_scaling fit, or its data does not
        match the recorded hash.
    """
    path = Path(path)
    tree = read_tree(path)
    attrs = tree.attrs
    if attrs.get("format") != FORMAT:
        raise FitFileError(f"{path} was not written by bayes_scaling (format {attrs.get('format')!r})")
    if CHECKSUM_ATTR not in attrs:
        raise FitFileError(f"{path} has no checksums of its groups: it was not written by this version "
                           "of bayes_scaling or was altered; refit to get a verifiable file")
    try:
        expected = json.loads(attrs[CHECKSUM_ATTR])
    except (TypeError, ValueError):
        raise FitFileError(f"{path} has damaged checksums") from None
    verify_checksums(tree, expected, path)
    missing = [g for g in ("posterior", "runs") if g not in tree.children]
    if missing:
        raise FitFileError(f"{path} lacks group(s) {missing}")
    try:
        runs = Runs.from_dataset(tree["runs"].to_dataset())
        spec = ModelSpec.from_dict(json.loads(attrs["spec"]))
        settings = SamplerSettings(**json.loads(attrs["sampler"]))
        diagnostics = Diagnostics.from_dict(json.loads(attrs["diagnostics"]))
        pivots = _pivots_from_json(json.loads(attrs["pivots"]), Groups.from_runs(runs))
    except (KeyError, TypeError, ValueError) as exc:
        raise FitFileError(f"{path} has damaged provenance: {exc}") from None
    if runs.digest != attrs.get("data_sha256"):
        raise FitFileError(f"{path}: the stored runs do not match the recorded data hash")
    idata = xr.DataTree.from_dict({name: tree[name].to_dataset() for name in tree.children if name != "runs"})
    idata.attrs.update(attrs)
    warn_if_unconverged(diagnostics)
    return Fit(idata, runs, spec, settings, diagnostics, pivots)


def _pivots_to_json(pivots: Mapping[str, float | xr.DataArray]) -> dict:
    out = {}
    for k, v in pivots.items():
        out[k] = {"level": str(v.dims[0]), "values": v.values.tolist()} if isinstance(v, xr.DataArray) else float(v)
    return out


def _pivots_from_json(data: Mapping, groups: Groups) -> dict[str, float | xr.DataArray]:
    out: dict[str, float | xr.DataArray] = {}
    for k, v in data.items():
        if isinstance(v, Mapping):
            level = str(v["level"])
            out[k] = xr.DataArray(np.asarray(v["values"], dtype=float), dims=level,
                                  coords={level: list(groups.labels(level))})
        else:
            out[k] = float(v)
    return out


def format_summary(fit: Fit, prob: float = DEFAULT_PROB) -> str:
    """The summary as text, with the convergence verdict first (used by the CLI)."""
    table = fit.summary(prob)
    lines = []
    if fit.diagnostics.problems:
        lines += ["WARNING: " + problem for problem in fit.diagnostics.problems]
        lines.append("WARNING: do not trust these numbers until the sampler converges (more tune/draws, another seed)")
    d = fit.diagnostics
    lines.append(f"law: {fit.law.formula}   spec: {fit.spec.name}   runs: {len(fit.runs)}   "
                 f"sampler: {fit.settings.backend}, {fit.settings.chains}x{fit.settings.draws} draws")
    lines.append(f"diagnostics: {d.divergences} divergences, max R-hat {d.max_rhat:.3f}, "
                 f"min bulk ESS {d.min_ess_bulk:.0f}, min tail ESS {d.min_ess_tail:.0f}")
    groups = [c for c in ("domain", "task") if c in table.columns]
    shown = table[groups + ["median", "lower", "upper", "sd", "r_hat", "ess_bulk", "ess_tail"]].fillna({g: "" for g in groups})
    shown = shown.rename(columns={"lower": f"{prob:.0%} low", "upper": f"{prob:.0%} high"})
    lines.append(shown.to_string(float_format=lambda v: f"{v:.4g}"))
    return "\n".join(lines)


__all__ = ["Fit", "fit", "format_summary", "load_fit"]
