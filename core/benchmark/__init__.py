"""``python -m core.benchmark``: the benchmark under the name the issues use; ``--gpu-check`` for a GPU machine.

Nothing is measured here: the command hands over to :mod:`core.bench` (the benchmark and its sections) or, with
``--gpu-check``, to :mod:`core.bench.gpu_check`.
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Run the GPU check when ``--gpu-check`` is among the arguments, else the benchmark with them.

    Args:
        argv: the arguments; ``None`` reads the command line.
    """
    import sys

    arguments = list(sys.argv[1:] if argv is None else argv)
    if "--gpu-check" in arguments:
        from core.bench import gpu_check

        arguments.remove("--gpu-check")
        return gpu_check.main(arguments)
    from core.bench.engine import main as benchmark

    return benchmark(arguments)
