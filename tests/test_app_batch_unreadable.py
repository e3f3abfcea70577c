"""The Batch window shows what core reports about entries it cannot read and outputs it redoes: a broken link
named like a photo is in the table and the summary with its reason, and a resume that finds a damaged output
says so before it starts. (The window drives the same core.batch code as the command line.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fake_engine import FakeEngine
from PIL import Image
from pytestqt.qtbot import QtBot

from app.batch.table import DONE, FAILED, PROBLEM
from app.batch.window import BatchWindow
from app.worker import InferenceService
from core.job.settings import JobSettings

SETTINGS = JobSettings(engine="moebius", steps=3)  # the fake engine stands in for Moebius


@pytest.fixture
def window(qtbot: QtBot) -> Iterator[BatchWindow]:
    engine = FakeEngine()
    service = InferenceService(engine.factory())
    batch = BatchWindow(service, lambda: SETTINGS)

    def close(_window: BatchWindow) -> None:
        engine.release()
        assert service.shutdown()

    qtbot.addWidget(batch, before_close_func=close)
    batch.show()
    qtbot.waitExposed(batch)
    yield batch
    engine.release()


def shoot(folder: Path) -> Path:
    (folder / "masks").mkdir(parents=True)
    rng = np.random.default_rng(0)
    mask = np.zeros((48, 64), np.uint8)
    mask[12:30, 20:44] = 255
    for name in ("a.png", "b.png"):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(folder / name)
        Image.fromarray(mask).save(folder / "masks" / name)
    (folder / "gone.jpg").symlink_to("nowhere.jpg")
    return folder


def run_to_end(qtbot: QtBot, window: BatchWindow) -> None:
    assert window.start() is not None
    qtbot.waitUntil(lambda: window.summary is not None and not window.running, timeout=20_000)


def test_a_broken_link_is_listed_and_summarised_with_its_reason(
    qtbot: QtBot, window: BatchWindow, tmp_path: Path
) -> None:
    folder = shoot(tmp_path / "shoot")
    window.set_inputs([folder])
    row = window.model.row_of(folder / "gone.jpg")
    assert row is not None
    assert window.model.rows[row].state == PROBLEM and "is a broken link" in window.model.rows[row].text

    run_to_end(qtbot, window)

    rows = {r.pairing.photo.name: r.state for r in window.model.rows}
    assert rows == {"a.png": DONE, "b.png": DONE, "gone.jpg": FAILED}
    assert window.summary is not None and window.summary.counts == {"done": 2, "failed": 1}
    assert "1 failed" in window.summary_panel.headline.text()
    (line,) = window.summary_panel.problem_lines()
    assert line.startswith("gone.jpg — failed: gone.jpg is a broken link (it points to nowhere.jpg")


def test_starting_again_after_an_output_was_damaged_redoes_it_and_says_so(
    qtbot: QtBot, window: BatchWindow, tmp_path: Path
) -> None:
    folder = shoot(tmp_path / "shoot")
    (folder / "gone.jpg").unlink()
    window.set_inputs([folder])
    run_to_end(qtbot, window)
    output = folder / "inpainted" / "a_inpainted.png"
    whole = output.read_bytes()
    output.write_bytes(whole[: len(whole) // 3])

    run_to_end(qtbot, window)

    assert "1 of the earlier outputs are missing or damaged: redone" in window.note.text()
    assert window.summary is not None and window.summary.counts == {"done": 1, "redone": 1, "skipped": 1}
    redone = next(r for r in window.results if r.photo.name == "a.png")
    assert redone.redone and "does not decode" in (redone.reason or "")
    with Image.open(output) as image:
        image.load()  # whole again
