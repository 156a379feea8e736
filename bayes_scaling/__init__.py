"""bayes_scaling: Bayesian inference for neural scaling laws.

>>> import bayes_scaling as bs
>>> runs = bs.datasets.load("chinchilla_sim")
>>> fit = bs.fit(runs, spec="chinchilla", seed=1)        # doctest: +SKIP
>>> fit.summary(); fit.optimal(compute=[5.88e23]); fit.predict(params=70e9, tokens=1.4e12)  # doctest: +SKIP

The public names are imported on first use, so ``import bayes_scaling`` (and the command line's
read commands) do not pay for the sampler stack until something needs it.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import (
    BackendError,
    BayesScalingError,
    DatasetError,
    DataWarning,
    ExtrapolationWarning,
    FitFileError,
    InputError,
    PriorWarning,
    QueryError,
    SamplerWarning,
    SamplingInterrupted,
    SpecError,
)
from .version import package_version

#: Public name -> the module that defines it (a name mapped to itself is a submodule).
_LAZY = {
    "datasets": "data.datasets", "frontier": "decisions.frontier", "planning": "decisions.planning", "report": "present.report",
    "compare": "decisions.compare", "compare_models": "decisions.compare", "plan": "decisions.planning", "compute_for_target": "decisions.planning",
    "returns": "decisions.returns", "design": "design", "isoflop": "design.approach2",
    "Backtest": "validation.backtest", "backtest": "validation.backtest", "predict_runs": "validation.backtest", "split_holdout": "validation.splits",
    "Calibration": "validation.calibrate", "calibrate": "validation.calibrate",
    "Runs": "data.runs", "read_runs": "data.runs", "read_checkpoints": "data.checkpoints",
    "Fit": "result.fit", "fit": "result.estimator", "format_summary": "present.text", "load_fit": "result.fitfile",
    "BACKENDS": "defaults", "DEFAULT_PROB": "defaults",
    "Diagnostics": "inference", "SamplerSettings": "inference", "diagnose": "inference", "sample": "inference",
    "interval_table": "result.intervals",
    "LAWS": "laws", "Law": "laws", "get_law": "laws",
    "build_model": "model",
    "ModelSpec": "spec", "Prior": "spec", "available_specs": "spec", "load_spec": "spec",
}
_SUBMODULES = {"datasets", "design", "frontier", "planning", "report"}


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use (PEP 562)."""
    if name == "__version__":
        return package_version()
    if name not in _LAZY:
        raise AttributeError(f"module 'bayes_scaling' has no attribute {name!r}")
    module = importlib.import_module(f".{_LAZY[name]}", __name__)
    value = module if name in _SUBMODULES else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | {"__version__"})


__all__ = [
    "BackendError", "BayesScalingError", "DataWarning", "DatasetError", "ExtrapolationWarning", "FitFileError", "InputError", "PriorWarning", "QueryError", "SamplerWarning", "SamplingInterrupted", "SpecError", "package_version",
    *_LAZY,
]
