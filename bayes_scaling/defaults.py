"""The package's defaults and option names, in one module that imports nothing heavy.

The command line builds its parser from these without importing the sampler stack, and the
library modules read the same values, so a default exists once.
"""

from __future__ import annotations

#: Chinchilla's own budget, 6 · 70e9 · 1.4e12 FLOPs: the reference budget of answers and reports.
CHINCHILLA_COMPUTE = 5.88e23
#: Budgets (FLOPs) at which the demo and the report give the compute-optimal allocation.
REPORT_COMPUTE = (1e21, CHINCHILLA_COMPUTE, 1e25)
#: The one default credible level of the package.
DEFAULT_PROB = 0.9

#: NUTS implementations a fit can use.
BACKENDS = ("pymc", "numpyro", "blackjax", "nutpie")
#: nutpie (Rust NUTS on the numba-compiled model, PyMC's own default sampler when installed) is a core
#: dependency and the default: from a cold shell it reaches Epoch's posterior in less than half the
#: time of PyMC's NUTS (docs/benchmarks.md). ``pymc`` stays for what nutpie does not do: a full dense
#: mass matrix adapted in warm-up (nutpie's is low-rank), per-chain initial values, and graphs with an
#: Op that has no numba implementation.
DEFAULT_BACKEND = "nutpie"
#: Sampler defaults of every fit (kept draws and warm-up iterations per chain, chains, seed).
DRAWS = 1000
TUNE = 1000
CHAINS = 4
SEED = 1
TARGET_ACCEPT = 0.9
#: The demo's NUTS target: the Chinchilla posterior of the bundled 108 IsoFLOP runs curves at its
#: low-E, low-exponent tail, where steps tuned for 0.9 diverged in 3 of 12 seeds and steps tuned
#: for 0.95 in none (4 x 1000 draws each).
DEMO_TARGET_ACCEPT = 0.95

#: Levels at which the noise scale sigma may differ (one sigma per group, no hierarchy).
NOISE_LEVELS = ("shared", "domain", "task")
#: Levels at which answers can be asked for.
ANSWER_LEVELS = ("shared", "domain", "task")
#: Kinds of figure of a fit (``bayes-scaling plot --kind``).
FIGURE_KINDS = ("curve", "isoflop", "frontier", "forest", "groups", "returns")
