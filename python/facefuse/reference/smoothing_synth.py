"""Synthetic landmark tracks with ground truth, and the smoothing quality metrics.

Shared by ``bench/smoothing_quality.py`` (prints the table) and
``tests/test_smoothing.py`` (asserts the default method's targets).

Scene: ``n_faces`` faces, 68 iBUG-layout points each, ``n_frames`` frames at
30 Hz. Each face moves smoothly (sinusoidal translation, rotation up to about
+-11 degrees, scale +-10 %), its mouth opens and closes (lower lip and jaw move),
and at ``cut_frame`` every face jumps to a new place, pose and size (a scene cut;
track ids stay the same). Detections = ground truth + Gaussian noise
(``noise`` px per coordinate) + rare outliers (probability ``outlier_prob`` per
point and frame, 10-20 px in a random direction).

Metrics (all on the 2-D error vector ``e = smoothed - truth``)
-------------------------------------------------------------
* Warm-up frames: the first ``WARMUP`` (3) frames of every segment (frames
  ``0..2`` and ``cut..cut+2``) are excluded from jitter, error and lag; they
  are what the recovery metric measures.
* ``rms``: sqrt of the mean of ``|e|^2`` over the remaining frames, faces, points.
* ``jitter``: sqrt of the mean of ``|e[t+1] - 2 e[t] + e[t-1]|^2`` over every
  triple of consecutive frames that are all non-warm-up frames of one segment
  (so no triple straddles the cut).
* ``lag`` (frames): the shift ``tau`` minimising the mean of
  ``|smoothed(t) - truth(t - tau)|^2``, the truth evaluated analytically at
  fractional times (each frame with its own segment's motion); grid search on
  [-4, 8] in 0.05-frame steps, refined by a parabola through the best three.
  An EMA with alpha = 0.25 shows about 3 frames, an unbiased filter about 0.
* ``recovery`` (frames): per face, the smallest ``k >= 0`` such that the
  per-frame error ``sqrt(mean_p |e|^2)`` stays <= 2 x the raw detections' ``rms``
  for frames ``cut+k .. cut+k+4``; the worst face is reported.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = ["FACE68", "SynthTracks", "make_tracks", "run_smoother", "quality_metrics", "WARMUP"]

WARMUP = 3


def _face68() -> np.ndarray:
    """A plausible 68-point face template (iBUG order), unit half-width, y down."""
    pts = []
    for i in range(17):  # jaw, left ear -> chin -> right ear
        a = math.pi * i / 16
        pts.append((-0.95 * math.cos(a), -0.15 + 1.05 * math.sin(a)))
    for i in range(5):  # left brow
        u = i / 4
        pts.append((-0.78 + 0.6 * u, -0.52 - 0.1 * math.sin(math.pi * u)))
    for i in range(5):  # right brow
        u = i / 4
        pts.append((0.18 + 0.6 * u, -0.52 - 0.1 * math.sin(math.pi * u)))
    for i in range(4):  # nose bridge
        pts.append((0.0, -0.38 + 0.14 * i))
    for i in range(5):  # nostrils
        u = (i - 2) / 2
        pts.append((0.2 * u, 0.16 + 0.04 * (1 - abs(u))))
    for cx in (-0.4, 0.4):  # eyes: corner, upper lid x2, corner, lower lid x2
        for a in (180, 120, 60, 0, -60, -120):
            r = math.radians(a)
            pts.append((cx + 0.16 * math.cos(r), -0.28 - 0.06 * math.sin(r)))
    for i in range(12):  # outer lip, from the left corner over the top
        r = math.pi - 2 * math.pi * i / 12
        pts.append((0.36 * math.cos(r), 0.5 - 0.12 * math.sin(r)))
    for i in range(8):  # inner lip
        r = math.pi - 2 * math.pi * i / 8
        pts.append((0.22 * math.cos(r), 0.5 - 0.035 * math.sin(r)))
    return np.array(pts, dtype=np.float64)


FACE68 = _face68()

# How far each point moves down (in template units) when the mouth opens fully.
_MOUTH = np.zeros(68)
_MOUTH[55:60] = 0.28  # lower outer lip
_MOUTH[[54, 48]] = 0.08  # corners
_MOUTH[65:68] = 0.26  # lower inner lip
_MOUTH[[60, 64]] = 0.08
_MOUTH[4:13] = 0.14 * np.cos(np.linspace(-1.2, 1.2, 9))  # the jaw drops with it


@dataclass
class _Segment:
    start: int
    c0: np.ndarray
    amp: np.ndarray
    per: np.ndarray
    ph: np.ndarray
    scale: float
    th0: float
    th_amp: float
    th_per: float
    s_amp: float
    s_per: float
    m_per: float
    m_ph: float

    def eval(self, t: np.ndarray) -> np.ndarray:
        """Truth at (fractional) frame times ``t`` [T] -> [T, 68, 2]."""
        t = np.asarray(t, dtype=np.float64)[:, None]
        c = self.c0 + self.amp * np.sin(2 * np.pi * t / self.per + self.ph)  # [T, 2]
        th = self.th0 + self.th_amp * np.sin(2 * np.pi * t[:, 0] / self.th_per)
        s = self.scale * (1 + self.s_amp * np.sin(2 * np.pi * t[:, 0] / self.s_per + 1.0))
        m = 0.5 - 0.5 * np.cos(2 * np.pi * t[:, 0] / self.m_per + self.m_ph)  # mouth 0..1
        shape = np.broadcast_to(FACE68, (len(t), 68, 2)).copy()
        shape[:, :, 1] += m[:, None] * _MOUTH[None, :]
        cs, sn = np.cos(th)[:, None], np.sin(th)[:, None]
        x = cs * shape[:, :, 0] - sn * shape[:, :, 1]
        y = sn * shape[:, :, 0] + cs * shape[:, :, 1]
        return c[:, None, :] + s[:, None, None] * np.stack([x, y], axis=-1)


@dataclass
class SynthTracks:
    gt: np.ndarray  # [T, N, 68, 2] float64
    obs: np.ndarray  # [T, N, 68, 2] float32
    ids: np.ndarray  # [N] int64
    cut_frame: int
    fps: float
    noise: float
    segments: list = field(default_factory=list)  # [N][2] _Segment

    @property
    def n_frames(self) -> int:
        return self.gt.shape[0]

    def truth_shifted(self, tau: float) -> np.ndarray:
        """Truth at ``t - tau`` for every frame t, each frame with its own segment's motion."""
        t = np.arange(self.n_frames, dtype=np.float64)
        out = np.empty_like(self.gt)
        for f, segs in enumerate(self.segments):
            for seg, lo, hi in ((segs[0], 0, self.cut_frame), (segs[1], self.cut_frame, self.n_frames)):
                out[lo:hi, f] = seg.eval(t[lo:hi] - tau)
        return out


def _segment(rng: np.random.Generator, start: int, width: float, height: float) -> _Segment:
    scale = rng.uniform(70, 110)  # half face width, px
    return _Segment(
        start=start,
        c0=np.array([rng.uniform(0.25, 0.75) * width, rng.uniform(0.3, 0.7) * height]),
        amp=rng.uniform(25, 60, size=2),
        per=rng.uniform(70, 130, size=2),
        ph=rng.uniform(0, 2 * np.pi, size=2),
        scale=scale,
        th0=rng.uniform(-0.15, 0.15),
        th_amp=rng.uniform(0.08, 0.2),
        th_per=rng.uniform(80, 140),
        s_amp=rng.uniform(0.05, 0.1),
        s_per=rng.uniform(90, 150),
        m_per=rng.uniform(30, 50),
        m_ph=rng.uniform(0, 2 * np.pi),
    )


def make_tracks(seed: int = 0, n_faces: int = 4, n_frames: int = 240, cut_frame: int = 120,
                noise: float = 1.5, outlier_prob: float = 0.005, fps: float = 30.0,
                width: float = 1280, height: float = 720) -> SynthTracks:
    """Ground truth and noisy detections for ``n_faces`` faces (ids 0..n_faces-1)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames, dtype=np.float64)
    gt = np.empty((n_frames, n_faces, 68, 2))
    segments = []
    for f in range(n_faces):
        segs = [_segment(rng, 0, width, height), _segment(rng, cut_frame, width, height)]
        gt[:cut_frame, f] = segs[0].eval(t[:cut_frame])
        gt[cut_frame:, f] = segs[1].eval(t[cut_frame:])
        segments.append(segs)
    obs = gt + rng.normal(0.0, noise, size=gt.shape)
    hit = rng.random(gt.shape[:3]) < outlier_prob
    ang = rng.uniform(0, 2 * np.pi, size=gt.shape[:3])
    mag = rng.uniform(10.0, 20.0, size=gt.shape[:3]) * hit
    obs[..., 0] += mag * np.cos(ang)
    obs[..., 1] += mag * np.sin(ang)
    return SynthTracks(gt=gt, obs=obs.astype(np.float32), ids=np.arange(n_faces, dtype=np.int64),
                       cut_frame=cut_frame, fps=fps, noise=noise, segments=segments)


def run_smoother(smoother: Any, data: SynthTracks, timestamps: bool = False) -> np.ndarray:
    """Feed every frame (all faces in one ``update``) -> smoothed [T, N, 68, 2] float64."""
    out = np.empty(data.obs.shape, dtype=np.float64)
    for f in range(data.n_frames):
        t = f / data.fps if timestamps else None
        out[f] = smoother.update(data.obs[f], data.ids, t)
    return out


def _valid_mask(data: SynthTracks) -> np.ndarray:
    ok = np.ones(data.n_frames, dtype=bool)
    ok[:WARMUP] = False
    ok[data.cut_frame:data.cut_frame + WARMUP] = False
    return ok


def quality_metrics(smoothed: np.ndarray, data: SynthTracks) -> dict[str, float]:
    """rms, jitter, lag, recovery (see the module docstring) of ``smoothed`` [T, N, P, 2]."""
    y = np.asarray(smoothed, dtype=np.float64)
    e = y - data.gt
    ok = _valid_mask(data)
    se = np.sum(e * e, axis=-1)  # [T, N, P]
    rms = math.sqrt(float(np.mean(se[ok])))
    centre = np.zeros(data.n_frames, dtype=bool)
    centre[1:-1] = ok[:-2] & ok[1:-1] & ok[2:]
    centre[data.cut_frame - 1:data.cut_frame + 1] = False  # never straddle the cut
    d2 = e[2:] - 2 * e[1:-1] + e[:-2]
    jitter = math.sqrt(float(np.mean(np.sum(d2 * d2, axis=-1)[centre[1:-1]])))

    def cost(tau: float) -> float:
        d = y[ok] - data.truth_shifted(tau)[ok]
        return float(np.mean(np.sum(d * d, axis=-1)))

    grid = np.arange(-4.0, 8.0 + 1e-9, 0.05)
    costs = np.array([cost(tau) for tau in grid])
    k = int(np.clip(np.argmin(costs), 1, len(grid) - 2))
    c0, c1, c2 = costs[k - 1:k + 2]
    den = c0 - 2 * c1 + c2
    lag = float(grid[k] + (0.5 * 0.05 * (c0 - c2) / den if den > 0 else 0.0))

    raw_e = data.obs.astype(np.float64) - data.gt
    raw_rms = math.sqrt(float(np.mean(np.sum(raw_e * raw_e, axis=-1)[ok])))
    per_frame = np.sqrt(np.mean(se, axis=2))  # [T, N]
    thr = 2.0 * raw_rms
    rec = 0
    hold = 5
    for f in range(data.gt.shape[1]):
        seg = per_frame[data.cut_frame:, f]
        k_ok = next((k for k in range(len(seg) - hold + 1) if np.all(seg[k:k + hold] <= thr)), math.inf)
        rec = max(rec, k_ok)
    return {"rms": rms, "jitter": jitter, "lag": lag, "recovery": float(rec)}


def quality_table(make_smoother: Callable[[str], Any], methods: list[str], seed: int = 0,
                  timestamps: bool = False, **synth: Any) -> dict[str, dict[str, float]]:
    """Metrics for the raw detections and each method (``make_smoother(method)``)."""
    data = make_tracks(seed=seed, **synth)
    rows = {"raw": quality_metrics(data.obs, data)}
    for m in methods:
        rows[m] = quality_metrics(run_smoother(make_smoother(m), data, timestamps), data)
    raw_j = rows["raw"]["jitter"]
    for r in rows.values():
        r["jitter_cut_pct"] = 100.0 * (1.0 - r["jitter"] / raw_j)
    return rows
