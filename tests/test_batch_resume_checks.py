"""``moebius-inpaint batch --resume`` trusts an earlier output only while it is the file that was written.

A truncated, edited, replaced or deleted output is made again and the report says why; journals written before
hashes were recorded (size only), and runs that crashed before recording anything, keep working.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.batch import JOURNAL_NAME
from core.cli.main import main


def make_folder(folder: Path, count: int, size: tuple[int, int] = (48, 64)) -> Path:
    """``count`` noisy PNG photos with masks in ``folder/masks``."""
    (folder / "masks").mkdir(parents=True)
    rng = np.random.default_rng(5)
    mask = np.zeros(size, np.uint8)
    mask[size[0] // 4 : size[0] // 2, size[1] // 3 : size[1] // 2] = 255
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
        Image.fromarray(mask).save(folder / "masks" / f"img{i}.png")
    return folder


def batch(capsys: pytest.CaptureFixture[str], folder: Path, out: Path, *extra: str) -> tuple[int, list[dict], str]:
    """Run the command line's batch with ``--json``; returns the status, the JSON lines and stderr."""
    status = main(["batch", str(folder), "-o", str(out), "--engine", "classic", "--json", *extra])
    captured = capsys.readouterr()
    return status, [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")], captured.err


def by_photo(records: list[dict]) -> dict[str, dict]:
    return {Path(r["photo"]).name: r for r in records if r["kind"] == "file"}


def rewrite_journal(out: Path, change: object) -> None:
    """Apply ``change`` (record → record or None to drop it) to every line of the journal."""
    lines = [json.loads(line) for line in (out / JOURNAL_NAME).read_text().splitlines() if line.strip()]
    kept = [new for new in (change(record) for record in lines) if new is not None]  # type: ignore[operator]
    (out / JOURNAL_NAME).write_text("".join(json.dumps(record) + "\n" for record in kept))


def decodes(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            image.load()
    except OSError:
        return False
    return True


def test_truncated_edited_and_deleted_outputs_are_redone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, out = make_folder(tmp_path / "in", 5), tmp_path / "out"
    assert batch(capsys, folder, out)[0] == 0
    written = {p.name: p.read_bytes() for p in out.glob("*_inpainted.png")}
    # The journal holds each output's size and hash.
    journal = [json.loads(line) for line in (out / JOURNAL_NAME).read_text().splitlines()]
    done = [r for r in journal if r.get("status") == "done"]
    assert len(done) == 5 and all(r["bytes"] > 0 and len(r["sha256"]) == 64 for r in done)

    # 1. Damage three outputs: truncated, same size but other bytes, deleted.
    truncated, edited, deleted = out / "img1_inpainted.png", out / "img2_inpainted.png", out / "img3_inpainted.png"
    truncated.write_bytes(written[truncated.name][: len(written[truncated.name]) // 2])
    data = bytearray(written[edited.name])
    data[-20] ^= 0xFF  # one byte inside the last chunk's checksum: same size, other content
    edited.write_bytes(bytes(data))
    deleted.unlink()

    status, records, err = batch(capsys, folder, out, "--resume")

    # 2. Exactly those three are done again, each with its reason; the others are skipped.
    assert status == 0
    files = by_photo(records)
    assert {name: r["status"] for name, r in files.items()} == {
        "img0.png": "skipped", "img1.png": "done", "img2.png": "done", "img3.png": "done", "img4.png": "skipped",
    }  # fmt: skip
    assert "changed since it was written (its size is" in files["img1.png"]["reason"]
    assert files["img1.png"]["reason"].endswith(": redone") and files["img1.png"]["redone"]
    assert "changed since it was written (its content differs) and does not decode" in files["img2.png"]["reason"]
    assert files["img3.png"]["reason"] == "its output is missing: redone"
    assert not files["img0.png"]["redone"]
    summary = records[-1]
    assert summary["kind"] == "summary" and summary["done"] == 3 and summary["redone"] == 3 and summary["skipped"] == 2
    assert "3 of the earlier outputs are missing or damaged: redone" in err
    # 3. The outputs are whole again (the classic fill is deterministic: the very same bytes).
    assert {p.name: p.read_bytes() for p in out.glob("*_inpainted.png")} == written
    # 4. A second resume trusts them all.
    status, records, _ = batch(capsys, folder, out, "--resume")
    assert status == 0 and {r["status"] for r in by_photo(records).values()} == {"skipped"}


def test_the_readable_summary_says_what_was_redone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, out = make_folder(tmp_path / "in", 2), tmp_path / "out"
    assert main(["batch", str(folder), "-o", str(out), "--engine", "classic"]) == 0
    capsys.readouterr()
    target = out / "img0_inpainted.png"
    target.write_bytes(target.read_bytes()[:100])

    assert main(["batch", str(folder), "-o", str(out), "--engine", "classic", "--resume"]) == 0
    captured = capsys.readouterr()

    assert "img0.png: its output changed since it was written" in captured.err
    assert "Batch: 1 done (1 redone: output missing or damaged), 1 skipped (done earlier)" in captured.out
    assert decodes(target)


def test_an_old_journal_without_hashes_is_checked_by_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, out = make_folder(tmp_path / "in", 3), tmp_path / "out"
    assert batch(capsys, folder, out)[0] == 0
    rewrite_journal(out, lambda record: {k: v for k, v in record.items() if k != "sha256"})
    truncated, same_size = out / "img0_inpainted.png", out / "img1_inpainted.png"
    truncated.write_bytes(truncated.read_bytes()[:-10])
    data = bytearray(same_size.read_bytes())
    data[-20] ^= 0xFF
    same_size.write_bytes(bytes(data))

    status, records, _ = batch(capsys, folder, out, "--resume")

    files = by_photo(records)
    assert status == 0
    assert files["img0.png"]["status"] == "done" and "its size is" in files["img0.png"]["reason"]
    # Without a recorded hash, a change that keeps the size cannot be seen: that output is kept as it is.
    assert files["img1.png"]["status"] == "skipped" and same_size.read_bytes() == bytes(data)


def test_a_crash_between_writing_and_recording_is_adopted_only_when_the_output_decodes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, out = make_folder(tmp_path / "in", 3), tmp_path / "out"
    assert batch(capsys, folder, out)[0] == 0
    # As if the run had been killed after writing img0's and img1's outputs but before recording them as done.
    rewrite_journal(out, lambda r: None if r.get("status") == "done" and r["photo"] in ("img0.png", "img1.png") else r)
    damaged = out / "img1_inpainted.png"
    damaged.write_bytes(damaged.read_bytes()[:-40])

    status, records, _ = batch(capsys, folder, out, "--resume")

    files = by_photo(records)
    assert status == 0
    assert files["img0.png"]["status"] == "skipped" and files["img0.png"]["reason"] == "finished before a crash"
    assert files["img1.png"]["status"] == "done"
    assert files["img1.png"]["reason"] == "its output does not decode as an image (it is damaged or truncated): redone"
    assert decodes(damaged)
    # The adopted output is now recorded with its size and hash, like every other.
    journal = [json.loads(line) for line in (out / JOURNAL_NAME).read_text().splitlines()]
    adopted = [r for r in journal if r.get("adopted")]
    assert [r["photo"] for r in adopted] == ["img0.png"] and len(adopted[0]["sha256"]) == 64


def test_an_output_replaced_by_a_folder_fails_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, out = make_folder(tmp_path / "in", 2), tmp_path / "out"
    assert batch(capsys, folder, out)[0] == 0
    (out / "img0_inpainted.png").unlink()
    (out / "img0_inpainted.png").mkdir()

    status, records, _ = batch(capsys, folder, out, "--resume")

    # It cannot be redone (no file can replace a folder), and says so; nothing inside the folder is touched.
    files = by_photo(records)
    assert status == 1 and files["img0.png"]["status"] == "failed" and files["img1.png"]["status"] == "skipped"
    assert (out / "img0_inpainted.png").is_dir()


def test_an_output_touched_up_since_is_kept_and_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, out = make_folder(tmp_path / "in", 2), tmp_path / "out"
    assert batch(capsys, folder, out)[0] == 0
    # A photographer retouches one output by hand and saves it over ours: a whole picture, only not ours.
    touched = out / "img0_inpainted.png"
    pixels = np.asarray(Image.open(touched)).copy()
    pixels[:8, :8] = 0
    Image.fromarray(pixels).save(touched)
    edited = touched.read_bytes()

    status, records, err = batch(capsys, folder, out, "--resume")

    files = by_photo(records)
    assert status == 0 and files["img0.png"]["status"] == "skipped" and files["img0.png"]["kept_changed"]
    assert files["img0.png"]["reason"].startswith("its output changed since it was written")
    assert files["img0.png"]["reason"].endswith("kept as it is (--overwrite makes it again)")
    assert records[-1]["kept_changed"] == 1 and records[-1]["skipped"] == 2
    assert "1 of the earlier outputs changed since they were written but are whole pictures: kept" in err
    assert touched.read_bytes() == edited  # the retouch survives the resume
    # The readable summary says so too.
    assert main(["batch", str(folder), "-o", str(out), "--engine", "classic", "--resume"]) == 0
    captured = capsys.readouterr()
    assert "img0.png: its output changed since it was written" in captured.err
    assert "2 skipped (done earlier; 1 kept though changed since written)" in captured.out
    assert touched.read_bytes() == edited
