"""Benchmark of batch processing: photos per minute, and what reading ahead gains.

For a folder of 512×512 photos and a folder of 24-megapixel photos (6000×4000 JPEGs, one object mask shared
by all, as a photographer removing the same thing from a series would use), it runs
:func:`core.batch.run_batch` end to end — read, plan, model, composite, write with metadata — and reports
photos per minute, with

* the tiny test configuration (:data:`core.model.TINY_CONFIG`, random weights): the cost of everything around
  the model, since the tiny model itself is cheap;
* the released configuration (random weights, so the fill is noise but the work is real): what a user gets.
  It is slow on a CPU, so it runs on one or two photos only.

The overlap gain compares the 24 MP tiny-model folder read strictly one photo after the other
(``read_ahead=0``) with the next photo decoded while the current one is inpainted (``read_ahead=1``): the ratio
of the two wall times. On a CPU the reader competes with the model for the same cores, so the gain is smaller
than on a GPU, where decoding is otherwise idle CPU time.

The model load is timed separately and not counted in photos per minute; one untimed photo warms the machine
up first. Reading ahead can hide at most the reading and decoding of each photo (``read_s`` in the report), so
the gain is bounded by (read + rest) / rest per photo; a larger measured gain is noise of the machine.

Use :func:`run` for the numbers and :func:`describe` for readable lines.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from core.inpaint.engine import Engine

SMALL = (512, 512)
LARGE = (6000, 4000)
QUICK_LARGE = (3000, 2000)
OBJECT = (600, 750)
"""Width and height in photo pixels of the object removed from the large photos (as in :mod:`core.bench.photo`)."""


def run(quick: bool = False) -> dict[str, Any]:
    """Measure batch throughput and the overlap gain.

    Args:
        quick: a smoke run: 6 MP instead of 24 MP photos, fewer photos, 2 denoising steps instead of 20, and
            the released configuration on one 512×512 photo only.

    Returns:
        A JSON-compatible report: for each case (``tiny`` / ``released`` × ``512`` / ``24mp``) the number of
        photos, seconds, photos per minute and the model load time; and ``overlap`` with the sequential and
        read-ahead seconds of the tiny 24 MP folder and their ratio.
    """
    steps = 2 if quick else 20
    large = QUICK_LARGE if quick else LARGE
    counts = {"tiny": (3, 2) if quick else (8, 4), "released": (1, 0) if quick else (2, 1)}
    report: dict[str, Any] = {"steps": steps, "large_size": list(large), "cases": {}}
    with tempfile.TemporaryDirectory(prefix="moebius-bench-batch-") as scratch:
        root = Path(scratch)
        # 1. The folders (not timed): the most photos any case needs, each case reads the first n.
        small_dir = _make_folder(root / "small", SMALL, max(c[0] for c in counts.values()))
        large_dir = _make_folder(root / "large", large, max(c[1] for c in counts.values()))
        for config in ("tiny", "released"):
            # 2. One engine per configuration, loaded once for all its folders.
            started = time.perf_counter()
            engine = _engine(config)
            load_s = time.perf_counter() - started
            if config == "tiny":
                # An untimed photo first: torch's one-time start-up costs belong to no folder.
                _timed_batch(engine, small_dir, root / "out-warm-up", 1, steps, read_ahead=0)
            for label, folder, count in (("512", small_dir, counts[config][0]), ("24mp", large_dir, counts[config][1])):
                if count == 0:
                    continue
                seconds = _timed_batch(engine, folder, root / f"out-{config}-{label}", count, steps, read_ahead=1)
                report["cases"][f"{config}/{label}"] = {
                    "photos": count,
                    "seconds": round(seconds, 3),
                    "photos_per_minute": round(60.0 * count / seconds, 2),
                    "load_s": round(load_s, 3),
                }
            # 3. The overlap gain, on the folder where decoding matters most. The two ways alternate and the
            #    best of each counts, so that a warming machine or a noisy neighbour favours neither.
            if config == "tiny":
                count = counts["tiny"][1]
                times: dict[int, list[float]] = {0: [], 1: []}
                for _ in range(2):
                    for ahead in (0, 1):
                        out = root / f"out-overlap-{ahead}"
                        times[ahead].append(_timed_batch(engine, large_dir, out, count, steps, read_ahead=ahead))
                report["overlap"] = {
                    "photos": count,
                    "sequential_s": round(min(times[0]), 3),
                    "read_ahead_s": round(min(times[1]), 3),
                    "gain": round(min(times[0]) / min(times[1]), 3),
                    "read_s": round(_read_seconds(large_dir / "photo000.jpg"), 3),
                }
            del engine
    return report


def describe(report: dict[str, Any]) -> list[str]:
    """Readable lines for a report from :func:`run`.

    Args:
        report: what :func:`run` returned.
    """
    width, height = report["large_size"]
    lines = [f"Batch throughput ({report['steps']} steps; large photos {width}×{height}, one shared object mask):"]
    for name, case in report["cases"].items():
        lines.append(
            f"  {name:<14} {case['photos_per_minute']:8.2f} photos/min  ({case['photos']} photos in "
            f"{case['seconds']:.1f} s; model load {case['load_s']:.1f} s, not counted)"
        )
    overlap = report.get("overlap")
    if overlap:
        lines.append(
            f"  overlap        {overlap['gain']:.2f}× faster reading ahead: {overlap['read_ahead_s']:.1f} s against "
            f"{overlap['sequential_s']:.1f} s strictly sequential ({overlap['photos']} large photos, tiny model, "
            f"best of 2 each; reading one photo takes {overlap['read_s']:.2f} s)"
        )
    return lines


def _read_seconds(photo: Path) -> float:
    """Seconds to read and decode one photo: the most that reading ahead can hide per photo."""
    from core.photo.read import read_image

    started = time.perf_counter()
    read_image(photo)
    return time.perf_counter() - started


def _timed_batch(engine: Engine, folder: Path, out: Path, count: int, steps: int, *, read_ahead: int) -> float:
    """Wall seconds of a whole batch of the first ``count`` photos of ``folder``."""
    from core.batch import BatchOptions, SharedMasks, pair_folder, prepare_batch, run_batch
    from core.job.settings import JobSettings

    shared = SharedMasks(default=folder / "mask" / "object.png")
    pairings = pair_folder(folder, shared=shared)[:count]
    options = BatchOptions(settings=JobSettings(engine="moebius", steps=steps), read_ahead=read_ahead)
    started = time.perf_counter()
    plan = prepare_batch(pairings, out, options, shared=shared)
    failed = [r for r in run_batch(plan, engine) if r.status != "done"]
    seconds = time.perf_counter() - started
    if failed:
        raise RuntimeError(f"benchmark batch failed: {failed[0].reason}")
    shutil.rmtree(out, ignore_errors=True)
    return seconds


def _engine(config: str) -> Engine:
    """A Moebius engine with random weights: the tiny test configuration or the released one."""
    import torch

    from core.inpaint.device import DeviceInfo
    from core.inpaint.moebius import MoebiusEngine
    from core.inpaint.pipeline import MoebiusPipeline
    from core.model.unet import TINY_CONFIG, MoebiusModel
    from core.model.vae import BUNDLED_VAE_CONFIG, build_vae

    vae_config = json.loads(BUNDLED_VAE_CONFIG.read_text())
    if config == "tiny":
        # The released VAE shrunk to 16 channels per level, as the tests' tiny checkpoints have it.
        vae_config.update(block_out_channels=[16, 16, 16, 16], norm_num_groups=8, layers_per_block=1)
    torch.manual_seed(0)
    model = MoebiusModel(dict(TINY_CONFIG)) if config == "tiny" else MoebiusModel()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    pipeline = MoebiusPipeline(model.eval().to(device), build_vae(vae_config).eval().to(device), device=device)
    info = DeviceInfo(
        device, "float32", f"benchmark: random {config} weights, float32 on {device}", torch_device=device
    )
    return MoebiusEngine(pipeline, None, info)


def _make_folder(folder: Path, size: tuple[int, int], count: int) -> Path:
    """``count`` copies of one photo-like JPEG of ``size`` (width, height), and ``mask/object.png``."""
    import cv2
    from PIL import Image

    (folder / "mask").mkdir(parents=True)
    if count == 0:
        return folder
    width, height = size
    # 1. Smooth light and texture, enlarged, with fine noise so the JPEG is as heavy as a real photo's.
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:200, 0:300].astype(np.float32)
    small = np.stack([110 + 70 * np.sin(x / 23 + c) * np.cos(y / 17 - c) for c in range(3)], axis=2)
    photo: npt.NDArray[np.uint8] = np.clip(
        cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC), 0, 255
    ).astype(np.uint8)
    photo += rng.integers(0, 6, photo.shape, dtype=np.uint8)
    first = folder / "photo000.jpg"
    Image.fromarray(photo).save(first, quality=92)
    # 2. Copies decode exactly like the first, which keeps making the folder quick.
    for i in range(1, count):
        shutil.copyfile(first, folder / f"photo{i:03d}.jpg")
    # 3. An object mask scaled to the photo (the 512×512 photos get a proportionally smaller object).
    scale = min(1.0, width / LARGE[0])
    mask = np.zeros((height, width), np.uint8)
    axes = (max(8, int(OBJECT[0] * scale) // 2), max(8, int(OBJECT[1] * scale) // 2))
    if width <= SMALL[0]:
        axes = (width // 8, height // 6)
    cv2.ellipse(mask, (int(width * 0.4), int(height * 0.55)), axes, 0, 0, 360, 255, -1)
    Image.fromarray(mask).save(folder / "mask" / "object.png")
    return folder


if __name__ == "__main__":
    from core.bench.section import section_main

    raise SystemExit(
        section_main(
            "python -m core.bench.batch",
            "Time batch processing (photos per minute, overlap gain).",
            "smaller photos, fewer of them, 2 steps",
            run,
            describe,
        )
    )
