"""Simulation-based calibration: do the posterior's intervals cover the truth as often as they say?

``calibrate(spec, design, n_datasets=50)`` repeats: draw true parameters (from the spec's prior, from a
fit's posterior draws, or fixed), simulate losses on the design with :func:`bayes_scaling.validation.simulate.simulate_runs`
(the law plus Student-t or normal noise on log loss, exactly the model's likelihood), refit, and record
for each quantity (the law's natural parameters and, for laws with an N/D split, D*/N* at ``compute``)
whether the central intervals cover the truth and the SBC rank of the truth among the posterior draws
(Talts et al. 2018). With truth drawn from the prior the refit uses, ranks are uniform and coverage is
nominal for a correct sampler; with truth from a fit or fixed, coverage is the frequentist coverage at
those truths (what bootstrap tools such as simple-scaling-laws report) and ranks need not be uniform.

**Guard against extreme prior draws.** Weakly informative priors put some mass on laws no training run
would produce (losses of 1e-6 or 1e4 nats, Student-t noise with nu < 1). A simulated data set is
rejected, and counted in ``n_rejected``, when any loss falls outside ``loss_range`` or is not finite, or
the true D*/N* is not finite; the accepted truths then come from the prior restricted to sane data, a
(documented) departure from exact SBC when the rejection rate is high.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr
from scipy import stats

from ..data.reach import check_budget
from ..data.runs import Runs, read_runs
from ..defaults import CHINCHILLA_COMPUTE
from ..errors import InputError, SamplerWarning
from ..inference import SamplerSettings
from ..laws import Law
from ..laws.allocation import compute_grid, optimal_allocation
from ..model import model_pivots
from ..result.estimator import fit as fit_runs
from ..result.fit import Fit
from ..spec import ModelSpec, load_spec
from .scoring import records
from .simulate import simulate_runs

#: The sampler of each refit unless told otherwise: small, as many refits are made.
REFIT_SAMPLER = SamplerSettings(draws=500, tune=500, chains=2)

DEFAULT_LEVELS = (0.5, 0.8, 0.9)
#: Noise of a fixed truth that names none: the bundled chinchilla_sim's (Student-t, scale 0.01, nu 4).
DEFAULT_NOISE = {"sigma": 0.01, "nu": 4.0}
#: Simulated losses outside this range reject the data set (see the module docstring).
DEFAULT_LOSS_RANGE = (1e-2, 30.0)


@dataclass(frozen=True)
class Calibration:
    """Coverage and SBC ranks over simulated data sets.

    Attributes
    ----------
    coverage : pandas.DataFrame
        One row per quantity and level: ``quantity``, ``level``, ``n`` (data sets), ``covered``,
        ``coverage`` and ``se``, the binomial standard error of a coverage of ``level`` over ``n`` data sets;
        ``n_converged`` and ``coverage_converged``: the same over the refits without sampler warnings.
    ranks : pandas.DataFrame
        One row per data set and quantity: ``dataset``, ``quantity``, ``truth``, ``median``,
        ``lower_<p>``/``upper_<p>``, ``rank`` (posterior draws below the truth, among ``n_ranked``
        evenly thinned draws), ``converged`` (the sampler's verdict).
    histogram : pandas.DataFrame
        Rank histogram: one row per quantity, one column per bin of the normalised rank
        rank/(n_ranked + 1) in [0, 1), plus ``p_uniform`` (chi-square test of uniform counts).
    spec : str
    truth : str
        ``"prior"``, ``"fit"`` or ``"fixed"``.
    n_rejected : int
        Simulated data sets rejected by the guard (see the module docstring).
    levels : tuple of float
    compute : float
    settings : dict
        Sampler settings of the refits and the loss range of the guard.
    """

    coverage: pd.DataFrame
    ranks: pd.DataFrame
    histogram: pd.DataFrame
    spec: str
    truth: str
    n_rejected: int
    levels: tuple[float, ...]
    compute: float
    settings: dict = field(default_factory=dict)

    @property
    def n_datasets(self) -> int:
        """Data sets simulated, refitted and scored."""
        return int(self.ranks["dataset"].nunique())

    @property
    def n_unconverged(self) -> int:
        """Refits whose sampler reported a problem (divergences, R-hat, ESS)."""
        return int((~self.ranks.drop_duplicates("dataset")["converged"]).sum())

    def coverage_long(self) -> pd.DataFrame:
        """Nominal vs observed coverage, one row per quantity and level (for plots)."""
        return self.coverage.rename(columns={"quantity": "label", "level": "nominal", "coverage": "observed"})[
            ["label", "nominal", "observed"]]

    def to_dict(self) -> dict:
        """JSON-able summary: coverage table, rank histogram and counts (per-data-set ranks included)."""
        hist = self.histogram.reset_index()
        return {"spec": self.spec, "truth": self.truth, "n_datasets": self.n_datasets,
                "n_rejected": self.n_rejected, "n_unconverged": self.n_unconverged, "levels": list(self.levels),
                "compute": self.compute, "settings": self.settings,
                "coverage": records(self.coverage), "rank_histogram": records(hist),
                "ranks": self.ranks[["dataset", "quantity", "truth", "median", "rank", "n_ranked", "converged"]].to_dict(
                    orient="records")}


def calibrate(
    spec: ModelSpec | str = "chinchilla",
    design: pd.DataFrame | Runs | None = None,
    n_datasets: int = 50,
    truth: str | Fit | Mapping[str, float] = "prior",
    compute: float = CHINCHILLA_COMPUTE,
    levels: Sequence[float] = DEFAULT_LEVELS,
    seed: int = 0,
    sampler: SamplerSettings | None = None,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    backend: str | None = None,
    loss_range: tuple[float, float] = DEFAULT_LOSS_RANGE,
    rank_draws: int = 99,
    bins: int = 10,
    progress: bool = False,
) -> Calibration:
    """Simulate data sets from known truths, refit each, and measure interval coverage and SBC ranks.

    Parameters
    ----------
    spec : ModelSpec or spec name
        A spec whose parameters and noise are all shared (one group).
    design : DataFrame or Runs, optional
        The inputs of the simulated runs (``params`` and ``tokens``, or ``params`` and ``compute``);
        default :func:`bayes_scaling.validation.simulate.isoflop_design`, the design of ``chinchilla_sim``.
    n_datasets : int
        Data sets to simulate and refit.
    truth : "prior", Fit or mapping
        ``"prior"``: every data set draws its parameters and noise (sigma, nu) from the spec's priors
        (inputs centred at the design's pivots, as the model does); a :class:`Fit` of the same law: one
        random posterior draw per data set; a mapping: fixed natural parameters (e.g.
        ``simulate.EPOCH_PARAMS``), with ``sigma``/``nu`` defaulting to :data:`DEFAULT_NOISE`.
    compute : float
        Budget (FLOPs) at which D*/N* is checked (laws with an N/D split).
    levels : sequence of float
        Central interval masses.
    seed : int
        Seeds the truths, the noise and (as seed + i) each refit.
    sampler : SamplerSettings, optional
        How each refit is sampled (default :data:`REFIT_SAMPLER`: 2 chains x 500 draws after 500); its
        seed is replaced by seed + i for the i-th data set.
    draws, tune, chains, backend : optional
        Override single fields of ``sampler``.
        Sampler settings of each refit.
    loss_range : (float, float)
        Simulated data sets with a loss outside this range are rejected and counted.
    rank_draws : int
        Posterior draws (evenly thinned) the truth is ranked among; ranks lie in 0..rank_draws.
    bins : int
        Bins of the rank histogram.
    progress : bool
        Print one line per data set on stderr.

    Returns
    -------
    Calibration

    Raises
    ------
    InputError
        A pooled spec, a fit of another law, a bad design or arguments, or too many rejected draws.
    """
    spec = load_spec(spec)
    law = spec.law_obj
    levels, design_runs = _checked(spec, n_datasets, rank_draws, bins, levels, design, compute)
    frame = design_runs.table[[c for c in ("params", "tokens", "compute") if c in design_runs.table]]
    rng = np.random.default_rng(seed)
    truths, label = _truth_source(spec, design_runs, truth, rng)
    quantities = list(law.natural_names) + (["ratio"] if law.has_allocation else [])
    sampler = (sampler or REFIT_SAMPLER).with_options(backend=backend, draws=draws, tune=tune, chains=chains)
    rows, rejected, attempts = [], 0, 0
    while len({r["dataset"] for r in rows}) < n_datasets:
        attempts += 1
        if attempts > 50 * n_datasets + 100:
            raise InputError(f"rejected {rejected} of {attempts - 1} simulated data sets (losses outside "
                             f"{loss_range}); widen loss_range or use more informative priors")
        accepted = _simulate_dataset(spec, next(truths), frame, rng, loss_range, compute, design_runs.compute_factor)
        if accepted is None:
            rejected += 1
            continue
        sim, values = accepted
        i = len({r["dataset"] for r in rows})
        result, scored = _refit_dataset(sim, values, i, spec, design_runs.compute_factor, quantities, compute,
                                        levels, rank_draws, replace(sampler, seed=seed + i))
        rows.extend(scored)
        if progress:
            _print_progress(i, n_datasets, result, rejected, scored, levels)
    ranks = pd.DataFrame(rows)
    coverage = _coverage(ranks, quantities, levels)
    histogram = _histogram(ranks, quantities, rank_draws, bins)
    settings = {"draws": sampler.draws, "tune": sampler.tune, "chains": sampler.chains, "backend": sampler.backend,
                "seed": seed,
                "loss_range": list(loss_range), "design_runs": len(design_runs), "rank_draws": rank_draws}
    return Calibration(coverage, ranks.drop(columns=[c for c in ranks if c.startswith("covered_")]), histogram,
                       spec.name, label, rejected, levels, float(compute), settings)


def _checked(spec: ModelSpec, n_datasets: int, rank_draws: int, bins: int, levels: Sequence[float],
             design: pd.DataFrame | Runs | None, compute: float) -> tuple[tuple[float, ...], Runs]:
    """The arguments of :func:`calibrate` refused before any simulated fit; the levels and the design runs."""
    from .simulate import isoflop_design

    if spec.level() != "shared" or spec.noise_pooling != "shared":
        raise InputError(f"calibrate simulates one group of runs: spec '{spec.name}' pools by group; use a shared spec")
    if n_datasets < 1 or rank_draws < 1 or bins < 1:
        raise InputError("n_datasets, rank_draws and bins must be at least 1")
    levels = tuple(float(p) for p in levels)
    if not levels or any(not 0 < p < 1 for p in levels):
        raise InputError(f"levels must lie strictly between 0 and 1, got {list(levels)}")
    design_runs = _design(isoflop_design() if design is None else design)
    if spec.law_obj.has_allocation:  # the D*/N* check's budget, as an answer's would be
        check_budget(design_runs, compute_grid(compute).values)
    return levels, design_runs


def _simulate_dataset(spec: ModelSpec, true: Mapping[str, float], frame: pd.DataFrame, rng: np.random.Generator,
                      loss_range: tuple[float, float], compute: float,
                      factor: float) -> tuple[pd.DataFrame, dict[str, float]] | None:
    """Simulate one data set at ``true``: the runs and true quantities, or None when the guard rejects it."""
    law = spec.law_obj
    nu = None if spec.likelihood == "normal" or not math.isfinite(true["nu"]) else true["nu"]
    with np.errstate(all="ignore"):
        sim = simulate_runs(frame, law.name, {k: true[k] for k in law.natural_names if k in true},
                            sigma=true["sigma"], nu=nu, seed=int(rng.integers(2**31)))
    loss = sim["loss"].to_numpy()
    sane = bool(np.all(np.isfinite(loss)) and loss.min() > loss_range[0] and loss.max() < loss_range[1])
    values = _truth_values(law, true, compute, factor) if sane else {}
    if not sane or not all(math.isfinite(v) for v in values.values()):
        return None
    return sim, values


def _refit_dataset(sim: pd.DataFrame, values: Mapping[str, float], i: int, spec: ModelSpec, factor: float,
                   quantities: Sequence[str], compute: float, levels: Sequence[float], rank_draws: int,
                   sampler: SamplerSettings) -> tuple[Fit, list[dict]]:
    """Refit the ``i``-th simulated data set and score each quantity's truth against its posterior."""
    runs = read_runs(sim[[c for c in ("params", "tokens", "compute", "loss") if c in sim]], compute_factor=factor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplerWarning)
        result = fit_runs(runs, spec, sampler=sampler)
    post = _posterior_values(result, quantities, compute)
    return result, [_score(i, q, values[q], post[q], levels, rank_draws, result.diagnostics.ok) for q in quantities]


def _print_progress(i: int, n_datasets: int, result: Fit, rejected: int, scored: Sequence[dict],
                    levels: Sequence[float]) -> None:
    """Print one line on stderr about the ``i``-th refit."""
    cover = np.mean([r[f"covered_{_pct(levels[-1])}"] for r in scored])
    print(f"[{i + 1}/{n_datasets}] {result.settings.seconds:.1f}s sampling, {rejected} rejected so far, "
          f"{cover:.0%} of quantities inside their {levels[-1]:.0%} interval"
          f"{'' if result.diagnostics.ok else ' (sampler warnings)'}", file=sys.stderr, flush=True)


def _pct(p: float) -> str:
    return format(round(100 * p, 6), "g")


def _design(design: pd.DataFrame | Runs) -> Runs:
    if isinstance(design, Runs):
        return design
    if not isinstance(design, pd.DataFrame):
        raise InputError(f"design must be a DataFrame or Runs, got {type(design).__name__}")
    cols = [c for c in ("params", "tokens", "compute") if c in design.columns]
    return read_runs(design[cols].assign(loss=1.0), source="design")


def _truth_source(spec: ModelSpec, design: Runs, truth: str | Fit | Mapping[str, float],
                  rng: np.random.Generator) -> tuple[Iterator[dict[str, float]], str]:
    law = spec.law_obj
    if isinstance(truth, str):
        if truth != "prior":
            raise InputError(f"truth must be 'prior', a Fit or a mapping of natural parameters, got {truth!r}")
        return _prior_draws(spec, design, rng), "prior"
    if isinstance(truth, Fit):
        if truth.law.name != law.name or truth.level != "shared":
            raise InputError(f"truth fit must be a shared fit of the '{law.name}' law, got '{truth.spec.name}'")
        params = truth.parameters()
        flat = {k: params[k].values.ravel() for k in params.data_vars}
        flat.setdefault("nu", np.full_like(flat["sigma"], np.inf))

        def from_fit() -> Iterator[dict[str, float]]:
            while True:
                j = int(rng.integers(flat["sigma"].size))
                yield {k: float(v[j]) for k, v in flat.items()}

        return from_fit(), "fit"
    if isinstance(truth, Mapping):
        missing = [k for k in law.natural_names if k not in truth and k != "a"]
        if missing:
            raise InputError(f"fixed truth lacks natural parameter(s) {missing} of the '{law.name}' law")
        fixed = {**DEFAULT_NOISE, **{k: float(v) for k, v in truth.items()}}

        def constant() -> Iterator[dict[str, float]]:
            while True:
                yield dict(fixed)

        return constant(), "fixed"
    raise InputError(f"truth must be 'prior', a Fit or a mapping, got {type(truth).__name__}")


def _prior_draws(spec: ModelSpec, design: Runs, rng: np.random.Generator, batch: int = 256) -> Iterator[dict[str, float]]:
    law = spec.law_obj
    pivots = model_pivots(design, spec)
    names = list(law.sampled) + ["sigma"] + (["nu"] if spec.likelihood == "student_t" else [])
    while True:
        variables = [getattr(pm, spec.priors[n].dist).dist(**spec.priors[n].kwargs) for n in names]
        values = pm.draw(variables, draws=batch, random_seed=int(rng.integers(2**31)))  # one compiled function
        draws = {n: np.asarray(v, dtype=float) for n, v in zip(names, values)}
        natural = law.natural({k: draws[k] for k in law.sampled}, pivots)
        for j in range(batch):
            out = {k: float(v[j]) for k, v in natural.items()}
            out["sigma"] = float(draws["sigma"][j])
            out["nu"] = float(draws["nu"][j]) if "nu" in draws else math.inf
            yield out


def _truth_values(law: Law, true: Mapping[str, float], compute: float, factor: float) -> dict[str, float]:
    values = {k: float(true[k]) for k in law.natural_names if k in true}
    if "a" in law.natural_names and "a" not in values:
        values["a"] = values["beta"] / (values["alpha"] + values["beta"])
    if law.has_allocation:
        with np.errstate(all="ignore"):
            one = {k: xr.DataArray([[v]], dims=("chain", "draw")) for k, v in values.items()}
            sampled = law.sampled_from_natural(one)
            opt = optimal_allocation(law, sampled, {k: 0.0 for k in law.inputs}, [compute], factor)
        values["ratio"] = float(opt["ratio"].values.ravel()[0])
    return values


def _posterior_values(result: Fit, quantities: Sequence[str], compute: float) -> dict[str, np.ndarray]:
    params = result.parameters()
    out = {q: params[q].values.ravel() for q in quantities if q != "ratio"}
    if "ratio" in quantities:
        out["ratio"] = result.optimal([compute])["ratio"].values.ravel()
    return out


def _score(i: int, quantity: str, truth: float, draws: np.ndarray, levels: Sequence[float], rank_draws: int,
           converged: bool) -> dict:
    row = {"dataset": i, "quantity": quantity, "truth": truth, "median": float(np.median(draws))}
    for p in levels:
        lo, hi = np.quantile(draws, [(1 - p) / 2, (1 + p) / 2])
        row.update({f"lower_{_pct(p)}": float(lo), f"upper_{_pct(p)}": float(hi), f"covered_{_pct(p)}": bool(lo <= truth <= hi)})
    thin = draws[np.unique(np.linspace(0, draws.size - 1, min(rank_draws, draws.size)).round().astype(int))]
    row.update({"rank": int(np.sum(thin < truth)), "n_ranked": int(thin.size), "converged": bool(converged)})
    return row


def _coverage(ranks: pd.DataFrame, quantities: Sequence[str], levels: Sequence[float]) -> pd.DataFrame:
    rows = []
    for q in quantities:
        frame = ranks[ranks["quantity"] == q]
        for p in levels:
            covered = int(frame[f"covered_{_pct(p)}"].sum())
            n = len(frame)
            ok = frame[frame["converged"]]
            rows.append({"quantity": q, "level": p, "n": n, "covered": covered, "coverage": covered / n,
                         "se": math.sqrt(max(p * (1 - p), 1e-12) / n), "n_converged": len(ok),
                         "coverage_converged": float(ok[f"covered_{_pct(p)}"].mean()) if len(ok) else math.nan})
    return pd.DataFrame(rows)


def _histogram(ranks: pd.DataFrame, quantities: Sequence[str], rank_draws: int, bins: int) -> pd.DataFrame:
    rows = {}
    for q in quantities:
        frame = ranks[ranks["quantity"] == q]
        u = frame["rank"].to_numpy() / (frame["n_ranked"].to_numpy() + 1)  # in [0, 1)
        counts = np.bincount(np.minimum((u * bins).astype(int), bins - 1), minlength=bins)
        p = float(stats.chisquare(counts).pvalue) if counts.sum() >= bins else float("nan")
        rows[q] = {**{f"{b / bins:.2f}-{(b + 1) / bins:.2f}": int(c) for b, c in enumerate(counts)}, "p_uniform": p}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("quantity")


__all__ = ["CHINCHILLA_COMPUTE", "Calibration", "calibrate"]
