"""``python -m core.bench``: the benchmark of the Moebius engine (see :mod:`core.bench.engine`)."""

from core.bench.engine import main

if __name__ == "__main__":
    raise SystemExit(main())
