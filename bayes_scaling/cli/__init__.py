"""``bayes-scaling``: a thin command line over the public API.

Every error a user can cause ends with exit code 2 and one line ``error: ...`` on stderr, and
writes nothing; Ctrl-C ends with exit code 130 and one line; warnings print as one ``warning:``
line each. The parser imports nothing heavy: each command imports what it uses when it runs, so
``--help``, ``--version`` and an interrupt during start-up are immediate and clean.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
import warnings
from collections.abc import Sequence
from typing import Any

from ..errors import BayesScalingError, SamplerWarning
from ..version import package_version
from . import answers, curves, design, fitting, present
from .common import SHOWN, on_interrupt, reset_interrupt

#: Exit codes: a user error, an unexpected failure, Ctrl-C.
EXIT_USAGE, EXIT_FAILURE, EXIT_INTERRUPTED = 2, 1, 130
#: Set to 1 to see the traceback of an unexpected failure.
DEBUG_ENV = "BAYES_SCALING_DEBUG"


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``error: ...``) and exit code 2, like every other user error.

    A value such as ``-1e10``, ``-inf`` or ``-nan`` is read as a value, as ``-1.5`` is, so that its
    own check names it (argparse before Python 3.13 took it for an option and said a value was missing).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-(\.?\d|inf|nan)", re.IGNORECASE)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"error: {self.prog}: {message}\n")


class _Version(argparse.Action):
    """``--version``, which reads the installed version only when asked (``importlib.metadata`` is slow to import)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="show the program's version number and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        print(f"bayes-scaling {package_version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command (cheap: no heavy imports)."""
    parser = _Parser(prog="bayes-scaling", description="Bayesian inference for neural scaling laws.")
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    fitting.register(sub)
    answers.register(sub)
    design.register(sub)
    curves.register(sub)
    present.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bayes-scaling`` command."""
    reset_interrupt()
    watch = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_interrupt) if watch else None
    hook, sys.unraisablehook = sys.unraisablehook, _quiet_interrupts
    try:
        return _run(argv)
    except KeyboardInterrupt as exc:
        detail = f" ({exc})" if str(exc) else ""
        print(f"error: interrupted{detail}; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader (e.g. `| head`) stopped reading: not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE
    finally:
        sys.unraisablehook = hook
        if watch:
            signal.signal(signal.SIGINT, previous)


def _quiet_interrupts(unraisable: Any) -> None:
    """Python's hook for exceptions it cannot raise, silent for a Ctrl-C that landed in a finaliser
    or weakref callback: :func:`on_interrupt` has recorded it and the command stops at its next step
    with one line, so the ignored traceback would be a second, misleading report."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        return
    sys.__unraisablehook__(unraisable)


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad argument (one line, exit 2)
        return int(exc.code or 0)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SamplerWarning)  # reported by the commands themselves
            SHOWN.clear()
            warnings.showwarning = _show_warning
            code = args.func(args)
        sys.stdout.flush()
        for line in getattr(args, "after", []):
            print(line, file=sys.stderr)
        return code
    except BayesScalingError as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            raise
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        print(f"error: cannot access{where}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        print(f"error: unexpected {type(exc).__name__}: {_one_line(exc)} (a bug in bayes_scaling; "
              f"set {DEBUG_ENV}=1 for the traceback)", file=sys.stderr)
        return EXIT_FAILURE


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


#: Warnings printed by this command: each is printed once (numpy repeats one per array it evaluates).
def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: object = None, line: str | None = None) -> None:
    text = _one_line(message) if isinstance(message, BaseException) else str(message)
    if text not in SHOWN:
        SHOWN.append(text)
        print(f"warning: {text}", file=sys.stderr)


__all__ = ["build_parser", "main"]
