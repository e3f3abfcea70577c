"""Pairing photos with masks by the documented conventions, and laying shared masks onto photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.batch import MaskPlacement, Pairing, SharedMasks, is_mask_name, pair_folder, place_mask, seed_for
from core.batch.prepare import BatchOptions
from core.common.errors import BatchInputError
from core.job.settings import JobSettings


def touch(folder: Path, *names: str) -> None:
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def by_name(pairings: list[Pairing]) -> dict[str, Pairing]:
    return {p.photo.name: p for p in pairings}


def test_each_convention_pairs_its_photo(tmp_path: Path) -> None:
    touch(tmp_path, "a.jpg", "masks/a.png", "b.png", "b_mask.png", "c.tif", "c.mask.png", "d.jpg", "masks/e_mask.png")
    touch(tmp_path, "e.webp")
    pairings = by_name(pair_folder(tmp_path))

    assert set(pairings) == {"a.jpg", "b.png", "c.tif", "d.jpg", "e.webp"}  # mask files are never photos
    assert (pairings["a.jpg"].source, pairings["a.jpg"].mask) == ("masks-folder", tmp_path / "masks" / "a.png")
    assert (pairings["b.png"].source, pairings["b.png"].mask) == ("sibling", tmp_path / "b_mask.png")
    assert (pairings["c.tif"].source, pairings["c.tif"].mask) == ("sibling", tmp_path / "c.mask.png")
    assert (pairings["e.webp"].source, pairings["e.webp"].mask) == ("masks-folder", tmp_path / "masks" / "e_mask.png")
    missing = pairings["d.jpg"]
    assert missing.source == "missing" and missing.mask is None and not missing.ready
    assert "No mask found for d.jpg" in (missing.problem() or "")


def test_two_candidates_are_a_conflict_that_names_both(tmp_path: Path) -> None:
    touch(tmp_path, "a.jpg", "masks/a.png", "a_mask.png", "b.jpg", "masks/b.png", "masks/b.jpg")
    pairings = by_name(pair_folder(tmp_path))

    for name, expected in (("a.jpg", {"masks/a.png", "a_mask.png"}), ("b.jpg", {"masks/b.png", "masks/b.jpg"})):
        pairing = pairings[name]
        assert pairing.source == "conflict" and pairing.mask is None and not pairing.ready
        assert {str(c.relative_to(tmp_path)) for c in pairing.candidates} == expected
        problem = pairing.problem() or ""
        assert all(str(tmp_path / c) in problem for c in expected)
    # A front end fixes a conflict by choosing one of them.
    fixed = pairings["a.jpg"].with_mask(tmp_path / "a_mask.png")
    assert fixed.ready and fixed.source == "manual"


def test_chosen_masks_folder_pattern_and_non_images(tmp_path: Path) -> None:
    touch(tmp_path, "in/a.jpg", "in/b.png", "in/notes.txt", "in/.hidden.jpg", "in/sub/c.jpg", "elsewhere/a.png")
    touch(tmp_path, "elsewhere/b.png", "in/masks/a.png")
    pairings = by_name(pair_folder(tmp_path / "in", masks_dir=tmp_path / "elsewhere"))

    assert set(pairings) == {"a.jpg", "b.png", "notes.txt"}  # hidden files and subfolders are not photos
    assert pairings["a.jpg"].mask == tmp_path / "elsewhere" / "a.png"  # the chosen folder replaces masks/
    assert pairings["notes.txt"].source == "not-image"
    only_jpegs = pair_folder(tmp_path / "in", masks_dir=tmp_path / "elsewhere", pattern="*.jpg")
    assert [p.photo.name for p in only_jpegs] == ["a.jpg"]


def test_shared_masks_pair_every_photo_but_not_themselves(tmp_path: Path) -> None:
    touch(tmp_path, "a.jpg", "b.jpg", "dust.png", "masks/a.png")
    shared = SharedMasks(default=tmp_path / "dust.png")
    pairings = pair_folder(tmp_path, shared=shared)

    assert [(p.photo.name, p.source) for p in pairings] == [("a.jpg", "shared"), ("b.jpg", "shared")]


def test_orientation_masks(tmp_path: Path) -> None:
    portrait, landscape, default = tmp_path / "p.png", tmp_path / "l.png", tmp_path / "d.png"
    both = SharedMasks(portrait=portrait, landscape=landscape)
    assert both.for_size(400, 600) == portrait
    assert both.for_size(600, 400) == landscape
    assert both.for_size(500, 500) == landscape  # square frames count as landscape
    assert SharedMasks(default=default, portrait=portrait).for_size(600, 400) == default
    assert SharedMasks(portrait=portrait).for_size(600, 400) is None


def test_missing_folders_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BatchInputError, match="does not exist"):
        pair_folder(tmp_path / "nope")
    with pytest.raises(BatchInputError, match="masks folder"):
        pair_folder(tmp_path, masks_dir=tmp_path / "nope")


def test_mask_names() -> None:
    assert is_mask_name("a_mask.png") and is_mask_name("a.mask.png") and is_mask_name("IMG_1_mask.JPG")
    assert not is_mask_name("a.png") and not is_mask_name("masking.png") and not is_mask_name("a_mask.txt")


def test_place_mask_resize_and_anchor() -> None:
    mask = np.zeros((4, 6), np.uint8)
    mask[0, 0] = 255
    mask[3, 5] = 200
    stretched = place_mask(mask, (8, 12), MaskPlacement())
    assert stretched.shape == (8, 12) and stretched[0, 0] == 255 and stretched[7, 11] == 255

    corner = place_mask(mask, (10, 20), MaskPlacement("anchor", "bottom-right"))
    assert corner.shape == (10, 20)
    np.testing.assert_array_equal(corner[6:, 14:], mask)
    assert int(corner[:6].max()) == 0 and int(corner[:, :14].max()) == 0
    # Larger than the photo: cropped around the anchor, never an error.
    centred = place_mask(np.full((30, 30), 255, np.uint8), (10, 20), MaskPlacement("anchor", "centre"))
    assert centred.shape == (10, 20) and int(centred.min()) == 255
    with pytest.raises(ValueError):
        MaskPlacement("anchor", "middle")


def test_seed_policies() -> None:
    photo = Path("IMG_0001.jpg")
    fixed = BatchOptions(settings=JobSettings(seed=7))
    assert seed_for(fixed, 3, photo) == 7
    index = BatchOptions(settings=JobSettings(seed=7), seed_policy="index")
    assert seed_for(index, 3, photo) == 10
    name = BatchOptions(settings=JobSettings(seed=7), seed_policy="name")
    assert seed_for(name, 3, photo) == seed_for(name, 99, photo) != seed_for(name, 3, Path("IMG_0002.jpg"))
    assert seed_for(BatchOptions(settings=JobSettings(seed=None)), 3, photo) is None
