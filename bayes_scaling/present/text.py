"""Fits and answers as text: the summary with its convergence verdict first, plans and compute targets
as tables (the CLI and reports print them)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import xarray as xr

from ..decisions.draws import require_fit
from ..decisions.risk import quantile
from ..result.fit import Fit
from ..result.intervals import DEFAULT_PROB
from ..structural import StructuralError


def describe(error: StructuralError) -> str:
    """One line for people: what a prediction beyond the runs adds, where it was learned and its record."""
    if not error.active:
        return "none: intervals beyond the runs hold only the posterior of the law and the noise of one run"
    unit = "decades" if error.distance == "decades" else "spans of the fitted range"
    spread = f", its scale uncertain by a factor e^{error.spread:g}" if error.spread else ""
    record = f"; {error.record}" if error.record else ""
    return (f"sd {error.scale:.3g}·d^{error.power:g} on log loss, d in {unit} beyond the runs{spread} "
            f"({error.source}{record})")


def format_summary(fit: Fit, prob: float = DEFAULT_PROB) -> str:
    """The summary as text, with the convergence verdict first (used by the CLI)."""
    require_fit(fit, "format_summary reads")
    table = fit.summary(prob)
    prob = float(table.attrs["prob"])
    lines = []
    if fit.diagnostics.problems:
        lines += ["WARNING: " + problem for problem in fit.diagnostics.problems]
        lines.append("WARNING: do not trust these numbers until the sampler converges (more tune/draws, another seed)")
    lines += ["NOTE: " + note for note in fit.diagnostics.notes]
    d = fit.diagnostics
    lines.append(f"law: {fit.law.formula}   spec: {fit.spec.name}   runs: {len(fit.runs)}   "
                 f"sampler: {fit.settings.backend}, {fit.posterior.sizes['chain']}x{fit.posterior.sizes['draw']} draws"
                 + (f" (of {fit.settings.chains} chains)" if fit.posterior.sizes["chain"] != fit.settings.chains else ""))
    lines.append(f"diagnostics: {d.divergences} divergences, max R-hat {d.max_rhat:.3f}, "
                 f"min bulk ESS {d.min_ess_bulk:.0f}, min tail ESS {d.min_ess_tail:.0f}")
    lines.append(f"structural error beyond the runs: {describe(fit.spec.discrepancy)}")
    groups = [c for c in ("domain", "task") if c in table.columns]
    shown = table[groups + ["median", "lower", "upper", "sd", "r_hat", "ess_bulk", "ess_tail"]].fillna({g: "" for g in groups})
    shown = shown.rename(columns={"lower": f"{prob:.0%} low", "upper": f"{prob:.0%} high"})
    lines.append(shown.to_string(float_format=lambda v: f"{v:.4g}"))
    return "\n".join(lines)


def _table(frame: pd.DataFrame) -> str:
    return frame.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def _group_columns(ds: xr.Dataset, skip: Sequence[str]) -> list[str]:
    return [d for d in ds["params"].dims if d not in skip]


def format_plan(ds: xr.Dataset, prob: float = 0.9) -> str:
    """A plan as plain text: one line per budget (and group), with the loss median and central interval."""
    objective, q = ds.attrs.get("objective", "mean"), ds.attrs.get("q", 0.9)
    label = "E[L]" if objective == "mean" else f"{objective}_{q:g}(L)"
    lo_q, hi_q = (1 - prob) / 2, (1 + prob) / 2
    summary = xr.Dataset({
        "params": ds["params"], "tokens": ds["tokens"], "D/N": ds["ratio"], label: ds["objective"],
        "loss_median": quantile(ds["loss"], 0.5),
        f"loss_{lo_q:.0%}": quantile(ds["loss"], lo_q), f"loss_{hi_q:.0%}": quantile(ds["loss"], hi_q),
    })
    if "epochs" in ds:
        summary["epochs"] = ds["epochs"]
    groups = _group_columns(ds, ("budget",))
    frame = summary.to_dataframe().reset_index()
    frame = frame[["budget"] + groups + list(summary.data_vars)]
    limits = [f"{name}={ds.attrs[name]:.4g}" for name in ("max_params", "max_tokens", "unique_tokens")
              if not isinstance(ds.attrs.get(name, "none"), str)]
    head = f"plan: minimise {label} over N with C = {ds.attrs.get('compute_factor', 6):g}·N·D"
    if ds.attrs.get("fixed_params"):
        head = f"plan: fixed N, evaluated by {label}"
    return "\n".join([head + (" (" + ", ".join(limits) + ")" if limits else ""), _table(frame)])


def format_target(ds: xr.Dataset) -> str:
    """Compute-for-target answers as plain text: one line per target loss and probability (and group)."""
    summary = xr.Dataset({
        "budget": ds["budget"], "params": ds["params"], "tokens": ds["tokens"], "D/N": ds["ratio"],
        "loss_quantile": ds["loss_quantile"], "P(L<=target)": ds["prob_achieved"],
    })
    groups = _group_columns(ds, ("target", "prob"))
    frame = summary.to_dataframe().reset_index()
    frame = frame[["target", "prob"] + groups + list(summary.data_vars)]
    return "\n".join(["smallest compute C whose best allocation reaches L <= target with probability >= prob",
                      _table(frame)])


def format_returns(table: pd.DataFrame, below: dict | None, prob: float = 0.9) -> str:
    """The gain per doubling of compute along the frontier, one row per budget (and group)."""
    keys = ["compute"] + [c for c in ("domain", "task") if c in table.columns]
    wide = table.pivot_table(index=keys, columns="variable", values=["median", "lower", "upper"], sort=False)
    lines = [f"loss gained per doubling of compute along the compute-optimal frontier ({prob:.0%} intervals)"]
    for key, row in wide.iterrows():
        where = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                          for k, v in zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        cell = {v: f"{row[('median', v)]:.4g} [{row[('lower', v)]:.4g}, {row[('upper', v)]:.4g}]"
                for v in ("loss", "gain", "relative_gain")}
        lines.append(f"{where}: L* {cell['loss']}; gain {cell['gain']} ({cell['relative_gain']} of L*)")
    if below is not None:
        for r in below["intervals"]:
            group = "".join(f" [{r[c]}]" for c in ("domain", "task") if c in r)
            if r["median"] != r["median"]:  # NaN: no draw of this group falls below within the search
                lines.append(f"gain stays above {below['threshold']:.4g} per doubling{group} in every draw within the search")
                continue
            lines.append(f"gain below {below['threshold']:.4g} per doubling{group} from C = {r['median']:.3g} FLOPs "
                         f"[{r['lower']:.3g}, {r['upper']:.3g}]")
        if below["not_reached"] > 0:
            lines.append(f"{below['not_reached']:.0%} of draws stay above the threshold over the whole search "
                         "(their compute is left out of the interval)")
    return "\n".join(lines)
