"""The README's and docs/' code: the README's Python example and the runnable pages' blocks run, every
documented command parses, and every Python block of docs/ compiles."""

from __future__ import annotations

import re
import shlex
import warnings
from pathlib import Path

import pytest
from conftest import require_mirrored

from bayes_scaling.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def blocks(path: Path, language: str) -> list[str]:
    return [code for lang, code in BLOCK.findall(path.read_text()) if lang == language]


def commands() -> list[tuple[str, str]]:
    """Every ``bayes-scaling ...`` line of a bash block (optional parts in [brackets] dropped)."""
    found = []
    for page in PAGES:
        for code in blocks(page, "bash"):
            for line in code.replace("\\\n", " ").splitlines():
                line = re.sub(r"\s+#.*$", "", line).strip()
                start = line.find("bayes-scaling ")
                if start < 0 or line.startswith("#"):
                    continue
                command = re.sub(r"\[[^\]]*\]", "", line[start:])
                command = command.split("&&")[0].split("|")[0].strip()
                found.append((page.name, command))
    return found


def test_the_docs_show_commands():
    pages = {page for page, _ in commands()}
    assert {"README.md", "cli.md"} <= pages and len(commands()) > 20


@pytest.mark.parametrize(("page", "command"), commands())
def test_every_documented_command_parses(page, command):
    argv = shlex.split(command)[1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"{page}: `{command}` does not parse (exit {exc.code})")
    assert callable(args.func)


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p, "python")], ids=lambda p: p.name)
def test_python_blocks_of_the_docs_compile(page):
    for code in blocks(page, "python"):
        compile(code, str(page), "exec")


@pytest.mark.slow
def test_the_readme_python_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (code,) = blocks(ROOT / "README.md", "python")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        namespace: dict = {}
        exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 -- the README's own example
    fit = namespace["fit"]
    assert fit.diagnostics.ok and (tmp_path / "chinchilla.nc").is_file()
    assert 5 < float(namespace["ratio"].median()) < 60


#: The pages with Python blocks; each runs as it stands (remote-cluster variants are ``text`` blocks).
RUNNABLE = ["python.md", "structural.md", "hierarchies.md", "sweeps.md", "laws.md", "design.md"]
NEEDS = {"python.md": "epoch_chinchilla", "hierarchies.md": "cerebras_gpt_pile_table", "laws.md": "bnsl_4digit_addition"}


def test_every_docs_page_with_python_runs_in_the_tests():
    assert {p.name for p in PAGES[1:] if blocks(p, "python")} == set(RUNNABLE)


@pytest.mark.slow
@pytest.mark.parametrize("page", RUNNABLE)
def test_the_runnable_docs_blocks_run(page, tmp_path, monkeypatch):
    if page in NEEDS:
        require_mirrored(NEEDS[page])
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for code in blocks(ROOT / "docs" / page, "python"):
            exec(compile(code, page, "exec"), namespace)  # noqa: S102 -- the page's own example
    if page == "sweeps.md":
        table = namespace["table"]
        assert len(table) == len(namespace["jobs"]) and set(table["status"]) == {"ok"}
        return
    fit = namespace["fit"]
    assert fit.posterior.sizes["draw"] == 1000
    if page == "hierarchies.md":
        ranking = namespace["compare_models"]({"partial": fit, "none": namespace["fit_separate"],
                                              "complete": namespace["fit_shared"]})
        assert len(ranking) == 3
    elif page == "laws.md":
        assert 400 < float(namespace["bend"][1]) < 900 and len(namespace["ranking"]) == 2
    elif page == "design.md":
        batch = namespace["batch"]
        assert batch.attrs["expected_after"] < batch.attrs["current"] and len(namespace["sweep"]) == 21
    elif page == "structural.md":
        assert float(namespace["far"]["beyond"][0]) > 1.0
        assert list(namespace["bt"].metrics["method"][:2]) == ["posterior", "posterior+structural"]
    else:
        assert (tmp_path / "chinchilla.nc").is_file() and namespace["same"].posterior.equals(fit.posterior)


def test_the_readme_calibration_table_is_the_one_its_record_makes():
    import importlib.util
    import json
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location("calibration_real", ROOT / "benchmarks" / "calibration_real.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    record = json.loads((ROOT / "benchmarks" / "results" / "calibration_real.json").read_text())
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- calibration_real:start -->\n")[1].split("\n<!-- calibration_real:end -->")[0]
    assert block.strip() == module.readme_table(record).strip()
    assert "bootstrap+noise" in block.splitlines()[0]
