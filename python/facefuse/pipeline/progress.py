"""A dependency-free progress bar on stderr: frames done / total, fps, ETA."""
from __future__ import annotations

import sys
import time
from typing import Optional, TextIO

__all__ = ["ProgressBar", "format_duration"]


def format_duration(seconds: float) -> str:
    """``75.2`` -> ``"1:15"``, ``3725`` -> ``"1:02:05"``; ``"--:--"`` when unknown."""
    if seconds is None or not seconds >= 0 or seconds == float("inf"):
        return "--:--"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressBar:
    """``label [#######.....] 120/500 frames 24.3 fps ETA 0:15`` rewritten in place.

    ``enabled=None`` draws only when ``stream`` is a terminal (a log file or a pipe gets
    nothing); ``True`` forces it (then, off a terminal, one line per redraw). Redraws
    are throttled to one per ``min_interval`` seconds, plus the final one; off a terminal
    with ``log_step`` (e.g. 0.1) and a known total, a line is written instead each time
    another ``log_step`` of the total is done (a log gets ~1 / log_step lines). ``total`` 0
    means unknown (no bar, no ETA). fps is the average since the first update. The
    instance is also a ``(done, total)`` callable, the pipelines' progress callback.
    """

    def __init__(self, total: int = 0, *, label: str = "", enabled: Optional[bool] = None,
                 stream: Optional[TextIO] = None, min_interval: float = 0.2, width: int = 24,
                 log_step: Optional[float] = None) -> None:
        if log_step is not None and not 0.0 < log_step <= 1.0:
            raise ValueError(f"ProgressBar: argument 'log_step' must be None or in (0, 1], got {log_step!r}")
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            try:
                enabled = bool(self.stream.isatty())
            except (AttributeError, ValueError):
                enabled = False
        self.enabled = bool(enabled)
        self.total = max(0, int(total))
        self.label = label
        self.min_interval = float(min_interval)
        self.width = int(width)
        self.done = 0
        self._t0: Optional[float] = None
        self._d0 = 0
        self._last_draw = -float("inf")
        self._tty = self.enabled and bool(getattr(self.stream, "isatty", lambda: False)())
        self._drawn = False
        self._drawn_done: Optional[int] = None
        self.log_step = log_step
        self._logged_step = -1  # the last log_step multiple written (log mode)

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
            parts.append(f"{self.done}/{self.total} frames")
        else:
            parts.append(f"{self.done} frames")
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
        elif now - self._last_draw >= self.min_interval or final:
            self._draw(now)

    __call__ = update

    def _draw(self, now: float) -> None:
        self._last_draw = now
        line = self.text(now)
        try:
            if self._tty:
                self.stream.write("\r\033[K" + line)
            else:
                self.stream.write(line + "\n")
            self.stream.flush()
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
