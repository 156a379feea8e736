"""Writing a set of files as one: every destination is checked before any is written, and each is
written atomically, so a report whose LaTeX path is unusable leaves its Markdown and figures as they
were instead of half replaced."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..result.storage import atomic_path, check_writable


def write_all(texts: Mapping[Path, str], figures: Mapping[Path, Any] | None = None, dpi: int = 150) -> list[Path]:
    """Write ``texts`` (path to text) and ``figures`` (path to a matplotlib figure, closed once written).

    Raises
    ------
    FitFileError
        Naming the first destination that cannot be written, before anything is written.
    """
    figures = dict(figures or {})
    paths = [Path(p) for p in [*texts, *figures]]
    for path in paths:
        check_writable(path)
    if len(set(map(Path.resolve, paths))) < len(paths):
        from ..errors import InputError

        raise InputError(f"two of the files to write are one file: {[str(p) for p in paths]}")
    try:
        for path, text in texts.items():
            with atomic_path(path) as temp:
                temp.write_text(text)
        for path, fig in figures.items():
            with atomic_path(path) as temp:
                fig.savefig(temp, dpi=dpi, format=Path(path).suffix.lstrip(".") or "png")
    finally:
        if figures:
            import matplotlib.pyplot as plt

            for fig in figures.values():
                plt.close(fig)
    return paths


__all__ = ["write_all"]
