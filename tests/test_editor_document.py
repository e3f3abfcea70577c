"""The editor's document on its own, without a window: pixels and versions, mask edits as undo steps, the saved
state, results under review, accept and undo. Real files are written and read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from fake_engine import FILL
from PIL import Image
from PySide6.QtCore import QRect

from app.editor.document import EditorDocument, default_output_path
from core.common.errors import MoebiusError
from core.inpaint.result import InpaintResult
from core.job.request import InpaintRequest
from core.job.settings import JobSettings
from core.photo.photo import Photo
from core.photo.read import read_image

pytestmark = pytest.mark.usefixtures("qapp")

U8 = npt.NDArray[np.uint8]
WIDTH, HEIGHT = 80, 60


def photo_pixels() -> U8:
    rng = np.random.default_rng(7)
    return rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)


def opened(tmp_path: Path, mask: U8 | None = None) -> tuple[EditorDocument, Path]:
    """A document with a real PNG opened from ``tmp_path``."""
    path = tmp_path / "shot.png"
    Image.fromarray(photo_pixels()).save(path)
    document = EditorDocument()
    document.open(path, read_image(path), mask)
    return document, path


def box_mask() -> U8:
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[10:30, 20:50] = 255
    return mask


def filled_result(document: EditorDocument, seed: int = 3) -> tuple[InpaintRequest, InpaintResult]:
    """What an engine would return for the document's current mask: the mask filled with :data:`FILL`."""
    assert document.pixels is not None
    request = InpaintRequest(document.pixels, document.mask.copy(), JobSettings(steps=2, seed=seed))
    image = request.image.copy()
    image[request.mask >= 128] = FILL
    return request, InpaintResult(image, seed, "fake", {"total": 0.5})


def test_a_new_document_has_nothing_open() -> None:
    document = EditorDocument()
    assert not document.has_photo and not document.has_mask and not document.has_unsaved_changes
    assert document.save_target is None and document.pending_result is None
    with pytest.raises(RuntimeError):
        _ = document.mask
    assert not document.invert_mask() and not document.clear_mask()


def test_opening_gives_the_photo_its_mask_and_a_clean_state(tmp_path: Path) -> None:
    document, path = opened(tmp_path, box_mask())
    opened_signals: list[None] = []
    document.opened.connect(lambda: opened_signals.append(None))
    assert document.path == path and document.photo is not None
    np.testing.assert_array_equal(document.pixels, photo_pixels())
    np.testing.assert_array_equal(document.mask, box_mask())
    assert document.mask_image is not None and document.mask_image.size().width() == WIDTH
    assert not document.has_unsaved_changes and document.undo_stack.count() == 0
    assert document.save_target == tmp_path / "shot_inpainted.png" == default_output_path(path)

    # Another photo, of the same size: its own empty mask, no undo steps and no results of the first one.
    document.replace_mask(np.full((HEIGHT, WIDTH), 255, np.uint8), "Fill")
    other = tmp_path / "other.png"
    Image.fromarray(photo_pixels()[::-1].copy()).save(other)
    document.open(other, read_image(other))
    assert opened_signals == [None]
    assert not document.has_mask and document.undo_stack.count() == 0 and len(document.history) == 0


def test_the_mask_view_is_the_image_the_canvas_draws(tmp_path: Path) -> None:
    document, _ = opened(tmp_path)
    document.mask[5, 7] = 200
    image = document.mask_image
    assert image is not None
    assert image.pixelColor(7, 5).alpha() == 200  # no copy between the array and the QImage


def test_a_painted_edit_is_one_undo_step_and_repaints_on_undo(tmp_path: Path) -> None:
    document, _ = opened(tmp_path)
    repainted: list[QRect] = []
    document.mask_changed.connect(repainted.append)
    rect = QRect(20, 10, 30, 20)
    before = document.mask[10:30, 20:50].copy()
    document.mask[12:20, 25:40] = 255  # what a brush does while it moves: straight into the array
    assert document.record_mask_edit(rect, before, "Brush stroke")
    assert document.undo_stack.count() == 1 and document.undo_stack.undoText() == "Brush stroke"
    assert not repainted  # the brush repainted as it went; pushing the step does not rewrite the mask

    document.undo_stack.undo()
    assert not document.has_mask and repainted == [rect]
    document.undo_stack.redo()
    assert document.mask[15, 30] == 255
    # Nothing changed: no step.
    assert not document.record_mask_edit(rect, document.mask[10:30, 20:50].copy(), "Brush stroke")
    assert document.undo_stack.count() == 1


def test_clear_invert_grow_and_shrink_are_one_step_each(tmp_path: Path) -> None:
    document, _ = opened(tmp_path, box_mask())
    area = int((document.mask > 0).sum())
    assert document.grow_mask(4) and int((document.mask > 0).sum()) > area
    assert document.grow_mask(-8) and int((document.mask > 0).sum()) < area
    assert document.invert_mask() and document.mask[0, 0] == 255
    assert document.clear_mask() and not document.has_mask
    assert not document.clear_mask()  # already empty: no step
    assert document.undo_stack.count() == 4
    for _ in range(4):
        document.undo_stack.undo()
    np.testing.assert_array_equal(document.mask, box_mask())


def test_accepting_a_result_changes_the_pixels_clears_the_mask_and_undoes_in_one_step(tmp_path: Path) -> None:
    document, _ = opened(tmp_path, box_mask())
    original = document.pixels
    assert original is not None
    request, result = filled_result(document)
    entry = document.add_result(request, result)
    assert entry is not None and entry.rect == QRect(20, 10, 30, 20)  # only the changed box is kept
    assert entry.before.shape == (20, 30, 3)
    assert document.start_review(entry)
    pending = document.pending_result
    assert pending is not None and pending.seed == 3 and tuple(pending.image[15, 30]) == FILL
    assert document.pixels is original  # reviewing changes nothing

    changed: list[QRect] = []
    document.pixels_changed.connect(changed.append)
    document.accept(entry)
    pixels = document.pixels
    assert pixels is not None and pixels is not original  # a new array: a job or a save may hold the old one
    assert tuple(pixels[15, 30]) == FILL and np.array_equal(pixels[40:], original[40:])
    assert not document.has_mask and document.reviewed is None and entry.accepted
    assert document.has_unsaved_changes and changed == [entry.rect]
    assert document.undo_stack.count() == 1

    document.undo_stack.undo()
    np.testing.assert_array_equal(document.pixels, original)
    np.testing.assert_array_equal(document.mask, box_mask())
    assert not document.has_unsaved_changes  # back to the content that was opened
    document.undo_stack.redo()
    assert document.has_unsaved_changes and tuple(document.pixels[15, 30]) == FILL


def test_a_result_for_another_photo_is_not_recorded(tmp_path: Path) -> None:
    document, _ = opened(tmp_path, box_mask())
    request, result = filled_result(document)
    small = InpaintResult(result.image[:10, :10].copy(), 3, "fake")
    assert document.add_result(request, small) is None
    assert len(document.history) == 0


def test_discard_and_eviction_end_the_review(tmp_path: Path) -> None:
    document, _ = opened(tmp_path, box_mask())
    document.history.max_entries = 1
    first = document.add_result(*filled_result(document, seed=1))
    assert first is not None and document.start_review(first)
    second = document.add_result(*filled_result(document, seed=2))
    assert second is not None
    assert document.reviewed is None and document.history.entries == [second]  # the first was evicted
    assert not document.start_review(first)
    assert document.start_review(second)
    document.discard(second)
    assert document.reviewed is None and len(document.history) == 0
    assert document.has_mask  # the mask stays for another try


def test_saving_writes_the_photo_and_marks_it_saved(tmp_path: Path) -> None:
    document, path = opened(tmp_path, box_mask())
    entry = document.add_result(*filled_result(document))
    assert entry is not None
    document.accept(entry)
    target = document.save_target
    assert target is not None
    written = document.save_to(target)
    assert written == target == document.last_saved and document.save_target == target
    assert not document.has_unsaved_changes
    saved = np.asarray(Image.open(written).convert("RGB"))
    assert tuple(saved[15, 30]) == FILL
    np.testing.assert_array_equal(saved[40:], photo_pixels()[40:])
    assert document.is_original(path) and not document.is_original(written)

    # Undoing after the save is a change again; writing over an existing file needs overwrite.
    document.undo_stack.undo()
    assert document.has_unsaved_changes
    with pytest.raises(MoebiusError):
        document.save_to(written)
    assert document.has_unsaved_changes and document.last_saved == written


def test_exported_mask_is_black_and_white(tmp_path: Path) -> None:
    document, _ = opened(tmp_path, box_mask())
    written = document.export_mask(tmp_path / "mask.png")
    np.testing.assert_array_equal(np.asarray(Image.open(written).convert("L")), box_mask())


def test_mark_clean_takes_the_photo_as_saved(tmp_path: Path) -> None:
    document, _ = opened(tmp_path, box_mask())
    entry = document.add_result(*filled_result(document))
    assert entry is not None
    document.accept(entry)
    assert document.has_unsaved_changes
    document.mark_clean()
    assert not document.has_unsaved_changes


def test_a_photo_made_in_memory_opens_too(tmp_path: Path) -> None:
    document = EditorDocument()
    document.open(tmp_path / "made.png", Photo(photo_pixels(), None, "PNG", "RGB"))
    assert document.has_photo and document.mask.shape == (HEIGHT, WIDTH)
