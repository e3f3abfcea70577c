"""The Moebius UNet against the reference vectors, the released manifest, and checkpoint loading."""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import pytest
import torch
from tiny_model import GOLDEN, REFERENCE, TINY_UNET_CONFIG, write_tiny_model

from core.common.errors import (
    CheckpointError,
    CheckpointMismatchError,
    ConfigError,
    UnsafeCheckpointError,
    UnsupportedSizeError,
)
from core.model.unet import MoebiusModel, load_moebius

pytestmark = pytest.mark.usefixtures("golden_dir")  # fails (never skips) without ../shared


def _load(name: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(GOLDEN / f"{name}.safetensors"))


@pytest.fixture(scope="module")
def golden_model(golden_dir: Path) -> MoebiusModel:
    return load_moebius(GOLDEN / "weights.safetensors", config=json.loads((GOLDEN / "config.json").read_text()))


def test_golden_forward_and_block_outputs(golden_model: MoebiusModel) -> None:
    inputs, expected = _load("inputs"), _load("expected")
    blocks: list[torch.Tensor] = []
    with torch.inference_mode():
        out = golden_model(inputs["sample"], inputs["timesteps"], inputs["input_ids"], blocks)
        case2 = golden_model(inputs["case2_sample"], inputs["case2_timesteps"], inputs["case2_input_ids"])
    torch.testing.assert_close(out, expected["sample"], atol=1e-4, rtol=0)
    torch.testing.assert_close(case2, expected["case2_sample"], atol=1e-4, rtol=0)
    assert len(blocks) == 6
    for i, block in enumerate(blocks):
        # Block outputs reach magnitudes of ~65, so the same absolute floor is scaled by their size.
        ref = expected[f"block_output_{i}"]
        torch.testing.assert_close(block, ref, atol=1e-4 * max(1.0, ref.abs().max().item() / 10), rtol=0)


def test_golden_intermediates(golden_model: MoebiusModel) -> None:
    inputs, expected = _load("inputs"), _load("expected")
    unet = golden_model.diff_model
    block = unet.down_blocks[0].attentions[0].transformer_blocks[0]
    watched = {
        "dbg_time_embedding": unet.time_embedding,
        "dbg_encoder_hid_proj": unet.encoder_hid_proj,
        "dbg_conv_in": unet.conv_in,
        "dbg_down0_resnet0": unet.down_blocks[0].resnets[0],
        "dbg_down0_attn0": unet.down_blocks[0].attentions[0],
        "dbg_down0_attn0_tb0": block,
        "dbg_down0_attn0_tb0_attn1_input": block.norm1,
        "dbg_down0_attn0_tb0_attn1": block.attn1,
        "dbg_down0_attn0_tb0_attn2": block.attn2,
        "dbg_down0_attn0_tb0_ff": block.ff,
        "dbg_up0_upsampler": unet.up_blocks[0].upsamplers[0],
    }
    seen: dict[str, torch.Tensor] = {}
    handles = [m.register_forward_hook(lambda _m, _i, o, k=k: seen.__setitem__(k, o)) for k, m in watched.items()]
    with torch.inference_mode():
        golden_model(inputs["sample"], inputs["timesteps"], inputs["input_ids"])
    for h in handles:
        h.remove()
    for name in watched:
        torch.testing.assert_close(seen[name], expected[name], atol=1e-4, rtol=0, msg=name)


@pytest.mark.parametrize("timesteps", [981, torch.tensor(981), torch.tensor([981]), torch.tensor([981, 981])])
def test_timestep_forms_agree(golden_model: MoebiusModel, timesteps: object) -> None:
    inputs, expected = _load("inputs"), _load("expected")
    with torch.inference_mode():
        out = golden_model(inputs["sample"], timesteps, inputs["input_ids"])  # type: ignore[arg-type]
    torch.testing.assert_close(out, expected["sample"], atol=1e-4, rtol=0)


def test_released_config_matches_manifest() -> None:
    with torch.device("meta"):
        model = MoebiusModel()
    state = model.state_dict()
    rows = list(csv.DictReader((REFERENCE / "moebius_full_state_dict.tsv").open(), delimiter="\t"))
    assert len(rows) == len(state) == 1203
    assert [r["key"] for r in rows] == list(state)
    for row in rows:
        tensor = state[row["key"]]
        assert list(tensor.shape) == json.loads(row["shape"]), row["key"]
        assert str(tensor.dtype).removeprefix("torch.") == row["dtype"], row["key"]
    assert sum(p.numel() for p in model.parameters()) == 226_041_531
    counts = json.loads((REFERENCE / "param_counts.json").read_text())
    for child, n in counts["unet_breakdown"].items():
        assert sum(p.numel() for p in getattr(model.diff_model, child.split(".")[0]).parameters()) >= n


def test_wrong_sizes_raise_clear_errors(golden_model: MoebiusModel) -> None:
    ids = torch.tensor([list(range(10))])
    with pytest.raises(UnsupportedSizeError, match="32, 32"):
        golden_model(torch.zeros(1, 9, 32, 48), 10, ids)
    with pytest.raises(UnsupportedSizeError):
        golden_model(torch.zeros(1, 9, 16, 16), 10, ids)
    with pytest.raises(UnsupportedSizeError, match="input_ids"):
        golden_model(torch.zeros(1, 9, 32, 32), 10, torch.tensor([list(range(5))]))


def test_config_validation() -> None:
    with pytest.raises(ConfigError, match="Unknown"):
        MoebiusModel({"bogus": 1})
    with pytest.raises(ConfigError):
        MoebiusModel({**TINY_UNET_CONFIG, "use_local_self_attn": False})


@pytest.mark.parametrize("fmt", ["bin", "safetensors"])
def test_load_released_layout(tmp_path: Path, fmt: str) -> None:
    folder = write_tiny_model(tmp_path, fmt=fmt)
    model = load_moebius(folder)
    reference = MoebiusModel(TINY_UNET_CONFIG)
    reference.load_state_dict(
        torch.load(folder / "diffusion_pytorch_model.bin", weights_only=True)
        if fmt == "bin"
        else _st(folder / "diffusion_pytorch_model.safetensors")
    )
    for (k, a), b in zip(model.state_dict().items(), reference.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    assert not model.training


def _st(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


def test_strict_loading_names_offending_keys(tmp_path: Path) -> None:
    folder = write_tiny_model(tmp_path, fmt="bin")
    state = torch.load(folder / "diffusion_pytorch_model.bin", weights_only=True)
    state.pop("diff_model.conv_in.bn1.num_batches_tracked")
    state["diff_model.extra.weight"] = torch.zeros(1)
    state["embedding_layer.weight"] = torch.zeros(3, 3)
    torch.save(state, folder / "diffusion_pytorch_model.bin")
    with pytest.raises(CheckpointMismatchError) as info:
        load_moebius(folder)
    message = str(info.value)
    assert "diff_model.conv_in.bn1.num_batches_tracked" in message
    assert "diff_model.extra.weight" in message
    assert "embedding_layer.weight" in message


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("this must never run",))


def test_malicious_pickle_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_tiny_model(tmp_path, fmt="bin")
    state = torch.load(folder / "diffusion_pytorch_model.bin", weights_only=True)
    state["evil"] = _Payload()  # type: ignore[assignment]
    with (folder / "diffusion_pytorch_model.bin").open("wb") as f:
        torch.save(state, f, pickle_module=pickle)
    with pytest.raises(UnsafeCheckpointError) as caught:
        load_moebius(folder)
    assert "must never run" not in capsys.readouterr().out
    # Our own sentence, never torch's advice to load it with weights_only=False (see test_unsafe_checkpoints.py).
    message = caught.value.user_message()
    assert "code or objects other than tensors" in message and "weights_only" not in message


def test_truncated_checkpoint_is_reported(tmp_path: Path) -> None:
    folder = write_tiny_model(tmp_path, fmt="bin")
    path = folder / "diffusion_pytorch_model.bin"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError):
        load_moebius(folder)
    (folder / "diffusion_pytorch_model.bin").unlink()
    bad = folder / "diffusion_pytorch_model.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="safetensors"):
        load_moebius(bad)


@pytest.mark.parametrize("formulation", ["row-windows-one-row-per-band", "row-windows", "convolution"])
def test_both_self_lambda_formulations_match_golden(
    golden_model: MoebiusModel, monkeypatch: pytest.MonkeyPatch, formulation: str
) -> None:
    import core.model.unet

    if formulation == "convolution":
        # The formulation an exported (Core ML) graph gets, chosen the way export chooses it.
        monkeypatch.setattr(torch.compiler, "is_exporting", lambda: True)
    elif formulation == "row-windows-one-row-per-band":
        # The smallest band budget: every image row is a band of its own, exercising the band loop.
        monkeypatch.setattr(core.model.unet, "ROW_WINDOW_FILTER_ELEMENTS", 1)
    inputs, expected = _load("inputs"), _load("expected")
    with torch.inference_mode():
        out = golden_model(inputs["sample"], inputs["timesteps"], inputs["input_ids"])
    torch.testing.assert_close(out, expected["sample"], atol=1e-4, rtol=0)


def test_self_lambda_formulations_agree_at_released_widths(monkeypatch: pytest.MonkeyPatch) -> None:
    """Row windows against the convolution at the released level-0 and level-2 widths, kernel bias included."""
    from core.model.unet import SelfLambda

    torch.manual_seed(0)
    for channels, side in ((320, 64), (1280, 16)):
        layer = SelfLambda(channels, 8, channels // 8, channels // 8).eval()
        with torch.no_grad():
            layer.pos_conv.weight.normal_(0, 0.05)
            assert layer.pos_conv.bias is not None
            layer.pos_conv.bias.normal_()
        tokens = torch.randn(2, side * side, channels)
        with torch.inference_mode():
            rows = layer(tokens, (side, side))
            with monkeypatch.context() as patch:
                patch.setattr(torch.compiler, "is_exporting", lambda: True)
                conv = layer(tokens, (side, side))
        torch.testing.assert_close(rows, conv, atol=1e-4, rtol=1e-5)


def test_benchmark_reference_transcription_matches_golden() -> None:
    """The plain transcription the benchmark compares against is itself exact."""
    from core.bench.reference import reference_forward

    state = _load("weights")
    config = json.loads((GOLDEN / "config.json").read_text())["model_kwargs"]
    inputs, expected = _load("inputs"), _load("expected")
    with torch.inference_mode():
        out = reference_forward(state, config, inputs["sample"], int(inputs["timesteps"]), inputs["input_ids"])
    torch.testing.assert_close(out, expected["sample"], atol=1e-4, rtol=0)


def test_an_exported_self_lambda_is_the_reference_convolution() -> None:
    """Exported graphs (the Core ML route) get the convolution; the row windows' strided views stay eager-only."""
    from core.model.unet import SelfLambda

    class Square(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = SelfLambda(32, 4, 8, 8).eval()

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            return self.layer(tokens, (8, 8))  # type: ignore[no-any-return]

    torch.manual_seed(0)
    module = Square().eval()
    tokens = torch.randn(1, 64, 32)
    program = torch.export.export(module, (tokens,), strict=False)
    targets = {str(node.target) for node in program.graph.nodes}
    assert "aten.convolution.default" in targets or "aten.conv2d.default" in targets
    assert not {"aten.as_strided.default", "aten.baddbmm.default"} & targets
    with torch.no_grad():
        torch.testing.assert_close(program.module()(tokens), module(tokens), atol=1e-5, rtol=1e-5)
