"""The command line: JSON documents for read commands, exit code 2 and one line for every user error."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import require_mirrored

import bayes_scaling as bs
from bayes_scaling.cli import main


@pytest.fixture(scope="module")
def fit_file(tmp_path_factory, sim_fit):
    return str(sim_fit.save(tmp_path_factory.mktemp("cli") / "fit.nc"))


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_fit_command_writes_a_fit(tmp_path, capsys, sim_runs):
    csv = tmp_path / "runs.csv"
    sim_runs.table.rename(columns={"params": "N"}).to_csv(csv, index=False)
    out_file = tmp_path / "out.nc"
    code, out, err = run(capsys, "fit", str(csv), "--columns", "N=params", "--out", str(out_file),
                         "--draws", "40", "--tune", "40", "--chains", "2", "--seed", "3")
    assert code == 0 and out_file.is_file()
    assert "fitting 'chinchilla' to 108 runs" in err
    assert "WARNING" in out  # 40 draws cannot reach the ESS bar, and the summary says so
    code, out, err = run(capsys, "summary", str(out_file), "--json")
    assert code == 0 and json.loads(out)["warnings"]


def test_fit_answers_the_optimum_in_the_same_process(tmp_path, capsys, sim_runs):
    out_file = tmp_path / "out.nc"
    code, out, _ = run(capsys, "fit", "chinchilla_sim", "--out", str(out_file), "--compute", "5.88e23",
                       "--draws", "300", "--tune", "300", "--chains", "2", "--seed", "3")
    assert code == 0 and "compute-optimal allocation (90% intervals)" in out
    ratio_line = next(line for line in out.splitlines() if " ratio " in line)
    code, saved, _ = run(capsys, "optimal", str(out_file), "--compute", "5.88e23", "--json")
    row = next(r for r in json.loads(saved)["optimal"] if r["variable"] == "ratio")
    assert float(ratio_line.split()[2]) == pytest.approx(row["median"], rel=1e-3)  # printed to 4 digits


def test_fit_json_is_one_document_with_the_answers(tmp_path, capsys):
    out_file = tmp_path / "out.nc"
    code, out, _ = run(capsys, "fit", "chinchilla_sim", "--out", str(out_file), "--compute", "5.88e23", "--json",
                       "--draws", "300", "--tune", "300", "--chains", "2", "--seed", "3")
    doc = json.loads(out)
    assert code == 0 and doc["saved"] == str(out_file) and out_file.is_file()
    assert doc["diagnostics"]["divergences"] >= 0 and "r_hat" in doc["parameters"]["alpha"]
    code, saved, _ = run(capsys, "optimal", str(out_file), "--compute", "5.88e23", "--json")
    assert doc["optimal"] == json.loads(saved)["optimal"]  # the same numbers as the read command's


@pytest.mark.parametrize("argv, message", [
    (["--unique-tokens", "1e9"], "--unique-tokens answers the allocation of --compute"),
    (["--compute", "1e21", "--unique-tokens", "1e9"], "--unique-tokens: the 'chinchilla' law has no unique-data input"),
])
def test_fit_refuses_a_unique_budget_it_cannot_use_before_sampling(argv, message, tmp_path, capsys):
    out_file = tmp_path / "out.nc"
    code, out, err = run(capsys, "fit", "chinchilla_sim", "--out", str(out_file), *argv)
    assert code == 2 and err.strip().startswith(f"error: {message}") and len(err.strip().splitlines()) == 1
    assert not out_file.exists() and out == ""


def test_fit_refuses_an_optimum_the_law_cannot_give_before_sampling(tmp_path, capsys):
    out_file = tmp_path / "out.nc"
    code, out, err = run(capsys, "fit", "chinchilla_sim", "--spec", "compute", "--out", str(out_file),
                         "--compute", "1e21")
    assert code == 2 and err.strip().startswith("error: --compute: the 'compute' law models loss as a function of "
                                                "compute alone: it has no N/D allocation")
    assert len(err.strip().splitlines()) == 1 and not out_file.exists() and "fitting" not in err and out == ""


@pytest.mark.parametrize("pool, message", [
    ("E=domain_separate", "spec 'chinchilla' lets parameter(s) ['log_e'] vary by domain, but the runs have one domain"),
    ("alpha=task", "spec 'chinchilla' lets parameter(s) ['alpha'] vary by task, but the runs have one task"),
])
def test_fit_refuses_pooling_the_runs_cannot_support_before_its_progress_line(pool, message, tmp_path, capsys):
    out_file = tmp_path / "out.nc"
    code, out, err = run(capsys, "fit", "chinchilla_sim", "--pool", pool, "--out", str(out_file))
    assert code == 2 and err.strip().startswith(f"error: {message}")
    assert len(err.strip().splitlines()) == 1 and "fitting" not in err and not out_file.exists() and out == ""
    code, out, err = run(capsys, "backtest", "chinchilla_sim", "--pool", pool, "--save", str(out_file))
    assert code == 2 and err.strip().startswith(f"error: {message}")
    assert len(err.strip().splitlines()) == 1 and "backtest of" not in err and not out_file.exists() and out == ""


def test_summary_json(fit_file, capsys):
    code, out, _ = run(capsys, "summary", fit_file, "--json", "--prob", "0.8")
    doc = json.loads(out)
    assert code == 0 and doc["prob"] == 0.8 and doc["warnings"] == []
    assert set(doc["parameters"]) >= {"E", "A", "B", "alpha", "beta", "a"}
    assert doc["parameters"]["alpha"]["lower"] < doc["parameters"]["alpha"]["upper"]


def test_summary_text(fit_file, capsys):
    code, out, _ = run(capsys, "summary", fit_file)
    assert code == 0 and "diagnostics: 0 divergences" in out and "alpha" in out


def test_optimal_json(fit_file, capsys, sim_fit):
    code, out, _ = run(capsys, "optimal", fit_file, "--compute", "1e21", "5.88e23", "--json")
    rows = [r for r in json.loads(out)["optimal"] if r["variable"] == "ratio"]
    assert code == 0 and [r["compute"] for r in rows] == [1e21, 5.88e23]
    expected = float(sim_fit.optimal(5.88e23).ratio.median())
    assert rows[1]["median"] == pytest.approx(expected, rel=1e-12)


def test_predict_json(fit_file, capsys):
    code, out, _ = run(capsys, "predict", fit_file, "--params", "7e10", "--tokens", "1.4e12", "--json")
    rows = {r["variable"]: r for r in json.loads(out)["predictions"]}
    assert code == 0 and rows["loss_pred"]["lower"] < rows["loss_mean"]["lower"]
    assert rows["loss_mean"]["params"] == 7e10


def bad_tables():
    n = np.geomspace(1e8, 1e10, 8)
    d = np.geomspace(1e10, 1e11, 8)
    good = pd.DataFrame({"params": n, "tokens": d, "loss": 1.8 + 400 * n**-0.34 + 400 * d**-0.28})
    return {
        "missing column": good.drop(columns="loss"),
        "NaN": good.assign(loss=good.loss.where(good.index != 1)),
        "must be positive": good.assign(params=good.params.where(good.index != 2, 0)),
        "percentage": good.assign(loss=good.loss * 100),
        "billions": good.assign(params=good.params / 1e9),
        "cannot determine": good.iloc[:3],
        "duplicate": pd.concat([good, good.iloc[[0]]]),
        "non-numeric": good.astype({"tokens": object}).assign(tokens=lambda t: t.tokens.where(t.index != 5, "1e11?")),
    }


@pytest.mark.parametrize("problem", list(bad_tables()))
def test_bad_input_exits_2_with_one_line(problem, tmp_path, capsys):
    csv = tmp_path / "bad.csv"
    bad_tables()[problem].to_csv(csv, index=False)
    code, _out, err = run(capsys, "fit", str(csv), "--out", str(tmp_path / "x.nc"), "--draws", "10", "--tune", "10")
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(lines) == 1 and problem in lines[0], err
    assert "Traceback" not in err


def test_unknown_spec_and_bad_fit_files(tmp_path, capsys, fit_file):
    code, _, err = run(capsys, "fit", "epoch_chinchilla", "--spec", "nope", "--out", "x.nc")
    assert code == 2 and err.strip() == f"error: unknown spec 'nope'; shipped specs: {', '.join(bs.available_specs())} (or give a .toml path)"
    assert {"chinchilla", "chinchilla_domain", "saturating_tasks", "m4"} <= set(bs.available_specs())
    blob = Path(fit_file).read_bytes()
    truncated = tmp_path / "t.nc"
    truncated.write_bytes(blob[:4000])
    for path in (truncated, tmp_path / "none.nc"):
        code, _, err = run(capsys, "summary", str(path))
        assert code == 2 and err.count("\n") == 1 and err.startswith("error:")
    code, _, err = run(capsys, "optimal", fit_file, "--compute", "-5")
    assert code == 2 and "positive" in err


def test_installed_entry_point_exits_2_without_traceback(tmp_path):
    bad = tmp_path / "bad.nc"
    bad.write_bytes(b"\x89HDF\r\n garbage")
    proc = subprocess.run([sys.executable, "-m", "bayes_scaling.cli", "summary", str(bad)], capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1


def test_demo_runs_on_bundled_or_mirrored_data(tmp_path, capsys):
    code, out, _ = run(capsys, "demo", "--out", str(tmp_path / "demo.nc"), "--draws", "100", "--tune", "150", "--chains", "2")
    assert code == 0 and "demo data:" in out and "compute-optimal allocation" in out
    assert (tmp_path / "demo.nc").is_file()


def test_compare_and_compare_models_from_the_cli(tmp_path, capsys, hier_fit, hier_runs):
    path = hier_fit.save(tmp_path / "pooled.nc")
    code, out, _ = run(capsys, "compare", str(path), "--param", "alpha", "--by", "domain")
    probability = float(re.search(r"P\(alpha\[vision\] > alpha\[language\]\) = ([0-9.]+)", out).group(1))
    assert code == 0 and probability > 0.99  # true domain exponents 0.30 vs 0.15
    code, out, _ = run(capsys, "compare", str(path), "--param", "alpha", "--json")
    doc = json.loads(out)
    assert doc["comparisons"][0]["p_greater"] > 0.99 and "warnings" in doc
    code, _, err = run(capsys, "compare", str(path), "--param", "nu")
    assert code == 2 and err.strip().splitlines()[-1].startswith("error:") and "shared by every domain" in err
    code, out, _ = run(capsys, "optimal", str(path), "--compute", "1e21")
    assert code == 2  # the compute law has no N/D split: a clear error, not a traceback
    code, out, _ = run(capsys, "predict", str(path), "--compute", "1e23", "--level", "domain")
    assert code == 0 and "vision" in out and "language" in out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        by_domain = bs.fit(hier_runs, "compute", pool="alpha=domain,e=domain,c0=domain", draws=200, tune=400,
                           chains=2, seed=1).save(tmp_path / "by_domain.nc")
    code, out, _ = run(capsys, "compare-models", str(path), str(by_domain))
    assert code == 0 and "PSIS-LOO" in out and "pooled" in out and "by_domain" in out


def test_plan_and_target_from_the_cli(capsys, fit_file):
    code, out, _ = run(capsys, "plan", str(fit_file), "--budget", "5.88e23", "1e25", "--objective", "quantile", "--q", "0.9")
    assert code == 0 and "quantile_0.9(L)" in out and "1e+25" in out
    code, out, _ = run(capsys, "plan", str(fit_file), "--budget", "5.88e23", "--json")
    doc = json.loads(out)
    assert doc["plan"][0]["params"] > 1e9 and doc["objective"] == "mean"
    code, out, _ = run(capsys, "target", str(fit_file), "--loss", "2.0", "--p", "0.5", "0.9", "--json")
    budgets = [row["budget"] for row in json.loads(out)["targets"]]
    assert code == 0 and budgets[1] > budgets[0]  # more certainty costs more compute
    for argv in (("target", str(fit_file), "--loss", "1.0"),
                 ("plan", str(fit_file), "--budget", "1e23", "--max-tokens", "1e9", "--max-params", "1e9"),
                 ("plan", str(fit_file), "--budget", "-1")):
        code, _, err = run(capsys, *argv)
        assert code == 2 and err.strip().splitlines()[-1].startswith("error:") and "Traceback" not in err


@pytest.mark.slow
def test_second_multi_group_fit_from_the_cli(tmp_path, capsys):
    """Cerebras-GPT against Pythia (model lineage as the domain) with the domain-pooled Chinchilla law:
    the fit converges from the CLI and compare answers for the exponents of the two lineages."""
    require_mirrored("cerebras_gpt_pile_table")
    path = tmp_path / "lineages.nc"
    code, out, err = run(capsys, "fit", "cerebras_gpt_pile_table", "--spec", "chinchilla_domain", "--backend", "nutpie",
                         "--tune", "2000", "--draws", "3000", "--out", str(path))
    assert code == 0 and "WARNING" not in out + err, out + err
    assert "0 divergences" in out
    code, out, _ = run(capsys, "compare", str(path), "--param", "alpha", "--by", "domain", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["diagnostics"]["ok"] and doc["diagnostics"]["max_rhat"] <= 1.01
    row = doc["comparisons"][0]
    assert {row["group"], row["other"]} == {"cerebras", "pythia"}
    assert 0.05 < row["other_median"] < 1.0 and 0.05 < row["group_median"] < 1.0
    assert row["diff_lower"] < row["diff_median"] < row["diff_upper"] and 0.0 < row["p_greater"] < 1.0


def test_every_command_prints_its_help(capsys):
    """``bayes-scaling <command> --help`` prints the usage and exits 0 for every command (argparse
    formats help strings with %, so a bare '80% intervals' in one of them is a traceback)."""
    from bayes_scaling.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert {"fit", "summary", "optimal", "predict-final"} <= set(commands)
    for command in commands:
        assert main([command, "--help"]) == 0, command
        out = capsys.readouterr().out
        assert out.startswith(f"usage: bayes-scaling {command}"), command
    assert main(["--help"]) == 0


def test_a_fit_file_given_where_a_table_of_runs_is_read_is_named(sim_fit, tmp_path, capsys):
    """A saved fit passed to a command that reads a CSV of runs gets one line saying what the file is."""
    path = sim_fit.save(tmp_path / "fit.nc")
    for argv in (["isoflop", str(path)], ["backtest", str(path)], ["plot", str(path), "--kind", "pit", "--out",
                                                                     str(tmp_path / "pit.png")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "saved fit (NetCDF)" in err and len(err.splitlines()) == 1, argv
    assert not (tmp_path / "pit.png").exists()


@pytest.mark.filterwarnings("ignore::bayes_scaling.errors.SamplerWarning")  # 2 short chains: E and C0 trade off
def test_runs_given_by_compute_alone_fit_the_compute_law(tmp_path, capsys):
    """A CSV of (compute, loss) pairs, e.g. read off a paper's compute-optimal frontier, fits L(C) and
    answers from the command line; a law in N and D on it is one line naming the missing column."""
    rng = np.random.default_rng(3)
    compute = np.geomspace(1e17, 1e23, 12)
    loss = (1.7 + (1e18 / compute) ** 0.25) * np.exp(rng.normal(0, 0.005, compute.size))
    csv = tmp_path / "frontier.csv"
    pd.DataFrame({"compute": compute, "loss": loss}).to_csv(csv, index=False)
    runs = bs.read_runs(csv)
    assert "params" not in runs.table and "tokens" not in runs.table and len(runs) == 12
    out = tmp_path / "c.nc"
    assert main(["fit", str(csv), "--spec", "compute", "--draws", "300", "--tune", "500", "--chains", "2",
                 "--out", str(out)]) == 0
    capsys.readouterr()
    fit = bs.load_fit(out)
    assert "params" not in fit.runs.table and fit.runs.digest == runs.digest
    pred = fit.predict(compute=1e23)
    assert float(pred["loss_mean"].median()) == pytest.approx(1.7 + (1e18 / 1e23) ** 0.25, rel=0.05)
    assert main(["report", str(out), "--out", str(tmp_path / "r.md")]) == 0
    assert "compute C (FLOPs)" in (tmp_path / "r.md").read_text()
    capsys.readouterr()
    for argv in (["fit", str(csv), "--out", str(tmp_path / "n.nc")], ["isoflop", str(csv)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "'params'" in err and len(err.splitlines()) == 1, argv
    assert not (tmp_path / "n.nc").exists()


def test_a_warning_numpy_repeats_is_printed_once(capsys):
    from bayes_scaling import cli

    cli.SHOWN.clear()
    for _ in range(3):
        cli._show_warning(RuntimeWarning("overflow encountered in exp"), RuntimeWarning, "law.py", 1)
    cli._show_warning(UserWarning("another"), UserWarning, "law.py", 2)
    assert capsys.readouterr().err.splitlines() == ["warning: overflow encountered in exp", "warning: another"]


@pytest.mark.parametrize(("budgets", "words"), [(["1e10"], "is too small"), (["1e22", "1e22"], "must differ")])
def test_fit_refuses_budgets_it_cannot_answer_before_sampling(tmp_path, capsys, budgets, words):
    out_file = tmp_path / "out.nc"
    code, _, err = run(capsys, "fit", "chinchilla_sim", "--out", str(out_file), "--compute", *budgets)
    assert code == 2 and words in err and "fitting" not in err and len(err.strip().splitlines()) == 1
    assert not out_file.exists()


NO_MATPLOTLIB = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "matplotlib":
            raise ImportError("not installed")
sys.meta_path.insert(0, Block())
from bayes_scaling.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_without_matplotlib_a_report_is_written_and_a_figure_is_one_line(tmp_path, sim_fit):
    """The Quickstart installs no plot extra: report (without --figures) needs no matplotlib, and plot says
    which extra to install instead of ending in an unexpected ImportError."""
    path = sim_fit.save(tmp_path / "fit.nc")
    probe = [sys.executable, "-c", NO_MATPLOTLIB]
    report = subprocess.run([*probe, "report", str(path), "--out", str(tmp_path / "r.md")], capture_output=True,
                            text=True, check=False)
    assert report.returncode == 0 and (tmp_path / "r.md").is_file(), report.stderr
    for command in (["plot", str(path), "--kind", "curve", "--out", str(tmp_path / "c.png")],
                    ["report", str(path), "--out", str(tmp_path / "f.md"), "--figures"]):
        done = subprocess.run([*probe, *command], capture_output=True, text=True, check=False)
        assert done.returncode == 2 and done.stderr.strip() == ("error: figures need matplotlib, which is not "
                                                                "installed: pip install 'bayes_scaling[plot]'")
