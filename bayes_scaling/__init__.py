"""bayes_scaling: Bayesian inference for neural scaling laws.

>>> import bayes_scaling as bs
>>> runs = bs.datasets.load("chinchilla_sim")
>>> fit = bs.fit(runs, spec="chinchilla", seed=1)        # doctest: +SKIP
>>> fit.summary(); fit.optimal(compute=[5.88e23]); fit.predict(params=70e9, tokens=1.4e12)  # doctest: +SKIP
"""

from . import compare, datasets, frontier, planning, report
from .backtest import Backtest, backtest, predict_runs, split_holdout
from .calibrate import Calibration, calibrate
from .data import Runs, read_runs
from .errors import (
    BackendError,
    BayesScalingError,
    DatasetError,
    FitFileError,
    InputError,
    QueryError,
    SamplerWarning,
    SpecError,
)
from .fit import Fit, fit, format_summary, load_fit, package_version
from .inference import BACKENDS, Diagnostics, SamplerSettings, diagnose, sample
from .intervals import DEFAULT_PROB, interval_table
from .laws import LAWS, Law, get_law
from .model import build_model
from .spec import ModelSpec, Prior, available_specs, load_spec

__version__ = package_version()

__all__ = [
    "BACKENDS", "DEFAULT_PROB", "LAWS", "BackendError", "BayesScalingError", "DatasetError", "Diagnostics",
    "Fit", "FitFileError", "InputError", "Law", "ModelSpec", "Prior", "QueryError", "Runs", "SamplerSettings",
    "SamplerWarning", "SpecError", "available_specs", "build_model", "compare", "datasets", "diagnose", "fit",
    "format_summary", "get_law", "interval_table", "load_fit", "load_spec", "planning", "read_runs", "sample",
]
__all__ += ["frontier", "report"]
__all__ += ["Backtest", "Calibration", "backtest", "calibrate", "predict_runs", "split_holdout"]
