"""The notebooks run top to bottom in quick mode and end with a conclusion computed from their numbers."""

from __future__ import annotations

import time
from pathlib import Path

import nbclient  # the test extra installs the notebook runner: a missing one fails, never skips
import nbformat
import pytest
from conftest import require_mirrored

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
#: Each notebook and the public dataset it reads.
DATA = {"01_chinchilla_uncertainty": "epoch_chinchilla", "02_vision_vs_language": "alabdulmohsin2022_revisiting",
        "03_budget_planning": "epoch_chinchilla", "04_extrapolation": "alabdulmohsin2022_revisiting"}
NAMES = list(DATA)
CELL_TIMEOUT = 300  # seconds per cell; a quick run of a whole notebook takes about a minute on 2 cores
NOTEBOOK_MAX_SECONDS = 240  # catches a notebook that ignores quick mode


def _text(output: dict) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    return output.get("data", {}).get("text/plain", "")


def test_notebooks_are_saved_without_outputs() -> None:
    for name in NAMES:
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), f"{name} has saved outputs"
        assert any("BAYES_SCALING_QUICK" in c.source for c in code), f"{name} ignores quick mode"


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_and_concludes(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    require_mirrored(DATA[name])
    monkeypatch.setenv("BAYES_SCALING_QUICK", "1")  # the kernel inherits the environment (and the data mirror)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT,
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the failing cell, on any error
    seconds = time.perf_counter() - start
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.outputs if o.get("output_type") == "error"]
    assert not errors
    last = code[-1]
    assert "print(" in last.source, "the last cell must print its conclusion"
    printed = "".join(_text(o) for o in last.outputs)
    assert len(printed.strip().splitlines()) >= 2, f"{name} printed no conclusion: {printed!r}"
    assert any(ch.isdigit() for ch in printed), "the conclusion must quote computed numbers"
    assert seconds < NOTEBOOK_MAX_SECONDS, f"{name} took {seconds:.0f} s in quick mode"
