"""Fixtures every test gets: a private home folder, no network, no leaked threads.

- ``MOEBIUS_STUDIO_HOME`` points at a fresh temporary folder, so no test reads or writes the user's settings
  or models (``MOEBIUS_STUDIO_MODELS`` is cleared for the same reason).
- Connecting anywhere but loopback raises :class:`NetworkBlockedError`, and a test that tried fails even if
  the code under test swallowed the error.
- A test that leaves a new Python thread running fails.
- Without a display, Qt uses its offscreen platform; tests marked ``xvfb`` are then skipped.
- The shared material beside the checkout (``../shared``: reference vectors, sample photos) is required: a test
  that needs it fails when it is missing, so a run without it cannot pass by skipping. Only an explicit
  ``MOEBIUS_SKIP_SHARED=1`` turns those failures into skips (for a checkout without the material).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO_ROOT = Path(__file__).resolve().parents[1]
# MOEBIUS_SHARED_DIR points elsewhere (tests/test_test_rules.py uses it to check what happens without it).
SHARED_DIR = Path(os.environ.get("MOEBIUS_SHARED_DIR") or REPO_ROOT.parent / "shared")
THREAD_GRACE_SECONDS = 2.0
SKIP_SHARED_ENV = "MOEBIUS_SKIP_SHARED"


def require_shared(part: str = "") -> Path:
    """``../shared`` (or a part of it); fails the calling test when it is missing, unless MOEBIUS_SKIP_SHARED=1.

    Args:
        part: a path inside the shared folder, e.g. ``"samples"`` or ``"reference/golden_tiny"``.
    """
    path = SHARED_DIR / part if part else SHARED_DIR
    if not path.exists():
        message = f"shared material not found at {path} (it is expected beside the repository checkout)"
        if os.environ.get(SKIP_SHARED_ENV) == "1":
            pytest.skip(f"{message}; skipped because {SKIP_SHARED_ENV}=1")
        pytest.fail(f"{message}; set {SKIP_SHARED_ENV}=1 to skip the tests that need it", pytrace=False)
    return path


class NetworkBlockedError(RuntimeError):
    """Raised when a test tries to reach a host other than this machine."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    offscreen = os.environ.get("QT_QPA_PLATFORM") == "offscreen" or not os.environ.get("DISPLAY")
    if not offscreen:
        return
    skip = pytest.mark.skip(reason="needs a real X server: run under xvfb-run (scripts/test.sh does)")
    for item in items:
        if "xvfb" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def repo_root() -> Path:
    """The repository's top folder."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The project's shared material (reference vectors, sample photos), kept beside the repository."""
    return require_shared()


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The real sample photos with their masks (``../shared/samples``)."""
    return require_shared("samples")


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    """The reference vectors of the authors' implementation (``../shared/reference/golden_tiny``)."""
    return require_shared("reference/golden_tiny")


@pytest.fixture(autouse=True)
def private_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty Moebius Studio home folder."""
    home = tmp_path_factory.mktemp("moebius-home")
    monkeypatch.setenv("MOEBIUS_STUDIO_HOME", str(home))
    monkeypatch.delenv("MOEBIUS_STUDIO_MODELS", raising=False)
    return home


def _is_local(host: object) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    host = host.strip("[]").split("%", 1)[0]
    if host in ("localhost", "localhost.localdomain", "") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _address_is_local(address: object) -> bool:
    if isinstance(address, tuple) and address:
        return _is_local(address[0])
    # AF_UNIX paths (str or bytes) and other families that never leave the machine.
    return isinstance(address, str | bytes)


@pytest.fixture(autouse=True)
def block_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Refuse connections to anything but loopback; fail the test if it tried."""
    attempts: list[str] = []

    def refuse(what: str) -> NetworkBlockedError:
        attempts.append(what)
        return NetworkBlockedError(f"tests must not use the network (tried to reach {what})")

    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_create_connection = socket.create_connection
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: object) -> None:
        if not _address_is_local(address):
            raise refuse(repr(address))
        real_connect(self, address)  # type: ignore[arg-type]

    def connect_ex(self: socket.socket, address: object) -> int:
        if not _address_is_local(address):
            raise refuse(repr(address))
        return real_connect_ex(self, address)  # type: ignore[arg-type]

    def create_connection(address: tuple[str, int], *args: object, **kwargs: object) -> socket.socket:
        if not _address_is_local(address):
            raise refuse(repr(address))
        return real_create_connection(address, *args, **kwargs)  # type: ignore[arg-type]

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if not _is_local(host):
            raise refuse(repr(host))
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts
    if attempts:
        pytest.fail(f"the test tried to use the network: {', '.join(attempts)}", pytrace=False)


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves a Python thread running after it ends (after a short grace period)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + THREAD_GRACE_SECONDS
    leaked = [thread for thread in threading.enumerate() if thread not in before and thread.is_alive()]
    for thread in leaked:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    still_running = [thread for thread in leaked if thread.is_alive()]
    if still_running:
        names = ", ".join(f"{t.name} (daemon={t.daemon})" for t in still_running)
        pytest.fail(f"the test left threads running: {names}", pytrace=False)


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Run torch on one thread: the models of these tests are tiny, and on a shared 2-core machine a second
    OpenMP thread that has to wait for a busy core makes every small operator many times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
