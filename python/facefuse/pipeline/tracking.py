"""Face tracks across frames: stable integer ids for the landmark smoother.

:class:`FaceTracker` associates each frame's detections with the live tracks, first
by box IoU against each track's constant-velocity predicted box, then (for what is
left) by the landmarks' distance normalised by the face size, so a fast-moving face
whose boxes stop overlapping keeps its id. A track missed for more than ``max_age``
frames is dropped. :class:`SceneCutDetector` flags frame-level cuts from a tiny
colour thumbnail (one ``cv2.resize`` per frame) so the caller can restart every track.

All pair costs are computed as [N, T] arrays; the only Python loop is the greedy
assignment over the sorted candidate pairs (N and T are a handful of faces).
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..models.boxes import box_iou  # re-exported: the tracker's IoU is the detector's

__all__ = ["box_iou", "FaceTracker", "SceneCutDetector"]


def _greedy(score: np.ndarray, valid: np.ndarray, higher_is_better: bool) -> list[tuple[int, int]]:
    """Greedy one-to-one matching of the valid cells of ``score`` [N, T], best first."""
    rows, cols = np.nonzero(valid)
    if rows.size == 0:
        return []
    vals = score[rows, cols]
    order = np.argsort(-vals if higher_is_better else vals, kind="stable")
    used_r: set[int] = set()
    used_c: set[int] = set()
    pairs = []
    for k in order:  # at most N * T candidates, N and T tiny
        r, c = int(rows[k]), int(cols[k])
        if r in used_r or c in used_c:
            continue
        used_r.add(r)
        used_c.add(c)
        pairs.append((r, c))
    return pairs


class FaceTracker:
    """Give each detected face a track id that stays the same from frame to frame.

    Parameters
    ----------
    iou_threshold:
        Minimum IoU between a detection's box and a track's predicted box to match.
    landmark_threshold:
        For detections / tracks left unmatched by IoU: maximum mean landmark distance
        divided by the track's face size (sqrt of its box area) to match.
    max_age:
        A track not matched for more than this many consecutive frames is dropped
        (its id is reported in :attr:`dropped` and never reused).

    ``update(boxes [N, 4], landmarks [N, P, 2] or None) -> int64 [N]`` ids, in the
    detections' order. After each update :attr:`dropped` holds the ids dropped by it
    (pass them to ``LandmarkSmoother.forget``) and :attr:`new` a bool [N] of the
    detections that started a track.
    """

    def __init__(self, iou_threshold: float = 0.3, landmark_threshold: float = 0.75, max_age: int = 10) -> None:
        fn = "FaceTracker"
        if not (isinstance(iou_threshold, (int, float)) and 0.0 <= iou_threshold <= 1.0):
            raise ValueError(f"{fn}: argument 'iou_threshold' must be a number in [0, 1], got {iou_threshold!r}")
        if not (isinstance(landmark_threshold, (int, float)) and landmark_threshold >= 0):
            raise ValueError(f"{fn}: argument 'landmark_threshold' must be a number >= 0, got {landmark_threshold!r}")
        if isinstance(max_age, bool) or not isinstance(max_age, (int, np.integer)) or max_age < 0:
            raise ValueError(f"{fn}: argument 'max_age' must be an int >= 0, got {max_age!r}")
        self.iou_threshold = float(iou_threshold)
        self.landmark_threshold = float(landmark_threshold)
        self.max_age = int(max_age)
        self._next_id = 0
        self.reset()

    def reset(self) -> np.ndarray:
        """Drop every track (e.g. at a scene cut); returns the dropped ids. Ids are never reused."""
        old = getattr(self, "_ids", np.zeros(0, np.int64))
        self._ids = np.zeros(0, np.int64)
        self._boxes = np.zeros((0, 4), np.float64)
        self._vel = np.zeros((0, 4), np.float64)
        self._lms: Optional[np.ndarray] = None  # [T, P, 2] or None when landmarks are not given
        self._missed = np.zeros(0, np.int64)
        self.dropped = old.copy()
        self.new = np.zeros(0, bool)
        return old.copy()

    @property
    def track_ids(self) -> np.ndarray:
        """Ids of the live tracks (int64)."""
        return self._ids.copy()

    def __len__(self) -> int:
        return int(self._ids.size)

    def update(self, boxes: Any, landmarks: Any = None) -> np.ndarray:
        """Associate this frame's detections with the tracks; returns their ids (int64 [N])."""
        fn = "FaceTracker.update"
        b = np.asarray(boxes, np.float64)
        if b.size == 0:
            b = b.reshape(0, 4)
        if b.ndim != 2 or b.shape[1] != 4 or not np.isfinite(b).all():
            raise ValueError(f"{fn}: argument 'boxes' must be a finite [N, 4] array, got shape {b.shape}")
        n = b.shape[0]
        lm = None
        if landmarks is not None:
            lm = np.asarray(landmarks, np.float64)
            if lm.size == 0 and n == 0:
                lm = None
            elif lm.ndim != 3 or lm.shape[0] != n or lm.shape[2] != 2:
                raise ValueError(f"{fn}: argument 'landmarks' must be [N={n}, P, 2], got shape {lm.shape}")
        t = self._ids.size
        if lm is not None and (self._lms is None or self._lms.shape[1] != lm.shape[1]):
            # tracks without (matching) landmarks: NaN never passes the landmark test
            self._lms = np.full((t, lm.shape[1], 2), np.nan)
        det_track = np.full(n, -1, np.int64)
        if n and t:
            # constant-velocity prediction: a face moving a box-width per frame still overlaps
            pred = self._boxes + self._vel * (1 + self._missed)[:, None]
            iou = box_iou(b, pred)
            for r, c in _greedy(iou, iou >= max(self.iou_threshold, 1e-9), True):
                det_track[r] = c
            free_d = np.nonzero(det_track < 0)[0]
            matched_t = np.zeros(t, bool)
            matched_t[det_track[det_track >= 0]] = True
            free_t = np.nonzero(~matched_t)[0]
            if lm is not None and free_d.size and free_t.size:
                pb = pred[free_t]
                size = np.sqrt(np.clip((pb[:, 2] - pb[:, 0]) * (pb[:, 3] - pb[:, 1]), 1.0, None))  # [Tf]
                last = self._boxes[free_t]
                shift = (pb[:, :2] + pb[:, 2:]) / 2 - (last[:, :2] + last[:, 2:]) / 2
                plm = self._lms[free_t] + shift[:, None, :]  # landmarks moved with the predicted box
                d = np.linalg.norm(lm[free_d][:, None] - plm[None], axis=-1).mean(-1) / size[None]  # [Nf, Tf]
                ok = np.isfinite(d) & (d <= self.landmark_threshold)
                for r, c in _greedy(np.nan_to_num(d, nan=np.inf), ok, False):
                    det_track[free_d[r]] = free_t[c]

        matched = det_track >= 0
        ids = np.empty(n, np.int64)
        # update the matched tracks
        ti = det_track[matched]
        if ti.size:
            self._vel[ti] = (b[matched] - self._boxes[ti]) / (1 + self._missed[ti])[:, None]
            self._boxes[ti] = b[matched]
            self._missed[ti] = 0
            if lm is not None:
                self._lms[ti] = lm[matched]
            ids[matched] = self._ids[ti]
        keep = np.ones(t, bool)
        keep[ti] = False  # unmatched tracks age
        self._missed[keep] += 1
        alive = self._missed <= self.max_age
        self.dropped = self._ids[~alive].copy()
        # new tracks
        k = int((~matched).sum())
        new_ids = np.arange(self._next_id, self._next_id + k, dtype=np.int64)
        self._next_id += k
        ids[~matched] = new_ids
        if lm is not None:
            lms = np.concatenate([self._lms[alive], lm[~matched]])
        elif self._lms is not None:
            # a frame without landmarks (e.g. no face at all) keeps the tracks' last ones
            lms = np.concatenate([self._lms[alive], np.full((k,) + self._lms.shape[1:], np.nan)])
        else:
            lms = None
        self._ids = np.concatenate([self._ids[alive], new_ids])
        self._boxes = np.concatenate([self._boxes[alive], b[~matched]])
        self._vel = np.concatenate([self._vel[alive], np.zeros((k, 4))])
        self._missed = np.concatenate([self._missed[alive], np.zeros(k, np.int64)])
        self._lms = lms
        self.new = ~matched
        return ids


class SceneCutDetector:
    """Flags a hard cut between consecutive frames from a 32 x 18 colour thumbnail.

    The thumbnail is the area average of every k-th row of the frame, k = height // (4 * 18)
    (at least 1): 4 sampled rows (of full width) per thumbnail row, so a 1080p frame is read at
    72 of its rows (0.1 ms instead of 1.3 for the whole frame) and a small one whole.

    A cut is a mean absolute thumbnail difference (over pixels and channels) above
    ``threshold`` levels (0..255) that is also ``ratio`` times the running mean of the recent differences
    (so a fast pan does not trigger it). ``update(frame) -> bool``; ``reset()``.
    """

    def __init__(self, threshold: float = 30.0, ratio: float = 3.0, size: tuple[int, int] = (32, 18)) -> None:
        if not threshold > 0:
            raise ValueError(f"SceneCutDetector: argument 'threshold' must be > 0, got {threshold!r}")
        if not ratio >= 1:
            raise ValueError(f"SceneCutDetector: argument 'ratio' must be >= 1, got {ratio!r}")
        self.threshold = float(threshold)
        self.ratio = float(ratio)
        self.size = (int(size[0]), int(size[1]))
        self.reset()

    def reset(self) -> None:
        self._prev: Optional[np.ndarray] = None
        self._mean = 0.0

    def update(self, frame: np.ndarray) -> bool:
        import cv2

        step = max(1, frame.shape[0] // (4 * self.size[1]))
        rows = frame[step // 2::step] if step > 1 else frame  # a view: only these rows are read
        small = cv2.resize(rows, self.size, interpolation=cv2.INTER_AREA).astype(np.float32)
        prev, self._prev = self._prev, small
        if prev is None or prev.shape != small.shape:
            return False
        d = float(np.abs(small - prev).mean())
        cut = d > self.threshold and d > self.ratio * max(self._mean, 1.0)
        # the running mean ignores cuts so one cut does not mask the next
        if not cut:
            self._mean = 0.9 * self._mean + 0.1 * d
        return cut
