"""The fast int8 mode: one more value of the precision setting, int8 products in the UNet, close to exact mode.

Covered: ``int8`` is accepted wherever a precision is (settings, settings file, command line, environment,
device choice); a prepared model really runs int8 products in the layers it lists, stays close to the float
result (bounds measured on the tiny model with margin) and leaves the float model and the state dict as they
were; an unsupported torch build is refused with a message that says what to choose; and the whole pipeline
runs with int8 through the command line.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_model import SAMPLES, randomize_norm_statistics, write_tiny_model

from backends import device as backend_device
from backends.device import CpuInfo, choose_device, resolve_request
from core.common.errors import DeviceError
from core.job.options import PRECISION
from core.job.settings import JobSettings, settings_from_dict
from core.job.settings_file import load_settings, save_settings
from core.model.int8_gemm import Int8Linear
from core.model.quantized import (
    FLOAT_LAYERS,
    Int8UnavailableError,
    int8_layers,
    int8_weight_bytes,
    is_int8,
    prepare_int8,
)
from core.model.unet import (
    COND_IDS,
    INT8_GEMM,
    TINY_CONFIG,
    UNCOND_IDS,
    Downsample,
    MixFFN,
    MoebiusModel,
    SelfLambda,
)
from core.model.upsample import Upsample

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def no_device_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOEBIUS_STUDIO_DEVICE", raising=False)
    monkeypatch.delenv("MOEBIUS_STUDIO_PRECISION", raising=False)


def _tiny_model(seed: int = 0) -> MoebiusModel:
    torch.manual_seed(seed)
    model = MoebiusModel(TINY_CONFIG)
    randomize_norm_statistics(model, seed + 1)
    return model.eval()


def _inputs(seed: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    sample = torch.randn(2, 9, 64, 64, generator=generator)
    ids = torch.tensor([list(UNCOND_IDS), list(COND_IDS)])
    return sample, ids


def _predict(model: MoebiusModel, sample: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(sample, 900, ids)


# -- the setting ---------------------------------------------------------------------------------------------


def test_int8_is_a_precision_everywhere() -> None:
    assert "int8" in PRECISION.choices
    assert PRECISION.labels["int8"] == "Fast (int8, CPU)"
    assert "int8" in PRECISION.help and "deviations" in PRECISION.help and "CPU only" in PRECISION.help
    assert PRECISION.parse(" INT8 ") == "int8"
    assert JobSettings(precision="int8").precision == "int8"
    assert settings_from_dict({"precision": "int8"}).settings.precision == "int8"
    save_settings(JobSettings(precision="int8"))  # the settings file (in this test's private home)
    assert load_settings().settings.precision == "int8"
    request = resolve_request(environ={"MOEBIUS_STUDIO_PRECISION": "int8"})
    assert (request.precision, request.source) == ("int8", "precision from MOEBIUS_STUDIO_PRECISION")


def test_command_line_accepts_int8() -> None:
    from core.cli import inpaint
    from core.cli.arguments import job_settings

    args = inpaint.build_parser().parse_args(["p.png", "-m", "m.png", "--precision", "int8"])
    assert job_settings(args, print).settings.precision == "int8"


def test_on_the_cpu_int8_keeps_float32_activations(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = CpuInfo(model="Test CPU", threads=4, flags=frozenset({"avx2"}))
    vnni = CpuInfo(model="Test CPU", threads=4, flags=frozenset({"avx2", "avx512_vnni"}))
    caps = backend_device.probe(cpu=plain)
    choice = choose_device("cpu", "int8", capabilities=caps)
    assert (choice.device, choice.dtype_name, choice.vae_dtype_name) == ("cpu", "float32", "float32")
    assert "fast int8 mode: int8 matrix products, CPU without int8 dot-product instructions" in choice.reason
    choice = choose_device("cpu", "int8", capabilities=backend_device.probe(cpu=vnni))
    assert "CPU with int8 dot products" in choice.reason
    assert backend_device.int8_requested("int8", "cpu")
    assert not backend_device.int8_requested("int8", "cuda") and not backend_device.int8_requested("exact", "cpu")


def test_on_a_gpu_int8_falls_back_to_its_fast_format(monkeypatch: pytest.MonkeyPatch) -> None:
    gpu = backend_device.GpuInfo(0, "NVIDIA Test GPU", 24 * 2**30, "CUDA", bf16=True)
    caps = backend_device.probe(cpu=CpuInfo(model="Test CPU", threads=4, flags=frozenset()))
    caps = dataclasses.replace(caps, gpus=(gpu,), cuda_problem="")
    choice = choose_device("auto", "int8", capabilities=caps)
    assert (choice.device, choice.dtype_name) == ("cuda", "float16")
    assert "int8 requested but it is a CPU mode; float16 is this device's fast mode" in choice.reason


# -- the prepared model ----------------------------------------------------------------------------------------


def test_prepared_model_runs_int8_products_in_every_listed_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _tiny_model()
    plan = prepare_int8(model, full_range=False)
    assert is_int8(model)
    assert plan.kept_float == FLOAT_LAYERS
    # Every 1×1 product of the blocks: per transformer 2 projections + q, k, v + cross q + Mix-FFN (2),
    # per resnet 2 pointwise convs (+ a shortcut where the width changes).
    assert len(plan.quantized) == len(int8_layers(model.diff_model)) > 100
    assert plan.int8_bytes == int8_weight_bytes(model) > 0 and not int8_weight_bytes(_tiny_model())
    calls: list[int] = []
    original = Int8Linear.__call__

    def counting(self: Int8Linear, x: torch.Tensor) -> torch.Tensor:
        calls.append(id(self))
        return original(self, x)

    monkeypatch.setattr(Int8Linear, "__call__", counting)
    sample, ids = _inputs()
    _predict(model, sample, ids)
    upsamplers = sum(isinstance(m, Upsample) for m in model.modules())
    # One call per listed layer, the batch of 2 run as one call except where the Mix-FFN runs image by image
    # (never at the tiny widths) and in the upsamplers (image by image).
    assert len(calls) == len(plan.quantized) + upsamplers
    # Each Mix-FFN's expansion is one product (both halves), each self-λ's queries, keys and values another.
    for module in model.modules():
        if isinstance(module, MixFFN):
            assert id(module.inverted_conv.conv.__dict__[INT8_GEMM]) in calls
        if isinstance(module, SelfLambda):
            assert id(module.__dict__[INT8_GEMM]) in calls
    # Every sampler's own int8 product ran (the float convolution is not what ran there).
    samplers = [name for name in plan.quantized if "samplers.0.conv" in name]
    assert len(samplers) == upsamplers + sum(isinstance(m, Downsample) for m in model.modules()) == 4
    for name in samplers:
        assert id(model.diff_model.get_submodule(name).__dict__[INT8_GEMM]) in calls, name


def test_the_samplers_run_int8_products_close_to_their_float_convolutions(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _tiny_model()
    samplers = [m for m in model.modules() if isinstance(m, (Upsample, Downsample))]
    generator = torch.Generator().manual_seed(5)
    inputs = [
        torch.randn(2, m.conv.in_channels, 16, 16, generator=generator).contiguous(memory_format=torch.channels_last)
        for m in samplers
    ]
    with torch.inference_mode():
        exact = [m(x) for m, x in zip(samplers, inputs, strict=True)]
    prepare_int8(model, full_range=True)

    def no_float_convolution(*args: object, **kwargs: object) -> torch.Tensor:
        raise AssertionError("a sampler ran its float convolution in the int8 mode")

    monkeypatch.setattr(torch.nn.Conv2d, "forward", no_float_convolution)
    monkeypatch.setattr(torch.nn.functional, "linear", no_float_convolution)
    with torch.inference_mode():
        fast = [m(x) for m, x in zip(samplers, inputs, strict=True)]
    for m, a, b in zip(samplers, exact, fast, strict=True):
        assert a.shape == b.shape and b.is_contiguous(memory_format=torch.channels_last)
        diff = (a - b).abs()
        # Measured (tiny widths, 8-bit activations, three seeds): max 0.9–1.2 %, mean 0.14–0.21 % of the
        # largest output.
        assert 0 < float(diff.max()) < 0.03 * float(a.abs().max()), type(m).__name__
        assert float(diff.mean()) < 0.006 * float(a.abs().max()), type(m).__name__


def test_int8_output_is_close_to_exact_but_not_equal() -> None:
    model = _tiny_model()
    sample, ids = _inputs()
    exact = _predict(model, sample, ids)
    deviations = {}
    for full_range in (True, False):
        fast = copy.deepcopy(model)
        prepare_int8(fast, full_range=full_range)
        diff = (_predict(fast, sample, ids) - exact).abs()
        deviations[full_range] = (float(diff.max()), float(diff.mean()))
    scale_max, scale_mean = float(exact.abs().max()), float(exact.abs().mean())
    for worst, mean in deviations.values():
        # Measured: max 3–12 % of the largest output, mean 4–12 % of the mean magnitude (three seeds).
        assert 0 < worst < 0.25 * scale_max
        assert 0 < mean < 0.2 * scale_mean
    # 7-bit activations (CPUs without VNNI) cost precision over 8-bit ones.
    assert deviations[False][1] > deviations[True][1]
    assert deviations[True][1] < 0.1 * scale_mean


def test_preparing_a_copy_leaves_the_float_model_and_the_state_dict_alone() -> None:
    model = _tiny_model()
    sample, ids = _inputs()
    before = _predict(model, sample, ids)
    state = {key: value.clone() for key, value in model.state_dict().items()}
    fast = copy.deepcopy(model)
    prepare_int8(fast)
    assert torch.equal(_predict(model, sample, ids), before)  # bit for bit
    assert not int8_layers(model)
    fast_state = fast.state_dict()
    assert list(fast_state) == list(state)
    assert all(torch.equal(fast_state[key], value) for key, value in state.items())


def test_int8_linear_matches_the_float_product_of_its_rounded_weight() -> None:
    generator = torch.Generator().manual_seed(3)
    weight, bias = torch.randn(24, 40, generator=generator), torch.randn(24, generator=generator)
    layer = Int8Linear(weight, bias, full_range=True)
    rounded = layer.dequantized_weight()
    assert rounded.shape == weight.shape
    assert float((rounded - weight).abs().max()) <= float(weight.abs().max()) / 127 / 2 * 1.01
    x = torch.randn(3, 50, 40, generator=generator)
    got = layer(x)
    assert got.shape == (3, 50, 24) and got.dtype == torch.float32
    reference = torch.nn.functional.linear(x, weight, bias)
    assert float((got - reference).abs().max()) < 0.02 * float(reference.abs().max())


# -- refusals ----------------------------------------------------------------------------------------------------


def test_a_build_without_x86_int8_kernels_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(type(torch.backends.quantized), "supported_engines", property(lambda self: ["qnnpack"]))
    model = _tiny_model()
    with pytest.raises(Int8UnavailableError) as caught:
        prepare_int8(model)
    assert isinstance(caught.value, DeviceError)
    message = caught.value.user_message()
    assert "x86 int8 kernels (fbgemm)" in message and "this one has qnnpack" in message
    assert "Choose precision Auto" in message and "or Exact" in message
    assert not int8_layers(model)
    # Loading refuses it before any weights are read.
    from core.inpaint.loading import load_pipeline
    from core.weights.registry import find_model

    files = find_model(write_tiny_model(tmp_path))
    assert files is not None
    with pytest.raises(Int8UnavailableError):
        load_pipeline(files, device="cpu", precision="int8")


def test_a_model_not_in_float32_on_the_cpu_is_refused() -> None:
    model = _tiny_model().to(torch.bfloat16)
    with pytest.raises(Int8UnavailableError, match="float32"):
        prepare_int8(model)


# -- the whole pipeline ------------------------------------------------------------------------------------------


def test_the_command_line_inpaints_with_int8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from core.cli.main import main

    models = tmp_path / "models"
    write_tiny_model(models)
    photo, mask_path = SAMPLES / "astronaut.png", SAMPLES / "astronaut_mask.png"
    outputs = {}
    for precision in ("exact", "int8"):
        out = tmp_path / f"{precision}.png"
        code = main(
            [
                str(photo),
                "--mask",
                str(mask_path),
                "-o",
                str(out),
                "--steps",
                "3",
                "--model",
                str(models / "moebius" / "ft_places2"),
                "--engine",
                "moebius",
                "--device",
                "cpu",
                "--precision",
                precision,
            ]
        )
        captured = capsys.readouterr()
        assert code == 0, captured.err
        with Image.open(out) as image:
            outputs[precision] = np.asarray(image.convert("RGB")).astype(np.int16)
    mask = np.asarray(Image.open(mask_path).convert("L"))
    diff = np.abs(outputs["int8"] - outputs["exact"])
    assert diff[mask == 0].max() == 0  # outside the mask both keep the photo
    assert 0 < diff[mask >= 128].mean() < 8


def test_the_engine_loads_int8_on_the_cpu(tmp_path: Path) -> None:
    from core.inpaint.loading import load_pipeline
    from core.weights.registry import find_model

    files = find_model(write_tiny_model(tmp_path))
    assert files is not None
    pipeline, info = load_pipeline(files, device="cpu", precision="int8")
    assert (info.device, info.dtype, info.vae_dtype) == ("cpu", "float32", "float32")
    assert "fast int8 mode" in info.reason
    assert int8_layers(pipeline.model)
    exact, _ = load_pipeline(files, device="cpu", precision="exact")
    assert not int8_layers(exact.model)


def test_the_device_info_carries_the_int8_mode_and_its_own_time_key() -> None:
    from core.inpaint.device import choose_device as choose_info
    from core.inpaint.estimate import device_key, first_guess

    int8, exact = choose_info("cpu", "int8"), choose_info("cpu", "exact")
    assert int8.int8_products and not exact.int8_products
    assert int8.dtype == exact.dtype == "float32"
    # Learned times of the two modes are kept apart, and the first guess of an int8 step is the faster one.
    assert device_key(int8) != device_key(exact) and device_key(int8).endswith("|float32+int8/float32")
    assert first_guess(device_key(int8)).step < first_guess(device_key(exact)).step
    assert first_guess(device_key(int8)).decode == first_guess(device_key(exact)).decode


def test_a_gpu_falling_back_to_the_cpu_prepares_the_int8_products(tmp_path: Path) -> None:
    from core.inpaint.device import DeviceInfo
    from core.inpaint.device import choose_device as choose_info
    from core.inpaint.guarded import GuardedPipeline
    from core.model.vae import build_vae

    model = _tiny_model()
    from tiny_model import tiny_vae_config

    vae = build_vae(tiny_vae_config())
    gpu = DeviceInfo("cuda", "float16", "CUDA: a GPU (int8 requested but it is a CPU mode)", "bfloat16", "CUDA")
    pipeline = GuardedPipeline(model, vae, info=gpu, cpu_fallback=lambda: choose_info("cpu", "int8"))
    assert not is_int8(model)
    pipeline.move_to_cpu()
    assert is_int8(model) and pipeline.info.int8_products
