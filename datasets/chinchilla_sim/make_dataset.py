"""Regenerate runs.csv: python datasets/chinchilla_sim/make_dataset.py (from the repository root)."""

from pathlib import Path

from bayes_scaling.simulate import EPOCH_PARAMS, isoflop_design, simulate_runs

SEED = 20220329  # the day Hoffmann et al. appeared on arXiv
runs = simulate_runs(isoflop_design(per_budget=12), "chinchilla", EPOCH_PARAMS, sigma=0.01, nu=4.0, seed=SEED)
runs.insert(0, "run_id", [f"sim_{i:03d}" for i in range(len(runs))])
runs.to_csv(Path(__file__).with_name("runs.csv"), index=False, float_format="%.10g")
