"""Small RGB matrix/TRC ICC profiles (version 2 display profiles) built from published colour-space facts.

Pillow ships only sRGB (and Lab/XYZ, which are not RGB spaces), so the colour-management tests build the wide
gamut spaces photo editors hand over: Adobe RGB (1998) and ProPhoto RGB (ROMM RGB), from their primaries,
white point and tone-curve gamma. The colorants are adapted to the ICC connection space's D50 white with the
Bradford transform, as ICC display profiles require. LittleCMS reads them like any profile from a camera
raw converter.
"""

from __future__ import annotations

import struct

import numpy as np
from PIL import ImageCms

_D50 = np.array([0.9642, 1.0, 0.8249])
_BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])

# (primaries red, green, blue as CIE xy; white point xy; gamma) of each space.
SPACES: dict[str, tuple[tuple[tuple[float, float], ...], tuple[float, float], float]] = {
    "Adobe RGB (1998)": (((0.64, 0.33), (0.21, 0.71), (0.15, 0.06)), (0.3127, 0.3290), 563 / 256),
    "ProPhoto RGB": (((0.7347, 0.2653), (0.1596, 0.8404), (0.0366, 0.0001)), (0.3457, 0.3585), 1.8),
}


def _xyz(xy: tuple[float, float]) -> np.ndarray:
    x, y = xy
    return np.array([x / y, 1.0, (1 - x - y) / y])


def colorants(space: str) -> np.ndarray:
    """The D50-adapted RGB → XYZ matrix of ``space`` (columns: the red, green and blue colorants)."""
    primaries, white_xy, _ = SPACES[space]
    columns = np.stack([_xyz(p) for p in primaries], axis=1)
    white = _xyz(white_xy)
    matrix = columns * np.linalg.solve(columns, white)  # scale the primaries so that R = G = B = 1 is white
    cone_source, cone_d50 = _BRADFORD @ white, _BRADFORD @ _D50
    adapt = np.linalg.inv(_BRADFORD) @ np.diag(cone_d50 / cone_source) @ _BRADFORD
    return adapt @ matrix


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz_tag(xyz: np.ndarray) -> bytes:
    return b"XYZ " + bytes(4) + b"".join(_s15(v) for v in xyz)


def _curve_tag(gamma: float) -> bytes:
    return b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256)) + bytes(2)


def _desc_tag(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    return b"desc" + bytes(4) + struct.pack(">I", len(ascii_text)) + ascii_text + bytes(4 + 4 + 2 + 1 + 67)


def matrix_profile(space: str) -> bytes:
    """The ICC profile bytes of ``space`` (a key of :data:`SPACES`)."""
    _, _, gamma = SPACES[space]
    matrix = colorants(space)
    tags = [
        (b"desc", _desc_tag(space)),
        (b"cprt", b"text" + bytes(4) + b"No copyright, use freely\0"),
        (b"wtpt", _xyz_tag(_D50)),
        (b"rXYZ", _xyz_tag(matrix[:, 0])),
        (b"gXYZ", _xyz_tag(matrix[:, 1])),
        (b"bXYZ", _xyz_tag(matrix[:, 2])),
        (b"rTRC", _curve_tag(gamma)),
        (b"gTRC", _curve_tag(gamma)),
        (b"bTRC", _curve_tag(gamma)),
    ]
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    table, data = struct.pack(">I", len(tags)), b""
    for signature, body in tags:
        padded = body + bytes(-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += padded
    size = 128 + table_size + len(data)
    header = (
        struct.pack(">I", size)
        + bytes(4)  # preferred CMM
        + struct.pack(">I", 0x02100000)  # version 2.1
        + b"mntrRGB XYZ "
        + struct.pack(">6H", 2026, 1, 1, 0, 0, 0)
        + b"acsp"
        + bytes(4 + 4 + 4 + 4 + 8)  # platform, flags, manufacturer, model, attributes
        + struct.pack(">I", 0)  # perceptual intent
        + b"".join(_s15(v) for v in _D50)
        + bytes(4 + 16 + 28)  # creator, profile id, reserved
    )
    assert len(header) == 128
    return header + table + data


def srgb_profile() -> bytes:
    """The sRGB profile Pillow (LittleCMS) builds, as bytes."""
    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


def adobe_rgb() -> bytes:
    return matrix_profile("Adobe RGB (1998)")


def prophoto_rgb() -> bytes:
    return matrix_profile("ProPhoto RGB")
