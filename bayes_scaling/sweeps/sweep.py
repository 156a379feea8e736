"""Sweeps: many independent fits or backtests on Dask workers, gathered into one tidy table.

:func:`sweep` runs a list of :class:`~bayes_scaling.sweeps.jobs.Job` (often from
:func:`jobs_from_toml`) on a Dask cluster: a :func:`local_cluster` by default, an existing one by
scheduler address or ``Client``. Each job runs through :func:`run_job`, which files its fit and its
row under the job's key; jobs already finished in the results folder are skipped, so a sweep started
again resumes. Dask is optional (``pip install "bayes_scaling[sweep]"``) and imported only when a
sweep runs on it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import BackendError
from .jobs import Job, jobs_from_dict, jobs_from_toml, validate_job
from .run import (
    REFERENCE_COMPUTE,
    finished_row,
    job_columns,
    one_line,
    run_job,
)

if TYPE_CHECKING:  # pragma: no cover
    import distributed

INSTALL_HINT = 'pip install "bayes_scaling[sweep]"'
#: Seconds to wait for the workers of a local cluster to start.
WORKER_START_TIMEOUT = 120


@dataclass(frozen=True)
class SweepProgress:
    """Where a sweep stands; passed to the ``progress`` callback of :func:`sweep` at every change.

    ``done`` counts finished jobs including the ``skipped`` ones found on disk; ``running`` is the
    number of busy worker threads; ``last`` is the row of the job that just ended, if any.
    """

    total: int
    done: int
    failed: int
    running: int
    skipped: int
    last: Mapping[str, Any] | None = None

    @property
    def waiting(self) -> int:
        """Jobs not started yet."""
        return self.total - self.done - self.failed - self.running

    def __str__(self) -> str:
        text = (f"{self.done}/{self.total} done ({self.skipped} from earlier runs), {self.failed} failed, "
                f"{self.running} running, {self.waiting} waiting")
        if self.last is not None:
            text += f"; last {self.last['key']} {self.last['status']} in {self.last.get('seconds', float('nan')):.1f} s"
            if self.last["status"] != "ok":
                text += f": {self.last['error']}"
        return text


# -- the sweep -------------------------------------------------------------------------------------

def sweep(
    jobs: Iterable[Job],
    client: distributed.Client | None = None,
    scheduler: str | None = None,
    n_workers: int | None = None,
    results_dir: str | Path = "sweep-results",
    progress: Callable[[SweepProgress], None] | None = None,
    serial: bool = False,
) -> pd.DataFrame:
    """Run jobs on Dask workers (or in this process) and gather one row per job.

    Parameters
    ----------
    jobs : iterable of Job
        Validated before anything starts (:func:`validate_job`); duplicates (same key) run once.
    client : distributed.Client, optional
        Run on this client's cluster.
    scheduler : str, optional
        Address of an existing scheduler (``"tcp://host:8786"``) when no client is given.
    n_workers : int, optional
        Workers of the :func:`local_cluster` started when neither ``client`` nor ``scheduler`` is
        given (default: one per CPU core, at most one per job).
    results_dir : str or Path
        Folder of ``<key>.nc`` and ``<key>.json``; workers and this process must both reach it.
        Jobs whose result is already there are skipped, so a sweep started again resumes.
    progress : callable, optional
        Called with a :class:`SweepProgress` at the start and whenever a job starts or ends.
    serial : bool
        Run the jobs one after another in this process (no Dask): the same rows.

    Returns
    -------
    pandas.DataFrame
        One row per job in the order given (see :func:`run_job`); failed jobs have ``status``
        ``"failed"`` and their one-line ``error``, and a job whose worker was lost is reported as
        failed with a ``lost:`` error (it is not written, so the next start runs it again).

    Raises
    ------
    SpecError, DatasetError, BackendError
        If a job is invalid, or Dask is needed but not installed.
    """
    unique = list(dict.fromkeys(jobs))
    for job in unique:
        validate_job(job)
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    rows = {job.key: finished_row(job, results_dir) for job in unique}
    todo = [job for job in unique if rows[job.key] is None]
    tracker = _Tracker(len(unique), len(unique) - len(todo), progress)
    tracker.report(running=0)
    if todo:
        runner = _run_serial(todo, results_dir, tracker) if serial else _run_dask(
            todo, results_dir, tracker, client, scheduler, n_workers)
        for row in runner:
            rows[row["key"]] = row
    return pd.DataFrame([rows[job.key] for job in unique])


class _Tracker:
    """Counts of a running sweep, reported through the progress callback."""

    def __init__(self, total: int, skipped: int, callback: Callable[[SweepProgress], None] | None) -> None:
        self.total, self.skipped, self.done, self.failed = total, skipped, skipped, 0
        self.callback = callback

    def report(self, running: int, last: Mapping[str, Any] | None = None) -> None:
        if last is not None:
            self.done += last["status"] == "ok"
            self.failed += last["status"] != "ok"
        if self.callback is not None:
            self.callback(SweepProgress(self.total, self.done, self.failed, running, self.skipped, last))


def _run_serial(todo: list[Job], results_dir: Path, tracker: _Tracker) -> Iterator[dict[str, Any]]:
    for job in todo:
        tracker.report(running=1)
        row = run_job(job, results_dir)
        tracker.report(running=0, last=row)
        yield row


def _run_dask(todo: list[Job], results_dir: Path, tracker: _Tracker, client: distributed.Client | None,
              scheduler: str | None, n_workers: int | None) -> Iterator[dict[str, Any]]:
    dd = _distributed()
    with ExitStack() as stack:
        if client is None and scheduler:
            client = stack.enter_context(dd.Client(scheduler))
        elif client is None:
            count = n_workers or min(len(todo), os.cpu_count() or 1)
            client = stack.enter_context(dd.Client(stack.enter_context(local_cluster(count))))
            client.wait_for_workers(count, timeout=WORKER_START_TIMEOUT)
        folder = str(results_dir.resolve())
        futures = {client.submit(run_job, job, folder, key=f"bayes-scaling-sweep-{job.key}", pure=False): job
                   for job in todo}
        left = len(futures)
        tracker.report(running=min(left, _threads(client)))
        try:
            for future in dd.as_completed(futures):
                row = _outcome(future, futures[future])
                future.release()  # else the scheduler recomputes it should the worker holding the row die
                left -= 1
                tracker.report(running=min(left, _threads(client)), last=row)
                yield row
        finally:
            client.cancel(list(futures))


def _outcome(future: distributed.Future, job: Job) -> dict[str, Any]:
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001  (a lost worker, a cancelled future: the job is not lost)
        return {**job_columns(job), "status": "failed", "error": "lost: " + one_line(exc), "seconds": float("nan")}


def _threads(client: distributed.Client) -> int:
    return sum(client.nthreads().values())


def local_cluster(n_workers: int | None = None, compile_root: str | Path | None = None) -> distributed.SpecCluster:
    """A Dask cluster on this machine for sweeps: ``n_workers`` single-threaded worker processes.

    Each worker has its own PyTensor compile directory (``<compile_root>/worker-<i>``, by default
    under PyTensor's ``base_compiledir``, kept between sweeps so that compiled models are reused) and
    one BLAS/OpenMP thread; fits inside a worker run their chains one after another. Workers start
    from fresh ``python -m dask spec`` processes (Dask's ``SubprocessWorker``), not from this one:
    PyTensor reads its flags when it is first imported, which a worker spawned from a process that
    imports bayes_scaling at its top would do before its own environment applies.

    Parameters
    ----------
    n_workers : int, optional
        Default: one per CPU core.
    compile_root : str or Path, optional
        Parent of the workers' compile directories.

    Returns
    -------
    distributed.SpecCluster
        Close it (or use it as a context manager) when done; connect with ``distributed.Client(cluster)``.
    """
    dd = _distributed()
    count = n_workers or os.cpu_count() or 1
    root = Path(compile_root) if compile_root else _default_compile_root()
    # SubprocessWorker is public in distributed, marked experimental
    from distributed.deploy.subprocess import SubprocessWorker

    workers = {f"sweep-{i}": {"cls": SubprocessWorker, "options": {"worker_kwargs": {
        "name": f"sweep-{i}", "nthreads": 1, "host": "127.0.0.1", "env": _worker_env(root / f"worker-{i}"),
        "silence_logs": logging.WARNING}}}
        for i in range(count)}
    scheduler = {"cls": dd.Scheduler, "options": {"host": "127.0.0.1", "dashboard_address": ":0"}}
    return dd.SpecCluster(workers=workers, scheduler=scheduler, name="bayes-scaling-sweep",
                          silence_logs=logging.WARNING)


def _default_compile_root() -> Path:
    import pytensor

    return Path(pytensor.config.base_compiledir) / "bayes_scaling-sweep"


def _worker_env(compile_dir: Path) -> dict[str, str]:
    flags = [f for f in os.environ.get("PYTENSOR_FLAGS", "").split(",")
             if f.strip() and not f.strip().startswith(("compiledir=", "base_compiledir="))]
    return {"PYTENSOR_FLAGS": ",".join([*flags, f"base_compiledir={compile_dir}"]),
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise BackendError(f"sweeps on Dask need dask.distributed, which is not installed: {INSTALL_HINT}") from None
    return distributed


def format_sweep(table: pd.DataFrame) -> str:
    """The sweep table as text: one line per job with its variants, status, time and D*/N*."""
    if table.empty:
        return "(no jobs)"
    shown = [c for c in ("key", "dataset", "spec", "pooling", *sorted(c for c in table if c.startswith("prior_")),
                         "holdout", "seed", "status", "seconds", "converged", "opt_ratio_median", "opt_ratio_p10",
                         "opt_ratio_p90", "error") if c in table]
    frame = table[shown].copy()
    if "dataset" in frame:
        frame["dataset"] = frame["dataset"].map(lambda d: Path(d).name)
    if "error" in frame:
        frame["error"] = frame["error"].fillna("").str.slice(0, 80)
    return frame.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="")


__all__ = ["REFERENCE_COMPUTE", "Job", "SweepProgress", "finished_row", "format_sweep",
           "jobs_from_dict", "jobs_from_toml", "local_cluster", "run_job", "sweep", "validate_job"]
