"""The registry and loader: mirror, checksum, bundled data, clear errors."""

from __future__ import annotations

import os
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import require_mirrored

import bayes_scaling as bs
from bayes_scaling.data.readers import slug

REVISITING = "alabdulmohsin2022_revisiting"
DATABLATIONS = "muennighoff2023_datablations"
CEREBRAS = "cerebras_gpt_pile_table"


def mirrored(name: str) -> bs.Runs:
    """Load ``name`` from the public-data mirror, or skip if this machine has no copy."""
    require_mirrored(name)
    return bs.datasets.load(name)


def test_registry_entries_are_complete():
    for name, entry in bs.datasets.registry().items():
        assert entry.title and entry.licence and entry.citation, name
        if not entry.is_bundled:
            assert entry.files, name
            for spec in entry.files.values():
                assert spec.source.startswith("https://") and len(spec.sha256) == 64, (name, spec.file)
                assert bool(spec.url) != bool(spec.transcribed_from), (name, spec.file)
            assert not entry.splits or entry.reader, name


def test_bundled_simulation_loads_offline():
    runs = bs.datasets.load("chinchilla_sim")
    assert len(runs) == 108 and runs.source == "chinchilla_sim"


def test_epoch_chinchilla_through_the_mirror(epoch_runs):
    assert len(bs.datasets.load("epoch_chinchilla")) == 245
    assert len(epoch_runs) == 240
    assert epoch_runs.column("loss").max() < 3.45  # the five highest-loss runs are gone


def test_checksum_mismatch_is_refused(tmp_path, monkeypatch):
    (tmp_path / "epoch_chinchilla").mkdir()
    (tmp_path / "epoch_chinchilla" / "svg_extracted_data.csv").write_text("params,tokens,loss\n1,2,3\n")
    monkeypatch.setenv("BAYES_SCALING_DATA", str(tmp_path))
    with pytest.raises(bs.DatasetError, match="checksum"):
        bs.datasets.load("epoch_chinchilla")


def test_unreachable_dataset_says_how_to_fix_it(tmp_path, monkeypatch):
    monkeypatch.setenv("BAYES_SCALING_DATA", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    assert not bs.datasets.available("epoch_chinchilla")
    with pytest.raises(bs.DatasetError, match="BAYES_SCALING_DATA"):
        bs.datasets.load("epoch_chinchilla")


def test_unknown_dataset():
    with pytest.raises(bs.DatasetError, match="unknown dataset 'chinchilla'"):
        bs.datasets.load("chinchilla")


def test_single_file_entries_keep_their_fields():
    entry = bs.datasets.info("epoch_chinchilla")
    assert entry.file == "svg_extracted_data.csv" and entry.splits == () and not entry.reader
    assert entry.files["data"].url == entry.url and entry.files["data"].sha256 == entry.sha256


def test_multi_file_entry_describes_its_files_and_splits():
    entry = bs.datasets.info(REVISITING)
    assert set(entry.files) == {"vision", "lang"} and entry.splits == ("fit", "extrapolate")
    assert all("9853680c781781bd8d3de20aa61c7373ce059913" in spec.url for spec in entry.files.values())
    with pytest.raises(bs.DatasetError, match="pass key="):
        bs.datasets.locate(REVISITING)


def test_revisiting_has_92_curves_nested_in_two_domains():
    runs = mirrored(REVISITING)
    table = runs.table
    assert len(runs) == 19_595 and runs.domains == ["vision", "language"] and len(runs.tasks) == 92
    assert table.groupby("task")["domain"].nunique().max() == 1
    assert table.groupby("domain")["task"].nunique().to_dict() == {"vision": 72, "language": 20}
    assert table.groupby("task")["params"].nunique().max() == 1  # one model per curve
    assert "IC/bird_5/MiX-B-16" in runs.tasks and "BB/date-1-shot/262M" in runs.tasks
    assert all(np.all(np.diff(curve.to_numpy()) > 0) for _, curve in table.groupby("task")["tokens"])


def test_revisiting_agrees_with_the_curators_tidy_table():
    runs = mirrored(REVISITING)
    tidy_path = Path(os.environ["BAYES_SCALING_DATA"]) / REVISITING / "tidy.csv"
    if not tidy_path.is_file():
        pytest.skip(f"optional data absent: the curator's tidy.csv of {REVISITING} is not in the mirror")
    tidy = pd.read_csv(tidy_path, dtype={"task": str, "model": str})
    tidy = tidy[tidy["is_exact_duplicate_row"] == 0]
    label = tidy["subdomain"] + "/" + tidy["task"].map(slug) + "/" + tidy["model"].map(slug)
    theirs = pd.Series(tidy["params"].to_numpy(float), index=label).groupby(level=0).first()
    ours = runs.table.groupby("task")["params"].first()
    pd.testing.assert_series_equal(ours.sort_index(), theirs.sort_index(), check_names=False)
    for split, count in tidy["split"].value_counts().items():
        assert len(bs.datasets.load(REVISITING, split=split)) == count, split


def test_revisiting_splits_partition_each_curve():
    runs = mirrored(REVISITING)
    fit = bs.datasets.load(REVISITING, split="fit")
    extrapolate = bs.datasets.load(REVISITING, split="extrapolate")
    assert len(fit) + len(extrapolate) == len(runs)
    both = pd.concat([fit.table, extrapolate.table]).sort_values(["task", "tokens"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(both, runs.table.sort_values(["task", "tokens"]).reset_index(drop=True))
    assert set(fit.tasks) == set(extrapolate.tasks) == set(runs.tasks)
    last_fit = fit.table.groupby("task")["tokens"].max()
    first_held_out = extrapolate.table.groupby("task")["tokens"].min()
    assert (first_held_out > last_fit[first_held_out.index]).all()
    assert fit.source == f"{REVISITING} (fit split)"


def test_unknown_split_is_refused():
    with pytest.raises(bs.DatasetError, match="no split 'test'; its splits are 'fit', 'extrapolate'"):
        bs.datasets.load(REVISITING, split="test")
    with pytest.raises(bs.DatasetError, match="'epoch_chinchilla' has no splits"):
        bs.datasets.load("epoch_chinchilla", split="fit")


def test_tampered_file_of_a_multi_file_dataset_is_refused(tmp_path, monkeypatch):
    mirrored(REVISITING)
    source = Path(os.environ["BAYES_SCALING_DATA"]) / REVISITING
    copy = tmp_path / REVISITING
    copy.mkdir()
    shutil.copyfile(source / "benchmark.vision.csv", copy / "benchmark.vision.csv")
    text = (source / "benchmark.lang.csv").read_text()
    (copy / "benchmark.lang.csv").write_text(text + "LM,val_loss,1.07e+09,1e12,0.1,0\n")
    monkeypatch.setenv("BAYES_SCALING_DATA", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert bs.datasets.locate(REVISITING, key="vision") == copy / "benchmark.vision.csv"
    with pytest.raises(bs.DatasetError, match="benchmark.lang.csv does not match the registered checksum"):
        bs.datasets.load(REVISITING)
    assert not bs.datasets.available(REVISITING)


def test_datablations_final_runs_grouped_by_corpus_and_repetition():
    runs = mirrored(DATABLATIONS)
    table = runs.table
    assert len(runs) == 48 and runs.domains == ["c4", "oscar"] and len(runs.tasks) == 16
    assert table.groupby("task")["domain"].nunique().max() == 1
    assert (table.groupby("task").size() == 3).all()  # 2.8B, 4.2B, 8.7B per repetition count
    assert sorted(table["params"].unique()) == [2.81e9, 4.2465e9, 8.67e9]
    c4_1ep = table[table["task"] == "c4-1ep"].set_index("params")["loss"]
    assert c4_1ep[8.67e9] == pytest.approx(2.338865, abs=1e-6)  # last checkpoint of lm1-8b7-178b-c4
    worst = table.groupby("domain")["loss"].max().to_dict()
    assert worst == pytest.approx({"c4": 3.42583, "oscar": 4.148561}, abs=1e-5)  # 44 epochs, 2.8B / 4.2B


def test_cerebras_pile_losses_grouped_by_family():
    runs = mirrored(CEREBRAS)
    table = runs.table
    assert len(runs) == 28 and runs.domains == ["cerebras", "pythia"]
    assert table.groupby("task").size().to_dict() == {
        "cerebras-sp": 7, "cerebras-mup": 5, "pythia-pile": 8, "pythia-deduped": 8}
    assert table.groupby("task")["domain"].first().to_dict() == {
        "cerebras-sp": "cerebras", "cerebras-mup": "cerebras", "pythia-pile": "pythia", "pythia-deduped": "pythia"}
    cerebras = table[table["domain"] == "cerebras"]
    assert np.allclose(cerebras["tokens"] / cerebras["params"], 20, rtol=0.02)  # Chinchilla-style 20 tokens/param
    assert (table.loc[table["domain"] == "pythia", "tokens"] == 299_892_736_000).all()
    assert table.loc[(table["task"] == "cerebras-sp") & (table["params"] == 13e9), "loss"].item() == 1.572


def test_transcribed_file_cannot_be_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("BAYES_SCALING_DATA", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(bs.DatasetError, match="transcription of https://raw.githubusercontent.com/Cerebras"):
        bs.datasets.load(CEREBRAS)
