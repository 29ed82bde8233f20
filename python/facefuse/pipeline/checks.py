"""The argument checks every pipeline entry point shares (input / output paths, the frame
range, progress), stated once: ``swap_video``, ``lipsync_video`` and ``process_video`` call
these, so the batch runner's chunking can rely on one frame-range contract."""
from __future__ import annotations

import os
from fractions import Fraction
from typing import Any, Optional

from ..ops._common import check_int

__all__ = ["RANGE_ARGS", "input_file", "output_path", "output_dirs", "frame_range", "progress_arg",
           "models_present", "as_fps", "pix_fmt_arg"]

#: the keyword arguments of the frame range every engine pipeline takes (:func:`frame_range`)
RANGE_ARGS = ("start_frame", "stop_frame", "warmup_frames")


def input_file(fn: str, name: str, p: Any) -> str:
    """``p`` as a path string of an existing file."""
    if not isinstance(p, (str, os.PathLike)):
        raise TypeError(f"{fn}: argument '{name}' must be a path, got {type(p).__name__}")
    s = os.fspath(p)
    if not os.path.isfile(s):
        raise FileNotFoundError(f"{fn}: argument '{name}': no such file: {s!r}")
    return s


def output_path(fn: str, name: str, p: Any) -> str:
    """``p`` as a path string whose directory exists."""
    if not isinstance(p, (str, os.PathLike)):
        raise TypeError(f"{fn}: argument '{name}' must be a path, got {type(p).__name__}")
    s = os.fspath(p)
    d = os.path.dirname(os.path.abspath(s))
    if not os.path.isdir(d):
        raise FileNotFoundError(f"{fn}: argument '{name}': directory does not exist: {d!r}")
    return s


def output_dirs(fn: str, **paths: Any) -> None:
    """The optional side outputs (quality report / plot): None, or a path whose directory exists."""
    for name, p in paths.items():
        if p is not None:
            if not isinstance(p, (str, os.PathLike)):
                raise TypeError(f"{fn}: argument '{name}' must be a path or None, got {type(p).__name__}")
            if not os.path.isdir(os.path.dirname(os.path.abspath(os.fspath(p)))):
                raise FileNotFoundError(f"{fn}: argument '{name}': directory does not exist for {os.fspath(p)!r}")


def frame_range(fn: str, start_frame: Any, stop_frame: Any, warmup_frames: Any) -> tuple[int, Optional[int], int]:
    """The written range ``start_frame <= index < stop_frame`` and the warm-up before it:
    (start, stop or None, warm-up) as ints."""
    start = check_int(fn, "start_frame", start_frame, 0)
    warm = check_int(fn, "warmup_frames", warmup_frames, 0)
    if stop_frame is None:
        return start, None, warm
    if isinstance(stop_frame, bool) or not isinstance(stop_frame, int) or stop_frame <= start:
        raise ValueError(f"{fn}: argument 'stop_frame' must be None or an int > start_frame ({start}), "
                         f"got {stop_frame!r}")
    return start, int(stop_frame), warm


def progress_arg(fn: str, progress: Any) -> None:
    if not (progress is None or isinstance(progress, bool) or callable(progress)):
        raise TypeError(f"{fn}: argument 'progress' must be a bool, None or a callable, "
                        f"got {type(progress).__name__}")


def models_present(pool: Any, files: "list[tuple[Any, Any]]") -> None:
    """Find (or, where the pool may, download) each ``(path or file name, spec or None)`` before
    any model loads, and raise one ``ModelNotFoundError`` naming every file that is missing
    (each load alone would stop at the first, one missing file per try)."""
    from ..inference import ModelNotFoundError

    missing = []
    for path, spec in files:
        try:
            pool.resolve(path, spec)
        except ModelNotFoundError as e:
            missing.append((os.path.basename(os.fspath(path)), e))
    if len(missing) == 1:
        raise missing[0][1]
    if missing:
        raise ModelNotFoundError(f"{len(missing)} model files not found: {', '.join(f for f, _ in missing)}:\n"
                                 + "\n".join(f"  {f}: {e}" for f, e in missing))


def as_fps(fn: str, fps: Any) -> Fraction:
    """``fps`` (a constant output rate) as an exact ``Fraction`` > 0: 29.97 / 23.976 / 59.94 as
    the NTSC rates 30000/1001 / 24000/1001 / 60000/1001, other decimals as written."""
    import math

    if isinstance(fps, bool) or not isinstance(fps, (int, float, Fraction)) or not math.isfinite(float(fps)) \
            or fps <= 0 or fps > 1000:
        raise ValueError(f"{fn}: argument 'fps' must be a number in (0, 1000], got {fps!r}")
    if isinstance(fps, (int, Fraction)):
        return Fraction(fps)
    ntsc = round(float(fps) * 1.001)
    if float(fps) != ntsc and abs(float(fps) * 1.001 - ntsc) < 1e-3:
        return Fraction(ntsc * 1000, 1001)
    return Fraction(str(float(fps))).limit_denominator(100000)


def pix_fmt_arg(fn: str, pix_fmt: Any, codec: str) -> None:
    """``pix_fmt`` None, or a pixel format ``codec`` encodes."""
    if pix_fmt is None:
        return
    from ..video.color import encoder_pix_fmts

    formats = encoder_pix_fmts(codec)
    if formats is None:  # the writer names an unknown codec
        return
    if not isinstance(pix_fmt, str) or (formats and pix_fmt not in formats):
        raise ValueError(f"{fn}: argument 'pix_fmt' must be a pixel format {codec} encodes "
                         f"({', '.join(formats)}), got {pix_fmt!r}")
