"""The installed version of bayes_scaling (cheap: no heavy imports)."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version


@cache
def package_version() -> str:
    """Installed version of bayes_scaling (read once per process)."""
    try:
        return version("bayes_scaling")
    except PackageNotFoundError:  # running from a source tree
        return "0+unknown"
