"""Publishing a finished temporary file under its real name."""
from __future__ import annotations

import os
import threading

__all__ = ["publish"]

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
