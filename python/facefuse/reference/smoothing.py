"""Landmark temporal smoothing, pure NumPy reference (the tests' oracle, the benchmarks' baseline).

Written the way today's Python face pipelines smooth landmarks: one Python
object per tracked face, a Python loop over the faces of a frame, NumPy maths
per face. Every quantity is computed in float64; outputs are cast to float32.
The native ``facefuse.ops.LandmarkSmoother`` implements exactly the same
definitions (documented here) and must match this module to 1e-5.

Definitions shared by every method (one track = one face id)
------------------------------------------------------------
* Face size ``size`` = max(1 px, RMS distance of the points from their mean).
* Motion ``m`` = mean over points of ``|x_t[p] - x_{t-1}[p]|`` (previous *raw*
  observation of the track) divided by ``size`` of the current observation.
* Running motion ``m_avg``: the first motion sample sets it, later ones update it
  as ``m_avg += motion_rate * (m - m_avg)``.
* Scene cut (``auto_reset=True``): when ``m > max(cut_min, cut_ratio * m_avg)``
  (``m_avg`` taken as 0 before its first sample) the track restarts from the new
  observation (output = input, velocities zero); ``m_avg`` is kept and the cut's
  motion is not folded into it.
* Time: without ``t`` a track advances at ``freq`` Hz. With timestamps, as in
  Casiez's reference code: the rate becomes ``1 / (t - t_prev)`` when the previous
  timestamp of the track is known and ``t > t_prev``; an equal timestamp keeps
  the previous rate; a smaller one is an error. Omitting ``t`` resets the rate to
  ``freq`` and forgets the previous timestamp.
* A track's first frame (and the frame after ``reset``) returns the input.
* Ageing: after each update, tracks not seen in the last ``max_age`` updates are
  dropped (``max_age=0``: never).

Methods
-------
* ``"ema"``: ``y = alpha * x + (1 - alpha) * y_prev`` per coordinate.
* ``"adaptive_ema"`` (the seed pipeline's ``TemporalSmoother``): motion against the
  previous *output*, ``m_s = mean_p |x[p] - y_prev[p]| / size``;
  ``alpha_eff = clip(alpha * (1 + m_s / motion_scale), alpha, 1)``; then EMA.
* ``"one_euro"``: Casiez et al. 2012 per coordinate, derivative of the previous
  filtered value: ``dx = (x - y_prev) * rate``,
  ``edx = lowpass(dx, a(d_cutoff))`` (``edx = 0`` on the first frame),
  ``cutoff = min_cutoff + beta * |edx|``, ``y = lowpass(x, a(cutoff))`` with
  ``a(fc) = 1 / (1 + tau * rate)``, ``tau = 1 / (2 pi fc)``. Units: px and s.
* ``"pose_shape"`` (the default): the face = a similarity pose (centre ``c``,
  angle ``theta``, log scale ``ls``) applied to a pose-free shape ``S`` (P x 2,
  pixels at the track's first-frame scale, centred). Per frame:

  1. predict the pose with its velocity: ``c_p = c + v_c dt`` (same for theta, ls);
  2. measure the pose: least-squares similarity (Umeyama/Procrustes, closed form)
     mapping ``S`` onto ``x``; residuals ``r_p``; inliers ``r_p <= max(outlier_k *
     median(r), 1e-3 * size)``; refit on inliers only (one reweighting pass).
     Degenerate fits (``sum|S - mean S|^2 <= 1e-12`` or a zero scale) measure
     the predicted angle and scale;
  3. filter the pose with a constant-velocity alpha-beta filter: innovation
     ``e = measured - predicted`` (angle wrapped to (-pi, pi]),
     ``pose = pred + pose_alpha * e``, ``v += pose_beta * e / dt``;
  4. map the observation into the shape frame with the *measured* pose,
     ``z = R(-theta_m) (x - c_m) / s_m``, clamp each point's innovation
     ``z - S`` to length ``shape_clamp`` (px), and filter ``S`` with One Euro per
     coordinate (``shape_min_cutoff``, ``shape_beta``, ``shape_d_cutoff``);
  5. output ``y = c + exp(ls) R(theta) S``.
"""
from __future__ import annotations

import math
import numbers
from collections import deque
from typing import Any, Iterable

import numpy as np

__all__ = ["LandmarkSmoother", "TemporalSmoother", "SMOOTHING_METHODS", "SMOOTHING_DEFAULTS"]

SMOOTHING_METHODS = ("pose_shape", "ema", "adaptive_ema", "one_euro")

_COMMON = {
    "freq": 30.0,
    "auto_reset": True,
    "cut_ratio": 5.0,
    "cut_min": 0.35,
    "motion_rate": 0.1,
    "max_age": 30,
}
SMOOTHING_DEFAULTS: dict[str, dict[str, Any]] = {
    "ema": {**_COMMON, "alpha": 0.25},
    "adaptive_ema": {**_COMMON, "alpha": 0.25, "motion_scale": 0.05},
    "one_euro": {**_COMMON, "min_cutoff": 1.0, "beta": 0.01, "d_cutoff": 1.0},
    "pose_shape": {
        **_COMMON,
        "pose_alpha": 0.5,
        "pose_beta": 0.25,
        "shape_min_cutoff": 0.3,
        "shape_beta": 0.03,
        "shape_d_cutoff": 1.0,
        "shape_clamp": 8.0,
        "outlier_k": 3.0,
    },
}

_TWO_PI = 2.0 * math.pi


def _check_params(method: str, params: dict[str, Any]) -> dict[str, Any]:
    if method not in SMOOTHING_DEFAULTS:
        raise ValueError(f"LandmarkSmoother: argument 'method' must be one of {SMOOTHING_METHODS}, got {method!r}")
    out = dict(SMOOTHING_DEFAULTS[method])
    for k, v in params.items():
        if k not in out:
            raise TypeError(f"LandmarkSmoother: unexpected parameter '{k}' for method {method!r}")
        out[k] = v
    p = out

    def need(name: str, ok: bool, what: str) -> None:
        if not ok:
            raise ValueError(f"LandmarkSmoother: argument '{name}' must be {what}, got {p[name]!r}")

    for k, v in p.items():
        if not isinstance(v, numbers.Real):
            raise TypeError(f"LandmarkSmoother: argument '{k}' must be a number, got {type(v).__name__}")
        if k == "auto_reset":
            p[k] = bool(v)
        elif k == "max_age":
            need(k, math.isfinite(v) and float(v) == int(v) and int(v) >= 0, "an integer >= 0")
            p[k] = int(v)
        else:
            p[k] = float(v)
            need(k, math.isfinite(p[k]), "finite")
    need("freq", p["freq"] > 0, "> 0")
    need("cut_ratio", p["cut_ratio"] > 0, "> 0")
    need("cut_min", p["cut_min"] >= 0, ">= 0")
    need("motion_rate", 0 < p["motion_rate"] <= 1, "in (0, 1]")
    if method in ("ema", "adaptive_ema"):
        need("alpha", 0 < p["alpha"] <= 1, "in (0, 1]")
    if method == "adaptive_ema":
        need("motion_scale", p["motion_scale"] > 0, "> 0")
    if method == "one_euro":
        need("min_cutoff", p["min_cutoff"] > 0, "> 0")
        need("beta", p["beta"] >= 0, ">= 0")
        need("d_cutoff", p["d_cutoff"] > 0, "> 0")
    if method == "pose_shape":
        need("pose_alpha", 0 < p["pose_alpha"] <= 1, "in (0, 1]")
        need("pose_beta", 0 <= p["pose_beta"] <= 1, "in [0, 1]")
        need("shape_min_cutoff", p["shape_min_cutoff"] > 0, "> 0")
        need("shape_beta", p["shape_beta"] >= 0, ">= 0")
        need("shape_d_cutoff", p["shape_d_cutoff"] > 0, "> 0")
        need("shape_clamp", p["shape_clamp"] > 0, "> 0")
        need("outlier_k", p["outlier_k"] >= 1, ">= 1")
    return p


def _alpha(cutoff: float | np.ndarray, rate: float) -> Any:
    tau = 1.0 / (_TWO_PI * cutoff)
    return 1.0 / (1.0 + tau * rate)


def _face_size(x: np.ndarray) -> float:
    d = x - x.mean(axis=0)
    return max(1.0, math.sqrt(float(np.mean(np.sum(d * d, axis=1)))))


def _rot(theta: float) -> np.ndarray:
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s], [s, c]])


def _wrap(a: float) -> float:
    return a - _TWO_PI * math.floor((a + math.pi) / _TWO_PI)


class _Track:
    """State of one face."""

    def __init__(self) -> None:
        self.alive = False  # False: the next observation (re)starts the track
        self.m_avg = -1.0  # < 0: no motion sample yet
        self.last_t: float | None = None
        self.rate = 0.0
        self.last_seen = 0

    def start(self, x: np.ndarray, method: str) -> None:
        self.alive = True
        self.raw = x.copy()
        if method in ("ema", "adaptive_ema"):
            self.y = x.copy()
        elif method == "one_euro":
            self.y = x.copy()
            self.dy = np.zeros_like(x)
        else:
            c = x.mean(axis=0)
            self.c = c
            self.theta = 0.0
            self.ls = 0.0
            self.vc = np.zeros(2)
            self.vtheta = 0.0
            self.vls = 0.0
            self.S = x - c
            self.dS = np.zeros_like(x)


def _fit_similarity(S: np.ndarray, x: np.ndarray, w: np.ndarray, theta_p: float, s_p: float):
    """Weighted least-squares similarity ``x ~ c + s R(theta) S``: returns (c, s, theta)."""
    wsum = float(w.sum())
    mS = (w[:, None] * S).sum(axis=0) / wsum
    mX = (w[:, None] * x).sum(axis=0) / wsum
    A = S - mS
    B = x - mX
    saa = float(np.sum(w * np.sum(A * A, axis=1)))
    sc = float(np.sum(w * np.sum(A * B, axis=1)))
    ss = float(np.sum(w * (A[:, 0] * B[:, 1] - A[:, 1] * B[:, 0])))
    hyp = math.hypot(sc, ss)
    if saa <= 1e-12 or hyp <= 1e-12 * saa:
        theta, s = theta_p, s_p
    else:
        theta, s = math.atan2(ss, sc), hyp / saa
    c = mX - s * (_rot(theta) @ mS)
    return c, s, theta


class LandmarkSmoother:
    """Reference batched landmark smoother (see the module docstring for the maths).

    ``update(landmarks [N, P, 2], track_ids [N], t=None) -> float32 [N, P, 2]``.
    """

    def __init__(self, method: str = "pose_shape", **params: Any) -> None:
        self.method = method
        self.params = _check_params(method, params)
        self._tracks: dict[int, _Track] = {}
        self._n_points: int | None = None
        self._updates = 0
        self.last_reset = np.zeros(0, dtype=bool)
        self.last_new = np.zeros(0, dtype=bool)

    # -- bookkeeping -----------------------------------------------------
    @property
    def num_tracks(self) -> int:
        return len(self._tracks)

    @property
    def num_points(self) -> int | None:
        return self._n_points

    def track_ids(self) -> np.ndarray:
        return np.array(sorted(self._tracks), dtype=np.int64)

    def reset(self, ids: Iterable[int] | None = None) -> None:
        """Restart tracks (all when ``ids`` is None): their next observation is returned as is."""
        if ids is None:
            self._tracks.clear()
            self._n_points = None
            return
        for i in np.asarray(ids, dtype=np.int64).reshape(-1):
            tr = self._tracks.get(int(i))
            if tr is not None:
                last_seen = tr.last_seen
                self._tracks[int(i)] = _Track()
                self._tracks[int(i)].last_seen = last_seen

    def forget(self, ids: Iterable[int]) -> None:
        """Drop tracks entirely (unknown ids are ignored)."""
        for i in np.asarray(ids, dtype=np.int64).reshape(-1):
            self._tracks.pop(int(i), None)

    # -- the update ------------------------------------------------------
    def update(self, landmarks: Any, track_ids: Any, t: Any = None) -> np.ndarray:
        fn = "LandmarkSmoother.update"
        lm = np.asarray(landmarks)
        if lm.dtype not in (np.float32, np.float64):
            raise TypeError(f"{fn}: argument 'landmarks' must be float32 N x P x 2, got {lm.dtype}")
        if lm.ndim != 3 or lm.shape[2] != 2:
            raise ValueError(f"{fn}: argument 'landmarks' must be float32 N x P x 2, got shape {lm.shape}")
        ids = np.asarray(track_ids)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"{fn}: argument 'track_ids' must be integers, got {ids.dtype}")
        ids = ids.reshape(-1).astype(np.int64)
        n, p = lm.shape[0], lm.shape[1]
        if ids.size != n:
            raise ValueError(f"{fn}: argument 'track_ids' must have N={n} entries, got {ids.size}")
        if n and p == 0:
            raise ValueError(f"{fn}: argument 'landmarks' must have P >= 1 points, got shape {lm.shape}")
        if len(np.unique(ids)) != n:
            raise ValueError(f"{fn}: argument 'track_ids' must not repeat an id within one update")
        if n and self._n_points is not None and p != self._n_points:
            raise ValueError(
                f"{fn}: argument 'landmarks' must have P={self._n_points} points per face "
                f"(fixed by the first update), got shape {lm.shape}"
            )
        x64 = lm.astype(np.float64)
        if not np.all(np.isfinite(x64)):
            raise ValueError(f"{fn}: argument 'landmarks' must be finite (no NaN/inf)")
        ts = None
        if t is not None:
            ts = np.asarray(t, dtype=np.float64)
            ts = np.broadcast_to(ts, (n,)) if ts.ndim == 0 else ts.reshape(-1)
            if ts.size != n:
                raise ValueError(f"{fn}: argument 't' must be a scalar or have N={n} entries, got {ts.size}")
            if not np.all(np.isfinite(ts)):
                raise ValueError(f"{fn}: argument 't' must be finite")
            for i in range(n):
                tr = self._tracks.get(int(ids[i]))
                if tr is not None and tr.alive and tr.last_t is not None and ts[i] < tr.last_t:
                    raise ValueError(f"{fn}: argument 't' must not decrease along a track (id {int(ids[i])})")
        if n:
            self._n_points = p

        prm = self.params
        self._updates += 1
        out = np.empty((n, p, 2), dtype=np.float32)
        self.last_reset = np.zeros(n, dtype=bool)
        self.last_new = np.zeros(n, dtype=bool)
        for i in range(n):
            tid = int(ids[i])
            tr = self._tracks.get(tid)
            if tr is None:
                tr = self._tracks[tid] = _Track()
            tr.last_seen = self._updates
            ti = None if ts is None else float(ts[i])
            out[i] = self._step(tr, x64[i], ti, i)
        if prm["max_age"] > 0:
            for tid in [k for k, tr in self._tracks.items() if self._updates - tr.last_seen >= prm["max_age"]]:
                del self._tracks[tid]
        return out

    def _step(self, tr: _Track, x: np.ndarray, t: float | None, i: int) -> np.ndarray:
        prm = self.params
        if not tr.alive:
            tr.rate = prm["freq"]
            tr.last_t = t
            tr.start(x, self.method)
            self.last_new[i] = True
            return x
        # time
        if t is None:
            tr.rate = prm["freq"]
        elif tr.last_t is not None and t > tr.last_t:
            tr.rate = 1.0 / (t - tr.last_t)
        tr.last_t = t
        # motion and scene cut
        size = _face_size(x)
        m = float(np.mean(np.sqrt(np.sum((x - tr.raw) ** 2, axis=1)))) / size
        if prm["auto_reset"]:
            thr = max(prm["cut_min"], prm["cut_ratio"] * max(tr.m_avg, 0.0))
            if m > thr:
                tr.start(x, self.method)
                self.last_reset[i] = True
                return x
        tr.m_avg = m if tr.m_avg < 0 else tr.m_avg + prm["motion_rate"] * (m - tr.m_avg)
        tr.raw = x.copy()
        rate = tr.rate
        if self.method == "ema":
            a = prm["alpha"]
            tr.y = a * x + (1.0 - a) * tr.y
            return tr.y
        if self.method == "adaptive_ema":
            ms = float(np.mean(np.sqrt(np.sum((x - tr.y) ** 2, axis=1)))) / size
            a = min(max(prm["alpha"] * (1.0 + ms / prm["motion_scale"]), prm["alpha"]), 1.0)
            tr.y = a * x + (1.0 - a) * tr.y
            return tr.y
        if self.method == "one_euro":
            tr.y, tr.dy = _one_euro(x, tr.y, tr.dy, rate, prm["min_cutoff"], prm["beta"], prm["d_cutoff"])
            return tr.y
        return self._pose_shape(tr, x, rate, size)

    def _pose_shape(self, tr: _Track, x: np.ndarray, rate: float, size: float) -> np.ndarray:
        prm = self.params
        dt = 1.0 / rate
        # 1. predict
        c_p = tr.c + tr.vc * dt
        th_p = tr.theta + tr.vtheta * dt
        ls_p = tr.ls + tr.vls * dt
        s_p = math.exp(ls_p)
        # 2. robust measurement
        c_m, s_m, th_m = _fit_similarity(tr.S, x, np.ones(len(x)), th_p, s_p)
        fitted = c_m + s_m * (tr.S @ _rot(th_m).T)
        r = np.sqrt(np.sum((x - fitted) ** 2, axis=1))
        thr = max(prm["outlier_k"] * float(np.median(r)), 1e-3 * size)
        w = (r <= thr).astype(np.float64)
        c_m, s_m, th_m = _fit_similarity(tr.S, x, w, th_p, s_p)
        # 3. alpha-beta pose filter
        a, b = prm["pose_alpha"], prm["pose_beta"]
        e_c = c_m - c_p
        e_th = _wrap(th_m - th_p)
        e_ls = math.log(s_m) - ls_p
        tr.c = c_p + a * e_c
        tr.theta = th_p + a * e_th
        tr.ls = ls_p + a * e_ls
        tr.vc = tr.vc + (b * rate) * e_c
        tr.vtheta = tr.vtheta + (b * rate) * e_th
        tr.vls = tr.vls + (b * rate) * e_ls
        # 4. shape measurement in the pose-free frame, clamped, One Euro filtered
        z = ((x - c_m) @ _rot(th_m)) / s_m
        d = z - tr.S
        nd = np.sqrt(np.sum(d * d, axis=1))
        k = np.where(nd > prm["shape_clamp"], prm["shape_clamp"] / np.maximum(nd, 1e-300), 1.0)
        z = tr.S + d * k[:, None]
        tr.S, tr.dS = _one_euro(
            z, tr.S, tr.dS, rate, prm["shape_min_cutoff"], prm["shape_beta"], prm["shape_d_cutoff"]
        )
        # 5. compose
        return tr.c + math.exp(tr.ls) * (tr.S @ _rot(tr.theta).T)


def _one_euro(x, y_prev, dy_prev, rate, min_cutoff, beta, d_cutoff):
    dx = (x - y_prev) * rate
    ad = _alpha(d_cutoff, rate)
    dy = ad * dx + (1.0 - ad) * dy_prev
    cutoff = min_cutoff + beta * np.abs(dy)
    a = _alpha(cutoff, rate)
    y = a * x + (1.0 - a) * y_prev
    return y, dy


class TemporalSmoother:
    """Single-face smoother with the seed pipeline's API (reference twin of
    :class:`facefuse.ops.TemporalSmoother`; see there for the semantics)."""

    _Impl = LandmarkSmoother

    def __init__(self, window_size: int = 5, alpha: float = 0.25, enable_adaptive: bool = True,
                 cut_ratio: float = 5.0, cut_min: float = 0.35) -> None:
        if int(window_size) != window_size or window_size < 1:
            raise ValueError(f"TemporalSmoother: argument 'window_size' must be an integer >= 1, got {window_size!r}")
        if not 0 < alpha <= 1:
            raise ValueError(f"TemporalSmoother: argument 'alpha' must be in (0, 1], got {alpha!r}")
        self.window_size = int(window_size)
        self.alpha = float(alpha)
        self.enable_adaptive = bool(enable_adaptive)
        self.cut_ratio = float(cut_ratio)
        self.cut_min = float(cut_min)
        self._pose = self._Impl("pose_shape", auto_reset=False, max_age=0)
        if self.enable_adaptive:
            self._point = self._Impl("adaptive_ema", alpha=self.alpha, auto_reset=False, max_age=0)
        else:
            self._point = self._Impl("ema", alpha=self.alpha, auto_reset=False, max_age=0)
        self._history: deque = deque(maxlen=self.window_size + 1)

    def reset(self) -> None:
        self._pose.reset()
        self._point.reset()
        self._history.clear()

    def _as_points(self, landmarks: Any, fn: str) -> np.ndarray:
        lm = np.asarray(landmarks)
        if lm.dtype.kind != "f":
            raise TypeError(f"TemporalSmoother.{fn}: argument 'landmarks' must be float32 P x 2, got {lm.dtype}")
        if lm.ndim != 2 or lm.shape[1] != 2 or lm.shape[0] < 1:
            raise ValueError(f"TemporalSmoother.{fn}: argument 'landmarks' must be float32 P x 2, got shape {lm.shape}")
        if not np.all(np.isfinite(lm)):
            raise ValueError(f"TemporalSmoother.{fn}: argument 'landmarks' must be finite (no NaN/inf)")
        if self._history and self._history[-1].shape != lm.shape:
            raise ValueError(
                f"TemporalSmoother.{fn}: argument 'landmarks' must keep shape {self._history[-1].shape}, got {lm.shape}"
            )
        return lm.astype(np.float32)

    def should_reset(self, landmarks: Any) -> bool:
        x = self._as_points(landmarks, "should_reset").astype(np.float64)
        if not self._history:
            return False
        size = _face_size(x)
        m = float(np.mean(np.linalg.norm(x - self._history[-1], axis=1))) / size
        h = list(self._history)
        past = [float(np.mean(np.linalg.norm(b - a, axis=1))) / _face_size(b) for a, b in zip(h[:-1], h[1:])]
        avg = float(np.mean(past)) if past else 0.0
        return m > max(self.cut_min, self.cut_ratio * avg)

    def _observe(self, lm: np.ndarray) -> None:
        if self.should_reset(lm):
            self._pose.reset()
            self._point.reset()
            self._history.clear()
        self._history.append(lm.astype(np.float64))

    def smooth(self, landmarks: Any) -> np.ndarray:
        lm = self._as_points(landmarks, "smooth")
        self._observe(lm)
        return self._pose.update(lm[None], np.zeros(1, np.int64))[0]

    def smooth_landmark_individual(self, landmarks: Any) -> np.ndarray:
        lm = self._as_points(landmarks, "smooth_landmark_individual")
        self._observe(lm)
        return self._point.update(lm[None], np.zeros(1, np.int64))[0]
