"""The package's layers (docs/architecture.md): no module imports from a layer above its own."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import bayes_scaling as bs

#: Low to high, as docs/architecture.md draws them: runs -> spec -> model -> posterior -> decisions -> presentation.
LAYERS = [
    ("foundation", {"errors", "defaults", "version", "resources", "search"}),
    ("data", {"data"}),
    ("laws", {"laws"}),
    ("structural", {"structural"}),
    ("spec", {"priors", "spec"}),
    ("model", {"model"}),
    ("inference", {"compiled", "graph_key", "inference", "mcmc_stats"}),
    ("result", {"result"}),
    ("decisions", {"decisions"}),
    ("validation", {"validation"}),
    ("design", {"design"}),
    ("sweeps", {"sweeps"}),
    ("present", {"present"}),
    ("cli", {"cli"}),
]
RANK = {top: i for i, (_, tops) in enumerate(LAYERS) for top in tops}
PACKAGE = Path(bs.__file__).parent


def _module(path: Path) -> list[str]:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imports(path: Path) -> list[tuple[int, list[str]]]:
    """(line, absolute module parts) of every import of the package in a file, at any depth."""
    here = _module(path)
    package = here if path.name == "__init__.py" else here[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "bayes_scaling":
                target = node.module.split(".")
            else:
                continue
            names = [[*target, a.name] for a in node.names] if not node.module else [target]
            found += [(node.lineno, t) for t in names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name.split(".")) for a in node.names if a.name.split(".")[0] == "bayes_scaling"]
    return found


def test_every_module_belongs_to_a_layer():
    tops = {_module(p)[1] for p in PACKAGE.rglob("*.py") if len(_module(p)) > 1}
    assert tops <= set(RANK), tops - set(RANK)


def test_no_module_imports_from_a_layer_above():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        here = _module(path)
        if len(here) == 1:  # the package facade imports its public names lazily
            continue
        for line, target in _imports(path):
            if len(target) > 1 and target[1] in RANK and RANK[target[1]] > RANK[here[1]]:
                upward.append(f"{'/'.join(here)}:{line} imports {'.'.join(target)}")
    assert upward == []


def test_modules_and_functions_stay_small():
    """Every module under 400 lines, every function under 60 (its docstring not counted)."""
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert {k: v for k, v in sizes.items() if v > 400} == {}
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                first = node.body[0]
                doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)
                lines = node.end_lineno - node.lineno + 1 - ((first.end_lineno - first.lineno + 1) if doc else 0)
                if lines > 60:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.name} ({lines})")
    assert long == []


def test_the_import_reader_sees_relative_and_lazy_imports():
    fit_imports = [t for _, t in _imports(PACKAGE / "result" / "fit.py")]
    assert ["bayes_scaling", "laws", "allocation"] in fit_imports  # from ..laws.allocation import ...
    cli_imports = [t for _, t in _imports(PACKAGE / "cli" / "answers.py")]
    assert ["bayes_scaling", "decisions", "plan"] in cli_imports  # imported inside a command


SAMPLER_STACK = ("pymc", "pytensor", "numba", "arviz", "arviz_stats", "scipy.stats")
PROBE = """
import contextlib, io, json, sys
from bayes_scaling.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    code = main(sys.argv[1:])
print(json.dumps([code, [m for m in {stack!r} if m in sys.modules]]))
"""


@pytest.fixture(scope="module")
def saved(tmp_path_factory, sim_fit, hier_fit):
    folder = tmp_path_factory.mktemp("read")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        return sim_fit.save(folder / "sim.nc"), hier_fit.save(folder / "hier.nc"), folder


@pytest.mark.parametrize("command", [
    ["summary", "{sim}", "--json"], ["optimal", "{sim}", "--compute", "1e21", "5.88e23", "--json"],
    ["predict", "{sim}", "--params", "1e9", "--tokens", "2e10", "--json"], ["plan", "{sim}", "--budget", "1e21", "--json"],
    ["target", "{sim}", "--loss", "2.3", "--json"], ["compare", "{hier}", "--param", "alpha", "--json"],
    ["report", "{sim}", "--out", "{folder}/report.md"], ["plot", "{sim}", "--kind", "curve", "--out", "{folder}/c.png"],
], ids=lambda c: c[0])
def test_read_commands_do_not_import_the_sampler_stack(saved, command):
    sim, hier, folder = saved
    argv = [part.format(sim=sim, hier=hier, folder=folder) for part in command]
    probe = subprocess.run([sys.executable, "-c", PROBE.format(stack=SAMPLER_STACK), *argv],
                           capture_output=True, text=True, check=True)
    code, heavy = json.loads(probe.stdout.strip().splitlines()[-1])
    assert code == 0 and heavy == [], (argv, heavy, probe.stderr[-500:])


NUTPIE_PROBE = """
import json, sys
from bayes_scaling.compiled import import_nutpie
nutpie = import_nutpie()
heavy = [m for m in ("arviz", "arviz_stats", "arviz_plots", "scipy.stats", "matplotlib") if m in sys.modules]
converter = sys.modules["nutpie.sample"].arviz.__name__
import arviz
print(json.dumps([heavy, converter, arviz.__name__, hasattr(arviz, "summary")]))
"""


def test_nutpie_is_imported_without_the_arviz_package():
    probe = subprocess.run([sys.executable, "-c", NUTPIE_PROBE], capture_output=True, text=True, check=True)
    heavy, converter, later, full = json.loads(probe.stdout.strip().splitlines()[-1])
    assert heavy == [] and converter == "arviz_base", (heavy, converter)
    assert later == "arviz" and full  # a later `import arviz` is the whole package


FIT_PROBE = """
import json, sys, warnings
warnings.simplefilter("ignore")
from bayes_scaling.cli import main
code = main(["fit", "chinchilla_sim", "--out", sys.argv[1], "--draws", "100", "--tune", "100", "--chains", "2",
             "--compute", "5.88e23", "--json"])
print(json.dumps([code, [m for m in ("arviz", "arviz_stats", "scipy.stats", "matplotlib") if m in sys.modules]]))
"""


def test_a_fit_imports_neither_arviz_stats_nor_scipy_stats(tmp_path):
    """R-hat and ESS come from mcmc_stats: arviz_stats' import of scipy.stats is most of a second."""
    probe = subprocess.run([sys.executable, "-c", FIT_PROBE, str(tmp_path / "fit.nc")], capture_output=True, text=True,
                           check=True, timeout=600)
    code, heavy = json.loads(probe.stdout.strip().splitlines()[-1])
    assert code == 0 and heavy == [], (heavy, probe.stderr[-500:])
