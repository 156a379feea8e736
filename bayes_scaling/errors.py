"""Typed errors: every problem a user can cause has its own class and a one-line message."""

from __future__ import annotations

from pathlib import Path


class BayesScalingError(Exception):
    """Base class of every error the package raises on purpose.

    The CLI catches this class, prints ``error: <message>`` on one line and exits with code 2.
    """


class InputError(BayesScalingError, ValueError):
    """The table of runs is unusable: missing columns, bad values, wrong units, duplicates."""


class SpecError(BayesScalingError, ValueError):
    """A model specification is unknown or malformed."""


class BackendError(BayesScalingError, RuntimeError):
    """A sampling backend is unknown or its packages are not installed."""


class FitFileError(BayesScalingError, OSError):
    """A saved fit cannot be read: missing, corrupt, truncated or not written by bayes_scaling."""


class DatasetError(BayesScalingError, LookupError):
    """A dataset is not registered, not reachable, or fails its checksum."""


class QueryError(BayesScalingError, ValueError):
    """A question asked of a fit cannot be answered (e.g. an allocation for a compute-only law)."""


class SamplerWarning(UserWarning):
    """The sampler did not converge cleanly: divergences, R-hat above 1.01 or low ESS."""


class DataWarning(UserWarning):
    """The runs are legal but suspicious (e.g. column names with surrounding spaces)."""


class PriorWarning(UserWarning):
    """The priors are legal but put the observed losses out of reach of the prior predictive."""


class ExtrapolationWarning(UserWarning):
    """An answer lies outside the range of the fitted runs (see its ``reach``)."""


class SamplingInterrupted(KeyboardInterrupt):
    """Sampling was interrupted (Ctrl-C): no fit is returned and nothing is saved.

    A subclass of :class:`KeyboardInterrupt`, so code that stops on Ctrl-C keeps stopping; pass
    ``keep_partial=True`` to :func:`bayes_scaling.result.fit` to keep the draws taken so far instead.
    """


def holds_bool(values: object) -> bool:
    """Whether ``values`` is, or holds, True or False: numpy reads them as 1 and 0, so a flag among
    numbers would silently become N = 1 or a budget of 1 FLOP."""
    import numpy as np  # here: the CLI's parser imports this module and nothing heavy

    try:
        items = np.asarray(values, dtype=object).ravel().tolist()
    except ValueError:  # nested lists of unequal lengths: the caller's conversion refuses them
        return False
    return any(isinstance(v, bool | np.bool_) for v in items)


def require_bool(value: object, name: str) -> bool:
    """``value`` if it is True or False, else a :class:`QueryError` naming the switch ``name`` (a string
    such as ``"no"`` is truthy, so it would silently turn the switch on)."""
    if not isinstance(value, bool):
        raise QueryError(f"{name} is True or False, got {value!r}")
    return value


def require_file(path: Path, error: type[BayesScalingError], what: str, missing: str) -> None:
    """Raise ``error`` where ``path`` is a folder (``"<path> is a directory, not <what>"``) or does not
    exist (``missing``, which may name the path as ``{path}``)."""
    if path.is_dir():
        raise error(f"{path} is a directory, not {what}")
    if not path.is_file():
        raise error(missing.format(path=path))
