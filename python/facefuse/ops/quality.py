"""Temporal quality metrics: tPSNR between consecutive frames, a streaming
QualityMonitor that separates processing-added flicker from real motion, and
the normalised mean jitter (NMJ) of landmark tracks.

Conventions
-----------
* Frames: H x W x C (C = 1, 3 or 4) or H x W, uint8, or float32 on the 0..255
  scale; the PSNR peak is 255 for both.
* Masks: H x W float32 in [0, 1]; uint8 (0..255, scaled by 1/255) and bool are
  accepted.
* Landmarks: float [T, P, 2] or [T, N, P, 2] pixel (x, y).

The per-pixel work (one pass over the frame pair) is native: ``facefuse._core.tpsnr``.
"""
from __future__ import annotations

import functools
import json
import math
import threading
from collections import deque
from typing import Any, Callable, Optional, Sequence, TypeVar, Union

import numpy as np

from . import _common
from . import _gpu
from ._common import as_mask, as_ndarray, is_device_array, on_device, require_host

__all__ = ["tpsnr", "tpsnr_sequence", "landmark_nmj", "face_size_from_landmarks", "QualityMonitor"]

#: Default ceiling (dB) applied to tPSNR values before differences and statistics.
#: Identical consecutive frames have an infinite tPSNR; the monitor clips every
#: tPSNR to this ceiling so dtPSNR, means and JSON stay finite.
PSNR_CAP_DB = 100.0


# --------------------------------------------------------------------------- tPSNR


def tpsnr(prev: np.ndarray, cur: np.ndarray, mask: Optional[np.ndarray] = None) -> float:
    """Temporal PSNR (dB) between two consecutive frames.

    ``10 * log10(255**2 / MSE)`` with ``MSE = mean((cur - prev)**2)`` over pixels
    and channels, computed in one native pass with double accumulation.

    Args:
        prev, cur: frames of the same shape and dtype: H x W or H x W x C
            (C = 1, 3 or 4), uint8 or float32 (0..255 scale).
        mask: optional H x W weights (float32 0..1, uint8 0..255, or bool):
            ``MSE = sum(m * sum_c d**2) / (C * sum(m))``. A mask that sums to 0
            raises ValueError.

    Returns:
        The tPSNR in dB; ``float('inf')`` for identical frames (inside the mask).
        CuPy frames are reduced on the GPU; the float result is the one value
        copied back (a synchronisation of the current stream).
    """
    if on_device("tpsnr", prev=prev, cur=cur, mask=mask):
        return _gpu.tpsnr(prev, cur, mask)
    a = as_ndarray("tpsnr", "prev", prev)
    b = as_ndarray("tpsnr", "cur", cur)
    m = None if mask is None else as_mask("tpsnr", "mask", mask)
    return _common.native().tpsnr(a, b, m)


def tpsnr_sequence(frames: np.ndarray, mask: Optional[np.ndarray] = None) -> np.ndarray:
    """tPSNR of every consecutive pair of a clip.

    Args:
        frames: [T, H, W, C] or [T, H, W], uint8 or float32, T >= 2.
        mask: optional H x W weights shared by every pair (see :func:`tpsnr`).

    Returns:
        float64 array of T - 1 values: ``out[t] = tpsnr(frames[t], frames[t + 1])``.
    """
    if on_device("tpsnr_sequence", frames=frames, mask=mask):
        return _gpu.tpsnr_sequence(frames, mask)
    f = as_ndarray("tpsnr_sequence", "frames", frames)
    m = None if mask is None else as_mask("tpsnr_sequence", "mask", mask)
    return _common.native().tpsnr_sequence(f, m)


# --------------------------------------------------------------------------- landmark jitter

#: Outer eye corners in the 68-point iBUG / 300-W layout (0-based): their distance
#: is the inter-ocular distance used as the face size when P == 68.
IOD_POINTS_68 = (36, 45)


def _as_tracks(fn: str, name: str, x: Any) -> np.ndarray:
    a = as_ndarray(fn, name, x)
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise TypeError(f"{fn}: argument '{name}' must be a float array of landmarks, got {a.dtype}")
    if a.ndim not in (3, 4) or a.shape[-1] != 2 or a.size == 0:
        raise ValueError(
            f"{fn}: argument '{name}' must be [T, P, 2] or [T, N, P, 2] landmarks (x, y), got shape {a.shape}"
        )
    a = a.astype(np.float64, copy=False)
    if not np.isfinite(a).all():
        raise ValueError(f"{fn}: argument '{name}' must hold finite values (found NaN or inf)")
    return a if a.ndim == 4 else a[:, None]


def face_size_from_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Per-frame, per-face size of landmarks [..., P, 2] (pixels), shape [...].

    P == 68 (iBUG layout): the inter-ocular distance between the outer eye
    corners (points 36 and 45). Otherwise: the diagonal of the landmarks'
    bounding box.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape[-2] == 68:
        i, j = IOD_POINTS_68
        d = lm[..., i, :] - lm[..., j, :]
        return np.hypot(d[..., 0], d[..., 1])
    ext = lm.max(axis=-2) - lm.min(axis=-2)
    return np.hypot(ext[..., 0], ext[..., 1])


def _sizes(fn: str, face_size: Any, ref: np.ndarray) -> np.ndarray:
    """Face sizes [T, N] for tracks ref [T, N, P, 2]."""
    t, n = ref.shape[:2]
    if face_size is None:
        s = face_size_from_landmarks(ref)
    else:
        s = np.asarray(face_size, dtype=np.float64)
        if s.ndim == 1 and s.shape[0] == t:
            s = s[:, None]
        try:
            s = np.broadcast_to(s, (t, n))
        except ValueError:
            raise ValueError(
                f"{fn}: argument 'face_size' must be a scalar, [T] or [T, N] with T={t}, N={n}, got shape {s.shape}"
            ) from None
    if not (np.isfinite(s).all() and (s > 0).all()):
        raise ValueError(
            f"{fn}: argument 'face_size' must be finite and > 0 (the landmarks' size is 0 or invalid on some frame; "
            "pass face_size explicitly)"
        )
    return s


def landmark_nmj(
    landmarks: np.ndarray, gt: Optional[np.ndarray] = None, face_size: Union[None, float, np.ndarray] = None
) -> float:
    """Normalised mean jitter of landmark tracks (dimensionless, fraction of the face size).

    * With ground truth: ``j[t] = e[t] - e[t-1]`` with ``e = landmarks - gt``
      (t = 1..T-1); a constant error gives 0.
    * Without: the second difference ``j[t] = x[t] - 2 x[t-1] + x[t-2]``
      (t = 2..T-1); constant velocity gives 0.

    ``NMJ = sqrt(mean over t, faces, points of |j[t]|**2 / s[t]**2)`` (RMS of the
    Euclidean norm), where ``s[t]`` is the size of the face on frame t: ``face_size``
    (scalar, [T] or [T, N]) or, by default, :func:`face_size_from_landmarks` of
    ``gt`` when given, else of ``landmarks`` (inter-ocular distance for 68 points,
    bounding-box diagonal otherwise).

    For i.i.d. noise of std sigma per coordinate: ``2 sigma / s`` with ground
    truth, ``sqrt(12) sigma / s`` without.

    Args:
        landmarks: [T, P, 2] or [T, N, P, 2]; T >= 2 with gt, T >= 3 without.
        gt: optional ground truth of the same shape.
        face_size: optional normalisation (pixels).
    """
    fn = "landmark_nmj"
    lm = _as_tracks(fn, "landmarks", landmarks)
    if gt is not None:
        g = _as_tracks(fn, "gt", gt)
        if g.shape != lm.shape:
            raise ValueError(f"{fn}: argument 'gt' must have the shape of 'landmarks' {lm.shape}, got {g.shape}")
        if lm.shape[0] < 2:
            raise ValueError(f"{fn}: argument 'landmarks' must hold T >= 2 frames with gt, got shape {lm.shape}")
        e = lm - g
        j = e[1:] - e[:-1]
        s = _sizes(fn, face_size, g)[1:]
    else:
        if lm.shape[0] < 3:
            raise ValueError(f"{fn}: argument 'landmarks' must hold T >= 3 frames without gt, got shape {lm.shape}")
        j = lm[2:] - 2.0 * lm[1:-1] + lm[:-2]
        s = _sizes(fn, face_size, lm)[2:]
    sq = (j * j).sum(axis=-1) / (s * s)[..., None]
    return float(np.sqrt(sq.mean()))


# --------------------------------------------------------------------------- monitor

_SERIES = ("tpsnr", "tpsnr_source", "dtpsnr", "tpsnr_roi", "tpsnr_source_roi", "dtpsnr_roi", "nmj")
# Flag candidates, most specific first: the first one a frame has decides its jitter flag.
_FLAG_ORDER = ("dtpsnr_roi", "dtpsnr", "tpsnr_roi", "tpsnr")


def _stats(values: Sequence[float]) -> dict:
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return {"count": 0, "mean": None, "std": None, "min": None, "max": None}
    return {
        "count": int(v.size),
        "mean": float(v.mean()),
        "std": float(v.std()),
        "min": float(v.min()),
        "max": float(v.max()),
    }


_F = TypeVar("_F", bound=Callable[..., Any])


def _locked(method: _F) -> _F:
    """Run a QualityMonitor method under the instance's lock (one update at a time)."""

    @functools.wraps(method)
    def run(self: "QualityMonitor", *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return run  # type: ignore[return-value]


class QualityMonitor:
    """Streaming temporal-quality monitor for a processed video.

    Call :meth:`update` once per output frame. The monitor keeps only the previous
    frame (and source frame, and the last two landmark sets), never the video; the
    per-frame *scalars* are kept for :meth:`summary`, :meth:`to_json` and :meth:`plot`.

    Per transition t (frame t-1 -> frame t, reported on frame t):

    * ``tpsnr``: tPSNR of the output pair; ``tpsnr_source``: of the input pair
      (when ``source`` is given on both frames); ``dtpsnr = tpsnr - tpsnr_source``.
      Real motion lowers both, so dtPSNR is about 0 for a faithful pipeline and
      negative where the processing adds flicker.
    * ``*_roi``: the same inside the face region ``roi`` given with frame t (an
      (x, y, w, h) pixel box, or an H x W mask), applied to both frames of the
      output pair and of the source pair.
    * Infinite tPSNR (identical frames) and anything above ``cap_db`` is clipped
      to ``cap_db`` (default 100 dB) before differences and statistics.
    * Jitter: a transition is flagged when its value is more than
      ``jitter_margin_db`` below the median of the same series over the previous
      ``window`` transitions (causal, the current one excluded; at least
      ``min_history`` of them needed). The series used is the first available of
      dtpsnr_roi, dtpsnr, tpsnr_roi, tpsnr. A single bad frame k shows as flagged
      transitions k and k+1; :meth:`summary` lists such frames as ``suspect_frames``.
    * ``landmarks`` ([P, 2] or [N, P, 2]) optionally with ``gt_landmarks``: the
      per-frame normalised jitter (see :func:`landmark_nmj`) from running sums;
      the summary's ``nmj`` equals ``landmark_nmj`` of the whole track. A missing
      landmark set or a change of shape restarts the track.

    Thread-safe: update / reset / the reports each run atomically under one lock
    per monitor (frames from several threads are taken in the order they get it).

    GPU frames: CuPy arrays (anything with ``__cuda_array_interface__``) for
    ``frame``, ``source`` and a mask ``roi`` -- all on the GPU or all on the host
    (mixed: TypeError naming them); a box ``roi`` and the landmarks are host
    values either way. The previous frames then stay on the device (a device copy
    with ``copy_frames=True``) and one launch sequence on the current CuPy stream
    computes all of a frame's tPSNR sums (output and source pair, full frame and
    ROI, one read of each pixel); they come back in ONE device -> host copy of at
    most 16 doubles into a pinned buffer, i.e. one synchronisation of that stream
    per update (none on the first frame, which has no pair). Records, summary and
    flags are the host path's: the same values within ~1e-12 relative (sums added
    in another order; uint8 without a mask exactly), the same cap and infinities.
    A monitor holds host or GPU frames until :meth:`reset`. The NumPy reference
    (``facefuse.reference.QualityMonitor``) is host-only. With ``copy_frames=False``
    a non-contiguous device frame is kept as its contiguous copy (the kernel's input).
    """

    # Overridden by facefuse.reference.QualityMonitor to use the reference tPSNR.
    _tpsnr = staticmethod(tpsnr)

    def __init__(
        self,
        jitter_margin_db: float = 3.0,
        window: int = 30,
        min_history: int = 5,
        cap_db: float = PSNR_CAP_DB,
        face_size: Optional[float] = None,
        copy_frames: bool = True,
    ) -> None:
        fn = "QualityMonitor"
        self.jitter_margin_db = _common.check_real(fn, "jitter_margin_db", jitter_margin_db, 0.0)
        self.window = _common.check_int(fn, "window", window, 1, 1_000_000)
        self.min_history = _common.check_int(fn, "min_history", min_history, 1, self.window)
        self.cap_db = _common.check_real(fn, "cap_db", cap_db, 0.0, lo_open=True)
        self.face_size = None if face_size is None else _common.check_real(fn, "face_size", face_size, 0.0,
                                                                           lo_open=True)
        self.copy_frames = bool(copy_frames)
        self._lock = threading.RLock()
        self.reset()

    # -- state ---------------------------------------------------------------
    @_locked
    def reset(self) -> None:
        """Forget every frame and statistic."""
        self._prev: Optional[np.ndarray] = None
        self._prev_src: Optional[np.ndarray] = None
        self._gpu_ready: Any = None  # event after the device copies of an update that did not sync
        self._lm_hist: deque = deque(maxlen=2)  # last landmark sets (no-gt: 2nd difference)
        self._prev_err: Optional[np.ndarray] = None  # last landmarks - gt
        self._nmj_sum = 0.0
        self._nmj_n = 0
        self._count = 0
        self._series: dict[str, list] = {k: [] for k in _SERIES}
        self._series["jitter"] = []
        self._series["threshold"] = []
        self._hist: dict[str, deque] = {k: deque(maxlen=self.window) for k in _FLAG_ORDER}
        self._flags: dict[str, list] = {k: [] for k in _FLAG_ORDER}
        self._jitter: list[int] = []
        self._flag_series: Optional[str] = None

    @property
    def count(self) -> int:
        """Frames seen since the last reset."""
        return self._count

    # -- helpers -------------------------------------------------------------
    def _cap(self, v: float) -> float:
        return self.cap_db if v > self.cap_db else float(v)

    def _roi(self, roi: Any, h: int, w: int) -> Any:
        fn = "QualityMonitor.update"
        if roi is None:
            return None
        if isinstance(roi, np.ndarray) and roi.ndim == 2:
            m = as_mask(fn, "roi", roi)
            if m.shape != (h, w):
                raise ValueError(f"{fn}: argument 'roi' mask must be H x W = ({h}, {w}), got shape {m.shape}")
            return m
        try:
            box = [float(v) for v in roi]
        except (TypeError, ValueError):
            raise TypeError(
                f"{fn}: argument 'roi' must be an (x, y, w, h) box or an H x W mask, got {type(roi).__name__}"
            ) from None
        if len(box) != 4 or not all(math.isfinite(v) for v in box) or box[2] <= 0 or box[3] <= 0:
            raise ValueError(f"{fn}: argument 'roi' must be an (x, y, w, h) box with w, h > 0, got {roi!r}")
        x0 = max(0, math.floor(box[0]))
        y0 = max(0, math.floor(box[1]))
        x1 = min(w, math.ceil(box[0] + box[2]))
        y1 = min(h, math.ceil(box[1] + box[3]))
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"{fn}: argument 'roi' box {roi!r} does not overlap the {w} x {h} frame")
        return (slice(y0, y1), slice(x0, x1))

    def _pair(self, a: np.ndarray, b: np.ndarray, roi: Any) -> float:
        if roi is None:
            return self._cap(self._tpsnr(a, b))
        if isinstance(roi, tuple):
            return self._cap(self._tpsnr(a[roi], b[roi]))
        try:
            return self._cap(self._tpsnr(a, b, roi))
        except ValueError as exc:  # the mask's checks are native; report them against 'roi'
            msg = str(exc).replace("argument 'mask'", "argument 'roi' (mask)")
            raise ValueError(f"QualityMonitor.update: {msg}") from None

    def _landmarks(self, landmarks: Any, gt: Any) -> Optional[float]:
        fn = "QualityMonitor.update"
        if landmarks is None:
            self._lm_hist.clear()
            self._prev_err = None
            return None
        lm = _as_tracks(fn, "landmarks", np.asarray(landmarks)[None])[0]  # [N, P, 2]
        if gt is not None:
            g = _as_tracks(fn, "gt_landmarks", np.asarray(gt)[None])[0]
            if g.shape != lm.shape:
                raise ValueError(
                    f"{fn}: argument 'gt_landmarks' must have the shape of 'landmarks' {lm.shape}, got {g.shape}"
                )
            err = lm - g
            prev, self._prev_err = self._prev_err, err
            self._lm_hist.clear()
            if prev is None or prev.shape != err.shape:
                return None
            j = err - prev
            ref = g
        else:
            self._prev_err = None
            hist = self._lm_hist  # the two previous landmark sets, oldest first
            if hist and hist[-1].shape != lm.shape:
                hist.clear()
            j = lm - 2.0 * hist[1] + hist[0] if len(hist) == 2 else None
            hist.append(lm)
            if j is None:
                return None
            ref = lm
        s = self.face_size if self.face_size is not None else face_size_from_landmarks(ref)  # [N]
        s = np.broadcast_to(np.asarray(s, dtype=np.float64), (lm.shape[0],))
        if not (np.isfinite(s).all() and (s > 0).all()):
            raise ValueError(f"{fn}: the landmarks' face size is 0; pass face_size= to QualityMonitor")
        sq = (j * j).sum(axis=-1) / (s * s)[:, None]
        self._nmj_sum += float(sq.sum())
        self._nmj_n += int(sq.size)
        return float(np.sqrt(sq.mean()))

    # -- per frame -----------------------------------------------------------
    @_locked
    def update(
        self,
        frame: np.ndarray,
        source: Optional[np.ndarray] = None,
        roi: Any = None,
        landmarks: Optional[np.ndarray] = None,
        gt_landmarks: Optional[np.ndarray] = None,
    ) -> dict:
        """Add the next output frame; returns this frame's record.

        Args:
            frame: output frame, H x W (x C), uint8 or float32; same shape and dtype
                on every call until :meth:`reset`. A NumPy or a CuPy array (GPU: see
                the class docstring; one stream synchronisation per update); the
                same side on every call until :meth:`reset`.
            source: the input frame that produced ``frame`` (same shape and dtype,
                same side).
            roi: face region for this frame: (x, y, w, h) box in pixels (clipped to
                the frame) or an H x W mask (float32 0..1, uint8, bool; on the
                frame's side).
            landmarks: [P, 2] or [N, P, 2] landmarks of this frame.
            gt_landmarks: their ground truth (same shape), optional.

        Returns:
            dict with ``index`` and the values of ``tpsnr``, ``tpsnr_source``,
            ``dtpsnr``, ``tpsnr_roi``, ``tpsnr_source_roi``, ``dtpsnr_roi`` (dB,
            capped), ``nmj`` (None where not available, e.g. on frame 0),
            ``jitter`` (bool) and ``threshold`` (the median minus the margin the
            flag compared against, or None).
        """
        fn = "QualityMonitor.update"
        # A mask roi takes part in the host / GPU dispatch; a box is host numbers either way.
        roi_array = roi if is_device_array(roi) or (isinstance(roi, np.ndarray) and roi.ndim == 2) else None
        gpu = on_device(fn, frame=frame, source=source, roi=roi_array)
        if gpu and type(self)._tpsnr is not tpsnr:  # a subclass with its own tPSNR (the reference): host only
            require_host(fn, frame=frame, source=source, roi=roi_array)
        if self._prev is not None and gpu != is_device_array(self._prev):
            held, got = ("host", "GPU") if gpu else ("GPU", "host")
            raise TypeError(f"{fn}: argument 'frame' is a {got} array but the monitor holds {held} frames; "
                            "call reset() between videos")
        if gpu:
            vals, f, src = self._device_values(fn, frame, source, roi)
        else:
            vals, f, src = self._host_values(fn, frame, source, roi)

        rec: dict[str, Any] = {"index": self._count}
        rec.update({k: None for k in _SERIES})
        rec.update(vals)
        if rec["tpsnr_source"] is not None:
            rec["dtpsnr"] = rec["tpsnr"] - rec["tpsnr_source"]
        if rec["tpsnr_source_roi"] is not None:
            rec["dtpsnr_roi"] = rec["tpsnr_roi"] - rec["tpsnr_source_roi"]
        # Landmarks last among the checks: a bad frame / roi leaves their state alone.
        rec["nmj"] = self._landmarks(landmarks, gt_landmarks)

        flag, threshold, primary = False, None, None
        for name in _FLAG_ORDER:
            v = rec[name]
            if v is None:
                continue
            hist = self._hist[name]
            flagged = False
            if len(hist) >= self.min_history:
                thr = float(np.median(np.fromiter(hist, dtype=np.float64))) - self.jitter_margin_db
                flagged = v < thr
                if primary is None:
                    threshold = thr
            if flagged:
                self._flags[name].append(self._count)
            if primary is None:
                primary, flag = name, flagged
            hist.append(v)
        if flag:
            self._jitter.append(self._count)
        if primary is not None and self._flag_series is None:
            self._flag_series = primary
        rec["jitter"] = flag
        rec["threshold"] = threshold
        for k in _SERIES:
            self._series[k].append(rec[k])
        self._series["jitter"].append(flag)
        self._series["threshold"].append(threshold)

        def keep(a: Optional[np.ndarray]) -> Optional[np.ndarray]:
            return None if a is None else (np.array(a, copy=True) if self.copy_frames else a)

        # GPU frames come back from _device_values already kept (copied before its sync).
        self._prev = f if gpu else keep(f)
        self._prev_src = src if gpu else keep(src)
        self._count += 1
        return rec

    def _check_frame(self, fn: str, shape: tuple, dtype: Any, what: str) -> None:
        """The frame contract of :meth:`update`, host or GPU: a non-empty uint8 / float32 H x W (x C)
        frame (``what`` describes it) of the shape and dtype of the frame before it."""
        if dtype not in (np.uint8, np.float32) or len(shape) not in (2, 3) or 0 in shape:
            raise TypeError(f"{fn}: argument 'frame' must be a non-empty uint8 or float32 H x W (x C) array, "
                            f"got {what}")
        prev = self._prev
        if prev is not None and (tuple(prev.shape) != tuple(shape) or prev.dtype != dtype):
            raise ValueError(
                f"{fn}: argument 'frame' changed from {prev.dtype} {tuple(prev.shape)} to {dtype} {tuple(shape)}; "
                "call reset() between videos"
            )

    @staticmethod
    def _check_source(fn: str, shape: tuple, dtype: Any, src_shape: tuple, src_dtype: Any) -> None:
        if tuple(src_shape) != tuple(shape) or src_dtype != dtype:
            raise ValueError(f"{fn}: argument 'source' must match 'frame' ({dtype} {tuple(shape)}), "
                             f"got {src_dtype} {tuple(src_shape)}")

    def _host_values(self, fn: str, frame: Any, source: Any, roi: Any) -> tuple[dict, np.ndarray, Any]:
        """The capped tPSNRs of a host frame: (values, frame, source), the frames as ndarrays."""
        f = as_ndarray(fn, "frame", frame)
        self._check_frame(fn, f.shape, f.dtype, f"{f.dtype} array of shape {f.shape}")
        src = None
        if source is not None:
            src = as_ndarray(fn, "source", source)
            self._check_source(fn, f.shape, f.dtype, src.shape, src.dtype)
        r = self._roi(roi, f.shape[0], f.shape[1])
        vals: dict[str, Any] = {}
        if self._prev is not None:
            vals["tpsnr"] = self._pair(self._prev, f, None)
            if r is not None:
                vals["tpsnr_roi"] = self._pair(self._prev, f, r)
            if src is not None and self._prev_src is not None:
                vals["tpsnr_source"] = self._pair(self._prev_src, src, None)
                if r is not None:
                    vals["tpsnr_source_roi"] = self._pair(self._prev_src, src, r)
        return vals, f, src

    def _device_values(self, fn: str, frame: Any, source: Any, roi: Any) -> tuple[dict, Any, Any]:
        """The capped tPSNRs of a GPU frame: (values, frame, source), the frames as the C-contiguous
        CuPy arrays to keep (with copy_frames, device copies enqueued before the update's one sync)."""
        from ._device import Launch, device_mask, view

        fv = view(fn, "frame", frame)
        self._check_frame(fn, fv.shape, fv.dtype, fv.describe())
        if source is not None:
            sv = view(fn, "source", source)
            self._check_source(fn, fv.shape, fv.dtype, sv.shape, sv.dtype)
        prev, prev_src = self._prev, self._prev_src
        h, w = fv.shape[0], fv.shape[1]
        box = None
        dev_roi = roi if is_device_array(roi) else None
        if dev_roi is not None:
            rv = view(fn, "roi", dev_roi)
            if rv.ndim != 2:
                raise TypeError(f"{fn}: argument 'roi' must be an (x, y, w, h) box or an H x W mask, "
                                f"got {rv.describe()}")
        elif roi is not None:
            ys, xs = self._roi(roi, h, w)  # the host's clipping and checks
            box = (xs.start, ys.start, xs.stop, ys.stop)
        L = Launch(fn, frame=frame, source=source, roi=dev_roi, prev=prev, prev_source=prev_src)
        cp = L.cp
        mask = None
        if dev_roi is not None:
            mask = device_mask(L, fn, "roi", dev_roi)
            if tuple(mask.shape) != (h, w):
                raise ValueError(f"{fn}: argument 'roi' mask must be H x W = ({h}, {w}), got shape {tuple(mask.shape)}")

        def kept(name: str, x: Any) -> Any:
            a = L.array(name, x)
            if self.copy_frames and int(a.data.ptr) == L.views[name].ptr:  # still the caller's memory
                with cp.cuda.Device(L.device), L.stream:
                    a = a.copy()
            return a

        f = kept("frame", frame)
        src = None if source is None else kept("source", source)
        if self._gpu_ready is not None:  # the last update's copies had no sync (and maybe another stream)
            L.stream.wait_event(self._gpu_ready)
        vals: dict[str, Any] = {}
        if prev is None:
            with cp.cuda.Device(L.device):
                ev = cp.cuda.Event(disable_timing=True)
                ev.record(L.stream)
            self._gpu_ready = ev
            return vals, f, src
        pair_src = src is not None and prev_src is not None
        try:
            out = L.cuda.quality_monitor_tpsnr(prev, f, prev_src if pair_src else None, src if pair_src else None,
                                               box, mask, L.device, L.stream_ptr)
        except ValueError as exc:  # the mask's checks are native; report them against 'roi', as the host does
            raise ValueError(str(exc).replace("argument 'mask'", "argument 'roi' (mask)")) from None
        self._gpu_ready = None  # the stream was synchronised after the copies
        for k, v in zip(("tpsnr", "tpsnr_roi", "tpsnr_source", "tpsnr_source_roi"), out):
            if v is not None:
                vals[k] = self._cap(v)
        return vals, f, src

    # -- reports -------------------------------------------------------------
    @_locked
    def summary(self) -> dict:
        """Statistics since the last reset.

        Returns a dict: ``count`` (frames), ``transitions`` (frame pairs compared),
        per series present (``tpsnr``, ``tpsnr_source``, ``dtpsnr``, ``tpsnr_roi``,
        ``tpsnr_source_roi``, ``dtpsnr_roi``, ``nmj``) a dict of count / mean /
        std (population) / min / max, ``nmj_overall`` (RMS over all landmark
        jitter, = landmark_nmj of the track; None without landmarks), and
        ``jitter``: indices of flagged transitions, their count, their percentage
        of the transitions compared, ``suspect_frames`` (frames k with both k and
        k+1 flagged), the flags of every series (``by_series``) and the parameters.
        """
        s = self._series
        out: dict[str, Any] = {"count": self._count, "transitions": sum(v is not None for v in s["tpsnr"])}
        for k in _SERIES:
            vals = [v for v in s[k] if v is not None]
            if vals:
                out[k] = _stats(vals)
        out["nmj_overall"] = math.sqrt(self._nmj_sum / self._nmj_n) if self._nmj_n else None
        n = out["transitions"]
        flagged = set(self._jitter)
        out["jitter"] = {
            "series": self._flag_series,
            "indices": list(self._jitter),
            "count": len(self._jitter),
            "percent": 100.0 * len(self._jitter) / n if n else 0.0,
            "suspect_frames": [k for k in self._jitter if k + 1 in flagged],
            "by_series": {k: list(v) for k, v in self._flags.items() if self._hist[k]},
            "margin_db": self.jitter_margin_db,
            "window": self.window,
            "min_history": self.min_history,
            "cap_db": self.cap_db,
        }
        return out

    @_locked
    def series(self) -> dict:
        """The per-frame series (lists indexed by frame; None where not available)."""
        d = {k: list(v) for k, v in self._series.items()}
        d["index"] = list(range(self._count))
        return d

    @_locked
    def to_json(self, path: Any) -> None:
        """Write ``{"summary": summary(), "frames": series()}`` as strict JSON (no NaN/inf)."""
        with open(path, "w", encoding="utf-8") as fh:
            json.dump({"summary": self.summary(), "frames": self.series()}, fh, allow_nan=False, indent=1)

    @_locked
    def plot(self, path: Any, title: str = "facefuse temporal quality") -> None:
        """Write a PNG: tPSNR (output/source, whole/roi) and dtPSNR over frame index,
        flagged transitions marked (drawn by :func:`facefuse.plotting.plot_quality`, which
        loads matplotlib on first use)."""
        from ..plotting import plot_quality

        plot_quality(path, self.series(), list(self._jitter), self._flag_series, self.cap_db, title)
