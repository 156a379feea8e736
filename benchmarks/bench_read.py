"""The read commands from a cold shell: each command on a saved fit as its own process, as a user runs it.

Part ``read`` of ``benchmarks/run.py``. A small fit of the bundled simulation is saved once; then
``summary --json``, ``optimal``, ``predict``, ``plan`` and ``target`` each run ``repeats`` times as
separate processes, and so does the floor every command pays, a process that only imports pandas,
xarray and h5netcdf. Reported: the median wall seconds of each and its ratio to the floor.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = {
    "summary --json": ["summary", "{fit}", "--json"],
    "optimal --json": ["optimal", "{fit}", "--compute", "1e21", "5.88e23", "--json"],
    "predict --json": ["predict", "{fit}", "--params", "7e10", "--tokens", "1.4e12", "--json"],
    "plan --json": ["plan", "{fit}", "--budget", "1e23", "--json"],
    "target --json": ["target", "{fit}", "--loss", "2.2", "--json"],
}
FLOOR = [sys.executable, "-c", "import pandas, xarray, h5netcdf"]


def _wall(argv: list[str]) -> float:
    from bench_peers import user_env

    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=user_env())
    return time.perf_counter() - start


def read_part(repeats: int = 5) -> dict:
    """Median seconds of each read command and of the import floor, measured now, with ratios."""
    folder = Path(tempfile.mkdtemp(prefix="bench-read-"))
    fit = folder / "fit.nc"
    subprocess.run([sys.executable, "-m", "bayes_scaling.cli", "fit", "chinchilla_sim", "--out", str(fit),
                    "--draws", "500", "--tune", "500", "--chains", "2"], check=True, capture_output=True)
    floor = statistics.median(_wall(FLOOR) for _ in range(repeats))
    out = {"floor_s": floor, "repeats": repeats, "commands": {}}
    for name, argv in COMMANDS.items():
        cmd = [sys.executable, "-m", "bayes_scaling.cli", *(a.format(fit=fit) for a in argv)]
        seconds = statistics.median(_wall(cmd) for _ in range(repeats))
        out["commands"][name] = {"seconds": seconds, "ratio_to_floor": seconds / floor}
        print(f"read: {name} {seconds:.2f} s ({seconds / floor:.2f}x the import floor {floor:.2f} s)", flush=True)
    return out


def read_table(record: dict) -> str:
    """The docs' table of the read part, from its JSON record (median seconds against the import floor)."""
    read = record["read"]
    when = record.get("measured", {}).get("read", record.get("when"))
    machine = record.get("machine", {})
    head = (f"Measured {when} on {machine.get('machine')} with {machine.get('cores')} cores, median of "
            f"{read['repeats']} processes each (`benchmarks/results/bench.json`, part `read`); the import floor "
            f"is {read['floor_s']:.2f} s.")
    lines = [head, "", "| command | seconds | x floor |", "| --- | --- | --- |"]
    for name, row in read["commands"].items():
        lines.append(f"| `{name}` | {row['seconds']:.2f} | {row['ratio_to_floor']:.2f} |")
    return "\n".join(lines)
