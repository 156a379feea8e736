"""The one helper every benchmark shares: replace a generated table between the markers of a page.

A page marks the generated part ``<!-- NAME:start -->`` ... ``<!-- NAME:end -->``; everything between
is rewritten from the benchmark's JSON record, everything around it is left as written.
"""

from __future__ import annotations

from pathlib import Path


def replace_between(path: Path, name: str, body: str) -> bool:
    """Write ``body`` between the ``name`` markers of ``path``; False (nothing written) where they are missing."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.is_file() else ""
    if start not in text or end not in text:
        return False
    head, rest = text.split(start, 1)
    path.write_text(head + start + "\n" + body.strip("\n") + "\n" + end + rest.split(end, 1)[1])
    return True
