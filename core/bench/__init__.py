"""Benchmarks, run by hand: ``python -m core.bench`` (see :mod:`core.bench.engine`) and its sections."""
