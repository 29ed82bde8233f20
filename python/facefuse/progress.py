"""Progress on a stream (stderr by default), for the CLIs, the pipelines and the batch runner.

Two displays share the drawing rules: on a terminal one line is redrawn in place
(:data:`CLEAR_LINE` then the text), off one (a log file, a pipe) text goes out as whole
lines; redraws are throttled (:class:`Throttle`). :class:`ProgressBar` is the frame bar of
``facefuse swap`` / ``lipsync``; :class:`StatusLine` is ``facefuse batch``'s event lines
under a redrawn status line. Standard library only: the module sits below every layer
that reports progress.
"""
from __future__ import annotations

import math
import sys
import time
from typing import Any, Optional, TextIO

__all__ = ["CLEAR_LINE", "is_terminal", "write_line", "format_duration", "format_bytes", "Throttle", "ProgressBar", "StatusLine"]

#: Carriage return, then erase to the end of the line: what a redraw in place starts with.
CLEAR_LINE = "\r\033[K"


def is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is a terminal (False for None, a closed stream or one without ``isatty``)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def write_line(stream: TextIO, text: str, *, in_place: bool) -> None:
    """``text`` drawn over the current line (``in_place``, a terminal) or written as a line."""
    stream.write(CLEAR_LINE + text if in_place else text + "\n")
    stream.flush()


def format_duration(seconds: Optional[float]) -> str:
    """``75.2`` -> ``"1:15"``, ``3725`` -> ``"1:02:05"``; ``"--:--"`` when unknown."""
    if seconds is None or not seconds >= 0 or seconds == math.inf:
        return "--:--"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 kB"``, ``98_300_000`` -> ``"98.3 MB"`` (decimal units, as HTTP tools print)."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} GB"  # pragma: no cover - the loop returns


class Throttle:
    """At most one redraw per ``interval`` seconds: :meth:`due` says whether one may happen at
    ``now``, :meth:`mark` records one (the caller picks the clock)."""

    def __init__(self, interval: float) -> None:
        self.interval = float(interval)
        self.last = -math.inf

    def due(self, now: float) -> bool:
        return now - self.last >= self.interval

    def mark(self, now: float) -> None:
        self.last = now


class ProgressBar:
    """``label [#######.....] 120/500 frames 24.3 fps ETA 0:15`` rewritten in place.

    ``enabled=None`` draws only when ``stream`` is a terminal (a log file or a pipe gets
    nothing); ``True`` forces it (then, off a terminal, one line per redraw). Redraws
    are throttled to one per ``min_interval`` seconds, plus the final one; off a terminal
    with ``log_step`` (e.g. 0.1) and a known total, a line is written instead each time
    another ``log_step`` of the total is done (a log gets ~1 / log_step lines). ``total`` 0
    means unknown (no bar, no ETA). fps is the average since the first update. The
    instance is also a ``(done, total)`` callable, the pipelines' progress callback.
    ``unit="bytes"`` counts bytes instead of frames (``12.0/98.3 MB 4.1 MB/s ETA 0:21``: a download).
    """

    def __init__(self, total: int = 0, *, label: str = "", enabled: Optional[bool] = None,
                 stream: Optional[TextIO] = None, min_interval: float = 0.2, width: int = 24,
                 log_step: Optional[float] = None, unit: str = "frames") -> None:
        if unit not in ("frames", "bytes"):
            raise ValueError(f"ProgressBar: argument 'unit' must be 'frames' or 'bytes', got {unit!r}")
        self.unit = unit
        if log_step is not None and not 0.0 < log_step <= 1.0:
            raise ValueError(f"ProgressBar: argument 'log_step' must be None or in (0, 1], got {log_step!r}")
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = is_terminal(self.stream) if enabled is None else bool(enabled)
        self.total = max(0, int(total))
        self.label = label
        self._throttle = Throttle(min_interval)
        self.width = int(width)
        self.done = 0
        self._t0: Optional[float] = None
        self._d0 = 0
        self._tty = self.enabled and is_terminal(self.stream)
        self._drawn = False
        self._drawn_done: Optional[int] = None
        self.log_step = log_step
        self._logged_step = -1  # the last log_step multiple written (log mode)

    @property
    def min_interval(self) -> float:
        return self._throttle.interval

    @min_interval.setter
    def min_interval(self, seconds: float) -> None:
        self._throttle.interval = float(seconds)

    def text(self, now: Optional[float] = None) -> str:
        """The current line (without the carriage return)."""
        now = time.perf_counter() if now is None else now
        elapsed = 0.0 if self._t0 is None else now - self._t0
        # the rate since the first update (the first frame carries the pipeline's start-up)
        fps = (self.done - self._d0) / elapsed if elapsed > 0 else 0.0
        parts = [self.label] if self.label else []
        if self.total:
            frac = min(1.0, self.done / self.total)
            fill = int(round(frac * self.width))
            parts.append("[" + "#" * fill + "." * (self.width - fill) + "]")
        if self.unit == "bytes":
            parts.append(f"{format_bytes(self.done)}/{format_bytes(self.total)}" if self.total
                         else format_bytes(self.done))
            parts.append(f"{format_bytes(fps)}/s")
        else:
            parts.append(f"{self.done}/{self.total} frames" if self.total else f"{self.done} frames")
            parts.append(f"{fps:.1f} fps")
        if self.total and fps > 0:
            parts.append("ETA " + format_duration(max(0, self.total - self.done) / fps))
        else:
            parts.append(f"elapsed {format_duration(elapsed)}")
        return " ".join(parts)

    def update(self, done: int, total: Optional[int] = None) -> None:
        """Set the frames done (and the total when it becomes known); redraw if due."""
        now = time.perf_counter()
        if self._t0 is None:
            self._t0 = now
            self._d0 = int(done)
        self.done = int(done)
        if total is not None and total > 0:
            # an estimated total (no frame count in the container) may be passed
            self.total = max(int(total), self.done)
        if not self.enabled:
            return
        final = bool(self.total) and self.done >= self.total
        if self.log_step is not None and not self._tty and self.total:
            step = int(min(1.0, self.done / self.total) / self.log_step + 1e-9)
            if step > self._logged_step:
                self._logged_step = step
                self._draw(now)
        elif self._throttle.due(now) or final:
            self._draw(now)

    __call__ = update

    def _draw(self, now: float) -> None:
        self._throttle.mark(now)
        line = self.text(now)
        try:
            write_line(self.stream, line, in_place=self._tty)
            self._drawn = True
            self._drawn_done = self.done
        except (OSError, ValueError):  # a closed stream must not kill the run
            self.enabled = False

    def close(self) -> None:
        """Draw the final state and end the line."""
        if self.enabled and self._t0 is not None:
            if self.done != self._drawn_done:
                self._draw(time.perf_counter())
            if self._tty and self._drawn:
                try:
                    self.stream.write("\n")
                    self.stream.flush()
                except (OSError, ValueError):
                    pass
        self.enabled = False

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StatusLine:
    """Event lines (``prefix + msg``) under one status line redrawn in place.

    :meth:`event` always writes its line (erasing the status line first on a terminal);
    :meth:`status` redraws the status line on a terminal only (a log gets the events
    alone), at most once per ``min_interval`` seconds unless ``force``, cut to ``max_width``
    characters; :meth:`close` erases it. ``stream`` None: nothing is written.
    """

    def __init__(self, stream: Optional[TextIO], *, prefix: str = "", min_interval: float = 0.2,
                 max_width: int = 200) -> None:
        self.stream = stream
        self.tty = is_terminal(stream)
        self.prefix = prefix
        self.max_width = int(max_width)
        self._throttle = Throttle(min_interval)
        self._shown = False  # a status line is on screen

    def event(self, msg: str) -> None:
        if self.stream is None:
            return
        if self.tty and self._shown:
            self.stream.write(CLEAR_LINE)
            self._shown = False
        write_line(self.stream, self.prefix + msg, in_place=False)

    def status(self, line: str, force: bool = False) -> None:
        if self.stream is None or not self.tty:
            return
        now = time.monotonic()
        if not force and not self._throttle.due(now):
            return
        self._throttle.mark(now)
        write_line(self.stream, line[:self.max_width], in_place=True)
        self._shown = True

    def close(self) -> None:
        if self.stream is not None and self.tty and self._shown:
            self.stream.write(CLEAR_LINE)
            self.stream.flush()
            self._shown = False
