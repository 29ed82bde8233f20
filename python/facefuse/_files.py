"""Publishing a finished temporary file under its real name; writing a file that way; the
paths a command reads and writes (one check that no output is an input or another output;
the temporary files of an output that a killed run left behind)."""
from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
import threading
import time
from collections import Counter
from typing import Any, Callable, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

__all__ = ["publish", "write_atomic", "is_path", "same_file", "path_collisions", "check_distinct", "temp_files", "sweep_temps",
           "claim_outputs", "claimed_outputs"]

_umask_lock = threading.Lock()


def _umask() -> int:
    with _umask_lock:  # os.umask can only be read by setting it
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def publish(tmp: str, path: str) -> None:
    """Rename ``tmp`` to ``path`` atomically, with the permissions a plain ``open(path, "w")``
    would have given it (``tempfile.mkstemp`` creates files readable by the owner only)."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


def write_atomic(path: str, write: Callable[[str], None]) -> None:
    """``write(tmp)`` to a temporary file beside ``path`` (same extension, so writers that go
    by it still work), then :func:`publish` it; on any failure the temporary file is removed
    and ``path`` is left as it was."""
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=f".tmp{os.path.splitext(base)[1]}", dir=directory)
    os.close(fd)
    try:
        write(tmp)
        publish(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


# ----------------------------------------------------------------------------- inputs vs outputs

def _identity(path: Any) -> Tuple[str, Optional[Tuple[int, int]]]:
    """(resolved absolute path, (device, inode) of the file or None when it does not exist)."""
    p = os.fspath(path)
    real = os.path.normcase(os.path.realpath(os.path.expanduser(p)))
    try:
        st = os.stat(p)
        ino: Optional[Tuple[int, int]] = (st.st_dev, st.st_ino)
    except (OSError, ValueError):
        ino = None
    return real, ino


def same_file(a: Any, b: Any) -> bool:
    """Whether paths ``a`` and ``b`` name one file: the same path once symlinks (of the file
    or of a folder above it), ``..`` and relative parts are resolved, or two hard links of
    one inode. Works for files that do not exist yet (outputs) by their resolved path."""
    ra, ia = _identity(a)
    rb, ib = _identity(b)
    return ra == rb or (ia is not None and ia == ib)


def is_path(v: Any) -> bool:
    """A non-empty str / bytes / os.PathLike (not None, not an array)."""
    return isinstance(v, (str, bytes, os.PathLike)) and bool(os.fspath(v))


def path_collisions(reads: Iterable[Tuple[Any, Any]], writes: Iterable[Tuple[Any, Any]]) -> List[Tuple[Any, Any]]:
    """Pairs ``(written label, other label)`` where a written path names the same file
    (:func:`same_file`) as a read path or as an earlier written path. ``reads`` and ``writes``
    are ``(label, path)`` pairs; entries whose path is None or not a path (an array) are skipped."""
    seen_r = [(label, _identity(p)) for label, p in reads if is_path(p)]
    seen_w: List[Tuple[Any, Tuple[str, Optional[Tuple[int, int]]]]] = []
    found: List[Tuple[Any, Any]] = []
    for label, p in writes:
        if not is_path(p):
            continue
        ident = _identity(p)
        for other, oid in seen_w + seen_r:
            if ident[0] == oid[0] or (ident[1] is not None and ident[1] == oid[1]):
                found.append((label, other))
                break
        seen_w.append((label, ident))
    return found


def check_distinct(fn: str, reads: Mapping[str, Any], writes: Mapping[str, Any]) -> None:
    """Raise ValueError unless every path in ``writes`` (argument name -> path) differs from
    every path in ``reads`` and from the other written paths (see :func:`same_file`):
    ``"fn: argument 'output' ('a/face.png') and argument 'source' ('face.png') are the same
    file; ..."``. None values and non-paths (arrays) are skipped. Call it before any work."""
    hits = path_collisions(reads.items(), writes.items())
    if hits:
        a, b = hits[0]
        pa, pb = os.fspath(writes[a]), os.fspath(writes[b] if b in writes else reads[b])
        raise ValueError(f"{fn}: argument '{a}' ({pa!r}) and argument '{b}' ({pb!r}) are the same file; "
                         f"a file written must differ from every input and from the other outputs")


# ----------------------------------------------------------------------------- temporary files

def _temp_name_re(path: Any) -> "re.Pattern[str]":
    base = os.path.basename(os.fspath(path))
    ext = os.path.splitext(base)[1]
    # tempfile.mkstemp(prefix=".BASE.", suffix=".tmpEXT"): 8 random characters in between
    return re.compile(re.escape(f".{base}.") + r"[a-z0-9_]{8}" + re.escape(f".tmp{ext}") + r"\Z")


def temp_files(path: Any) -> List[str]:
    """The temporary files of ``path`` that exist now: ``.NAME.XXXXXXXX.tmpEXT`` beside it, as
    :func:`write_atomic` and :class:`facefuse.video.VideoWriter` name them (sorted)."""
    d = os.path.dirname(os.path.abspath(os.fspath(path)))
    pattern = _temp_name_re(path)
    try:
        names = os.listdir(d)
    except OSError:
        return []
    return sorted(os.path.join(d, n) for n in names if pattern.match(n))


#: without /proc (not Linux) a temporary file counts as stale once unmodified this long
STALE_WITHOUT_PROC_SECONDS = 3600.0


def _open_inodes(wanted: set, skip_pids: Sequence[int] = ()) -> Optional[set]:
    """Which (device, inode) of ``wanted`` some live process has open, from /proc/PID/fd;
    None when /proc cannot tell (not Linux). Processes whose descriptors cannot be read
    (another user's) are not seen: their files are not touched (see :func:`sweep_temps`)."""
    if not os.path.isdir("/proc/self/fd"):
        return None
    held: set = set()
    skip = {int(p) for p in skip_pids}
    try:
        pids = [int(n) for n in os.listdir("/proc") if n.isdigit()]
    except OSError:
        return None
    for pid in pids:
        if pid in skip:
            continue
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                st = os.stat(f"{fd_dir}/{fd}")
            except OSError:
                continue
            key = (st.st_dev, st.st_ino)
            if key in wanted:
                held.add(key)
                if held == wanted:
                    return held
    return held


def sweep_temps(path: Any, *, include_own: bool = False) -> List[str]:
    """Delete the temporary files of ``path`` (:func:`temp_files`) that no live process holds
    open: what a run killed by SIGKILL (or a crash) left; returns the paths removed.

    On Linux the open files of every process are read from /proc; a file this process has
    open counts as held unless ``include_own`` (the process is about to exit). Files owned by
    another user are left alone (their writers' descriptors cannot be read). Without /proc a
    file counts as stale once it has not been modified for :data:`STALE_WITHOUT_PROC_SECONDS`.
    Deleting a temporary file its writer has not opened yet is harmless: the writer creates it
    again when it opens it."""
    candidates = []
    uid = os.geteuid() if hasattr(os, "geteuid") else None
    for p in temp_files(path):
        try:
            st = os.lstat(p)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or (uid is not None and uid != 0 and st.st_uid != uid):
            continue
        candidates.append((p, (st.st_dev, st.st_ino), st.st_mtime))
    if not candidates:
        return []
    held = _open_inodes({c[1] for c in candidates}, skip_pids=(os.getpid(),) if include_own else ())
    removed = []
    now = time.time()
    for p, key, mtime in candidates:
        if held is None:
            if now - mtime < STALE_WITHOUT_PROC_SECONDS:
                continue
        elif key in held:
            continue
        try:
            os.unlink(p)
            removed.append(p)
        except FileNotFoundError:
            pass
    return removed


_claims: "Counter[str]" = Counter()
_claims_lock = threading.RLock()  # re-entrant: a signal handler (facefuse._signals) reads it in the main thread


@contextlib.contextmanager
def claim_outputs(paths: Iterable[Any], *, sweep: bool = True) -> Iterator[None]:
    """While the block runs, ``paths`` are outputs this process writes: on entry (``sweep``)
    the stale temporary files of each are removed (:func:`sweep_temps`), and a forced exit
    (a second Ctrl-C, see :mod:`facefuse._signals`) removes their temporary files, also the
    ones this process holds."""
    ps = [os.path.abspath(os.fspath(p)) for p in paths if is_path(p)]
    if sweep:
        for p in ps:
            sweep_temps(p)
    with _claims_lock:
        _claims.update(ps)
    try:
        yield
    finally:
        with _claims_lock:
            _claims.subtract(ps)
            for p in ps:
                if _claims[p] <= 0:
                    del _claims[p]


def claimed_outputs() -> List[str]:
    """The outputs claimed now (:func:`claim_outputs`)."""
    with _claims_lock:
        return sorted(_claims)
