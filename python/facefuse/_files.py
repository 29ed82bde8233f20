"""Publishing a finished temporary file under its real name; writing a file that way."""
from __future__ import annotations

import os
import tempfile
import threading
from typing import Callable

__all__ = ["publish", "write_atomic"]

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
