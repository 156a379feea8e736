"""The grouping of runs into domains and tasks (tasks nested in domains), and moves between levels.

A parameter lives at one level: ``shared`` (a scalar), ``domain`` (dim ``domain``) or ``task`` (dim
``task``). :class:`Groups` holds the labels and the integer maps run -> task -> domain that the model
and the post-processing share, so a value at a coarse level can be laid out at a finer one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..errors import QueryError
from .runs import Runs

GROUP_LEVELS = ("domain", "task")
#: Order of the levels, coarse to fine ("global" is the pivot's name for "shared").
LEVEL_RANK = {"shared": 0, "global": 0, "domain": 1, "task": 2}


def base_level(level: str) -> str:
    """The grouping of a pooling level: ``"task_separate"`` -> ``"task"``."""
    return level.removesuffix("_separate")


@dataclass(frozen=True)
class Groups:
    """Domain and task labels of a table of runs and the maps between them.

    Attributes
    ----------
    domains, tasks : tuple of str
        Labels in order of first appearance.
    run_domain, run_task : numpy.ndarray
        Index of each run's domain and task.
    task_domain : numpy.ndarray
        Index of each task's domain.
    """

    domains: tuple[str, ...]
    tasks: tuple[str, ...]
    run_domain: np.ndarray
    run_task: np.ndarray
    task_domain: np.ndarray

    @classmethod
    def from_runs(cls, runs: Runs) -> Groups:
        """Read the labels of validated runs (tasks are already checked to nest in domains)."""
        domains, tasks = tuple(runs.domains), tuple(runs.tasks)
        d_index = {d: i for i, d in enumerate(domains)}
        t_index = {t: i for i, t in enumerate(tasks)}
        table = runs.table
        run_domain = table["domain"].map(d_index).to_numpy(dtype=int)
        run_task = table["task"].map(t_index).to_numpy(dtype=int)
        first = table.drop_duplicates("task")
        task_domain = first["domain"].map(d_index).to_numpy(dtype=int)
        return cls(domains, tasks, run_domain, run_task, task_domain)

    def labels(self, level: str) -> tuple[str, ...]:
        """Labels of ``"domain"`` or ``"task"``."""
        return self.domains if level == "domain" else self.tasks

    def size(self, level: str) -> int:
        """Number of groups at a level (1 for ``shared``)."""
        return 1 if level in ("shared", "global") else len(self.labels(level))

    def run_index(self, level: str) -> np.ndarray:
        """Group index of each run at ``level``."""
        return self.run_domain if level == "domain" else self.run_task

    def coords(self, level: str) -> dict[str, list[str]]:
        """Coordinates of a group level (empty for ``shared``)."""
        return {} if level in ("shared", "global") else {level: list(self.labels(level))}

    def task_domain_labels(self) -> np.ndarray:
        """The domain label of each task."""
        return np.asarray(self.domains, dtype=object)[self.task_domain].astype(str)


def finer(a: str, b: str) -> str:
    """The finer of two levels."""
    return a if LEVEL_RANK[a] >= LEVEL_RANK[b] else b


def expand(value: xr.DataArray, level: str, to: str, groups: Groups) -> xr.DataArray:
    """Lay a value out at a finer (or the same) level: a domain value repeated over its tasks.

    Raises
    ------
    QueryError
        If ``to`` is coarser than ``level``.
    """
    if level in ("shared", "global") or level == to:
        return value
    if LEVEL_RANK[to] < LEVEL_RANK[level]:
        raise QueryError(f"a value that varies by {level} cannot be given one value per {to}")
    index = xr.DataArray(groups.task_domain, dims="task", coords={"task": list(groups.tasks)})
    out = value.isel(domain=index)
    return out.drop_vars("domain", errors="ignore")
