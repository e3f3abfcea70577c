"""Convert PyTorch modules to Core ML ML programs (``.mlpackage``) through ``torch.export``.

The ``torch.jit.trace`` route of coremltools breaks with numpy 2.4 and newer, so this module always goes
``torch.export.export`` → ``run_decompositions`` → a few graph rewrites → ``coremltools.convert``. Shapes are
fixed at export time (Core ML runs fastest with static shapes, and the models here only run at one size).

Graph rewrites (:func:`make_convertible`): coremltools has no converter for the view operators ``alias``,
``as_strided`` and ``unfold``. ``alias`` is an identity. ``as_strided`` / ``unfold`` on a contiguous tensor
read a regular lattice of its elements, which is an ``index_select`` of whole trailing blocks with an index
built from ``arange``; coremltools folds that index into a constant. Anything else coremltools cannot convert
is listed with its shapes and the source line that produced it before conversion starts
(:class:`ConversionError`), instead of failing deep inside the converter.

Converted models are kept per checkpoint: ``<root>/coreml/<key>/`` holds one ``.mlpackage`` per part and a
``manifest.json``; ``key`` is a hash of the checkpoint files (:func:`checkpoint_key`), so new weights never
reuse an old conversion.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from torch.export import ExportedProgram

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
PRECISIONS = ("float16", "float32")
# macOS 13 (Ventura) is the oldest macOS whose Core ML runs ML programs with every operator used here.
DEFAULT_MINIMUM_MACOS = "13"
_HASH_CHUNK = 1 << 22


class ConversionError(RuntimeError):
    """A module cannot be converted to Core ML; the message names the operators, shapes and source lines."""


@dataclass(frozen=True)
class TensorSpec:
    """One fixed-shape float32 input of a converted model.

    Args:
        name: the input's name in the ``.mlpackage`` (what ``predict`` takes).
        shape: its fixed shape.
    """

    name: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class ExportPart:
    """One module to convert.

    Args:
        name: file stem of the package (``<name>.mlpackage``), e.g. ``"unet"``.
        module: the module; called with one tensor per input, returning a tensor or a tuple of tensors.
        inputs: its inputs, in call order.
        outputs: names of its outputs, in return order.
        precision: compute precision of the ML program, ``"float16"`` or ``"float32"``.
    """

    name: str
    module: nn.Module
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[str, ...]
    precision: str = "float16"


@dataclass
class ConversionReport:
    """What :func:`convert_part` did.

    Args:
        path: the written ``.mlpackage``.
        rewrites: one line per graph rewrite (operator and shape).
        seconds: time spent exporting and converting.
    """

    path: Path
    rewrites: list[str] = field(default_factory=list)
    seconds: float = 0.0


class FixedArguments(nn.Module):
    """Call ``module`` with some positional arguments fixed, so an exporter sees only plain tensor inputs.

    Args:
        module: the wrapped module.
        arity: how many positional arguments ``module`` takes in total.
        fixed: argument position → the tensor always passed there (kept as a buffer, so it moves with
            ``.to()`` and becomes a constant of the exported graph).

    ``FixedArguments(model, 3, {2: ids})(a, b)`` calls ``model(a, b, ids)``.
    """

    def __init__(self, module: nn.Module, arity: int, fixed: Mapping[int, Tensor]) -> None:
        super().__init__()
        if any(not 0 <= position < arity for position in fixed):
            raise ValueError(f"fixed positions {sorted(fixed)} must lie in 0..{arity - 1}")
        self.module = module
        self.arity = arity
        self.positions = sorted(fixed)
        for position in self.positions:
            self.register_buffer(f"fixed_{position}", fixed[position].clone())

    def forward(self, *free: Tensor) -> Any:
        expected = self.arity - len(self.positions)
        if len(free) != expected:
            raise TypeError(f"expected {expected} tensor arguments, got {len(free)}")
        remaining = iter(free)
        args = [getattr(self, f"fixed_{i}") if i in self.positions else next(remaining) for i in range(self.arity)]
        return self.module(*args)


# -- torch.export and graph rewrites -----------------------------------------------------------------------


def export_program(module: nn.Module, example_inputs: Sequence[Tensor]) -> ExportedProgram:
    """``torch.export`` the module in eval mode without autograd, decomposed to the ATen operator set.

    Args:
        module: the module to export (switched to eval mode).
        example_inputs: one tensor per input with the fixed shapes.
    """
    _no_progress_monitor()
    module.eval()
    # Without autograd, in-place operators on views (used for speed in inference code) export cleanly.
    with torch.no_grad():
        program = torch.export.export(module, tuple(example_inputs), strict=False)
        decomposed: ExportedProgram = program.run_decompositions({})
        return decomposed


def _strides_of(node: torch.fx.Node) -> tuple[list[int], list[int], int] | None:
    """Shape, contiguous strides and element count of a node's value, or ``None`` if not contiguous."""
    value = node.meta.get("val")
    if not isinstance(value, Tensor) or not value.is_contiguous():
        return None
    return list(value.shape), list(value.stride()), value.numel()


def _lattice_gather(
    graph: torch.fx.Graph, source: torch.fx.Node, numel: int, size: list[int], stride: list[int], offset: int
) -> torch.fx.Node | None:
    """Insert nodes computing ``source.as_strided(size, stride, offset)`` with supported operators.

    The longest run of trailing dimensions that is contiguous (and aligned) becomes a block of rows; the
    leading dimensions select rows by an ``arange`` lattice. Returns the node of the result, or ``None`` when
    the view does not fit that pattern.
    """
    aten = torch.ops.aten
    # 1. The longest aligned contiguous trailing block: every leading stride and the offset are multiples of it.
    lead, block = len(size), 1
    best = (len(size), 1)
    while lead > 0 and stride[lead - 1] == block:
        block *= size[lead - 1]
        lead -= 1
        if all(stride[d] % block == 0 for d in range(lead)) and offset % block == 0 and numel % block == 0:
            best = (lead, block)
    lead, block = best
    if any(s < 0 for s in stride):
        return None
    # 2. Rows (numel / block, block) and the row index: a broadcast sum of one arange per leading dimension,
    #    so it has the full leading shape and is contiguous.
    rows = graph.call_function(aten.view.default, (source, [numel // block, block]))
    index: torch.fx.Node = graph.call_function(aten.arange.start_step, (0, 1, 1), {"dtype": torch.int32})
    count = 1
    for d in range(lead):
        count *= size[d]
        axis = graph.call_function(aten.arange.start_step, (0, size[d], 1), {"dtype": torch.int32})
        if stride[d] // block != 1:
            axis = graph.call_function(aten.mul.Tensor, (axis, stride[d] // block))
        shape = [1] * lead
        shape[d] = size[d]
        axis = graph.call_function(aten.view.default, (axis, shape))
        index = axis if d == 0 else graph.call_function(aten.add.Tensor, (index, axis))
    if offset:
        index = graph.call_function(aten.add.Tensor, (index, offset // block))
    index = graph.call_function(aten.view.default, (index, [count]))
    gathered = graph.call_function(aten.index_select.default, (rows, 0, index))
    return graph.call_function(aten.view.default, (gathered, list(size)))


def make_convertible(program: ExportedProgram) -> list[str]:
    """Rewrite operators coremltools cannot convert into equivalent supported ones, in place.

    Args:
        program: an exported, decomposed program.

    Returns:
        One line per rewrite, e.g. ``"as_strided (2, 16, 16, 15, 15, 32) -> index_select"``.
    """
    aten = torch.ops.aten
    graph = program.graph_module.graph
    done: list[str] = []
    for node in list(graph.nodes):
        if node.op != "call_function":
            continue
        if node.target is aten.alias.default:
            node.replace_all_uses_with(node.args[0])
            graph.erase_node(node)
            continue
        if node.target not in (aten.as_strided.default, aten.unfold.default):
            continue
        source = node.args[0]
        if not isinstance(source, torch.fx.Node):
            continue
        layout = _strides_of(source)
        if layout is None:
            continue
        shape, strides, numel = layout
        if node.target is aten.as_strided.default:
            size, stride = [int(s) for s in node.args[1]], [int(s) for s in node.args[2]]
            offset = int(node.args[3]) if len(node.args) > 3 and node.args[3] is not None else 0
        else:
            dim, width, step = (int(a) for a in node.args[1:4])
            dim %= len(shape)
            size = [*shape[:dim], (shape[dim] - width) // step + 1, *shape[dim + 1 :], width]
            stride = [*strides[:dim], strides[dim] * step, *strides[dim + 1 :], strides[dim]]
            offset = 0
        with graph.inserting_before(node):
            replacement = _lattice_gather(graph, source, numel, size, stride, offset)
        if replacement is None:
            continue
        node.replace_all_uses_with(replacement)
        graph.erase_node(node)
        done.append(f"{node.target.__name__.split('.')[0]} {tuple(size)} -> index_select")
    graph.eliminate_dead_code()
    graph.lint()
    program.graph_module.recompile()
    return done


def _no_progress_monitor() -> None:
    """Keep tqdm from starting its monitor thread.

    torch.fx and coremltools draw tqdm progress bars, and tqdm starts a background thread with the first bar
    that never stops; a converter that runs inside the app (or a test) must not leave threads behind.
    """
    try:
        import tqdm  # type: ignore[import-untyped]
    except ImportError:
        return
    tqdm.tqdm.monitor_interval = 0


def _coremltools() -> Any:
    """Import coremltools (without tqdm's monitor thread)."""
    import coremltools

    _no_progress_monitor()
    return coremltools


def _operator_kind(node: torch.fx.Node) -> str:
    """The operator name as the converter looks it up (``aten::add.Tensor`` → ``add``)."""
    from coremltools.converters.mil.frontend.torch.utils import sanitize_op_kind

    target: Any = node.target
    try:
        kind = str(target.name())
    except AttributeError:
        kind = getattr(target, "__name__", str(target))
    return str(sanitize_op_kind(kind))


def _describe_node(node: torch.fx.Node) -> str:
    shapes = [
        tuple(arg.meta["val"].shape)
        for arg in node.args
        if isinstance(arg, torch.fx.Node) and isinstance(arg.meta.get("val"), Tensor)
    ]
    where = ""
    trace = [line.strip() for line in str(node.meta.get("stack_trace", "")).splitlines() if line.strip()]
    files = [line for line in trace if line.startswith("File ")]
    if files:
        where = f" at {files[-1][5:]}"
    return f"{shapes}{where}"


def unsupported_operators(program: ExportedProgram) -> list[str]:
    """Operators of ``program`` that this coremltools version cannot convert, with input shapes and source.

    Args:
        program: an exported, decomposed (and rewritten) program.
    """
    _coremltools()
    try:
        from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY
    except ImportError:  # a coremltools without this internal table: let the converter report problems
        return []
    problems: list[str] = []
    for node in program.graph_module.graph.nodes:
        if node.op != "call_function":
            continue
        kind = _operator_kind(node)
        if _TORCH_OPS_REGISTRY.get_func(kind) is None:
            problems.append(f"{kind} on inputs {_describe_node(node)}")
    return problems


@contextlib.contextmanager
def _quiet_progress_bars() -> Iterator[None]:
    # coremltools draws several tqdm bars per conversion; they only clutter a command line or a log file.
    previous = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = previous


def convert_part(part: ExportPart, path: Path, *, minimum_macos: str = DEFAULT_MINIMUM_MACOS) -> ConversionReport:
    """Export ``part.module`` and write it as an ML program to ``path`` (an ``.mlpackage`` folder).

    Args:
        part: what to convert and how.
        path: where to write the package.
        minimum_macos: oldest macOS the package must run on (``"13"``, ``"14"``, …).

    Raises:
        ConversionError: the module uses operators coremltools cannot convert (all of them are named).
    """
    import time

    import numpy as np

    ct = _coremltools()
    if part.precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {part.precision!r}")
    start = time.perf_counter()
    examples = [torch.zeros(spec.shape) for spec in part.inputs]
    program = export_program(part.module, examples)
    rewrites = make_convertible(program)
    problems = unsupported_operators(program)
    if problems:
        listed = "; ".join(sorted(set(problems)))
        raise ConversionError(f"coremltools {ct.__version__} cannot convert {part.name}: {listed}")
    with _quiet_progress_bars():
        model = ct.convert(
            program,
            convert_to="mlprogram",
            compute_precision=ct.precision.FLOAT16 if part.precision == "float16" else ct.precision.FLOAT32,
            minimum_deployment_target=getattr(ct.target, f"macOS{minimum_macos}"),
            inputs=[ct.TensorType(name=spec.name, shape=spec.shape, dtype=np.float32) for spec in part.inputs],
            outputs=[ct.TensorType(name=name, dtype=np.float32) for name in part.outputs],
            skip_model_load=True,
        )
    model.short_description = f"{part.name} ({part.precision}), converted with torch.export"
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(path))
    return ConversionReport(path, rewrites, time.perf_counter() - start)


# -- per-checkpoint cache ----------------------------------------------------------------------------------


def checkpoint_key(files: Sequence[Path], length: int = 16) -> str:
    """A short hex key from the contents of the checkpoint files (SHA-256 over all of them, in order).

    Args:
        files: the weight files a conversion was made from.
        length: hex digits kept.
    """
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
                digest.update(chunk)
    return digest.hexdigest()[:length]


def bundle_dir(root: Path, key: str) -> Path:
    """The folder of the conversions of checkpoint ``key`` under a models folder ``root``."""
    return root / "coreml" / key


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of a conversion folder, or ``None`` when it is missing or unreadable."""
    try:
        data = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == MANIFEST_FORMAT else None


def find_bundle(root: Path, key: str, parts: Sequence[str]) -> Path | None:
    """The conversion folder of ``key`` if it holds every part named in ``parts``, else ``None``.

    Args:
        root: the models folder.
        key: the checkpoint key (:func:`checkpoint_key`).
        parts: part names that must be present, e.g. ``("unet", "vae_encoder", "vae_decoder")``.
    """
    folder = bundle_dir(root, key)
    manifest = read_manifest(folder)
    if manifest is None:
        return None
    listed = manifest.get("parts", {})
    for name in parts:
        if name not in listed or not (folder / f"{name}.mlpackage").is_dir():
            return None
    return folder


def export_bundle(
    root: Path,
    key: str,
    parts: Sequence[ExportPart],
    *,
    sources: Sequence[Path] = (),
    minimum_macos: str = DEFAULT_MINIMUM_MACOS,
    progress: Callable[[int, int, str], None] | None = None,
) -> Path:
    """Convert every part into ``<root>/coreml/<key>/`` and write its manifest; returns the folder.

    The parts are written into a temporary folder beside the target and moved into place at the end, so an
    interrupted conversion never leaves a folder that looks complete.

    Args:
        root: the models folder.
        key: the checkpoint key.
        parts: what to convert.
        sources: the checkpoint files (recorded by name and size in the manifest).
        minimum_macos: oldest macOS the packages must run on.
        progress: called as ``progress(done, total, part_name)`` before each part and once at the end.
    """
    ct = _coremltools()
    target = bundle_dir(root, key)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=target.parent))
    try:
        manifest: dict[str, Any] = {
            "format": MANIFEST_FORMAT,
            "key": key,
            "sources": [{"name": p.name, "bytes": p.stat().st_size} for p in sources],
            "coremltools": ct.__version__,
            "torch": str(torch.__version__),
            "minimum_macos": minimum_macos,
            "parts": {},
        }
        for done, part in enumerate(parts):
            if progress is not None:
                progress(done, len(parts), part.name)
            report = convert_part(part, staging / f"{part.name}.mlpackage", minimum_macos=minimum_macos)
            manifest["parts"][part.name] = {
                "file": f"{part.name}.mlpackage",
                "precision": part.precision,
                "inputs": [{"name": s.name, "shape": list(s.shape)} for s in part.inputs],
                "outputs": list(part.outputs),
                "rewrites": report.rewrites,
                "seconds": round(report.seconds, 1),
            }
        (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if progress is not None:
        progress(len(parts), len(parts), "")
    return target
