"""``python -m core.benchmark [--gpu-check]``: see :mod:`core.benchmark`."""

from core.benchmark import main

if __name__ == "__main__":
    raise SystemExit(main())
