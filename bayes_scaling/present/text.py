"""Fits as text: the summary with its convergence verdict first (the CLI and reports print it)."""

from __future__ import annotations

from ..result.fit import Fit
from ..result.intervals import DEFAULT_PROB


def format_summary(fit: Fit, prob: float = DEFAULT_PROB) -> str:
    """The summary as text, with the convergence verdict first (used by the CLI)."""
    table = fit.summary(prob)
    lines = []
    if fit.diagnostics.problems:
        lines += ["WARNING: " + problem for problem in fit.diagnostics.problems]
        lines.append("WARNING: do not trust these numbers until the sampler converges (more tune/draws, another seed)")
    d = fit.diagnostics
    lines.append(f"law: {fit.law.formula}   spec: {fit.spec.name}   runs: {len(fit.runs)}   "
                 f"sampler: {fit.settings.backend}, {fit.settings.chains}x{fit.settings.draws} draws")
    lines.append(f"diagnostics: {d.divergences} divergences, max R-hat {d.max_rhat:.3f}, "
                 f"min bulk ESS {d.min_ess_bulk:.0f}, min tail ESS {d.min_ess_tail:.0f}")
    groups = [c for c in ("domain", "task") if c in table.columns]
    shown = table[groups + ["median", "lower", "upper", "sd", "r_hat", "ess_bulk", "ess_tail"]].fillna({g: "" for g in groups})
    shown = shown.rename(columns={"lower": f"{prob:.0%} low", "upper": f"{prob:.0%} high"})
    lines.append(shown.to_string(float_format=lambda v: f"{v:.4g}"))
    return "\n".join(lines)
