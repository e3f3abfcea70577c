"""``moebius-inpaint batch``: a batch killed mid-way and resumed, exit statuses, JSON lines, one model load."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.batch import JOURNAL_NAME
from core.cli.main import main
from core.inpaint import engine as engine_module

REPO = Path(__file__).resolve().parents[1]


def make_folder(folder: Path, count: int, size: tuple[int, int] = (48, 64)) -> Path:
    """``count`` noisy PNG photos with masks in ``folder/masks``."""
    (folder / "masks").mkdir(parents=True)
    rng = np.random.default_rng(0)
    mask = np.zeros(size, np.uint8)
    mask[size[0] // 4 : size[0] // 2, size[1] // 3 : size[1] // 2] = 255
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(folder / f"img{i:02d}.png")
        Image.fromarray(mask).save(folder / "masks" / f"img{i:02d}.png")
    return folder


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_killed_batch_resumes_without_redoing_anything(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, out = make_folder(tmp_path / "in", 50, size=(240, 320)), tmp_path / "out"
    command = [sys.executable, "-m", "core", "batch", str(folder), "-o", str(out), "--engine", "classic", "--json"]
    # 1. Start the batch in its own process and kill it (no chance to clean up) once a few results exist.
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    done_before_kill = 0
    try:
        for line in process.stdout:
            if json.loads(line).get("status") == "done":
                done_before_kill += 1
            if done_before_kill == 3:
                os.kill(process.pid, signal.SIGKILL)
                break
    finally:
        process.stdout.close()
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the batch ended before it could be killed"
    survivors = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("*_inpainted.png")}
    assert 3 <= len(survivors) < 50

    # 2. Resume in this process.
    started = time.time()
    assert main(["batch", str(folder), "-o", str(out), "--engine", "classic", "--json", "--resume"]) == 0
    records = json_lines(capsys.readouterr().out)

    # 3. Every output exists exactly once and is a whole image; nothing else is left in the folder.
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([f"img{i:02d}_inpainted.png" for i in range(50)] + [JOURNAL_NAME, "moebius-batch.lock"])
    for i in range(50):
        with Image.open(out / f"img{i:02d}_inpainted.png") as image:
            image.load()
            assert image.size == (320, 240)
    # 4. Nothing that was done before the kill was done again: same files, untouched, reported as skipped.
    for name, stamp in survivors.items():
        path = out / name
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == stamp, name
    by_photo = {Path(str(r["photo"])).name: r for r in records if r["kind"] == "file"}
    for name in survivors:
        assert by_photo[name.replace("_inpainted", "")]["status"] == "skipped"
    redone = [n for n, r in by_photo.items() if r["status"] == "done"]
    assert len(redone) == 50 - len(survivors)
    assert all((out / n.replace(".png", "_inpainted.png")).stat().st_mtime >= started - 1 for n in redone)
    assert records[-1] == {**records[-1], "kind": "summary", "done": len(redone), "skipped": len(survivors)}
    # The journal says "done" exactly once per photo.
    journal = [json.loads(line) for line in (out / JOURNAL_NAME).read_text().splitlines() if line.endswith("}")]
    done_records = [r["photo"] for r in journal if r.get("status") == "done"]
    assert sorted(done_records) == sorted(f"img{i:02d}.png" for i in range(50))


def test_exit_statuses_and_json_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_folder(tmp_path / "in", 3)
    args = ["batch", str(folder), "--engine", "classic", "--json"]
    assert main([*args, "-o", str(tmp_path / "all")]) == 0
    summary = json_lines(capsys.readouterr().out)[-1]
    assert summary["kind"] == "summary" and summary["done"] == 3 and summary["exit_status"] == 0

    # A damaged photo and a photo without a mask: the others are done, the status is 1.
    (folder / "img01.png").write_bytes(b"garbage")
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(folder / "lonely.png")
    assert main([*args, "-o", str(tmp_path / "some")]) == 1
    statuses = {Path(str(r["photo"])).name: r["status"] for r in json_lines(capsys.readouterr().out)[:-1]}
    assert statuses == {"img00.png": "done", "img01.png": "failed", "img02.png": "done", "lonely.png": "unpaired"}


@pytest.mark.parametrize("case", ["output-parent-is-a-file", "missing-input", "masks-and-orientation"])
def test_bad_input_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    folder = make_folder(tmp_path / "in", 2)
    (tmp_path / "file").write_text("not a folder")
    args = {
        "output-parent-is-a-file": [str(folder), "-o", str(tmp_path / "file" / "out")],
        "missing-input": [str(tmp_path / "nope"), "-o", str(tmp_path / "out")],
        "masks-and-orientation": [str(folder), "--masks", str(folder), "--mask-portrait", "x.png", "-o", "o"],
    }[case]
    assert main(["batch", *args, "--engine", "classic"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if "error:" in line]) == 1


def test_one_model_load_for_the_whole_batch_and_none_when_all_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_folder(tmp_path / "in", 4)
    loads: list[str] = []
    real_load = engine_module.load_engine

    def counting_load(name: str, **kwargs: object) -> object:
        loads.append(name)
        return real_load(name, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(engine_module, "load_engine", counting_load)
    args = ["batch", str(folder), "-o", str(tmp_path / "out"), "--engine", "classic"]
    assert main(args) == 0
    assert loads == ["classic"]
    assert "Batch: 4 done" in capsys.readouterr().out
    assert main([*args, "--resume"]) == 0
    assert loads == ["classic"]  # everything was done already: no engine needed


def test_one_mask_for_all_anchored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for i, shape in enumerate([(40, 60, 3), (80, 120, 3)]):
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / f"p{i}.png")
    logo = np.full((10, 20), 255, np.uint8)
    Image.fromarray(logo).save(tmp_path / "logo.png")
    code = main(
        ["batch", str(folder), "--mask", str(tmp_path / "logo.png"), "--mask-placement", "bottom-right",
         "-o", str(tmp_path / "out"), "--engine", "classic", "--quiet"]
    )  # fmt: skip
    assert code == 0
    for i in range(2):
        with Image.open(folder / f"p{i}.png") as source, Image.open(tmp_path / "out" / f"p{i}_inpainted.png") as out:
            before, after = np.asarray(source), np.asarray(out)
        changed = np.any(before != after, axis=2)
        rows, cols = np.nonzero(changed)
        assert rows.min() >= before.shape[0] - 10 and cols.min() >= before.shape[1] - 20  # only the logo corner
