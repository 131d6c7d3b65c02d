"""``python -m sr_codec.train``."""

from .loop import main

raise SystemExit(main())
