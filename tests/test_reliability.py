"""Bad input gets one ``error:`` line and exit 2; legal but suspicious input gets a warning that names it.

Also: every read command's ``--json`` on a grouped fit parses, altered fit files are refused by their
checksums, the compute holdout cuts with a tolerance, and the demo samples cleanly.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import require_mirrored

import bayes_scaling as bs
from bayes_scaling.cli import main
from bayes_scaling.result.checks import check_priors, warn_several_groups
from bayes_scaling.structural import parse as parse_structural
from bayes_scaling.validation.splits import split_holdout


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error(code: int, err: str, *words: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    for word in words:
        assert word in lines[0], err


@pytest.fixture(scope="module")
def fit_file(tmp_path_factory, sim_fit) -> Path:
    return sim_fit.save(tmp_path_factory.mktemp("reliability") / "fit.nc")


@pytest.fixture(scope="module")
def grouped_file(tmp_path_factory, sim_runs) -> Path:
    """The simulation split into two domains, fitted with every parameter pooled by domain."""
    table = sim_runs.table.copy()
    table["domain"] = np.where(np.arange(len(table)) % 2 == 0, "even", "odd")
    table["task"] = table["domain"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        fit = bs.fit(table, "chinchilla_domain", draws=150, tune=300, chains=2, seed=11)
    return fit.save(tmp_path_factory.mktemp("grouped") / "grouped.nc")


# ---------------------------------------------------------------------------- tables

def test_duplicate_column_names_are_refused(tmp_path, capsys, sim_runs):
    csv = tmp_path / "dup.csv"
    table = sim_runs.table[["params", "tokens", "loss"]]
    csv.write_text("params,tokens,loss,loss\n" + "\n".join(f"{n},{d},{loss},{loss}" for n, d, loss in table.values))
    code, _, err = run(capsys, "fit", csv, "--out", tmp_path / "x.nc")
    one_error(code, err, "more than one column named ['loss']")
    with pytest.raises(bs.InputError, match="more than one column"):
        bs.read_runs(pd.DataFrame([[1e6, 1e9, 3.0, 3.0]], columns=["params", "tokens", "loss", "loss"]))
    assert not (tmp_path / "x.nc").exists()


@pytest.mark.parametrize("label", ["co\x00de", "a\tb", "caf\udce9"])
def test_labels_a_fit_file_cannot_hold_are_refused_before_sampling(tmp_path, capsys, sim_runs, label):
    table = sim_runs.table[["params", "tokens", "loss"]].copy()
    table["domain"] = pd.Series(["web", label] * (len(table) // 2), index=table.index, dtype=object)
    with pytest.raises(bs.InputError, match="control or unencodable characters in rows 1, 3"):
        bs.read_runs(table)
    if label != "caf\udce9":  # a CSV holds UTF-8, which has no lone surrogates
        csv = tmp_path / "labels.csv"
        table.to_csv(csv, index=False)
        code, _, err = run(capsys, "fit", csv, "--out", tmp_path / "x.nc")
        one_error(code, err, "column 'domain' has labels with control")
        assert not (tmp_path / "x.nc").exists()


@pytest.mark.parametrize("argv", [
    ("fit", "{csv}", "--out", "{csv}"),
    ("backtest", "{csv}", "--save", "{csv}"),
    ("predict-final", "{csv}", "--out", "{csv}"),
    ("report", "{fit}", "--out", "{fit}"),
    ("plot", "{fit}", "--kind", "curve", "--out", "{fit}"),
])
def test_an_output_that_is_the_input_is_refused_and_the_input_kept(tmp_path, capsys, sim_runs, fit_file, argv):
    csv, fit = tmp_path / "runs.csv", tmp_path / "fit.nc"
    sim_runs.table[["params", "tokens", "loss"]].to_csv(csv, index=False)
    fit.write_bytes(fit_file.read_bytes())
    before = {p: p.read_bytes() for p in (csv, fit)}
    code, _, err = run(capsys, *(a.format(csv=csv, fit=fit) for a in argv))
    one_error(code, err, "is the input file", "choose another path")
    assert {p: p.read_bytes() for p in (csv, fit)} == before


def test_a_comma_ending_every_row_is_not_an_index_column(tmp_path, sim_runs):
    table = sim_runs.table[["params", "tokens", "loss"]]
    csv = tmp_path / "trailing.csv"
    csv.write_text("params,tokens,loss\n" + "".join(f"{n!r},{d!r},{loss!r},\n" for n, d, loss in table.values.tolist()))
    runs = bs.read_runs(csv)
    np.testing.assert_array_equal(runs.table[["params", "tokens", "loss"]].to_numpy(), table.to_numpy())


@pytest.mark.parametrize(("text", "words"), [
    (b"", "No columns to parse"),
    (b"curve,tokens,loss,total_tokens\n", "has no rows"),
    (b"curve,tokens,loss,total_tokens\nr0,1e9,3.0,1e10\nr0,2e9,2.9,1e10,5\n", "Expected 4 fields in line 3"),
    (b"curve,tokens,loss,total_tokens\nr0,1e9,3.0\xe9,1e10\n", "can't decode byte 0xe9"),
    (b"curve,tokens,loss,total_tokens,loss\nr0,1e9,3.0,1e10,2.0\n", "more than one column named ['loss']"),
])
def test_a_checkpoint_table_is_read_as_a_table_of_runs_is(tmp_path, capsys, text, words):
    csv = tmp_path / "checkpoints.csv"
    csv.write_bytes(text)
    code, _, err = run(capsys, "predict-final", csv)
    one_error(code, err, words)


def test_a_report_writes_all_of_its_files_or_none(tmp_path, capsys, fit_file):
    (tmp_path / "r.md").write_text("an earlier report")
    (tmp_path / "r.tex").mkdir()  # its LaTeX table cannot be written
    code, _, err = run(capsys, "report", fit_file, "--out", tmp_path / "r.md")
    one_error(code, err, "cannot write", "r.tex")
    assert (tmp_path / "r.md").read_text() == "an earlier report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.md", "r.tex"]  # no temporary file left


def test_a_report_named_tex_is_refused(tmp_path, capsys, fit_file):
    code, _, err = run(capsys, "report", fit_file, "--out", tmp_path / "r.tex")
    one_error(code, err, "give a .md path")
    assert list(tmp_path.iterdir()) == []


def test_spaces_around_column_names_are_read_with_a_warning(tmp_path, sim_runs):
    csv = tmp_path / "spaces.csv"
    sim_runs.table[["params", "tokens", "loss"]].rename(columns={"loss": " loss "}).to_csv(csv, index=False)
    with pytest.warns(bs.DataWarning, match=r"\[' loss '\]"):
        runs = bs.read_runs(csv)
    assert len(runs) == len(sim_runs)


def test_a_missing_column_shows_the_columns_as_spelled(tmp_path, capsys):
    csv = tmp_path / "miss.csv"
    csv.write_text("params,tokens,Loss\n1e6,1e9,3\n2e6,2e9,2.9\n")
    code, _, err = run(capsys, "fit", csv, "--out", tmp_path / "x.nc")
    one_error(code, err, "missing column(s): loss", "'Loss'")


def _unreadable(path: Path, monkeypatch) -> None:
    """Make ``path`` unreadable: permission bits, or for root (who ignores them) a failing open."""
    path.chmod(0)
    if os.geteuid() == 0:
        real_open = open

        def refusing(file, *args, **kwargs):
            if Path(str(file)).resolve() == path.resolve():
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr("builtins.open", refusing)
        monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: refusing(self).read())


def test_unreadable_data_spec_and_fit_files_are_one_line(tmp_path, capsys, monkeypatch, sim_runs, fit_file):
    csv = tmp_path / "runs.csv"
    sim_runs.table.to_csv(csv, index=False)
    spec = tmp_path / "spec.toml"
    spec.write_text('law = "chinchilla"\n')
    fit = tmp_path / "fit.nc"
    fit.write_bytes(Path(fit_file).read_bytes())
    for path in (csv, spec, fit):
        _unreadable(path, monkeypatch)
    code, _, err = run(capsys, "fit", csv, "--out", tmp_path / "x.nc")
    one_error(code, err, "cannot read", "Permission denied")
    code, _, err = run(capsys, "fit", "chinchilla_sim", "--spec", spec, "--out", tmp_path / "x.nc")
    one_error(code, err, "cannot read spec file", "Permission denied")
    code, _, err = run(capsys, "summary", fit)
    one_error(code, err, "cannot read", "Permission denied")
    assert "corrupt" not in err


# ---------------------------------------------------------------------------- specs and priors

@pytest.mark.parametrize(("prior", "words"), [
    ('{ dist = "HalfNormal", sigma = -1.0 }', "sigma must be positive"),
    ('{ dist = "Normal", mu = 0.0, sigma = 0.0 }', "sigma must be positive"),
    ('{ dist = "Uniform", lower = 2.0, upper = 1.0 }', "must be below upper"),
    ('{ dist = "Normal", mu = 0.0 }', "missing ['sigma']"),
])
def test_priors_outside_their_support_are_refused_at_load(tmp_path, capsys, prior, words):
    spec = tmp_path / "bad.toml"
    spec.write_text(f'law = "chinchilla"\n[priors]\nalpha = {prior}\n')
    with pytest.raises(bs.SpecError, match="prior"):
        bs.load_spec(spec)
    code, _, err = run(capsys, "fit", "chinchilla_sim", "--spec", spec, "--out", tmp_path / "x.nc")
    one_error(code, err, words)


@pytest.mark.parametrize(("priors", "words"), [
    ({"sigma": bs.Prior("Normal", mu=-1.0, sigma=0.01)}, "'sigma' is positive, but its prior Normal(mu=-1, sigma=0.01) puts mass"),
    ({"nu": bs.Prior("Uniform", lower=-5.0, upper=5.0)}, "'nu' is positive"),
    ({"alpha": bs.Prior("TruncatedNormal", mu=0.0, sigma=1.0, upper=-0.1)}, "puts all its mass at or below zero"),
    ({"alpha": 3}, "the prior for 'alpha' is a bs.Prior"),
])
def test_priors_a_parameter_cannot_take_are_refused(sim_runs, priors, words):
    with pytest.raises(bs.SpecError, match=re.escape(words)):
        bs.ModelSpec(name="x", law="chinchilla", priors=priors)
    bs.ModelSpec(name="x", law="chinchilla", priors={"alpha": bs.Prior("Normal", mu=0.3, sigma=0.1)})  # may be negative
    with pytest.raises(bs.SpecError, match="discrepancy is a StructuralError"):
        bs.ModelSpec(name="x", law="chinchilla", discrepancy="none")


def test_runs_built_by_hand_are_held_to_what_the_reader_makes(sim_runs):
    table = sim_runs.table.copy()
    for runs, words in [(bs.Runs(table.assign(loss=np.where(table.index == 3, np.nan, table["loss"]))), "column 'loss'"),
                        (bs.Runs(table.drop(columns=["domain", "task"])), "lacks column(s) ['domain', 'task']"),
                        (bs.Runs(table["loss"]), "bs.Runs holding a DataFrame")]:
        with pytest.raises(bs.InputError, match=re.escape(words) + ".*bs.read_runs"):
            bs.fit(runs, draws=10, tune=10, chains=1)


def test_one_run_decades_away_from_every_other_is_named(sim_runs):
    table = sim_runs.table[["params", "tokens", "loss"]].copy()
    table.loc[3, "params"] = 1e200
    with pytest.warns(bs.DataWarning, match=r"column 'params' is 1e\+200 in row 3, \d+ decades above the next largest"):
        bs.read_runs(table)
    with warnings.catch_warnings():
        warnings.simplefilter("error", bs.DataWarning)
        bs.read_runs(sim_runs.table[["params", "tokens", "loss"]])


def test_an_input_that_never_varies_is_named_before_sampling(sim_runs):
    from bayes_scaling.result.checks import warn_constant_inputs

    table = sim_runs.table[["params", "tokens", "loss"]].assign(params=1e8)
    with pytest.warns(bs.DataWarning, match=r"'params' \(1e\+08\) takes one value in every run"):
        text = warn_constant_inputs(bs.read_runs(table), bs.load_spec("chinchilla"))
    assert "fit runs that vary params" in text
    with warnings.catch_warnings():
        warnings.simplefilter("error", bs.DataWarning)
        assert warn_constant_inputs(sim_runs, bs.load_spec("chinchilla")) is None


def test_a_prior_that_excludes_the_data_warns_and_names_e(sim_runs):
    spec = bs.load_spec("chinchilla").with_priors(log_e=bs.Prior("Uniform", lower=np.log(20), upper=np.log(55)))
    with pytest.warns(bs.PriorWarning, match="out of reach.*prior of E"):
        text = check_priors(sim_runs, spec)
    assert "108 of 108 runs checked" in text
    with warnings.catch_warnings():
        warnings.simplefilter("error", bs.PriorWarning)
        assert check_priors(sim_runs, bs.load_spec("chinchilla")) is None  # the shipped priors reach the data


# ---------------------------------------------------------------------------- arguments

@pytest.mark.parametrize(("argv", "words"), [
    (["--seed", "-1"], "--seed: must be a non-negative integer"),
    (["--draws", "0"], "--draws: must be at least 1"),
    (["--target-accept", "1.0"], "strictly between 0 and 1"),
])
def test_sampler_arguments_out_of_range(tmp_path, capsys, argv, words):
    code, _, err = run(capsys, "fit", "chinchilla_sim", "--out", tmp_path / "x.nc", *argv)
    one_error(code, err, words)
    with pytest.raises(bs.BackendError, match="seed"):
        bs.sample(bs.build_model(bs.datasets.load("chinchilla_sim"), "chinchilla"), bs.SamplerSettings(seed=-1))


def test_read_arguments_out_of_range(capsys, fit_file):
    for argv, words in ((["summary", fit_file, "--prob", "1.5"], "--prob: must lie strictly between 0 and 1"),
                        (["optimal", fit_file, "--compute", "nan"], "finite"),
                        (["plan", fit_file, "--budget", "1e23", "--q", "0"], "--q"),
                        (["target", fit_file, "--loss", "2.0", "--p", "1"], "--p"),
                        (["optimal", fit_file, "--compute", "-1e22"], "--compute: must be a positive number, got -1e22"),
                        (["predict", fit_file, "--params", "-7e10", "--tokens", "1e12"], "--params: must be a positive")):
        code, _, err = run(capsys, *argv)
        one_error(code, err, words)


def test_a_seed_as_large_as_an_int64_is_a_whole_number():
    bs.SamplerSettings(seed=2**63 - 1).check()  # as a float it rounds up to 2**63: not "whole"
    with pytest.raises(bs.BackendError, match="whole number"):
        bs.SamplerSettings(seed=1.5).check()


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"bayes-scaling {bs.__version__}"


def test_a_budget_far_below_the_runs_is_too_small(capsys, fit_file):
    code, _, err = run(capsys, "plan", fit_file, "--budget", "1e10")
    one_error(code, err, "too small", "decades below the smallest fitted run")
    with pytest.raises(bs.QueryError, match="too small"):
        bs.planning.plan(bs.load_fit(fit_file), 1e10)


def test_answers_beyond_the_runs_say_how_far(capsys, fit_file):
    code, out, err = run(capsys, "optimal", fit_file, "--compute", "5.88e23", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["reach"]["compute"][0] > 2  # Chinchilla's budget: > 2 decades above the runs
    assert any("extrapolates: compute" in w for w in doc["warnings"])
    code, out, err = run(capsys, "predict", fit_file, "--params", "7e10", "--tokens", "1.4e12")
    assert code == 0 and "warning: the prediction extrapolates: params" in err
    fit = bs.load_fit(fit_file)
    centre = {k: float(np.exp(np.log(fit.runs.column(k)).mean())) for k in ("params", "tokens")}
    inside = fit.predict(**centre)
    assert inside.attrs["warnings"] == [] and inside.attrs["reach"] == {k: [0.0] for k in ("params", "tokens", "compute")}


# ---------------------------------------------------------------------------- fit files

def test_an_altered_posterior_is_refused_by_its_checksum(tmp_path, capsys, fit_file):
    altered = tmp_path / "altered.nc"
    altered.write_bytes(Path(fit_file).read_bytes())
    with h5py.File(altered, "r+") as handle:
        handle["posterior/alpha"][0, 0] = 0.123
    with pytest.raises(bs.FitFileError, match="group 'posterior' differs from what was saved"):
        bs.load_fit(altered)
    code, _, err = run(capsys, "summary", altered, "--json")
    one_error(code, err, "checksum mismatch")


@pytest.mark.parametrize(("attr", "edit"), [
    ("diagnostics", lambda d: {**d, "divergences": 99}),
    ("spec", lambda d: {**d, "discrepancy": {**d["discrepancy"], "scale": 5.0}}),
    ("pivots", lambda d: {k: v * 10 if isinstance(v, float) else v for k, v in d.items()}),
])
def test_altered_provenance_is_refused_by_its_checksum(tmp_path, capsys, fit_file, attr, edit):
    """What a fit is read back with (its diagnostics, spec, pivots) is covered as its groups are."""
    altered = tmp_path / "altered.nc"
    altered.write_bytes(Path(fit_file).read_bytes())
    with h5py.File(altered, "r+") as handle:
        handle.attrs[attr] = json.dumps(edit(json.loads(handle.attrs[attr])))
    with pytest.raises(bs.FitFileError, match=r"its provenance \(root attributes\) differs"):
        bs.load_fit(altered)
    code, _, err = run(capsys, "predict", altered, "--params", "1e9", "--tokens", "2e10")
    one_error(code, err, "checksum mismatch")


def test_every_read_command_prints_strict_json_on_a_grouped_fit(tmp_path, capsys, grouped_file):
    commands = [
        ["summary"], ["optimal", "--compute", "1e21", "5.88e23"], ["predict", "--params", "1e9", "--tokens", "2e10"],
        ["compare", "--param", "alpha"], ["plan", "--budget", "1e21"], ["target", "--loss", "2.2"],
    ]
    for command in commands:
        code, out, err = run(capsys, command[0], grouped_file, *command[1:], "--json")
        assert code == 0, (command, err)
        doc = json.loads(out, parse_constant=lambda c, name=command[0]: pytest.fail(f"{name}: non-strict JSON {c}"))
        assert doc["spec"] == "chinchilla_domain" and "warnings" in doc and "diagnostics" in doc
    code, out, _ = run(capsys, "summary", grouped_file, "--json")
    params = json.loads(out)["parameters"]
    assert {"alpha[even]", "alpha[odd]", "E[even]", "E[odd]"} <= set(params)
    assert params["alpha[even]"]["variable"] == "alpha" and params["alpha[even]"]["domain"] == "even"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        other = bs.load_fit(grouped_file)
        other = bs.fit(other.runs, "chinchilla_domain", draws=150, tune=300, chains=2, seed=12)
    second = other.save(tmp_path / "seed12.nc")
    code, out, _ = run(capsys, "compare-models", grouped_file, second, "--json")
    assert code == 0 and len(json.loads(out)["comparison"]) == 2


@pytest.mark.slow
def test_a_closed_pipe_is_not_a_traceback(grouped_file):
    proc = subprocess.run(f'"{sys.executable}" -m bayes_scaling.cli summary "{grouped_file}" --json | true',
                          shell=True, capture_output=True, text=True, check=False)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr


# ---------------------------------------------------------------------------- splits

def test_the_compute_cut_treats_one_nominal_budget_as_one(sim_runs):
    table = sim_runs.table.copy()
    top = table["compute"].max()
    for i, value in enumerate((3.1999999999999995e18, 3.2e18, 3.2000000000000005e18)):
        row = table.iloc[i].copy()
        row["compute"], row["params"] = value * 1e5, 1e9 + i  # three runs at one nominal budget, above the rest
        row["tokens"] = row["compute"] / (6 * row["params"])
        table.loc[len(table)] = row
    runs = bs.read_runs(table)
    assert runs.column("compute").max() > top
    _, test = split_holdout(runs, "compute:0.02")  # ceil(0.02 * 111) = 3 runs: the three budget copies
    assert len(test) == 3
    _, test = split_holdout(runs, "compute:>=3.2e23")
    assert len(test) == 3


# ---------------------------------------------------------------------------- sampler

@pytest.mark.slow
def test_noise_free_runs_are_explained_in_one_line():
    from bayes_scaling.validation.simulate import simulate_runs

    design = bs.datasets.load("chinchilla_sim").table[["params", "tokens"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        fit = bs.fit(simulate_runs(design, sigma=0.0, nu=None), "chinchilla", draws=150, tune=150, chains=2, seed=1)
    assert any("noise scale collapsed" in p and "follow the law almost exactly" in p for p in fit.diagnostics.problems)


@pytest.mark.slow
def test_the_demo_samples_cleanly_with_its_defaults(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BAYES_SCALING_DATA", str(tmp_path))  # no mirror and no cache: the bundled chinchilla_sim
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    code, out, err = run(capsys, "demo", "--out", tmp_path / "demo.nc")
    assert code == 0, err
    assert "chinchilla_sim" in out and "WARNING" not in out
    d = bs.load_fit(tmp_path / "demo.nc").diagnostics
    assert d.divergences == 0 and d.max_rhat <= 1.01 and d.ok


@pytest.mark.parametrize("backend", ["nutpie", "numpyro"])
def test_fits_of_every_backend_reload_with_their_checksums(tmp_path, sim_runs, backend):
    """Each backend writes its own sample stats (nutpie: an object array of messages, NaN on disk)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        fit = bs.fit(sim_runs, "chinchilla", draws=30, tune=30, chains=2, seed=2, backend=backend)
        again = bs.load_fit(fit.save(tmp_path / f"{backend}.nc"))
    assert np.array_equal(again.posterior["alpha"].values, fit.posterior["alpha"].values)


def test_a_misspelt_spec_table_is_refused_not_ignored(tmp_path, capsys):
    spec = tmp_path / "typo.toml"
    spec.write_text('law = "chinchilla"\n[prior]\nalpha = { dist = "HalfNormal", sigma = 0.1 }\n')
    code, _, err = run(capsys, "fit", "chinchilla_sim", "--spec", spec, "--out", tmp_path / "x.nc")
    one_error(code, err, "unknown key(s) ['prior']")
    spec.write_text('law = "chinchilla"\n[likelihood]\nfamily = "normal"\nsigma_pool = "task"\n')
    with pytest.raises(bs.SpecError, match=r"unknown \[likelihood\] key\(s\) \['sigma_pool'\]"):
        bs.load_spec(spec)


def test_options_that_would_be_ignored_are_refused(tmp_path, capsys):
    code, _, err = run(capsys, "fit", "chinchilla_sim", "--columns", "N=params", "--out", tmp_path / "x.nc")
    one_error(code, err, "--columns renames the columns of a CSV file")
    code, _, err = run(capsys, "backtest", "chinchilla_sim", "--holdout", "compute:1.5")
    one_error(code, err, "the fraction must lie strictly between 0 and 1")  # before the status line


def test_checksums_taken_in_memory_equal_those_of_the_file(tmp_path):
    """A tree of booleans, integer widths, float32, dates and strings is hashed before it is written."""
    from bayes_scaling.result.storage import (
        CHECKSUM_ATTR,
        _round_trips,
        group_checksums,
        read_tree,
        write_tree,
    )

    run = np.arange(4)
    group = xr.Dataset({"flag": ("run", np.array([True, False, True, True])),
                        "steps": ("run", np.array([1, 2, 3, 2**40], dtype=np.uint64)),
                        "loss": ("run", np.array([2.5, np.nan, 1.25, 3.0], dtype=np.float32)),
                        "when": ("run", np.array(["2026-01-01", "NaT", "2026-03-01", "2026-04-01"], "datetime64[ns]"))},
                       coords={"run": run, "domain": ("run", ["a", "bb", "a", "ccc"])})
    tree = xr.DataTree.from_dict({"runs": group})
    tree.attrs.update(format="test", converged=1, spec=json.dumps({"law": "chinchilla"}))
    assert _round_trips(tree)
    path = write_tree(tree, tmp_path / "t.nc")
    back = read_tree(path)
    assert json.loads(back.attrs[CHECKSUM_ATTR]) == group_checksums(back) == group_checksums(tree)
    assert not _round_trips(xr.DataTree.from_dict({"g": xr.Dataset({"o": ("x", np.array([None, "m"], dtype=object))})}))


def test_runs_of_several_groups_under_one_shared_law_are_named(sim_runs):
    """Two domains (or tasks) under a spec that shares every parameter get a DataWarning naming them
    and the way out; a hierarchical spec, a pooling override or one group alone get none."""
    from bayes_scaling.spec import load_spec

    table = sim_runs.table[["params", "tokens", "loss"]]
    two = bs.read_runs(pd.concat([table.assign(domain="c4"), table.assign(domain="oscar", loss=table["loss"] * 1.2)]))
    with pytest.warns(bs.DataWarning, match=r"2 domains \(c4, oscar\).*'chinchilla' fits one law.*E=domain_separate"):
        warn_several_groups(two, load_spec("chinchilla"))
    tasks = bs.read_runs(pd.concat([table.assign(task="a"), table.assign(task="b")]))
    with pytest.warns(bs.DataWarning, match="2 tasks.*E=task_separate"):
        warn_several_groups(tasks, load_spec("chinchilla"))
    many = bs.read_runs(pd.concat([table.assign(domain=f"d{i}", loss=table["loss"] * (1 + i / 10)) for i in range(4)]))
    with pytest.warns(bs.DataWarning, match="4 domains.*hierarchical spec such as chinchilla_domain"):
        warn_several_groups(many, load_spec("chinchilla"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_several_groups(two, load_spec("chinchilla_domain")) is None
        assert warn_several_groups(two, load_spec("chinchilla").overridden(None, "e=domain", None)) is None
        assert warn_several_groups(sim_runs, load_spec("chinchilla")) is None


def test_a_probability_or_span_given_as_text_is_read_or_refused_in_one_line(sim_fit):
    """Numeric text reads as its number (as budgets do); other text is one QueryError, not Python's
    TypeError from arithmetic on a string."""
    assert sim_fit.summary(prob="0.8").equals(sim_fit.summary(prob=0.8))
    ratio = sim_fit.optimal(1e22).ratio
    assert bs.interval_table(ratio, prob="0.8").equals(bs.interval_table(ratio, prob=0.8))
    for bad in ("wide", None, [0.9]):
        with pytest.raises(bs.QueryError, match="prob must be a number strictly between 0 and 1"):
            sim_fit.summary(prob=bad)
    np.testing.assert_array_equal(bs.plan(sim_fit, [1e22], span="2")["params"].values,
                                  bs.plan(sim_fit, [1e22], span=2.0)["params"].values)
    with pytest.raises(bs.QueryError, match="span must be a number >= 1, got 'wide'"):
        bs.plan(sim_fit, [1e22], span="wide")


def test_a_true_false_column_is_refused_not_read_as_ones(sim_runs):
    """A loss column of booleans (a comparison saved by mistake) read as 1.0 in every row before."""
    table = sim_runs.table[["params", "tokens", "loss"]]
    with pytest.raises(bs.InputError, match="column 'loss' holds True/False, not numbers"):
        bs.read_runs(table.assign(loss=table["loss"] > 2))
    with pytest.raises(bs.InputError, match="column 'params' holds True/False"):
        bs.read_runs(table.assign(params=[True] + list(table["params"].iloc[1:])))


def test_a_label_given_as_a_number_and_as_text_is_named(sim_runs):
    """1 and "1" in one task column (two tables concatenated) read as one group: legal, but named."""
    table = sim_runs.table[["params", "tokens", "loss"]]
    mixed = pd.concat([table.head(20).assign(task=1), table.tail(20).assign(task="1")], ignore_index=True)
    with pytest.warns(bs.DataWarning, match="column 'task' holds label '1' both as a number and as text"):
        runs = bs.read_runs(mixed)
    assert list(runs.table["task"].unique()) == ["1"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bs.read_runs(table.assign(task=[1, 2] * (len(table) // 2)))


@pytest.mark.parametrize(("chains", "words"), [
    (["7"], "chain 7 is not in this fit; its chains are 0, 1"),
    (["0"], "would leave 1 of 2; at least two must stay"),
])
def test_dropping_chains_that_are_not_there_or_all_but_one_is_one_line(tmp_path, capsys, fit_file, chains, words):
    out = tmp_path / "kept.nc"
    assert main(["drop-chains", str(fit_file), "--chains", *chains, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {err[0][7:]}"] and words in err[0] and not out.exists()


@pytest.mark.parametrize(("chains", "words"), [
    ("1", "chains are whole numbers"), ([], "no chain given"), (True, "a chain label or a list of them"),
    ([1.5], "chains are whole numbers"), (None, "a chain label or a list of them"),
])
def test_drop_chains_refuses_what_is_not_a_chain_label(sim_fit, chains, words):
    with pytest.raises(bs.QueryError, match=words):
        sim_fit.drop_chains(chains)


@pytest.mark.parametrize(("options", "error", "words"), [
    ({"pool": ["alpha"]}, bs.SpecError, "pool is a mapping"),
    ({"priors": {"alpha": 3}}, bs.SpecError, "priors map parameters to bs.Prior"),
    ({"priors": "alpha"}, bs.SpecError, "priors map parameters to bs.Prior"),
    ({"sampler": "fast"}, bs.BackendError, "sampler is a bs.SamplerSettings"),
    ({"target_accept": "high"}, bs.BackendError, "strictly between 0 and 1"),
    ({"target_accept": 1.0}, bs.BackendError, "strictly between 0 and 1"),
    ({"structural": True}, bs.SpecError, "'none', 'learned' or a positive scale"),
    ({"keep_partial": "yes"}, bs.BackendError, "keep_partial is True or False"),
])
def test_fit_options_of_the_wrong_kind_are_one_error_before_sampling(sim_runs, options, error, words):
    with pytest.raises(error, match=words):
        bs.fit(sim_runs.table, "chinchilla", draws=10, tune=10, chains=1, **options)


@pytest.mark.parametrize(("column", "words"), [
    (lambda t: pd.to_datetime(t["loss"]), "holds dates"), (lambda t: t["loss"].astype(complex), "holds complex numbers"),
])
def test_a_loss_column_of_dates_or_complex_numbers_is_refused(sim_runs, column, words):
    with pytest.raises(bs.InputError, match=words):
        bs.read_runs(sim_runs.table.assign(loss=column(sim_runs.table)))


def test_true_false_or_an_overflowing_product_is_no_point_to_predict(sim_fit):
    with pytest.raises(bs.QueryError, match="params must be numbers, got True/False"):
        sim_fit.predict(params=True, tokens=1e10)
    with pytest.raises(bs.QueryError, match="overflows"):
        sim_fit.predict(params=1e200, tokens=1e200)


def test_a_target_probability_finer_than_the_draws_is_named(sim_fit):
    n = sim_fit.posterior.sizes["chain"] * sim_fit.posterior.sizes["draw"]
    with pytest.warns(bs.DataWarning, match=f"finer than {n} posterior draws resolve"):
        bs.compute_for_target(sim_fit, 2.2, prob=1 - 0.5 / n)
    with warnings.catch_warnings():
        warnings.simplefilter("error", bs.DataWarning)
        bs.compute_for_target(sim_fit, 2.2, prob=0.9)


def test_a_structural_scale_beyond_any_finite_loss_is_refused(sim_runs):
    with pytest.raises(bs.SpecError, match="positive scale, got 1e\\+300 \\(the scale is an sd on log loss, below 10"):
        bs.fit(sim_runs, "chinchilla", structural=1e300, draws=10, tune=10, chains=1)
    with pytest.raises(bs.SpecError, match="spec 'wide': \\[discrepancy\\] scale is an sd on log loss; 20 would"):
        parse_structural({"kind": "extrapolation", "scale": 20.0}, "wide")


def test_one_fit_compared_with_itself_is_refused(sim_fit, fit_file):
    again = bs.load_fit(fit_file)
    with pytest.raises(bs.QueryError, match="are the same fit"):
        bs.compare_models({"a": sim_fit, "b": again})


def test_params_and_tokens_whose_compute_overflows_are_named(sim_runs):
    table = sim_runs.table[["params", "tokens", "loss"]].copy()
    table.loc[0, ["params", "tokens"]] = 1e300
    with pytest.raises(bs.InputError, match="compute = 6·params·tokens overflows in row 0"):
        bs.read_runs(table)


@pytest.mark.parametrize("pool", ["", " , "])
def test_an_empty_pool_is_refused_not_ignored(tmp_path, capsys, pool):
    out = tmp_path / "fit.nc"
    code, _, err = run(capsys, "fit", "chinchilla_sim", "--pool", pool, "--out", out)
    one_error(code, err, "pool is empty")
    assert not out.exists()
    with pytest.raises(bs.SpecError, match="pool is empty"):
        bs.load_spec("chinchilla").overridden(pool=pool)
    with pytest.raises(bs.SpecError, match="pool is empty"):
        bs.load_spec("chinchilla").overridden(pool={})
    with pytest.raises(bs.SpecError, match="unknown pooling level 'galaxy'"):
        bs.load_spec("chinchilla").overridden(pool={"alpha": "galaxy"})


def test_a_law_of_model_size_on_curves_without_params_is_refused():
    t = np.geomspace(1e8, 1e10, 12)
    table = pd.concat([pd.DataFrame({"curve": c, "tokens": t, "loss": 2 + 30 * t**-0.3 * (1 + 0.01 * i)})
                       for i, c in enumerate("ab")])
    ck = bs.read_checkpoints(table)
    with pytest.raises(bs.InputError, match="'kaplan_steps' law reads each run's model size, but these runs give none"):
        bs.fit(ck.runs, "curve_kaplan", draws=20, tune=20, chains=1)
    bs.build_model(ck.runs, "curve_power")  # a curve in tokens alone reads no params
    given = bs.read_checkpoints(table.assign(params=1.0))  # one model, its size given (in billions): a size
    assert given.runs.filled == () and bs.build_model(given.runs, "curve_kaplan") is not None


def test_a_law_of_model_size_on_a_registered_curve_is_one_line_before_any_progress(tmp_path, capsys):
    require_mirrored("bnsl_4digit_addition")
    for extra in (["fit", "--out", tmp_path / "fit.nc"], ["backtest"]):
        code, _, err = run(capsys, extra[0], "bnsl_4digit_addition", "--spec", "chinchilla", *extra[1:])
        one_error(code, err, "these runs give none", "specs curve_power, saturating, bnsl, m4")
    assert not (tmp_path / "fit.nc").exists()
    assert bs.datasets.load("bnsl_4digit_addition", split="fit").filled == ("params",)


def test_read_commands_say_what_a_prediction_beyond_the_runs_adds_and_its_record(capsys, fit_file):
    code, out, _ = run(capsys, "summary", fit_file)
    assert code == 0 and "structural error beyond the runs: sd 0.0158" in out and "held-out runs" in out
    code, out, _ = run(capsys, "summary", fit_file, "--json")
    structural = json.loads(out)["structural"]
    assert structural["kind"] == "extrapolation" and "median" in structural["record"]
    assert structural["description"].startswith("sd ")
    code, out, _ = run(capsys, "predict", fit_file, "--params", "7e10", "--tokens", "1.4e12")
    assert code == 0 and "loss_pred beyond the runs adds the law's structural error" in out
    code, out, _ = run(capsys, "predict", fit_file, "--params", "1e9", "--tokens", "2e10")
    assert code == 0 and "structural error" not in out  # inside the runs nothing is added


def test_api_arguments_of_the_wrong_kind_are_the_library_s_errors(sim_fit, sim_runs):
    from bayes_scaling.decisions import planning as P

    table = sim_runs.table[["params", "tokens", "loss"]]
    cases = [
        (lambda: bs.read_runs(table, compute_factor="6"), bs.InputError, "compute_factor must be a positive number"),
        (lambda: bs.read_runs(table, columns=["params"]), bs.InputError, "columns maps the table's names"),
        (lambda: sim_fit.predict(params=[7e10, [1e9]], tokens=[1.4e12, 1e10]), bs.QueryError, "must be numbers"),
        (lambda: sim_fit.predict(params=np.full((2, 2), 7e10), tokens=np.full((2, 2), 1e12)), bs.QueryError,
         "an array of shape (2, 2)"),
        (lambda: P.compute_for_target(sim_fit, loss=[2.3, [2.4]]), bs.QueryError, "one or more positive numbers"),
        (lambda: P.plan(sim_fit, 1e21, objective="quantile", q="high"), bs.QueryError, "strictly between 0 and 1"),
        (lambda: P.plan("fit.nc", 1e21), bs.QueryError, "computed from a fit (bs.fit or bs.load_fit), got str"),
        (lambda: bs.interval_table([1, 2, 3]), bs.QueryError, "summarises xarray draws"),
        (lambda: sim_fit.save(5), bs.FitFileError, "saved to a path, got int"),
    ]
    for ask, error, words in cases:
        with pytest.raises(error, match=re.escape(words)):
            ask()


def test_quiet_slips_in_options_are_refused(sim_fit, sim_runs):
    from bayes_scaling.decisions import planning as P
    from bayes_scaling.design.approach2 import isoflop_table
    from bayes_scaling.spec import parse_pooling

    with pytest.raises(bs.SpecError, match="pool names 'alpha' twice"):
        parse_pooling("alpha=domain,alpha=shared")
    with pytest.raises(bs.QueryError, match="n_grid must be a whole number"):
        P.plan(sim_fit, 1e21, n_grid=10.5)
    for tolerance in (-1, 0, 1.5):
        with pytest.raises(bs.InputError, match="tolerance is the decades"):
            isoflop_table(sim_runs, tolerance=tolerance)


def test_files_of_the_wrong_kind_say_what_they_are(tmp_path, capsys, sim_runs):
    csv = tmp_path / "runs.csv"
    sim_runs.table[["params", "tokens", "loss"]].to_csv(csv, index=False)
    code, _, err = run(capsys, "summary", csv)
    one_error(code, err, "is not a fit file: it is text (a CSV of runs?")
    code, _, err = run(capsys, "summary", "/dev/null")
    one_error(code, err, "is not a regular file")
    with pytest.raises(bs.InputError, match="is a directory, not a CSV of runs"):
        bs.read_runs(tmp_path)
    spec = tmp_path / "bom.toml"
    spec.write_bytes(b'\xef\xbb\xbflaw = "chinchilla"\n')
    assert bs.load_spec(spec).law == "chinchilla"  # a byte-order mark from a Windows editor is read


def test_isoflop_check_refuses_options_for_a_table(capsys, fit_file):
    code, _, err = run(capsys, "isoflop", fit_file, "--check", "--drop-outliers")
    one_error(code, err, "--check reads the runs the fit was made from; --drop-outliers applies")


def test_an_absurd_budget_is_refused_before_numpy_overflows(capsys, fit_file):
    code, _, err = run(capsys, "optimal", fit_file, "--compute", "1e300")
    one_error(code, err, "above 1e+60 FLOPs")


def test_table_and_baseline_options_that_would_be_ignored_are_refused(tmp_path, capsys, sim_runs, sim_fit):
    csv = tmp_path / "runs.csv"
    sim_runs.table[["params", "tokens", "loss"]].to_csv(csv, index=False)
    code, _, err = run(capsys, "fit", csv, "--drop-outliers", "--out", tmp_path / "x.nc")
    one_error(code, err, "--drop-outliers applies to registered datasets")
    code, _, err = run(capsys, "backtest", csv, "--resamples", "5")
    one_error(code, err, "give --baselines too")
    with pytest.raises(bs.QueryError, match="a loss threshold applies to the 'prob' target, not to 'ratio'"):
        bs.design.propose(sim_fit, 3e21, 1e22, "ratio", k=2, threshold=2.2)
    assert not (tmp_path / "x.nc").exists()


def test_budgets_and_formats_are_named_for_what_they_are(tmp_path, sim_fit, fit_file):
    with pytest.raises(bs.QueryError, match=re.escape("an array of shape (1, 1)")):
        sim_fit.optimal(np.array([[1e21]]))
    with pytest.raises(bs.QueryError, match="give one or more compute budgets"):
        sim_fit.optimal(None)
    other = tmp_path / "v2.nc"
    other.write_bytes(Path(fit_file).read_bytes())
    with h5py.File(other, "r+") as handle:
        handle.attrs["format"] = "bayes_scaling.result.fit/2"
    with pytest.raises(bs.FitFileError, match="cannot read: read it with the version that wrote it"):
        bs.load_fit(other)


def test_layout_and_calibrate_refuse_their_budgets_first(capsys):
    code, _, err = run(capsys, "layout", "--budgets", "1e18", "1e18")
    one_error(code, err, "budgets must differ")
    code, _, err = run(capsys, "calibrate", "--compute", "1e5", "--n", "1")
    one_error(code, err, "budget 1e+05 FLOPs is too small")  # before any simulated fit prints its progress


def test_a_prediction_whose_compute_underflows_is_refused(sim_fit):
    with pytest.raises(bs.QueryError, match="underflows"):
        sim_fit.predict(params=1e-300, tokens=1e-300)


def test_a_bad_checkpoint_loss_is_named_by_its_row_in_the_table(tmp_path, capsys):
    x = np.geomspace(1e8, 3e9, 12)
    table = pd.DataFrame({"curve": "r0", "tokens": x, "loss": 2.0 + 3.0 * (x / 1e8) ** -0.3, "total_tokens": 1e10})
    table.loc[6, "loss"] = 0.0  # the first rows are warm-up, dropped before the fit
    csv = tmp_path / "ck.csv"
    table.to_csv(csv, index=False)
    code, _, err = run(capsys, "predict-final", csv)
    one_error(code, err, "column 'loss' must be a positive finite number; it has 0.0 in row 6")


def test_an_r_hat_just_over_the_limit_is_shown_over_it():
    from bayes_scaling.inference import diagnose

    draws = np.random.default_rng(0).standard_normal((2, 2000)) + np.array([[0.0], [0.22]])
    tree = xr.DataTree.from_dict({"posterior": xr.Dataset({"a": (("chain", "draw"), draws)})})
    assert diagnose(tree).problems == ("R-hat up to 1.0103 (> 1.01)",)  # at three decimals it read 1.010 > 1.01


def test_labels_with_spaces_around_them_are_read_with_a_warning(sim_runs):
    table = sim_runs.table[["params", "tokens", "loss"]].copy()
    table["domain"] = np.where(np.arange(len(table)) % 2 == 0, "web", "web ")
    with pytest.warns(bs.DataWarning, match=r"column 'domain' has labels with spaces around them \('web '"):
        runs = bs.read_runs(table)
    assert runs.domains == ["web"]


def test_a_fit_file_keeps_the_groups_checksums_earlier_versions_read(fit_file):
    """The provenance's checksum is an attribute of its own: the groups' checksums, which earlier
    versions verify, stay exactly the groups', so those versions still read a file saved now."""
    from bayes_scaling.result.storage import (
        CHECKSUM_ATTR,
        PROVENANCE_ATTR,
        group_checksums,
        read_tree,
    )

    tree = read_tree(fit_file)
    assert json.loads(tree.attrs[CHECKSUM_ATTR]) == group_checksums(tree)
    assert set(json.loads(tree.attrs[CHECKSUM_ATTR])) == set(tree.children)
    assert len(str(tree.attrs[PROVENANCE_ATTR])) == 64
