"""How long the Moebius weights take to load from a pickled ``.bin`` and from ``.safetensors``.

Part of the benchmark (``python -m core.bench``): :func:`run` measures, :func:`describe` turns the report
into lines for the benchmark's table. It also runs alone: ``python -m core.bench.weights [--quick]``.

Random weights of the released configuration (or the tiny one with ``quick``) are written as ``.bin`` with
``torch.save``, then converted with the same code that converts downloaded and imported checkpoints
(:func:`core.weights.convert.write_safetensors`). For each format it times reading the state dict with the project's
safe reader (pickles with ``weights_only=True`` and ``mmap=True``; safetensors memory-mapped) and a complete
strict :func:`core.model.load_moebius`. The files were just written, so the operating system has them cached:
the numbers are warm loads, the common case of starting the app again; a first load after a reboot also waits
for the disk. The one-time costs the manifest and the conversion save on every later load (hashing the file,
converting it) are reported too.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _best_of(fn: Callable[[], object], repeats: int) -> float:
    """The shortest of ``repeats`` timed calls, in seconds (the least disturbed by other work)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
        del result  # freed here by reference counting, before the next call allocates again
    return best


def run(quick: bool = False) -> dict[str, Any]:
    """Measure weight loading.

    Args:
        quick: use the tiny configuration (a second or two) instead of the released one (about a minute and
            2 GB of temporary disk space).

    Returns:
        A JSON-ready report: ``config``, ``parameters``, ``repeats``, ``bin`` and ``safetensors`` (each with
        ``bytes``, ``read_seconds``, ``load_seconds``), ``convert_seconds``, ``sha256_seconds`` and
        ``load_speedup`` (``.bin`` load time divided by safetensors load time).
    """
    import torch

    from core.model.checkpoint import read_state_dict
    from core.model.unet import RELEASED_CONFIG, TINY_CONFIG, MoebiusModel, load_moebius
    from core.weights.convert import write_safetensors
    from core.weights.verification import sha256_file

    config = dict(TINY_CONFIG if quick else RELEASED_CONFIG)
    repeats = 1 if quick else 3
    torch.manual_seed(0)
    model = MoebiusModel(config)
    parameters = sum(p.numel() for p in model.parameters())
    state = {key: value.contiguous() for key, value in model.state_dict().items()}
    del model
    report: dict[str, Any] = {"config": "tiny" if quick else "released", "parameters": parameters, "repeats": repeats}
    with tempfile.TemporaryDirectory(prefix="moebius-bench-weights-") as folder:
        root = Path(folder)
        # Written with config.json beside them, as installed models are, so load_moebius builds the same model.
        (root / "config.json").write_text(json.dumps({"model_kwargs": config}))
        bin_path = root / "diffusion_pytorch_model.bin"
        st_path = root / "diffusion_pytorch_model.safetensors"
        torch.save(state, bin_path)
        start = time.perf_counter()
        write_safetensors(read_state_dict(bin_path), st_path, name=bin_path.name)
        report["convert_seconds"] = time.perf_counter() - start
        del state
        start = time.perf_counter()
        sha256_file(st_path)
        report["sha256_seconds"] = time.perf_counter() - start
        for label, path in (("bin", bin_path), ("safetensors", st_path)):

            def read(path: Path = path) -> object:
                return read_state_dict(path)

            def load(path: Path = path) -> object:
                return load_moebius(path)

            report[label] = {
                "bytes": path.stat().st_size,
                "read_seconds": _best_of(read, repeats),
                "load_seconds": _best_of(load, repeats),
            }
    safetensors_load = report["safetensors"]["load_seconds"]
    report["load_speedup"] = report["bin"]["load_seconds"] / safetensors_load if safetensors_load > 0 else None
    return report


def describe(report: dict[str, Any]) -> list[str]:
    """Lines for a text table of a :func:`run` report.

    Args:
        report: what :func:`run` returned.
    """
    from core.common.files import format_bytes

    lines = [
        f"weights load, {report['config']} configuration ({report['parameters']:,} parameters, "
        f"best of {report['repeats']}, warm file cache)"
    ]
    for label, title in (("bin", ".bin (pickle, weights_only, mmap)"), ("safetensors", ".safetensors (memory-mapped)")):
        part = report[label]
        lines.append(
            f"  {title:<36} {format_bytes(part['bytes']):>9}   read {part['read_seconds']:7.3f} s   "
            f"strict load {part['load_seconds']:7.3f} s"
        )
    speedup = report.get("load_speedup")
    if speedup is not None:
        lines.append(f"  safetensors loads {speedup:.1f}× as fast as .bin")
    lines.append(
        f"  once per file: conversion .bin → .safetensors {report['convert_seconds']:.2f} s, "
        f"SHA-256 {report['sha256_seconds']:.2f} s (later loads skip both)"
    )
    return lines


if __name__ == "__main__":
    from core.bench.section import section_main

    raise SystemExit(
        section_main(
            "python -m core.bench.weights", __doc__.split("\n\n")[0], "tiny configuration (seconds)", run, describe
        )
    )
