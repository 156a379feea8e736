"""Sweeps (bayes_scaling.sweeps.sweep): jobs and keys, TOML grids, a 2-worker Dask cluster against the same jobs
run serially, failures, resume, a killed worker, and the ``sweep`` command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import distributed  # the test extra installs the sweep extra: a missing one fails, never skips
import numpy as np
import pandas as pd
import pytest
from conftest import SEED

import bayes_scaling as bs
from bayes_scaling.cli import main
from bayes_scaling.sweeps.jobs import job_spec
from bayes_scaling.sweeps.sweep import (
    INSTALL_HINT,
    Job,
    SweepProgress,
    finished_row,
    jobs_from_toml,
    local_cluster,
    run_job,
    sweep,
    validate_job,
)

TINY = {"draws": 30, "tune": 30, "chains": 2}
#: The issue's example: 2 specs x 2 holdouts (a plain fit and a backtest) on the simulated runs.
GRID = textwrap.dedent(f"""
    [sweep]
    datasets = ["chinchilla_sim"]
    specs = ["chinchilla", "kaplan"]
    holdouts = ["none", "compute:0.2"]
    seeds = [{SEED}]

    [sampler]
    draws = {TINY["draws"]}
    tune = {TINY["tune"]}
    chains = {TINY["chains"]}
""")
TIMING = ("seconds",)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _bad_csv(folder: Path) -> Path:
    """Runs with a negative loss: read_runs refuses them when the job runs (not when it is validated)."""
    frame = bs.datasets.load("chinchilla_sim").table[["params", "tokens", "loss"]].head(20).copy()
    frame.loc[3, "loss"] = -1.0
    path = folder / "bad_runs.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def grid_file(tmp_path_factory) -> Path:
    return _write(tmp_path_factory.mktemp("grid") / "small.toml", GRID)


@pytest.fixture(scope="module")
def jobs(grid_file) -> list[Job]:
    good = jobs_from_toml(grid_file)
    bad = Job(str(_bad_csv(grid_file.parent)), "chinchilla", seed=SEED, **TINY)
    return [*good, bad]


@pytest.fixture(scope="module")
def serial(jobs, tmp_path_factory) -> tuple[pd.DataFrame, Path]:
    folder = tmp_path_factory.mktemp("serial")
    return sweep(jobs, results_dir=folder, serial=True), folder


@pytest.fixture(scope="module")
def client():
    with local_cluster(2) as cluster, distributed.Client(cluster) as c:
        c.wait_for_workers(2)
        yield c


@pytest.fixture(scope="module")
def killed_run(jobs, client, tmp_path_factory) -> dict:
    """The sweep on 2 workers; once the first result lands, one worker process is killed (SIGKILL)."""
    folder = tmp_path_factory.mktemp("cluster")
    pids = client.run(os.getpid)
    seen: dict = {"states": []}

    def on_progress(state: SweepProgress) -> None:
        seen["states"].append(state)
        if state.last is not None and state.last["status"] == "ok" and "first" not in seen:
            first = folder / f"{state.last['key']}.json"
            seen["first"], seen["first_stat"] = first, (first.stat().st_mtime_ns, first.stat().st_ino)
            seen["killed"] = pids[max(pids)]
            os.kill(seen["killed"], signal.SIGKILL)

    table = sweep(jobs, client=client, results_dir=folder, progress=on_progress)
    return {"table": table, "folder": folder, **seen}


# ------------------------------------------------------------------------------------------ jobs


def test_job_keys_are_canonical_and_stable_across_processes(tmp_path):
    job = Job("chinchilla_sim", "chinchilla", priors={"alpha": {"sigma": 1, "mu": 0.3, "dist": "Normal"}},
              pool={"beta": "shared", "alpha": "shared"}, seed=3, **TINY)
    same = Job("chinchilla_sim", "chinchilla", priors={"alpha": {"dist": "Normal", "mu": 0.3, "sigma": 1.0}},
               pool={"alpha": "shared", "beta": "shared"}, seed=3, tags={"prior_x": "narrow"}, **TINY)
    assert job.key == same.key and job == same and len({job, same}) == 1  # tags are not part of the job
    assert Job.from_dict(job.to_dict()).key == job.key
    assert len({job.key, Job("chinchilla_sim", seed=4, **TINY).key, Job("chinchilla_sim", seed=3, **TINY).key,
                Job("chinchilla_sim", seed=3, holdout="compute:0.2", **TINY).key}) == 4
    # another interpreter, with dask and distributed hidden: same keys, and the module imports without them
    code = ("import sys, json; sys.modules['dask'] = None; sys.modules['distributed'] = None\n"
            "from bayes_scaling.sweeps.sweep import Job, local_cluster\n"
            "print(Job.from_dict(json.loads(sys.argv[1])).key)\n"
            "try:\n    local_cluster(1)\nexcept Exception as exc:\n    print(type(exc).__name__, exc)\n")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(job.to_dict())], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0] == job.key
    assert out[1].startswith("BackendError") and INSTALL_HINT in out[1]


def test_a_toml_grid_expands_into_jobs(tmp_path):
    csv = tmp_path / "runs.csv"
    bs.datasets.load("chinchilla_sim").table.to_csv(csv, index=False)
    path = _write(tmp_path / "grid.toml", textwrap.dedent("""
        [sweep]
        datasets = ["chinchilla_sim", "runs.csv"]
        specs = ["chinchilla"]
        holdouts = ["none", "compute:0.2"]
        seeds = [1, 2]
        [sampler]
        draws = 50
        chains = 2
        [priors.exponents.default]
        [priors.exponents.narrow]
        alpha = { dist = "TruncatedNormal", mu = 0.35, sigma = 0.05, lower = 0.0 }
        beta = { dist = "TruncatedNormal", mu = 0.37, sigma = 0.05, lower = 0.0 }
        [priors.E.default]
        [priors.E.low]
        E = { dist = "Normal", mu = 0.3, sigma = 0.1 }
        [priors.E.high]
        E = { dist = "Normal", mu = 0.8, sigma = 0.1 }
    """))
    jobs = jobs_from_toml(path)
    assert len(jobs) == 2 * 1 * 2 * 3 * 2 * 2 and len({j.key for j in jobs}) == len(jobs)
    assert {j.dataset for j in jobs} == {"chinchilla_sim", str(csv.resolve())}  # relative to the sweep file
    assert {j.holdout for j in jobs} == {None, "compute:0.2"} and {j.draws for j in jobs} == {50}
    narrow_low = [j for j in jobs if j.tags == {"prior_exponents": "narrow", "prior_E": "low"}]
    assert len(narrow_low) == 8 and set(narrow_low[0].priors) == {"alpha", "beta", "E"}
    for job in jobs:
        validate_job(job)
    spec = job_spec(narrow_low[0])
    assert str(spec.priors["log_e"]) == "Normal(mu=0.3, sigma=0.1)"  # E stands for log_e, as in with_pooling
    assert spec.priors["alpha"].dist == "TruncatedNormal"


@pytest.mark.parametrize("text, message", [
    ("[sweep\ndatasets = 1", "is not valid TOML"),
    ("[sweep]\nspecs = ['chinchilla']", "needs datasets"),
    ("[sweep]\ndatasets = ['chinchilla_sim']\nholdout = ['none']", "unknown key(s) ['holdout']"),
    ("[sweep]\ndatasets = 'chinchilla_sim'", "'datasets' must be a non-empty list"),
    ("[sweep]\ndatasets = ['chinchilla_sim']\n[sampler]\ndraws = 'many'", "draws must be a whole number, got 'many'"),
    ("[sweep]\ndatasets = ['chinchilla_sim']\n[priors.alpha]\ndist = 'Normal'", "must hold variant tables"),
    ("[sweep]\ndatasets = ['chinchilla_sim']\n[priors.a.x]\nalpha = { dist = 'Cauchy' }", "unknown prior distribution"),
    (("[sweep]\ndatasets = ['chinchilla_sim']\n[priors.a.x]\nalpha = { dist = 'HalfNormal', sigma = 1 }\n"
     "[priors.b.y]\nalpha = { dist = 'HalfNormal', sigma = 2 }"), "set the same parameter(s) ['alpha']"),
])
def test_bad_sweep_files_give_one_clear_error(tmp_path, text, message):
    with pytest.raises(bs.SpecError) as info:
        jobs_from_toml(_write(tmp_path / "bad.toml", text))
    assert message in str(info.value) and "\n" not in str(info.value).strip()


@pytest.mark.parametrize("job, error", [
    (Job("chinchilla_sim", "chinchilla_v9"), bs.SpecError),
    (Job("no_such_data", "chinchilla"), bs.DatasetError),
    (Job("chinchilla_sim", "chinchilla", split="fit"), bs.DatasetError),
    (Job("chinchilla_sim", "chinchilla", pool={"alpha": "galaxy"}), bs.SpecError),
    (Job("chinchilla_sim", "kaplan", priors={"E": {"dist": "Normal", "mu": 0, "sigma": 1}}), bs.SpecError),
    (Job("chinchilla_sim", "chinchilla", holdout="flops:0.2"), bs.SpecError),
    (Job("chinchilla_sim", "chinchilla", draws=0), bs.BackendError),
    (Job("chinchilla_sim", "chinchilla", seed=-1), bs.BackendError),
    (Job("chinchilla_sim", "chinchilla", target_accept=1.5), bs.BackendError),
])
def test_invalid_jobs_are_refused_before_anything_runs(tmp_path, job, error):
    with pytest.raises(error):
        sweep([job], results_dir=tmp_path, serial=True)
    assert not list(tmp_path.iterdir())


def test_partial_or_failed_results_do_not_count_as_finished(tmp_path):
    bad = Job(str(_bad_csv(tmp_path)), "chinchilla", **TINY)
    row = run_job(bad, tmp_path)
    assert row["status"] == "failed" and row["error"].startswith("InputError:") and "\n" not in row["error"]
    assert json.loads((tmp_path / f"{bad.key}.json").read_text()) == row  # the record is kept ...
    assert finished_row(bad, tmp_path) is None  # ... but a restart tries the job again
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["bad_runs.csv", f"{bad.key}.json"])  # no temp files
    good = Job("chinchilla_sim", **TINY)
    (tmp_path / f".{good.key}.json.123.tmp").write_text('{"status": "ok"')  # what a killed writer leaves
    (tmp_path / f"{good.key}.json").write_text(json.dumps({"status": "ok", "key": good.key}))  # row, no fit
    assert finished_row(good, tmp_path) is None


# ---------------------------------------------------------------------------------- the sweep


@pytest.mark.slow
def test_serial_sweep_reports_failures_and_finishes_the_others(serial, jobs):
    table, _ = serial
    assert list(table["key"]) == [j.key for j in jobs]
    ok, failed = table[table["status"] == "ok"], table[table["status"] == "failed"]
    assert len(ok) == 4 and len(failed) == 1
    assert failed["error"].iloc[0].startswith("InputError:") and "loss" in failed["error"].iloc[0]
    assert set(ok["holdout"].fillna("none")) == {"none", "compute:0.2"} and set(ok["law"]) == {"chinchilla", "kaplan"}
    assert ok["opt_ratio_p10"].lt(ok["opt_ratio_median"]).all() and ok["opt_ratio_median"].lt(ok["opt_ratio_p90"]).all()
    held = ok[ok["holdout"] == "compute:0.2"]
    assert held["n_test"].gt(0).all() and held["posterior_rmsle"].between(0, 1).all()
    assert held["n_train"].add(held["n_test"]).eq(108).all() and held["n_runs"].eq(held["n_train"]).all()


@pytest.mark.slow
def test_cluster_sweep_equals_the_serial_run_to_the_last_digit(serial, killed_run):
    table, folder = serial
    other = killed_run["table"]
    pd.testing.assert_frame_equal(other.drop(columns=list(TIMING)), table.drop(columns=list(TIMING)),
                                  check_exact=True)
    for key in table.loc[table["status"] == "ok", "key"]:  # and the saved posteriors, draw for draw
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bs.SamplerWarning)  # 30 draws cannot converge
            a, b = bs.load_fit(folder / f"{key}.nc"), bs.load_fit(killed_run["folder"] / f"{key}.nc")
        for name in a.posterior.data_vars:
            np.testing.assert_array_equal(a.posterior[name].values, b.posterior[name].values)


@pytest.mark.slow
def test_killing_a_worker_mid_sweep_loses_no_finished_result(killed_run, jobs, client):
    assert killed_run["killed"] not in client.run(os.getpid).values()  # the nanny started a new process
    first, (mtime, inode) = killed_run["first"], killed_run["first_stat"]
    assert first.stat().st_mtime_ns == mtime and first.stat().st_ino == inode  # never rewritten nor lost
    assert all(finished_row(job, killed_run["folder"]) for job in jobs[:4])  # a job cut short ran again
    final = killed_run["states"][-1]
    assert (final.done, final.failed, final.running, final.waiting, final.total) == (4, 1, 0, 0, 5)


@pytest.mark.slow
def test_a_restart_runs_only_the_unfinished_jobs(killed_run, jobs, client):
    folder, table = killed_run["folder"], killed_run["table"]
    gone = next(job for job in jobs[:4] if folder / f"{job.key}.json" != killed_run["first"])
    (folder / f"{gone.key}.json").unlink()  # as if the sweep had stopped before this job ended
    kept = [job.key for job in jobs[:4] if job != gone]
    stamps = {key: (folder / f"{key}.json").stat().st_mtime_ns for key in kept}
    states: list[SweepProgress] = []
    again = sweep(jobs, client=client, results_dir=folder, progress=states.append)
    assert states[0].skipped == 3 and states[-1].total == 5
    assert {s.last["key"] for s in states if s.last is not None} == {gone.key, jobs[-1].key}  # failed: retried
    assert {key: (folder / f"{key}.json").stat().st_mtime_ns for key in kept} == stamps
    pd.testing.assert_frame_equal(again.drop(columns=list(TIMING)), table.drop(columns=list(TIMING)),
                                  check_exact=True)


# --------------------------------------------------------------------------------------- the CLI


def test_cli_sweep_exit_codes(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["sweep", str(_write(tmp_path / "broken.toml", "[sweep"))])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: sweep file") and err.count("\n") == 1
    for text, message in [("[sweep]\ndatasets = ['chinchilla_sim']\nspecs = ['nope']", "unknown spec 'nope'"),
                          ("[sweep]\ndatasets = ['nope']", "unknown dataset 'nope'")]:
        code = main(["sweep", str(_write(tmp_path / "invalid.toml", text))])
        err = capsys.readouterr().err
        assert code == 2 and message in err and err.startswith("error:") and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.toml", "invalid.toml"]  # nothing started

    bad = _write(tmp_path / "failing.toml", f"[sweep]\ndatasets = ['{_bad_csv(tmp_path).name}']\n[sampler]\ndraws = 5\n")
    code = main(["sweep", str(bad), "--serial", "--json"])
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert code == 1 and "1 of 1 jobs failed" in captured.err and doc["jobs"][0]["status"] == "failed"
    assert doc["jobs"][0]["error"].startswith("InputError:") and (tmp_path / "failing-results").is_dir()


@pytest.mark.slow
def test_cli_sweep_resumes_on_an_existing_scheduler(tmp_path, capsys, serial, grid_file, client):
    _, folder = serial
    copy = tmp_path / "resumed"  # the serial results, less one plain fit
    copy.mkdir()
    for path in folder.glob("*"):
        copy.joinpath(path.name).write_bytes(path.read_bytes())
    rerun = next(j for j in jobs_from_toml(grid_file) if j.holdout is None and j.spec == "chinchilla")
    (copy / f"{rerun.key}.json").unlink()
    good = _write(tmp_path / "good.toml", grid_file.read_text())
    code = main(["sweep", str(good), "--scheduler", client.scheduler.address, "--results", str(copy)])
    captured = capsys.readouterr()
    assert code == 0 and "3/4 done (3 from earlier runs)" in captured.err
    assert f"4/4 done (3 from earlier runs), 0 failed, 0 running, 0 waiting; last {rerun.key} ok" in captured.err
    assert "chinchilla" in captured.out and "kaplan" in captured.out and "compute:0.2" in captured.out


def test_a_fractional_sampler_count_is_refused_not_truncated():
    with pytest.raises(bs.BackendError, match="draws must be a whole number, got 50.5"):
        Job("chinchilla_sim", "chinchilla", draws=50.5)
