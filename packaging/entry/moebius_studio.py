"""Frozen entry point of both programs: the desktop app and, by name, the command line.

The bundle has one copy of Python's modules (about 50 MB, embedded in the executable), so the command line is
the same executable under another name: a symbolic link ``moebius-inpaint`` on Linux and macOS, a second small
console executable on Windows (a windowed program cannot write to the console it was started from).
"""

import multiprocessing
import sys
import warnings
from pathlib import Path

CLI_NAME = "moebius-inpaint"


def main() -> int:
    # The bundle carries torch's modules compiled, without source (packaging/slim.py); TorchScript's overload
    # registry then warns about each overloaded torch function when torch is imported. Nothing here uses
    # TorchScript, so the two dozen warnings would only bury real messages in the log.
    warnings.filterwarnings("ignore", message=r"Unable to retrieve source for @torch\.jit\._overload")
    from bundled_models import use_bundled_models

    use_bundled_models()
    if Path(sys.argv[0]).stem.lower() == CLI_NAME:
        from core.cli.main import main as run
    else:
        from app.main import main as run
    return run()


if __name__ == "__main__":
    # A frozen program that starts a child process re-runs itself; this makes such a child do the child's work
    # instead of opening a second window (nothing here spawns one today, but libraries may).
    multiprocessing.freeze_support()
    sys.exit(main())
