"""Unchanged pixels written from the decoded source frame itself, at its own bit depth.

The pipelines work on 8-bit BGR (the models and the native ops take uint8 / float32, not
uint16). Re-converting a 10-bit frame from that BGR would quantise it to 8 bits everywhere and
resample its chroma once more; instead the writer takes the source frame (YUV, as decoded)
and replaces only the box where the processed BGR differs from the decoded BGR (the pasted
face): a frame without a face is encoded from its source samples exactly, and outside the face
box every sample is the source's, at its full depth.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

__all__ = ["changed_box", "merge_source"]


def changed_box(out: np.ndarray, src: np.ndarray) -> Optional[tuple]:
    """(y0, y1, x0, x1) bounding the pixels where ``out`` differs from ``src`` (H x W x 3 uint8),
    or None when they are equal. Runs for every written frame: OpenCV's SIMD absdiff and
    bounding rectangle of the non-zero bytes (rows of W * 3 channel values), ~25x NumPy's
    ``np.any(out != src, axis=2)`` at 1080p."""
    import cv2

    h, w = out.shape[:2]
    x, y, bw, bh = cv2.boundingRect(cv2.absdiff(out, src).reshape(h, w * 3))
    if bw == 0:
        return None
    return y, y + bh, x // 3, -(-(x + bw) // 3)  # channel columns -> whole pixels


def _plane(frame: Any, i: int) -> np.ndarray:
    """Plane ``i`` of ``frame`` as a writable ``height x width`` view (samples, line padding cut)."""
    p = frame.planes[i]
    depth = frame.format.components[0].bits
    dtype = np.uint16 if depth > 8 else np.uint8
    step = p.line_size // np.dtype(dtype).itemsize
    return np.frombuffer(p, dtype)[: p.height * step].reshape(p.height, step)[:, : p.width]


def merge_source(new: Any, source: Any, box: tuple) -> Any:
    """``new`` (the processed frame, converted to the output's pixel format) with every sample
    outside ``box`` (y0, y1, x0, x1 in luma pixels) taken from ``source`` (same format and size);
    chroma planes use the box scaled to their size, widened to whole samples."""
    y0, y1, x0, x1 = box
    for i in range(len(new.planes)):
        dst, src = _plane(new, i), _plane(source, i)
        sy, sx = new.height / dst.shape[0], new.width / dst.shape[1]
        a0, a1 = int(y0 // sy), int(-(-y1 // sy))
        b0, b1 = int(x0 // sx), int(-(-x1 // sx))
        keep = dst[a0:a1, b0:b1].copy()
        dst[...] = src
        dst[a0:a1, b0:b1] = keep
    return new


def source_usable(source: Any, pix_fmt: str, width: int, height: int) -> bool:
    """Whether ``source`` (a decoded frame) can stand in for unchanged pixels of an output in
    ``pix_fmt`` of ``width`` x ``height``: planar YUV of that format and size."""
    return (source is not None and source.format.name.replace("yuvj", "yuv") == pix_fmt.replace("yuvj", "yuv")
            and source.width == width
            and source.height == height and pix_fmt.startswith("yuv") and "p" in pix_fmt[3:]
            and all(c.bits == source.format.components[0].bits for c in source.format.components))
