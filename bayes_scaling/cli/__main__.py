"""``python -m bayes_scaling.cli``: the same as the ``bayes-scaling`` command.

After a Ctrl-C the command exits with code 130, as documented. Run with ``-m``, CPython 3.12
remembers a KeyboardInterrupt that was raised inside code run by ``exec`` (dataclasses and
namedtuples are made that way during imports) even when the command caught it, and would end the
process by SIGINT instead of with the code returned; so an interrupted run flushes its output and
leaves with ``os._exit``.
"""

import os
import sys

from . import EXIT_INTERRUPTED, main

code = main()
if code == EXIT_INTERRUPTED:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
raise SystemExit(code)
