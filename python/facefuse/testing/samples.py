"""Inputs for the README's examples and first tries: a real face photo (scikit-image's
astronaut, bundled with the package: nothing is downloaded), a mirrored copy standing in
for a generated face, an elliptic face mask and the photo's five face landmarks."""
from __future__ import annotations

from typing import Tuple

import numpy as np

__all__ = ["sample_inputs", "ASTRONAUT_LANDMARKS5"]

#: The astronaut photo's five landmarks (left eye, right eye, nose tip, mouth corners), pixel (x, y):
#: what a detector returns for it (yolo_face's keypoints, rounded).
ASTRONAUT_LANDMARKS5 = np.float32([[190, 120], [240, 118], [217, 150], [195, 178], [238, 176]])


def sample_inputs() -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(frame, face, mask)``: the 512 x 512 astronaut photo as uint8 BGR, the photo mirrored
    (same shape: "the generated face in place") and a float32 0..1 ellipse over the face.

    Needs scikit-image (in the ``dev`` extra): ``pip install scikit-image``.
    """
    try:
        from skimage import data
    except ImportError as e:  # the one optional dependency here: say how to get it
        raise ImportError("sample_inputs needs scikit-image: pip install scikit-image") from e
    import cv2

    frame = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    face = np.ascontiguousarray(frame[:, ::-1])
    mask = np.zeros(frame.shape[:2], np.float32)
    cv2.ellipse(mask, (215, 150), (80, 105), 0, 0, 360, 1.0, -1)
    return frame, face, mask
