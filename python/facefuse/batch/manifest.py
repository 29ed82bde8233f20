"""The batch manifest: each job's state, saved atomically after every change.

JSON ``{"version": 1, "jobs": {KEY: ENTRY}}``; ``KEY`` is :attr:`Job.key` (sha256 of kind,
inputs, output, options), ``ENTRY`` holds ``status`` (``pending`` / ``running`` / ``done`` /
``failed``), ``output``, ``name``, ``frames``, ``fps``, ``seconds``, ``quality``, ``error``,
``updated`` and, for a job split into chunks, ``plan`` and ``chunks`` (per chunk status
and frames). A save writes a temporary file beside the manifest, fsyncs it and renames it
over the old one, so a run killed at any instant leaves either the old or the new state.
One batch at a time uses a manifest (an exclusive lock on ``MANIFEST.lock``).
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from typing import Any, Dict, Optional

from .._files import publish

__all__ = ["Manifest", "ManifestError"]

VERSION = 1


class ManifestError(ValueError):
    """The manifest cannot be read, or another batch holds it."""


class Manifest:
    """Load (or start) the manifest at ``path`` and lock it for this process."""

    def __init__(self, path: "str | os.PathLike[str]") -> None:
        self.path = os.path.abspath(os.fspath(path))
        self._lock_fd: Optional[int] = None
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._lock()
        try:
            self._remove_stale_temps()
            self.data: Dict[str, Any] = self._load()
        except BaseException:
            self.close()
            raise

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no inter-process lock
            return
        fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ManifestError(f"manifest {self.path!r} is in use by another facefuse batch "
                                f"(lock {self.path + '.lock'!r})") from None
        self._lock_fd = fd  # the lock goes with the process, also when it is killed

    def _remove_stale_temps(self) -> None:
        """Temporary files of a save a killed run did not finish (we hold the lock)."""
        d, base = os.path.split(self.path)
        for name in os.listdir(d):
            if name.startswith(f".{base}.") and name.endswith(".tmp"):
                try:
                    os.unlink(os.path.join(d, name))
                except FileNotFoundError:
                    pass

    def _load(self) -> Dict[str, Any]:
        if not os.path.exists(self.path):
            return {"version": VERSION, "jobs": {}}
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise ManifestError(f"manifest {self.path!r} cannot be read ({e}); delete it to start over "
                                f"or pass another --manifest") from None
        if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("jobs"), dict):
            raise ManifestError(f"manifest {self.path!r} is not a facefuse batch manifest (version {VERSION})")
        return data

    # ----------------------------------------------------------------------- access
    def entry(self, key: str) -> Optional[Dict[str, Any]]:
        """The stored entry of job ``key`` (a live dict: change it through :meth:`update`)."""
        return self.data["jobs"].get(key)

    def update(self, key: str, **fields: Any) -> Dict[str, Any]:
        """Merge ``fields`` into job ``key``'s entry and save."""
        e = self.data["jobs"].setdefault(key, {})
        e.update(fields)
        e["updated"] = time.time()
        self.save()
        return e

    def update_chunk(self, key: str, chunk: int, **fields: Any) -> None:
        """Merge ``fields`` into chunk ``chunk`` of job ``key`` and save."""
        e = self.data["jobs"].setdefault(key, {})
        e.setdefault("chunks", {}).setdefault(str(chunk), {}).update(fields)
        e["updated"] = time.time()
        self.save()

    def save(self) -> None:
        """Write atomically: temp file in the same directory, fsync, rename."""
        directory = os.path.dirname(self.path)
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(self.path)}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.data, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            publish(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def close(self) -> None:
        """Release the lock."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> "Manifest":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
