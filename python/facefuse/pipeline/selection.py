"""Which target faces a swap takes: face orders, and the selector that follows a face (by
index, or by likeness to a reference face) across frames through the tracker's ids."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

__all__ = ["FACE_MODES", "FACE_ORDERS", "order_faces", "FaceSelector", "roi_union"]

#: "reference": the one target face closest (ArcFace cosine distance) to a reference face;
#: "all": every detected face (FaceFusion's "many"); "index": the ``face_index``-th face
#: in ``face_order`` (FaceFusion's "one" for index 0), followed by its track.
FACE_MODES = ("reference", "all", "index")
#: "large-small" (FaceFusion's default order), "left-right", "top-bottom", "best-worst" (detector score).
FACE_ORDERS = ("large-small", "left-right", "top-bottom", "best-worst")


def order_faces(faces: Sequence[Any], order: str) -> list[int]:
    """Indices of ``faces`` in ``order``."""
    if not faces:
        return []
    boxes = np.stack([np.asarray(f.box, np.float64) for f in faces])
    if order == "left-right":
        key = boxes[:, 0]
    elif order == "top-bottom":
        key = boxes[:, 1]
    elif order == "large-small":
        key = -np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)
    else:  # best-worst
        key = -np.array([float(f.score) for f in faces])
    return [int(i) for i in np.argsort(key, kind="stable")]


def roi_union(boxes: np.ndarray, w: int, h: int) -> Optional[tuple[float, float, float, float]]:
    """Union of xyxy boxes clipped to the frame as (x, y, w, h); None when empty."""
    x0 = max(0.0, float(boxes[:, 0].min()))
    y0 = max(0.0, float(boxes[:, 1].min()))
    x1 = min(float(w), float(boxes[:, 2].max()))
    y1 = min(float(h), float(boxes[:, 3].max()))
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return (x0, y0, x1 - x0, y1 - y0)


class FaceSelector:
    """Picks the faces of each frame to swap (``mode`` of :data:`FACE_MODES`), remembering per
    track what it learnt: the followed track ("index") and each track's distance to the
    reference ("reference", recomputed every ``recheck_every`` frames)."""

    def __init__(self, mode: str, *, face_index: int = 0, face_order: str = "large-small", recognizer: Any = None,
                 reference: Optional[np.ndarray] = None, reference_distance: float = 0.6,
                 recheck_every: int = 25) -> None:
        self.mode, self.face_index, self.face_order = mode, int(face_index), face_order
        self.recognizer = recognizer
        self.reference = None if reference is None else np.asarray(reference, np.float32)
        self.reference_distance = float(reference_distance)
        self.recheck_every = max(1, int(recheck_every))
        self._selected: Optional[int] = None  # track followed by mode="index"
        self._ref_cache: dict[int, tuple[float, int]] = {}  # track id -> (distance, frame checked)

    def select(self, frame: np.ndarray, index: int, faces: list, ids: np.ndarray) -> list[int]:
        n = len(faces)
        if n == 0:
            return []
        if self.mode == "all":
            return list(range(n))
        if self.mode == "index":
            return self._by_index(faces, ids)
        # reference: the embedding of a track is computed when it appears and then every
        # recheck_every frames (not every frame: one recogniser run per face per frame is
        # the pipeline's most expensive optional work)
        dist = np.empty(n)
        for i, (f, tid) in enumerate(zip(faces, ids.tolist())):
            cached = self._ref_cache.get(tid)
            if cached is None or index - cached[1] >= self.recheck_every or index < cached[1]:
                _, normed = self.recognizer.embed(frame, f.landmarks5)
                normed = np.asarray(normed, np.float32).ravel()
                self._ref_cache[tid] = (float(1.0 - np.dot(normed, self.reference)), index)
            dist[i] = self._ref_cache[tid][0]
        best = int(np.argmin(dist))
        return [best] if dist[best] < self.reference_distance else []

    def _by_index(self, faces: list, ids: np.ndarray) -> list[int]:
        where = np.nonzero(ids == self._selected)[0] if self._selected is not None else np.zeros(0, int)
        if where.size:
            return [int(where[0])]
        order = order_faces(faces, self.face_order)
        if self.face_index >= len(order):
            return []
        i = order[self.face_index]
        self._selected = int(ids[i])
        return [i]

    def recheck(self, track_ids: Sequence[int]) -> None:
        """Whoever is on these tracks now must be recognised again (a jump the cut test missed)."""
        for t in track_ids:
            self._ref_cache.pop(int(t), None)

    def forget(self, track_ids: Sequence[int]) -> None:
        """These tracks ended."""
        for t in track_ids:
            self._ref_cache.pop(int(t), None)
            if t == self._selected:
                self._selected = None
