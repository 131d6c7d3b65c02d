"""``python -m sr_codec.export``."""

import sys

from . import main

sys.exit(main())
