"""Specs are data: shipped TOML files, priors merged user > file > default, clear errors."""

from __future__ import annotations

import pytest

import bayes_scaling as bs
from bayes_scaling.spec import parse_pooling


def test_shipped_specs_load():
    assert {"chinchilla", "kaplan", "compute"} <= set(bs.available_specs())
    spec = bs.load_spec("chinchilla")
    assert spec.law == "chinchilla" and spec.likelihood == "student_t"
    assert set(spec.priors) == {"log_e", "log_a0", "alpha", "log_b0", "beta", "sigma", "nu"}
    assert set(spec.pooling.values()) == {"shared"}


def test_prior_merge_order(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('law = "chinchilla"\n[priors]\nalpha = { dist = "HalfNormal", sigma = 0.5 }\n')
    spec = bs.load_spec(path)
    assert spec.name == "mine"
    assert spec.priors["alpha"] == bs.Prior("HalfNormal", sigma=0.5)         # file beats default
    assert spec.priors["beta"] == bs.Prior("HalfNormal", sigma=1.0)          # default kept
    user = spec.with_priors(alpha=bs.Prior("Gamma", alpha=2, beta=6))
    assert user.priors["alpha"].dist == "Gamma"                               # user beats file
    assert bs.ModelSpec.from_dict(user.to_dict()) == user                     # round trip for provenance


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('law = "chinchilla"\n[priors]\nalpha = { dist = "Cauchyish", sigma = 1 }\n', "unknown prior distribution"),
        ('law = "chinchilla"\n[priors]\nalpha = { dist = "Normal", scale = 1 }\n', "takes"),
        ('law = "chinchilla"\n[priors]\ngamma = { dist = "Normal", mu = 0, sigma = 1 }\n', "does not have"),
        ('law = "chinchilla"\n[pooling]\nalpha = "galaxy"\n', "unknown pooling level"),
        ('law = "chinchilla"\nlikelihood = "cauchy"\n', "unknown likelihood"),
        ('law = "gompertz"\n', "unknown law"),
        ('name = "x"\n', "no 'law'"),
        ('law = "chinchilla\n', "not valid TOML"),
    ],
)
def test_malformed_specs(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(bs.SpecError, match=message):
        bs.load_spec(path)


def test_unknown_spec_name_lists_shipped_ones():
    with pytest.raises(bs.SpecError, match="unknown spec 'chinchila'.*chinchilla"):
        bs.load_spec("chinchila")


def test_a_folder_or_a_file_that_is_not_toml_is_named_as_such(tmp_path, monkeypatch):
    with pytest.raises(bs.SpecError, match="is a directory"):
        bs.load_spec(tmp_path)
    text = tmp_path / "myspec.txt"
    text.write_text("law = 'chinchilla'\n")
    with pytest.raises(bs.SpecError, match="is not a .toml file"):
        bs.load_spec(text)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "chinchilla").write_text("not a spec")
    assert bs.load_spec("chinchilla").law == "chinchilla"  # a shipped name still wins over a file of that name


def test_pooling_on_one_domain_is_refused_clearly(sim_runs):
    spec = bs.ModelSpec(name="pooled", law="chinchilla", pooling={"alpha": "domain"})
    with pytest.raises(bs.InputError, match="runs have one domain"):
        bs.build_model(sim_runs, spec)


def test_unknown_pooling_level_is_refused():
    with pytest.raises(bs.SpecError, match="unknown pooling level"):
        bs.ModelSpec(name="x", law="chinchilla", pooling={"alpha": "region"})
    with pytest.raises(bs.SpecError, match="unknown pooling level 'region'"):
        parse_pooling("alpha=region")
    with pytest.raises(bs.SpecError, match="look like alpha=domain"):
        parse_pooling("alpha")


def test_pooling_overrides_accept_natural_names():
    spec = bs.load_spec("chinchilla").with_pooling(**parse_pooling("alpha=domain, e=task, B=domain_separate"))
    assert spec.pooling == {"log_e": "task", "log_a0": "shared", "alpha": "domain",
                            "log_b0": "domain_separate", "beta": "shared"}
    assert spec.level() == "task"
    with pytest.raises(bs.SpecError, match="no parameter 'gamma'"):
        spec.with_pooling(gamma="domain")


def test_per_group_pivot_needs_fine_pooling():
    # the level log_c0 means something else at every pivot; log_e and the exponent do not
    with pytest.raises(bs.SpecError, match=r"pivot 'task' needs every level parameter pooled by task or finer, "
                                           r"but \['log_c0'\]"):
        bs.ModelSpec(name="x", law="compute", pooling={"alpha": "task"}, pivot="task")


def test_exponents_may_be_pooled_more_coarsely_than_the_pivot(hier_runs):
    spec = bs.ModelSpec(name="x", law="compute", pooling={"alpha": "domain", "log_e": "domain", "log_c0": "task"},
                        pivot="task")
    model = bs.build_model(hier_runs, spec)
    import pymc as pm

    alpha, c0 = pm.draw([model["alpha"], model["C0"]], random_seed=1)
    assert alpha.shape == (2,) and c0.shape == (6,)  # one exponent per domain; natural parameters per task


def test_pooling_round_trips_through_dict():
    spec = bs.ModelSpec(name="x", law="compute", pooling={"alpha": "task", "log_e": "task", "log_c0": "task"},
                        pivot="task", noise_pooling="domain", hierarchy="centred",
                        scales={"alpha": bs.Prior("HalfNormal", sigma=0.2)})
    again = bs.ModelSpec.from_dict(spec.to_dict())
    assert again == spec


def test_model_has_named_dims_and_deterministics(sim_runs):
    model = bs.build_model(sim_runs, "chinchilla")
    assert model.named_vars_to_dims["log_loss"] == ("run",)
    assert {"E", "A", "B", "a"} <= set(model.named_vars)
    assert len(model.coords["run"]) == len(sim_runs)
