"""``python -m bayes_scaling.cli``: the same as the ``bayes-scaling`` command."""

from . import main

raise SystemExit(main())
