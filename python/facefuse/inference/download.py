"""Safe model downloads over HTTP(S) with ``requests``.

The file goes to ``.<name>.part`` beside the target, under an exclusive lock on
``.<name>.lock``; an interrupted transfer is resumed with an HTTP ``Range`` request (in this
run after a cut connection, or by the next run); the CRC32 of the whole part is checked
against the published ``.hash`` companion before the part is renamed to the real name.
So the real name only ever holds a complete, verified file, and two processes fetching
the same file take turns (the second finds the first one's file and returns it).
Connection errors, timeouts and 5xx answers are retried with exponential backoff; a 404
(or another 4xx) moves on to the next URL.
"""
from __future__ import annotations

import contextlib
import os
import re
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple, Union

__all__ = ["DownloadError", "DownloadSettings", "download_file", "crc32_file", "read_hash_file", "fetch_hash",
           "lock_path", "part_path"]

_HASH_RE = re.compile(r"^[0-9a-f]{8}$")
_CHUNK = 1 << 20
# bytes per streamed read: what a cut connection loses of the read in flight (the rest is resumed)
_STREAM_CHUNK = 1 << 16


class DownloadError(OSError):
    """A model file could not be downloaded (every URL failed, or the hash did not match);
    the message names the file, the URLs tried and why. Nothing is left under the real name."""


@dataclass(frozen=True)
class DownloadSettings:
    """Timeouts (seconds: connect, then between two reads), retries per URL (attempts that
    make progress do not count) and the backoff before retry ``n`` (``backoff * 2**n``, at
    most ``max_backoff``)."""

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    retries: int = 4
    backoff: float = 1.0
    max_backoff: float = 16.0

    def delay(self, n: int) -> float:
        return min(self.max_backoff, self.backoff * (2 ** n))


Progress = Callable[[int, int], None]  # (bytes done, bytes total or 0)


def part_path(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.part")


def lock_path(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.lock")


def crc32_file(path: Union[str, os.PathLike]) -> str:
    """CRC32 of a file's bytes as FaceFusion writes it: 8 lowercase hex digits."""
    crc = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            crc = zlib.crc32(block, crc)
    return format(crc & 0xFFFFFFFF, "08x")


def _parse_hash(text: str, where: str) -> str:
    h = text.strip().lower()
    if not _HASH_RE.match(h):
        raise DownloadError(f"{where} is not a CRC32 hash file (expected 8 hex digits, got {text[:40]!r})")
    return h


def read_hash_file(path: Union[str, os.PathLike]) -> Optional[str]:
    """The CRC32 in a local ``.hash`` file, or None when there is none or it is not one."""
    try:
        return _parse_hash(Path(path).read_text(errors="replace"), str(path))
    except (OSError, DownloadError):
        return None


@contextlib.contextmanager
def _locked(path: Path, on_wait: Optional[Callable[[], None]] = None) -> Iterator[None]:
    """An exclusive lock on ``path`` (created if needed) for the block. The lock file stays:
    removing it would let a third process lock a new file while the second holds the old."""
    fd = os.open(str(path), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            import fcntl
        except ImportError:  # Windows
            fcntl = None  # type: ignore[assignment]
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if on_wait is not None:
                    on_wait()
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        else:  # pragma: no cover - Windows
            import msvcrt

            waited = False
            while True:
                try:
                    msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
                    break
                except OSError:
                    if not waited and on_wait is not None:
                        on_wait()
                    waited = True
                    time.sleep(0.2)
            try:
                yield
            finally:
                os.lseek(fd, 0, 0)
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    finally:
        os.close(fd)


def _session() -> Any:
    import requests

    s = requests.Session()
    s.headers["User-Agent"] = "facefuse-model-fetch"
    return s


class _Retry(Exception):
    """A transient failure of one attempt: try the same URL again after a backoff."""


class _NextUrl(Exception):
    """This URL cannot serve the file (404, another 4xx): try the next one."""


def fetch_hash(urls: Sequence[str], settings: DownloadSettings = DownloadSettings(), session: Any = None,
               sleep: Callable[[float], None] = time.sleep) -> Tuple[str, str]:
    """``(crc32, url)`` from the first of ``urls`` that serves a valid ``.hash`` file."""
    import requests

    sess = session or _session()
    why: List[str] = []
    for url in urls:
        for attempt in range(settings.retries + 1):
            try:
                r = sess.get(url, timeout=(settings.connect_timeout, settings.read_timeout))
                if r.status_code >= 500:
                    raise _Retry(f"HTTP {r.status_code}")
                if r.status_code != 200:
                    raise _NextUrl(f"HTTP {r.status_code}")
                return _parse_hash(r.text, f"hash companion {url}"), url
            except _NextUrl as e:
                why.append(f"{url}: {e}")
                break
            except DownloadError as e:
                why.append(str(e))
                break
            except (_Retry, requests.RequestException) as e:
                if attempt == settings.retries:
                    why.append(f"{url}: {_reason(e)} (after {attempt + 1} attempts)")
                else:
                    sleep(settings.delay(attempt))
    raise DownloadError("could not read the published CRC32 hash: " + "; ".join(why))


def _reason(e: BaseException) -> str:
    import requests

    if isinstance(e, requests.Timeout) or "timed out" in str(e).lower():  # a read timeout mid-body is a ConnectionError
        return f"timed out ({type(e).__name__})"
    if isinstance(e, requests.ConnectionError):
        return f"connection failed ({type(e).__name__}: {str(e)[:160]})"
    return str(e) or type(e).__name__


def _attempt(sess: Any, url: str, part: Path, settings: DownloadSettings, progress: Optional[Progress]) -> None:
    """One GET of ``url`` appended to ``part`` from its current size; returns when the body is
    complete, raises _Retry / _NextUrl / requests errors otherwise."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with sess.get(url, headers=headers, stream=True, timeout=(settings.connect_timeout, settings.read_timeout)) as r:
        if r.status_code == 416 and offset:
            return  # nothing after offset: the part is whole (the hash check decides)
        if r.status_code >= 500:
            raise _Retry(f"HTTP {r.status_code}")
        if r.status_code not in (200, 206):
            raise _NextUrl(f"HTTP {r.status_code}")
        if r.status_code == 206:
            start = _content_range_start(r.headers.get("Content-Range", ""))
            if start != offset:  # a server answering another range than asked: start over
                part.unlink()
                raise _Retry(f"server sent range from {start}, asked {offset}")
            mode = "ab"
        else:  # 200: the server ignored the range (or there was none): the whole file again
            offset, mode = 0, "wb"
        length = r.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else 0
        done = offset
        if progress is not None:
            progress(done, total)
        with open(part, mode) as f:
            for block in r.iter_content(_STREAM_CHUNK):
                f.write(block)
                done += len(block)
                if progress is not None:
                    progress(done, total)
            f.flush()
            os.fsync(f.fileno())
        if total and done < total:  # urllib3 usually raises first; a short body is a cut connection
            raise _Retry(f"connection closed after {done} of {total} bytes")


def _content_range_start(value: str) -> Optional[int]:
    m = re.match(r"bytes (\d+)-\d+/(\d+|\*)", value.strip())
    return int(m.group(1)) if m else None


def download_file(
    urls: Sequence[str],
    hash_urls: Sequence[str],
    dest: Union[str, os.PathLike],
    *,
    settings: DownloadSettings = DownloadSettings(),
    progress: Optional[Progress] = None,
    replace: bool = False,
    on_wait: Optional[Callable[[], None]] = None,
    session: Any = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """Download ``dest`` from the first of ``urls`` that serves it, verified against the CRC32
    read from ``hash_urls``; writes the ``.hash`` companion beside it. Returns ``dest``.

    Another process downloading the same ``dest`` is waited for (``on_wait()`` is called
    once when that happens); if it left a verified file, that file is returned (unless
    ``replace``: then the file is downloaded again and swapped in atomically).

    Raises
    ------
    DownloadError
        Naming the file, each URL tried and why it failed; a hash mismatch says both hashes.
        Nothing is left under ``dest``'s name (a part file that failed its hash is deleted).
    ValueError
        ``urls`` or ``hash_urls`` empty.
    """
    import requests

    if not urls:
        raise ValueError("download_file: argument 'urls' is empty")
    if not hash_urls:
        raise ValueError("download_file: argument 'hash_urls' is empty")
    dest = Path(dest)
    part = part_path(dest)
    hash_dest = dest.with_name(Path(dest.name).stem + ".hash")
    sess = session or _session()
    with _locked(lock_path(dest), on_wait):
        expected, _ = fetch_hash(hash_urls, settings, sess, sleep)
        if not replace and dest.is_file() and crc32_file(dest) == expected:  # another process finished it meanwhile
            _write_hash(hash_dest, expected)
            return dest
        why: List[str] = []
        for url in urls:
            fresh_retry = part.exists()  # a part from an earlier run may be bad: one retry from zero
            failures = 0
            while True:
                before = part.stat().st_size if part.exists() else 0
                try:
                    _attempt(sess, url, part, settings, progress)
                except _NextUrl as e:
                    why.append(f"{url}: {e}")
                    break
                except (_Retry, requests.RequestException) as e:
                    gained = (part.stat().st_size if part.exists() else 0) > before
                    failures = 0 if gained else failures + 1
                    if failures > settings.retries:
                        why.append(f"{url}: {_reason(e)} (after {failures} attempts without progress)")
                        break
                    sleep(settings.delay(max(0, failures - 1)))
                    continue
                got = crc32_file(part)
                if got == expected:
                    os.replace(part, dest)
                    _write_hash(hash_dest, expected)
                    return dest
                part.unlink()
                if fresh_retry:
                    fresh_retry = False
                    continue
                why.append(f"{url}: hash mismatch (CRC32 {got}, published {expected}); the download was deleted")
                break
        raise DownloadError(f"could not download {dest.name} into {dest.parent}: " + "; ".join(why))


def _write_hash(path: Path, crc: str) -> None:
    """The ``.hash`` companion beside the model, as FaceFusion keeps it (so `models verify`
    and FaceFusion itself can check the file without the network)."""
    if read_hash_file(path) == crc:
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(crc)
    os.replace(tmp, path)
