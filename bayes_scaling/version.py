"""The installed version of bayes_scaling, read on first use: importing ``importlib.metadata`` costs
a read command about 0.05 s, so neither this module nor the package's import does it."""

from __future__ import annotations

from functools import cache


@cache
def package_version() -> str:
    """Installed version of bayes_scaling (read once per process)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bayes_scaling")
    except PackageNotFoundError:  # running from a source tree
        return "0+unknown"
