"""This project against its peers from a cold shell, on Epoch's runs, every step its own process.

Part ``peers`` of ``benchmarks/run.py``. Each round, in this order:

- **ours, first process**: ``bayes-scaling fit epoch_chinchilla`` + ``summary --json`` + ``optimal
  --compute 5.88e23 --json`` with empty PyTensor/numba cache directories (the first run ever);
- **ours, second process**: the same three commands again, the caches now filled;
- **ours, one process**: ``fit epoch_chinchilla --compute 5.88e23``, which prints the summary and the
  allocation itself (caches filled);
- **simple-scaling-laws** (``scaling-laws fit`` + ``scaling-laws allocate --budget 5.88e23``, its
  default law and 1,000 bootstrap draws);
- **chinchilla** (``Chinchilla.fit`` from Hoffmann et al.'s 4,500-start grid + ``allocate_compute``,
  one process, as its API is used);
- **the L-BFGS bootstrap** (``bayes_scaling.validation.baselines.huber``: Huber fit from the same grid,
  1,000 resamples, one process).

Every figure is the median over rounds, and every peer is reported as a ratio to our second process
measured in the same run. The peers come with the ``bench`` extra (``pip install -e ".[bench]"``); a
peer that is not installed is skipped and named. The first and second processes are also checked to
give the same draws, to the last digit.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET = "5.88e23"
BIN = Path(sys.executable).parent

CHINCHILLA_PEER = """
import sys, numpy as np
from chinchilla import Chinchilla
grid = {"e": np.linspace(-1, 1, 5).tolist(), "a": np.arange(0, 30, 5).tolist(), "b": np.arange(0, 30, 5).tolist(),
        "alpha": np.arange(0, 2.5, 0.5).tolist(), "beta": np.arange(0, 2.5, 0.5).tolist()}
cc = Chinchilla(sys.argv[1], param_grid=grid, log_level=40)
cc.fit()
print(cc.allocate_compute(float(sys.argv[2])))
"""

BOOTSTRAP_PEER = """
import sys
import bayes_scaling as bs
from bayes_scaling.validation.baselines.huber import bootstrap
boot = bootstrap(bs.datasets.load("epoch_chinchilla"), n_resamples=1000, seed=0)
print(len(boot))
"""


def user_env() -> dict:
    """The environment a user's shell gives every timed process, ours and the peers': this one without
    ``PYTHONDONTWRITEBYTECODE``, which some sandboxes set. With it, the editable install's modules are
    compiled from source in every process (about 0.1 s), where a pip install keeps their bytecode, as it
    keeps the peers'."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _wall(argv: list[str], env: dict | None = None, timeout: float = 3600) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env or user_env(), timeout=timeout)
    return time.perf_counter() - start


def _env(cache: Path) -> dict:
    """The environment of our processes, with PyTensor's and numba's caches in ``cache``."""
    return {**user_env(), "PYTENSOR_FLAGS": f"base_compiledir={cache / 'pytensor'}", "NUMBA_CACHE_DIR": str(cache / "numba")}


def _ours(folder: Path, cache: Path, label: str) -> dict:
    """fit + summary + optimal, each its own process, with PyTensor's and numba's caches in ``cache``."""
    env = _env(cache)
    fit = folder / f"{label}.nc"
    cli = [str(BIN / "bayes-scaling")]
    steps = {"fit": [*cli, "fit", "epoch_chinchilla", "--out", str(fit)],
             "summary": [*cli, "summary", str(fit), "--json"],
             "optimal": [*cli, "optimal", str(fit), "--compute", BUDGET, "--json"]}
    out = {name: _wall(argv, env) for name, argv in steps.items()}
    out["total"] = sum(out.values())
    out["draws_sha256"] = _draws_digest(fit)
    return out


def _ours_one_process(folder: Path, cache: Path) -> dict:
    """``fit --compute``: the fit, its summary and the allocation from one process (caches filled)."""
    fit = folder / "one.nc"
    wall = _wall([str(BIN / "bayes-scaling"), "fit", "epoch_chinchilla", "--out", str(fit), "--compute", BUDGET],
                 _env(cache))
    return {"fit_compute": wall, "total": wall, "draws_sha256": _draws_digest(fit)}


def _draws_digest(path: Path) -> str:
    import xarray as xr

    with xr.open_datatree(path, engine="h5netcdf") as tree:
        post = tree["posterior"].to_dataset()
        return hashlib.sha256(b"".join(post[v].values.tobytes() for v in sorted(post.data_vars))).hexdigest()[:16]


def _peer_inputs(folder: Path) -> tuple[Path, Path]:
    """Epoch's runs in simple-scaling-laws' table format and in a chinchilla project folder."""
    import bayes_scaling as bs

    runs = bs.datasets.load("epoch_chinchilla").table
    ssl = folder / "ssl.csv"
    runs.assign(training_run_id=[f"run{i:04d}" for i in range(len(runs))]).rename(columns={
        "params": "model_size__params", "tokens": "dataset_size__tokens", "loss": "test_loss__val"})[
        ["training_run_id", "model_size__params", "dataset_size__tokens", "test_loss__val"]].to_csv(ssl, index=False)
    project = folder / "chinchilla"
    project.mkdir()
    runs.assign(C=6 * runs["params"] * runs["tokens"]).rename(columns={"params": "N", "tokens": "D"})[
        ["C", "N", "D", "loss"]].to_csv(project / "df.csv", index=False)
    return ssl, project


def _round(folder: Path, ssl: Path, project: Path, peers: dict[str, bool]) -> dict:
    cache = Path(tempfile.mkdtemp(prefix="bench-peer-cache-"))
    try:
        row = {"ours_first": _ours(folder, cache, "first"), "ours_second": _ours(folder, cache, "second"),
               "ours_one_process": _ours_one_process(folder, cache)}
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    if peers["simple-scaling-laws"]:
        slaw = folder / "fit.slaw"
        shutil.rmtree(slaw, ignore_errors=True)
        fit_s = _wall([str(BIN / "scaling-laws"), "fit", str(ssl), "--output", str(slaw), "--quiet"])
        alloc_s = _wall([str(BIN / "scaling-laws"), "allocate", str(slaw), "--budget", BUDGET,
                         "--cost", "power:k=6,a=1,b=1"])
        row["simple_scaling_laws"] = {"fit": fit_s, "allocate": alloc_s, "total": fit_s + alloc_s}
    if peers["chinchilla"]:
        row["chinchilla"] = {"total": _wall([sys.executable, "-c", CHINCHILLA_PEER, str(project), BUDGET])}
    row["bootstrap"] = {"total": _wall([sys.executable, "-c", BOOTSTRAP_PEER])}
    return row


def peers_part(rounds: int = 3) -> dict:
    """Median seconds of every tool over ``rounds`` interleaved rounds, with ratios to our second process."""
    import importlib.util

    if not os.environ.get("BAYES_SCALING_DATA") and not _has_epoch():
        return {"error": "Epoch's runs are not available (set BAYES_SCALING_DATA to the datasets mirror)"}
    peers = {"simple-scaling-laws": shutil.which("scaling-laws", path=str(BIN)) is not None,
             "chinchilla": importlib.util.find_spec("chinchilla") is not None}
    for name, present in peers.items():
        if not present:
            print(f"peers: {name} is not installed (pip install -e \".[bench]\"); skipped", flush=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    ssl, project = _peer_inputs(folder)
    rows = []
    for i in range(rounds):
        rows.append(_round(folder, ssl, project, peers))
        print(f"peers round {i + 1}: " + ", ".join(f"{k} {v['total']:.1f} s" for k, v in rows[-1].items()), flush=True)
    tools = rows[0].keys()
    median = {t: {k: statistics.median(r[t][k] for r in rows) for k in rows[0][t] if k != "draws_sha256"}
              for t in tools}
    second = median["ours_second"]["total"]
    ratios = {f"{t}_over_ours_second": median[t]["total"] / second for t in tools if t != "ours_second"}
    same = all(r["ours_first"]["draws_sha256"] == r["ours_second"]["draws_sha256"] == r["ours_one_process"]["draws_sha256"]
               for r in rows)
    if "simple_scaling_laws" in median:  # the issue's targets: ours against simple-scaling-laws' fit + allocate
        peer = median["simple_scaling_laws"]["total"]
        ratios.update({f"{t}_over_simple_scaling_laws": median[t]["total"] / peer
                       for t in ("ours_first", "ours_second", "ours_one_process")})
    return {"rounds": rounds, "budget": float(BUDGET), "median_s": median, "ratios": ratios, "per_round": rows,
            "same_draws_first_and_second_process": same, "peers_installed": peers,
            "versions": _versions(), "install": _install()}


def _has_epoch() -> bool:
    import bayes_scaling as bs

    try:
        bs.datasets.load("epoch_chinchilla")
    except Exception:  # noqa: BLE001 - any failure means the data are not here
        return False
    return True


def _install() -> str:
    """Which optional packages this environment has (they change what a cold process imports)."""
    import importlib.util

    extras = [m for m in ("jax", "dask", "matplotlib", "arviz_plots") if importlib.util.find_spec(m) is not None]
    return f"with {', '.join(extras)} importable" if extras else "a plain install (no extras)"


def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("bayes_scaling", "nutpie", "pymc", "pytensor", "numba", "simple-scaling-laws", "chinchilla"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out




def peers_table(record: dict) -> str:
    """The docs' table of the peers part, from its JSON record (median seconds and ratios)."""
    peers, machine = record["peers"], record.get("machine", {})
    median = peers["median_s"]
    second = median["ours_second"]["total"]
    label = {"ours_first": "bayes_scaling, first process (empty caches): fit + summary + optimal",
             "ours_second": "bayes_scaling, second process: fit + summary + optimal",
             "ours_one_process": "bayes_scaling, one process (caches filled): `fit --compute` (summary + optimal printed)",
             "simple_scaling_laws": "simple-scaling-laws: fit + allocate",
             "chinchilla": "chinchilla: fit (4,500-start grid) + allocate_compute",
             "bootstrap": "L-BFGS Huber fit + 1,000-resample bootstrap (ours, `validation.baselines.huber`)"}
    lines = [(f"Measured {record.get('measured', {}).get('peers', record.get('when'))} on {machine.get('machine')} "
             f"with {machine.get('cores')} cores, Python {machine.get('python')}, {peers.get('install', '')}; "
             f"median of {peers['rounds']} rounds (`benchmarks/results/bench.json`, part `peers`)."), "",
             "| tool | seconds | x our second process | steps |", "| --- | --- | --- | --- |"]
    for tool, row in median.items():
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in row.items() if k != "total")
        lines.append(f"| {label.get(tool, tool)} | {row['total']:.1f} | {row['total'] / second:.2f} | {steps} |")
    same = "the same" if peers.get("same_draws_first_and_second_process") else "NOT the same"
    lines += ["", f"The first, second and one-process runs gave {same} draws, to the last digit."]
    ssl = {k: v for k, v in peers.get("ratios", {}).items() if k.endswith("_over_simple_scaling_laws")}
    if ssl:
        names = {"ours_first": "first process", "ours_second": "second process (three commands)",
                 "ours_one_process": "one process (`fit --compute`)"}
        lines += ["", "Against simple-scaling-laws' fit + allocate: " + "; ".join(
            f"{names[k.removesuffix('_over_simple_scaling_laws')]} {v:.2f}x" for k, v in ssl.items()) + "."]
    return "\n".join(lines)


def speed_sentence(record: dict) -> str:
    """The README's sentence on speed from a cold shell, from the peers record."""
    median = record["peers"]["median_s"]
    one, first, peer = (median[k]["total"] for k in ("ours_one_process", "ours_first", "simple_scaling_laws"))
    return (f"From a cold shell on {record.get('machine', {}).get('cores')} cores, `fit --compute 5.88e23` "
            f"(posterior, summary and D*/N* in one process) takes {one:.1f} s against {peer:.1f} s for "
            f"simple-scaling-laws' fit and allocate, measured side by side ({one / peer:.2f}x); the first fit on a "
            f"machine takes {first:.0f} s, most of it numba compiling the model ([benchmarks](docs/benchmarks.md)).")


def write_table(path: Path, record: dict, readme: Path | None = None) -> None:
    """Replace the generated parts of ``path`` and ``readme`` (each left alone where its markers are missing)."""
    from bench_read import read_table
    from markers import replace_between

    if record.get("peers", {}).get("median_s"):
        replace_between(path, "peers", peers_table(record))
        if readme is not None and "simple_scaling_laws" in record["peers"]["median_s"]:
            replace_between(readme, "speed", speed_sentence(record))
    if record.get("read", {}).get("commands"):
        replace_between(path, "read", read_table(record))
