"""A small CMYK ICC profile made for the tests (no CMYK profile ships with Pillow or the system).

The profile is a version 2 output ("prtr") profile with Lab as its connection space and two 16-bit lookup
tables: A2B0 (CMYK → Lab) from a simple ink model with strong dot gain, R = (1 − C^γ)(1 − K^γ) and so on with
γ = 0.5, taken to Lab through sRGB; B2A0 (Lab → CMYK) as its inverse with as much black as possible. The dot
gain makes it differ clearly from the naive conversion (γ = 1), and LittleCMS reads it like any printer
profile, so a test can tell that a photo was converted through *the file's* profile.
"""

from __future__ import annotations

import struct

import numpy as np

_D50 = np.array([0.9642, 1.0, 0.8249])
_GAIN = 0.5  # ink coverage c looks like c ** _GAIN
_SRGB_TO_XYZ_D50 = np.array(
    [[0.4360747, 0.3850649, 0.1430804], [0.2225045, 0.7168786, 0.0606169], [0.0139322, 0.0971045, 0.7141733]]
)


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB values 0..1 (…, 3) to CIE Lab under D50."""
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _SRGB_TO_XYZ_D50.T / _D50
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def _lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """CIE Lab under D50 (…, 3) to sRGB values 0..1, clipped to the gamut."""
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    xyz = np.where(f > 6 / 29, f**3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * _D50
    linear = np.clip(xyz @ np.linalg.inv(_SRGB_TO_XYZ_D50).T, 0, 1)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)


def _lab_to_u16(lab: np.ndarray) -> np.ndarray:
    """Lab as the 16-bit numbers of a version 2 lookup table (L 0..100 → 0..0xFF00, a/b +128 → × 256)."""
    encoded = np.stack([lab[..., 0] * 0xFF00 / 100, (lab[..., 1] + 128) * 256, (lab[..., 2] + 128) * 256], axis=-1)
    return np.clip(np.rint(encoded), 0, 0xFFFF).astype(">u2")


def _lut16(inputs: int, outputs: int, grid: int, table: np.ndarray) -> bytes:
    """An ``mft2`` tag: identity matrix and curves, and the grid ``table`` (grid^inputs × outputs, 16-bit)."""
    identity = [0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x10000]
    curve = np.array([0, 0xFFFF], ">u2").tobytes()
    data = b"mft2" + b"\0" * 4 + bytes([inputs, outputs, grid, 0]) + struct.pack(">9i", *identity)
    data += struct.pack(">HH", 2, 2) + curve * inputs + table.astype(">u2").tobytes() + curve * outputs
    return data


def _text(kind: bytes, text: str) -> bytes:
    if kind == b"desc":
        ascii_text = text.encode("ascii") + b"\0"
        return b"desc\0\0\0\0" + struct.pack(">I", len(ascii_text)) + ascii_text + b"\0" * 12 + b"\0" * 67
    return b"text\0\0\0\0" + text.encode("ascii") + b"\0"


def cmyk_test_profile() -> bytes:
    """The bytes of the test CMYK profile (see the module's docstring)."""
    # 1. A2B0: CMYK on a 9-point grid (C slowest) to Lab.
    steps = np.linspace(0, 1, 9)
    c, m, y, k = np.meshgrid(steps, steps, steps, steps, indexing="ij")
    c, m, y, k = c**_GAIN, m**_GAIN, y**_GAIN, k**_GAIN
    rgb = np.stack([(1 - c) * (1 - k), (1 - m) * (1 - k), (1 - y) * (1 - k)], axis=-1).reshape(-1, 3)
    a2b = _lut16(4, 3, 9, _lab_to_u16(_srgb_to_lab(rgb)))
    # 2. B2A0: Lab on a 33-point grid (L slowest) to CMYK with maximal black.
    grid = np.linspace(0, 1, 33)
    lightness, a, b = np.meshgrid(grid * 100, grid * 255.99 - 128, grid * 255.99 - 128, indexing="ij")
    back = _lab_to_srgb(np.stack([lightness, a, b], axis=-1).reshape(-1, 3))
    brightest = back.max(axis=1)
    black = 1 - brightest
    inks = np.where(brightest[:, None] > 0, (brightest[:, None] - back) / np.maximum(brightest[:, None], 1e-9), 0)
    cmyk = np.concatenate([inks, black[:, None]], axis=1) ** (1 / _GAIN)
    b2a = _lut16(3, 4, 33, np.clip(np.rint(cmyk * 0xFFFF), 0, 0xFFFF))
    # 3. The profile: header, tag table, tags (each at a 4-byte boundary).
    white = struct.pack(">4s4s3i", b"XYZ ", b"\0" * 4, *(int(round(v * 65536)) for v in _D50))
    tags = [
        (b"desc", _text(b"desc", "Moebius test CMYK")),
        (b"cprt", _text(b"cprt", "No copyright, test data")),
        (b"wtpt", white),
        (b"A2B0", a2b),
        (b"B2A0", b2a),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = struct.pack(">I", len(tags)), b""
    for signature, data in tags:
        table += struct.pack(">4sII", signature, offset + len(body), len(data))
        body += data + b"\0" * (-len(data) % 4)
    size = offset + len(body)
    header = struct.pack(">I4sI4s4s4s", size, b"\0" * 4, 0x02100000, b"prtr", b"CMYK", b"Lab ")
    header += b"\0" * 12 + b"acsp" + b"\0" * 24 + struct.pack(">I", 0)
    header += struct.pack(">3i", *(int(round(v * 65536)) for v in _D50))
    header += b"\0" * (128 - len(header))
    return header + table + body
