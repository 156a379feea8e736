"""Running one sweep job: its data and spec, the fit or backtest, one tidy row, and atomic results.

:func:`run_job` writes ``<key>.nc`` (the posterior) and then ``<key>.json`` (the row), each through
a temporary file and a rename: a worker killed at any moment leaves a whole result or none, and the
row, written last, marks the job finished (:func:`finished_row`).
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from ..defaults import CHINCHILLA_COMPUTE
from ..errors import QueryError, SamplerWarning
from ..result.estimator import fit
from ..result.fit import Fit
from ..result.intervals import interval_table
from ..result.storage import atomic_path
from .jobs import Job, job_runs, job_spec

#: Budget (FLOPs) at which a row reports the compute-optimal allocation: Chinchilla's 6·70e9·1.4e12.
REFERENCE_COMPUTE = CHINCHILLA_COMPUTE
#: Mass of the central intervals in a row: columns ``<quantity>_p10`` and ``<quantity>_p90``.
ROW_PROB = 0.8


def run_job(job: Job, results_dir: str | Path) -> dict[str, Any]:
    """Run one job and write its fit and its row; a failure becomes a row, never an exception.

    Parameters
    ----------
    job : Job
    results_dir : str or Path
        Where ``<key>.nc`` (the posterior) and ``<key>.json`` (the row) are written, each through a
        temporary file and a rename, so that a killed worker leaves either a whole result or none.

    Returns
    -------
    dict
        The row: the job's fields and tags, ``key``, ``status`` (``"ok"`` or ``"failed"``),
        ``error`` (one line), ``seconds``; for a finished job also the diagnostics (``converged``,
        ``divergences``, ``max_rhat``, ``min_ess_bulk``, ``min_ess_tail``), median and 80% interval
        of every shared natural parameter (``alpha_median``, ``alpha_p10``, ``alpha_p90`` ...) and,
        for laws in N and D, of the compute-optimal ``opt_params``, ``opt_tokens``, ``opt_ratio``
        (D*/N*) and ``opt_loss`` at :data:`REFERENCE_COMPUTE`; with a holdout the backtest metrics
        as ``<method>_<metric>`` plus ``n_train`` and ``n_test``. If the job had already finished in
        ``results_dir``, nothing runs and the row found there is returned.
    """
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    done = finished_row(job, results_dir)
    if done is not None:  # a duplicate or a recomputed task: the result on disk stands
        return done
    start = time.perf_counter()
    row: dict[str, Any] = {**job_columns(job), "status": "ok", "error": ""}
    try:
        result, metrics = _execute(job)
        row.update(_fit_columns(result))
        row.update(_metric_columns(metrics))
        result.save(results_dir / f"{job.key}.nc")  # atomic
    except Exception as exc:  # noqa: BLE001  (a sweep reports every failure as a row)
        row.update(status="failed", error=one_line(exc))
    row["seconds"] = round(time.perf_counter() - start, 3)
    text = json.dumps(row, default=_builtin)
    with atomic_path(results_dir / f"{job.key}.json") as tmp:
        tmp.write_text(text)
    return json.loads(text)  # exactly what a later run reads back


def job_columns(job: Job) -> dict[str, Any]:
    """The job as table columns: its fields (overrides as text), tags and key."""
    data = job.to_dict()
    data["pool"] = ",".join(f"{k}={v}" for k, v in data["pool"].items())
    data["priors"] = json.dumps(data["priors"], sort_keys=True) if data["priors"] else ""
    return {**data, **job.tags, "key": job.key}


def _execute(job: Job) -> tuple[Fit, pd.DataFrame | None]:
    spec = job_spec(job)
    runs = job_runs(job, spec)
    with warnings.catch_warnings(), _quiet("pymc"):
        warnings.simplefilter("ignore", SamplerWarning)  # the row carries the diagnostics
        if job.holdout is None:
            return fit(runs, spec, sampler=job.sampler()), None
        from ..validation.backtest import backtest

        result = backtest(runs, spec, holdout=job.holdout, sampler=job.sampler())
        return result.fit, result.metrics


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Hold back a library's progress messages (one per fit): the sweep reports progress itself."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _fit_columns(result: Fit) -> dict[str, Any]:
    d = result.diagnostics
    row: dict[str, Any] = {"law": result.spec.law, "n_runs": len(result.runs), "converged": d.ok,
                           "divergences": d.divergences, "max_rhat": d.max_rhat, "min_ess_bulk": d.min_ess_bulk,
                           "min_ess_tail": d.min_ess_tail, "problems": "; ".join(d.problems)}
    params = result.parameters()
    row.update(_interval_columns(params[[n for n in params.data_vars if set(params[n].dims) == {"chain", "draw"}]]))
    if set(result.law.inputs) == {"params", "tokens"}:
        try:
            optimal = result.optimal(REFERENCE_COMPUTE, level="shared").isel(compute=0, drop=True)
        except QueryError:  # e.g. parameters fitted separately per group have no shared value
            return row
        row["opt_compute"] = REFERENCE_COMPUTE
        row.update(_interval_columns(optimal, prefix="opt_"))
    return row


def _interval_columns(draws: xr.Dataset, prefix: str = "") -> dict[str, float]:
    if not draws.data_vars:
        return {}
    out = {}
    for r in interval_table(draws, ROW_PROB).itertuples():
        name = f"{prefix}{r.variable}"
        out.update({f"{name}_median": float(r.median), f"{name}_p10": float(r.lower), f"{name}_p90": float(r.upper)})
    return out


def _metric_columns(metrics: pd.DataFrame | None) -> dict[str, Any]:
    if metrics is None:
        return {}
    out: dict[str, Any] = {}
    for record in metrics.to_dict(orient="records"):
        method = record.pop("method")
        out["n_train"], out["n_test"] = int(record.pop("n_train")), int(record.pop("n_test"))
        out.update({f"{method}_{k}": v for k, v in record.items()})
    return out


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line (at most 500 characters)."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:500]


def _builtin(value: object) -> object:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to a row")


def finished_row(job: Job, results_dir: str | Path) -> dict[str, Any] | None:
    """The row of a job that already finished in ``results_dir`` (fit and row on disk), else None.

    Failed jobs count as unfinished: a restarted sweep tries them again.
    """
    path = Path(results_dir) / f"{job.key}.json"
    try:
        row = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if row.get("status") != "ok" or not path.with_suffix(".nc").is_file():
        return None
    return {**row, **job_columns(job)}  # the current tags, should the grid's names have changed


__all__ = ["REFERENCE_COMPUTE", "ROW_PROB", "finished_row", "job_columns", "run_job"]
