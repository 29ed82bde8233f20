"""The face record every model family reads and fills in."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

__all__ = ["Face"]


@dataclass
class Face:
    """One detected face in one frame (all coordinates in frame pixels, float32).

    ``landmarks5`` follows InsightFace / FaceFusion order: left eye, right eye, nose tip,
    left mouth corner, right mouth corner ("left" = image left). Later stages fill in
    ``landmarks68`` (landmarker), ``embedding`` / ``normed_embedding`` (recogniser) and
    ``track_id`` (the pipeline's tracker).
    """

    box: np.ndarray  # (4,) x1, y1, x2, y2
    score: float
    landmarks5: np.ndarray  # (5, 2)
    landmarks68: Optional[np.ndarray] = None  # (68, 2)
    embedding: Optional[np.ndarray] = None  # (512,) raw recogniser output
    normed_embedding: Optional[np.ndarray] = None  # (512,) unit length
    track_id: int = -1

    @property
    def size(self) -> float:
        """Geometric mean of the box's width and height (pixels)."""
        w = float(self.box[2] - self.box[0])
        h = float(self.box[3] - self.box[1])
        return float(np.sqrt(max(w, 0.0) * max(h, 0.0)))
