"""The Batch window's "Run on" choice: a batch filled by a local Ray cluster, with photos done per node shown,
and the choice turned off (saying how to install Ray) when Ray is missing."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pytestqt.qtbot import QtBot

import app.batch.output_form as output_form
from app.batch.output_form import LOCAL_CLUSTER
from app.batch.window import BatchWindow
from app.worker import InferenceService
from core.job.settings import JobSettings

CLASSIC = JobSettings(engine="classic")


def make_window(qtbot: QtBot) -> BatchWindow:
    service = InferenceService(None)
    window = BatchWindow(service, lambda: CLASSIC)
    qtbot.addWidget(window, before_close_func=lambda _window: service.shutdown())
    window.show()
    qtbot.waitExposed(window)
    return window


def make_shoot(folder: Path, count: int) -> Path:
    (folder / "masks").mkdir(parents=True)
    rng = np.random.default_rng(3)
    mask = np.zeros((48, 64), np.uint8)
    mask[12:30, 20:44] = 255
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(folder / f"p{i}.png")
        Image.fromarray(mask).save(folder / "masks" / f"p{i}.png")
    return folder


def test_batch_window_runs_on_a_local_ray_cluster(qtbot: QtBot, tmp_path: Path) -> None:
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    window = make_window(qtbot)
    shoot = make_shoot(tmp_path / "shoot", 4)
    window.set_inputs([shoot])
    window.output_edit.setText(str(tmp_path / "out"))
    form = window.output_form
    assert form.run_on.isEnabled()
    form.run_on.setCurrentIndex(form.run_on.findData(LOCAL_CLUSTER))
    form.actors.setValue(2)

    job = window.start()

    assert job is not None and getattr(job, "cluster", None) is not None
    assert not form.run_on.isEnabled()  # locked while it runs
    qtbot.waitUntil(lambda: window.summary is not None and not window.running, timeout=90_000)
    assert window.summary is not None and window.summary.counts == {"done": 4}
    for i in range(4):
        with Image.open(tmp_path / "out" / f"p{i}_inpainted.png") as image:
            assert image.size == (64, 48)
    label = window.run_controls.nodes_label
    assert label.isVisible() and label.text().startswith("On the cluster: ") and "4 done" in label.text()
    assert not {r.node for r in window.results} & {""}


def test_run_on_is_off_and_says_how_to_install_without_ray(qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output_form, "ray_available", lambda: False)
    window = make_window(qtbot)

    assert not window.output_form.run_on.isEnabled()
    assert "pip install 'moebius-studio[cluster]'" in window.output_form.run_on.toolTip()
    assert window.output_form.cluster_spec() is None
