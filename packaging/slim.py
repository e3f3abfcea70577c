"""What the slim build leaves out of a bundle, and what it must never leave out.

PyInstaller's hooks collect whole packages: torch's hook takes every file of the torch wheel, including its C++
test programs, headers and CMake files, and the Qt hooks take every translation. The spec file
(``moebius-studio.spec``) passes each collected file's path inside the bundle through :func:`keep`.

The rules are plain data so that ``tests/test_packaging.py`` can check them without building anything: above
all that the files torch opens while it is imported stay in (a bundle without them starts, then fails the
moment the first inpaint imports torch).
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path

# (pattern, why): a file whose path inside the bundle matches a pattern is left out. Paths use "/" on every
# platform; "*" also matches "/" (fnmatch), so "torch/test/*" covers the whole folder.
DROP: tuple[tuple[str, str], ...] = (
    ("torch/bin/*", "C++ test programs and protoc that ship in the torch wheel (torch_shm_manager is kept)"),
    ("torch/test/*", "torch's C++ unit-test binaries"),
    ("torch/include/*", "C++ headers, only for compiling torch extensions"),
    ("torch/share/*", "CMake package files, only for compiling torch extensions"),
    ("torch/lib/libshm/*", "headers"),
    ("torch/lib/libshm_windows/*", "headers"),
    ("torch/lib/*test*", "libraries that only torch's own tests load (libtorchbind_test, libjitbackend_test)"),
    ("torch/lib/libbackend_with_compiler*", "a test backend of TorchScript"),
    ("torch/lib/libaoti_custom_ops*", "AOTInductor test operators"),
    ("torch/lib/*.lib", "Windows import libraries, only for linking"),
    ("caffe2/*", "leftovers of Caffe2, which torch no longer uses"),
    ("*.a", "static libraries, only for linking"),
    ("*.h", "C/C++ headers"),
    ("*.hpp", "C++ headers"),
    ("*.cuh", "CUDA headers"),
    ("*.pyi", "type stubs"),
    ("PySide6/Qt/translations/*", "Qt's own translations: the app's interface is English only"),
    ("PySide6/Qt/qml/*", "QML modules: the app uses Qt Widgets only"),
    ("PySide6/Qt/plugins/designer/*", "Qt Designer plugins"),
    ("PySide6/Qt/plugins/qmltooling/*", "QML debugging"),
    ("PySide6/Qt/plugins/sqldrivers/*", "SQL drivers"),
    ("PySide6/Qt/plugins/networkinformation/*", "network status plugins: the app never goes online by itself"),
    ("PySide6/Qt/plugins/tls/*", "TLS backends of QtNetwork (downloads go through Python, not Qt)"),
    ("PySide6/Qt/plugins/wayland-graphics-integration-server/*", "for Wayland compositors, not clients"),
    ("cv2/data/*", "OpenCV's Haar cascades (face detection), unused"),
    # Qt's GTK 3 theme plugin would load the user's GTK 3 into a process that already holds the bundle's own,
    # possibly older GLib; Qt's built-in style and the desktop-portal theme plugin stand in. With it go the
    # drawing libraries only it needs (checked by the spec: no kept library may need a dropped one).
    ("PySide6/Qt/plugins/platformthemes/libqgtk3*", "GTK 3 theme plugin (see above)"),
    ("libcairo*", "needed only by the GTK 3 theme plugin"),
    ("libpango*", "needed only by the GTK 3 theme plugin"),
    ("libgdk_pixbuf*", "needed only by the GTK 3 theme plugin"),
    ("libatk-*", "needed only by the GTK 3 theme plugin"),
    ("libpixman*", "needed only by the GTK 3 theme plugin"),
    ("libharfbuzz.so*", "the system HarfBuzz, needed only by the GTK 3 theme plugin (Qt has its own)"),
    ("libgraphite2*", "needed only by the GTK 3 theme plugin"),
    ("libfribidi*", "needed only by the GTK 3 theme plugin"),
    ("libthai*", "needed only by the GTK 3 theme plugin"),
    ("libdatrie*", "needed only by the GTK 3 theme plugin"),
    # QtNetwork: the app never goes online through Qt (downloads use Python), and only the VNC platform and
    # the TUIO touch plugin need the library, with Kerberos behind it.
    ("PySide6/Qt/plugins/platforms/libqvnc*", "VNC platform plugin"),
    ("PySide6/Qt/plugins/generic/libqtuiotouchplugin*", "touch input over the network (TUIO)"),
    ("PySide6/Qt/lib/libQt6Network*", "Qt's network library (see above)"),
    ("libgssapi_krb5*", "Kerberos, needed only by Qt's network library"),
    ("libkrb5*", "Kerberos, needed only by Qt's network library"),
    ("libk5crypto*", "Kerberos, needed only by Qt's network library"),
)

# Always kept, even where a DROP pattern matches.
KEEP: tuple[tuple[str, str], ...] = (
    # torch/__init__.py passes its path to the C extension on import and raises if the file is missing.
    ("torch/bin/torch_shm_manager", "torch checks at import that this helper exists (Linux, macOS)"),
    # In torch 2.13, importing torch.distributed (which torch itself does) reaches into
    # torch.testing._internal, so the "tests" in its name do not make it test-only.
    ("torch/testing/_internal/*", "imported by torch itself at run time"),
)

# Modules the analysis must not follow into: development tools, and packages that only optional features
# of other libraries use. coremltools (Core ML export) is only useful on macOS; the spec excludes it elsewhere.
EXCLUDED_MODULES: tuple[str, ...] = (
    "tkinter",
    "_tkinter",
    "matplotlib",
    "IPython",
    "jupyter_client",
    "notebook",
    "pytest",
    "_pytest",
    "pytestqt",
    "mypy",
    "ruff",
    "importlinter",
    "grimp",
    "PyInstaller",
    "pip",
    "scipy",
    "pandas",
    "torchvision",
    "torchaudio",
    # The batch's optional cluster extra (core/batch/cluster.py imports it inside functions).
    "ray",
    # HEIC support: pillow-heif's binary wheels link the x265 HEVC encoder, which is GPL-2.0-or-later; the
    # installers stay Apache-2.0 and leave it out (a HEIC file then gets a message that says so).
    "pillow_heif",
    "triton",
    "onnx",
    "onnxruntime",
    "tensorboard",
    "transformers",
    # huggingface_hub's optional Xet transfer backend (11 MB): without it the hub client downloads over plain
    # HTTPS, which is what core/weights/hub.py uses anyway.
    "hf_xet",
    "PySide6.QtNetwork",
    # The reference implementation of the VAE and the DDIM sampler: core has its own, and only the tests and
    # the benchmark (core/bench) compare against diffusers. Left in, it would pull in torch._dynamo and sympy as well.
    "diffusers",
)
MACOS_ONLY_MODULES: tuple[str, ...] = ("coremltools",)

# Libraries whose symbol tables are stripped after the build, on Linux only. torch's wheel ships
# libtorch_cpu.so with a full symbol table (~90 MB that only debuggers read), and self-built Pythons (pyenv,
# setup-python) ship libpython and the standard library's extension modules unstripped; the dynamic symbols the
# loader needs stay. Not applied to the libraries that auditwheel patched (the *.libs folders of numpy, OpenCV
# and Pillow): strip can break the layout patchelf left in them.
STRIP_ON_LINUX: tuple[str, ...] = (
    "torch/lib/*.so",
    "torch/lib/*.so.*",
    "libpython3*.so*",
    "python3*/lib-dynload/*.so",
)


# torch's Python modules go into the bundle compiled only, without their sources (46 MB), except the modules
# that read their own source while being imported: torch's config modules (torch._dynamo.config and friends)
# call torch.utils._config_module.install_config_module, which parses the module's text for its comments.
# Without the source, importing torch.distributed fails.
SOURCE_MARKER = "install_config_module("


def torch_modules_needing_source(torch_dir: Path) -> list[str]:
    """The torch modules (dotted names) whose ``.py`` file must ship next to their compiled code."""
    modules = []
    for path in sorted(torch_dir.rglob("*.py")):
        if path.name == "_config_module.py" or SOURCE_MARKER not in path.read_text(encoding="utf-8", errors="ignore"):
            continue
        parts = path.relative_to(torch_dir.parent).with_suffix("").parts
        modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


def module_collection_mode(torch_dir: Path) -> dict[str, str]:
    """PyInstaller's ``module_collection_mode``: torch compiled only, its config modules with their source."""
    modes = {"torch": "pyz"}
    modes.update((name, "pyz+py") for name in torch_modules_needing_source(torch_dir))
    return modes


def normalise(path: str) -> str:
    """A bundle path with "/" separators (PyInstaller uses the platform's own)."""
    return path.replace("\\", "/")


def drop_reason(path: str) -> str | None:
    """Why the file at ``path`` (relative to the bundle's data folder) is left out, or ``None`` to keep it."""
    path = normalise(path)
    if any(fnmatchcase(path, pattern) for pattern, _ in KEEP):
        return None
    for pattern, why in DROP:
        if fnmatchcase(path, pattern):
            return why
    return None


def keep(path: str) -> bool:
    """Whether the slim build keeps the file at ``path``."""
    return drop_reason(path) is None


def strip_on_linux(path: str) -> bool:
    """Whether the file at ``path`` gets its symbol table stripped on Linux."""
    return any(fnmatchcase(normalise(path), pattern) for pattern in STRIP_ON_LINUX)


def excluded_modules(platform: str) -> list[str]:
    """Modules to exclude on ``platform`` (a ``sys.platform`` value)."""
    modules = list(EXCLUDED_MODULES)
    if platform != "darwin":
        modules.extend(MACOS_ONLY_MODULES)
    return modules
