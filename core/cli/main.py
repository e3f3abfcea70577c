"""The ``moebius-inpaint`` command line: one entry point, a table of command words.

``main()`` is the entry point of both ``moebius-inpaint`` and ``python -m core``. The first argument may be a
command word from :data:`COMMANDS` (``batch``, ``models``, ``doctor``, ``settings``, ``dust``); anything else is
the default command, which fills one photo (:mod:`core.cli.inpaint`). A photo whose file name is a command word
can still be given as ``./WORD``.

Exit status: 0 done, 1 failed, 2 bad input or usage, 130 cancelled.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from backends.startup import prepare_torch_environment
from core.cli import batch, doctor, dust, models, settings
from core.cli.inpaint import inpaint_command

Command = Callable[[list[str]], int]

COMMANDS: dict[str, Command] = {
    "batch": batch.main,
    "models": models.main,
    "doctor": doctor.main,
    "settings": settings.main,
    "dust": dust.main,
}
"""The command words: ``moebius-inpaint WORD ARGS…`` calls ``COMMANDS[WORD](ARGS)``."""


def main(argv: list[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: the arguments after the program name; ``None`` reads ``sys.argv[1:]``.

    Returns:
        The exit status (see the module's documentation).
    """
    # Before anything can import torch: environment switches such as the MPS CPU fallback.
    prepare_torch_environment()
    args = list(sys.argv[1:] if argv is None else argv)
    command = COMMANDS.get(args[0]) if args else None
    if command is not None:
        return command(args[1:])
    return inpaint_command(args)
