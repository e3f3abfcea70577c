"""Running batches in-process with the classic engine (and the tiny Moebius model): results, failures that do
not stop the batch, refusals before any work, resume and settings changes, cancel, pause and the reader thread."""

from __future__ import annotations

import errno
import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.batch import (
    JOURNAL_NAME,
    BatchOptions,
    BatchProgress,
    FileResult,
    SharedMasks,
    pair_folder,
    prepare_batch,
    read_journal,
    run_batch,
)
from core.common.cancel import CancelToken
from core.common.errors import BatchInputError, BatchSettingsChangedError
from core.common.progress import ProgressCallback
from core.inpaint.classic import ClassicEngine
from core.inpaint.result import InpaintResult
from core.job.request import InpaintRequest
from core.job.settings import JobSettings

CLASSIC = JobSettings(engine="classic")


def make_folder(folder: Path, count: int, *, size: tuple[int, int] = (48, 64), ext: str = ".png") -> Path:
    """``count`` photos with masks in ``folder/masks``; returns the folder."""
    (folder / "masks").mkdir(parents=True)
    rng = np.random.default_rng(count)
    for i in range(count):
        pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"photo{i:03d}{ext}")
        mask = np.zeros(size, np.uint8)
        mask[size[0] // 4 : size[0] // 2, size[1] // 4 : size[1] // 2] = 255
        Image.fromarray(mask).save(folder / "masks" / f"photo{i:03d}.png")
    return folder


def run_all(folder: Path, out: Path, options: BatchOptions | None = None, **kwargs: object) -> list[FileResult]:
    options = options or BatchOptions(settings=CLASSIC)
    plan = prepare_batch(pair_folder(folder), out, options)
    return list(run_batch(plan, ClassicEngine(), **kwargs))  # type: ignore[arg-type]


def test_results_keep_format_and_metadata_and_leave_originals_alone(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    (folder / "masks").mkdir(parents=True)
    rng = np.random.default_rng(1)
    exif = Image.Exif()
    exif[0x010F] = "Batch camera"
    Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)).save(folder / "a.jpg", exif=exif.tobytes())
    Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)).save(folder / "b.png")
    mask = np.zeros((40, 60), np.uint8)
    mask[10:20, 10:30] = 255
    for stem in ("a", "b"):
        Image.fromarray(mask).save(folder / "masks" / f"{stem}.png")
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}

    results = run_all(folder, tmp_path / "out")

    assert [(r.photo.name, r.status) for r in results] == [("a.jpg", "done"), ("b.png", "done")]
    with Image.open(tmp_path / "out" / "a_inpainted.jpg") as image:
        assert image.format == "JPEG" and image.getexif().get(0x010F) == "Batch camera"
    with Image.open(tmp_path / "out" / "b_inpainted.png") as image:
        assert image.format == "PNG"
        result = np.asarray(image.convert("RGB"))
    with Image.open(folder / "b.png") as image:
        source = np.asarray(image.convert("RGB"))
    keep = mask < 128
    np.testing.assert_array_equal(result[keep], source[keep])
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before


def test_damaged_and_foreign_files_are_reported_and_the_batch_goes_on(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "in", 3)
    (folder / "photo001.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # a truncated PNG
    (folder / "zz.jpg").write_bytes(b"this is not a JPEG")
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(folder / "masks" / "zz.png")
    (folder / "readme.txt").write_text("shoot notes")
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(folder / "masks" / "photo002.png")  # wrong size

    results = {r.photo.name: r for r in run_all(folder, tmp_path / "out")}

    assert {name: r.status for name, r in results.items()} == {
        "photo000.png": "done",
        "photo001.png": "failed",
        "photo002.png": "failed",
        "readme.txt": "ignored",
        "zz.jpg": "failed",
    }
    assert "photo001.png" in (results["photo001.png"].reason or "")
    assert "5×5" in (results["photo002.png"].reason or "")
    state = read_journal(tmp_path / "out")
    assert state.status("zz.jpg") == "failed" and state.status("photo000.png") == "done"
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["photo000_inpainted.png"]


@pytest.mark.parametrize("where", ["parent-is-a-file", "missing-parent", "input-folder"])
def test_unusable_output_folders_are_refused_before_any_work(tmp_path: Path, where: str) -> None:
    folder = make_folder(tmp_path / "in", 2)
    (tmp_path / "file").write_text("x")
    out = {
        "parent-is-a-file": tmp_path / "file" / "out",
        "missing-parent": tmp_path / "no" / "such" / "out",
        "input-folder": folder,
    }[where]
    with pytest.raises(BatchInputError):
        prepare_batch(pair_folder(folder), out, BatchOptions(settings=CLASSIC))
    assert not list(folder.glob("*_inpainted*"))


def test_a_read_only_output_folder_is_named_once_with_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_folder(tmp_path / "in", 1)
    locked = tmp_path / "locked"
    locked.mkdir()
    real_open = os.open

    # Refuse new files the way a read-only disk does (chmod would not stop root).
    def refusing_open(path: str | os.PathLike[str], flags: int, *args: int, **kwargs: object) -> int:
        if Path(path).parent == locked and flags & os.O_CREAT:
            raise PermissionError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refusing_open)
    with pytest.raises(BatchInputError) as caught:
        prepare_batch(pair_folder(folder), locked, BatchOptions(settings=CLASSIC))
    message = caught.value.message
    assert message == f"The output folder {locked} is read-only, so no results can be written there."
    assert "Choose another output folder" in (caught.value.hint or "")
    assert list(locked.iterdir()) == []


def test_output_names_by_template_and_clashes(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "in", 1)
    Image.open(folder / "photo000.png").convert("RGB").save(folder / "photo000.jpg")
    plan = prepare_batch(pair_folder(folder), tmp_path / "out", BatchOptions(settings=CLASSIC, template="{stem}.png"))
    actions = [(f.pairing.photo.name, f.action) for f in plan.files]
    assert actions == [("photo000.jpg", "process"), ("photo000.png", "leave-out")]
    assert "same as that of photo000.jpg" in (plan.files[1].reason or "")
    with pytest.raises(BatchInputError, match="template"):
        prepare_batch(pair_folder(folder), tmp_path / "out", BatchOptions(settings=CLASSIC, template="{size}.png"))


def test_resume_skips_done_and_refuses_changed_settings(tmp_path: Path) -> None:
    folder, out = make_folder(tmp_path / "in", 4), tmp_path / "out"
    assert {r.status for r in run_all(folder, out)} == {"done"}
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}

    # Without --resume the folder is not touched; with it, nothing is redone.
    with pytest.raises(BatchInputError, match="already holds a batch") as refused:
        run_all(folder, out)
    assert "--resume" in refused.value.user_message()
    again = run_all(folder, out, BatchOptions(settings=CLASSIC, resume=True))
    assert {r.status for r in again} == {"skipped"}
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")} == stamps

    # Other settings: refused with the difference named, or everything redone with overwrite.
    changed = JobSettings(engine="classic", context_margin=64)
    with pytest.raises(BatchSettingsChangedError, match="context_margin 128"):
        run_all(folder, out, BatchOptions(settings=changed, resume=True))
    redone = run_all(folder, out, BatchOptions(settings=changed, resume=True, overwrite=True))
    assert {r.status for r in redone} == {"done"}


def test_shared_mask_for_every_photo(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(2)
    for name, shape in (("tall.png", (60, 40, 3)), ("wide.png", (40, 60, 3))):
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / name)
    spot = np.zeros((10, 10), np.uint8)
    spot[2:5, 2:5] = 255
    Image.fromarray(spot).save(tmp_path / "spot.png")
    shared = SharedMasks(portrait=tmp_path / "spot.png")
    plan = prepare_batch(
        pair_folder(folder, shared=shared), tmp_path / "out", BatchOptions(settings=CLASSIC), shared=shared
    )

    results = {r.photo.name: r for r in run_batch(plan, ClassicEngine())}

    assert results["tall.png"].status == "done" and results["tall.png"].mask == tmp_path / "spot.png"
    assert results["wide.png"].status == "failed" and "landscape" in (results["wide.png"].reason or "")


class SlowEngine:
    """The classic engine, cancelling the batch during the photo number ``cancel_at`` (1-based)."""

    name = "classic"

    def __init__(self, token: CancelToken, cancel_at: int) -> None:
        self.calls = 0
        self.token, self.cancel_at = token, cancel_at

    def inpaint(
        self, request: InpaintRequest, progress: ProgressCallback | None = None, cancel: CancelToken | None = None
    ) -> InpaintResult:
        self.calls += 1
        if self.calls == self.cancel_at:
            self.token.cancel()
        return ClassicEngine().inpaint(request, progress, cancel)


def test_cancel_stops_cleanly_and_resume_redoes_only_the_rest(tmp_path: Path) -> None:
    folder, out = make_folder(tmp_path / "in", 6), tmp_path / "out"
    token = CancelToken()
    plan = prepare_batch(pair_folder(folder), out, BatchOptions(settings=CLASSIC, read_ahead=2))
    events: list[BatchProgress] = []

    results = list(run_batch(plan, SlowEngine(token, cancel_at=3), cancel=token, progress=events.append))

    assert [r.status for r in results] == ["done", "done", "cancelled"]
    assert sorted(p.name for p in out.glob("*.png")) == ["photo000_inpainted.png", "photo001_inpainted.png"]
    assert not list(out.glob(".*.tmp"))
    assert events[0].finished == 0 and events[-1].total == 6
    assert any(e.eta_s is not None for e in events)

    resumed = run_all(folder, out, BatchOptions(settings=CLASSIC, resume=True))
    assert [r.status for r in resumed] == ["skipped", "skipped", "done", "done", "done", "done"]


def test_closing_the_generator_early_joins_the_reader(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "in", 5)
    plan = prepare_batch(pair_folder(folder), tmp_path / "out", BatchOptions(settings=CLASSIC, read_ahead=3))
    results = run_batch(plan, ClassicEngine())
    first = next(results)
    assert any(t.name.startswith("moebius-batch-reader") for t in threading.enumerate())
    results.close()
    assert first.status == "done"
    assert not any(t.name.startswith("moebius-batch-reader") for t in threading.enumerate())
    # The lock is released, so the batch can be resumed at once.
    assert [r.status for r in run_all(folder, tmp_path / "out", BatchOptions(settings=CLASSIC, resume=True))] == [
        "skipped",
        "done",
        "done",
        "done",
        "done",
    ]


def test_pause_holds_the_batch_between_photos(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "in", 2)
    plan = prepare_batch(pair_folder(folder), tmp_path / "out", BatchOptions(settings=CLASSIC))
    pause = threading.Event()
    results = run_batch(plan, ClassicEngine(), pause=pause)
    assert next(results).status == "done"
    pause.set()
    timer = threading.Timer(0.3, pause.clear)
    timer.start()
    try:
        second = next(results)
    finally:
        timer.join()
    assert second.status == "done" and not pause.is_set()
    results.close()


def test_journal_survives_a_line_cut_short(tmp_path: Path) -> None:
    folder, out = make_folder(tmp_path / "in", 2), tmp_path / "out"
    run_all(folder, out)
    journal = out / JOURNAL_NAME
    with journal.open("a", encoding="utf-8") as handle:
        handle.write('{"kind": "file", "photo": "photo000.png", "sta')  # a crash in the middle of a record
    state = read_journal(out)
    assert state.damaged_lines == 1 and state.done_count() == 2
    assert {r.status for r in run_all(folder, out, BatchOptions(settings=CLASSIC, resume=True))} == {"skipped"}
    lines = journal.read_text(encoding="utf-8").splitlines()
    assert sum(1 for line in lines if line.startswith('{"kind": "batch"')) == 2
    assert all(json.loads(line) for line in lines if not line.endswith('"sta'))


def test_tiny_moebius_model_on_512_photos(tmp_path: Path) -> None:
    from tiny_model import write_tiny_model

    from core.inpaint.engine import load_engine

    folder = make_folder(tmp_path / "in", 2, size=(512, 512), ext=".jpg")
    model_dir = write_tiny_model(tmp_path / "models", fmt="safetensors")
    settings = JobSettings(engine="moebius", steps=2, guidance=1.0, seed=5)  # one UNet row: half the work
    plan = prepare_batch(pair_folder(folder), tmp_path / "out", BatchOptions(settings=settings, seed_policy="index"))
    engine = load_engine("moebius", model_dir=str(model_dir), device="cpu")

    results = list(run_batch(plan, engine))

    assert [(r.status, r.seed) for r in results] == [("done", 6), ("done", 7)]
    for result in results:
        assert result.output is not None
        with Image.open(result.output) as image:
            assert image.format == "JPEG" and image.size == (512, 512)


def test_resume_adopts_an_output_finished_just_before_a_crash(tmp_path: Path) -> None:
    folder, out = make_folder(tmp_path / "in", 3), tmp_path / "out"
    run_all(folder, out)
    # As if the run had been killed after writing photo001's output but before recording it as done, and in
    # the middle of writing photo002's (a hidden temporary file is all that is left of that).
    stamp = (out / "photo001_inpainted.png").stat().st_mtime_ns
    with (out / JOURNAL_NAME).open("a", encoding="utf-8") as handle:
        for photo in ("photo001.png", "photo002.png"):
            handle.write(
                json.dumps(
                    {"kind": "file", "photo": photo, "status": "started", "output": photo[:-4] + "_inpainted.png"}
                )
                + "\n"
            )
    (out / "photo002_inpainted.png").unlink()
    (out / ".photo002_inpainted.png.0123abcd.tmp").write_bytes(b"half")

    results = run_all(folder, out, BatchOptions(settings=CLASSIC, resume=True))

    assert [(r.status, r.reason) for r in results] == [
        ("skipped", "done by an earlier run"),
        ("skipped", "finished before a crash"),
        ("done", None),
    ]
    assert (out / "photo001_inpainted.png").stat().st_mtime_ns == stamp
    assert not list(out.glob(".*.tmp"))
    assert read_journal(out).files["photo001.png"] == {**read_journal(out).files["photo001.png"], "adopted": True}
