"""facefuse.pipeline.tracking: FaceTracker ids, SceneCutDetector, and the tracker feeding the smoother."""
from __future__ import annotations

import io

import cv2
import numpy as np
import pytest

import facefuse as ff
from facefuse.pipeline.progress import ProgressBar, format_duration
from facefuse.pipeline.tracking import FaceTracker, SceneCutDetector, box_iou


def square(cx: float, cy: float, s: float = 40.0) -> np.ndarray:
    return np.array([cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2], np.float64)


def lm5(box: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    fr = np.array([[0.3, 0.35], [0.7, 0.35], [0.5, 0.55], [0.35, 0.75], [0.65, 0.75]])
    return np.stack([x0 + fr[:, 0] * w, y0 + fr[:, 1] * h], -1)


def test_box_iou_matches_hand_values() -> None:
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], float)
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]], float)
    iou = box_iou(a, b)
    assert iou.shape == (2, 3)
    assert iou[0, 0] == pytest.approx(50 / 150)
    assert iou[0, 1] == 0 and iou[0, 2] == pytest.approx(1.0)
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 3)


def test_ids_stable_when_order_of_detections_changes() -> None:
    tr = FaceTracker()
    a, b = square(60, 60), square(200, 120)
    ids0 = tr.update(np.stack([a, b]))
    assert ids0.tolist() == [0, 1]
    for k in range(1, 6):  # small motion, detections come in reversed order
        a2, b2 = square(60 + 3 * k, 60), square(200 - 3 * k, 120 + k)
        ids = tr.update(np.stack([b2, a2]))
        assert ids.tolist() == [1, 0]
    assert tr.new.tolist() == [False, False]


def test_fast_motion_kept_by_velocity_prediction_and_landmarks() -> None:
    tr = FaceTracker(iou_threshold=0.3, landmark_threshold=0.75)
    # 40 px box moving 25 px (IoU 0.23: matched by landmarks), then 45 px per frame (boxes
    # never overlap: matched by the constant-velocity prediction)
    xs = np.cumsum([50, 25, 45, 45, 45, 45])
    boxes = [square(x, 100) for x in xs]
    ids = [int(tr.update(b[None], lm5(b)[None])[0]) for b in boxes]
    assert ids == [0] * 6
    # without landmarks the second frame (no velocity known yet, no overlap) starts a new track
    tr2 = FaceTracker()
    ids2 = [int(tr2.update(b[None])[0]) for b in boxes[:2]]
    assert ids2 == [0, 1]
    assert tr2.dropped.tolist() == []  # track 0 is still alive (max_age)


def test_landmark_fallback_respects_threshold() -> None:
    tr = FaceTracker(landmark_threshold=0.75)
    b0 = square(100, 100)
    tr.update(b0[None], lm5(b0)[None])
    far = square(400, 100)  # 300 px away: 7.5 face sizes
    ids = tr.update(far[None], lm5(far)[None])
    assert ids.tolist() == [1] and tr.new.tolist() == [True]


def test_tracks_dropped_after_max_age_and_ids_not_reused() -> None:
    tr = FaceTracker(max_age=2)
    b = square(100, 100)
    assert tr.update(b[None]).tolist() == [0]
    for k in range(2):
        tr.update(np.zeros((0, 4)))
        assert tr.dropped.tolist() == [] and len(tr) == 1
    tr.update(np.zeros((0, 4)))
    assert tr.dropped.tolist() == [0] and len(tr) == 0
    assert tr.update(b[None]).tolist() == [1]
    # a re-detection within max_age keeps the id
    tr.update(np.zeros((0, 4)))
    assert tr.update(b[None]).tolist() == [1]


def test_reset_returns_ids_and_starts_new_ones() -> None:
    tr = FaceTracker()
    tr.update(np.stack([square(50, 50), square(150, 50)]))
    assert sorted(tr.reset().tolist()) == [0, 1]
    assert tr.update(square(50, 50)[None]).tolist() == [2]


def test_bad_arguments_name_the_argument() -> None:
    with pytest.raises(ValueError, match="'iou_threshold'"):
        FaceTracker(iou_threshold=2)
    with pytest.raises(ValueError, match="'max_age'"):
        FaceTracker(max_age=-1)
    tr = FaceTracker()
    with pytest.raises(ValueError, match="'boxes'"):
        tr.update(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="'landmarks'"):
        tr.update(np.zeros((2, 4)), np.zeros((3, 5, 2)))


def test_tracker_ids_drive_the_core_smoother() -> None:
    """Two faces swapping detection order each get their own smoothed track (no cross-talk)."""
    tr = FaceTracker()
    sm = ff.LandmarkSmoother("pose_shape")
    rng = np.random.default_rng(0)
    errs = {0: [], 1: []}
    for k in range(30):
        a, b = square(80 + k, 80), square(240 - k, 160)
        boxes = np.stack([a, b]) if k % 2 == 0 else np.stack([b, a])
        truth = np.stack([lm5(x) for x in boxes]).astype(np.float32)
        noisy = truth + rng.normal(0, 0.8, truth.shape).astype(np.float32)
        ids = tr.update(boxes, noisy)
        out = sm.update(noisy, ids)
        assert not sm.last_reset.any()
        for i, tid in enumerate(ids.tolist()):
            errs[tid].append(float(np.abs(out[i] - truth[i]).mean()))
    assert set(errs) == {0, 1}
    # the smoothed tracks follow their own face: error stays far below the 100+ px between faces
    assert max(max(v) for v in errs.values()) < 5.0


def test_scene_cut_detector() -> None:
    det = SceneCutDetector()
    yy, xx = np.mgrid[0:120, 0:160]
    base = np.repeat((xx * 255 // 160).astype(np.uint8)[..., None], 3, axis=2)  # a horizontal ramp
    assert det.update(base) is False
    for k in range(1, 5):  # a slow pan is no cut
        assert det.update(np.roll(base, 2 * k, axis=1)) is False
    other = np.ascontiguousarray(base[:, ::-1])  # a different shot: the ramp reversed
    assert det.update(other) is True
    assert det.update(other) is False


def test_progress_bar_text_and_throttle() -> None:
    buf = io.StringIO()
    bar = ProgressBar(100, label="swap", enabled=True, stream=buf, min_interval=10.0)
    for i in range(1, 51):
        bar.update(i)
    assert buf.getvalue().count("\n") == 1  # throttled: only the first redraw
    bar.update(100)  # the final state is always drawn
    bar.close()
    last = buf.getvalue().strip().splitlines()[-1]
    assert "100/100" in last and "fps" in last and "swap" in last
    assert format_duration(75.2) == "1:15" and format_duration(3725) == "1:02:05"
    quiet = io.StringIO()  # not a terminal: off by default
    b2 = ProgressBar(10, stream=quiet)
    b2.update(10)
    b2.close()
    assert quiet.getvalue() == ""


def test_progress_bar_rate_and_eta() -> None:
    bar = ProgressBar(100, enabled=False)
    bar.update(0)
    bar.done = 50
    line = bar.text(now=bar._t0 + 2.0)  # 50 frames in 2 s
    assert "50/100" in line and "25.0 fps" in line and "ETA 0:02" in line
    unknown = ProgressBar(0, enabled=False)
    unknown.update(0)
    unknown.done = 30
    assert "30 frames" in unknown.text(now=unknown._t0 + 1.0) and "ETA" not in unknown.text(now=unknown._t0 + 1.0)


def test_landmark_fallback_survives_a_frame_without_faces() -> None:
    # A detector dropout (a frame with no face) must not wipe the tracks' last landmarks:
    # the face then reappears shifted too far for the IoU test (IoU 0.25 < 0.3) but close
    # by landmarks (0.6 face sizes <= 0.75), and keeps its id.
    tr = FaceTracker()
    a = square(100, 100, 100)
    assert tr.update(a[None], lm5(a)[None]).tolist() == [0]
    assert tr.update(np.zeros((0, 4)), None).tolist() == []
    b = square(160, 100, 100)
    assert box_iou(a[None], b[None])[0, 0] < tr.iou_threshold
    assert tr.update(b[None], lm5(b)[None]).tolist() == [0]


def test_progress_bar_log_step_off_a_terminal() -> None:
    buf = io.StringIO()
    bar = ProgressBar(200, label="x", enabled=True, stream=buf, min_interval=0.0, log_step=0.25)
    for i in range(1, 201):
        bar(i, 200)  # the instance is the (done, total) callback
    bar.close()
    lines = buf.getvalue().splitlines()
    assert [l.split("] ")[1].split(" ")[0] for l in lines] == ["1/200", "50/200", "100/200", "150/200", "200/200"]
    with pytest.raises(ValueError, match="log_step"):
        ProgressBar(10, log_step=0)


def test_scene_cut_detector_reads_sampled_rows_of_a_large_frame() -> None:
    rng = np.random.default_rng(5)
    a = cv2.resize(rng.integers(0, 256, (27, 48, 3), np.uint8), (1920, 1080), interpolation=cv2.INTER_CUBIC)
    b = cv2.resize(rng.integers(0, 256, (27, 48, 3), np.uint8), (1920, 1080), interpolation=cv2.INTER_CUBIC)
    det = SceneCutDetector()
    assert det.update(a) is False
    for k in range(1, 6):  # a slow pan is no cut
        assert det.update(np.roll(a, 4 * k, axis=1)) is False
    assert det.update(b) is True
    assert det.update(b) is False
    # the rows not sampled (all but every 15th from row 7) are not read
    c = b.copy()
    c[np.arange(1080) % 15 != 7] = 0
    assert det.update(c) is False
    det2 = SceneCutDetector()
    det2.update(b[::-1, ::2])  # non-contiguous views work too
    assert det2.update(b[::-1, ::2]) is False and det2.update(a[::-1, ::2]) is True
