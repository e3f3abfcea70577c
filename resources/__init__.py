"""Files that ship with Moebius Studio: the app icon, the desktop entry and a sample photo with its mask.

This folder is a package only so that the files travel as package data: the paths below are right in a
source checkout, an editable install and an installed wheel alike.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent
ICON_PNG = ROOT / "moebius-studio.png"
ICON_SVG = ROOT / "moebius-studio.svg"
DESKTOP_ENTRY = ROOT / "moebius-studio.desktop"
SAMPLE_PHOTO = ROOT / "sample" / "coffee.png"
SAMPLE_MASK = ROOT / "sample" / "coffee_mask.png"
