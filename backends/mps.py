"""Check a model for operations Apple's MPS backend handles badly, by running it once on the CPU.

MPS has no float64 at all, and 3-D convolutions are not supported on every macOS version; with
``PYTORCH_ENABLE_MPS_FALLBACK=1`` (see :mod:`backends.startup`) unsupported operators run on the CPU instead of
failing, which works but copies tensors back and forth on every call. This scan finds such operators before a
user meets them, so a model can use an equivalent formulation (a 3-D convolution whose depth kernel is 1, for
example, is a grouped 2-D convolution).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

_CONV3D_NAMES = frozenset({"conv3d", "conv_transpose3d"})


class _Recorder(TorchFunctionMode):
    """Remembers every torch function called with the dtypes, ranks and shapes of its tensors (in and out)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, list[tuple[torch.dtype, int, tuple[int, ...]]]]] = []

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Iterable[type],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        results = out if isinstance(out, tuple | list) else (out,)
        # Inputs first (their shapes describe the call), then results (a float64 result counts too).
        tensors = [a for a in (*args, *kwargs.values(), *results) if isinstance(a, Tensor)]
        name = getattr(func, "__name__", str(func))
        self.calls.append((name, [(t.dtype, t.ndim, tuple(t.shape)) for t in tensors]))
        return out


def mps_concerns(module: nn.Module, *inputs: Any) -> list[str]:
    """Run ``module(*inputs)`` once on the CPU and list what would be slow or unsupported on MPS.

    Args:
        module: the model, on the CPU.
        inputs: example inputs for one forward call (small ones are enough; shapes matter, values do not).

    Returns:
        One line per kind of problem, e.g. ``"conv3d on (1, 1, 8, 64, 64): 3-D convolution ..."``; empty when
        nothing was found.
    """
    recorder = _Recorder()
    with torch.inference_mode(), recorder:
        module(*inputs)
    found: dict[str, str] = {}
    for name, tensors in recorder.calls:
        if name in _CONV3D_NAMES or (name in ("convolution", "conv_transpose") and any(r == 5 for _, r, _ in tensors)):
            shape = next((s for _, r, s in tensors if r == 5), ())
            found.setdefault(
                "conv3d", f"{name} on {shape}: 3-D convolutions are not supported by MPS on every macOS version"
            )
        if any(dtype == torch.float64 for dtype, _, _ in tensors):
            found.setdefault("float64", f"{name} uses float64, which MPS does not have")
    return list(found.values())
