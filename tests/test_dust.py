"""Sensor-dust removal across a shoot: detection, the vote, the masks and the ``dust`` command, on real photos.

The shoot (:mod:`core.bench.dust_shoot`, the benchmark's own) is 24 frames cut from the sample photos, half
of them portrait (EXIF orientation 6 or 8), with soft dark discs of radius 6 px at 8 % darkening at 8 fixed
sensor positions.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.batch.pairing import MASKS_FOLDER_SOURCE, pair_folder
from core.bench.dust_shoot import DUST_SPOTS, SENSOR, busy_crops, make_shoot
from core.cli.main import main
from core.common.cancel import CancelToken
from core.common.errors import CancelledError
from core.dust import find_dust, spot_mask, write_masks
from core.photo.orientation import to_stored, to_upright
from core.photo.read import read_image

RADIUS, CONTRAST = 6.0, 0.08


@pytest.fixture(scope="module")
def shoot(samples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dust") / "shoot"
    make_shoot(folder, samples_dir, radius=RADIUS, contrast=CONTRAST)
    return folder


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.jpg"))}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_sensor_layout_round_trip(orientation: int) -> None:
    array = np.arange(6 * 4).reshape(4, 6)
    upright = to_upright(array, orientation)
    assert np.array_equal(to_stored(upright, orientation), array)
    if orientation >= 5:
        assert upright.shape == (6, 4)


def test_shoot_recall_and_no_false_positives(shoot: Path) -> None:
    report = find_dust(shoot)
    assert len(report.scans) == 24 and not report.skipped
    assert {scan.orientation for scan in report.scans} == {1, 6, 8}
    found = [spot.sensor_pixels(SENSOR) for spot in report.spots]
    matched = {p for p in DUST_SPOTS if any(math.dist(p, (x, y)) <= 2.0 for x, y, _ in found)}
    false = [s for s in found if all(math.dist(p, s[:2]) > 2.0 for p in DUST_SPOTS)]
    assert len(matched) >= 6, f"recall {len(matched)}/8: {found}"
    assert false == []
    for spot in report.spots:
        assert spot.frames_seen >= 3
        assert 0.06 < spot.depth < 0.13
        assert RADIUS - 2 < spot.sensor_pixels(SENSOR)[2] < RADIUS + 3


def test_busy_texture_without_dust_gives_no_masks(samples_dir: Path, tmp_path: Path) -> None:
    busy_crops(tmp_path / "busy", samples_dir)
    # Even with the loosest vote (two frames), fur, flag and suit produce no spot, so no mask.
    report = find_dust(tmp_path / "busy", min_frames=2)
    assert len(report.scans) == 6
    assert report.spots == []
    assert write_masks(report.spots, report.scans, tmp_path / "busy" / "masks") == []
    assert not (tmp_path / "busy" / "masks").exists()


def test_masks_cover_the_dust_in_each_photos_displayed_orientation(shoot: Path) -> None:
    report = find_dust(shoot)
    for scan in report.scans:
        mask = spot_mask(report.spots, scan)
        photo = read_image(scan.path)
        assert mask.shape == photo.pixels.shape[:2]
        # Where each found spot's centre is, upright: the mask covers it, and its disc darkens the photo there.
        for spot in report.spots:
            marker = np.zeros((SENSOR[1], SENSOR[0]), np.uint8)
            x, y, _ = spot.sensor_pixels(SENSOR)
            marker[int(y), int(x)] = 1
            row, column = np.argwhere(to_upright(marker, scan.orientation))[0]
            assert mask[row, column] == 255
        assert 0 < (mask == 255).mean() < 0.05


def test_cli_lists_spots_writes_masks_the_batch_pairs(shoot: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _digests(shoot)
    masks = shoot.parent / "cli_masks"
    assert main(["dust", str(shoot), "--masks-out", str(masks), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["spots"]) >= 6 and result["frames"] == 24
    assert len(result["masks"]) == 24
    pairings = pair_folder(shoot, masks_dir=masks)
    assert [p.source for p in pairings] == [MASKS_FOLDER_SOURCE] * 24
    assert _digests(shoot) == before  # photos untouched
    # Masks that exist are not replaced unless asked.
    assert main(["dust", str(shoot), "--masks-out", str(masks), "-q"]) == 2
    assert "already exist" in capsys.readouterr().err
    assert main(["dust", str(shoot), "--masks-out", str(masks), "-q", "--overwrite"]) == 0
    out = capsys.readouterr().out
    assert "seen in" in out and "moebius-inpaint batch" in out


def test_cli_run_batch_fills_the_dust(samples_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "shoot"
    make_shoot(folder, samples_dir, radius=RADIUS, contrast=0.15, samples=("rocket.jpg",))
    out = tmp_path / "out"
    args = ["dust", str(folder), "-q", "--run-batch", "-o", str(out), "--engine", "classic", "-q"]
    assert main(args) == 0
    assert sorted(p.name for p in (folder / "masks").iterdir()) == [f"rocket_{n}.png" for n in range(6)]
    results = sorted(out.glob("*_inpainted.jpg"))
    assert len(results) == 6
    # The dust was filled: at the planted spots' cores the results are brighter than the sources, by about what
    # the dust took away; away from the masks nothing changed much.
    core = np.zeros((SENSOR[1], SENSOR[0]), np.uint8)
    for x, y in DUST_SPOTS:
        core[y - 3 : y + 4, x - 3 : x + 4] = 1
    gained, elsewhere = [], []
    for result in results:
        source = read_image(folder / result.name.replace("_inpainted", ""))
        filled = read_image(result).pixels.astype(np.float64)
        mask = np.asarray(Image.open(folder / "masks" / f"{result.stem.replace('_inpainted', '')}.png")) > 0
        upright_core = to_upright(core, source.orientation).astype(bool) & mask
        before = source.pixels.astype(np.float64)
        gained.append(filled[upright_core].mean() / before[upright_core].mean())
        elsewhere.append(np.abs(filled[~mask] - before[~mask]).mean())
    assert np.mean(gained) > 1.06, gained
    assert max(elsewhere) < 2.0, elsewhere


def test_cli_bad_input(tmp_path: Path, samples_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dust", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    few = tmp_path / "few"
    make_shoot(few, samples_dir, samples=("coffee.png",), frames=((0.0, 0.0, 0.7, 1), (0.3, 0.3, 0.7, 6)))
    assert main(["dust", str(few), "-q"]) == 2
    assert "needs at least 3" in capsys.readouterr().err
    assert main(["dust", str(few), "--min-frames", "0"]) == 2


def test_cancel_and_progress(shoot: Path) -> None:
    token = CancelToken()
    events = []

    def progress(event: object) -> None:
        events.append(event)
        if len(events) == 3:
            token.cancel()

    with pytest.raises(CancelledError):
        find_dust(shoot, cancel=token, progress=progress)
    assert [(e.stage, e.step, e.total) for e in events] == [("dust", n, 24) for n in (1, 2, 3)]  # type: ignore[attr-defined]


def test_unreadable_photo_is_skipped_not_fatal(shoot: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    for photo in sorted(shoot.glob("rocket_*.jpg")):
        (folder / photo.name).write_bytes(photo.read_bytes())
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    report = find_dust(folder)
    assert list(report.skipped) == [folder / "broken.jpg"]
    assert len(report.scans) == 6 and len(report.spots) >= 4


def test_benchmark_reports_recall_and_false_positives(samples_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.bench import dust as bench
    from core.bench.engine import SECTIONS

    assert SECTIONS["dust"][0] == "core.bench.dust"
    monkeypatch.setenv("MOEBIUS_SAMPLES", str(samples_dir))
    report = bench.run(quick=True)
    (row,) = report["rows"]
    assert (row["radius_px"], row["contrast"], row["planted"]) == (6.0, 0.08, 8)
    assert row["recall"] >= 0.75 and row["false_positives"] == 0
    assert report["busy_false_positives"] == 0 and report["busy_frames"] == 6
    assert report["large_frame"]["size"] == [6000, 4000] and report["large_frame"]["found_in_frame"] >= 1
    lines = bench.describe(report)
    assert any("7/8" in line or "8/8" in line or "6/8" in line for line in lines)
