"""The command line starts from the saved settings (the ones the app's panel edits), flags override them,
``--defaults`` ignores them, ``moebius-inpaint settings`` shows and changes them, and the device a job asks for
is reported with where it really came from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny_model import write_tiny_model

from core.cli.main import COMMANDS, main
from core.common import paths
from core.inpaint.plan import plan_regions
from core.job.settings import JobSettings
from core.job.settings_file import load_settings, save_settings

FALLBACK_NOTE = "Moebius weights are not installed"
FRAME = 512  # the model's square frame (the tiny test model's too)


@pytest.fixture(autouse=True)
def no_device_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOEBIUS_STUDIO_DEVICE", raising=False)
    monkeypatch.delenv("MOEBIUS_STUDIO_PRECISION", raising=False)


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture
def noisy_photo(tmp_path: Path) -> tuple[Path, Path]:
    """A grainy photo (so grain matching has something to match) and a mask of one square."""
    rng = np.random.default_rng(5)
    base = np.linspace(60, 190, 80, dtype=np.float64)[None, :, None].repeat(60, axis=0).repeat(3, axis=2)
    grain = rng.normal(0, 18, base.shape)
    Image.fromarray(np.clip(base + grain, 0, 255).astype(np.uint8)).save(tmp_path / "photo.png")
    mask = np.zeros((60, 80), np.uint8)
    mask[20:40, 30:50] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    return tmp_path / "photo.png", tmp_path / "mask.png"


def run(photo: tuple[Path, Path], out: Path, *extra: str) -> tuple[int, str, str]:
    """Run the real command line; returns the status and what it printed."""
    import contextlib
    import io

    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main([str(photo[0]), "--mask", str(photo[1]), "-o", str(out), "--overwrite", *extra])
    return code, stdout.getvalue(), stderr.getvalue()


def test_saved_engine_and_grain_are_used_then_flags_and_defaults_win(
    noisy_photo: tuple[Path, Path], tmp_path: Path
) -> None:
    save_settings(JobSettings(engine="classic", grain_match=True))
    inside = pixels(noisy_photo[1])[:, :, 0] >= 128

    # 1. The saved settings: the classic engine by choice (no fallback note), with grain matching.
    code, out, err = run(noisy_photo, tmp_path / "saved.png")
    assert code == 0, err
    assert "(classic engine" in out and FALLBACK_NOTE not in err
    # 2. A flag overrides the saved value for this run only.
    code, out, err = run(noisy_photo, tmp_path / "flag.png", "--no-grain-match")
    assert code == 0, err
    with_grain, without_grain = pixels(tmp_path / "saved.png"), pixels(tmp_path / "flag.png")
    assert not np.array_equal(with_grain[inside], without_grain[inside])
    assert np.array_equal(with_grain[~inside], without_grain[~inside])  # only the fill changes
    # The grain made the fill rougher: more like the grainy photo than the smooth classic fill.
    assert with_grain[inside].astype(float).std() > without_grain[inside].astype(float).std()
    assert load_settings().settings.grain_match is True  # the flag did not change the saved settings
    # 3. --defaults ignores the file: engine auto (falls back to classic and says so), no grain.
    code, out, err = run(noisy_photo, tmp_path / "defaults.png", "--defaults")
    assert code == 0, err
    assert FALLBACK_NOTE in err
    assert np.array_equal(pixels(tmp_path / "defaults.png"), without_grain)


def test_a_damaged_settings_file_is_a_note_not_a_failure(noisy_photo: tuple[Path, Path], tmp_path: Path) -> None:
    file = paths.settings_file(ensure_dir=True)
    file.write_text(json.dumps({"version": 1, "engine": "classic", "steps": -4, "grain_match": "yes"}))
    code, out, err = run(noisy_photo, tmp_path / "out.png")
    assert code == 0, err
    assert "(classic engine" in out  # the valid value is still used
    notes = [line for line in err.splitlines() if line.startswith("moebius-inpaint: note: ")]
    assert any("'steps'" in line for line in notes) and any("'grain_match'" in line for line in notes)
    file.write_text("{broken")
    code, _, err = run(noisy_photo, tmp_path / "out.png")
    assert code == 0 and "is corrupt" in err


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    write_tiny_model(root)
    return root


@pytest.mark.usefixtures("one_torch_thread")
def test_saved_context_margin_shapes_the_plan_and_a_flag_overrides_it(
    models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOEBIUS_STUDIO_MODELS", str(models))
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (700, 700, 3), dtype=np.uint8)).save(tmp_path / "big.png")
    mask = np.zeros((700, 700), np.uint8)
    mask[150:550, 150:550] = 255  # large enough that the margin decides the window's scale
    Image.fromarray(mask).save(tmp_path / "big_mask.png")
    photo = (tmp_path / "big.png", tmp_path / "big_mask.png")
    summaries = {margin: plan_regions(mask, frame=FRAME, context_margin=margin).summary() for margin in (16, 64, 128)}
    assert len(set(summaries.values())) == 3
    save_settings(JobSettings(engine="moebius", context_margin=16, steps=2, device="cpu", precision="exact"))

    code, out, err = run(photo, tmp_path / "saved.png")
    assert code == 0, err
    assert "(moebius engine" in out and f"Processed {summaries[16]}" in out
    code, out, err = run(photo, tmp_path / "flag.png", "--context-margin", "64")
    assert code == 0, err
    assert f"Processed {summaries[64]}" in out


# -- where the device came from --------------------------------------------------------------------------------


def _asked_for(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["doctor", *args]) == 0
    return next(line for line in capsys.readouterr().out.splitlines() if line.startswith("Asked for:"))


def test_a_saved_device_is_not_called_the_command_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    save_settings(JobSettings(device="cpu", precision="float32"))
    line = _asked_for(capsys)
    assert line == (
        "Asked for:     device cpu, precision float32 "
        "(device from the saved settings; precision from the saved settings)"
    )
    assert _asked_for(capsys, "--precision", "exact").endswith(
        "(device from the saved settings; precision from the command line)"
    )
    assert _asked_for(capsys, "--defaults") == "Asked for:     device auto, precision auto"
    monkeypatch.setenv("MOEBIUS_STUDIO_DEVICE", "cpu")
    save_settings(JobSettings(device="cuda"))
    assert "device from MOEBIUS_STUDIO_DEVICE" in _asked_for(capsys)  # the environment beats a saved device
    assert "device from the command line" in _asked_for(capsys, "--device", "cpu")  # a flag beats both


@pytest.mark.usefixtures("one_torch_thread")
def test_the_loaded_engine_reports_the_saved_device(models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.cli import inpaint
    from core.cli.arguments import job_settings, load_job_engine

    monkeypatch.setenv("MOEBIUS_STUDIO_MODELS", str(models))
    save_settings(JobSettings(device="cpu", precision="exact"))
    job = job_settings(inpaint.build_parser().parse_args(["p.png", "-m", "m.png"]), print)
    engine = load_job_engine(job, "moebius", None, None)
    reason = engine.device.reason  # type: ignore[attr-defined]
    assert reason.endswith("[device from the saved settings; precision from the saved settings]")
    assert "command line" not in reason


# -- moebius-inpaint settings ----------------------------------------------------------------------------------


def test_settings_is_a_command_word() -> None:
    assert "settings" in COMMANDS


def test_settings_set_show_reset_round_trip(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["settings", "set", "steps=30", "seed=random", "context-margin=64", "colour_match=off"]) == 0
    printed = capsys.readouterr().out
    assert "steps = 30 (was 20)" in printed and "seed = random (was 0)" in printed
    saved = load_settings()
    assert saved.settings == JobSettings(steps=30, seed=None, context_margin=64, colour_match=False)

    assert main(["settings", "show"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["steps"].split()[1] == "30" and "(saved setting)" in rows["steps"]
    assert rows["seed"].split()[1] == "random"
    assert main(["settings", "show", "--json"]) == 0
    shown = {row["name"]: row for row in json.loads(capsys.readouterr().out)["settings"]}
    assert shown["steps"]["value"] == 30 and shown["seed"]["value"] is None
    assert shown["strength"]["flag"] is None and shown["strength"]["value"] == 0.99

    assert main(["settings", "reset", "steps"]) == 0
    capsys.readouterr()
    assert load_settings().settings == JobSettings(seed=None, context_margin=64, colour_match=False)
    assert main(["settings", "reset"]) == 0
    assert "built-in default" in capsys.readouterr().out
    assert not paths.settings_file().exists()
    assert main(["settings"]) == 0
    assert "(built-in default)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["steps=0"], "Setting 'steps' must be a whole number from 1 to 1000"),
        (["seed=2.5"], "Setting 'seed' must be a whole number from 0 to 9223372036854775807"),
        (["device=tpu"], "Setting 'device' must be one of auto, cuda"),
        (["stpes=3"], "There is no setting 'stpes'"),
        (["steps"], "Expected NAME=VALUE"),
        (["guidance=3", "colour_match_strength=2"], "Setting 'colour_match_strength' must be a number from 0 to 1"),
    ],
)
def test_settings_set_refuses_bad_values_and_changes_nothing(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    save_settings(JobSettings(steps=12))
    before = paths.settings_file().read_bytes()
    assert main(["settings", "set", *args]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("moebius-inpaint settings: error: ") and expected in errors[0]
    assert paths.settings_file().read_bytes() == before  # not even the valid guidance was saved


def test_settings_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["settings", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(paths.settings_file())


# -- batches ---------------------------------------------------------------------------------------------------


def _journal(out: Path) -> list[dict[str, object]]:
    from core.batch import JOURNAL_NAME

    return [json.loads(line) for line in (out / JOURNAL_NAME).read_text().splitlines()]


def test_a_batch_starts_from_the_saved_settings_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from test_cli_batch import make_folder

    folder = make_folder(tmp_path / "in", 3)
    save_settings(JobSettings(engine="classic", seed=7, seed_policy="index", grain_match=True))
    assert main(["batch", str(folder), "-o", str(tmp_path / "saved"), "--quiet"]) == 0
    journal = _journal(tmp_path / "saved")
    recorded = journal[0]["settings"]
    assert isinstance(recorded, dict)
    assert (recorded["engine"], recorded["seed_policy"], recorded["grain_match"]) == ("classic", "index", True)
    assert [r["seed"] for r in journal if r.get("status") == "started"] == [8, 9, 10]  # seed + position
    assert FALLBACK_NOTE not in capsys.readouterr().err  # classic by choice

    assert main(["batch", str(folder), "-o", str(tmp_path / "flag"), "--quiet", "--seed-policy", "fixed"]) == 0
    assert [r["seed"] for r in _journal(tmp_path / "flag") if r.get("status") == "started"] == [7, 7, 7]

    assert main(["batch", str(folder), "-o", str(tmp_path / "defaults"), "--quiet", "--defaults"]) == 0
    recorded = _journal(tmp_path / "defaults")[0]["settings"]
    assert isinstance(recorded, dict) and recorded["grain_match"] is False and "seed_policy" not in recorded
    assert FALLBACK_NOTE in capsys.readouterr().err  # auto, without weights


def test_batch_options_and_settings_agree_on_the_seed_policy() -> None:
    from core.batch import BatchOptions

    assert BatchOptions().seed_policy == "fixed"
    assert BatchOptions(settings=JobSettings(seed_policy="name")).seed_policy == "name"
    given = BatchOptions(settings=JobSettings(seed_policy="name"), seed_policy="index")
    assert given.seed_policy == given.settings.seed_policy == "index"


def test_only_the_front_ends_may_read_the_settings_file(repo_root: Path, tmp_path: Path) -> None:
    from test_import_rules import _lint_copy

    line = "import core.job.settings_file  # noqa"
    # The loader reading the saved device itself (as it once did) breaks the contract; the CLI may.
    inside = _lint_copy(repo_root, tmp_path / "inside", {"core/inpaint/device.py": line})
    assert inside.returncode != 0 and "only the front ends read the settings file BROKEN" in inside.stdout
    front = _lint_copy(repo_root, tmp_path / "front", {"core/cli/reporting.py": line})
    assert "only the front ends read the settings file KEPT" in front.stdout, front.stdout[-3000:]
