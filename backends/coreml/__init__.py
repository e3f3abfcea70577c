"""Core ML: export a model to an ``.mlpackage`` and run it on Apple's CPU, GPU and Neural Engine.

Export (:mod:`backends.coreml.export`) works on any OS where coremltools installs, so it is tested on Linux;
running a converted model (:mod:`backends.coreml.runtime`) needs macOS. Neither module is imported here:
:func:`coreml_status` answers "can Core ML be used?" without importing torch or coremltools.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import sys
from dataclasses import dataclass

# Compute-unit choices as the user names them, mapped to the names of ``coremltools.ComputeUnit``.
COMPUTE_UNITS: dict[str, str] = {
    "all": "ALL",
    "cpu_and_gpu": "CPU_AND_GPU",
    "cpu_and_ne": "CPU_AND_NE",
    "cpu_only": "CPU_ONLY",
}
COMPUTE_UNIT_LABELS: dict[str, str] = {
    "all": "CPU, GPU and Neural Engine",
    "cpu_and_gpu": "CPU and GPU",
    "cpu_and_ne": "CPU and Neural Engine",
    "cpu_only": "CPU only",
}
INSTALL_HINT = "pip install 'moebius-studio[coreml]'"


@dataclass(frozen=True)
class CoreMLStatus:
    """Whether Core ML can export and run models here.

    Args:
        can_run: macOS with coremltools installed: converted models can run.
        can_export: coremltools is installed: models can be converted (on any OS).
        version: the installed coremltools version, or ``None``.
        reason: one line saying why not, or what is available.
    """

    can_run: bool
    can_export: bool
    version: str | None
    reason: str


def coreml_status(system: str | None = None) -> CoreMLStatus:
    """Check for coremltools and macOS without importing either torch or coremltools.

    Args:
        system: ``sys.platform`` to assume (tests); ``None`` uses this machine's.
    """
    system = sys.platform if system is None else system
    installed = importlib.util.find_spec("coremltools") is not None
    version: str | None = None
    if installed:
        try:
            version = importlib.metadata.version("coremltools")
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
    if system != "darwin":
        why = "Core ML runs only on macOS"
        return CoreMLStatus(
            False, installed, version, why + (f" (coremltools {version} can still export)" if installed else "")
        )
    if not installed:
        return CoreMLStatus(False, False, None, f"coremltools is not installed ({INSTALL_HINT})")
    chip = "Apple Silicon" if platform.machine() == "arm64" else "Intel Mac (no Neural Engine)"
    return CoreMLStatus(True, True, version, f"coremltools {version} on {chip}")
