"""``moebius-inpaint models …``: list, download, import, verify, remove and locate the model weights.

``models download`` is the only command of the program that uses the network. Every other subcommand works on
the files of this computer only. Errors are one line (``--debug`` adds the traceback); the exit status follows
the main command: 0 done, 1 failed, 2 bad input, 130 cancelled.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from core.cli.reporting import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, PROG, parse_arguments, run_reporting_errors
from core.common.cancel import CancelToken
from core.common.errors import (
    DiskSpaceError,
    ModelFolderNotWritableError,
    ModelImportError,
    ModelNotInstalledError,
    MoebiusError,
    UnknownModelError,
)
from core.job.options import DEFAULT_VARIANT
from core.weights.hub import DownloadProgress, describe_progress
from core.weights.registry import MODELS, VARIANTS, get_spec

BAD_INPUT: tuple[type[MoebiusError], ...] = (
    UnknownModelError,
    ModelImportError,
    ModelNotInstalledError,
    ModelFolderNotWritableError,
    DiskSpaceError,
)
"""Errors caused by what the user asked for or by their disk; they exit with status 2."""

_EPILOG = f"""\
commands:
  list                 the released models, what each is for, and which are installed
  download NAME        fetch a model from the Hugging Face Hub (and the VAE if missing);
                       the only command that uses the network; resumes after an interruption
  import PATH…         install weights you already have: the released folder layout,
                       a Hugging Face cache folder, or single checkpoint files;
                       every file is checked first, and one refused file
                       installs nothing
  verify [NAME…]       re-check installed files completely (hash, safe read, shapes)
  remove NAME          delete a model's files
  where [NAME]         print where models are kept (or one model's folder)

names: {", ".join(MODELS)} (default variant: {DEFAULT_VARIANT})

Pickled .bin checkpoints are read without running code and converted once to
.safetensors, which loads faster. Set MOEBIUS_STUDIO_MODELS to keep models on
another disk.

exit status:
  0 done, 1 failed, 2 bad input, 130 cancelled (Ctrl+C)."""


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``moebius-inpaint models``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks of errors (for developers)")
    parser = argparse.ArgumentParser(
        prog=f"{PROG} models",
        description="Manage the Moebius model weights on this computer.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    listing = sub.add_parser("list", parents=[common], help="list the models and their state")
    listing.add_argument("--json", action="store_true", help="print the list as JSON")
    fetch = sub.add_parser("download", parents=[common], help="download a model from the Hugging Face Hub")
    fetch.add_argument("name", metavar="NAME", choices=list(MODELS), help=f"one of: {', '.join(MODELS)}")
    fetch.add_argument("--force", action="store_true", help="download again even when it is installed")
    fetch.add_argument("--revision", default="main", help="branch, tag or commit of the repository (default main)")
    fetch.add_argument("--endpoint", default=None, help="Hub address (default: HF_ENDPOINT or huggingface.co)")
    fetch.add_argument("--retries", type=int, default=3, help="retries after a broken connection (default 3)")
    fetch.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    importing = sub.add_parser("import", parents=[common], help="install weights from folders or files")
    importing.add_argument("paths", metavar="PATH", nargs="+", type=Path, help="folder or checkpoint file")
    importing.add_argument(
        "--variant", choices=list(VARIANTS), help="the variant of UNet files whose folder or name does not say"
    )
    importing.add_argument("--copy", action="store_true", help="copy safetensors files instead of hard-linking")
    checking = sub.add_parser("verify", parents=[common], help="re-check installed models completely")
    checking.add_argument("names", metavar="NAME", nargs="*", help="models to check (default: all installed)")
    removing = sub.add_parser("remove", parents=[common], help="delete a model's files")
    removing.add_argument("name", metavar="NAME", choices=list(MODELS), help=f"one of: {', '.join(MODELS)}")
    locating = sub.add_parser("where", parents=[common], help="print where models are kept")
    locating.add_argument("name", metavar="NAME", nargs="?", help="print only this model's folder")
    return parser


def main(args: list[str]) -> int:
    """Run ``moebius-inpaint models ARGS``.

    Args:
        args: the arguments after ``models``.

    Returns:
        The exit status.
    """
    options = parse_arguments(build_parser(), args)
    if isinstance(options, int):
        return options
    handlers: dict[str, Callable[[argparse.Namespace, CancelToken], int]] = {
        "list": _list,
        "download": _download,
        "import": _import,
        "verify": _verify,
        "remove": _remove,
        "where": _where,
    }
    cancelled = {
        "download": "Cancelled; the partial download is kept and resumes with the same command.",
        "import": "Cancelled; nothing from this import was installed.",
    }.get(options.command, "Cancelled; what was finished before stays installed.")
    return run_reporting_errors(
        lambda token: handlers[options.command](options, token),
        label=f"{PROG} models",
        debug=options.debug,
        cancelled=cancelled,
        bad_input=BAD_INPUT,
    )


# -- subcommands --------------------------------------------------------------------------------------------


def _list(options: argparse.Namespace, token: CancelToken) -> int:
    from core.common.files import format_bytes
    from core.weights.store import model_status, models_root

    rows = model_status()
    if options.json:
        data = [
            {
                "name": row.spec.name,
                "label": row.spec.label,
                "purpose": row.spec.purpose,
                "content": row.spec.content,
                "state": row.state,
                "installed": row.installed,
                "verified": row.verified,
                "path": str(row.weights) if row.weights else None,
                "download_bytes": row.spec.approx_bytes,
                "partial_bytes": row.partial_bytes,
                "licence": row.spec.licence,
                "source": row.spec.source,
                "default": row.spec.name == DEFAULT_VARIANT,
            }
            for row in rows
        ]
        print(json.dumps({"models_folder": str(models_root()), "models": data}, indent=1))
        return EXIT_OK
    print(f"Models folder: {models_root()}\n")
    print(f"  {'NAME':<13} {'STATE':<24} {'SIZE':>9}  WHAT FOR")
    for row in rows:
        mark = "*" if row.spec.name == DEFAULT_VARIANT else " "
        state = row.state + (", verified" if row.verified else "")
        if row.partial_bytes and not row.installed:
            state += f" {format_bytes(row.partial_bytes)}"
        size = format_bytes(row.weights.stat().st_size) if row.weights else "~" + format_bytes(row.spec.approx_bytes)
        print(f"{mark} {row.spec.name:<13} {state:<24} {size:>9}  {row.spec.label}: {row.spec.purpose}")
    print(f"\n* default variant. Get one with: {PROG} models download NAME (or: {PROG} models import PATH)")
    if not any(row.installed for row in rows if row.spec.kind == "vae"):
        print("Every variant also needs the VAE; 'download NAME' fetches it when it is missing.")
    return EXIT_OK


def _download(options: argparse.Namespace, token: CancelToken) -> int:
    from core.weights.download import download_model

    bar = DownloadDisplay(sys.stderr, enabled=not options.quiet)

    def note(text: str) -> None:
        bar.finish()
        print(text, file=sys.stderr)

    try:
        installed = download_model(
            options.name,
            force=options.force,
            revision=options.revision,
            endpoint=options.endpoint,
            progress=bar,
            notify=note,
            cancel=token,
            retries=max(0, options.retries),
        )
    finally:
        bar.finish()
    for item in installed:
        print(f"Installed {item.model}: {item.path}")
    return EXIT_OK


def _import(options: argparse.Namespace, token: CancelToken) -> int:
    from core.weights.importer import import_models

    # One import of every path given: all of it is checked before anything is installed.
    report = import_models(
        options.paths,
        variant=options.variant,
        link=not options.copy,
        cancel=token,
        notify=lambda text: print(text, file=sys.stderr),
    )
    for item in report.installed:
        how = "converted to safetensors" if item.converted else "linked or copied"
        print(f"Installed {item.model}: {item.path} ({how})")
    for source, note in report.skipped:
        print(f"Skipped {source}: {note}", file=sys.stderr)
    if not report.refused:
        return EXIT_OK
    for source, error in report.failed:
        print(f"{PROG} models: error: {source}: {error.user_message()}", file=sys.stderr)
    for problem in report.not_restored:
        print(f"{PROG} models: error: {problem}", file=sys.stderr)
    print(f"{PROG} models: nothing was installed from this import.", file=sys.stderr)
    return EXIT_BAD_INPUT


def _verify(options: argparse.Namespace, token: CancelToken) -> int:
    from core.weights.store import VerifyResult, verify_installed

    def show(result: VerifyResult) -> None:
        print(f"{'ok  ' if result.ok else 'FAIL'} {result.model:<12} {result.path}: {result.message}")

    for name in options.names:
        get_spec(name)  # an unknown name is an error before any file is read
    results = verify_installed(options.names or None, cancel=token, on_result=show)
    if not results:
        print("No installed models to verify.")
        return EXIT_OK
    return EXIT_OK if all(result.ok for result in results) else EXIT_FAILED


def _remove(options: argparse.Namespace, token: CancelToken) -> int:
    from core.weights.store import remove_model

    for path in remove_model(options.name):
        print(f"Removed {path}")
    if options.name == "vae":
        print("No variant can run without the VAE until it is installed again.", file=sys.stderr)
    return EXIT_OK


def _where(options: argparse.Namespace, token: CancelToken) -> int:
    from core.common.paths import MODELS_ENV, cache_dir
    from core.weights.store import CONVERTED_FOLDER, DOWNLOADS_FOLDER, model_status, models_root

    root = models_root()
    if options.name is not None:
        print(root / get_spec(options.name).folder)
        return EXIT_OK
    print(f"models folder   {root}  (move it with {MODELS_ENV})")
    print(f"manifest        {root / 'manifest.json'}")
    print(f"downloads       {root / DOWNLOADS_FOLDER}  (unfinished downloads)")
    print(f"conversions     {cache_dir() / CONVERTED_FOLDER}  (safetensors copies of .bin files kept elsewhere)")
    for row in model_status():
        if row.weights is not None:
            print(f"{row.spec.name:<15} {row.weights}")
    return EXIT_OK


# -- progress display ---------------------------------------------------------------------------------------


class DownloadDisplay:
    """Shows download progress: one redrawn line on a terminal, a line every few seconds in a log.

    Args:
        stream: where to write (stderr).
        enabled: ``False`` shows nothing (``--quiet``).
        log_interval: seconds between lines when ``stream`` is not a terminal.
    """

    WIDTH = 20

    def __init__(self, stream: TextIO, *, enabled: bool = True, log_interval: float = 5.0) -> None:
        self.stream = stream
        self.enabled = enabled
        self.log_interval = log_interval
        self.is_terminal = stream.isatty()
        self._drawn = 0
        self._last_line = 0.0

    def __call__(self, event: DownloadProgress) -> None:
        if not self.enabled:
            return
        fraction = event.fraction
        bar = ""
        if fraction is not None:
            filled = round(self.WIDTH * fraction)
            bar = f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {100 * fraction:3.0f}%  "
        line = bar + describe_progress(event)
        now = time.monotonic()
        if self.is_terminal:
            self.stream.write("\r" + line.ljust(self._drawn))
            self._drawn = len(line)
        elif now - self._last_line >= self.log_interval or (event.total is not None and event.done >= event.total):
            self.stream.write(line + "\n")
            self._last_line = now
        self.stream.flush()

    def finish(self) -> None:
        """End the redrawn line so that what follows starts on a line of its own."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = 0

