"""Streaming video IO for face-swap / lip-sync pipelines (PyAV / FFmpeg).

* :class:`VideoReader` decodes any file FFmpeg reads (and still images) one frame at a
  time as H x W x 3 uint8 BGR arrays, rotated upright from the stream's display matrix,
  converted with the stream's own colour matrix and range (:mod:`.color`), each with its
  presentation time.
* :class:`VideoWriter` encodes BGR frames (H.264 by default) at their input timestamps with
  the input's colour tags and pixel format (unchanged pixels from the decoded samples:
  :mod:`.source_pixels`), copies every audio / subtitle track and the tags of a source file
  without re-encoding when the container allows, and writes through a temporary file renamed
  into place only on success.
* :func:`~facefuse.video.media_info.media_info`: what a file holds and what an output keeps
  (``facefuse probe``).
* :func:`process_video` runs decode -> ``fn`` -> encode in three concurrent stages
  joined by bounded queues, so memory does not grow with the video's length.

Every failure of FFmpeg on a file is raised as :class:`VideoError` (a ``ValueError``)
naming the file and what failed.

Modules: ``errors``, ``reader``, ``writer`` (with ``audio_mux``), ``color``, ``source_pixels``,
``probe``, ``media_info``, ``images``.
``process_video`` lives in :mod:`facefuse.pipeline.process_video` (it runs readers and
writers, a layer above them) and loads on first use.
"""
from __future__ import annotations

from typing import Any

from .color import ColorInfo
from .errors import VideoError
from .images import read_image, read_image_alpha
from .probe import audio_duration, available_encoders, count_frames
from .reader import Frame, VideoReader, _frame_pts  # noqa: F401  (_frame_pts: batch.chunks)
from .writer import VideoWriter, size_change_note

__all__ = [
    "VideoError",
    "ColorInfo",
    "Frame",
    "VideoReader",
    "VideoWriter",
    "read_image",
    "read_image_alpha",
    "available_encoders",
    "size_change_note",
    "count_frames",
    "audio_duration",
    "process_video",
]


def __getattr__(name: str) -> Any:  # PEP 562: the IO layer does not import the pipeline layer on import
    if name == "process_video":
        from ..pipeline.process_video import process_video

        globals()[name] = process_video
        return process_video
    raise AttributeError(f"module 'facefuse.video' has no attribute {name!r}")


def __dir__() -> list:
    return sorted(set(globals()) | {"process_video"})
