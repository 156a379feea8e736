"""Faults a user meets, in real processes: kills, Ctrl-C, concurrent writers, unwritable outputs.

Each test runs ``bayes-scaling`` as a child process (``python -m bayes_scaling.cli``) in its own
process group, as a terminal would, and asserts the outcome: the exit code, one ``error:`` line, no
traceback, and the previous fit file byte for byte intact (or a whole new one).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling.result.storage import TEMP_PREFIX

SMALL = ["--draws", "60", "--tune", "60", "--chains", "2", "--seed", "3"]


@pytest.fixture(scope="module")
def previous(tmp_path_factory, sim_fit) -> Path:
    """A valid earlier fit that every test puts at its --out path first."""
    return sim_fit.save(tmp_path_factory.mktemp("previous") / "previous.nc")


def start(*argv: str, cwd: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "BAYES_SCALING_DEBUG"}
    return subprocess.Popen([sys.executable, "-m", "bayes_scaling.cli", *argv], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for_line(proc: subprocess.Popen, text: str, timeout: float = 240.0) -> list[str]:
    """Read stderr until a line containing ``text`` (the lines read so far)."""
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"no line with {text!r} on stderr; got {lines}")


def finish(proc: subprocess.Popen, timeout: float = 120.0) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def assert_one_error(err: str, starts: str = "error:") -> None:
    assert "Traceback" not in err, err
    last = [line for line in err.splitlines() if line.strip()][-1]
    assert last.startswith(starts), err
    assert sum(line.startswith("error:") for line in err.splitlines()) == 1, err


def earlier_fit(folder: Path, previous: Path) -> tuple[Path, bytes]:
    """An --out path that already holds a valid fit, and that fit's bytes."""
    out = folder / "fit.nc"
    shutil.copy(previous, out)
    return out, out.read_bytes()


def temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]


@pytest.mark.slow
def test_sigkill_at_the_first_write_leaves_the_previous_file(tmp_path, previous):
    out, before = earlier_fit(tmp_path, previous)
    proc = start("fit", "chinchilla_sim", "--out", str(out), *SMALL, cwd=tmp_path)
    caught = False
    while proc.poll() is None:  # the save starts with a temporary file beside --out
        if temp_files(tmp_path):
            os.kill(proc.pid, signal.SIGKILL)
            caught = True
            break
    proc.communicate(timeout=60)
    assert caught, "the fit finished before its save could be caught"
    assert out.read_bytes() == before  # byte for byte the earlier fit
    bs.load_fit(out)


@pytest.mark.slow
def test_sigkill_while_sampling_leaves_the_previous_file(tmp_path, previous):
    out, before = earlier_fit(tmp_path, previous)
    proc = start("fit", "chinchilla_sim", "--out", str(out), "--draws", "200000", "--tune", "50", "--chains", "2",
                 cwd=tmp_path)
    wait_for_line(proc, "NUTS")
    time.sleep(2.0)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert out.read_bytes() == before
    assert temp_files(tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["warm-up", "draws"])
def test_ctrl_c_while_sampling_exits_130_and_saves_nothing(tmp_path, previous, phase):
    out, before = earlier_fit(tmp_path, previous)
    lengths = ["--tune", "200000", "--draws", "10"] if phase == "warm-up" else ["--tune", "10", "--draws", "200000"]
    proc = start("fit", "chinchilla_sim", "--out", str(out), *lengths, "--chains", "2", cwd=tmp_path)
    wait_for_line(proc, "NUTS")
    time.sleep(3.0)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    code, out_text, err = finish(proc)
    assert code == 130, err
    assert_one_error(err, "error: interrupted")
    assert "nothing was written" in err
    assert "saved" not in out_text
    assert out.read_bytes() == before
    assert temp_files(tmp_path) == []


@pytest.mark.slow
def test_ctrl_c_during_start_up_is_one_line(tmp_path, previous):
    out, before = earlier_fit(tmp_path, previous)
    proc = start("fit", "chinchilla_sim", "--out", str(out), *SMALL, cwd=tmp_path)
    time.sleep(0.4)  # the interpreter is up; PyMC and its compiler are still being imported
    os.killpg(proc.pid, signal.SIGINT)
    code, _, err = finish(proc)
    assert code == 130, err
    assert "fitting" not in err  # it never reached the sampler
    assert_one_error(err, "error: interrupted")
    assert out.read_bytes() == before


PROBE = """
import bayes_scaling.cli as cli


def interrupted_inside_exec(argv=None):
    try:
        exec("import os, signal\\nos.kill(os.getpid(), signal.SIGINT)\\nwhile True: pass")
    except KeyboardInterrupt:
        return cli.EXIT_INTERRUPTED


cli.main = interrupted_inside_exec
import runpy

runpy.run_module("bayes_scaling.cli", run_name="__main__")
"""


def test_ctrl_c_caught_inside_exec_still_exits_130(tmp_path):
    """A KeyboardInterrupt raised in exec'd code (as during an import) and caught: exit 130, not SIGINT."""
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "__main__.py").write_text(PROBE)
    done = subprocess.run([sys.executable, "-m", "probe"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 130, done.stderr


@pytest.mark.slow
def test_ctrl_c_with_keep_partial_saves_a_fit_marked_interrupted(tmp_path, previous):
    out = tmp_path / "fit.nc"
    proc = start("fit", "chinchilla_sim", "--out", str(out), "--tune", "50", "--draws", "200000", "--chains", "4",
                 "--keep-partial", cwd=tmp_path)  # 4 chains: on 2 cores the last two have not started
    wait_for_line(proc, "NUTS")
    time.sleep(4.0)
    os.killpg(proc.pid, signal.SIGINT)
    code, out_text, err = finish(proc)
    assert code == 0, err
    assert "interrupted: a partial posterior" in out_text
    with pytest.warns(bs.SamplerWarning, match="interrupted: a partial posterior"):
        kept = bs.load_fit(out)
    assert kept.settings.interrupted and 0 < kept.settings.draws_done < 200000
    post = kept.posterior  # cut to the draws every chain completed: no NaN padding kept as draws
    assert post.sizes["draw"] == kept.settings.draws_done
    assert all(bool(np.isfinite(v.values).all()) for v in post.data_vars.values())
    if kept.settings.unstarted_chains:  # chains waiting for a core are left out, and the fit says so
        assert post.sizes["chain"] == 4 - len(kept.settings.unstarted_chains) and not kept.settings.dropped_chains
        assert any("not started and left out" in p for p in kept.diagnostics.problems)
    assert any(p.startswith("interrupted") for p in kept.diagnostics.problems)
    summary = subprocess.run([sys.executable, "-m", "bayes_scaling.cli", "summary", str(out), "--json"],
                             capture_output=True, text=True, check=False)
    import json

    doc = json.loads(summary.stdout)
    assert doc["sampler"]["interrupted"] is True
    assert any(w.startswith("interrupted") for w in doc["warnings"])


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::bayes_scaling.errors.SamplerWarning")  # 2 x 60 draws: unconverged by design
def test_two_writers_of_one_output_both_finish_with_a_whole_file(tmp_path):
    out = tmp_path / "fit.nc"
    procs = [start("fit", "chinchilla_sim", "--out", str(out), *SMALL[:-1], str(seed), cwd=tmp_path)
             for seed in (3, 4)]
    results = [finish(p, timeout=300) for p in procs]
    assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
    assert bs.load_fit(out).settings.seed in (3, 4)
    assert temp_files(tmp_path) == []


def _read_only_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create files in (root ignores permission bits: use sysfs)."""
    if os.geteuid() == 0:
        return Path("/sys")
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def _fifo(tmp_path: Path) -> Path:
    os.mkfifo(tmp_path / "pipe.nc")
    return tmp_path / "pipe.nc"


@pytest.mark.parametrize("where", ["missing folder", "read-only folder", "a directory", "a named pipe"])
def test_unwritable_output_is_refused_before_sampling(tmp_path, where):
    out = {"missing folder": lambda: tmp_path / "no" / "such" / "fit.nc",
           "read-only folder": lambda: _read_only_folder(tmp_path) / "fit.nc",
           "a directory": lambda: tmp_path, "a named pipe": lambda: _fifo(tmp_path)}[where]()
    proc = start("fit", "chinchilla_sim", "--out", str(out), *SMALL, cwd=tmp_path)
    code, out_text, err = finish(proc)
    assert code == 2, err
    assert_one_error(err, "error: cannot write")
    assert "fitting" not in err and out_text == ""  # refused before the sampler started


def test_a_ctrl_c_in_a_finaliser_is_not_printed_as_an_ignored_traceback(capsys):
    """A SIGINT that lands in a weakref callback during start-up was printed by Python as 'Exception
    ignored ... Traceback' above the one error line; the command's hook keeps it quiet and passes any
    other exception on."""
    import weakref

    from bayes_scaling.cli import _quiet_interrupts

    class Thing:
        pass

    def interrupted(ref):
        raise KeyboardInterrupt

    previous, sys.unraisablehook = sys.unraisablehook, _quiet_interrupts
    try:
        thing = Thing()
        ref = weakref.ref(thing, interrupted)
        del thing
        other = Thing()
        ref2 = weakref.ref(other, lambda _: 1 / 0)
        del other
    finally:
        sys.unraisablehook = previous
    err = capsys.readouterr().err
    assert "KeyboardInterrupt" not in err and "ZeroDivisionError" in err
    assert ref() is None and ref2() is None


def test_a_save_never_replaces_a_device_or_pipe_and_writes_through_a_link(tmp_path, sim_fit):
    """Renaming over a path replaces whatever is there: a save refuses what is not a regular file and,
    at a symbolic link, replaces the file it points to and keeps the link."""
    pipe = _fifo(tmp_path)
    with pytest.raises(bs.FitFileError, match="not a regular file"):
        sim_fit.save(pipe)
    assert pipe.is_fifo() and temp_files(tmp_path) == []
    target = tmp_path / "real.nc"
    target.write_text("an older file")
    link = tmp_path / "link.nc"
    link.symlink_to(target)
    sim_fit.save(link)
    assert link.is_symlink() and link.resolve() == target
    assert bs.load_fit(link).posterior["alpha"].equals(sim_fit.posterior["alpha"])
