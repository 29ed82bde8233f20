"""Mel windows of the driving audio, frame by frame, decoded as the video streams (nothing
grows with the audio's length)."""
from __future__ import annotations

import os
from typing import Optional, Union

import numpy as np

from .audio import _LEAD_SECONDS, MEL_STEPS_PER_SECOND, MEL_WINDOW, SAMPLE_RATE, MelStream, decode_audio, \
    mel_window_start

__all__ = ["MelFeed"]

PathLike = Union[str, "os.PathLike[str]"]

#: seconds of silence appended after the audio so the last frames' 0.2 s windows fit
_TAIL_PAD_SECONDS = 0.25


class MelFeed:
    """Mel windows for frames 0, 1, 2, ... pulled from the streaming decoder; keeps only the
    mel rows from the current window on."""

    def __init__(self, path: PathLike, fps: float) -> None:
        self.fps = fps
        self._chunks = decode_audio(path, chunk_samples=SAMPLE_RATE // 2)
        self._stream = MelStream()
        self._rows = np.zeros((0, 80), np.float32)
        self._offset = 0
        self.samples = 0
        self.ended = False

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE

    def start_step(self, k: int, t: Optional[float] = None) -> int:
        """First mel step of frame ``k`` shown at ``t`` seconds (from the video's start; None:
        ``k / fps``). On the constant-rate grid this is :func:`mel_window_start` (Diff2Lip's own
        expression, bit for bit); off it (variable frame rate) the same rule by the frame's real
        time: the 0.2 s window starts 40 ms before the frame, clamped at 0."""
        if t is None or abs(t * self.fps - k) < 1e-6:
            return mel_window_start(k, self.fps)
        return int(MEL_STEPS_PER_SECOND * max(float(t) - _LEAD_SECONDS, 0.0))

    def window(self, k: int, t: Optional[float] = None) -> Optional[np.ndarray]:
        """Frame k's [80, 16] window (the frame shown at ``t`` seconds from the video's start;
        None: ``k / fps``), or None when the frame is past the audio."""
        start = self.start_step(k, t)
        t = k / self.fps if t is None else float(t)
        while self._offset + self._rows.shape[0] < start + MEL_WINDOW and not self.ended:
            chunk = next(self._chunks, None)
            if chunk is None:
                self.ended = True
                pad = np.zeros(int(_TAIL_PAD_SECONDS * SAMPLE_RATE), np.float32)
                new = np.concatenate([self._stream.push(pad), self._stream.flush()])
            else:
                self.samples += chunk.shape[0]
                new = self._stream.push(chunk)
            self._rows = np.concatenate([self._rows, new])
            # drop the rows before the window while reading: a chunk that starts late in a long
            # video (start_frame) would otherwise hold, and re-copy, every row up to its start
            self._drop_before(start)
        if self.ended and t >= self.seconds:
            return None
        s = start - self._offset
        if s < 0 or s + MEL_WINDOW > self._rows.shape[0]:
            raise ValueError(f"MelFeed.window: frame {k} needs mel steps {start}..{start + MEL_WINDOW - 1}, "
                             f"the feed holds {self._offset}..{self._offset + self._rows.shape[0] - 1}")
        w = np.ascontiguousarray(self._rows[s:s + MEL_WINDOW].T, dtype=np.float32)
        self._drop_before(start)
        return w

    def _drop_before(self, step: int) -> None:
        drop = min(step - self._offset, self._rows.shape[0])
        if drop > 0:
            self._rows = self._rows[drop:]
            self._offset += drop

    def close(self) -> None:
        self._chunks.close()
