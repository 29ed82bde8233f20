"""The still images of a swap: the source face, the reference face, an image target and its
output (written atomically, its alpha channel kept where the format holds one)."""
from __future__ import annotations

import os
from typing import Any, Optional, Union

import numpy as np

from .._files import write_atomic
from .selection import order_faces

__all__ = ["IMAGE_EXTENSIONS", "ALPHA_EXTENSIONS", "is_image_path", "read_face_image", "frame_at", "pick_face",
           "write_image"]

PathLike = Union[str, "os.PathLike[str]"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
#: image formats whose files hold an alpha channel (as cv2 writes them)
ALPHA_EXTENSIONS = (".png", ".webp", ".tif", ".tiff")


def is_image_path(path: PathLike) -> bool:
    return os.path.splitext(os.fspath(path))[1].lower() in IMAGE_EXTENSIONS


def read_face_image(path_or_array: Any, name: str) -> np.ndarray:
    if isinstance(path_or_array, np.ndarray):
        a = path_or_array
        if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
            raise ValueError(f"swap_video: argument '{name}' must be an H x W x 3 uint8 BGR image, "
                             f"got {a.dtype} array of shape {a.shape}")
        return np.ascontiguousarray(a)
    if not isinstance(path_or_array, (str, os.PathLike)):
        raise TypeError(f"swap_video: argument '{name}' must be a path or an H x W x 3 uint8 array, "
                        f"got {type(path_or_array).__name__}")
    from ..video import read_image

    p = os.fspath(path_or_array)
    if not os.path.isfile(p):
        raise FileNotFoundError(f"swap_video: argument '{name}': no such file: {p!r}")
    return read_image(p)


def frame_at(path: str, index: int) -> np.ndarray:
    from ..video import VideoReader

    count = 0
    with VideoReader(path, strict=False) as r:
        for fr in r:
            if fr.index == index:
                return fr.image
            count += 1
    raise ValueError(f"swap_video: argument 'reference_frame' is {index} but {path!r} has only {count} frame(s)")


def pick_face(detector: Any, image: np.ndarray, order: str, index: int, what: str, hint: str = "") -> Any:
    faces = list(detector.detect(image))
    if not faces:
        raise ValueError(f"swap_video: no face found in the {what}{hint}")
    ordered = order_faces(faces, order)
    if index >= len(ordered):
        raise ValueError(f"swap_video: argument 'face_index' is {index} but the {what} has {len(faces)} face(s)")
    return faces[ordered[index]]




def write_image(path: str, image: np.ndarray, alpha: Optional[np.ndarray] = None) -> Optional[str]:
    """Write ``image`` (BGR) with ``alpha`` (H x W, the target's) as its alpha channel where the
    format holds one; returns why the alpha was dropped otherwise (None when kept or absent)."""
    import cv2

    from .._outputs import output_error, reason
    from ..video import VideoError

    # encoded in memory first: cv2.imwrite's bare False does not tell an encoder that does not
    # take the image from a write that failed (a full disk), nor say why
    ext = os.path.splitext(path)[1].lower()
    note = None
    if alpha is not None:
        if ext in ALPHA_EXTENSIONS:  # the face edit worked on BGR; the alpha goes back as it came
            image = np.dstack([image, alpha])
        else:
            note = (f"swap_video: the target's alpha channel is dropped: {ext} images have none "
                    f"(write {', '.join(ALPHA_EXTENSIONS[:-1])} to keep it)")
    try:
        ok, buf = cv2.imencode(ext, image)
    except cv2.error as e:
        ok, buf, why = False, None, f": {str(e).strip().splitlines()[-1]}"
    else:
        why = ""
    if not ok:
        raise VideoError(f"swap_video: cannot encode the image {path!r} as {ext}{why}")

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(buf.tobytes())

    try:
        write_atomic(path, write)
    except OSError as e:
        raise output_error(f"swap_video: cannot write the image {path!r}: {reason(e)}", e) from e
    return note


