"""Run a converted ``.mlpackage`` with torch tensors in and out (macOS only).

:class:`CoreMLFunction` wraps anything with a coremltools-style ``predict(dict) -> dict`` method, so the tensor
plumbing is tested on every OS with a stand-in; :func:`load_function` opens a real package and needs macOS.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from backends.coreml import COMPUTE_UNITS, INSTALL_HINT


class CoreMLUnavailable(RuntimeError):
    """A converted model cannot be run here (not macOS, or coremltools missing)."""


class Predictor(Protocol):
    """What a loaded ``coremltools.models.MLModel`` offers (and what test stand-ins imitate)."""

    def predict(self, data: dict[str, Any]) -> dict[str, Any]: ...


class CoreMLFunction:
    """Call a Core ML model with torch tensors.

    Args:
        predictor: a loaded ``MLModel`` (or a stand-in with the same ``predict``).
        outputs: the output names, in the order they are returned.
        name: what to call it in messages.
    """

    def __init__(self, predictor: Predictor, outputs: tuple[str, ...], name: str = "model") -> None:
        self.predictor = predictor
        self.outputs = outputs
        self.name = name

    def __call__(self, **inputs: Tensor) -> tuple[Tensor, ...]:
        """Run once; inputs go in as float32 arrays, outputs come back as float32 CPU tensors.

        Args:
            inputs: one tensor per model input, by name.
        """
        feed = {key: value.detach().to("cpu", torch.float32).numpy() for key, value in inputs.items()}
        result = self.predictor.predict(feed)
        missing = [key for key in self.outputs if key not in result]
        if missing:
            raise RuntimeError(f"Core ML {self.name} returned no {', '.join(missing)}")
        return tuple(torch.from_numpy(np.asarray(result[key], dtype=np.float32).copy()) for key in self.outputs)


def load_function(
    package: Path, outputs: tuple[str, ...], compute_units: str = "all", *, system: str | None = None
) -> CoreMLFunction:
    """Open a converted ``.mlpackage`` for prediction.

    Args:
        package: the ``.mlpackage`` folder.
        outputs: its output names, in return order.
        compute_units: one of :data:`backends.coreml.COMPUTE_UNITS` (``"all"``, ``"cpu_and_gpu"``,
            ``"cpu_and_ne"``, ``"cpu_only"``).
        system: ``sys.platform`` to assume (tests).

    Raises:
        CoreMLUnavailable: not macOS, or coremltools is missing.
        ValueError: unknown ``compute_units``.
    """
    if compute_units not in COMPUTE_UNITS:
        raise ValueError(f"unknown compute units {compute_units!r}; expected one of {', '.join(COMPUTE_UNITS)}")
    if (sys.platform if system is None else system) != "darwin":
        raise CoreMLUnavailable("Core ML models run only on macOS")
    try:
        import coremltools as ct
    except ImportError as exc:
        raise CoreMLUnavailable(f"coremltools is not installed ({INSTALL_HINT})") from exc
    model = ct.models.MLModel(str(package), compute_units=getattr(ct.ComputeUnit, COMPUTE_UNITS[compute_units]))
    return CoreMLFunction(model, outputs, package.stem)


def load_functions(
    folder: Path, parts: Mapping[str, tuple[str, ...]], compute_units: str = "all"
) -> dict[str, CoreMLFunction]:
    """Open several packages of one conversion folder.

    Args:
        folder: the conversion folder (``<name>.mlpackage`` inside).
        parts: part name → its output names.
        compute_units: as in :func:`load_function`.
    """
    return {name: load_function(folder / f"{name}.mlpackage", outs, compute_units) for name, outs in parts.items()}
