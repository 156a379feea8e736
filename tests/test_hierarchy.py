"""Hierarchical pooling on a simulated hierarchy with known group parameters: recovery, named dims,
per-group answers, comparisons, LOO, save/load and the errors of data that cannot support pooling."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from conftest import HIER_ALPHA, HIER_E, SEED

import bayes_scaling as bs
from bayes_scaling.decisions.compare import compare, compare_models, difference


def test_pooled_parameters_have_group_dims(hier_fit):
    post = hier_fit.posterior
    assert post["alpha"].dims == ("chain", "draw", "task")
    assert post["alpha_domain"].dims == ("chain", "draw", "domain")
    assert post["log_e"].dims == ("chain", "draw", "domain")
    assert list(post["task"].values) == ["v1", "v2", "v3", "l1", "l2", "l3"]
    assert {"alpha_mu", "alpha_sd_domain", "alpha_sd_task", "alpha_z_task"} <= set(post.data_vars)
    assert hier_fit.parameters()["E"].dims == ("chain", "draw", "task")  # laid out at the finest level


def test_group_parameters_are_recovered(hier_fit):
    d = hier_fit.diagnostics
    assert d.divergences <= 0.005 * d.draws, d.problems
    alpha = bs.interval_table(hier_fit.posterior["alpha"], 0.98).set_index("task")
    for domain, tasks in HIER_ALPHA.items():
        for task, truth in tasks.items():
            assert alpha.loc[task, "lower"] <= truth <= alpha.loc[task, "upper"], (task, alpha.loc[task].to_dict())
    e = bs.interval_table(hier_fit.parameters("domain")["E"], 0.98).set_index("domain")
    for domain, truth in HIER_E.items():
        assert e.loc[domain, "lower"] <= truth <= e.loc[domain, "upper"]


def test_summary_names_groups_and_reports_convergence(hier_fit):
    table = hier_fit.summary()
    alpha = table.loc["alpha"]
    assert list(alpha["task"]) == ["v1", "v2", "v3", "l1", "l2", "l3"]
    assert list(alpha["domain"]) == ["vision"] * 3 + ["language"] * 3
    assert {"alpha_mu", "alpha_sd_task", "alpha_domain", "sigma"} <= set(table.index)
    assert table["r_hat"].notna().all() and (table["ess_bulk"] > 0).all()
    assert table.attrs["problems"] == list(hier_fit.diagnostics.problems)


def test_compare_domains_gives_probabilities(hier_fit):
    table = compare(hier_fit, "alpha", by="domain")
    row = table.iloc[0]
    assert (row["group"], row["other"]) == ("vision", "language")
    assert row["p_greater"] > 0.99  # 0.30 against 0.15
    assert row["diff_lower"] < 0.15 < row["diff_upper"]
    assert row["ratio_lower"] < 2.0 < row["ratio_upper"]
    diff = difference(hier_fit, "alpha", "vision", "language")
    assert diff.dims == ("chain", "draw")
    assert float((diff > 0).mean()) == pytest.approx(row["p_greater"])
    tasks = compare(hier_fit, "alpha", by="task", pairs=[("v3", "v1")])
    assert tasks.iloc[0]["p_greater"] > 0.9  # 0.32 against 0.28, 10 precise runs each


def test_compare_refuses_what_it_cannot_answer(hier_fit, sim_fit):
    with pytest.raises(bs.QueryError, match="shared by every domain"):
        compare(sim_fit, "alpha", by="domain")
    with pytest.raises(bs.QueryError, match="unknown parameter 'gamma'"):
        compare(hier_fit, "gamma")
    with pytest.raises(bs.QueryError, match="unknown domain"):
        compare(hier_fit, "alpha", pairs=[("vision", "audio")])
    # E is pooled by domain: tasks of one domain share its draws, so comparing them is no comparison
    with pytest.raises(bs.QueryError, match="one quantity for tasks 'v1' and 'v2'"):
        compare(hier_fit, "E", by="task", pairs=[("v1", "v2")])
    assert compare(hier_fit, "E", by="task", pairs=[("v1", "l1")]).iloc[0]["p_greater"] < 0.01  # 0.4 against 1.7
    with pytest.raises(bs.QueryError, match="one quantity"):
        compare(hier_fit, "alpha", pairs=[("vision", "vision")])
    with pytest.raises(bs.QueryError, match="pairs must be"):
        compare(hier_fit, "alpha", pairs=("vision", "language"))


def test_predict_per_group(hier_fit):
    pred = hier_fit.predict(compute=[1e23])
    assert pred["loss_mean"].dims == ("chain", "draw", "point", "task")
    by_domain = hier_fit.predict(compute=[1e23], level="domain")
    assert by_domain["loss_mean"].dims == ("chain", "draw", "point", "domain")
    med = by_domain["loss_mean"].median(("chain", "draw")).sel(point=0)
    assert float(med.sel(domain="language")) > float(med.sel(domain="vision"))  # E 1.7 against 0.4


@pytest.mark.filterwarnings("ignore::bayes_scaling.errors.SamplerWarning")  # hier_fit's 2 x 500 (conftest)
def test_saved_hierarchical_fit_round_trips(hier_fit, tmp_path):
    path = hier_fit.save(tmp_path / "hier.nc")
    again = bs.load_fit(path)
    assert again.spec == hier_fit.spec
    np.testing.assert_array_equal(again.posterior["alpha"].values, hier_fit.posterior["alpha"].values)
    pd.testing.assert_frame_equal(again.summary(), hier_fit.summary())


@pytest.mark.filterwarnings("ignore::bayes_scaling.errors.SamplerWarning")  # hier_fit's 2 x 500 (conftest)
def test_compare_models_ranks_by_loo(hier_fit, hier_runs):
    shared = bs.fit(hier_runs, "compute", draws=300, tune=500, chains=2, seed=SEED)
    table = compare_models({"pooled": hier_fit, "shared": shared})
    assert table.index[0] == "pooled"  # one exponent for six tasks with two true values fits worse
    assert table.loc["shared", "elpd_diff"] < 0
    assert {"elpd", "weight", "n_high_k", "warning"} <= set(table.columns)
    assert any("sampler did not converge" in w or "Pareto k" in w for w in table.attrs["warnings"]) == bool(
        table["warning"].str.len().sum())


def test_compare_models_refuses_different_data(hier_fit, sim_fit):
    with pytest.raises(bs.QueryError, match="same runs"):
        compare_models([hier_fit, sim_fit])


def test_data_that_cannot_support_pooling_is_refused(hier_runs):
    table = hier_runs.table.copy()
    one = pd.concat([table, table.iloc[[0]].assign(task="lonely", loss=0.9)], ignore_index=True)
    with pytest.raises(bs.InputError, match="'lonely' \\(1 run\\)"):
        bs.build_model(bs.read_runs(one), bs.load_spec("compute").with_pooling(alpha="task"))
    with pytest.raises(bs.InputError, match="too few to fit"):
        small = table.groupby("task").head(3)
        bs.build_model(bs.read_runs(small), bs.load_spec("compute").with_pooling(
            alpha="task_separate", e="task_separate", c0="task_separate"))
    crossed = table.assign(task=np.where(table["domain"] == "vision", "shared_name", table["task"]))
    crossed.loc[crossed.index[-1], "task"] = "shared_name"
    with pytest.raises(bs.InputError, match="appears in domains"):
        bs.read_runs(crossed)


def test_non_centred_and_centred_models_have_the_same_variables(hier_runs):
    spec = bs.load_spec("compute").with_pooling(alpha="task")
    nc = bs.build_model(hier_runs, spec)

    c = bs.build_model(hier_runs, replace(spec, hierarchy="centred"))
    assert "alpha_z_task" in nc.named_vars and "alpha_raw_task" in c.named_vars
    assert {"alpha", "alpha_domain", "E", "C0"} <= set(nc.named_vars) & set(c.named_vars)


def test_centred_tasks_centres_tasks_and_offsets_domains(hier_runs):

    spec = replace(bs.load_spec("compute").with_pooling(alpha="task"), hierarchy="centred_tasks")
    model = bs.build_model(hier_runs, spec)
    assert {"alpha_raw_task", "alpha_z_domain"} <= set(model.named_vars)
    assert not {"alpha_z_task", "alpha_raw_domain"} & set(model.named_vars)
    with pytest.raises(bs.SpecError, match="unknown hierarchy 'centered'"):
        replace(spec, hierarchy="centered")


def test_noise_scale_per_task(hier_runs):
    """One noise scale per curve: the shipped learning-curve hierarchy needs it (its domains mix metrics
    whose noise differs ~100x), and a domain-level scale is refused where there is one domain."""
    model = bs.build_model(hier_runs, replace(bs.load_spec("compute"), noise_pooling="task"))
    assert model.named_vars_to_dims["sigma"] == ("task",)
    assert model["sigma"].eval().shape == (len(hier_runs.tasks),)
    assert bs.load_spec("saturating_tasks").noise_pooling == "task"
    one = bs.read_runs(hier_runs.table[hier_runs.table["domain"] == hier_runs.table["domain"].iloc[0]])
    with pytest.raises(bs.InputError, match="noise vary by domain"):
        bs.build_model(one, replace(bs.load_spec("compute"), noise_pooling="domain"))


def test_compare_by_domain_with_inputs_centred_per_task(hier_runs):
    """Exponents and E per domain, levels per task, inputs centred per task: exponents and E compare
    by domain (they do not depend on the centre); A does not, and the error says where it can."""
    spec = replace(bs.load_spec("compute").with_pooling(alpha="domain", e="domain", c0="task"), pivot="task")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        fit = bs.fit(hier_runs, spec, draws=150, tune=300, chains=2, seed=SEED)
    table = compare(fit, "alpha", by="domain")
    assert (table.iloc[0]["group"], table.iloc[0]["other"]) == ("vision", "language")
    assert table.iloc[0]["p_greater"] > 0.99  # 0.30 against 0.15
    by_domain = fit.parameters("domain")
    assert {"alpha", "E"} <= set(by_domain.data_vars) and "C0" not in by_domain
    assert float(by_domain["E"].sel(domain="language").median()) == pytest.approx(1.7, rel=0.05)
    with pytest.raises(bs.QueryError, match="compare it by task"):
        compare(fit, "C0", by="domain")


def test_local_coordinates_of_a_curve_hierarchy_have_the_same_log_density(hier_runs):
    """saturating_tasks samples each curve's alpha as its local slope (Law.local_shift): the model's log
    density at w = log alpha - shift equals the plain model's at log alpha, so the posterior is the same."""
    from bayes_scaling.laws.saturating import local_slope_shift

    runs = bs.read_runs(hier_runs.table.assign(tokens=hier_runs.table["compute"] / 1e12), check_units=False)
    spec = bs.load_spec("saturating_tasks")
    local, plain = bs.build_model(runs, spec), bs.build_model(runs, spec, local=False)
    assert "alpha_local_task" in local.named_vars and "alpha_raw_task" not in local.named_vars
    assert "alpha_raw_task" in plain.named_vars and "alpha_local_task" not in plain.named_vars
    rng = np.random.default_rng(3)
    point = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in plain.initial_point().items()}
    shift = local_slope_shift(np, {"logit_f": point["logit_f_raw_task"], "log_x0": point["log_x0_raw_task"]})
    mapped = {("alpha_local_task" if k == "alpha_raw_task" else k): v for k, v in point.items()}
    mapped["alpha_local_task"] = point["alpha_raw_task"] - shift
    assert float(local.compile_logp()(mapped)) == pytest.approx(float(plain.compile_logp()(point)), rel=1e-10)
    alpha = {}
    for name, model, at in (("local", local, mapped), ("plain", plain, point)):
        (out,) = model.replace_rvs_by_values([model["alpha"]])
        alpha[name] = model.compile_fn(out, inputs=model.value_vars, on_unused_input="ignore")(at)
    np.testing.assert_allclose(alpha["local"], alpha["plain"], rtol=1e-10)
