"""A stand-in for the Hugging Face Hub on 127.0.0.1, for download tests.

It answers what ``huggingface_hub`` asks when it fetches a file (see ``get_hf_file_metadata`` and ``http_get``
in ``huggingface_hub/file_download.py``):

* ``HEAD``/``GET /{owner}/{repo}/resolve/{revision}/{path}`` with ``X-Repo-Commit``, ``ETag`` (the Git object id
  of a small file) or, for large "LFS" files, ``X-Linked-Etag`` (the SHA-256) and ``X-Linked-Size``, plus
  ``Content-Length`` and ``Accept-Ranges``;
* ``Range: bytes=N-`` requests (``206 Partial Content``), which is how a download resumes;
* ``404`` with ``X-Error-Code: RepoNotFound`` / ``EntryNotFound`` for what it does not have.

Tests can make it misbehave: drop the connection after some bytes of a ``GET`` (a killed transfer), announce a
SHA-256 that the content does not have, or stall. Every request is logged with its ``Range`` header. The server
speaks HTTP/1.0, so each connection closes after one answer and no handler thread outlives a test.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Served:
    """One file the fake Hub has.

    Args:
        content: its bytes.
        lfs: announced like a large LFS file (SHA-256 ETag) rather than a small Git file (Git object id).
        announced_sha256: a different SHA-256 to announce (to test a checksum mismatch).
        drops: for the next GETs, how many body bytes to send before cutting the connection (one per GET).
        stall_seconds: pause after the first block of each GET (to test cancel during a transfer).
    """

    content: bytes
    lfs: bool = True
    announced_sha256: str | None = None
    drops: list[int] = field(default_factory=list)
    stall_seconds: float = 0.0

    @property
    def etag(self) -> str:
        if self.lfs:
            return self.announced_sha256 or hashlib.sha256(self.content).hexdigest()
        return hashlib.sha1(f"blob {len(self.content)}\0".encode() + self.content).hexdigest()


@dataclass(frozen=True)
class Logged:
    """One request the server answered: method, repository, file path and ``Range`` header (or ``None``)."""

    method: str
    repo_id: str
    path: str
    range: str | None


class FakeHub:
    """The server's state: its files and its request log. Start it with :func:`running_hub`."""

    def __init__(self) -> None:
        self.files: dict[tuple[str, str], Served] = {}
        self.log: list[Logged] = []
        self.lock = threading.Lock()
        self.url = ""

    def add(self, repo_id: str, path: str, content: bytes, *, lfs: bool | None = None) -> Served:
        """Serve ``content`` as ``repo_id``'s file ``path`` (LFS by default for anything but JSON)."""
        served = Served(content, lfs=not path.endswith(".json") if lfs is None else lfs)
        self.files[(repo_id, path)] = served
        return served

    def add_folder(self, repo_id: str, folder: Path, prefix: str = "") -> None:
        """Serve every file below ``folder`` as ``prefix/<relative path>`` in ``repo_id``."""
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            relative = file.relative_to(folder).as_posix()
            self.add(repo_id, f"{prefix}/{relative}" if prefix else relative, file.read_bytes())

    def requests(self, method: str | None = None, path: str | None = None) -> list[Logged]:
        """The logged requests, optionally only those with this method and/or file path."""
        with self.lock:
            return [r for r in self.log if (method is None or r.method == method) and (path is None or r.path == path)]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10  # a stuck client cannot keep a handler thread alive forever

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        return  # keep test output clean

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(body=True)

    def _answer(self, *, body: bool) -> None:
        hub = self.server.hub
        parts = unquote(self.path.split("?", 1)[0]).lstrip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            self._error(404, "RepoNotFound")
            return
        repo_id, revision, path = f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:])
        requested_range = self.headers.get("Range")
        with hub.lock:
            hub.log.append(Logged(self.command, repo_id, path, requested_range))
            known_repo = any(repo == repo_id for repo, _ in hub.files)
            served = hub.files.get((repo_id, path))
            drop = served.drops.pop(0) if served is not None and body and served.drops else None
        if not known_repo or revision not in ("main", COMMIT):
            self._error(404, "RepoNotFound" if not known_repo else "RevisionNotFound")
            return
        if served is None:
            self._error(404, "EntryNotFound")
            return
        content = served.content
        start = 0
        if requested_range and requested_range.startswith("bytes=") and requested_range.endswith("-"):
            start = int(requested_range[len("bytes=") : -1])
        if start > len(content):
            self._error(416, None)
            return
        self.send_response(206 if start else 200)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        if served.lfs:
            self.send_header("X-Linked-Etag", f'"{served.etag}"')
            self.send_header("X-Linked-Size", str(len(content)))
            self.send_header("ETag", f'"{served.etag}"')
        else:
            self.send_header("ETag", f'"{served.etag}"')
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(content) - 1}/{len(content)}")
        self.send_header("Content-Length", str(len(content) - start))
        self.end_headers()
        if not body:
            return
        rest = content[start:]
        if drop is not None:
            # A killed transfer: part of the body, then the connection is cut without finishing.
            self.wfile.write(rest[:drop])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        block = 64 * 1024
        for offset in range(0, len(rest), block):
            try:
                self.wfile.write(rest[offset : offset + block])
                self.wfile.flush()
            except OSError:
                return  # the client went away (a cancelled download)
            if offset == 0 and served.stall_seconds:
                time.sleep(served.stall_seconds)

    def _error(self, status: int, code: str | None) -> None:
        self.send_response(status)
        self.send_header("X-Repo-Commit", COMMIT)
        if code is not None:
            self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", code)
        self.send_header("Content-Length", "0")
        self.end_headers()


class _Server(ThreadingHTTPServer):
    # Handler threads are joined by server_close(), so none is left running after a test.
    daemon_threads = False
    block_on_close = True

    def __init__(self, hub: FakeHub) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hub = hub


@contextmanager
def running_hub() -> Iterator[FakeHub]:
    """A started fake Hub (``hub.url`` is its address); stopped, with all its threads, on exit."""
    hub = FakeHub()
    server = _Server(hub)
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-hub")
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def closed_port_url() -> str:
    """The address of a port on 127.0.0.1 where nothing listens (connections are refused): "offline"."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- what it serves -------------------------------------------------------------------------------------------

_RELEASE: list[Path] = []


def tiny_release() -> Path:
    """A tiny random model in the released folder layout (``moebius/ft_places2``, ``vae``), ``.bin`` files.

    Written once per test session into a temporary folder (removed at exit); treat it as read-only.
    """
    if not _RELEASE:
        import atexit
        import shutil
        import tempfile

        from tiny_model import write_tiny_model

        folder = Path(tempfile.mkdtemp(prefix="moebius-tiny-release-"))
        atexit.register(shutil.rmtree, folder, True)
        write_tiny_model(folder, variant="ft_places2", fmt="bin")
        _RELEASE.append(folder)
    return _RELEASE[0]


def serve_release(hub: FakeHub, release: Path, *, variant: str = "ft_places2") -> dict[str, Served]:
    """Serve a released-layout folder the way the two real repositories hold it; returns the files by path.

    ``hustvl/Moebius`` gets ``<variant>/config.json`` and ``<variant>/diffusion_pytorch_model.bin``,
    ``hustvl/PixelHacker`` gets ``vae/config.json`` and ``vae/diffusion_pytorch_model.bin``.
    """
    unet = release / "moebius" / "ft_places2"
    served = {}
    for name in ("config.json", "diffusion_pytorch_model.bin"):
        served[f"{variant}/{name}"] = hub.add("hustvl/Moebius", f"{variant}/{name}", (unet / name).read_bytes())
        served[f"vae/{name}"] = hub.add("hustvl/PixelHacker", f"vae/{name}", (release / "vae" / name).read_bytes())
    return served


class _RunsCode:
    """Pickles to a call of ``os.mkdir(marker)``: a stand-in for a checkpoint that tries to run code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.mkdir, (str(self.marker),))


def write_malicious_bin(path: Path, marker: Path) -> bytes:
    """Write a ``.bin`` that would create the folder ``marker`` if it were unpickled unsafely; returns its bytes."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"diff_model.conv_in.weight": _RunsCode(marker), "embedding_layer.weight": torch.zeros(2)}, path)
    return path.read_bytes()


_INSTALLED: list[Path] = []


def install_tiny_model(models: Path) -> None:
    """Fill the models folder ``models`` with the tiny release as an import would leave it (safetensors files,
    config files, manifest), quickly: the import runs once per session and is then copied with its file times,
    so the manifest's records stay valid."""
    import shutil

    if not _INSTALLED:
        import atexit
        import tempfile

        from core.weights.importer import import_models

        folder = Path(tempfile.mkdtemp(prefix="moebius-tiny-installed-"))
        atexit.register(shutil.rmtree, folder, True)
        report = import_models(tiny_release(), root=folder)
        assert report.ok, report.failed
        _INSTALLED.append(folder)
    shutil.copytree(_INSTALLED[0], models, dirs_exist_ok=True)
