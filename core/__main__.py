"""``python -m core``: the ``moebius-inpaint`` command line (see :mod:`core.cli`)."""

from core.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
