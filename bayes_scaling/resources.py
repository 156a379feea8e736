"""Where the shipped model specs (``models/``) and bundled data (``datasets/``) live.

In a wheel they are copied into ``bayes_scaling/_resources``; in a source checkout (or an editable
install) they are the top-level folders of the repository.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """The folder ``models`` or ``datasets`` shipped with the package."""
    for candidate in (_PACKAGE / "_resources" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"bayes_scaling is installed without its '{name}' folder")
