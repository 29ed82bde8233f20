"""Shared helpers of the pipeline tests: stand-in model dirs and generated clips with bright squares."""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Optional

import numpy as np

from facefuse.testing.media import mux_audio, tone

W, H, FPS, SECONDS, SR = 320, 240, 25, 2, 44100
SIDE = 64  # square side (pixels): within the stand-in detectors' 40..250 range
# `facefuse swap` flags that keep a CLI test fast (small detector input, fastest x264 preset)
FAST = ["--detector", "scrfd", "--detector-size", "320", "--preset", "ultrafast", "--no-progress"]
Y0 = 80


def build_models(directory: Path, detectors=("scrfd",), others=("arcface_w600k_r50", "inswapper_128")) -> Path:
    from facefuse.testing.detector_models import BUILDERS as DETECTORS
    from facefuse.testing.face_models import BUILDERS as FACES

    directory.mkdir(parents=True, exist_ok=True)
    for k in detectors:
        DETECTORS[k](directory)
    for k in others:
        FACES[k](directory)
    return directory


def square_x(i: int) -> int:
    """Left edge of the moving square in frame i (3 px per frame, left to right)."""
    return 40 + 3 * i


def background(w: int = W, h: int = H) -> np.ndarray:
    """A dim ramp (no pixel is 'bright' for the stand-in detectors)."""
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = np.linspace(20, 150, w, dtype=np.float32).astype(np.uint8)[None, :]
    img[..., 1] = 90
    img[..., 2] = np.linspace(60, 140, h, dtype=np.float32).astype(np.uint8)[:, None]
    return img


def clip_frame(i: int) -> np.ndarray:
    img = background()
    img[Y0:Y0 + SIDE, square_x(i):square_x(i) + SIDE] = 255
    return img


def make_clip(path: Path, *, seconds: float = SECONDS, audio: bool = True, faststart: bool = False) -> Path:
    """An H.264 (near lossless) clip with a moving bright square and, optionally, an AAC tone."""
    import av

    c = av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {})
    vs = c.add_stream("libx264", rate=FPS, options={"preset": "ultrafast", "crf": "4"})
    vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
    if audio:
        a = c.add_stream("aac", rate=SR)
        a.layout = "mono"
    n = int(round(seconds * FPS))
    for i in range(n):
        f = av.VideoFrame.from_ndarray(clip_frame(i), format="bgr24")
        f.pts, f.time_base = i, Fraction(1, FPS)
        c.mux(vs.encode(f))
    c.mux(vs.encode(None))
    if audio:
        mux_audio(c, a, tone(seconds, SR), SR)
    c.close()
    return path


def source_face(path: Path) -> Path:
    """A source 'face' image: one bright square."""
    import cv2

    img = np.full((200, 200, 3), 70, np.uint8)
    img[50:150, 50:150] = 255
    cv2.imwrite(str(path), img)
    return path


def stream_durations(path) -> dict:
    import av

    with av.open(str(path)) as c:
        return {s.type: float(s.duration * s.time_base) for s in c.streams if s.duration}


def leftovers(directory, keep: Optional[set] = None) -> list:
    """Temporary / partial files in ``directory`` (names not in ``keep``)."""
    keep = keep or set()
    return sorted(p for p in os.listdir(directory) if p not in keep)
