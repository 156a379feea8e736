"""The registry and loader: mirror, checksum, bundled data, clear errors."""

from __future__ import annotations

import urllib.request

import pytest

import bayes_scaling as bs


def test_registry_entries_are_complete():
    for name, entry in bs.datasets.registry().items():
        assert entry.title and entry.licence and entry.citation, name
        if not entry.is_bundled:
            assert entry.url.startswith("https://") and len(entry.sha256) == 64, name


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
