"""Pickles that try to run code are refused everywhere one is read, in one sentence of our own.

torch's refusal text tells the user to retry with ``weights_only=False`` (which would run the code). None of it
may reach the user: not in the message, not in a chained exception, not on the command line's output. Each
malicious file here calls ``os.system`` with a harmless command that would write a marker file.
"""

from __future__ import annotations

import os
import pickle
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_model import write_tiny_model

from core.cli.main import main
from core.cli.reporting import EXIT_BAD_INPUT, EXIT_OK
from core.common.errors import CheckpointError, MoebiusError, UnsafeCheckpointError
from core.common.paths import models_dir
from core.model.checkpoint import read_state_dict
from core.model.unet import load_moebius
from core.weights.registry import find_model
from core.weights.store import prepare_model

# Words of torch's advice; none of them may appear in anything the user is shown.
ADVICE = ("weights_only", "weights only", "trust", "arbitrary code", "torch.load", "pytorch.org")


class _RunsACommand:
    """Pickles to ``os.system(command)``."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (self.command,))


def _marker_command(marker: Path) -> str:
    return f'"{sys.executable}" -c "open({str(marker)!r}, \'w\').write(\'ran\')"'


def write_evil_checkpoint(path: Path, marker: Path, *, form: str = "zip", like: Path | None = None) -> None:
    """A checkpoint (optionally the tensors of ``like`` plus one entry) whose unpickling runs a command.

    Args:
        path: where to write it.
        marker: the file the command would create.
        form: ``zip`` (torch's format), ``legacy`` (torch's format before 1.6) or ``raw`` (a bare pickle).
        like: a real checkpoint whose tensors the file also holds, so that it looks like a model.
    """
    state: dict[str, object] = dict(torch.load(like, weights_only=True)) if like is not None else {}
    state["diff_model.extra"] = _RunsACommand(_marker_command(marker))
    path.parent.mkdir(parents=True, exist_ok=True)
    if form == "raw":
        path.write_bytes(pickle.dumps(state, protocol=2))
    else:
        torch.save(state, path, _use_new_zipfile_serialization=form == "zip")


def assert_our_sentence(error: MoebiusError, name: str) -> None:
    """One sentence of ours: it names the file, says why, says what to do, and repeats none of torch's advice."""
    message = error.user_message()
    assert isinstance(error, UnsafeCheckpointError)
    assert message.startswith(name) and message.count(". ") == 0 and message.endswith(".")
    assert "code or objects other than tensors" in message and ".safetensors" in message and "official" in message
    assert not any(word in message.lower() for word in ADVICE), message
    # Not even a traceback (--debug, a log) carries torch's text: the cause is not chained.
    assert error.__cause__ is None and error.__suppress_context__


@pytest.mark.parametrize("form", ["zip", "legacy", "raw"])
def test_the_safe_reader_refuses_every_form_of_pickle_in_one_sentence(tmp_path: Path, form: str) -> None:
    marker, path = tmp_path / "ran", tmp_path / "evil.bin"
    write_evil_checkpoint(path, marker, form=form)

    with pytest.raises(UnsafeCheckpointError) as caught:
        read_state_dict(path)

    assert_our_sentence(caught.value, "evil.bin")
    assert "posix.system" in caught.value.message or "nt.system" in caught.value.message  # what it asked for
    assert not marker.exists()


def test_a_torchscript_archive_is_refused_without_torchs_advice(tmp_path: Path) -> None:
    path = tmp_path / "scripted.bin"
    torch.jit.script(torch.nn.Linear(2, 2)).save(str(path))
    with pytest.raises(UnsafeCheckpointError) as caught:
        read_state_dict(path)
    message = caught.value.user_message()
    assert "TorchScript archive, which holds code" in message and ".safetensors" in message
    assert not any(word in message.lower() for word in ADVICE), message


def test_safe_legacy_and_damaged_pickles(tmp_path: Path) -> None:
    # A checkpoint in torch's old (pre-zip) format holds only tensors: it is read, just not memory-mapped.
    legacy = tmp_path / "legacy.bin"
    torch.save({"weight": torch.arange(4.0)}, legacy, _use_new_zipfile_serialization=False)
    assert torch.equal(read_state_dict(legacy)["weight"], torch.arange(4.0))
    # A truncated one is named as such, with no advice either.
    whole = tmp_path / "whole.bin"
    torch.save({"weight": torch.zeros(1000)}, whole)
    cut = tmp_path / "cut.bin"
    cut.write_bytes(whole.read_bytes()[:1500])
    with pytest.raises(CheckpointError) as caught:
        read_state_dict(cut)
    assert not isinstance(caught.value, UnsafeCheckpointError)
    assert "cut.bin is truncated or not a PyTorch checkpoint" in caught.value.message
    assert not any(word in caught.value.user_message().lower() for word in ADVICE)


def test_loading_a_model_folder_with_an_evil_checkpoint(tmp_path: Path) -> None:
    folder = write_tiny_model(tmp_path / "release", fmt="bin")
    weights = folder / "diffusion_pytorch_model.bin"
    marker = tmp_path / "ran"
    write_evil_checkpoint(weights, marker, like=weights)
    with pytest.raises(UnsafeCheckpointError) as caught:
        load_moebius(folder)
    assert_our_sentence(caught.value, "diffusion_pytorch_model.bin")
    assert not marker.exists()


def test_a_bin_put_into_the_models_folder_by_hand_is_refused_before_conversion(tmp_path: Path) -> None:
    # The first load converts a hand-placed .bin to safetensors (core.weights.store.prepare_model).
    release = tmp_path / "release"
    write_tiny_model(release, fmt="bin")
    shutil.copytree(release, models_dir())
    unet = models_dir() / "moebius/ft_places2/diffusion_pytorch_model.bin"
    marker = tmp_path / "ran"
    write_evil_checkpoint(unet, marker, like=release / "moebius/ft_places2/diffusion_pytorch_model.bin")
    files = find_model()
    assert files is not None and files.unet == unet

    with pytest.raises(UnsafeCheckpointError) as caught:
        prepare_model(files)

    assert_our_sentence(caught.value, "diffusion_pytorch_model.bin")
    assert not marker.exists()
    assert not unet.with_suffix(".safetensors").exists()


def test_the_command_line_says_one_sentence_and_installs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    release = tmp_path / "release"
    write_tiny_model(release, fmt="bin")
    unet = release / "moebius/ft_places2/diffusion_pytorch_model.bin"
    marker = tmp_path / "ran"
    write_evil_checkpoint(unet, marker, like=unet)

    status = main(["models", "import", str(release)])
    out, err = capsys.readouterr()

    assert status == EXIT_BAD_INPUT
    assert not marker.exists()
    assert "code or objects other than tensors" in err and "nothing was installed from this import" in err
    assert not any(word in (out + err).lower() for word in ADVICE), err
    assert "Installed" not in out and not (models_dir() / "vae").exists()  # the good VAE is not installed either


def test_inpainting_with_an_evil_model_folder_fails_with_our_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    release = tmp_path / "release"
    write_tiny_model(release, fmt="bin")
    unet = release / "moebius/ft_places2/diffusion_pytorch_model.bin"
    marker = tmp_path / "ran"
    write_evil_checkpoint(unet, marker, like=unet)
    photo, mask = tmp_path / "photo.png", tmp_path / "mask.png"
    Image.fromarray(np.full((64, 64, 3), 120, np.uint8)).save(photo)
    hole = np.zeros((64, 64), np.uint8)
    hole[20:40, 20:40] = 255
    Image.fromarray(hole).save(mask)

    status = main([str(photo), "--mask", str(mask), "--engine", "moebius", "--model", str(release), "--defaults"])
    out, err = capsys.readouterr()

    assert status != EXIT_OK
    assert not marker.exists()
    assert "code or objects other than tensors" in err
    assert not any(word in (out + err).lower() for word in ADVICE), err
    assert not (tmp_path / "photo_inpainted.png").exists()
