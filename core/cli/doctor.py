"""``moebius-inpaint doctor``: what this computer offers Moebius Studio, and what it will use.

It prints the operating system, Python, the torch build (CPU, CUDA, ROCm or MPS), every compute device with its
memory, the device and number formats a job would use with the reasons, the CPU features that decide its
speed, and the model files with their state. Nothing is loaded or changed, so it answers in a second or two.

:func:`collect` gathers the facts as a plain dict (the GUI's About box shows the same) and :func:`describe`
turns them into lines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import __version__
from core.cli.arguments import add_defaults_option, add_job_options, job_settings
from core.cli.reporting import EXIT_OK, PROG, note, parse_arguments
from core.common.errors import DeviceError, MoebiusError

if TYPE_CHECKING:
    from backends.device import Request

_ENV_NAMES = (
    "MOEBIUS_STUDIO_DEVICE",
    "MOEBIUS_STUDIO_PRECISION",
    "MOEBIUS_STUDIO_HOME",
    "MOEBIUS_STUDIO_MODELS",
    "PYTORCH_ENABLE_MPS_FALLBACK",
    "CUDA_VISIBLE_DEVICES",
    "HIP_VISIBLE_DEVICES",
)


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _file_state(folder: Path, names: tuple[str, ...]) -> dict[str, Any]:
    """The weights file of ``folder`` and its state: ``installed``, ``empty``, ``partial`` or ``missing``."""
    for name in names:
        path = folder / name
        size = _size(path)
        if size is not None:
            return {"path": str(path), "bytes": size, "state": "installed" if size > 0 else "empty"}
    partial = sorted(folder.glob("*.part")) + sorted(folder.glob("*.incomplete")) if folder.is_dir() else []
    if partial:
        return {"path": str(partial[0]), "bytes": _size(partial[0]), "state": "partial"}
    return {"path": str(folder), "bytes": None, "state": "missing"}


def _models(model_dir: str | None) -> dict[str, Any]:
    from core.common.paths import models_dir
    from core.weights.registry import UNET_WEIGHT_NAMES, find_model

    root = models_dir()
    variants: dict[str, Any] = {}
    moebius = root / "moebius"
    if moebius.is_dir():
        for folder in sorted(p for p in moebius.iterdir() if p.is_dir()):
            variants[folder.name] = _file_state(folder, UNET_WEIGHT_NAMES)
    info: dict[str, Any] = {
        "folder": str(root),
        "folder_exists": root.is_dir(),
        "variants": variants,
        "vae": _file_state(root / "vae", UNET_WEIGHT_NAMES),
    }
    try:
        found = find_model(model_dir)
    except MoebiusError as error:
        found = None
        info["problem"] = error.user_message()
    info["selected"] = (
        {"unet": str(found.unet), "vae": str(found.vae_dir), "variant": found.variant} if found is not None else None
    )
    info["coreml"] = None
    if found is not None:
        from core.inpaint.coreml import coreml_folder

        converted = coreml_folder(found, root)
        info["coreml"] = str(converted) if converted is not None else None
    return info


def collect(
    request: Request | None = None, model_dir: str | None = None, *, request_problem: str | None = None
) -> dict[str, Any]:
    """Gather everything the doctor reports, as plain JSON-ready values.

    Args:
        request: the device and precision a job would ask for, as the front end resolved them from its flags,
            the environment and its settings (see :func:`core.inpaint.device.resolve`); ``None``: automatic.
            Nothing else is consulted.
        model_dir: a model folder, as ``--model`` would (``None``: the app's models folder).
        request_problem: why the front end could not resolve a request (reported as the choice's error).
    """
    from backends.startup import prepare_torch_environment

    prepare_torch_environment()
    from backends.device import probe
    from backends.memory import cpu_available_bytes, cpu_total_bytes, free_bytes
    from core.inpaint.device import choose_for, request_for

    caps = probe()
    report: dict[str, Any] = {
        "app": __version__,
        "os": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "os_version": platform.version(),
        "python": f"{platform.python_version()} ({sys.executable})",
        "torch": caps.torch_version,
        "torch_build": caps.build,
        "cpu": {
            "model": caps.cpu.model,
            "threads": caps.cpu.threads,
            "flags": sorted(caps.cpu.flags),
            "native_bf16": caps.cpu.native_bf16,
            "ram_free": cpu_available_bytes(),
            "ram_total": cpu_total_bytes(),
        },
        "gpus": [
            {
                "index": g.index,
                "api": g.api,
                "name": g.name,
                "total": g.total_bytes,
                "free": free_bytes("cuda", g.index),
                "bf16": g.bf16,
            }
            for g in caps.gpus
        ],
        "cuda_problem": caps.cuda_problem,
        "mps": {"available": caps.mps_available, "built": caps.mps_built, "problem": caps.mps_problem},
        "coreml": {
            "can_run": caps.coreml.can_run,
            "can_export": caps.coreml.can_export,
            "version": caps.coreml.version,
            "reason": caps.coreml.reason,
        },
        "environment": {name: os.environ[name] for name in _ENV_NAMES if name in os.environ},
    }
    if caps.mps_available:
        report["mps"]["free"] = free_bytes("mps")
    report["models"] = _models(model_dir)
    if request_problem is not None:
        report["choice"] = {"error": request_problem}
        return report
    request = request_for() if request is None else request
    report["request"] = {"device": request.device, "precision": request.precision, "source": request.source}
    try:
        chosen = choose_for(request, coreml_ready=bool(report["models"]["coreml"]))
        report["choice"] = {
            "backend": chosen.backend,
            "device": chosen.torch_device,
            "unet_dtype": chosen.dtype,
            "int8_products": chosen.int8_products,
            "vae_dtype": chosen.vae_dtype,
            "reason": chosen.reason,
        }
    except DeviceError as error:
        report["choice"] = {"error": error.user_message()}
    return report


def unet_format(choice: Mapping[str, Any]) -> str:
    """The UNet's number format as users read it, from a report's ``choice`` (the int8 mode named as such).

    Args:
        choice: ``collect(...)["choice"]`` without an error.
    """
    return str(choice["unet_dtype"]) + (" with int8 matrix products" if choice.get("int8_products") else "")


def _gib(n_bytes: int | None) -> str:
    return "unknown" if n_bytes is None else f"{n_bytes / 2**30:.1f} GiB"


def _describe_file(entry: dict[str, Any]) -> str:
    state = entry["state"]
    if state == "installed":
        return f"installed, {entry['bytes'] / 1e6:.0f} MB ({entry['path']})"
    if state == "partial":
        return f"partly downloaded ({entry['path']})"
    if state == "empty":
        return f"empty file, reinstall it ({entry['path']})"
    return f"missing ({entry['path']})"


def describe(report: dict[str, Any]) -> list[str]:
    """The doctor's report as lines of text (what the command prints).

    Args:
        report: what :func:`collect` returned.
    """
    cpu = report["cpu"]
    lines = [
        f"Moebius Studio {report['app']}: system check",
        f"OS:            {report['os']}",
        f"Python:        {report['python']}",
        f"torch:         {report['torch']} ({report['torch_build']} build)",
        "Devices:",
        f"  CPU          {cpu['model']}, {cpu['threads']} threads; RAM {_gib(cpu['ram_free'])} free of "
        f"{_gib(cpu['ram_total'])}",
    ]
    for gpu in report["gpus"]:
        bf16 = ", bf16" if gpu["bf16"] else ""
        lines.append(
            f"  {gpu['api']} {gpu['index']:<6} {gpu['name']}, {_gib(gpu['total'])} ({_gib(gpu['free'])} free){bf16}"
        )
    if not report["gpus"]:
        lines.append(f"  CUDA/ROCm    not available: {report['cuda_problem']}")
    mps = report["mps"]
    lines.append(
        f"  MPS          available, {_gib(mps.get('free'))} free"
        if mps["available"]
        else f"  MPS          not available: {mps['problem']}"
    )
    coreml = report["coreml"]
    lines.append(f"  Core ML      {'available' if coreml['can_run'] else 'not available'}: {coreml['reason']}")
    flags = " ".join(cpu["flags"]) or "none detected"
    bf16 = (
        "native bf16: yes (bfloat16 runs fast)"
        if cpu["native_bf16"]
        else "native bf16: no (bfloat16 would be emulated, many times slower than float32)"
    )
    lines.append(f"CPU features:  {flags}; {bf16}")
    request = report.get("request")
    if request is not None:
        source = f" ({request['source']})" if request["source"] else ""
        lines.append(f"Asked for:     device {request['device']}, precision {request['precision']}{source}")
    choice = report["choice"]
    if "error" in choice:
        lines.append(f"Chosen:        none: {choice['error']}")
    else:
        lines.append(f"Chosen:        {choice['reason']}")
        lines.append(f"Precision:     UNet {unet_format(choice)}, VAE {choice['vae_dtype']} on {choice['device']}")
    env = report["environment"]
    lines.append("Environment:   " + (", ".join(f"{k}={v}" for k, v in env.items()) or "nothing set"))
    models = report["models"]
    lines.append(f"Models folder: {models['folder']}{'' if models['folder_exists'] else ' (does not exist yet)'}")
    if not models["variants"]:
        lines.append("  Moebius      no checkpoint installed")
    for name, entry in models["variants"].items():
        lines.append(f"  {name:<12} {_describe_file(entry)}")
    lines.append(f"  {'vae':<12} {_describe_file(models['vae'])}")
    selected = models["selected"]
    if selected is None:
        lines.append("  A job would use: no complete model (UNet + VAE); the classic engine would be used.")
    else:
        lines.append(f"  A job would use: {selected['unet']} with the VAE in {selected['vae']}")
        converted = models["coreml"]
        lines.append(f"  Core ML conversion: {converted if converted else 'none yet'}")
    if "problem" in models:
        lines.append(f"  Problem: {models['problem']}")
    return lines


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``moebius-inpaint doctor``."""
    parser = argparse.ArgumentParser(
        prog=f"{PROG} doctor",
        description="Show what this computer offers Moebius Studio and what a job would run on. Changes nothing. "
        "Like a job, it starts from the saved device and precision; the flags show the choice for others.",
    )
    add_job_options(parser, ("device", "precision"))
    add_defaults_option(parser)
    parser.add_argument("--model", metavar="DIR", default=None, help="check this model folder instead")
    parser.add_argument("--json", action="store_true", help="print the facts as JSON")
    return parser


def main(args: list[str]) -> int:
    """The ``doctor`` command: print the system check; returns the exit status.

    Args:
        args: command-line arguments after the word ``doctor``.
    """
    options = parse_arguments(build_parser(), args)
    if isinstance(options, int):
        return options
    # What a job would ask for: the flags, the environment, the saved settings (or --defaults), as a job does.
    try:
        report = collect(job_settings(options, note).device_request(), options.model)
    except DeviceError as error:  # an unknown name in MOEBIUS_STUDIO_DEVICE / _PRECISION: the rest is still useful
        report = collect(model_dir=options.model, request_problem=error.user_message())
    if options.json:
        print(json.dumps(report, indent=1))
    else:
        print("\n".join(describe(report)))
    return EXIT_OK

