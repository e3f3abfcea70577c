"""Variations: another seed on the same frame reuses its VAE posteriors and gives the picture a fresh encode gives."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_model import load_tiny_pipeline, random_frame, write_tiny_model

from core.inpaint.encode_cache import EncodeCache, FramePosteriors, Posterior, frame_key
from core.inpaint.moebius import MoebiusEngine
from core.inpaint.pipeline import MoebiusPipeline
from core.inpaint.plan import GLOBAL, TILE, WINDOW
from core.job.request import InpaintRequest
from core.job.settings import JobSettings


@contextmanager
def counting_encodes(pipeline: MoebiusPipeline) -> Iterator[list[int]]:
    """Counts the VAE encoder's forward calls while open (one list entry per call)."""
    calls: list[int] = []
    handle = pipeline.vae.encoder.register_forward_pre_hook(lambda _m, _args: calls.append(1))
    try:
        yield calls
    finally:
        handle.remove()


@pytest.fixture(scope="module")
def model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    write_tiny_model(root)
    return root


def test_another_seed_skips_the_encodes_and_matches_a_fresh_pipeline(tmp_path: Path) -> None:
    image, mask = random_frame()
    cached: MoebiusPipeline = load_tiny_pipeline(tmp_path / "a")
    results: list[np.ndarray] = []
    with counting_encodes(cached) as calls:
        for seed in (7, 8, 7):
            results.append(cached(image, mask, steps=3, seed=seed))
    # Both encodes (image, masked image) ran once, for the first call only.
    assert len(calls) == 2
    assert (cached.encode_cache.misses, cached.encode_cache.hits) == (1, 2)
    assert cached.timings.encode_reused
    assert not np.array_equal(results[0], results[1])
    assert np.array_equal(results[0], results[2])
    # Bit for bit what a pipeline that never saw the frame gives, seed by seed.
    for run, (seed, result) in enumerate(zip((7, 8, 7), results, strict=True)):
        fresh: MoebiusPipeline = load_tiny_pipeline(tmp_path / f"fresh{run}")
        assert np.array_equal(fresh(image, mask, steps=3, seed=seed), result)
        assert not fresh.timings.encode_reused


def test_the_key_is_the_pixels_and_the_binarised_mask(tmp_path: Path) -> None:
    image, mask = random_frame()
    pipeline: MoebiusPipeline = load_tiny_pipeline(tmp_path)
    pipeline(image, mask, steps=1, seed=1)
    # A grey mask value on the same side of the threshold encodes the same masked image: reused.
    softer = np.where(mask > 0, np.uint8(200), np.uint8(0))
    pipeline(image, softer, steps=1, seed=2)
    assert pipeline.timings.encode_reused
    # One more hole pixel, or one changed photo pixel, is another frame.
    grown = mask.copy()
    grown[100, 100] = 255
    pipeline(image, grown, steps=1, seed=2)
    assert not pipeline.timings.encode_reused
    touched = image.copy()
    touched[0, 0, 0] ^= 1
    pipeline(touched, mask, steps=1, seed=2)
    assert not pipeline.timings.encode_reused
    assert len(pipeline.encode_cache) == 3


def test_moving_the_vae_or_changing_its_format_forgets_the_posteriors(tmp_path: Path) -> None:
    image, mask = random_frame()
    pipeline: MoebiusPipeline = load_tiny_pipeline(tmp_path)
    pipeline(image, mask, steps=1, seed=1)
    assert len(pipeline.encode_cache) == 1
    pipeline.device = torch.device("cpu")  # what GuardedPipeline.move_to_cpu does after running out of memory
    assert len(pipeline.encode_cache) == 0
    pipeline(image, mask, steps=1, seed=1)
    pipeline.vae_dtype = torch.float32
    assert len(pipeline.encode_cache) == 0
    pipeline(image, mask, steps=1, seed=1)
    pipeline.vae = pipeline.vae
    assert len(pipeline.encode_cache) == 0
    pipeline(image, mask, steps=1, seed=1)
    pipeline.clear_encode_cache()
    assert len(pipeline.encode_cache) == 0
    # A pipeline told to keep nothing encodes every time.
    pipeline.encode_cache = EncodeCache(0)
    with counting_encodes(pipeline) as calls:
        pipeline(image, mask, steps=1, seed=1)
        pipeline(image, mask, steps=1, seed=2)
    assert len(calls) == 4


def test_the_cache_keeps_the_most_recently_used_frames() -> None:
    cache = EncodeCache(3)
    moments = Posterior(torch.zeros(1), torch.ones(1))
    entry = FramePosteriors(moments, moments)
    fill = np.zeros((4, 4), np.bool_)
    keys = [frame_key(np.full((4, 4, 3), value, np.uint8), fill) for value in range(5)]
    assert len(set(keys)) == 5
    for key in keys[:3]:
        cache.put(key, entry)
    assert cache.get(keys[0]) is entry  # now the most recently used
    cache.put(keys[3], entry)  # drops keys[1], the least recently used
    assert cache.get(keys[1]) is None
    assert cache.get(keys[0]) is entry and cache.get(keys[2]) is entry and cache.get(keys[3]) is entry
    assert len(cache) == 3
    cache.clear()
    assert len(cache) == 0 and cache.get(keys[0]) is None


def _photo_with_several_windows() -> tuple[np.ndarray, np.ndarray]:
    """A 900×2400 photo with two small spots (a window each) and a large area (a reduced pass and two tiles)."""
    height, width = 900, 2400
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    photo = np.clip(
        np.stack([128 + 90 * np.sin(x / 97 + c) * np.cos(y / 71 - c) for c in range(3)], axis=2), 0, 255
    ).astype(np.uint8)
    mask = np.zeros((height, width), np.uint8)
    mask[60:120, 80:150] = 255
    mask[700:760, 800:880] = 255
    mask[300:560, 1500:2200] = 255
    return photo, mask


def test_variations_through_the_engine_match_fresh_runs_with_tiles(model_root: Path) -> None:
    folder = model_root / "moebius" / "ft_places2"
    photo, mask = _photo_with_several_windows()
    settings = JobSettings(steps=2, context_margin=200)
    engine = MoebiusEngine.from_model_dir(folder, device="cpu")
    fresh = MoebiusEngine.from_model_dir(folder, device="cpu")
    fresh.pipeline.encode_cache = EncodeCache(0)
    encoded: list[int] = []
    for seed in (3, 4, 3):
        request = InpaintRequest(photo, mask, settings.replace(seed=seed))
        with counting_encodes(engine.pipeline) as calls:
            result = engine.inpaint(request)
        encoded.append(len(calls) // 2)
        expected = fresh.inpaint(request)
        assert np.array_equal(result.image, expected.image), f"seed {seed} differs from a fresh run"
    plan = result.plan
    assert plan is not None
    kinds = [w.kind for w in plan.windows]
    assert kinds.count(WINDOW) == 2 and kinds.count(GLOBAL) == 1 and kinds.count(TILE) == 2
    # First run: every frame encoded. Second seed: only the tiles, whose input holds the reduced pass's new
    # fill. The first seed again: every frame is one seen before.
    assert encoded == [len(kinds), kinds.count(TILE), 0]
