"""``python -m sr_codec.batch encode|decode INPUT... --out DIR [options]`` = ``sr-codec batch ...``: a corpus.

The command line lives with the others in :mod:`sr_codec.cli` (``batch_parser``, ``batch_main``), so the
encode options are defined once. Prints one summary line (files, bytes, errors, time, where it ran) and
the results table's location; a ``done/total`` progress line on stderr when it is a terminal; Ray's own
output only with ``--verbose``. Exit status 0 when the job ran (even with error rows: they are in the
results table), 1 when it could not run.
"""

from __future__ import annotations

import sys

from ..cli import batch_main as main
from ..cli import batch_parser as parser

__all__ = ["main", "parser"]

if __name__ == "__main__":
    sys.exit(main())
