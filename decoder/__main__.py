"""``python -m decoder ...``: the command line (see :mod:`decoder.cli`)."""

import sys

from .cli import main

sys.exit(main())
