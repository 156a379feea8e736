"""A Markdown report of a fit that a researcher can paste into a paper, and the figures it links.

``write_report(fit, "report.md", figures=True)`` writes ``report.md`` (data, spec, sampler settings,
diagnostics, parameters with intervals, the compute-optimal allocation at chosen budgets, a LaTeX
table in a fenced block), the same LaTeX table as ``report.tex`` beside it, and with ``figures`` the
PNG files it links (``report_curve.png``, ``report_frontier.png``...). :func:`figure` draws one kind
of figure for a fit; the ``plot`` and ``report`` commands share it.

Every number comes from the fit's public methods (:meth:`Fit.summary`, :meth:`Fit.optimal` through
:func:`bayes_scaling.decisions.frontier.frontier_table`) and is printed to four significant digits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..decisions.frontier import PUBLISHED_FITS, frontier_table
from ..defaults import REPORT_COMPUTE
from ..errors import InputError, QueryError
from ..result.fit import Fit, package_version
from ..result.intervals import DEFAULT_PROB, check_prob
from .figures import figure, report_figures
from .files import write_all
from .text import describe

#: Budgets (FLOPs) the report gives the allocation at when none are asked for.
DEFAULT_COMPUTE = REPORT_COMPUTE
#: Quantities of the compute-optimal allocation, in report order, with their labels.
OPTIMAL = {"params": ("N*", "N^*"), "tokens": ("D*", "D^*"), "ratio": ("D*/N*", "D^*/N^*"), "loss": ("L*", "L^*"),
           "loss_pred": ("L of a run", r"L_{\mathrm{run}}")}
#: LaTeX names of natural parameters (others are set in \texttt).
LATEX_NAMES = {"E": "E", "A": "A", "B": "B", "alpha": r"\alpha", "beta": r"\beta", "a": r"a = \beta/(\alpha+\beta)",
               "sigma": r"\sigma", "nu": r"\nu", "x0": "x_0", "C0": "C_0", "N_c": "N_c", "D_c": "D_c",
               "alpha_n": r"\alpha_N", "alpha_d": r"\alpha_D", "eps0": r"\varepsilon_0", "shape": r"\text{shape}"}


# ------------------------------------------------------------------------------------------- numbers


def _num(value: float) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.4g}"


def _interval(row: Mapping[str, Any]) -> str:
    return f"{_num(row['median'])} [{_num(row['lower'])}, {_num(row['upper'])}]"


def _tex_num(value: float) -> str:
    """A number in LaTeX math: ``$7.25\\times10^{10}$``, ``$0.3453$``."""
    text = _num(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = rf"{mantissa}\times10^{{{int(exponent)}}}".removeprefix(r"1\times")
    return f"${text}$"


def _tex_interval(lower: float, upper: float) -> str:
    return f"$[{_tex_num(lower).strip('$')}, {_tex_num(upper).strip('$')}]$"


def _tex_name(name: str) -> str:
    if name in LATEX_NAMES:
        return f"${LATEX_NAMES[name]}$"
    return r"\texttt{" + name.replace("_", r"\_") + "}"


def _tex_text(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#")):
        text = text.replace(a, b)
    return text


def _groups_of(table: pd.DataFrame) -> list[str]:
    return [c for c in ("domain", "task") if c in table.columns]


def _group_label(row: Mapping[str, Any], groups: Sequence[str]) -> str:
    parts = [str(row[g]) for g in groups if isinstance(row.get(g), str) and row[g]]
    return " / ".join(parts)


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _optimal(fit: Fit, compute: Sequence[float], prob: float) -> pd.DataFrame | None:
    if not fit.law.has_allocation:
        return None
    published = fit.law.published is PUBLISHED_FITS and any(
        fit.runs.source.startswith(point.data) for point in PUBLISHED_FITS.values())
    return frontier_table(fit, compute, prob, published=published)


# -------------------------------------------------------------------------------------------- latex


def latex_table(fit: Fit, compute: Sequence[float] = DEFAULT_COMPUTE, prob: float = DEFAULT_PROB) -> str:
    """A booktabs LaTeX table: parameters (median, central interval) and the allocation at ``compute``.

    Needs ``\\usepackage{booktabs}`` (and ``amsmath`` for ``\\text``) in the paper's preamble.
    """
    summary = fit.summary(prob).reset_index()
    groups = _groups_of(summary)
    cols = "l" + "l" * bool(groups) + "rc"
    head = ["Quantity"] + (["Group"] if groups else []) + ["Median", rf"{prob:.0%} interval".replace("%", r"\%")]
    lines = [
        "% requires \\usepackage{booktabs} and \\usepackage{amsmath}",
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{Posterior of the \texttt{{{_tex_text(fit.spec.name)}}} scaling law "
        rf"(${_tex_formula(fit)}$) fitted to {len(fit.runs)} runs (\texttt{{{_tex_text(fit.runs.source)}}}): "
        rf"posterior medians and {prob:.0%} central credible intervals".replace("%", r"\%") + r".}",
        r"\label{tab:scaling-law-posterior}",
        rf"\begin{{tabular}}{{{cols}}}",
        r"\toprule",
        " & ".join(head) + r" \\",
        r"\midrule",
    ]
    for row in summary.to_dict(orient="records"):
        cells = [_tex_name(str(row["variable"]))]
        if groups:
            cells.append(_tex_text(_group_label(row, groups)))
        cells += [_tex_num(row["median"]), _tex_interval(row["lower"], row["upper"])]
        lines.append(" & ".join(cells) + r" \\")
    optimal = _optimal(fit, compute, prob)
    if optimal is not None:
        lines.append(r"\midrule")
        opt_groups = _groups_of(optimal)
        for row in optimal.to_dict(orient="records"):
            label = rf"${OPTIMAL[row['variable']][1]}$ at $C = {_tex_num(row['compute']).strip('$')}$"
            cells = [label]
            if groups:
                cells.append(_tex_text(_group_label(row, opt_groups)))
            cells += [_tex_num(row["median"]), _tex_interval(row["lower"], row["upper"])]
            lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def _tex_formula(fit: Fit) -> str:
    return fit.law.latex or r"\text{" + _tex_text(fit.law.formula) + "}"


# ------------------------------------------------------------------------------------------ markdown


def _header_lines(fit: Fit, prob: float, fit_path: str | Path | None) -> list[str]:
    """Title, provenance and the non-convergence warning."""
    d = fit.diagnostics
    runs, spec = fit.runs, fit.spec
    out = [f"# Scaling-law fit: `{spec.name}` on {runs.source}", ""]
    out.append(f"Written by bayes_scaling {package_version()}"
               + (f" from `{Path(fit_path).name}`" if fit_path is not None else "")
               + f" (fitted with bayes_scaling {fit.idata.attrs.get('package_version', package_version())}). "
               f"Intervals are central (equal-tailed) {prob:.0%} posterior intervals.")
    out.append("")
    if d.problems:
        out += ["> **WARNING: the sampler did not converge. Do not report these numbers.**", ">"]
        out += [f"> - {p}" for p in d.problems]
        out += [">", ("> Refit with more warm-up and draws (`--tune`, `--draws`), another `--seed`, or a "
                      "better-identified model before using anything below."), ""]
    return out


def _data_lines(fit: Fit) -> list[str]:
    """The Data section: source, hash, ranges of the runs."""
    runs = fit.runs
    table = runs.table
    out = ["## Data", ""]
    out += _markdown_table(["item", "value"], [
        ["source", f"`{runs.source}`"],
        ["SHA-256 of the runs", f"`{runs.digest}`"],
        ["runs", str(len(runs))],
        ["domains", _labels(runs.domains)],
        ["tasks", _labels(runs.tasks)],
        *([label, f"{_num(table[name].min())} – {_num(table[name].max())}"]
          for name, label in (("params", "parameters N"), ("tokens", "tokens D"), ("compute", "compute C (FLOPs)"),
                              ("loss", "loss")) if name in table),
        ["compute factor k (C = k·N·D)", f"{runs.compute_factor:g}"],
    ])
    return out


def _model_lines(fit: Fit) -> list[str]:
    """The Model section: law, likelihood, hierarchy and the priors table."""
    spec = fit.spec
    partial = any(level in ("domain", "task") for level in spec.pooling.values())  # else shared or separate
    hierarchy = spec.hierarchy.replace("_", "-") if partial else "none (parameters shared or fitted per group)"
    out = ["", "## Model", ""]
    out.append(f"Law `{spec.law}`: `{fit.law.formula}`. Likelihood: "
               + ("Student-t" if spec.likelihood == "student_t" else "normal") + " noise on log loss"
               + (f", one noise scale per {spec.noise_pooling}" if spec.noise_pooling != "shared" else "")
               + f". Hierarchy: {hierarchy}; inputs centred "
               + ("at the global pivot" if spec.pivot == "global" else f"per {spec.pivot}") + "."
               + f" Structural error beyond the runs: {describe(spec.discrepancy)}.")
    out.append("")
    rows = []
    for name, prior in spec.priors.items():
        if name == "nu" and spec.likelihood != "student_t":
            continue
        pooling = spec.pooling.get(name, spec.noise_pooling if name == "sigma" else "shared")
        scale = str(spec.scales[name]) if name in spec.scales and pooling not in ("shared",) and not pooling.endswith("_separate") else ""
        rows.append([f"`{name}`", f"`{prior}`", pooling, f"`{scale}`" if scale else ""])
    out += _markdown_table(["parameter (sampled)", "prior", "pooling", "between-group scale prior"], rows)
    return out


def _sampler_lines(fit: Fit) -> list[str]:
    """The Sampler and Diagnostics sections, with the convergence verdict."""
    d, s = fit.diagnostics, fit.settings
    out = ["", "## Sampler", ""]
    out.append(f"NUTS, backend `{s.backend}`: {s.chains} chains × {s.draws} draws after {s.tune} warm-up "
               f"iterations, seed {s.seed}, target accept {s.target_accept:g}, "
               f"{'dense' if s.dense_mass else 'diagonal'} mass matrix"
               + (f", {s.seconds:.1f} s." if np.isfinite(s.seconds) else ".") + "".join(f" Note: {n}." for n in d.notes))
    out += ["", "## Diagnostics", ""]
    verdict = ("**converged**: no divergences, R-hat ≤ 1.01 and bulk/tail ESS ≥ 100 per chain for every parameter"
               if d.ok else "**NOT CONVERGED**: " + "; ".join(d.problems))
    out += _markdown_table(["divergences", "max R-hat", "min bulk ESS", "min tail ESS", "mean tree depth"],
                           [[str(d.divergences), f"{d.max_rhat:.4f}", f"{d.min_ess_bulk:.0f}",
                             f"{d.min_ess_tail:.0f}", f"{d.mean_tree_depth:.2g}"]])
    out += ["", f"Verdict: {verdict}.", "", "## Parameters", ""]
    return out


def _parameter_lines(fit: Fit, prob: float) -> list[str]:
    """The Parameters table: median, interval, sd, R-hat and ESS per parameter and group."""
    out: list[str] = []
    summary = fit.summary(prob).reset_index()
    groups = _groups_of(summary)
    header = ["parameter"] + (["group"] if groups else []) + ["median", f"{prob:.0%} interval", "sd", "R-hat",
                                                            "bulk ESS"]
    rows = []
    for row in summary.to_dict(orient="records"):
        cells = [f"`{row['variable']}`"] + ([_group_label(row, groups)] if groups else [])
        cells += [_num(row["median"]), f"[{_num(row['lower'])}, {_num(row['upper'])}]", _num(row["sd"]),
                  f"{row['r_hat']:.4f}" if np.isfinite(row["r_hat"]) else "–", f"{row['ess_bulk']:.0f}"]
        rows.append(cells)
    out += _markdown_table(header, rows)
    return out


def report_markdown(
    fit: Fit,
    compute: Sequence[float] = DEFAULT_COMPUTE,
    prob: float = DEFAULT_PROB,
    figures: Mapping[str, str] | None = None,
    fit_path: str | Path | None = None,
    latex_file: str | None = None,
) -> str:
    """The report as Markdown text.

    Parameters
    ----------
    fit : Fit
    compute : sequence of float
        Budgets (FLOPs) at which to give N*, D*, D*/N* and L* (laws with an N/D split).
    prob : float
        Mass of every central interval.
    figures : mapping of str to str, optional
        Figure kind -> relative path of a PNG to link.
    fit_path : str or Path, optional
        The fit file the report describes (named in the header).
    latex_file : str, optional
        Name of the file beside the report that holds the LaTeX table (said in the LaTeX section).

    Returns
    -------
    str
        Sections: warning (when the sampler did not converge), Data, Model, Sampler, Diagnostics,
        Parameters, Compute-optimal allocation, LaTeX table, Figures.
    """
    prob = check_prob(prob)
    out = [*_header_lines(fit, prob, fit_path), *_data_lines(fit), *_model_lines(fit), *_sampler_lines(fit),
           *_parameter_lines(fit, prob)]
    optimal = _optimal(fit, compute, prob)
    if optimal is not None:
        out += _optimal_section(optimal, prob) + _reach_lines(fit, optimal["compute"].unique())
    out += ["", "## LaTeX table", "",
            "Parameters and allocation as one booktabs table"
            + (f" (also in `{latex_file}` beside this report)" if latex_file else "") + ":",
            "", "```latex", latex_table(fit, compute, prob).rstrip(), "```"]
    if figures:
        out += ["", "## Figures", ""]
        for i, (kind, path) in enumerate(figures.items(), start=1):
            title = FIGURE_TITLES.get(kind, kind)
            out += [f"![{title}]({path})", "", f"Figure {i}. {title} (`{path}`).", ""]
    return "\n".join(out).rstrip() + "\n"


FIGURE_TITLES = {
    "curve": "Posterior scaling curve: median, credible band of the law, predictive band of a new run, and the runs",
    "isoflop": "IsoFLOP curves with credible and predictive bands, the runs near each budget and N*",
    "frontier": "Compute-optimal N*, D* and D*/N* against compute, with the published point fits",
    "forest": "Parameters across groups: median, 50% and central intervals",
    "groups": "Scaling curve of each group with its credible band and its runs",
}


def _labels(labels: Sequence[str], most: int = 8) -> str:
    shown = ", ".join(f"`{v}`" for v in labels[:most])
    return f"{len(labels)} ({shown}{', ...' if len(labels) > most else ''})"


def _optimal_section(optimal: pd.DataFrame, prob: float) -> list[str]:
    groups = _groups_of(optimal)
    out = ["", "## Compute-optimal allocation", "",
           (f"Posterior median and {prob:.0%} interval of the compute-optimal model size N*, tokens D*, tokens per "
            "parameter D*/N* and the law's loss L* at each budget (every draw optimised on its own), and the loss "
            "of one run trained there (its noise, and the law's structural error beyond the runs)."), ""]
    keys = ["compute", *groups]
    rows = []
    for key, part in optimal.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        by_var = part.set_index("variable")
        cells = [_num(key[0])] + [str(v) for v in key[1:]]
        cells += [_interval(by_var.loc[v]) if v in by_var.index else "–" for v in OPTIMAL]
        rows.append(cells)
    out += _markdown_table(["C (FLOPs)", *groups, *(label for label, _ in OPTIMAL.values())], rows)
    names = [n for n in PUBLISHED_FITS if n in optimal.columns]
    if names:
        out += ["", ("Published point fits of the same law to these runs, at the same budgets, and the posterior "
                     "probability that D*/N* exceeds each:"), ""]
        ratio = optimal[optimal["variable"] == "ratio"].set_index("compute")
        params = optimal[optimal["variable"] == "params"].set_index("compute")
        rows = []
        for c in ratio.index:
            for n in names:
                rows.append([_num(c), PUBLISHED_FITS[n].label, _num(params.loc[c, n]), _num(ratio.loc[c, n]),
                             f"{ratio.loc[c, f'p_above_{n}']:.3f}"])
        out += _markdown_table(["C (FLOPs)", "point fit", "N*", "D*/N*", "P(posterior D*/N* > it)"], rows)
    return out


def _reach_lines(fit: Fit, compute: Sequence[float]) -> list[str]:
    """One sentence naming the budgets that lie beyond the fitted runs, in decades of compute."""
    from ..data.reach import reach

    far = [(c, d) for c, d in zip(compute, reach(fit.runs, compute=list(compute))["compute"], strict=True) if d]
    if not far:
        return []
    return ["", "Extrapolation: " + "; ".join(
        f"C = {_num(c)} FLOPs lies {abs(d):.2g} decades {'above the largest' if d > 0 else 'below the smallest'} fitted run"
        for c, d in far) + ". The intervals of N*, D* and D*/N* there are the uncertainty of the law's parameters: they assume the law holds that far."]


def write_report(
    fit: Fit,
    out: str | Path,
    compute: Sequence[float] = DEFAULT_COMPUTE,
    prob: float = DEFAULT_PROB,
    figures: bool = False,
    fit_path: str | Path | None = None,
) -> list[Path]:
    """Write the Markdown report, the LaTeX table beside it and (``figures``) its PNG figures.

    Parameters
    ----------
    fit : Fit
    out : str or Path
        The Markdown file, e.g. ``report.md``; the LaTeX table goes to ``report.tex`` and figures to
        ``report_<kind>.png`` in the same directory.
    compute, prob, fit_path
        See :func:`report_markdown`.
    figures : bool
        Draw and link the figures that apply to the fit (:func:`report_figures`).

    Returns
    -------
    list of Path
        Every file written, the report first.
    """
    out = Path(out)
    if not out.parent.is_dir():
        raise InputError(f"cannot write {out}: no directory {out.parent}")
    compute = [float(c) for c in compute]
    if not compute or not all(np.isfinite(c) and c > 0 for c in compute):
        raise QueryError(f"compute budgets must be positive and finite, got {compute}")
    paths = {kind: out.with_name(f"{out.stem}_{kind}.png") for kind in (report_figures(fit) if figures else [])}
    drawn = {path: figure(fit, kind, prob=prob, compute=compute) for kind, path in paths.items()}
    tex = out.with_suffix(".tex")
    links = {kind: path.name for kind, path in paths.items()}
    texts = {out: report_markdown(fit, compute, prob, links, fit_path, latex_file=tex.name),
             tex: latex_table(fit, compute, prob)}
    return write_all(texts, drawn)  # every destination checked first, each written atomically


__all__ = ["DEFAULT_COMPUTE", "latex_table", "report_markdown", "write_report"]
