"""Still images (or a video's first frame) read through :class:`VideoReader`."""
from __future__ import annotations

import numpy as np

from .errors import PathLike
from .reader import VideoReader, _upright


def read_image(path: PathLike, *, auto_rotate: bool = True) -> np.ndarray:
    """Read a still image (png, jpg, ... or the first frame of a video) as H x W x 3 uint8 BGR."""
    with VideoReader(path, auto_rotate=auto_rotate, strict=False) as r:
        return next(iter(r)).image


def read_image_alpha(path: PathLike, *, auto_rotate: bool = True) -> tuple:
    """:func:`read_image` and the image's alpha channel: ``(bgr, alpha)``, ``alpha`` an H x W
    uint8 array (rotated like ``bgr``), or None when the image has no alpha (a palette image
    counts as having one only when a colour of it is not opaque)."""
    with VideoReader(path, auto_rotate=auto_rotate, strict=False) as r:
        raw = r._first  # the decoded first frame, before iteration converts it to BGR
        alpha = None
        fmt = raw.format
        if fmt.has_palette or any(c.is_alpha for c in fmt.components):
            a = raw.to_ndarray(format="bgra")[..., 3]
            if not fmt.has_palette or int(a.min()) < 255:
                alpha = np.ascontiguousarray(_upright(a, r.rotation) if r.auto_rotate else a)
        return next(iter(r)).image, alpha
