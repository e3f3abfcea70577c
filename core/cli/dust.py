"""``moebius-inpaint dust FOLDER``: find sensor dust across a shoot and write one mask per photo for the batch.

Every photo of FOLDER is read (never modified), searched for small soft dark spots on smooth ground in the
sensor's layout, and the spots that repeat at one sensor position across frames are kept
(:mod:`core.dust`). The spots are listed, one mask per photo is written to the masks folder (``FOLDER/masks``
unless ``--masks-out`` says otherwise), and the batch command to run next is printed — or, with
``--run-batch -o OUT [BATCH OPTIONS…]``, handed straight to ``moebius-inpaint batch``.

Exit status: 0 done (spots found or not); 1 failed; 2 bad input (missing folder, masks that exist without
``--overwrite``, fewer readable photos than ``--min-frames``); 130 cancelled (no mask is written then). With
``--run-batch``, the batch's own status (no batch runs when no dust was found).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from core.batch.pairing import MASKS_FOLDER
from core.cli import batch
from core.cli.arguments import positive_int
from core.cli.reporting import PROG, ProgressBar, parse_arguments, run_reporting_errors
from core.common.cancel import CancelToken
from core.common.errors import BatchInputError, OutputError
from core.dust import DEFAULT_MIN_FRAMES, DEFAULT_MIN_SHARE, DustReport, find_dust, write_masks
from core.dust.detect import MAX_RADIUS, MIN_RADIUS, WORK_LONG_SIDE
from core.photo.read import MAX_PIXELS

_EPILOG = f"""\
Dust is found where the frames are smooth (sky, walls, soft backgrounds); a spot must be seen in at least
--min-frames frames and in at least --min-share of the frames that were smooth at its place. Photos are
searched at up to {WORK_LONG_SIDE} pixels on the long side: spots of radius {MIN_RADIUS:g} to {MAX_RADIUS:g}
pixels at that size are found. Frames must share the camera's aspect (in-camera crops do not line up).

examples:
  {PROG} dust shoot/                      list the spots, write shoot/masks/NAME.png
  {PROG} dust shoot/ --run-batch -o clean/   …and fill them with the batch right away
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} dust",
        description="Find sensor dust across the photos of a folder and write one mask per photo.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("folder", metavar="FOLDER", type=Path, help="the shoot's photos (subfolders are not searched)")
    parser.add_argument(
        "--masks-out", metavar="DIR", type=Path, help=f"where the masks go (default FOLDER/{MASKS_FOLDER})"
    )
    parser.add_argument(
        "--min-frames",
        type=positive_int,
        default=DEFAULT_MIN_FRAMES,
        metavar="N",
        help=f"frames a spot must be seen in (default {DEFAULT_MIN_FRAMES})",
    )
    parser.add_argument(
        "--min-share",
        type=_share,
        default=DEFAULT_MIN_SHARE,
        metavar="S",
        help=f"share of the frames smooth at a spot that must show it (default {DEFAULT_MIN_SHARE:g})",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace masks that already exist")
    parser.add_argument("--dry-run", action="store_true", help="list the spots, write no mask")
    parser.add_argument(
        "--run-batch",
        nargs=argparse.REMAINDER,
        metavar="BATCH_ARGS",
        help="then run the batch with these options (e.g. --run-batch -o OUT_DIR --steps 30)",
    )
    parser.add_argument("--max-pixels", type=int, default=MAX_PIXELS, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="the spots and masks as one JSON object on stdout")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    parser.add_argument("--debug", action="store_true", help="show the full traceback when something fails")
    return parser


def main(args: list[str]) -> int:
    """``moebius-inpaint dust ARGS…``; returns the exit status (see the module's documentation)."""
    options = parse_arguments(build_parser(), args)
    if isinstance(options, int):
        return options
    bar = ProgressBar(sys.stderr, enabled=not (options.quiet or options.json))
    status = run_reporting_errors(
        lambda token: _run(options, token, bar),
        label=f"{PROG} dust",
        debug=options.debug,
        cancelled="Cancelled; no mask was written.",
        bad_input=(BatchInputError, OutputError),
        before_message=bar.close,
    )
    # No spot means no mask: there is nothing for a batch to fill.
    if status != 0 or options.run_batch is None or options.dry_run or not getattr(options, "masks_written", None):
        return status
    # Hand over to the batch, with the masks folder just written.
    masks_dir = options.masks_out or options.folder / MASKS_FOLDER
    return batch.main([str(options.folder), "--masks", str(masks_dir), *options.run_batch])


def _run(options: argparse.Namespace, token: CancelToken, bar: ProgressBar) -> int:
    # 1. Scan and vote.
    report = find_dust(
        options.folder,
        min_frames=options.min_frames,
        min_share=options.min_share,
        max_pixels=options.max_pixels,
        cancel=token,
        progress=bar,
    )
    bar.close()
    if len(report.scans) < options.min_frames:
        raise BatchInputError(
            f"{options.folder} has {len(report.scans)} readable photo(s); finding dust needs at least "
            f"{options.min_frames} (--min-frames).",
            hint="Dust is told from the picture by repeating across frames: give the whole shoot.",
        )
    # 2. Write the masks (not when cancelled: the token is checked once more first).
    token.raise_if_cancelled()
    masks_dir: Path = options.masks_out or options.folder / MASKS_FOLDER
    written = [] if options.dry_run else write_masks(report.spots, report.scans, masks_dir, overwrite=options.overwrite)
    options.masks_written = written
    # 3. Report.
    if options.json:
        print(json.dumps(_as_json(report, written)))
    else:
        _print_report(report, written, masks_dir, options)
    return 0


def _as_json(report: DustReport, written: list[Path]) -> dict[str, object]:
    size = report.scans[0].sensor_size if report.scans else (0, 0)
    spots = []
    for spot in report.spots:
        x, y, radius = spot.sensor_pixels(size)
        spots.append(
            {
                "x": round(x, 1),
                "y": round(y, 1),
                "radius": round(radius, 1),
                "depth": round(spot.depth, 4),
                "frames_seen": spot.frames_seen,
                "frames_smooth": spot.smooth_in,
                "seen_in": [path.name for path in spot.seen_in],
            }
        )
    return {
        "folder": str(report.folder),
        "frames": len(report.scans),
        "sensor_size": list(size),
        "spots": spots,
        "masks": [str(path) for path in written],
        "skipped": {str(path): reason for path, reason in report.skipped.items()},
    }


def _print_report(report: DustReport, written: list[Path], masks_dir: Path, options: argparse.Namespace) -> None:
    for path, reason in report.skipped.items():
        print(f"skipped {path.name}: {reason}")
    size = report.scans[0].sensor_size
    print(f"{len(report.scans)} frame(s) read; {len(report.spots)} dust spot(s) (sensor {size[0]}×{size[1]}):")
    for number, spot in enumerate(report.spots, start=1):
        x, y, radius = spot.sensor_pixels(size)
        print(
            f"  {number:>3}. at ({x:.0f}, {y:.0f}), radius {radius:.1f} px, {spot.depth * 100:.0f} % darker, "
            f"seen in {spot.frames_seen} of {spot.smooth_in} frame(s) smooth there"
        )
    if not report.spots:
        print("No dust found; no mask written.")
        return
    if options.dry_run:
        print("Dry run: no mask written.")
        return
    print(f"Wrote {len(written)} mask(s) to {masks_dir}.")
    if options.run_batch is None:
        command = [PROG, "batch", str(options.folder), "--masks", str(masks_dir), "-o", "OUT_DIR"]
        print("Fill them with:  " + shlex.join(command))


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value
