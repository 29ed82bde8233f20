"""Shared helpers of the batch tests: small generated clips and job files."""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable, List

import numpy as np

import av

SMOOTH = "facefuse.testing.batch_kinds:SMOOTH"
W, H, FPS, SR = 64, 48, 25, 16000


def pattern(i: int) -> np.ndarray:
    """A frame that changes with i (moving bright bar, drifting colours)."""
    img = np.zeros((H, W, 3), np.uint8)
    img[..., 0] = (np.arange(W)[None, :] * 3 + 5 * i) % 256
    img[..., 1] = (np.arange(H)[:, None] * 4 + 7 * i) % 256
    img[..., 2] = (11 * i) % 256
    x = (3 * i) % (W - 8)
    img[:, x:x + 8] = 250
    return img


def make_clip(path: Path, frames: int = 50, *, audio: bool = True, bframes: bool = False) -> Path:
    """An H.264 clip of ``frames`` frames at 25 fps with a sine tone (AAC)."""
    c = av.open(str(path), "w")
    opts = {"preset": "fast", "crf": "8", "g": "12", "bf": "3"} if bframes else {"preset": "ultrafast", "crf": "0"}
    vs = c.add_stream("libx264", rate=FPS, options=opts)
    vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
    a = None
    if audio:
        a = c.add_stream("aac", rate=SR)
        a.layout = "mono"
    for i in range(frames):
        f = av.VideoFrame.from_ndarray(pattern(i), format="bgr24")
        f.pts, f.time_base = i, Fraction(1, FPS)
        c.mux(vs.encode(f))
    c.mux(vs.encode(None))
    if a is not None:
        n = frames * SR // FPS
        t = np.arange(n) / SR
        s = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for k in range(0, n, 1024):
            fr = av.AudioFrame.from_ndarray(s[None, k:k + 1024], format="fltp", layout="mono")
            fr.sample_rate, fr.pts, fr.time_base = SR, k, Fraction(1, SR)
            c.mux(a.encode(fr))
        c.mux(a.encode(None))
    c.close()
    return path


def write_jsonl(path: Path, jobs: Iterable[dict]) -> Path:
    path.write_text("".join(json.dumps(j) + "\n" for j in jobs))
    return path


def smooth_job(video: Any, output: Any, **options: Any) -> dict:
    job = {"kind": SMOOTH, "inputs": {"video": str(video)}, "output": str(output)}
    chunk = options.pop("chunk_seconds", None)
    if chunk is not None:
        job["chunk_seconds"] = chunk
    if options:
        job["options"] = options
    return job


def frames_of(path: Any) -> List[tuple]:
    """[(index, timestamp, image)] of every frame of ``path``."""
    from facefuse.video import VideoReader

    with VideoReader(path) as r:
        return [(f.index, f.timestamp, f.image) for f in r]


def stream_durations(path: Any) -> dict:
    with av.open(str(path)) as c:
        return {s.type: float(s.duration * s.time_base) for s in c.streams if s.duration}


def temp_leftovers(directory: Path) -> List[str]:
    """Hidden / temporary files anywhere under ``directory`` (a writer's or a chunk's)."""
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*")
                  if ".tmp" in p.name or p.name.startswith(".") and p.name.endswith(".mp4")
                  or ".chunks-" in str(p))
