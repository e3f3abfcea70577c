"""Time estimates: planned like the engine, learned per device, robust to a damaged record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.inpaint import estimate
from core.inpaint.device import DeviceInfo
from core.inpaint.estimate import (
    Estimate,
    StageTimes,
    device_key,
    estimate_job,
    first_guess,
    measured_times,
    record_job,
    timings_file,
)
from core.inpaint.plan import GLOBAL, TILE, WINDOW, plan_regions
from core.inpaint.result import InpaintResult
from core.inpaint.schedule import steps_run, window_strength
from core.job.settings import JobSettings

KEY = "cpu|Test CPU|float32/float32"
TIMES = StageTimes(step=2.0, encode=5.0, decode=7.0, overhead=1.0)


def _mask(height: int, width: int, *boxes: tuple[int, int, int, int]) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    for left, top, right, bottom in boxes:
        mask[top:bottom, left:right] = 255
    return mask


def _store(times: StageTimes, key: str = KEY) -> None:
    """A timings file as record_job leaves it, with ``times`` for ``key``."""
    path = timings_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {"step": times.step, "encode": times.encode, "decode": times.decode, "overhead": times.overhead, "runs": 1}
    path.write_text(json.dumps({"version": 1, "devices": {key: entry}}))


def _result(
    mask: np.ndarray, settings: JobSettings, seconds: dict[str, float], engine: str = "moebius"
) -> InpaintResult:
    """What an engine returns after planning ``mask`` as the Moebius engine does, with the given timings."""
    plan = plan_regions(mask, frame=512, context_margin=settings.context_margin)
    image = np.zeros((*mask.shape, 3), np.uint8)
    return InpaintResult(image=image, seed=1, engine=engine, timings=dict(seconds), plan=plan)


def _by_formula(mask: np.ndarray, settings: JobSettings, times: StageTimes) -> float:
    plan = plan_regions(mask, frame=512, context_margin=settings.context_margin)
    steps = [steps_run(settings.steps, window_strength(settings, w.kind)) for w in plan.windows]
    return sum(s * times.step + times.encode + times.decode + times.overhead for s in steps)


def test_the_estimate_scales_with_windows_and_steps() -> None:
    _store(TIMES)
    one = _mask(2000, 3000, (100, 100, 200, 200))
    two = _mask(2000, 3000, (100, 100, 200, 200), (2500, 1500, 2600, 1600))
    settings = JobSettings(steps=20)  # strength 0.99: 19 steps run
    single = estimate_job(one, settings, KEY)
    assert single == Estimate(seconds=19 * 2.0 + 5.0 + 7.0 + 1.0, windows=1, steps_run=19, measured=True, device=KEY)
    double = estimate_job(two, settings, KEY)
    assert double.windows == 2 and double.seconds == pytest.approx(2 * single.seconds)
    fewer = estimate_job(two, settings.replace(steps=10), KEY)
    assert fewer.steps_run == 9 and fewer.seconds == pytest.approx(double.seconds - 2 * 10 * 2.0)
    weaker = estimate_job(one, settings.replace(strength=0.5), KEY)
    assert weaker.steps_run == 10 and weaker.seconds == pytest.approx(10 * 2.0 + 13.0)


def test_tiles_count_at_the_refine_strength() -> None:
    _store(TIMES)
    mask = _mask(1500, 2600, (600, 400, 1500, 900))
    settings = JobSettings(steps=20, context_margin=300)
    plan = plan_regions(mask, frame=512, context_margin=300)
    kinds = [w.kind for w in plan.windows]
    assert GLOBAL in kinds and kinds.count(TILE) >= 2
    found = estimate_job(mask, settings, KEY)
    tile_steps = steps_run(20, settings.refine_strength)
    expected = 19 * 2.0 + kinds.count(TILE) * tile_steps * 2.0 + len(kinds) * 13.0
    assert found.windows == len(kinds) and found.seconds == pytest.approx(expected)


def test_an_empty_mask_takes_no_time() -> None:
    found = estimate_job(np.zeros((300, 400), np.uint8), JobSettings(), KEY)
    assert (found.seconds, found.windows) == (0.0, 0)


def test_recording_a_run_then_estimating_returns_the_measured_numbers() -> None:
    mask = _mask(2000, 3000, (100, 100, 200, 200), (2500, 1500, 2600, 1600))
    settings = JobSettings(steps=10)
    assert not estimate_job(mask, settings, KEY).measured  # nothing recorded yet: a first guess
    # Two windows of 9 steps: 18 steps took 36 s, two encodes 8 s, two decodes 10 s; 60 s in all.
    seconds = {"model.encode": 8.0, "model.denoise": 36.0, "model.decode": 10.0, "total": 60.0}
    record_job(KEY, settings, _result(mask, settings, seconds))
    assert measured_times(KEY) == StageTimes(step=2.0, encode=4.0, decode=5.0, overhead=3.0)
    found = estimate_job(mask, settings, KEY)
    assert found.measured and found.seconds == pytest.approx(60.0)
    assert json.loads(timings_file().read_text())["devices"][KEY]["runs"] == 1
    # Later runs move the record part of the way (a moving average); other devices are separate.
    faster = {name: value / 2 for name, value in seconds.items()}
    record_job(KEY, settings, _result(mask, settings, faster))
    learned = measured_times(KEY)
    assert learned is not None and 1.0 < learned.step < 2.0
    assert learned.step == pytest.approx(2.0 - estimate.LEARNING_RATE * 1.0)
    assert measured_times("cuda|Some GPU|float16/float32") is None


def test_a_run_with_reused_encodes_does_not_teach_the_encode_time() -> None:
    mask = _mask(2000, 3000, (100, 100, 200, 200))
    settings = JobSettings(steps=10)
    encoded = {"model.encode": 4.0, "model.denoise": 18.0, "model.decode": 5.0}
    record_job(KEY, settings, _result(mask, settings, encoded))
    # Another seed on the same frame: the posteriors came from the pipeline's cache.
    reused = {"model.encode": 0.001, "model.denoise": 18.0, "model.decode": 5.0}
    record_job(KEY, settings, _result(mask, settings, reused))
    learned = measured_times(KEY)
    assert learned is not None and learned.encode == 4.0 and learned.step == 2.0


def test_a_classic_run_or_one_without_windows_teaches_nothing() -> None:
    mask = _mask(300, 400, (100, 100, 200, 200))
    seconds = {"model.encode": 4.0, "model.denoise": 18.0, "model.decode": 5.0}
    record_job(KEY, JobSettings(), _result(mask, JobSettings(), seconds, engine="classic"))
    record_job(KEY, JobSettings(), _result(np.zeros((300, 400), np.uint8), JobSettings(), seconds))
    assert not timings_file().exists()


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        '{"version": 99, "devices": {}}',
        json.dumps({"version": 1, "devices": {KEY: {"step": -1, "encode": 1, "decode": 1, "overhead": 0}}}),
        json.dumps({"version": 1, "devices": {KEY: {"step": "fast", "encode": 1, "decode": 1, "overhead": 0}}}),
        json.dumps({"version": 1, "devices": {KEY: {"step": 1e999, "encode": 1, "decode": 1, "overhead": 0}}}),
        json.dumps({"version": 1, "devices": {KEY: {"encode": 1, "decode": 1, "overhead": 0}}}),
    ],
)
def test_a_damaged_file_gives_the_first_guess_and_is_replaced(content: str) -> None:
    path = timings_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    mask = _mask(300, 400, (100, 100, 200, 200))
    settings = JobSettings(steps=10)
    found = estimate_job(mask, settings, KEY)
    assert not found.measured
    assert found.seconds == pytest.approx(_by_formula(mask, settings, first_guess(KEY)))
    seconds = {"model.encode": 4.0, "model.denoise": 18.0, "model.decode": 5.0, "total": 30.0}
    record_job(KEY, settings, _result(mask, settings, seconds))
    assert measured_times(KEY) == StageTimes(step=2.0, encode=4.0, decode=5.0, overhead=3.0)


def test_an_unwritable_record_does_not_fail_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    monkeypatch.setattr(estimate, "data_dir", lambda ensure=False: blocked)
    mask = _mask(300, 400, (100, 100, 200, 200))
    seconds = {"model.encode": 4.0, "model.denoise": 18.0, "model.decode": 5.0}
    record_job(KEY, JobSettings(), _result(mask, JobSettings(), seconds))  # logged, not raised
    assert measured_times(KEY) is None


def test_the_device_key_names_the_device_and_its_number_formats() -> None:
    from backends.device import describe_cpu

    cpu = DeviceInfo("cpu", "float32", "the only device", vae_dtype="float32")
    key = device_key(cpu)
    assert key == f"cpu|{describe_cpu().model}|float32/float32"
    assert device_key(DeviceInfo("cpu", "bfloat16", "", vae_dtype="float32")).endswith("|bfloat16/float32")
    assert device_key(cpu) == key  # stable


def test_first_guesses_follow_the_device_and_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    from backends.device import CpuInfo

    monkeypatch.setattr("backends.device.describe_cpu", lambda: CpuInfo(model="X", threads=2, flags=frozenset()))
    cpu = first_guess("cpu|X|float32/float32")
    assert cpu == StageTimes(**estimate.CPU_FLOAT32)
    assert first_guess("cpu|X|bfloat16/float32").step == pytest.approx(cpu.step * estimate.CPU_BFLOAT16_FACTOR)
    monkeypatch.setattr("backends.device.describe_cpu", lambda: CpuInfo(model="X", threads=8, flags=frozenset()))
    assert first_guess("cpu|X|float32/float32").step == pytest.approx(cpu.step / 4)
    gpu = first_guess("cuda|A GPU|float16/float32")
    assert gpu.step == pytest.approx(632.0 / estimate.GPU_GFLOPS["cuda"]["step"])
    assert gpu.step < cpu.step and gpu.decode < cpu.decode


def test_the_classic_engine_gets_a_small_estimate_without_steps() -> None:
    mask = _mask(2000, 3000, (100, 100, 700, 800))
    settings = JobSettings(engine="classic")
    found = estimate_job(mask, settings, KEY)
    assert found.steps_run == 0 and found.windows == 1 and not found.measured
    assert 0 < found.seconds < estimate_job(mask, JobSettings(engine="moebius"), KEY).seconds / 5


def test_a_real_tiny_engine_run_is_recorded_and_estimated(tmp_path: Path) -> None:
    from tiny_model import write_tiny_model

    from core.inpaint.moebius import MoebiusEngine
    from core.job.request import InpaintRequest

    write_tiny_model(tmp_path)
    engine = MoebiusEngine.from_model_dir(tmp_path / "moebius" / "ft_places2", device="cpu")
    key = device_key(engine.device)
    photo = np.full((600, 900, 3), 120, np.uint8)
    mask = _mask(600, 900, (100, 100, 180, 160), (700, 400, 780, 460))
    settings = JobSettings(steps=3, seed=1, context_margin=64)
    result = engine.inpaint(InpaintRequest(photo, mask, settings))
    assert result.plan is not None and [w.kind for w in result.plan.windows] == [WINDOW, WINDOW]
    record_job(key, settings, result)
    learned = measured_times(key)
    assert learned is not None
    assert learned.step == pytest.approx(result.timings["model.denoise"] / (2 * steps_run(3, settings.strength)))
    assert learned.decode == pytest.approx(result.timings["model.decode"] / 2)
    assert all(value > 0 for value in (learned.step, learned.encode, learned.decode))
    found = estimate_job(mask, settings, key)
    assert found.measured and found.windows == 2
    assert found.seconds == pytest.approx(_by_formula(mask, settings, learned))
