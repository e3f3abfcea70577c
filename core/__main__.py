"""``python -m core``: the ``moebius-inpaint`` command line (see :mod:`core.cli.main`)."""

from core.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
