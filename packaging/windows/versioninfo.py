"""The Windows version resource of the two executables (Explorer's Properties → Details tab)."""

from __future__ import annotations

import re
from typing import Any


def version_tuple(version: str) -> tuple[int, int, int, int]:
    """``"0.1.0"`` → ``(0, 1, 0, 0)``; pre-release suffixes are dropped (Windows wants four numbers)."""
    numbers = []
    for part in version.split(".")[:4]:
        leading = re.match(r"\d+", part)  # "3rc1" -> 3
        numbers.append(int(leading.group()) if leading else 0)
    while len(numbers) < 4:
        numbers.append(0)
    return numbers[0], numbers[1], numbers[2], numbers[3]


def version_info(version: str) -> Any:
    """A PyInstaller ``VSVersionInfo`` for ``version`` (imported here: only PyInstaller's spec calls this)."""
    from PyInstaller.utils.win32.versioninfo import (
        FixedFileInfo,
        StringFileInfo,
        StringStruct,
        StringTable,
        VarFileInfo,
        VarStruct,
        VSVersionInfo,
    )

    numbers = version_tuple(version)
    strings = {
        "CompanyName": "Moebius Studio",
        "FileDescription": "Moebius Studio - remove objects from photos, offline",
        "FileVersion": version,
        "InternalName": "moebius-studio",
        "LegalCopyright": "Moebius Studio contributors",
        "OriginalFilename": "moebius-studio.exe",
        "ProductName": "Moebius Studio",
        "ProductVersion": version,
    }
    return VSVersionInfo(
        ffi=FixedFileInfo(filevers=numbers, prodvers=numbers, mask=0x3F, flags=0x0, OS=0x40004, fileType=0x1),
        kids=[
            StringFileInfo([StringTable("040904B0", [StringStruct(k, v) for k, v in strings.items()])]),
            VarFileInfo([VarStruct("Translation", [0x0409, 1200])]),
        ],
    )
