"""Fetching one file from the Hugging Face Hub: resumable, verified, with progress, retries and cancel.

This is the only module of the program that opens a network connection, and it does so only when a caller
asks for a download (the ``models download`` command, or the GUI's download button). ``huggingface_hub`` is
imported inside the functions, so merely importing this module costs nothing and contacts nobody.

How a file is fetched (``huggingface_hub`` does the HTTP work; this module decides what happens around it):

1. :func:`fetch_info` asks the Hub about the file (a ``HEAD`` of ``/{repo}/resolve/{revision}/{path}``): the
   commit it resolves to, its ETag (the SHA-256 for large LFS files, the Git object id for small ones), its size
   and the address to fetch it from.
2. :func:`download` streams it into ``<name>.part`` beside the destination with ``huggingface_hub``'s
   ``http_get``, which also resumes with an HTTP ``Range`` request when the connection breaks mid-file. A
   sidecar ``<name>.part.json`` remembers which ETag the partial file belongs to, so an interrupted download
   (cancel, crash, lost connection) resumes from where it stopped on the next call, and is started over if
   the file on the server changed meanwhile.
3. The finished file is checked against the expected SHA-256 (the registry's, else the Hub's ETag) and only
   then renamed to its final name. A mismatch deletes it.

The user's Hugging Face token is not sent (``token=False`` by default): the released models are public, and
the download should not tell the server who is asking. ``huggingface_hub``'s telemetry is switched off for these
requests (see :func:`_hub_settings`), so nothing but the file's own address is contacted.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

from core.common.cancel import CancelToken
from core.common.errors import (
    CancelledError,
    ChecksumMismatchError,
    DownloadError,
    OfflineError,
    RemoteFileNotFoundError,
)
from core.common.files import write_bytes_atomically
from core.weights.verification import git_blob_sha1, sha256_file

# Bytes per read from the connection. huggingface_hub reads 10 MB at a time; progress and cancel are only
# seen between reads, so smaller reads make both responsive on slow connections at no measurable cost.
CHUNK_BYTES = 1024 * 1024
# Seconds to wait for the server's answer to the metadata request before calling it unreachable.
METADATA_TIMEOUT = 10.0
# Progress reports are passed on at most this often (seconds), plus the first and the last one.
PROGRESS_INTERVAL = 0.1

_SHA256 = re.compile(r"[0-9a-f]{64}")
_GIT_SHA1 = re.compile(r"[0-9a-f]{40}")

# The HTTP client under huggingface_hub changed across its versions (requests, httpx, httpx2), so transport
# errors are recognised by class name rather than by importing one client's exception types.
_CONNECT_ERRORS = {"ConnectError", "ConnectTimeout", "NewConnectionError", "NameResolutionError", "ConnectionError"}
_TRANSIENT_ERRORS = _CONNECT_ERRORS | {
    "TimeoutException",
    "ReadTimeout",
    "TimeoutError",
    "RemoteProtocolError",
    "ReadError",
    "NetworkError",
    "TransportError",
    "ChunkedEncodingError",
    "ProtocolError",
    "IncompleteRead",
}


def _error_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _is_transient(exc: BaseException) -> bool:
    """Whether retrying may help: a broken or timed-out connection, or a 429/5xx answer."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int):
        return status == 429 or status >= 500
    return bool(_error_names(exc) & _TRANSIENT_ERRORS)


@dataclass(frozen=True)
class RemoteInfo:
    """What the Hub says about one file.

    Args:
        repo_id: the repository, ``owner/name``.
        filename: the file's path in the repository.
        revision: the branch, tag or commit that was asked for.
        commit: the commit it resolved to.
        etag: the Hub's ETag without quotes: SHA-256 for LFS files, Git object id for others.
        size: size in bytes, if the server said.
        url: where to fetch the content (the Hub itself, or a CDN it redirects to).
    """

    repo_id: str
    filename: str
    revision: str
    commit: str
    etag: str
    size: int | None
    url: str

    @property
    def sha256(self) -> str | None:
        """The file's SHA-256 when the ETag is one (large files stored with LFS), else ``None``."""
        return self.etag if _SHA256.fullmatch(self.etag) else None


@dataclass(frozen=True)
class DownloadProgress:
    """One progress report of a running download.

    Args:
        filename: the file being fetched (its path in the repository).
        done: bytes of this file on disk so far (including what an earlier, interrupted try fetched).
        total: the file's size, if known.
        rate: bytes per second fetched in this session (0 until something arrived).
        eta: estimated seconds until this file is complete, or ``None`` when unknown.
        overall_done: bytes done of everything the caller is downloading (equals ``done`` for one file).
        overall_total: size of everything, if known.
    """

    filename: str
    done: int
    total: int | None
    rate: float
    eta: float | None
    overall_done: int = 0
    overall_total: int | None = None

    @property
    def fraction(self) -> float | None:
        """Share of everything done, 0 to 1, when the total is known."""
        total = self.overall_total
        return None if not total else min(1.0, self.overall_done / total)


ProgressSink = Callable[[DownloadProgress], None]


def _hub_errors() -> dict[str, type[BaseException]]:
    """The ``huggingface_hub`` exception types this module tells apart (imported only when needed)."""
    from huggingface_hub import errors

    return {
        "offline": errors.OfflineModeIsEnabled,
        "repo": errors.RepositoryNotFoundError,
        "revision": errors.RevisionNotFoundError,
        "entry": errors.EntryNotFoundError,
        "http": errors.HfHubHTTPError,
    }


def _host(url: str) -> str:
    return urlparse(url).netloc or url


def _translate(exc: BaseException, url: str, what: str) -> DownloadError:
    """The project's exception for a failure of ``huggingface_hub`` while fetching ``what`` from ``url``."""
    errors = _hub_errors()
    host = _host(url)
    if isinstance(exc, errors["offline"]):
        return OfflineError(
            f"Could not download {what}: downloads are switched off on this computer (HF_HUB_OFFLINE is set).",
            hint="Unset HF_HUB_OFFLINE to download, or import files you already have with 'models import PATH'.",
        )
    if isinstance(exc, (errors["repo"], errors["revision"], errors["entry"])):
        return RemoteFileNotFoundError(
            f"Could not download {what}: the server {host} does not have it ({url}).",
            hint="The release may have moved; check the model's page, or import the files with 'models import'.",
        )
    if _error_names(exc) & _CONNECT_ERRORS:
        return OfflineError(
            f"Could not reach {host} to download {what}: this computer seems to be offline, or a firewall or "
            "proxy blocks the connection.",
            hint="Check the internet connection and try again; a partial download is kept and resumes.",
        )
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status is not None:
        return DownloadError(f"Could not download {what}: the server {host} answered with HTTP status {status}.")
    if "FileMetadataError" in _error_names(exc):
        return DownloadError(
            f"Could not download {what}: {host} did not answer like the Hugging Face Hub "
            "(a proxy, a captive portal or a wrong HF_ENDPOINT?).",
        )
    return DownloadError(f"Could not download {what} from {host}: {exc}.")


def _library_headers(token: str | bool | None) -> dict[str, str]:
    import importlib

    from core import __version__

    # huggingface_hub.utils exports its names lazily, which mypy cannot see; the function is public API.
    build_hf_headers = importlib.import_module("huggingface_hub.utils").build_hf_headers
    return dict(build_hf_headers(token=token, library_name="moebius-studio", library_version=__version__))


def fetch_info(
    repo_id: str,
    filename: str,
    *,
    revision: str = "main",
    endpoint: str | None = None,
    token: str | bool | None = False,
    timeout: float = METADATA_TIMEOUT,
) -> RemoteInfo:
    """Ask the Hub about one file (one ``HEAD`` request; nothing is downloaded).

    Args:
        repo_id: the repository, ``owner/name``.
        filename: the file's path in it.
        revision: branch, tag or commit.
        endpoint: the Hub's address; ``None`` uses ``HF_ENDPOINT`` or https://huggingface.co.
        token: a Hugging Face token, ``True`` for the stored one, ``False`` (default) to send none.
        timeout: seconds to wait for the answer.

    Raises:
        OfflineError: the server cannot be reached, or ``HF_HUB_OFFLINE`` is set.
        RemoteFileNotFoundError: the repository, revision or file does not exist there.
        DownloadError: any other refusal.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    url = hf_hub_url(repo_id, filename, revision=revision, endpoint=endpoint)
    try:
        with _hub_settings():
            meta = get_hf_file_metadata(url, token=token, timeout=timeout, library_name="moebius-studio")
    except Exception as exc:
        raise _translate(exc, url, filename) from exc
    if not meta.commit_hash or not meta.etag:
        raise DownloadError(
            f"Could not download {filename}: {_host(url)} did not answer like the Hugging Face Hub "
            "(no commit or ETag in its answer)."
        )
    return RemoteInfo(repo_id, filename, revision, meta.commit_hash, meta.etag, meta.size, meta.location or url)


class _Meter:
    """Turns the byte counts ``http_get`` reports into throttled :class:`DownloadProgress` events and checks
    the cancel token on every one (raising out of ``http_get`` is how a download is stopped)."""

    def __init__(self, filename: str, total: int | None, sink: ProgressSink | None, cancel: CancelToken | None):
        self.filename = filename
        self.total = total
        self.sink = sink
        self.cancel = cancel
        self.done = 0
        self._session_start = time.monotonic()
        self._session_bytes = 0
        self._last_report = 0.0

    def start(self, already: int) -> None:
        self.done = already
        self.report(force=True)

    def add(self, count: int) -> None:
        self.done += count
        if count > 0:
            self._session_bytes += count
        if self.cancel is not None:
            self.cancel.raise_if_cancelled()
        self.report(force=self.total is not None and self.done >= self.total)

    def report(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.sink is None or (not force and now - self._last_report < PROGRESS_INTERVAL):
            return
        self._last_report = now
        elapsed = now - self._session_start
        rate = self._session_bytes / elapsed if elapsed > 0 and self._session_bytes else 0.0
        eta = (self.total - self.done) / rate if rate > 0 and self.total is not None else None
        self.sink(DownloadProgress(self.filename, self.done, self.total, rate, eta, self.done, self.total))


def _bar_class(meter: _Meter) -> type:
    """A class with the small part of tqdm's interface ``http_get`` uses, feeding ``meter``."""

    class _Bar:
        def __init__(self, *args: object, initial: int = 0, **kwargs: object) -> None:
            meter.start(initial)

        def update(self, count: int = 1) -> None:
            meter.add(count)

        def close(self) -> None:
            return None

        def __enter__(self) -> _Bar:
            return self

        def __exit__(self, *exc_info: object) -> None:
            self.close()

    return _Bar


@contextlib.contextmanager
def _hub_settings() -> Iterator[None]:
    """Settings of ``huggingface_hub`` for the duration of one of this module's requests.

    * Telemetry off: with it on, building the request headers makes ``huggingface_hub`` fetch a list of "AI
      agent harnesses" from huggingface.co (whatever endpoint was chosen) and puts the torch version into the
      user agent; neither is part of downloading a file, so neither happens.
    * Reads of :data:`CHUNK_BYTES` (see the constant).
    """
    from huggingface_hub import constants

    previous = constants.DOWNLOAD_CHUNK_SIZE, constants.HF_HUB_DISABLE_TELEMETRY
    constants.DOWNLOAD_CHUNK_SIZE, constants.HF_HUB_DISABLE_TELEMETRY = CHUNK_BYTES, True
    try:
        yield
    finally:
        constants.DOWNLOAD_CHUNK_SIZE, constants.HF_HUB_DISABLE_TELEMETRY = previous


def partial_path(destination: Path) -> Path:
    """Where the unfinished content of ``destination`` is kept.

    Args:
        destination: the downloaded file's final name.
    """
    return destination.with_name(destination.name + ".part")


def _sidecar(destination: Path) -> Path:
    return destination.with_name(destination.name + ".part.json")


def _expected_hash(info: RemoteInfo, expected_sha256: str | None) -> str | None:
    """The SHA-256 the content must have; refuses at once when the registry and the Hub disagree."""
    if expected_sha256 is not None:
        expected = expected_sha256.lower()
        if info.sha256 is not None and info.sha256 != expected:
            raise ChecksumMismatchError(
                f"The server offers {info.filename} with SHA-256 {info.sha256}, but the released file has "
                f"{expected}; it was not downloaded.",
                hint="The file on the server changed, or the connection is being tampered with.",
            )
        return expected
    return info.sha256


def _check_content(path: Path, info: RemoteInfo, expected: str | None, cancel: CancelToken | None) -> str:
    """Verify a complete download; returns its SHA-256. Deletes the file and raises when it is wrong."""
    size = path.stat().st_size
    problem = None
    digest = sha256_file(path, cancel=cancel)
    if info.size is not None and size != info.size:
        problem = f"is {size} bytes long instead of {info.size}"
    elif expected is not None and digest != expected:
        problem = f"has SHA-256 {digest} instead of {expected}"
    elif expected is None and _GIT_SHA1.fullmatch(info.etag) and git_blob_sha1(path) != info.etag:
        problem = f"does not have the Git object id {info.etag} the server announced"
    if problem is not None:
        path.unlink(missing_ok=True)
        raise ChecksumMismatchError(
            f"The downloaded {info.filename} {problem}; it was deleted and not used.",
            hint="Try the download again; if this keeps happening, the server or the connection is faulty.",
        )
    return digest


@dataclass(frozen=True)
class Downloaded:
    """A finished, verified download.

    Args:
        path: the file.
        sha256: its SHA-256.
        info: what the Hub said about it.
        transferred: bytes fetched by this call (0 when an earlier call had already fetched everything).
    """

    path: Path
    sha256: str
    info: RemoteInfo
    transferred: int


def download(
    info: RemoteInfo,
    destination: Path,
    *,
    expected_sha256: str | None = None,
    progress: ProgressSink | None = None,
    cancel: CancelToken | None = None,
    retries: int = 3,
    retry_wait: float = 2.0,
    endpoint: str | None = None,
    token: str | bool | None = False,
) -> Downloaded:
    """Fetch the file ``info`` describes to ``destination``, resuming what an earlier call left.

    Args:
        info: from :func:`fetch_info`.
        destination: the final file name; its folder must exist and be writable.
        expected_sha256: the SHA-256 the file must have (the registry's, once known); ``None`` trusts the
            Hub's ETag when it is a SHA-256, else checks the Git object id or only the size.
        progress: receives :class:`DownloadProgress` reports (from the calling thread).
        cancel: stops the download at the next block; the partial file is kept for resuming.
        retries: how many times a broken connection or a server error (429, 5xx) is retried after waiting,
            on top of ``huggingface_hub``'s own immediate resumes within one try.
        retry_wait: seconds before the first retry; doubled for each further one.
        endpoint: the Hub's address (to ask again for a fresh download address before a retry).
        token: as in :func:`fetch_info`.

    Raises:
        CancelledError: ``cancel`` was set (the partial download is kept).
        ChecksumMismatchError: the content is not what was announced (nothing is kept).
        OfflineError, DownloadError: the transfer failed and retries did not help (the partial file is kept).
    """
    expected = _expected_hash(info, expected_sha256)
    part, sidecar = partial_path(destination), _sidecar(destination)
    # 0. A complete earlier download that was not installed yet (e.g. the disk filled up while converting it)
    #    is used again when it still is the file the server offers.
    if destination.is_file() and (info.size is None or destination.stat().st_size == info.size):
        with contextlib.suppress(ChecksumMismatchError):
            digest = _check_content(destination, info, expected, cancel)
            return Downloaded(destination, digest, info, 0)
    destination.unlink(missing_ok=True)
    # 1. Keep an unfinished download only if it belongs to the same version of the file.
    try:
        saved = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        saved = None
    stale = not isinstance(saved, dict) or saved.get("etag") != info.etag or not part.is_file()
    if stale or (info.size is not None and part.stat().st_size > info.size):
        part.unlink(missing_ok=True)
    write_bytes_atomically(sidecar, json.dumps({"etag": info.etag, "commit": info.commit, "size": info.size}).encode())
    # 2. Transfer, resuming and retrying.
    meter = _Meter(info.filename, info.size, progress, cancel)
    start_size = part.stat().st_size if part.is_file() else 0
    attempt = 0
    while True:
        if cancel is not None:
            cancel.raise_if_cancelled()
        try:
            _transfer(info, part, meter, token)
            break
        except (CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:
            if _is_consistency_error(exc):
                part.unlink(missing_ok=True)  # the server sent a different length than announced: start over
            elif not _is_transient(exc):
                raise _translate(exc, info.url, info.filename) from exc
            if attempt >= retries:
                raise _translate(exc, info.url, info.filename) from exc
            _wait(retry_wait * 2**attempt, cancel)
            attempt += 1
            info = _refresh(info, endpoint, token)
    # 3. Verify, then give the file its final name.
    try:
        digest = _check_content(part, info, expected, cancel)
    except ChecksumMismatchError:
        sidecar.unlink(missing_ok=True)
        raise
    part.replace(destination)
    sidecar.unlink(missing_ok=True)
    return Downloaded(destination, digest, info, max(0, destination.stat().st_size - start_size))


def _transfer(info: RemoteInfo, part: Path, meter: _Meter, token: str | bool | None) -> None:
    """One try: append the missing bytes to ``part`` with ``huggingface_hub``'s ``http_get``."""
    from huggingface_hub.file_download import http_get

    resume = part.stat().st_size if part.is_file() else 0
    if info.size is not None and resume == info.size:
        meter.start(resume)
        return
    with _hub_settings(), open(part, "ab") as handle:
        http_get(
            info.url,
            handle,
            resume_size=resume,
            headers=_library_headers(token),
            expected_size=info.size,
            displayed_filename=info.filename,
            tqdm_class=_bar_class(meter),
        )


def _is_consistency_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and "Consistency check failed" in str(exc)


def _wait(seconds: float, cancel: CancelToken | None) -> None:
    """Sleep before a retry, waking up early to honour a cancel."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if cancel is not None:
            cancel.raise_if_cancelled()
        time.sleep(min(left, 0.1))


def _refresh(info: RemoteInfo, endpoint: str | None, token: str | bool | None) -> RemoteInfo:
    """Ask again where to fetch the file (CDN addresses expire); keep the old answer if that fails too."""
    try:
        fresh = fetch_info(info.repo_id, info.filename, revision=info.commit, endpoint=endpoint, token=token)
    except DownloadError:
        return info
    if fresh.etag != info.etag:
        return info  # a different file now; the old address either still works or the retry fails clearly
    return replace(info, url=fresh.url)


def describe_progress(event: DownloadProgress) -> str:
    """One line for a text display: ``"ft_places2/… 312.4 MB of 904.8 MB, 11.2 MB/s, 53 s left"``.

    Args:
        event: a progress report.
    """
    from core.common.files import format_bytes

    text = f"{event.filename}  {format_bytes(event.done)}"
    if event.total is not None:
        text += f" of {format_bytes(event.total)}"
    if event.rate > 0:
        text += f", {format_bytes(event.rate)}/s"
    if event.eta is not None:
        text += f", {_duration(event.eta)} left"
    return text


def _duration(seconds: float) -> str:
    whole = int(seconds + 0.5)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"

