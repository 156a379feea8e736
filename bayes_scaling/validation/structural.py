"""The structural-error prior, learned out of sample across studies, and scored leave-one-study-out.

Each study is a posterior fitted to its smaller runs and the held-out runs beyond them
(``benchmarks/calibration_real.py fit`` caches both). For a candidate prior (median ``scale`` and
log-scale ``spread`` of tau ~ LogNormal, growth ``power``, the ``distance`` in decades or relative to
the data's span; :mod:`bayes_scaling.structural`) a study's score is the mean log
predictive density of its held-out runs under the posterior predictive widened by the structural
error. The mean log predictive density is a proper score: a prior cannot gain by widening intervals
where the law holds, nor by narrowing them where it fails.

Leave-one-study-out: the prior used to score study s maximises the mean over the *other* studies of
their scores, on a grid of scales, spreads, powers and both distances (every study weighs the same, however many runs it
holds out). The shipped prior maximises the mean over all studies. Nothing here depends on random
numbers beyond the cached fits: the tau draws are stratified quantiles (:func:`growth_draws`), so the
learned prior is regenerated bit-identically from the same fits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.runs import read_runs
from ..result.fit import Fit
from ..result.fitfile import load_fit
from ..result.storage import atomic_path
from ..structural import DISTANCES, convolved, decades_beyond, extra_sd, growth_draws
from ..version import package_version
from .predictive import draw_matrices
from .scoring import DEFAULT_LEVELS, pointwise_scores, summarise

#: Candidate medians of tau (sd on log loss one decade out): 0 and 1e-3 ... 1 (ratio ~1.12).
SCALE_GRID = np.concatenate([[0.0], np.geomspace(1e-3, 1.0, 61)])
#: Candidate log-scale sds of tau's prior (0: tau fixed).
SPREAD_GRID = (0.0, 0.5, 1.0, 1.5)
#: Candidate growth exponents of the sd with the distance beyond the data (the learned curve prior's
#: power, 3, lies inside it).
POWER_GRID = (0.0625, 0.125, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
#: Draws and held-out runs a study contributes to the learning objective (evenly thinned; all are scored).
LEARN_DRAWS = 400
LEARN_RUNS = 2000
METHODS = ("posterior", "posterior+structural", "huber", "bootstrap", "bootstrap+noise", "m4")


@dataclass
class Study:
    """One study's posterior predictive at its held-out runs, as matrices over (draw, run)."""

    name: str
    fit: Fit
    log_obs: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    nu: np.ndarray | None
    distances: dict[str, np.ndarray]
    per_run: pd.DataFrame
    seed: int

    def scores(self, scale: float, spread: float, power: float, distance: str,
               draws: slice | np.ndarray = slice(None), runs: slice | np.ndarray = slice(None)) -> pd.DataFrame:
        """Per-run scores of the predictive widened by the structural error (scale, spread, power, distance)."""
        mu, sigma = self.mu[draws][:, runs], self.sigma[draws][:, runs]
        tau = growth_draws(scale, spread, mu.shape[0], self.seed)
        nu = None if self.nu is None else self.nu[draws]
        extra = extra_sd(tau, self.distances[distance][runs], power)
        return pointwise_scores(self.log_obs[runs], mu, *convolved(sigma, nu, extra, self.seed))


def load_study(cache: Path, name: str) -> Study:
    """A study cached by the benchmark's ``fit`` stage: ``<name>.nc``, ``.test.csv``, ``.per_run.csv``."""
    fit = load_fit(cache / f"{name}.nc")
    test = read_runs(pd.read_csv(cache / f"{name}.test.csv"), compute_factor=fit.runs.compute_factor,
                     check_units=False, source=name)
    mu, sigma, nu = draw_matrices(fit, test)
    distances = {kind: decades_beyond(fit.runs.table, test.table, fit.law.distance_inputs, fit.per_task, relative=kind == "relative")
                 for kind in DISTANCES}
    per_run = pd.read_csv(cache / f"{name}.per_run.csv", keep_default_na=False, na_values=[""])
    return Study(name, fit, np.log(test.column("loss")), mu, sigma, nu, distances, per_run, fit.settings.seed)


def _thinned(n: int, limit: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(n, limit)).round().astype(int))


def score_grid(study: Study) -> np.ndarray:
    """Mean log predictive density of the study's held-out runs on the grid (distance, spread, power, scale)."""
    draws, runs = _thinned(study.mu.shape[0], LEARN_DRAWS), _thinned(study.mu.shape[1], LEARN_RUNS)
    out = np.empty((len(DISTANCES), len(SPREAD_GRID), len(POWER_GRID), len(SCALE_GRID)))
    for g, distance in enumerate(DISTANCES):
        for h, spread in enumerate(SPREAD_GRID):
            for i, power in enumerate(POWER_GRID):
                for j, scale in enumerate(SCALE_GRID):
                    out[g, h, i, j] = float(study.scores(scale, spread, power, distance, draws, runs)["lpd"].mean())
    return out


Prior = tuple[float, float, float, str]


def best(grids: Sequence[np.ndarray]) -> Prior:
    """The (scale, spread, power, distance) maximising the mean over studies of their mean log predictive density."""
    total = np.mean(np.stack(grids), axis=0)
    g, h, i, j = np.unravel_index(int(np.argmax(total)), total.shape)
    return float(SCALE_GRID[j]), float(SPREAD_GRID[h]), float(POWER_GRID[i]), DISTANCES[g]


@dataclass
class Learned:
    """Scores of every study and method, the leave-one-out priors, and the prior learned from all."""

    metrics: pd.DataFrame
    loso: dict[str, Prior]
    scale: float
    spread: float
    power: float
    distance: str
    studies: list[str]
    levels: tuple[float, ...] = field(default=DEFAULT_LEVELS)

    def to_dict(self) -> dict:
        rows = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
                for r in self.metrics.to_dict(orient="records")]
        keys = ("scale", "spread", "power", "distance")
        return {"levels": list(self.levels), "prior": dict(zip(keys, (self.scale, self.spread, self.power, self.distance))),
                "loso_priors": {k: dict(zip(keys, v)) for k, v in self.loso.items()},
                "studies": self.studies, "metrics": rows}

    def markdown(self) -> str:
        cols = ["study", "domain", "method", "n_test", "coverage_50", "coverage_80", "coverage_90", "coverage_95",
                "coverage_error", "mlpd", "mlpd_loss", "rmsle"]
        lines = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
        for row in self.metrics[cols].itertuples(index=False):
            cells = [f"{v:.3f}" if isinstance(v, float) and math.isfinite(v) else ("–" if isinstance(v, float) else str(v))
                     for v in row]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def held_out(self, column: str) -> str:
        """``{ min, median, max }`` over the studies of ``column`` of their leave-one-out structural rows (TOML)."""
        rows = self.metrics[(self.metrics["method"] == "posterior+structural") & (self.metrics["domain"] == "")]
        values = rows[column].to_numpy(dtype=float)
        return (f"{{ min = {np.min(values):.3f}, median = {np.median(values):.3f}, max = {np.max(values):.3f} }}"
                if len(values) else "{}")

    def write_prior(self, path: Path, command: str) -> Path:
        """The learned prior as TOML data with its provenance and its held-out record (atomic write)."""
        text = "\n".join([
            "# The structural-error prior learned across real studies (bayes_scaling.structural).",
            "# Generated data: do not edit; regenerate with the command below.",
            f"scale = {self.scale!r}",
            f"spread = {self.spread!r}",
            f"power = {self.power!r}",
            f'distance = "{self.distance}"',
            f"studies_count = {len(self.studies)}",
            "studies = [" + ", ".join(f'"{s}"' for s in self.studies) + "]",
            f'command = "{command}"',
            f'package_version = "{package_version()}"',
            f'generated = "{date.today().isoformat()}"',
            "# Held-out record: each study's held-out runs scored with the prior learned from the other studies.",
            f"held_out_coverage_90 = {self.held_out('coverage_90')}",
            f"held_out_coverage_error = {self.held_out('coverage_error')}",
            "",
        ])
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as temp:
            temp.write_text(text)
        return path


def _frames(study: Study, prior: Prior) -> dict[str, pd.DataFrame]:
    """Each method's per-run rows: the cached ones, and the structural error's under ``prior``."""
    scale, spread, power, distance = prior
    cached = study.per_run
    labels = cached.loc[cached["method"] == "posterior", ["task", "domain"]].reset_index(drop=True)
    scores = study.scores(scale, spread, power, distance)
    mine = pd.DataFrame({"loss": np.exp(study.log_obs), **{c: scores[c].to_numpy() for c in scores}})
    frames = {m: cached[cached["method"] == m] for m in METHODS if m in set(cached["method"])}
    frames["posterior+structural"] = pd.concat([mine, labels], axis=1)
    return {m: frames[m] for m in METHODS if m in frames}


def _rows(study: Study, prior: Prior, levels: Sequence[float]) -> list[dict]:
    """One row per method of the study's pooled scores; for studies of many curves also one per domain
    with the scores averaged over its curves (how learning-curve benchmarks report them)."""
    rows = []
    for method, frame in _frames(study, prior).items():
        mine = method == "posterior+structural"
        extra = dict(zip(("scale", "spread", "power", "distance"), prior if mine else (math.nan,) * 3 + ("",)))
        rows.append({"study": study.name, "method": method, "domain": "", **summarise(frame, levels), **extra})
        if frame["task"].nunique() < 10:
            continue
        for domain, part in frame.groupby("domain", sort=True):
            tasks = [summarise(f, levels) for _, f in part.groupby("task", sort=False)]
            mean = {k: float(np.mean([t[k] for t in tasks])) for k in tasks[0] if k != "n_test"}
            rows.append({"study": study.name, "method": method, "domain": f"{domain} ({len(tasks)} curves, mean)",
                         "n_test": len(part), **mean, **extra})
    return rows


def learn_and_score(cache: Path, names: Sequence[str], levels: Sequence[float] = DEFAULT_LEVELS) -> Learned:
    """Learn the structural-error prior leave-one-study-out and score every study (see the module docstring)."""
    studies = [load_study(Path(cache), n) for n in names]
    grids = {s.name: score_grid(s) for s in studies}
    loso = {s.name: best([g for n, g in grids.items() if n != s.name]) if len(grids) > 1 else (0.0, 0.0, 1.0, "decades")
            for s in studies}
    rows = [r for s in studies for r in _rows(s, loso[s.name], levels)]
    return Learned(pd.DataFrame(rows), loso, *best(list(grids.values())), list(names), tuple(levels))


__all__ = ["POWER_GRID", "SCALE_GRID", "Learned", "Study", "best", "learn_and_score", "load_study", "score_grid"]
