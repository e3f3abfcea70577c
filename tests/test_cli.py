"""The moebius-inpaint command, run in-process: results on the sample photos, one clear line per mistake."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PIL.JpegImagePlugin import JpegImageFile

from core.cli import main as cli
from core.cli.main import main
from core.cli.reporting import ProgressBar
from core.common.cancel import CancelToken
from core.common.errors import CancelledError
from core.common.progress import ProgressEvent

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO.parent / "shared" / "samples"
needs_samples = pytest.mark.usefixtures("samples_dir")  # fails (never skips) without ../shared/samples
SAMPLE_NAMES = ["coffee.png", "chelsea.png", "rocket.jpg", "astronaut.png"]


def sample(name: str) -> tuple[Path, Path]:
    return SAMPLES / name, SAMPLES / (Path(name).stem + "_mask.png")


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def one_error_line(err: str) -> str:
    """The stderr of a failed run: exactly one line, the error, and no traceback."""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("moebius-inpaint: error: ")]
    assert len(errors) == 1, err
    return errors[0]


@pytest.fixture
def photo(tmp_path: Path) -> tuple[Path, Path]:
    """A small photo and a matching mask made by the test."""
    image_path, mask_path = tmp_path / "photo.png", tmp_path / "photo_mask.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)).save(image_path)
    mask = np.zeros((40, 60), np.uint8)
    mask[10:20, 15:30] = 255
    Image.fromarray(mask).save(mask_path)
    return image_path, mask_path


@needs_samples
@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_classic_engine_on_every_sample(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image_path, mask_path = sample(name)
    before = file_hash(image_path)
    out = tmp_path / (Path(name).stem + "_filled.png")

    assert main([str(image_path), "--mask", str(mask_path), "-o", str(out), "--engine", "classic"]) == 0

    assert f"Wrote {out}" in capsys.readouterr().out
    source, result = pixels(image_path), pixels(out)
    assert result.shape == source.shape
    keep = pixels(mask_path)[:, :, 0] < 128
    assert hashlib.sha256(result[keep].tobytes()).digest() == hashlib.sha256(source[keep].tobytes()).digest()
    assert not np.array_equal(result[~keep], source[~keep])
    assert file_hash(image_path) == before


@needs_samples
def test_jpeg_result_keeps_the_source_encoding(tmp_path: Path) -> None:
    image_path, mask_path = sample("rocket.jpg")
    out = tmp_path / "rocket_filled.jpg"
    assert (
        main([str(image_path), "-m", str(mask_path), "-o", str(out), "--engine", "classic", "--quiet"]) == 0
    )
    with Image.open(out) as written, Image.open(image_path) as source:
        assert isinstance(written, JpegImageFile) and isinstance(source, JpegImageFile)
        assert written.size == source.size
        assert written.quantization == source.quantization
        assert written.info.get("icc_profile") == source.info.get("icc_profile")


def test_auto_engine_without_weights_says_it_uses_the_classic_engine(
    photo: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MOEBIUS_STUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MOEBIUS_STUDIO_MODELS", raising=False)
    out = tmp_path / "out.png"
    assert main([str(photo[0]), "--mask", str(photo[1]), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "classic engine" in captured.err and "--model" in captured.err
    assert "(classic engine" in captured.out and out.is_file()


def test_moebius_engine_without_weights_is_refused(
    photo: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "no-models"
    empty.mkdir()
    out = tmp_path / "out.png"
    code = main(
        [str(photo[0]), "--mask", str(photo[1]), "-o", str(out), "--engine", "moebius", "--model", str(empty)]
    )
    assert code == 2 and not out.exists()
    assert "No Moebius weights" in one_error_line(capsys.readouterr().err)


# -- bad input ----------------------------------------------------------------------------------------------


def test_missing_image(photo: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([str(tmp_path / "nope.jpg"), "--mask", str(photo[1]), "-o", str(tmp_path / "out.png")])
    assert code == 2
    assert "does not exist" in one_error_line(capsys.readouterr().err)


def test_text_file_named_png(
    photo: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / "holiday.png"
    fake.write_text("not a picture")
    assert main([str(fake), "--mask", str(photo[1]), "-o", str(tmp_path / "out.png")]) == 2
    assert "not an image file" in one_error_line(capsys.readouterr().err)
    assert main([str(photo[0]), "--mask", str(fake), "-o", str(tmp_path / "out.png")]) == 2
    assert "mask" in one_error_line(capsys.readouterr().err)


def test_mask_of_another_size(
    photo: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small_mask = tmp_path / "small_mask.png"
    mask = np.zeros((20, 30), np.uint8)
    mask[5:10, 8:15] = 255
    Image.fromarray(mask).save(small_mask)
    out = tmp_path / "out.png"
    args = [str(photo[0]), "--mask", str(small_mask), "-o", str(out), "--engine", "classic"]

    assert main(args) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "30×20" in line and "60×40" in line and "--fit-mask" in line
    assert not out.exists()

    assert main([*args, "--fit-mask"]) == 0
    assert "stretched" in capsys.readouterr().err
    assert pixels(out).shape == (40, 60, 3)


def test_empty_mask(photo: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.png"
    Image.fromarray(np.zeros((40, 60), np.uint8)).save(empty)
    out = tmp_path / "out.png"
    assert main([str(photo[0]), "--mask", str(empty), "-o", str(out)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "nothing to fill" in line and "No file was written" in line
    assert not out.exists()


def test_output_folder_that_cannot_be_written(
    photo: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    for out in (blocker / "out.png", tmp_path / "missing" / "out.png"):
        assert main([str(photo[0]), "--mask", str(photo[1]), "-o", str(out)]) == 2
        assert "Cannot write" in one_error_line(capsys.readouterr().err)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder(
    photo: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        assert main([str(photo[0]), "--mask", str(photo[1]), "-o", str(folder / "out.png")]) == 2
        assert "read-only" in one_error_line(capsys.readouterr().err)
    finally:
        folder.chmod(0o755)


def test_existing_output_needs_overwrite(
    photo: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.png"
    out.write_bytes(b"keep me")
    args = [str(photo[0]), "--mask", str(photo[1]), "-o", str(out), "--engine", "classic"]
    assert main(args) == 2
    assert "--overwrite" in one_error_line(capsys.readouterr().err)
    assert out.read_bytes() == b"keep me"
    assert main([*args, "--overwrite"]) == 0
    assert pixels(out).shape == (40, 60, 3)


def test_unknown_output_extension(
    photo: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.heif2"
    assert main([str(photo[0]), "--mask", str(photo[1]), "-o", str(out)]) == 2
    assert "not an image format Moebius Studio writes" in one_error_line(capsys.readouterr().err)
    assert not out.exists()


def test_output_may_not_replace_the_input(
    photo: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    before = file_hash(photo[0])
    assert main([str(photo[0]), "--mask", str(photo[1]), "-o", str(photo[0]), "--overwrite"]) == 2
    assert "same file as the input" in one_error_line(capsys.readouterr().err)
    assert file_hash(photo[0]) == before


def test_bad_option_values_are_usage_errors(
    photo: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    for extra in (["--steps", "0"], ["--seed", "lucky"], ["--guidance", "-1"], ["--engine", "gpt"]):
        assert main([str(photo[0]), "--mask", str(photo[1]), "-o", "out.png", *extra]) == 2
        assert "usage: moebius-inpaint" in capsys.readouterr().err
    assert main([]) == 2


def test_seed_random_is_accepted(photo: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    args = [str(photo[0]), "--mask", str(photo[1]), "-o", str(out), "--engine", "classic", "--seed", "random"]
    assert main(args) == 0


# -- failures while running ---------------------------------------------------------------------------------


def test_unexpected_error_is_one_line_unless_debugging(
    photo: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("core.inpaint.classic.ClassicEngine.inpaint", broken)
    args = [str(photo[0]), "--mask", str(photo[1]), "-o", str(tmp_path / "out.png"), "--engine", "classic"]
    assert main(args) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "RuntimeError: boom" in line and "--debug" in line
    assert main([*args, "--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("interruption", [CancelledError, KeyboardInterrupt])
def test_cancel_writes_nothing(
    interruption: type[BaseException],
    photo: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise interruption()

    monkeypatch.setattr("core.inpaint.classic.ClassicEngine.inpaint", interrupted)
    out = tmp_path / "out.png"
    assert main([str(photo[0]), "--mask", str(photo[1]), "-o", str(out), "--engine", "classic"]) == 130
    assert "Cancelled; nothing was written." in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png", "photo_mask.png"]


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix", reason="needs POSIX signals")
def test_ctrl_c_sets_the_cancel_token(
    photo: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def engine_checking_its_token(
        self: object, request: object, progress: object = None, cancel: CancelToken | None = None
    ) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl+C while the engine runs
        assert cancel is not None
        cancel.raise_if_cancelled()  # the engine's next check stops the job

    handler_before = signal.getsignal(signal.SIGINT)
    monkeypatch.setattr("core.inpaint.classic.ClassicEngine.inpaint", engine_checking_its_token)
    out = tmp_path / "out.png"
    assert main([str(photo[0]), "--mask", str(photo[1]), "-o", str(out), "--engine", "classic"]) == 130
    err = capsys.readouterr().err
    assert "Cancelling" in err and "Cancelled; nothing was written." in err
    assert not out.exists()
    assert signal.getsignal(signal.SIGINT) is handler_before


# -- help, version, progress --------------------------------------------------------------------------------


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for expected in ("usage: moebius-inpaint", "IMAGE", "--fit-mask", "--overwrite", "--engine", "examples:"):
        assert expected in text
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("moebius-inpaint ")


def test_command_words_dispatch(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def models_command(args: list[str]) -> int:
        seen.append(args)
        return 0

    monkeypatch.setitem(cli.COMMANDS, "models", models_command)
    assert main(["models", "list"]) == 0
    assert seen == [["list"]]


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_redraws_on_a_terminal_and_logs_elsewhere() -> None:
    terminal = FakeTerminal()
    bar = ProgressBar(terminal)
    for step in range(11):
        bar(ProgressEvent("denoise", step, 10))
    bar.close()
    drawn = terminal.getvalue()
    assert drawn.count("\r") == 11 and "denoise" in drawn and "3/10" in drawn and "ETA" in drawn
    assert drawn.endswith("\n")

    log = io.StringIO()
    bar = ProgressBar(log, log_interval=3600)
    for step in range(11):
        bar(ProgressEvent("denoise", step, 10))
    bar(ProgressEvent("decode", 1, 1))
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert [line.split()[0] for line in lines] == ["denoise", "denoise", "decode"]  # start, end, next stage

    quiet = io.StringIO()
    ProgressBar(quiet, enabled=False)(ProgressEvent("denoise", 1, 10))
    assert quiet.getvalue() == ""


def test_python_dash_m_core_help() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "core", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("usage: moebius-inpaint") and "examples:" in completed.stdout
