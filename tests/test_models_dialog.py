"""The Models dialog against the fake Hub on 127.0.0.1: download with its progress bar and cancel, then
verify and remove the installed files."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fake_hub import FakeHub, running_hub, serve_release, tiny_release
from pytestqt.qtbot import QtBot

from app.models_dialog import ModelsDialog


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with running_hub() as server:
        yield server


@pytest.fixture
def dialog(qtbot: QtBot, hub: FakeHub) -> Iterator[ModelsDialog]:
    window = ModelsDialog()
    window.endpoint = hub.url
    qtbot.addWidget(window)
    window.show()
    yield window
    window.shutdown()


def states(dialog: ModelsDialog) -> dict[str, str]:
    return {dialog.table.item(r, 0).text(): dialog.table.item(r, 3).text() for r in range(dialog.table.rowCount())}


def select(dialog: ModelsDialog, name: str) -> None:
    row = next(r for r in range(dialog.table.rowCount()) if dialog.table.item(r, 0).text() == name)
    dialog.table.selectRow(row)
    assert dialog.selected_model() == name


def test_download_shows_progress_and_can_be_cancelled(dialog: ModelsDialog, hub: FakeHub, qtbot: QtBot) -> None:
    served = serve_release(hub, tiny_release())
    # A pause after the first block: long enough to press Cancel while the file is half there.
    served["ft_places2/diffusion_pytorch_model.bin"].stall_seconds = 2.0
    select(dialog, "ft_places2")
    assert not dialog.verify_button.isEnabled() and not dialog.remove_button.isEnabled()  # nothing installed
    dialog.download_button.click()
    assert dialog.progress.isVisible() and dialog.cancel_button.isEnabled()
    assert not dialog.download_button.isEnabled() and not dialog.import_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.progress.value() > 0, timeout=15_000)  # the first block is in
    assert re.fullmatch(r"\d+\.\d of \d+\.\d MB", dialog.progress.format()), dialog.progress.format()
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: dialog.task_thread is None, timeout=15_000)
    assert "Cancelled" in dialog.status.text()
    assert not dialog.progress.isVisible()
    assert states(dialog)["ft_places2"] != "installed"

    served["ft_places2/diffusion_pytorch_model.bin"].stall_seconds = 0.0
    select(dialog, "ft_places2")
    dialog.download_button.click()
    qtbot.waitUntil(lambda: dialog.task_thread is None, timeout=30_000)
    assert "installed" in dialog.status.text(), dialog.status.text()
    assert states(dialog)["ft_places2"].startswith("installed") and states(dialog)["vae"].startswith("installed")
    assert not dialog.cancel_button.isEnabled() and dialog.verify_button.isEnabled()


def test_verify_and_remove_an_installed_model(
    dialog: ModelsDialog, hub: FakeHub, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fake_hub import install_tiny_model

    from core.common.paths import models_dir

    install_tiny_model(models_dir())
    dialog.refresh()
    select(dialog, "ft_places2")
    assert dialog.verify_button.isEnabled() and dialog.remove_button.isEnabled()
    dialog.verify_button.click()
    qtbot.waitUntil(lambda: dialog.task_thread is None, timeout=30_000)
    assert "ft_places2 is intact" in dialog.status.text(), dialog.status.text()

    # A damaged file fails verification with a readable message.
    weights = next((models_dir() / "moebius" / "ft_places2").glob("diffusion_pytorch_model.*"))
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    dialog.verify_button.click()
    qtbot.waitUntil(lambda: dialog.task_thread is None, timeout=30_000)
    assert "failed verification" in dialog.status.text(), dialog.status.text()

    monkeypatch.setattr(dialog, "confirm_remove", lambda name: False)
    dialog.remove_button.click()
    assert dialog.task_thread is None and states(dialog)["ft_places2"].startswith("installed")
    monkeypatch.setattr(dialog, "confirm_remove", lambda name: True)
    dialog.remove_button.click()
    qtbot.waitUntil(lambda: dialog.task_thread is None, timeout=30_000)
    assert "Removed ft_places2" in dialog.status.text()
    assert states(dialog)["ft_places2"] == "not installed"
    assert not dialog.remove_button.isEnabled()
