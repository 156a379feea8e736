"""Sampling with NUTS through one function, and convergence diagnostics.

Backends: ``pymc`` (PyMC's own NUTS on a numba-compiled PyTensor graph; always installed) and, with the
``jax`` extra (``pip install "bayes_scaling[jax]"``), ``numpyro``, ``blackjax`` (JAX) and ``nutpie``
(Rust NUTS on a numba-compiled model). Every backend returns an ``xarray.DataTree`` in ArviZ layout.
"""

from __future__ import annotations

import contextlib
import importlib.util
import multiprocessing
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from .defaults import (
    BACKENDS,
    CHAINS,
    DEFAULT_BACKEND,
    DRAWS,
    SEED,
    TARGET_ACCEPT,
    TUNE,
)
from .errors import BackendError, SamplerWarning, SamplingInterrupted

if TYPE_CHECKING:
    import pymc as pm

#: Packages each backend needs beyond PyMC: nutpie is a dependency, the JAX ones come with the ``jax`` extra.
BACKEND_PACKAGES = {"numpyro": ("jax", "numpyro"), "blackjax": ("jax", "blackjax"), "nutpie": ("nutpie", "numba")}
RHAT_MAX = 1.01
MAX_ITERATIONS = {"draws": 1_000_000, "tune": 1_000_000, "chains": 256}  # per chain; the trace must fit in memory
#: Minimum bulk and tail ESS per chain (Vehtari et al. 2021 ask for 100 per chain).
ESS_PER_CHAIN_MIN = 100
#: PyTensor flags of every sampling run. Numba's fastmath lets LLVM reorder floating-point arithmetic, and
#: differently in a fresh compile than from the compile cache (draws changed in the 5th digit with the
#: cache's state); without it the same data, spec and seed give the same draws, at no measurable cost.
COMPILE_FLAGS = {"numba__fastmath": False}
#: Largest model (unconstrained parameters) for which ``dense_mass="auto"`` adapts a dense metric.
DENSE_MAX_DIM = 60


@dataclass(frozen=True)
class SamplerSettings:
    """How to sample a posterior, and (returned by :func:`sample`, stored with every fit) how it was.

    One object carries the sampler's settings through every layer: ``bs.fit``, ``bs.backtest``,
    ``bs.calibrate`` and the jobs of a sweep take it as ``sampler=`` (their ``draws=``, ``seed=``, ...
    keywords override single fields of it). ``dense_mass="auto"`` is resolved by :func:`sample`;
    ``seconds`` and ``draws_done`` are filled in by it.
    """

    backend: str = DEFAULT_BACKEND
    draws: int = DRAWS
    tune: int = TUNE
    chains: int = CHAINS
    seed: int = SEED
    target_accept: float = TARGET_ACCEPT
    dense_mass: bool | str = "auto"
    seconds: float = float("nan")
    #: Draws per chain actually kept: fewer than ``draws`` only for an interrupted fit kept partial.
    draws_done: int | None = None
    #: Chains removed after sampling by :func:`bayes_scaling.result.chains.drop_chains` (by their label).
    dropped_chains: tuple[int, ...] = ()
    #: Chains an interrupt left before they started (no draw; not in the posterior).
    unstarted_chains: tuple[int, ...] = ()

    def with_options(self, **options: Any) -> SamplerSettings:
        """A copy with the options that are not None replaced (a caller's single keywords)."""
        unknown = sorted(set(options) - {f.name for f in fields(self)})
        if unknown:
            raise BackendError(f"unknown sampler setting(s) {unknown}")
        return replace(self, **{k: v for k, v in options.items() if v is not None})

    def check(self) -> None:
        """Refuse an unknown backend (or its missing packages), draws, tune or chains below 1, a negative seed."""
        check_backend(self.backend)
        for name in ("draws", "tune", "chains", "seed"):
            value = getattr(self, name)
            if (isinstance(value, bool) or not isinstance(value, (int, np.integer, float))
                    or isinstance(value, float) and not value.is_integer()):  # a large int is whole, as a float may not be
                raise BackendError(f"{name} must be a whole number, got {value!r}")
        for name in ("draws", "tune", "chains"):
            if not 1 <= int(getattr(self, name)) <= MAX_ITERATIONS[name]:
                raise BackendError(f"{name} must be at least 1 and at most {MAX_ITERATIONS[name]:,} (the trace must fit "
                                   f"in memory), got {int(getattr(self, name)):,}")
        if int(self.seed) < 0:
            raise BackendError(f"seed must be a non-negative integer, got {self.seed}")
        accept = self.target_accept
        if isinstance(accept, bool) or not isinstance(accept, (int, float, np.number)) or not 0 < float(accept) < 1:
            raise BackendError(f"target_accept must be a number strictly between 0 and 1, got {accept!r}")

    @property
    def interrupted(self) -> bool:
        """True for a partial posterior kept after an interrupt (``fit(..., keep_partial=True)``)."""
        return self.draws_done is not None and self.draws_done < self.draws


@dataclass(frozen=True)
class Diagnostics:
    """Convergence of a posterior sample.

    ``problems`` lists, in words, everything that should stop a reader trusting the draws; empty means
    no divergences, R-hat <= 1.01 and bulk/tail ESS >= 100 per chain for every parameter.
    """

    divergences: int
    draws: int
    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    mean_tree_depth: float
    problems: tuple[str, ...] = field(default=())
    #: What was done to the draws after sampling, such as chains dropped (not problems; always shown).
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    def __str__(self) -> str:
        """One line: the numbers, then the problems (or "converged"), then any notes."""
        verdict = "PROBLEMS: " + "; ".join(self.problems) if self.problems else "converged"
        notes = "".join(f" (note: {n})" for n in self.notes)
        return (f"{self.divergences} divergences in {self.draws} draws, max R-hat {self.max_rhat:.3f}, "
                f"min bulk ESS {self.min_ess_bulk:.0f}, min tail ESS {self.min_ess_tail:.0f}, "
                f"mean tree depth {self.mean_tree_depth:.1f}: {verdict}{notes}")

    def to_dict(self) -> dict:
        """JSON-able form (strict JSON: a number that is not finite, e.g. R-hat of one chain, is None)."""
        d = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in asdict(self).items()}
        d["problems"] = list(self.problems)
        d["notes"] = list(self.notes)
        d["ok"] = self.ok
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Diagnostics:
        """Inverse of :meth:`to_dict` (null back to NaN; ``ok`` is derived, not read)."""
        values = {k: (float("nan") if v is None else v) for k, v in d.items() if k != "ok"}
        return cls(**{**values, "problems": tuple(d["problems"]), "notes": tuple(d.get("notes", ()))})


def check_backend(backend: str) -> None:
    """Raise :class:`BackendError` if ``backend`` is unknown or its packages are missing."""
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend '{backend}'; choose one of {', '.join(BACKENDS)}")
    missing = [p for p in BACKEND_PACKAGES.get(backend, ()) if importlib.util.find_spec(p) is None]
    if missing:
        how = ("reinstall the package: pip install bayes_scaling" if backend == "nutpie"
               else "install the extra: pip install \"bayes_scaling[jax]\"")
        raise BackendError(f"backend '{backend}' needs {', '.join(missing)}, which is not installed; {how}")


def sample(
    model: pm.Model,
    sampler: SamplerSettings | None = None,
    progressbar: bool = False,
    keep_partial: bool = False,
) -> tuple[xr.DataTree, SamplerSettings]:
    """Draw from the posterior of ``model`` with NUTS.

    Parameters
    ----------
    model : pymc.Model
        From :func:`bayes_scaling.build_model`.
    sampler : SamplerSettings, optional
        Backend (``pymc``, ``nutpie``, ``numpyro``, ``blackjax``: the NUTS implementation), kept
        draws, warm-up iterations and chains, the seed (the same seed, data and spec give the same
        draws on one machine), the step-size target, and ``dense_mass``: adapt a dense mass matrix
        (``pymc``, ``numpyro``) or nutpie's low-rank one (``blackjax`` keeps its diagonal metric;
        pm.sample passes no option for it). Worth it for the few, correlated parameters of a
        scaling law; ``"auto"`` (default) uses it up to :data:`DENSE_MAX_DIM` unconstrained
        parameters and a diagonal one above (hierarchies over many tasks, where a dense matrix
        costs O(d^2) per step and cannot be estimated in warm-up). Default ``SamplerSettings()``.
    progressbar : bool
        Show the sampler's progress bar.
    keep_partial : bool
        On Ctrl-C, return the draws taken so far (``settings.draws_done`` says how many per chain)
        instead of raising :class:`SamplingInterrupted`.

    Returns
    -------
    (DataTree, SamplerSettings)
        The settings as used: ``dense_mass`` resolved, ``seconds`` and ``draws_done`` filled in.

    Raises
    ------
    BackendError
        Unknown backend, missing packages, or draws, tune, chains below 1 or a negative seed.
    SamplingInterrupted
        Ctrl-C (SIGINT) during sampling, unless ``keep_partial`` and some draws were kept. PyMC and
        nutpie catch the interrupt and return a shorter trace; it is detected here, never returned
        as if complete.
    """
    sampler = sampler or SamplerSettings()
    sampler.check()
    backend, draws, tune, chains, seed = sampler.backend, sampler.draws, sampler.tune, sampler.chains, sampler.seed
    target_accept, dense_mass = sampler.target_accept, sampler.dense_mass
    if dense_mass == "auto":
        dense_mass = model_dim(model) <= DENSE_MAX_DIM
    start = time.perf_counter()
    with interrupt_watch() as interrupted:
        try:
            idata = _run_sampler(model, backend, int(draws), int(tune), int(chains), int(seed), target_accept,
                                 bool(dense_mass), progressbar)
        except KeyboardInterrupt:
            raise SamplingInterrupted("sampling was interrupted") from None
        except Exception:
            if interrupted():  # PyMC cannot build a trace from an interrupted warm-up
                raise SamplingInterrupted("sampling was interrupted during warm-up") from None
            raise
    idata, kept, unstarted = _complete_draws(idata) if interrupted() else (idata, _n_draws(idata), ())
    if (interrupted() or kept < int(draws)) and (not keep_partial or kept == 0):
        raise SamplingInterrupted(f"sampling was interrupted after {kept} of {int(draws)} draws per chain")
    settings = SamplerSettings(backend, int(draws), int(tune), int(chains), int(seed), float(target_accept),
                               bool(dense_mass), time.perf_counter() - start, kept if kept < int(draws) else None,
                               (), unstarted)
    return idata, settings


def _n_draws(idata: xr.DataTree) -> int:
    return int(idata["posterior"].sizes["draw"]) if "posterior" in idata.children else 0


def _complete_draws(idata: xr.DataTree) -> tuple[xr.DataTree, int, tuple[int, ...]]:
    """An interrupted trace cut to the draws every running chain completed: a sampler pads the chains it
    stopped with NaN to the longest one. Returns the trace, its draws per chain and the chains that had
    not started (no draw; left out)."""
    if "posterior" not in idata.children or not idata["posterior"].data_vars:
        return idata, 0, ()
    post = idata["posterior"].to_dataset()
    first = next(iter(post.data_vars.values()))
    done = np.isfinite(first).all([d for d in first.dims if d not in ("chain", "draw")])
    counts = done.cumprod("draw").sum("draw")  # leading finite draws of each chain
    started = [int(c) for c, n in zip(counts["chain"].values, counts.values, strict=True) if n > 0]
    if not started:
        return idata, 0, ()
    kept = int(counts.sel(chain=started).min())
    unstarted = tuple(int(c) for c in counts["chain"].values if int(c) not in started)
    for name in ("posterior", "sample_stats"):
        if name in idata.children:
            idata[name] = xr.DataTree(idata[name].to_dataset().sel(chain=started).isel(draw=slice(0, kept)))
    return idata, kept, unstarted


@contextlib.contextmanager
def interrupt_watch() -> Iterator[Callable[[], bool]]:
    """Note any SIGINT while the block runs (the samplers swallow the KeyboardInterrupt it raises).

    Yields a function that says whether one arrived. The interrupt is still raised inside the
    block as usual; only the main thread can watch signals, elsewhere it never reports one.
    """
    state = {"hit": False}
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: object) -> None:
        state["hit"] = True
        if callable(previous):
            previous(signum, frame)
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: state["hit"]
    finally:
        signal.signal(signal.SIGINT, previous)


def _run_sampler(model: pm.Model, backend: str, draws: int, tune: int, chains: int, seed: int,
                 target_accept: float, dense_mass: bool, progressbar: bool) -> xr.DataTree:
    """One call of ``pm.sample`` with the backend's options."""
    import pymc as pm
    import pytensor

    common = {"draws": draws, "tune": tune, "chains": chains, "random_seed": seed,
                  "progressbar": progressbar, "model": model, "compute_convergence_checks": False}
    with warnings.catch_warnings(), pytensor.config.change_flags(**COMPILE_FLAGS):
        warnings.filterwarnings("ignore", message=".*ignored by `nuts_sampler.*")
        warnings.filterwarnings("ignore", message="QuadPotentialFullAdapt is an experimental feature")
        warnings.filterwarnings("ignore", message="overflow encountered", category=RuntimeWarning)
        if backend == "pymc":
            idata = pm.sample(nuts_sampler="pymc", init="jitter+adapt_full" if dense_mass else "jitter+adapt_diag",
                              cores=chain_processes(chains), target_accept=target_accept, **common)
        elif backend in ("numpyro", "blackjax"):
            import pymc.sampling.jax

            use_jax_cache()
            nuts = {"target_accept": target_accept, "chain_method": jax_chain_method(chains)}
            if backend == "numpyro":
                nuts["dense_mass"] = dense_mass
            idata = pm.sample(nuts_sampler=backend, nuts=nuts, **common)
        else:
            from .compiled import sample_nutpie

            nuts = {"target_accept": target_accept, "adaptation": "low_rank" if dense_mass else "diag"}
            idata = sample_nutpie(model, draws, tune, chains, seed, chain_processes(chains), nuts, progressbar)
    return idata


def jax_chain_method(chains: int) -> str:
    """How the JAX backends run their chains.

    ``"parallel"`` (one device per chain, ``jax.pmap``) where JAX has a device for every chain: on
    the CPU, where PyMC asks XLA for 100 host devices. ``"vectorized"`` (``jax.vmap``: every chain in
    one program) where it has fewer, as on a machine with one GPU, where ``pmap`` cannot place 4
    chains.
    """
    import jax

    return "parallel" if jax.local_device_count() >= chains else "vectorized"


def use_jax_cache() -> None:
    """Switch on JAX's persistent compilation cache under PyTensor's ``base_compiledir`` (``jax/``),
    unless ``JAX_COMPILATION_CACHE_DIR`` or the JAX config already names a folder, so a second process
    with the same model and data loads the compiled sampler instead of compiling it again."""
    import jax
    import pytensor

    if not os.environ.get("JAX_COMPILATION_CACHE_DIR") and jax.config.jax_compilation_cache_dir is None:
        jax.config.update("jax_compilation_cache_dir", os.path.join(pytensor.config.base_compiledir, "jax"))


def chain_processes(chains: int) -> int:
    """How many chains may run at once (PyMC's processes, nutpie's threads): one per chain up to the CPU
    count, or one (chains in turn) inside a daemonic process such as a Dask worker, which cannot start
    children and is given one core. The draws are the same either way: every chain has its own seed."""
    if multiprocessing.current_process().daemon:
        return 1
    return min(chains, os.cpu_count() or 1)


def model_dim(model: pm.Model) -> int:
    """Number of unconstrained parameters NUTS moves in.

    Read from the value variables' static shapes where every one is known (no compiling); otherwise
    from the model's initial point.
    """
    shapes = [model.rvs_to_values[rv].type.shape for rv in model.free_RVs]
    if all(d is not None for shape in shapes for d in shape):
        return int(sum(np.prod(shape, dtype=int) for shape in shapes))
    return int(sum(np.size(v) for v in model.initial_point().values()))


def diagnose(idata: xr.DataTree, var_names: list[str] | None = None) -> Diagnostics:
    """Divergences, worst R-hat and ESS over ``var_names`` (default: every posterior variable)."""
    from .mcmc_stats import ess_bulk as bulk
    from .mcmc_stats import ess_tail as tail
    from .mcmc_stats import per_element
    from .mcmc_stats import rhat as rank_rhat

    post = idata["posterior"].to_dataset()
    names = var_names or list(post.data_vars)
    chains, draws = post.sizes["chain"], post.sizes["draw"]
    stats = idata["sample_stats"].to_dataset() if "sample_stats" in idata.children else xr.Dataset()
    divergences = int(stats["diverging"].sum()) if "diverging" in stats else 0
    depth_name = next((n for n in ("tree_depth", "depth") if n in stats), None)  # PyMC/JAX, nutpie
    depth = float(stats[depth_name].mean()) if depth_name else float("nan")
    if chains > 1:
        rhat = float(max(float(per_element(rank_rhat, post[n]).max()) for n in names))
    else:
        rhat = float("nan")
    ess_bulk = float(min(float(per_element(bulk, post[n]).min()) for n in names))
    ess_tail = float(min(float(per_element(tail, post[n]).min()) for n in names))
    need = ESS_PER_CHAIN_MIN * chains
    problems = []
    if divergences:
        problems.append(f"{divergences} divergent transitions ({100 * divergences / (chains * draws):.2g}% of draws)")
    if chains == 1:
        problems.append("one chain only: R-hat cannot be computed; run at least 2 chains")
    elif not np.isfinite(rhat) or rhat > RHAT_MAX:
        problems.append(f"R-hat up to {rhat:.{3 if round(rhat, 3) > RHAT_MAX else 4}f} (> {RHAT_MAX})")  # not 1.010
    if not ess_bulk >= need:
        problems.append(f"bulk ESS as low as {ess_bulk:.0f} (< {need} = {ESS_PER_CHAIN_MIN} per chain)")
    if not ess_tail >= need:
        problems.append(f"tail ESS as low as {ess_tail:.0f} (< {need} = {ESS_PER_CHAIN_MIN} per chain)")
    return Diagnostics(divergences, chains * draws, rhat, ess_bulk, ess_tail, depth, tuple(problems))


def warn_if_unconverged(diagnostics: Diagnostics) -> None:
    """Emit a :class:`SamplerWarning` naming every problem (a fit never hides a failed sampler)."""
    if diagnostics.problems:
        warnings.warn("sampler did not converge cleanly: " + "; ".join(diagnostics.problems),
                      SamplerWarning, stacklevel=3)
