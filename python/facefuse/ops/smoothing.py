"""Landmark temporal smoothing for many face tracks at once (native core).

:class:`LandmarkSmoother` keeps per-track state in C++ and smooths all N faces
of a frame in one native call. Given CuPy landmarks it keeps the state on the
GPU instead and smooths all N tracks in one kernel launch (ids and timestamps
stay host metadata; a smoother's tracks live on one side until ``reset()``). :class:`TemporalSmoother` is the seed pipeline's
single-face API built on it. The exact maths of every method is documented in
:mod:`facefuse.reference.smoothing` (the pure NumPy twin the tests compare to).

Methods (``method=``):

* ``"pose_shape"`` (default): robust similarity pose (centre, angle, scale) from
  all points, filtered by a constant-velocity alpha-beta filter (low lag), times a
  pose-free shape filtered per coordinate by One Euro with clamped innovations
  (strong smoothing that still lets a mouth open). Best jitter / lag / error.
* ``"ema"``: exponential moving average, ``alpha`` (0.25).
* ``"adaptive_ema"``: EMA whose gain grows with motion,
  ``alpha_eff = clip(alpha * (1 + m / motion_scale), alpha, 1)``, ``m`` = mean
  distance of the points from the previous output divided by the face size.
* ``"one_euro"``: Casiez et al. 2012 per coordinate (``min_cutoff``, ``beta``,
  ``d_cutoff``; px and seconds).

Common parameters: ``freq`` (Hz when no timestamps; 30), ``auto_reset`` (True),
``cut_ratio`` (5), ``cut_min`` (0.35), ``motion_rate`` (0.1), ``max_age`` (30 updates;
0 = keep forever).

Threads: one smoother may be shared by several threads; each call is atomic (an
update sees the tracks as the previous update left them). Updates of one
smoother are serialised, so a smoother per video stream is the fast layout.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any, Iterable

import numpy as np

from . import _common, _device, _gpu

__all__ = ["LandmarkSmoother", "TemporalSmoother"]


def _ids(fn: str, name: str, ids: Any) -> np.ndarray:
    a = np.asarray(_common.as_ndarray(fn, name, ids))
    if a.dtype.kind in "iu" and a.dtype != np.int64:
        a = a.astype(np.int64)
    return a


def _to_host(x: Any) -> Any:
    """A device array's values on the host (a small copy); anything else as is."""
    if x is not None and _common.is_device_array(x):
        return _device.cupy_or_raise("LandmarkSmoother.update").asnumpy(x)
    return x


def _timestamps(fn: str, t: Any, n: int) -> np.ndarray | None:
    if t is None:
        return None
    ts = np.asarray(t)
    if ts.dtype.kind not in "iuf":
        raise TypeError(f"{fn}: argument 't' must be real timestamps in seconds, got {ts.dtype}")
    ts = ts.astype(np.float64)
    if ts.ndim == 0:
        ts = np.full(n, float(ts))
    return ts


class LandmarkSmoother:
    """Temporal smoother for the landmarks of many face tracks.

    ``LandmarkSmoother(method="pose_shape", **params)``; see the module docstring
    for the methods and parameters (unknown parameters raise TypeError, values out
    of range ValueError).

    * ``update(landmarks, track_ids, t=None) -> float32 [N, P, 2]``: ``landmarks``
      float32 [N, P, 2] pixel (x, y) (float64 is cast), ``track_ids`` N distinct
      integers, ``t`` None (fixed rate ``freq``), a scalar (seconds, this frame) or
      N timestamps; they must not decrease along a track. A new id starts a track
      (its output is its input). P is fixed by the first non-empty update until
      ``reset()``. N may be 0 (a frame without faces; the tracks still age).
    * ``last_reset``: bool [N], the tracks restarted by a detected scene cut in the
      last update; ``last_new``: bool [N], the tracks that started in it.
    * ``reset(ids=None)``: restart those tracks (None: drop every track and free P);
      ``forget(ids)``: drop tracks; unknown ids are ignored.
    """

    def __init__(self, method: str = "pose_shape", **params: Any) -> None:
        if not isinstance(method, str):
            raise TypeError(f"LandmarkSmoother: argument 'method' must be a str, got {type(method).__name__}")
        # The CPU core also validates the parameters; the GPU state (made on the
        # first update with device landmarks) is built from its effective params.
        self._core = _common.native().LandmarkSmoother(method, **params)
        # Guards which side (host / GPU) holds the tracks together with the
        # update that uses it; the native cores lock their own state as well.
        self._lock = threading.RLock()
        self._gpu: Any = None
        self._on_gpu = False  # which side holds the tracks
        self._gpu_reset: Any = None
        self._gpu_new: Any = None

    @property
    def _side(self) -> Any:
        return self._gpu if self._on_gpu else self._core

    @property
    def method(self) -> str:
        return self._core.method

    @property
    def params(self) -> dict[str, Any]:
        """The effective parameters (defaults filled in)."""
        return self._core.params

    @property
    def num_tracks(self) -> int:
        return self._side.num_tracks

    @property
    def num_points(self) -> int | None:
        return self._side.num_points

    @property
    def last_reset(self) -> Any:
        """bool [N]: tracks restarted by a scene cut in the last update (CuPy after a GPU update)."""
        return self._gpu_reset if self._on_gpu else self._core.last_reset

    @property
    def last_new(self) -> Any:
        """bool [N]: tracks that started in the last update (CuPy after a GPU update)."""
        return self._gpu_new if self._on_gpu else self._core.last_new

    def track_ids(self) -> np.ndarray:
        """The ids of the tracks currently held, sorted (int64)."""
        return self._side.track_ids()

    def _use(self, fn: str, gpu: bool) -> None:
        """Move to the side of this update's landmarks; only allowed while no track is held."""
        if gpu == self._on_gpu:
            return
        if self._side.num_tracks > 0:
            here, there = ("GPU", "host") if self._on_gpu else ("host", "GPU")
            raise TypeError(
                f"{fn}: argument 'landmarks' is a {there} array but this smoother's "
                f"{self._side.num_tracks} track(s) live on the {here}; call reset() first"
            )
        self._side.reset(None)
        self._on_gpu = gpu

    def update(self, landmarks: Any, track_ids: Any, t: Any = None) -> Any:
        with self._lock:
            return self._update(landmarks, track_ids, t)

    def _update(self, landmarks: Any, track_ids: Any, t: Any) -> Any:
        fn = "LandmarkSmoother.update"
        if _common.is_device_array(landmarks):
            # Ids and timestamps are per-track metadata the host bookkeeping needs:
            # device ones are copied back (small); landmarks stay on the GPU.
            ids = _ids(fn, "track_ids", _to_host(track_ids))
            ts = _timestamps(fn, _to_host(t), ids.shape[0])
            _device.check_device_finite(fn, landmarks=landmarks)
            mod = _device.require_cuda(fn, ["landmarks"])
            self._use(fn, True)
            if self._gpu is None:
                self._gpu = mod.LandmarkSmoother(self._core.method, self._core.params)
            out, self._gpu_reset, self._gpu_new = _gpu.smoother_update(self._gpu, landmarks, ids, ts)
            return out
        _common.require_host(fn, track_ids=track_ids, t=t)
        self._use(fn, False)
        lm = _common.as_ndarray(fn, "landmarks", landmarks)
        if lm.dtype == np.float64:
            lm = lm.astype(np.float32)
        ids = _ids(fn, "track_ids", track_ids)
        n = lm.shape[0] if lm.ndim >= 1 else 0
        return self._core.update(lm, ids, _timestamps(fn, t, n))

    def reset(self, ids: Iterable[int] | None = None) -> None:
        """Restart the given tracks (their next observation is returned as is); None: all."""
        a = None if ids is None else _ids("LandmarkSmoother.reset", "ids", ids)
        with self._lock:
            if a is None:
                self._core.reset(None)
                if self._gpu is not None:
                    self._gpu.reset(None)
            else:
                self._side.reset(a)

    def forget(self, ids: Iterable[int]) -> None:
        """Drop the given tracks and their state."""
        a = _ids("LandmarkSmoother.forget", "ids", ids)
        with self._lock:
            self._side.forget(a)

    def __repr__(self) -> str:
        return f"LandmarkSmoother(method={self.method!r}, num_tracks={self.num_tracks})"


def _face_size(x: np.ndarray) -> float:
    d = x - x.mean(axis=0)
    return max(1.0, float(np.sqrt(np.mean(np.sum(d * d, axis=1)))))


class TemporalSmoother:
    """Single-face landmark smoother with the seed pipeline's API, on :class:`LandmarkSmoother`.

    ``TemporalSmoother(window_size=5, alpha=0.25, enable_adaptive=True, cut_ratio=5.0, cut_min=0.35)``

    * ``smooth(landmarks [P, 2]) -> float32 [P, 2]``: the default ``"pose_shape"``
      smoother (pose + shape decomposition). Calls ``should_reset`` first and
      restarts when it says so (then the output is the input).
    * ``should_reset(landmarks) -> bool`` (no state change): True when the motion of
      ``landmarks`` from the previous observation (mean point displacement / face
      size, face size = RMS distance from the centroid, >= 1 px) exceeds
      ``max(cut_min, cut_ratio * mean motion over the last window_size frames)``.
      False on the first frame.
    * ``smooth_landmark_individual(landmarks) -> float32 [P, 2]``: per-point
      smoothing without the pose decomposition: the adaptive EMA
      (``enable_adaptive=True``) or the plain EMA with ``alpha``. It keeps its own
      filter state, but shares the observation history / reset logic with ``smooth``.
    * ``reset()``: forget everything.

    Thread-safe: each call is atomic (one lock per smoother).
    """

    def __init__(self, window_size: int = 5, alpha: float = 0.25, enable_adaptive: bool = True,
                 cut_ratio: float = 5.0, cut_min: float = 0.35) -> None:
        fn = "TemporalSmoother"
        self.window_size = _common.check_int(fn, "window_size", window_size, 1, 1_000_000)
        self.alpha = _common.check_real(fn, "alpha", alpha, 0.0, 1.0, lo_open=True)
        self.enable_adaptive = bool(enable_adaptive)
        self.cut_ratio = _common.check_real(fn, "cut_ratio", cut_ratio, 0.0, lo_open=True)
        self.cut_min = _common.check_real(fn, "cut_min", cut_min, 0.0)
        self._pose = LandmarkSmoother("pose_shape", auto_reset=False, max_age=0)
        method = "adaptive_ema" if self.enable_adaptive else "ema"
        self._point = LandmarkSmoother(method, alpha=self.alpha, auto_reset=False, max_age=0)
        self._last: np.ndarray | None = None
        self._motions: deque = deque(maxlen=self.window_size)
        self._id = np.zeros(1, np.int64)
        self._lock = threading.RLock()

    def reset(self) -> None:
        with self._lock:
            self._reset()

    def _reset(self) -> None:
        self._pose.reset()
        self._point.reset()
        self._last = None
        self._motions.clear()

    def _as_points(self, landmarks: Any, fn: str) -> np.ndarray:
        full = f"TemporalSmoother.{fn}"
        _common.require_host(full, landmarks=landmarks)
        lm = _common.as_ndarray(full, "landmarks", landmarks)
        if lm.dtype.kind != "f":
            raise TypeError(f"{full}: argument 'landmarks' must be float32 P x 2, got {lm.dtype}")
        if lm.ndim != 2 or lm.shape[1] != 2 or lm.shape[0] < 1:
            raise ValueError(f"{full}: argument 'landmarks' must be float32 P x 2, got shape {lm.shape}")
        if not np.all(np.isfinite(lm)):
            raise ValueError(f"{full}: argument 'landmarks' must be finite (no NaN/inf)")
        if self._last is not None and self._last.shape != lm.shape:
            raise ValueError(f"{full}: argument 'landmarks' must keep shape {self._last.shape}, got {lm.shape}")
        return lm.astype(np.float32)

    def _motion(self, x: np.ndarray) -> float:
        assert self._last is not None
        return float(np.mean(np.linalg.norm(x - self._last, axis=1))) / _face_size(x)

    def should_reset(self, landmarks: Any) -> bool:
        with self._lock:
            x = self._as_points(landmarks, "should_reset").astype(np.float64)
            return self._cut(x)

    def _cut(self, x: np.ndarray) -> bool:
        if self._last is None:
            return False
        avg = float(np.mean(self._motions)) if self._motions else 0.0
        return self._motion(x) > max(self.cut_min, self.cut_ratio * avg)

    def _observe(self, lm: np.ndarray) -> None:
        x = lm.astype(np.float64)
        if self._cut(x):
            self._reset()
        if self._last is not None:
            self._motions.append(self._motion(x))
        self._last = x

    def smooth(self, landmarks: Any) -> np.ndarray:
        with self._lock:
            lm = self._as_points(landmarks, "smooth")
            self._observe(lm)
            return self._pose.update(lm[None], self._id)[0]

    def smooth_landmark_individual(self, landmarks: Any) -> np.ndarray:
        with self._lock:
            lm = self._as_points(landmarks, "smooth_landmark_individual")
            self._observe(lm)
            return self._point.update(lm[None], self._id)[0]
