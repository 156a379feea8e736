"""read_runs: every bad table gets a typed, readable error; good tables come out canonical."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.data.requirements import require_groups


def good() -> pd.DataFrame:
    n = np.array([1e8, 3e8, 1e9, 3e9, 1e10, 2e8, 6e8])
    d = np.array([2e9, 6e9, 2e10, 6e10, 2e11, 1e9, 3e9])
    return pd.DataFrame({"params": n, "tokens": d, "loss": 1.8 + 400 * n**-0.34 + 400 * d**-0.28})


def test_good_table_is_canonical():
    runs = bs.read_runs(good())
    assert list(runs.table.columns) == ["params", "tokens", "compute", "loss", "domain", "task"]
    np.testing.assert_allclose(runs.column("compute"), 6 * runs.column("params") * runs.column("tokens"))
    assert runs.domains == ["all"] and len(runs) == 7
    assert len(runs.digest) == 64


def test_compute_factor_derives_tokens_from_compute():
    df = good().drop(columns="tokens").assign(compute=lambda t: 6.5 * t.params * 1e10)
    runs = bs.read_runs(df, compute_factor=6.5)
    np.testing.assert_allclose(runs.column("tokens"), 1e10)


def test_epoch_csv_reads_with_a_column_mapping():
    df = pd.DataFrame({"Model Size": [1e8, 2e8], "Training FLOP": [1e19, 2e19], "loss": [3.0, 2.9], "x": [1, 2]})
    runs = bs.read_runs(df, columns={"Model Size": "params", "Training FLOP": "compute"})
    np.testing.assert_allclose(runs.column("tokens"), [1e19 / 6e8, 2e19 / 1.2e9])


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t.drop(columns="loss"), "missing column"),
        (lambda t: t.drop(columns="tokens"), r"tokens \(or compute\)"),
        (lambda t: t.assign(loss=t.loss.where(t.index != 2)), "NaN"),
        (lambda t: t.assign(params=t.params.where(t.index != 1, np.inf)), "infinite"),
        (lambda t: t.assign(tokens=t.tokens.where(t.index != 3, 0.0)), "must be positive"),
        (lambda t: t.assign(loss=t.loss.where(t.index != 0, -1.0)), "must be positive"),
        (lambda t: t.assign(loss=t.loss * 100), "percentage"),
        (lambda t: t.assign(params=t.params / 1e9), "billions"),
        (lambda t: t.assign(tokens=t.tokens / 1e9), "billions"),
        (lambda t: pd.concat([t, t.iloc[[2]]], ignore_index=True), "duplicate"),
        (lambda t: t.astype({"loss": object}).assign(loss=lambda u: u.loss.where(u.index != 4, "2.1a")), "non-numeric"),
        (lambda t: t.iloc[:0], "no rows"),
        (lambda t: t.assign(domain=["a", "a", "b", "b", "b", "a", None]), "empty labels"),
        (lambda t: t.assign(domain=list("aaabbbb"), task=list("xxxxyyy")), "nested"),
    ],
)
def test_bad_tables_raise_input_error(mutate, message):
    with pytest.raises(bs.InputError, match=message):
        bs.read_runs(mutate(good()))


def test_mapping_to_a_missing_column_is_named():
    with pytest.raises(bs.InputError, match="Model Size"):
        bs.read_runs(good(), columns={"Model Size": "params"})


def test_csv_errors(tmp_path):
    with pytest.raises(bs.InputError, match="no such file"):
        bs.read_runs(tmp_path / "absent.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(bs.InputError, match="cannot read"):
        bs.read_runs(empty)


def test_too_few_runs_for_the_law():
    runs = bs.read_runs(good().iloc[:3])
    with pytest.raises(bs.InputError, match="3 runs cannot determine the 5 parameters"):
        bs.build_model(runs, "chinchilla")


def test_a_group_with_one_run_is_refused():
    runs = bs.read_runs(good().assign(domain=["lang"] * 6 + ["vision"]))
    with pytest.raises(bs.InputError, match="'vision' \\(1 run\\)"):
        require_groups(runs, "domain")
    require_groups(runs.__class__(runs.table.iloc[:6]), "domain")  # every group has >= 2 runs: fine


def test_compute_far_from_k_n_d_is_named(sim_runs):
    """A compute column given beside params and tokens that is orders of magnitude off k·N·D (a unit
    error) warns; one within a factor of two (attention FLOPs, as in the IsoFLOP ladders) does not."""
    import warnings

    table = sim_runs.table[["params", "tokens", "loss"]]
    with pytest.warns(bs.DataWarning, match=r"column 'compute' is 1e\+03 times off 6·params·tokens in row 0"):
        bs.read_runs(table.assign(compute=6 * table["params"] * table["tokens"] / 1e3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bs.read_runs(table.assign(compute=6 * table["params"] * table["tokens"] * 1.35))
        bs.read_runs(table)


def test_a_column_mapping_that_makes_two_columns_of_one_name_is_refused(sim_runs):
    """Mapping a column onto a name the table already has (or two columns onto one name) is one
    InputError, not pandas' TypeError from the duplicated column."""
    table = sim_runs.table[["params", "tokens", "loss"]]
    with pytest.raises(bs.InputError, match=r"two columns named \['params'\]"):
        bs.read_runs(table.assign(N=table["params"]), columns={"N": "params"})
    with pytest.raises(bs.InputError, match="two columns named"):
        bs.read_runs(table.rename(columns={"params": "N"}).assign(M=table["params"]), columns={"N": "params", "M": "params"})
    swapped = bs.read_runs(table, columns={"params": "tokens", "tokens": "params"})
    assert swapped.table["params"].equals(table["tokens"])
