"""Experiment design: which runs to train next (:func:`propose`), a first IsoFLOP sweep
(:func:`layout`), and the Approach-2 IsoFLOP estimator that cross-checks a law's frontier (:func:`isoflop`)."""

from .candidates import Limits
from .layout import layout
from .propose import propose, reweight

__all__ = ["Limits", "check_frontier", "isoflop", "layout", "propose", "reweight"]


def __getattr__(name: str):
    """The IsoFLOP estimator imports PyMC; it is loaded on first use."""
    if name in ("isoflop", "check_frontier", "isoflop_table"):
        from . import approach2 as module

        return getattr(module, name)
    raise AttributeError(name)
