"""Each law is written once: numpy and PyTensor agree, pivots only reparameterise."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import numpy as np
import pytensor.tensor as pt
import pytest

import bayes_scaling as bs
from bayes_scaling.errors import SpecError
from bayes_scaling.laws import get_law

NATURAL = {
    "chinchilla": {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28},
    "kaplan": {"N_c": 6.4e13, "D_c": 1.8e13, "alpha_n": 0.076, "alpha_d": 0.103},
    "compute": {"E": 1.7, "C0": 3e8, "alpha": 0.05},
}
rng = np.random.default_rng(0)
LOGS = {"params": np.log(rng.uniform(1e7, 1e11, 20)), "tokens": np.log(rng.uniform(1e9, 1e13, 20)),
        "compute": np.log(rng.uniform(1e18, 1e24, 20))}


def direct(name: str) -> np.ndarray:
    """The laws in their textbook form, independent of laws.py."""
    p, n, d, c = NATURAL[name], np.exp(LOGS["params"]), np.exp(LOGS["tokens"]), np.exp(LOGS["compute"])
    if name == "chinchilla":
        return p["E"] + p["A"] * n ** -p["alpha"] + p["B"] * d ** -p["beta"]
    if name == "kaplan":
        return ((p["N_c"] / n) ** (p["alpha_n"] / p["alpha_d"]) + p["D_c"] / d) ** p["alpha_d"]
    return p["E"] + (p["C0"] / c) ** p["alpha"]


@pytest.mark.parametrize("name", sorted(NATURAL))  # learning-curve laws: test_curve_laws.py
def test_numpy_matches_the_textbook_formula(name):
    law = get_law(name)
    sampled = law.sampled_from_natural(NATURAL[name])
    got = np.exp(law.log_loss(sampled, LOGS, {k: 0.0 for k in law.inputs}))
    np.testing.assert_allclose(got, direct(name), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(NATURAL))  # learning-curve laws: test_curve_laws.py
def test_pytensor_matches_numpy(name):
    law = get_law(name)
    sampled = law.sampled_from_natural(NATURAL[name])
    piv = {k: 0.0 for k in law.inputs}
    symbolic = law.log_loss({k: pt.as_tensor(v) for k, v in sampled.items()},
                            {k: pt.as_tensor(LOGS[k]) for k in law.inputs}, piv, xp=pt).eval()
    np.testing.assert_allclose(symbolic, law.log_loss(sampled, LOGS, piv), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(NATURAL))  # learning-curve laws: test_curve_laws.py
def test_pivot_is_a_pure_reparameterisation(name):
    """Levels at a pivot map back to the same natural parameters and the same curve."""
    law = get_law(name)
    piv = {k: float(np.mean(LOGS[k])) for k in law.inputs}
    zero = law.sampled_from_natural(NATURAL[name])
    # find the sampled values at the pivot that give the same natural parameters
    shifted = dict(zero)
    if name == "chinchilla":
        shifted["log_a0"] = zero["log_a0"] - zero["alpha"] * piv["params"]
        shifted["log_b0"] = zero["log_b0"] - zero["beta"] * piv["tokens"]
    elif name == "kaplan":
        shifted["log_n0"] = zero["log_n0"] - zero["alpha_n"] / zero["alpha_d"] * piv["params"]
        shifted["log_d0"] = zero["log_d0"] - piv["tokens"]
    else:
        shifted["log_c0"] = zero["log_c0"] - zero["alpha"] * piv["compute"]
    natural = law.natural(shifted, piv)
    for key, value in NATURAL[name].items():
        np.testing.assert_allclose(natural[key], value, rtol=1e-10)
    np.testing.assert_allclose(np.exp(law.log_loss(shifted, LOGS, piv)), direct(name), rtol=1e-10)


def test_unknown_law():
    with pytest.raises(SpecError, match="unknown law 'gompertz'"):
        get_law("gompertz")


@pytest.mark.parametrize("name", sorted(bs.LAWS))
def test_each_law_is_a_whole_component(name):
    """Formula, default priors (as data), LaTeX and baseline live in laws/<name>.py."""
    law = bs.get_law(name)
    module = importlib.import_module(law.log_mean.__module__)  # bnsl and bnsl2 share laws/bnsl.py
    assert module.__name__.rsplit(".", 1)[1] in (name, name.rstrip("0123456789"))
    assert law in vars(module).values()
    assert set(law.priors) == set(law.sampled)
    assert all(isinstance(p, dict) and "dist" in p for p in law.priors.values())
    assert law.latex.startswith(("L =", "(L")) and law.baseline in (None, "huber", "m4")
    assert (law.log_optimum is not None) == (name == "chinchilla") and law.published.keys() == (
        {"hoffmann_rounded", "hoffmann_unrounded", "epoch"} if name == "chinchilla" else set())


def test_no_module_outside_laws_branches_on_a_law_name():
    package = Path(bs.__file__).parent
    pattern = re.compile(r"""law\.name\s*[!=]=\s*["']|["'](chinchilla|kaplan|compute|saturating|m4|bnsl2?|data_constrained)["']\s*[!=]=""")
    offenders = [f"{path.relative_to(package)}:{i}" for path in package.rglob("*.py") if "laws" not in path.parts
                 for i, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert offenders == []
