"""Core ML export through torch.export, the per-checkpoint cache, and the runtime adapters.

Conversion runs on any OS where coremltools installs; running a converted model needs macOS, so the tests that
predict are skipped elsewhere (the macOS job of the packaging workflow runs them). The conversion of the whole
tiny Moebius model takes a minute or more on a 2-core machine, so it is in the slow tier (``-m slow``); the
fast tier converts small modules that use the same problematic operators.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tiny_model import write_tiny_model

from backends.coreml.export import (
    ConversionError,
    ExportPart,
    FixedArguments,
    TensorSpec,
    checkpoint_key,
    convert_part,
    export_bundle,
    export_program,
    find_bundle,
    make_convertible,
    unsupported_operators,
)
from backends.coreml.runtime import CoreMLFunction, CoreMLUnavailable, load_function
from core.inpaint.coreml import COREML_PARTS, CoreMLUNet, CoreMLVAE, coreml_folder, coreml_parts, export_coreml
from core.model.unet import COND_IDS, TINY_CONFIG, UNCOND_IDS, MoebiusModel

# The dev extra installs coremltools where it has wheels (macOS, x86-64); there an import error is a failure.
if sys.platform == "darwin" or platform.machine() in ("x86_64", "AMD64"):
    import coremltools as ct
else:
    ct = pytest.importorskip("coremltools", reason="coremltools has no wheels for this platform")
on_macos = pytest.mark.skipif(
    sys.platform != "darwin", reason="running a Core ML model needs macOS (conversion is tested on every OS)"
)


class Windows(torch.nn.Module):
    """Per-pixel 3×3 filters over channels-last values, gathered with ``as_strided`` like the λ layers do."""

    def forward(self, x: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        padded = F.pad(x, (0, 0, 1, 1, 1, 1))
        ph, pw = h + 2, w + 2
        windows = padded.as_strided((b, h, w, 3, 3, c), (ph * pw * c, pw * c, c, pw * c, c, 1))
        band = windows[:, 0:h].reshape(b * h * w, 9, c)  # the full-range slice exports as an alias
        out = torch.bmm(filters.reshape(b * h * w, 1, 9), band).reshape(b, h, w, c)
        rows = x.unfold(1, 2, 2).sum(-1)  # unfold is a view coremltools lacks, too
        return out + rows.repeat_interleave(2, dim=1)


class Unsupported(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.erfinv(x.clamp(-0.5, 0.5))


def _windows_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(1, 6, 6, 4, generator=generator), torch.randn(1, 6, 6, 9, generator=generator)


def test_fixed_arguments_bind_positions() -> None:
    seen: list[tuple[torch.Tensor, ...]] = []

    class Record(torch.nn.Module):
        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            seen.append(args)
            return args[0]

    ids = torch.arange(3)
    wrapped = FixedArguments(Record(), 3, {1: ids})
    a, c = torch.zeros(1), torch.ones(1)
    wrapped(a, c)
    assert seen[0][0] is a and torch.equal(seen[0][1], ids) and seen[0][2] is c
    with pytest.raises(TypeError, match="expected 2 tensor arguments"):
        wrapped(a)
    with pytest.raises(ValueError, match="must lie in"):
        FixedArguments(Record(), 2, {2: ids})


def test_view_operators_are_rewritten_exactly() -> None:
    module = Windows()
    inputs = _windows_inputs()
    program = export_program(module, inputs)
    before = {str(n.target) for n in program.graph.nodes}
    assert {"aten.as_strided.default", "aten.unfold.default"} <= before
    rewrites = make_convertible(program)
    assert "as_strided (1, 6, 6, 3, 3, 4) -> index_select" in rewrites
    assert "unfold (1, 3, 6, 4, 2) -> index_select" in rewrites
    after = {str(n.target) for n in program.graph.nodes}
    assert not after & {"aten.as_strided.default", "aten.unfold.default", "aten.alias.default"}
    assert unsupported_operators(program) == []
    with torch.no_grad():
        torch.testing.assert_close(program.module()(*inputs), module(*inputs), atol=0, rtol=0)


def test_unsupported_operators_are_named_with_shape_and_source(tmp_path: Path) -> None:
    part = ExportPart("odd", Unsupported(), (TensorSpec("x", (1, 4)),), ("y",), "float32")
    with pytest.raises(ConversionError, match=r"cannot convert odd: erfinv on inputs \[\(1, 4\)\] at .*test_coreml"):
        convert_part(part, tmp_path / "odd.mlpackage")
    assert not (tmp_path / "odd.mlpackage").exists()


def test_small_module_converts_to_an_fp16_mlpackage(tmp_path: Path) -> None:
    part = ExportPart(
        "windows", Windows(), (TensorSpec("x", (1, 6, 6, 4)), TensorSpec("filters", (1, 6, 6, 9))), ("out",)
    )
    report = convert_part(part, tmp_path / "windows.mlpackage")
    assert report.path.is_dir() and (report.path / "Manifest.json").is_file()
    assert len(report.rewrites) == 2
    spec = ct.utils.load_spec(str(report.path))
    assert spec.WhichOneof("Type") == "mlProgram"
    assert [i.name for i in spec.description.input] == ["x", "filters"]
    assert list(spec.description.input[0].type.multiArrayType.shape) == [1, 6, 6, 4]
    assert [o.name for o in spec.description.output] == ["out"]


def test_bundle_is_keyed_by_checkpoint_and_complete_or_absent(tmp_path: Path) -> None:
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"first")
    key = checkpoint_key([weights])
    weights.write_bytes(b"second")
    assert checkpoint_key([weights]) != key  # new weights never reuse an old conversion
    assert len(key) == 16
    part = ExportPart("linear", torch.nn.Linear(4, 2), (TensorSpec("x", (1, 4)),), ("y",))
    calls: list[tuple[int, int, str]] = []
    folder = export_bundle(tmp_path / "models", key, [part], sources=[weights], progress=lambda *a: calls.append(a))
    assert folder == tmp_path / "models" / "coreml" / key
    assert calls == [(0, 1, "linear"), (1, 1, "")]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["parts"]["linear"]["precision"] == "float16"
    assert manifest["sources"] == [{"name": "weights.bin", "bytes": 6}]
    assert find_bundle(tmp_path / "models", key, ["linear"]) == folder
    assert find_bundle(tmp_path / "models", key, ["linear", "vae_decoder"]) is None
    assert find_bundle(tmp_path / "models", "0" * 16, ["linear"]) is None
    assert [p.name for p in (tmp_path / "models" / "coreml").iterdir()] == [key]  # no staging folder left


def test_failed_export_leaves_nothing_behind(tmp_path: Path) -> None:
    part = ExportPart("odd", Unsupported(), (TensorSpec("x", (1, 4)),), ("y",))
    with pytest.raises(ConversionError):
        export_bundle(tmp_path, "abc", [part])
    assert list((tmp_path / "coreml").iterdir()) == []


# -- runtime adapters (fake predictors on every OS) --------------------------------------------------------


class TorchPredictor:
    """Stands in for a loaded MLModel: runs a torch function on the numpy inputs."""

    def __init__(self, fn: object) -> None:
        self.fn = fn
        self.calls = 0

    def predict(self, data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.calls += 1
        result = self.fn(**{k: torch.from_numpy(v) for k, v in data.items()})  # type: ignore[operator]
        return {k: v.numpy() for k, v in result.items()}


def test_coreml_unet_adapter_maps_any_guidance_layout() -> None:
    ids = torch.tensor([list(UNCOND_IDS), list(COND_IDS)])

    def unet(sample: torch.Tensor, timestep: torch.Tensor) -> dict[str, torch.Tensor]:
        assert sample.shape == (2, 9, 4, 4) and timestep.dtype == torch.float32
        # Row j of the fixed batch answers with its own index, so the mapping is visible.
        return {"noise": sample[:, :4] * 0 + torch.arange(2.0).reshape(2, 1, 1, 1) + timestep}

    predictor = TorchPredictor(unet)
    adapter = CoreMLUNet(CoreMLFunction(predictor, ("noise",)), ids, 4, 9)
    sample = torch.zeros(2, 9, 4, 4)
    out = adapter(sample, torch.tensor([100]), ids)
    assert out[:, 0, 0, 0].tolist() == [100.0, 101.0] and predictor.calls == 1
    cond_only = adapter(sample[:1], torch.tensor([0]), ids[1:])  # no guidance: the removal ids alone
    assert cond_only.shape == (1, 4, 4, 4) and cond_only[0, 0, 0, 0] == 1.0
    with pytest.raises(ValueError, match="converted for ids"):
        adapter(sample[:1], torch.tensor([0]), torch.zeros(1, 10, dtype=torch.long))
    assert adapter.to("cuda") is adapter


def test_coreml_vae_adapter_looks_like_autoencoderkl() -> None:
    encoder = CoreMLFunction(
        TorchPredictor(lambda pixels: {"mean": pixels[:, :1] + 1, "std": pixels[:, :1] * 0 + 2}), ("mean", "std")
    )
    decoder = CoreMLFunction(TorchPredictor(lambda latents: {"image": latents.repeat(1, 3, 1, 1)}), ("image",))
    vae = CoreMLVAE(encoder, decoder, 0.13025)
    posterior = vae.encode(torch.zeros(1, 3, 2, 2)).latent_dist
    assert posterior.mean.sum() == 4 and posterior.std.sum() == 8
    assert vae.decode(torch.ones(1, 1, 2, 2)).sample.shape == (1, 3, 2, 2)
    assert vae.config.scaling_factor == 0.13025


def test_missing_outputs_are_reported() -> None:
    function = CoreMLFunction(TorchPredictor(lambda x: {"other": x}), ("y",), "unet")
    with pytest.raises(RuntimeError, match="Core ML unet returned no y"):
        function(x=torch.zeros(1))


def test_running_needs_macos(tmp_path: Path) -> None:
    with pytest.raises(CoreMLUnavailable, match="only on macOS"):
        load_function(tmp_path / "x.mlpackage", ("y",), system="linux")
    with pytest.raises(ValueError, match="unknown compute units"):
        load_function(tmp_path / "x.mlpackage", ("y",), "gpu_only")


@on_macos
def test_converted_module_predicts_like_torch(tmp_path: Path) -> None:
    module = Windows()
    inputs = _windows_inputs()
    part = ExportPart("windows", module, (TensorSpec("x", (1, 6, 6, 4)), TensorSpec("filters", (1, 6, 6, 9))), ("out",))
    path = convert_part(part, tmp_path / "windows.mlpackage").path
    for units in ("all", "cpu_only"):
        (out,) = load_function(path, ("out",), units)(x=inputs[0], filters=inputs[1])
        torch.testing.assert_close(out, module(*inputs), atol=2e-2, rtol=2e-2)


# -- the tiny Moebius model (slow: a minute or more of conversion) -----------------------------------------


@pytest.mark.slow
def test_tiny_moebius_unet_converts_to_mlpackage(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = MoebiusModel(TINY_CONFIG)
    unet = coreml_parts(model, vae=None)[0]
    report = convert_part(unet, tmp_path / "unet.mlpackage")
    spec = ct.utils.load_spec(str(report.path))
    shapes = {i.name: list(i.type.multiArrayType.shape) for i in spec.description.input}
    assert shapes == {"sample": [2, 9, 64, 64], "timestep": [1]}
    assert [o.name for o in spec.description.output] == ["noise"]
    # An exported self-λ layer is the reference's convolution: no strided windows are left to rewrite.
    assert report.rewrites == []


@pytest.mark.slow
def test_export_coreml_writes_the_bundle_into_the_models_folder(tmp_path: Path) -> None:
    from core.weights.registry import find_model

    files = find_model(write_tiny_model(tmp_path / "models"))
    assert files is not None
    folder = export_coreml(files, models_root=tmp_path / "models")
    assert folder.parent == tmp_path / "models" / "coreml"
    assert sorted(p.name for p in folder.iterdir()) == [
        "manifest.json",
        "unet.mlpackage",
        "vae_decoder.mlpackage",
        "vae_encoder.mlpackage",
    ]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {name: part["precision"] for name, part in manifest["parts"].items()} == {
        "unet": "float16",
        "vae_encoder": "float32",
        "vae_decoder": "float32",
    }
    assert coreml_folder(files, tmp_path / "models") == folder
    assert export_coreml(files, models_root=tmp_path / "models") == folder  # reused, not converted again
    assert set(manifest["parts"]) == set(COREML_PARTS)
