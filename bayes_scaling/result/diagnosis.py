"""What the sampler's numbers alone cannot say: the known causes of a failed fit, told in words.

:func:`explain` adds them to a fit's diagnostics: an interrupted (partial) sample, a noise scale that
collapsed because the runs follow the law exactly, and chains that settled apart
(:func:`chains_apart`), in a local mode or in one of several modes of similar density. It reads the
draws only (numpy and xarray), so a saved fit can be diagnosed again without the sampler.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import xarray as xr

from ..inference import RHAT_MAX, Diagnostics, SamplerSettings
from ..laws import Law

#: A noise scale (sd of log loss) below this, in a fit that did not converge, has collapsed: the
#: most precise real curves seen (NMT log-perplexity) have sd 3e-4; below 5e-5 the runs follow the
#: law to rounding error and the posterior of sigma is a funnel no step size crosses.
SIGMA_COLLAPSED = 5e-5
#: Two chains disagree when each one's median lies outside the other's central interval of this mass.
APART_MASS = 0.9
#: Parameters named at most in the message about chains that disagree.
APART_NAMED = 4
#: Warm-up iterations below which chains far apart may still be on their way, so modes are not read.
APART_MIN_TUNE = 500
#: A group of chains whose mean log density is this far below the best group's sits in a local mode
#: that holds a negligible share of the posterior (e^-10 for modes of equal width).
LOCAL_MODE_GAP = 10.0


def checked_names(idata: xr.DataTree, law: Law) -> list[str]:
    """The posterior variables whose R-hat and ESS a fit reports: every one but the law's natural
    parameters that are computed from the sampled ones."""
    return [n for n in idata["posterior"].data_vars if n not in law.natural_names or n in law.sampled]


def log_density(idata: xr.DataTree) -> xr.DataArray | None:
    """The log posterior density the sampler stored per draw (nutpie's ``logp``, PyMC's and JAX's ``lp``)."""
    stats = idata["sample_stats"].to_dataset() if "sample_stats" in idata.children else xr.Dataset()
    return next((stats[n] for n in ("logp", "lp") if n in stats), None)


def explain(diagnostics: Diagnostics, idata: xr.DataTree, settings: SamplerSettings,
            names: list[str] | None = None) -> Diagnostics:
    """Add the problems with a known cause to ``diagnostics``: an interrupted sample, collapsed noise, and
    chains that settled in different modes (checked over ``names``, default every posterior variable)."""
    problems = list(diagnostics.problems)
    left = settings.unstarted_chains
    unstarted = f"chain(s) {', '.join(map(str, left))} not started and left out" if left else ""
    if settings.interrupted:
        problems.insert(0, f"interrupted: a partial posterior of {settings.draws_done} of {settings.draws} "
                           "draws per chain (Ctrl-C)" + (f", {unstarted}" if left else "") + "; rerun the fit for a "
                           "complete one")
    elif left:
        problems.insert(0, f"interrupted (Ctrl-C): {unstarted}; rerun the fit for a complete one")
    post = idata["posterior"]
    if problems and "sigma" in post:
        sigma = float(np.min(post["sigma"].median("draw").values))  # any chain that collapsed
        if sigma < SIGMA_COLLAPSED:
            problems.append(f"the noise scale collapsed to {sigma:.2g} (sd of log loss): the runs follow the law "
                            "almost exactly (noise-free or simulated data?), which NUTS cannot sample; add the "
                            "measurement noise back or fit real runs")
    if diagnostics.max_rhat > RHAT_MAX and settings.tune >= APART_MIN_TUNE:
        apart = chains_apart(post.to_dataset(), names or list(post.data_vars), log_density(idata))
        if apart:
            problems.append(apart)
    return replace(diagnostics, problems=tuple(problems))


def chains_apart(post: xr.Dataset, names: list[str], logp: xr.DataArray | None = None) -> str:
    """Say which chains settled apart, in which parameters, and at what log density ("" when they agree).

    Two chains are apart in a parameter when each one's median lies outside the other's central
    :data:`APART_MASS` interval; chains that are not apart are grouped together. Several groups are
    either a chain stuck in a local mode, whose log density (``logp``, the sampler's log posterior
    density per draw) lies :data:`LOCAL_MODE_GAP` or more below the best group's and which holds
    next to no posterior mass, or modes of similar density: a posterior with several modes, from
    parameters the runs do not identify (a second break, two terms that can swap). More draws seldom
    mend either; a high R-hat with one group is slow mixing, which they do.
    """
    n = int(post.sizes["chain"])
    if n < 2:
        return ""
    tail = (1 - APART_MASS) / 2
    apart = np.zeros((n, n), dtype=bool)
    named: list[str] = []
    for name in names:
        da = post[name]
        values = da.transpose("chain", "draw", ...).values.reshape(n, da.sizes["draw"], -1)
        lo, med, hi = np.nanquantile(values, [tail, 0.5, 1 - tail], axis=1)  # (chain, element) each
        outside = (med[None, :, :] < lo[:, None, :]) | (med[None, :, :] > hi[:, None, :])  # [i, j]: j's median
        pair = (outside & outside.transpose(1, 0, 2)).any(axis=2)                          # outside i's interval
        if pair.any():
            named.append(name)
            apart |= pair
    labels = [int(c) for c in post["chain"].values] if "chain" in post.coords else list(range(n))
    positions = _groups(apart)
    if len(positions) < 2:
        return ""
    groups = [[labels[i] for i in g] for g in positions]  # as the fit names its chains (some may be dropped)
    shown = ", ".join(named[:APART_NAMED]) + (", ..." if len(named) > APART_NAMED else "")
    label = ["chain" + ("s " if len(g) > 1 else " ") + ", ".join(map(str, g)) for g in groups]
    text = f"the chains settled apart ({' | '.join(label)}) in {shown}"
    if logp is None:
        return text + (": a posterior with several modes, or a chain stuck in a local one; more draws seldom "
                       "mend this. Rerun with another seed, and check that the runs identify every parameter")
    chain_lp = logp.mean([d for d in logp.dims if d != "chain"]).values
    level = np.array([float(np.mean(chain_lp[g])) for g in positions])
    text += "; mean log density " + " | ".join(f"{v:.1f}" for v in level)
    is_low = level <= level.max() - LOCAL_MODE_GAP
    low = [lab for lab, flag in zip(label, is_low, strict=True) if flag]
    if low:
        stuck = [c for g, flag in zip(groups, is_low, strict=True) if flag for c in g]
        chains = ", ".join(map(str, stuck))
        how = (f"drop it from the fit (fit.drop_chains([{chains}]), bayes-scaling drop-chains FIT --chains "
               f"{chains.replace(',', '')} --out FIT) or rerun with another seed" if n - len(stuck) >= 2 else
               "rerun with another seed (or more chains): too few would be left to drop it")
        return text + (f": {' and '.join(low)} sat in a local mode with next to no posterior mass (log density "
                       f"{LOCAL_MODE_GAP:.0f} or more below the best); {how}")
    return text + (": modes of similar density, a posterior with several modes that more draws seldom mend; "
                   "check that the runs identify every parameter (compare-models against a simpler law), or "
                   "narrow the priors")


def _groups(apart: np.ndarray) -> list[list[int]]:
    """Chains joined where they are not apart (connected components), in order of their first chain."""
    groups: list[list[int]] = []
    for chain in range(apart.shape[0]):
        joined = [g for g in groups if any(not apart[chain, other] for other in g)]
        merged = sorted({chain, *(c for g in joined for c in g)})
        groups = [g for g in groups if g not in joined] + [merged]
    return sorted(groups)
