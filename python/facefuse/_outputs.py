"""Errors about the files a run writes: which file, why, and what was kept.

A failed write (full disk, no permission) must name the file it was writing and, when it
happens after the main output was written (the quality report and plot come after the
video), say that the main output was kept and where.
"""
from __future__ import annotations

import os
from typing import Any, Optional, Sequence, Tuple

from ._files import write_atomic

__all__ = ["output_error", "reason", "write_quality_files"]


def reason(e: BaseException) -> str:
    """The OS's words for an OSError ("No space left on device"), else the message."""
    if isinstance(e, OSError) and e.strerror:
        return str(e.strerror)
    return str(e) or type(e).__name__


def output_error(message: str, cause: OSError) -> OSError:
    """An exception of ``cause``'s type (FileNotFoundError, PermissionError, OSError ...) with
    ``cause``'s ``errno`` whose text is ``message`` alone (no "[Errno 28]" prefix)."""
    try:
        e = type(cause)(message)
    except Exception:  # noqa: BLE001 - a subclass with another constructor
        e = OSError(message)
    e.errno = cause.errno
    return e


def write_quality_files(fn: str, written: Sequence[Tuple[str, str]], monitor: Any,
                        quality_report: Optional[Any], quality_plot: Optional[Any]) -> None:
    """Write ``monitor``'s JSON report and PNG plot (each a temporary file renamed into
    place), after the outputs in ``written`` (``(what, path)`` pairs, e.g. ``("video",
    "out.mp4")``). A failed write raises :func:`output_error`: ``"<fn>: writing the quality
    report 'q.json' failed: No space left on device; the video 'out.mp4' was written and kept"``."""
    kept = list(written)
    for what, p, write in (("quality report", quality_report, monitor.to_json),
                           ("quality plot", quality_plot, monitor.plot)):
        if p is None:
            continue
        path = os.fspath(p)
        try:
            write_atomic(path, write)
        except OSError as e:
            names = " and ".join(f"the {w} {q!r}" for w, q in kept)
            tail = f"; {names} {'was' if len(kept) == 1 else 'were'} written and kept" if kept else ""
            raise output_error(f"{fn}: writing the {what} {path!r} failed: {reason(e)}{tail}", e) from e
        kept.append((what, path))
