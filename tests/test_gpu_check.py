"""``python -m core.benchmark --gpu-check`` with the CPU standing in for a GPU, and its padded self-λ variant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from core.bench.precision import _inputs, _random_model
from core.bench.self_lambda_variants import apply_by_single_product, single_product_self_lambda
from core.model.unet import TINY_CONFIG, SelfLambda


def test_the_padded_single_product_is_the_row_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # Released widths (8 heads, k = v = 40, r = 15) at a frame whose width differs from its height, so that a
    # mix-up of rows and columns or a window reaching into the next row would show.
    layer = SelfLambda(channels=64, heads=8, dim_k=40, dim_v=40, local_size=15).eval()
    torch.nn.init.normal_(layer.pos_conv.weight)
    torch.nn.init.normal_(layer.pos_conv.bias)
    generator = torch.Generator().manual_seed(3)
    size = (12, 20)
    n = size[0] * size[1]
    q = torch.randn(2, n, 8, 40, generator=generator)
    v = torch.randn(2, n, 40, generator=generator)
    content = torch.randn(2, 40, 40, generator=generator)
    expected = layer._by_row_windows(q, v, content, size)
    got = apply_by_single_product(layer, q, v, content, size)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-5)
    # The switch really swaps the computation in (and back out).
    calls: list[int] = []
    import core.bench.self_lambda_variants as variants

    monkeypatch.setattr(variants, "apply_by_single_product", lambda *a: calls.append(1) or expected)
    with single_product_self_lambda():
        layer._by_row_windows(q, v, content, size)
    layer._by_row_windows(q, v, content, size)
    assert calls == [1]


def test_a_whole_model_agrees_under_the_variant() -> None:
    model = _random_model(TINY_CONFIG)
    sample, t, ids = _inputs(model)
    with torch.inference_mode():
        expected = model(sample, t, ids)
        with single_product_self_lambda():
            got = model(sample, t, ids)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_gpu_check_with_the_cpu_standing_in(tmp_path: Path, golden_dir: Path) -> None:
    from core.benchmark import main

    out = tmp_path / "gpu-check.json"
    assert main(["--gpu-check", "--device", "cpu", "--quick", "--golden", str(golden_dir), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["device"] == "cpu" and report["configuration"] == "tiny"
    # Golden parity in float32 holds on the CPU as it must on a GPU; the fast format is reported, not judged.
    golden = report["golden"]
    assert golden["found"] is True
    assert golden["float32"]["forward"]["within_tolerance"] is True
    assert golden["float32"]["denoising_loop"]["within_tolerance"] is True
    assert golden["fast"]["forward"]["max_abs"] > 0
    step = report["guided_step"]
    for label in ("float32", "fast"):
        assert step[label]["row_loop_seconds"] > 0 and step[label]["single_product_seconds"] > 0
    assert step["float32"]["single_product_noise_deviation"]["max_abs"] < 1e-4
    assert step["single_product_operations"] < step["row_loop_operations"]
    assert report["vae"]["float32"]["encode_seconds"] > 0 and report["vae"]["fast"]["decode_seconds"] > 0
    e2e = report["end_to_end"]
    assert e2e["steps"] == 2
    for label in ("float32", "fast"):
        assert e2e[label]["encode"] > 0 and e2e[label]["denoise"] > 0 and e2e[label]["decode"] > 0
    assert 0 <= e2e["fast_max_pixel_difference"] <= 255
    assert report["expectation"]["paper_step_ms"] == 26.0
    assert report["expectation"]["counted_gflop_per_step"] > 0


def test_gpu_check_says_when_the_reference_vectors_are_missing(tmp_path: Path) -> None:
    from core.bench.gpu_check import check_golden

    report = check_golden(tmp_path, "cpu", {"float32": ("float32", "float32")})
    assert report == {"found": False, "folder": str(tmp_path)}
