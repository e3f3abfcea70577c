"""The command line end to end with a tiny random Moebius checkpoint in the released folder layout."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny_model import SAMPLES, write_tiny_model

from core.cli.main import main

pytestmark = pytest.mark.usefixtures("samples_dir")  # fails (never skips) without ../shared

PHOTOS = ["coffee.png", "chelsea.png", "rocket.jpg", "astronaut.png"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    write_tiny_model(root, fmt="bin")
    return root


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _unmasked_digest(pixels: np.ndarray, mask: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(pixels[mask < 128]).tobytes()).hexdigest()


@pytest.mark.parametrize("name", PHOTOS)
def test_inpaint_sample_with_tiny_model(
    models: Path, tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = SAMPLES / name
    mask_path = SAMPLES / f"{photo.stem}_mask.png"
    before = hashlib.sha256(photo.read_bytes()).hexdigest()
    out = tmp_path / f"out{photo.suffix}"
    code = main(
        [
            str(photo),
            "--mask",
            str(mask_path),
            "-o",
            str(out),
            "--steps",
            "3",
            "--model",
            str(models / "moebius" / "ft_places2"),
            "--engine",
            "moebius",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "moebius engine" in captured.out
    source, result = _pixels(photo), _pixels(out)
    mask = np.asarray(Image.open(mask_path).convert("L"))
    assert result.shape == source.shape
    if photo.suffix == ".png":
        # Lossless output: every unmasked pixel is bit-identical, and the filled area did change.
        assert _unmasked_digest(result, mask) == _unmasked_digest(source, mask)
        assert not np.array_equal(result[mask >= 128], source[mask >= 128])
    else:
        # JPEG output is re-encoded, so compare against the input within JPEG error outside the mask.
        assert np.abs(result[mask < 128].astype(int) - source[mask < 128]).mean() < 2.0
    assert hashlib.sha256(photo.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_models_folder_is_found_without_model_flag(
    models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MOEBIUS_STUDIO_MODELS", str(models))
    out = tmp_path / "out.png"
    code = main(
        [
            str(SAMPLES / "chelsea.png"),
            "--mask",
            str(SAMPLES / "chelsea_mask.png"),
            "-o",
            str(out),
            "--steps",
            "2",
            "--seed",
            "5",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "moebius engine, seed 5" in captured.out
    assert "classic" not in captured.err


def test_same_seed_same_picture(models: Path, tmp_path: Path) -> None:
    args = [
        str(SAMPLES / "chelsea.png"),
        "--mask",
        str(SAMPLES / "chelsea_mask.png"),
        "--steps",
        "2",
        "--model",
        str(models / "moebius" / "ft_places2"),
        "--quiet",
    ]
    assert main([*args, "-o", str(tmp_path / "a.png"), "--seed", "3"]) == 0
    assert main([*args, "-o", str(tmp_path / "b.png"), "--seed", "3"]) == 0
    assert main([*args, "-o", str(tmp_path / "c.png"), "--seed", "4"]) == 0
    a, b, c = (_pixels(tmp_path / f"{n}.png") for n in "abc")
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_wrong_model_folder_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            str(SAMPLES / "chelsea.png"),
            "--mask",
            str(SAMPLES / "chelsea_mask.png"),
            "-o",
            str(tmp_path / "out.png"),
            "--model",
            str(tmp_path),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "No Moebius weights were found" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out.png").exists()


def test_broken_checkpoint_is_one_line(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "diffusion_pytorch_model.bin").write_bytes(b"\x80\x04garbage")
    (broken / "vae").symlink_to(models / "vae")
    code = main(
        [
            str(SAMPLES / "chelsea.png"),
            "--mask",
            str(SAMPLES / "chelsea_mask.png"),
            "-o",
            str(tmp_path / "out.png"),
            "--model",
            str(broken),
        ]
    )
    err = capsys.readouterr().err
    assert code != 0
    assert "diffusion_pytorch_model.bin" in err and "Traceback" not in err
    assert not (tmp_path / "out.png").exists()
