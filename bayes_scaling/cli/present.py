"""Commands that draw and write documents: ``plot`` and ``report``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import defaults
from ..errors import InputError
from .common import level_arg, load, not_an_input, positive_float, prob_arg


def register(sub: argparse._SubParsersAction) -> None:
    """Add the presentation commands to the parser."""
    p = sub.add_parser("plot", help="draw a figure of a fit (scaling curve, IsoFLOPs, frontier, forest, group curves) "
                                    "or of a backtest (PIT histogram)")
    p.add_argument("fit", help="a fit file written by 'bayes-scaling fit'; for --kind pit, the per-run CSV "
                               "written by 'bayes-scaling backtest --save'")
    p.add_argument("--kind", required=True, choices=(*defaults.FIGURE_KINDS, "pit"), help="which figure")
    p.add_argument("--out", required=True, help="image to write (PNG; any suffix matplotlib knows)")
    p.add_argument("--param", default=None, help="forest: the parameter (default: every one that varies by group)")
    p.add_argument("--compute", type=positive_float, nargs="+", default=None,
                   help="isoflop: the budgets; frontier, curve: budgets the x range must reach (FLOPs)")
    prob_arg(p)
    level_arg(p)
    p.set_defaults(func=cmd_plot, json=False)

    p = sub.add_parser("report", help="write a Markdown report with a LaTeX table (and figures) of a fit, for a paper")
    p.add_argument("fit", help="a fit file written by 'bayes-scaling fit'")
    p.add_argument("--out", required=True, help="the Markdown file; the LaTeX table (.tex) and figures go beside it")
    p.add_argument("--compute", type=positive_float, nargs="+", default=list(defaults.REPORT_COMPUTE),
                   help="budgets (FLOPs) for N*, D*, D*/N* (default 1e21 5.88e23 1e25)")
    p.add_argument("--figures", action="store_true", help="draw the figures as PNG files beside the report and link them")
    prob_arg(p)
    p.set_defaults(func=cmd_report, json=False)


def _check_folder(out: str) -> None:
    if not Path(out).resolve().parent.is_dir():
        raise InputError(f"cannot write {out}: no such directory")


def _matplotlib() -> None:
    """Draw off screen, or refuse in one line where matplotlib is not installed (the ``plot`` extra)."""
    try:
        import matplotlib
    except ImportError:
        raise InputError("figures need matplotlib, which is not installed: pip install 'bayes_scaling[plot]'") from None
    matplotlib.use("Agg")


def cmd_plot(args: argparse.Namespace) -> int:
    _matplotlib()
    from ..present.figures import figure, save_figure

    if args.param is not None and args.kind != "forest":
        raise InputError(f"--param applies to --kind forest, not {args.kind}")
    _check_folder(args.out)
    not_an_input(args.out, args.fit)
    if args.kind == "pit":
        return _plot_pit(args)
    result = load(args)
    fig = figure(result, args.kind, param=args.param, level=args.level, prob=args.prob, compute=args.compute)
    print(f"wrote {save_figure(fig, args.out)}")
    return 0


def _plot_pit(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..present.figures import save_figure
    from ..present.plots import pit_histogram

    path = Path(args.fit)
    if not path.is_file():
        raise InputError(f"no such per-run table: {path}")
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        from ..data.tables import fit_file_hint

        reason = fit_file_hint(path) or str(exc).splitlines()[0]
        raise InputError(f"{path} is not the per-run CSV table that 'backtest --save' writes: {reason}") from None
    ax = pit_histogram(table)
    print(f"wrote {save_figure(ax.figure, args.out)}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    if args.figures:
        _matplotlib()
    from ..present.report import write_report

    _check_folder(args.out)
    if Path(args.out).suffix == ".tex":
        raise InputError(f"--out {args.out} is the Markdown report; its LaTeX table goes beside it as .tex: give a .md path")
    not_an_input(args.out, args.fit)
    not_an_input(Path(args.out).with_suffix(".tex"), args.fit)
    result = load(args)
    written = write_report(result, args.out, compute=args.compute, prob=args.prob, figures=args.figures,
                           fit_path=args.fit)
    if result.diagnostics.problems:
        print("WARNING: the report says so at the top: the sampler did not converge", file=sys.stderr)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0
