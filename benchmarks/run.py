"""The benchmark entry point: every timing the README quotes, in one run, as ratios against baselines
measured in the same run, written to one JSON record.

    python benchmarks/run.py [--backends pymc numpyro blackjax nutpie] [--tasks 10 100 1000]
                             [--bootstrap 1000] [--out benchmarks/results/bench.json] [--quick]

Parts (each measurement runs in its own child process, so that compile caches and peak memory belong
to it alone):

(a) **Chinchilla per backend**: Epoch's 240 runs (or the bundled simulation without the mirror),
    4 chains x 1000 draws after 1000 warm-up. The child starts with empty PyTensor and numba cache
    directories and fits twice: the first fit is the *cold* time (compilation included), the second
    the *warm* one (caches filled). Time to posterior, compile + init, sampling, min ESS, ESS/s.
(b) **Naive parameterisation**: raw log A, log B (levels at N = D = 1) and a diagonal metric, on pymc
    and nutpie (4 chains x 500 draws after 500, one fit: its trees are deep), against (a) on the same
    backend: the ratio of ESS per second of sampling (compilation excluded).
(c) **The bootstrap**: L-BFGS + Huber from Hoffmann's 4,500-start grid, then 1,000 resamples
    (``bayes_scaling.validation.baselines.huber``), against the warm posterior of every backend.
(d) **Hierarchies of 10, 100, 1,000 simulated tasks** (``bench_hierarchy.simulated_runs``: compute
    law, exponent and level per task in 4 domains, 8 runs per task; nutpie, centred hierarchy):
    seconds, ESS/s, the cost per task relative to the smallest size (1.0 = linear in tasks), and the
    peak resident memory of the child. ``--parts hierarchy`` re-runs one part and keeps the others'
    last record in the JSON.
(e) **Read commands from a cold shell** (``bench_read``): ``summary --json``, ``optimal``,
    ``predict``, ``plan``, ``target`` on a saved fit, each its own process, against the floor of a
    process that only imports pandas, xarray and h5netcdf.
(f) **Peers from a cold shell** (``bench_peers``, the ``bench`` extra): fit + summary + optimal on
    Epoch's runs as a first process ever (empty compile caches) and as a second one, against
    simple-scaling-laws' fit + allocate, chinchilla's fit + allocate and the L-BFGS bootstrap, each
    step its own process, as ratios to our second process.

On a machine where JAX sees a GPU, ``benchmarks/gpu.sh`` runs parts (a) and (d) on the JAX backends
and records the GPU's name (``machine.gpu``); nothing in CI depends on one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
PARTS = ("chinchilla", "naive", "bootstrap", "hierarchy", "read", "peers")


def peak_rss_gib() -> float:
    """Peak resident memory of this process and of its finished children (chain processes), GiB."""
    kib = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return kib / 2**20


# -- children: one measurement each, printed as one JSON line ---------------------------------------


def child_chinchilla(job: dict) -> dict:
    from bench_chinchilla import load_runs, posterior_run

    runs = load_runs()
    centred = job["parameterisation"] == "pivot+dense"
    out = {"data": runs.source, "runs": len(runs), "fits": []}
    for label in job["repeats"]:
        r = posterior_run(runs, job["backend"], centred, job["draws"], job["tune"], seed=1)
        r["run"] = label
        out["fits"].append(r)
    return out


def child_bootstrap(job: dict) -> dict:
    from bench_chinchilla import load_runs

    from bayes_scaling.validation.baselines.huber import bootstrap, huber_fit

    runs = load_runs()
    t = time.perf_counter()
    huber_fit(runs)
    grid_s = time.perf_counter() - t
    t = time.perf_counter()
    boot = bootstrap(runs, n_resamples=job["resamples"], seed=0)
    boot_s = time.perf_counter() - t
    return {"grid_fit_s": grid_s, "bootstrap_s": boot_s, "resamples": job["resamples"], "total_s": grid_s + boot_s,
            "converged": float(boot["converged"].mean())}


def child_hierarchy(job: dict) -> dict:
    from bench_hierarchy import measure

    return measure(job["tasks"], job["draws"], job["tune"], seed=1, hierarchy=job["hierarchy"], backend=job["backend"])


CHILDREN = {"chinchilla": child_chinchilla, "bootstrap": child_bootstrap, "hierarchy": child_hierarchy}


def run_child(job: dict, timeout: float) -> dict:
    """Run one job in a fresh interpreter with empty compile caches; its result plus peak memory."""
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as cache:
        env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={cache}/pytensor", "NUMBA_CACHE_DIR": f"{cache}/numba"}
        try:
            proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(job)], env=env, capture_output=True,
                                  text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(lines[-1])


# -- the parent: runs every part, prints ratios, writes the record ---------------------------------


def chinchilla_part(backends: list[str], parameterisation: str, draws: int, timeout: float,
                    repeats: tuple[str, ...] = ("cold", "warm")) -> list[dict]:
    """Each backend in its own child with empty compile caches: a cold fit, then (by default) a warm one."""
    from bayes_scaling.errors import BackendError
    from bayes_scaling.inference import check_backend

    fits = []
    for backend in backends:
        try:
            check_backend(backend)
        except BackendError as exc:
            print(f"skip {backend}: {exc}", flush=True)
            continue
        job = {"part": "chinchilla", "backend": backend, "parameterisation": parameterisation, "draws": draws,
               "tune": draws, "repeats": list(repeats)}
        result = run_child(job, timeout)
        if "error" in result:
            print(f"{parameterisation} {backend}: failed: {result['error']}", flush=True)
            continue
        for r in result["fits"]:
            r["peak_rss_gib"] = result["peak_rss_gib"]
            fits.append(r)
            print(f"{parameterisation:11s} {backend:8s} {r['run']:4s}: {r['time_to_posterior_s']:6.1f} s to posterior "
                  f"({r['compile_and_init_s']:.1f} compile+init, {r['sampling_s']:.1f} sampling), min ESS "
                  f"{r['min_ess']:.0f}, ESS/s {r['ess_per_s_sampling']:.1f}, tree depth {r['mean_tree_depth']:.1f}, "
                  f"{r['divergences']} divergences", flush=True)
    return fits


def hierarchy_part(sizes: list[int], backend: str, draws: int, timeout: float) -> list[dict]:
    rows = []
    for n in sizes:
        job = {"part": "hierarchy", "tasks": n, "draws": draws, "tune": draws, "hierarchy": "centred",
               "backend": backend}
        row = run_child(job, timeout)
        row.setdefault("tasks", n)
        rows.append(row)
        if "error" in row:
            print(f"hierarchy {n:5d} tasks: failed: {row['error']}", flush=True)
            continue
        print(f"hierarchy {n:5d} tasks ({row['runs']} runs, {row['dim']} parameters): {row['seconds']:.1f} s "
              f"({row['sampling_s']:.1f} sampling), min ESS {row['min_ess_bulk']:.0f}, R-hat {row['max_rhat']:.3f}, "
              f"{row['divergences']} divergences, peak {row['peak_rss_gib']:.2f} GiB", flush=True)
    ok = [r for r in rows if "error" not in r]
    if ok:
        base = ok[0]
        for r in ok:
            r["cost_per_task_vs_smallest"] = (r["sampling_s"] / r["tasks"]) / (base["sampling_s"] / base["tasks"])
            r["ess_s_per_task_vs_smallest"] = ((r["sampling_s"] / r["min_ess_bulk"]) / r["tasks"]) / (
                (base["sampling_s"] / base["min_ess_bulk"]) / base["tasks"])
    return rows


def ratios(fits: list[dict], naive: list[dict], boot: dict) -> dict[str, float]:
    out: dict[str, float] = {}
    warm = {f["backend"]: f for f in fits if f["run"] == "warm"}
    if "total_s" in boot:
        for backend, f in warm.items():
            out[f"bootstrap_time_over_{backend}_warm"] = boot["total_s"] / f["time_to_posterior_s"]
        for f in fits:
            if f["run"] == "cold":
                out[f"bootstrap_time_over_{f['backend']}_cold"] = boot["total_s"] / f["time_to_posterior_s"]
    for n in naive:
        if n["backend"] in warm:  # ESS per second of sampling: compilation is not in it
            out[f"ess_per_s_pivot_over_naive_{n['backend']}"] = warm[n["backend"]]["ess_per_s_sampling"] / n["ess_per_s_sampling"]
    if "pymc" in warm:
        for backend, f in warm.items():
            out[f"time_pymc_over_{backend}_warm"] = warm["pymc"]["time_to_posterior_s"] / f["time_to_posterior_s"]
    return out


def main() -> None:
    from bench_peers import peers_part
    from bench_read import read_part

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--backends", nargs="+", default=["pymc", "numpyro", "blackjax", "nutpie"])
    parser.add_argument("--naive-backends", nargs="+", default=["pymc", "nutpie"])
    parser.add_argument("--tasks", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--hierarchy-backend", default="nutpie")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--parts", nargs="+", default=[*PARTS])
    parser.add_argument("--quick", action="store_true", help="small draws and sizes: checks that the script runs")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per child process")
    parser.add_argument("--out", default=str(HERE / "results" / "bench.json"))
    args = parser.parse_args()
    if args.child:
        job = json.loads(args.child)
        result = CHILDREN[job["part"]](job)
        result["peak_rss_gib"] = peak_rss_gib()
        print(json.dumps(result), flush=True)
        return
    draws = 100 if args.quick else 1000
    tasks = [min(n, 20) for n in args.tasks] if args.quick else args.tasks
    resamples = 20 if args.quick else args.bootstrap
    import bayes_scaling as bs

    machine = {"platform": platform.platform(), "machine": platform.machine(), "cores": os.cpu_count(),
               "python": platform.python_version(), "package_version": bs.package_version(),
               "gpu": gpu_name()}
    print(f"machine: {machine}", flush=True)
    record: dict = {"machine": machine, "quick": args.quick, "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    start = time.perf_counter()
    fits = chinchilla_part(args.backends, "pivot+dense", draws, args.timeout) if "chinchilla" in args.parts else []
    naive = (chinchilla_part(args.naive_backends, "naive+diag", draws // 2, args.timeout, repeats=("cold",))
             if "naive" in args.parts else [])
    boot = run_child({"part": "bootstrap", "resamples": resamples}, args.timeout) if "bootstrap" in args.parts else {}
    if boot:
        print(f"L-BFGS + Huber grid {boot.get('grid_fit_s', float('nan')):.1f} s + {resamples}-resample bootstrap "
              f"{boot.get('bootstrap_s', float('nan')):.1f} s", flush=True)
    hier = hierarchy_part(tasks, args.hierarchy_backend, 500 if not args.quick else 100, args.timeout) \
        if "hierarchy" in args.parts else []
    read = read_part(3 if args.quick else 5) if "read" in args.parts else {}
    peers = peers_part(1 if args.quick else 3) if "peers" in args.parts else {}
    if peers.get("ratios"):
        print("peers, as a ratio to our second process:", json.dumps({k: round(v, 2) for k, v in peers["ratios"].items()}),
              flush=True)
    parts = {"chinchilla": fits, "naive": naive, "bootstrap": boot, "hierarchy": hier, "read": read, "peers": peers}
    previous = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
    record["measured"] = {}
    for name in PARTS:  # parts not run now keep their last record
        carried = name not in args.parts and name in previous
        record[name] = previous[name] if carried else parts[name]
        record["measured"][name] = previous.get("measured", {}).get(name, previous.get("when")) if carried else record["when"]
    record.update(ratios=ratios(record["chinchilla"], record["naive"], record["bootstrap"]),
                  seconds=time.perf_counter() - start)
    print("ratios:", json.dumps({k: round(v, 2) for k, v in record["ratios"].items()}, indent=1), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2))
    print(f"wrote {args.out}")
    if ("peers" in args.parts or "read" in args.parts) and not args.quick:
        from bench_peers import write_table

        write_table(HERE.parent / "docs" / "benchmarks.md", record, HERE.parent / "README.md")


def gpu_name() -> str | None:
    """The GPU JAX sees, if any (None on a CPU-only machine or without the jax extra)."""
    try:
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
    except (ImportError, RuntimeError):
        return None
    return gpus[0].device_kind if gpus else None


if __name__ == "__main__":
    main()
