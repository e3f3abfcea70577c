"""Every entry of a batch folder that is named like a photo ends in the report: done, skipped or failed with a
reason. Broken links, links that loop, folders and pipes named like photos, unreadable files and photos whose
mask is a broken link are real entries on disk here, run through the real command line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.batch import BatchOptions, pair_folder, prepare_batch, run_batch
from core.cli.main import main
from core.inpaint.classic import ClassicEngine
from core.job.settings import JobSettings

SIZE = (40, 56)


def photo(path: Path, seed: int = 0) -> None:
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (*SIZE, 3), dtype=np.uint8)).save(path)


def mask(path: Path) -> None:
    pixels = np.zeros(SIZE, np.uint8)
    pixels[10:20, 10:30] = 255
    Image.fromarray(pixels).save(path)


def awkward_folder(root: Path) -> Path:
    """Two good photos, and every kind of photo-named entry that cannot be read."""
    folder = root / "in"
    (folder / "masks").mkdir(parents=True)
    for i, name in enumerate(["good1.png", "good2.JPG"]):
        photo(folder / name, i)
        mask(folder / "masks" / f"{Path(name).stem}.png")
    (folder / "gone.jpg").symlink_to("nowhere.jpg")  # a broken link
    (folder / "loop.PNG").symlink_to("loop.PNG")  # a link to itself
    (folder / "album.tif").mkdir()  # a folder named like a photo
    os.mkfifo(folder / "pipe.webp")  # a pipe named like a photo
    photo(folder / "linked.png", 3)  # a photo whose mask is a broken link
    (folder / "masks" / "linked.png").symlink_to("deleted-mask.png")
    # Not photos by their names: still not counted (hidden files, a subfolder, a note).
    (folder / ".hidden.jpg").symlink_to("nowhere")
    (folder / "notes.txt").write_text("shoot notes")
    return folder


EXPECTED = {
    "album.tif": ("failed", "is a folder, not a photo file"),
    "gone.jpg": ("failed", "is a broken link (it points to nowhere.jpg, which does not exist)"),
    "good1.png": ("done", None),
    "good2.JPG": ("done", None),
    "linked.png": ("failed", "has one mask, linked.png, and it is a broken link"),
    "loop.PNG": ("failed", "is a link that leads back to itself"),
    "notes.txt": ("ignored", "not a photo"),
    "pipe.webp": ("failed", "is not a regular file (a device, pipe or socket)"),
}


def test_the_command_line_reports_every_photo_named_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = awkward_folder(tmp_path)

    status = main(["batch", str(folder), "-o", str(tmp_path / "out"), "--engine", "classic", "--json"])
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    assert status == 1  # something failed
    files = {Path(r["photo"]).name: r for r in records if r["kind"] == "file"}
    assert sorted(files) == sorted(EXPECTED)
    for name, (state, words) in EXPECTED.items():
        assert files[name]["status"] == state, name
        if words is not None:
            assert words in files[name]["reason"], (name, files[name]["reason"])
    summary = records[-1]
    assert (summary["done"], summary["failed"], summary["ignored"], summary["unpaired"]) == (2, 5, 1, 0)
    outputs = sorted(p.name for p in (tmp_path / "out").glob("*_inpainted*"))
    assert outputs == ["good1_inpainted.png", "good2_inpainted.JPG"]


def test_the_readable_report_names_each_unreadable_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = awkward_folder(tmp_path)

    status = main(["batch", str(folder), "-o", str(tmp_path / "out"), "--engine", "classic"])
    captured = capsys.readouterr()

    assert status == 1
    assert "Batch: 2 done, 5 failed, 1 not images" in captured.out
    for name in ("gone.jpg", "loop.PNG", "album.tif", "pipe.webp", "linked.png"):
        assert f"{name}: failed: {name} " in captured.err, name


def test_a_file_this_user_may_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "in"
    (folder / "masks").mkdir(parents=True)
    for name in ("open.png", "locked.png"):
        photo(folder / name)
        mask(folder / "masks" / name)
    locked = folder / "locked.png"
    locked.chmod(0)
    if os.access(locked, os.R_OK):  # the superuser reads everything: make the check see what a user would
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, m, **k: False if Path(p) == locked else real_access(p, m, **k))

    plan = prepare_batch(pair_folder(folder), tmp_path / "out", BatchOptions(settings=JobSettings(engine="classic")))
    results = {r.photo.name: r for r in run_batch(plan, ClassicEngine())}

    assert results["open.png"].status == "done"
    assert results["locked.png"].status == "failed"
    assert results["locked.png"].reason == "locked.png cannot be read: permission denied; it is not processed."


def test_a_photo_whose_mask_is_a_broken_link_can_be_given_another_mask(tmp_path: Path) -> None:
    folder = awkward_folder(tmp_path)
    replacement = tmp_path / "replacement.png"
    mask(replacement)
    pairings = {p.photo.name: p for p in pair_folder(folder)}

    fixed = pairings["linked.png"].with_mask(replacement)
    assert fixed.ready and fixed.mask == replacement
    # An entry that is itself unreadable stays so, whatever mask it is given.
    assert not pairings["gone.jpg"].with_mask(replacement).ready
