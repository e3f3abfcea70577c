"""Benchmark of the folder batch on a Ray cluster: photos per minute with 1 and 2 CPU actors against the local batch.

On one folder of 512×512 photos, for the classic engine and the tiny Moebius configuration (random weights:
the cost of everything around the model), it times

* the local batch (:func:`core.batch.run_batch`, one engine, read-ahead of one photo), on one torch thread
  like an actor and after one untimed warm-up photo (an actor's first photo is timed: this errs against the
  cluster);
* the cluster batch (:func:`core.batch.cluster_run.run_batch_on_cluster`) with 1 and with 2 CPU actors of one
  thread each, on a Ray cluster started on this computer.

Engine loads and actor starts are timed apart and not counted in photos per minute. The overhead per photo is
(cluster with 1 actor − local) / photos: what sending the pixels to an actor and back costs. Two actors can
only gain where the computer has two free cores; the report says how many it has.

Run alone with ``python -m core.bench.cluster [--quick]``, or as a section of ``python -m core.bench --cluster``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SIZE = (512, 512)


def run(quick: bool = False) -> dict[str, Any]:
    """Measure the local and the cluster batch.

    Args:
        quick: fewer photos (a smoke run).

    Returns:
        A JSON-compatible report: ``cpus``; for each engine (``classic``, ``tiny``) the number of photos and,
        for ``local``, ``cluster_1`` and ``cluster_2``, seconds and photos per minute (and the actors' start
        time), and ``overhead_s_per_photo``.
    """
    import ray

    from core.batch import BatchOptions, pair_folder, prepare_batch
    from core.job.settings import JobSettings

    root = Path(tempfile.mkdtemp(prefix="moebius-bench-cluster-"))
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    report: dict[str, Any] = {"cpus": os.cpu_count() or 1}
    ray.init(address="local", num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False)
    try:
        model_dir = _tiny_model(root / "models")
        cases = {
            "classic": (JobSettings(engine="classic"), 6 if quick else 24),
            "tiny": (JobSettings(engine="moebius", steps=2, guidance=1.0, seed=1), 2 if quick else 6),
        }
        for name, (settings, count) in cases.items():
            folder = _folder(root / f"{name}-in", count)
            entry: dict[str, Any] = {"photos": count}
            runs = (("local", 0), ("cluster_1", 1), ("cluster_2", 2))
            for label, actors in runs:
                out = root / f"{name}-{label}"
                plan = prepare_batch(pair_folder(folder), out, BatchOptions(settings=settings))
                entry[label] = _timed(plan, settings, actors, model_dir)
                shutil.rmtree(out)
            entry["overhead_s_per_photo"] = (entry["cluster_1"]["seconds"] - entry["local"]["seconds"]) / count
            report[name] = entry
    finally:
        ray.shutdown()
        shutil.rmtree(root, ignore_errors=True)
    return report


def _timed(plan: Any, settings: Any, actors: int, model_dir: Path) -> dict[str, float]:
    """Seconds and photos per minute of one run (0 actors: the local batch), the load or start apart."""
    import torch

    from core.batch import run_batch
    from core.batch.cluster import ClusterSpec, RayWorkers
    from core.batch.cluster_run import run_batch_on_cluster
    from core.inpaint.engine import load_engine
    from core.job.request import InpaintRequest

    loaded = time.perf_counter()
    if actors == 0:
        engine = (
            load_engine("classic")
            if settings.engine == "classic"
            else load_engine("moebius", model_dir=str(model_dir), device="cpu")
        )
        load_s = time.perf_counter() - loaded
        # Like an actor: one thread, and warmed up by one untimed photo (an actor's first photo is timed, so
        # the comparison errs against the cluster).
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            pixels, mask = _frame()
            engine.inpaint(InpaintRequest(pixels, mask, settings))
            started = time.perf_counter()
            results = list(run_batch(plan, engine))
        finally:
            torch.set_num_threads(threads)
    else:
        spec = ClusterSpec(actors=actors, threads=1, model_dir=str(model_dir))
        workers = RayWorkers(spec, settings)
        workers.start()
        load_s = time.perf_counter() - loaded
        try:
            started = time.perf_counter()
            results = list(run_batch_on_cluster(plan, spec, workers=workers))
        finally:
            workers.close()
    seconds = time.perf_counter() - started
    if any(r.status != "done" for r in results):
        raise RuntimeError(f"the benchmark batch did not finish: {[r.reason for r in results if r.reason]}")
    return {"seconds": seconds, "photos_per_minute": len(results) * 60 / seconds, "load_s": load_s}


def _frame() -> tuple[Any, Any]:
    """One random 512×512 photo and its mask (the warm-up)."""
    rng = np.random.default_rng(3)
    mask = np.zeros(SIZE, np.uint8)
    mask[160:320, 192:352] = 255
    return rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8), mask


def _folder(folder: Path, count: int) -> Path:
    """``count`` 512×512 PNG photos with a mask each in ``folder/masks``."""
    from PIL import Image

    (folder / "masks").mkdir(parents=True)
    rng = np.random.default_rng(7)
    mask = np.zeros(SIZE, np.uint8)
    mask[160:320, 192:352] = 255
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8)).save(folder / f"p{i:03d}.png")
        Image.fromarray(mask).save(folder / "masks" / f"p{i:03d}.png")
    return folder


def _tiny_model(root: Path) -> Path:
    """The tiny configuration with random weights in the released folder layout (every actor loads it from there).

    Returns:
        The model folder (``root/moebius/ft_places2``; the VAE in ``root/vae``).
    """
    import json

    import torch
    from safetensors.torch import save_file

    from core.model.unet import TINY_CONFIG, MoebiusModel
    from core.model.vae import BUNDLED_VAE_CONFIG, build_vae

    vae_config = json.loads(BUNDLED_VAE_CONFIG.read_text())
    # The released VAE shrunk to 16 channels per level, as the tests' tiny checkpoints have it.
    vae_config.update(block_out_channels=[16, 16, 16, 16], norm_num_groups=8, layers_per_block=1)
    torch.manual_seed(0)
    unet_dir, vae_dir = root / "moebius" / "ft_places2", root / "vae"
    parts = (
        (unet_dir, MoebiusModel(dict(TINY_CONFIG)), {"model_kwargs": dict(TINY_CONFIG)}),
        (vae_dir, build_vae(vae_config), vae_config),
    )
    for folder, module, config in parts:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(json.dumps(config, indent=1))
        state = {key: value.contiguous() for key, value in module.state_dict().items()}
        save_file(state, str(folder / "diffusion_pytorch_model.safetensors"))
    return unet_dir


def describe(report: dict[str, Any]) -> list[str]:
    """Readable lines of :func:`run`'s report."""
    lines = [f"cluster batch on this computer ({report['cpus']} CPU cores; actors use 1 thread each):"]
    for name in ("classic", "tiny"):
        entry = report.get(name)
        if entry is None:
            continue
        for label, title in (("local", "local batch"), ("cluster_1", "1 CPU actor"), ("cluster_2", "2 CPU actors")):
            run = entry[label]
            lines.append(
                f"  {name}/{label:<9} {entry['photos']} photos  {run['photos_per_minute']:8.1f} photos/min  "
                f"({run['seconds']:.2f} s; {title}, start {run['load_s']:.2f} s apart)"
            )
        lines.append(f"  {name}: cluster overhead {entry['overhead_s_per_photo'] * 1000:.0f} ms per photo")
    return lines


def main(argv: list[str] | None = None) -> int:
    from core.bench.section import section_main

    return section_main(
        "python -m core.bench.cluster",
        "photos per minute of the folder batch on a local Ray cluster (1 and 2 CPU actors) and on this computer",
        "fewer photos",
        run,
        describe,
        argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
