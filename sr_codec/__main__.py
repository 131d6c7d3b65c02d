"""``python -m sr_codec`` = the ``sr-codec`` command line."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
