"""Colour management: a photo in ProPhoto RGB or Adobe RGB is filled in sRGB and gets the fill in its own colours.

The photos are real files: a sample photo converted into a wide-gamut space with LittleCMS and written as an 8-bit
or 16-bit TIFF with the profile embedded (profiles from tests/icc_profiles.py). Each is filled by the command line
with the tiny random-weight Moebius model, and compared with the same photo filled in sRGB:

* every pixel outside the mask is bit-identical to the source (all 16 bits of a 16-bit TIFF), the profile kept;
* the fill, converted to sRGB, is within a few levels of the sRGB photo's fill (measured: ProPhoto mean 0.8,
  max 11 levels; Adobe RGB mean 0.6, max 5, on coffee.png, 8-bit);
* the same pixels without their profile (so no conversion) give a fill that is far off (ProPhoto mean ≈ 21,
  Adobe RGB ≈ 7 levels), which shows the comparison can fail.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import tifffile
from icc_profiles import adobe_rgb, prophoto_rgb, srgb_profile
from PIL import Image, ImageCms
from tiny_model import SAMPLES, write_tiny_model

from core.cli.main import main
from core.inpaint.classic import ClassicEngine
from core.inpaint.colour_managed import inpaint_in_srgb
from core.job.request import InpaintRequest
from core.job.settings import JobSettings
from core.photo.colour import ProfileTransforms, srgb_transforms
from core.photo.mask import fill_region

pytestmark = pytest.mark.usefixtures("samples_dir")  # fails (never skips) without ../shared

PROFILES = {"prophoto": prophoto_rgb, "adobe": adobe_rgb}
# Mean and largest level error allowed for the fill (converted to sRGB) against the sRGB photo's fill, and the
# least mean error the unconverted fill must show.
LIMITS = {"prophoto": (2.0, 24, 8.0), "adobe": (1.5, 16, 3.0)}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    write_tiny_model(root, fmt="bin")
    return root / "moebius" / "ft_places2"


def _sample() -> tuple[np.ndarray, np.ndarray]:
    pixels = np.asarray(Image.open(SAMPLES / "coffee.png").convert("RGB"))
    mask = np.asarray(Image.open(SAMPLES / "coffee_mask.png").convert("L"))
    return pixels, mask


def _transforms(name: str) -> ProfileTransforms:
    transforms = srgb_transforms(PROFILES[name]())
    assert transforms is not None
    return transforms


def _fill(model_dir: Path, photo: Path, mask: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> str:
    args = [str(photo), "-m", str(mask), "-o", str(out), "--engine", "moebius", "--model", str(model_dir)]
    code = main([*args, "--steps", "2", "--seed", "7", "--defaults"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.err


def _eight_bits(samples: np.ndarray) -> np.ndarray:
    return (
        samples if samples.dtype == np.uint8 else ((samples.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    )


# -- which profiles are converted ------------------------------------------------------------------------------


def test_srgb_untagged_and_gray_photos_are_not_converted() -> None:
    gray = bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes())  # not an RGB profile
    assert srgb_transforms(None) is None
    assert srgb_transforms(srgb_profile()) is None
    assert srgb_transforms(gray) is None
    assert _transforms("prophoto").name == "ProPhoto RGB"
    # The conversions are real: sRGB red is a duller number in ProPhoto, and comes back.
    red = np.array([[[255, 0, 0]]], dtype=np.uint8)
    wide = _transforms("prophoto").convert_from_srgb(red)
    assert wide[0, 0, 0] < 200 and wide[0, 0, 1] > 40
    assert np.array_equal(_transforms("prophoto").convert_to_srgb(wide), red)


def test_srgb_photo_is_filled_exactly_as_untagged() -> None:
    pixels, mask = _sample()
    engine = ClassicEngine()
    run = lambda request, progress, cancel: engine.inpaint(request, progress, cancel)  # noqa: E731
    plain = inpaint_in_srgb(run, InpaintRequest(pixels, mask, JobSettings()))
    tagged = inpaint_in_srgb(run, InpaintRequest(pixels, mask, JobSettings(), profile=srgb_profile()))
    assert np.array_equal(plain.image, tagged.image) and not tagged.warnings


def test_damaged_profile_is_a_note_not_a_failure() -> None:
    pixels, mask = _sample()
    damaged = prophoto_rgb()[:20] + bytes(60)  # an RGB header with nothing usable behind it
    engine = ClassicEngine()
    seen: list[np.ndarray] = []

    def run(request: InpaintRequest, progress: object, cancel: object) -> object:
        seen.append(request.image)
        return engine.inpaint(request)

    result = inpaint_in_srgb(run, InpaintRequest(pixels, mask, JobSettings(), profile=damaged))  # type: ignore[arg-type]
    assert seen[0] is pixels  # ran on the pixels as they are
    assert any("colour profile cannot be read" in note for note in result.warnings)


def test_only_filled_pixels_take_converted_values() -> None:
    """An engine that changes nothing gives back the photo bit for bit, although the round trip is lossy."""
    pixels, mask = _sample()
    transforms = _transforms("prophoto")
    wide = transforms.convert_from_srgb(pixels)
    assert not np.array_equal(transforms.convert_from_srgb(transforms.convert_to_srgb(wide)), wide)  # lossy
    from core.inpaint.result import InpaintResult

    def unchanged(request: InpaintRequest, progress: object, cancel: object) -> InpaintResult:
        return InpaintResult(image=request.image.copy(), seed=None, engine="none")

    result = inpaint_in_srgb(unchanged, InpaintRequest(wide, mask, JobSettings(), profile=prophoto_rgb()))  # type: ignore[arg-type]
    assert np.array_equal(result.image, wide)


# -- real files through the command line ---------------------------------------------------------------------


@pytest.mark.parametrize(("name", "depth"), [("prophoto", 16), ("adobe", 8), ("prophoto", 8)])
def test_wide_gamut_tiff_fill_matches_srgb_fill(
    model_dir: Path, tmp_path: Path, name: str, depth: int, capsys: pytest.CaptureFixture[str]
) -> None:
    pixels, mask = _sample()
    profile, transforms = PROFILES[name](), _transforms(name)
    mask_path = tmp_path / "mask.png"
    Image.fromarray(mask).save(mask_path)
    # 1. The reference: the photo in sRGB, filled.
    Image.fromarray(pixels).save(tmp_path / "srgb.png")
    _fill(model_dir, tmp_path / "srgb.png", mask_path, tmp_path / "srgb_out.png", capsys)
    reference = np.asarray(Image.open(tmp_path / "srgb_out.png").convert("RGB"))
    # 2. The same photo in the wide space, with its profile (16 bits: fine detail below the 8-bit level too).
    wide = transforms.convert_from_srgb(pixels)
    if depth == 16:
        noise = np.random.default_rng(3).integers(-90, 91, wide.shape)
        samples = np.clip(wide.astype(np.int32) * 257 + noise, 0, 65535).astype(np.uint16)
    else:
        samples = wide
    source = tmp_path / "photo-Edit.tif"
    tifffile.imwrite(source, samples, photometric="rgb", iccprofile=profile)
    stripped = tmp_path / "stripped.tif"
    tifffile.imwrite(stripped, samples, photometric="rgb")
    _fill(model_dir, source, mask_path, tmp_path / "out.tif", capsys)
    _fill(model_dir, stripped, mask_path, tmp_path / "stripped_out.tif", capsys)
    with tifffile.TiffFile(tmp_path / "out.tif") as written:
        result = written.pages[0].asarray()
        kept_profile = written.pages[0].tags[34675].value
    unconverted = tifffile.imread(tmp_path / "stripped_out.tif")
    # (a) Outside the fill region every sample is the source's, at the source's depth, and the profile is kept.
    outside = ~fill_region(mask)
    assert result.dtype == samples.dtype
    assert np.array_equal(result[outside], samples[outside])
    assert bytes(kept_profile) == profile
    # (b) The fill, seen in sRGB, is the sRGB photo's fill within rounding.
    inside = mask >= 128
    error = np.abs(transforms.convert_to_srgb(_eight_bits(result)).astype(int) - reference)[inside]
    mean_limit, max_limit, unconverted_floor = LIMITS[name]
    print(f"{name} {depth}-bit: fill error against sRGB mean {error.mean():.2f}, max {error.max()} levels")
    assert error.mean() < mean_limit and error.max() <= max_limit
    # (c) Without conversion the model paints in the wrong colours.
    wrong = np.abs(transforms.convert_to_srgb(_eight_bits(unconverted)).astype(int) - reference)[inside]
    print(f"{name} {depth}-bit without conversion: mean {wrong.mean():.2f}, max {wrong.max()} levels")
    assert wrong.mean() > unconverted_floor > error.mean()


def test_eight_bit_tiff_profile_survives_pillow_round_trip(tmp_path: Path) -> None:
    """Pillow reads the embedded profile of a TIFF written with it (the path the CLI reads 8-bit TIFFs by)."""
    from core.photo.read import read_image

    pixels, _ = _sample()
    path = tmp_path / "adobe.tif"
    Image.fromarray(pixels).save(path, icc_profile=adobe_rgb())
    photo = read_image(path)
    assert photo.icc_profile == adobe_rgb()
    assert srgb_transforms(photo.icc_profile) is not None
    assert isinstance(Image.open(io.BytesIO(path.read_bytes())).info.get("icc_profile"), bytes)
