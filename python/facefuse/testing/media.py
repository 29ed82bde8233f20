"""Synthetic media for tests and benchmarks: tones / speech-like audio files and short clips
with a bright square "face" the stand-in detectors find (PyAV; nothing is downloaded)."""
from __future__ import annotations

import os
from fractions import Fraction
from typing import Optional, Union

import numpy as np

__all__ = ["synth_speech", "tone", "mux_audio", "write_audio", "write_clip"]

PathLike = Union[str, "os.PathLike[str]"]


def synth_speech(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    """A speech-like mono float32 signal: a 120 Hz harmonic buzz whose loudness and formant
    move at syllable rate (4 Hz) with noise bursts; the mel spectrogram changes over time."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t) ** 2
    buzz = sum(np.sin(2 * np.pi * 120.0 * h * t) / h for h in range(1, 12))
    formant = np.sin(2 * np.pi * (500.0 + 300.0 * np.sin(2 * np.pi * 1.3 * t)) * t)
    noise = rng.standard_normal(n) * (np.sin(2 * np.pi * 2.0 * t) > 0.7)
    x = env * (0.15 * buzz + 0.2 * formant) + 0.05 * noise
    return (0.8 * x / max(1e-9, float(np.abs(x).max()))).astype(np.float32)


def tone(seconds: float, rate: int, freq: float = 440.0, amplitude: float = 0.3) -> np.ndarray:
    """A mono float32 sine of ``seconds`` at ``rate``."""
    t = np.arange(int(round(seconds * rate))) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def mux_audio(container: "object", stream: "object", samples: np.ndarray, rate: int) -> None:
    """Encode float samples ``[n]`` (mono) or ``[n, channels]`` in [-1, 1] into the audio
    ``stream`` of an open PyAV output ``container`` in 1024-sample frames, then flush it."""
    import av

    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    layout = {1: "mono", 2: "stereo"}[x.shape[1]]
    for i in range(0, x.shape[0], 1024):
        fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[i:i + 1024].T), format="fltp", layout=layout)
        fr.sample_rate, fr.pts, fr.time_base = rate, i, Fraction(1, rate)
        container.mux(stream.encode(fr))
    container.mux(stream.encode(None))


def write_audio(path: PathLike, samples: np.ndarray, rate: int, codec: Optional[str] = None) -> None:
    """Write float samples ``[n]`` (mono) or ``[n, channels]`` in [-1, 1] to ``path``.

    ``codec``: None picks from the extension (``.wav``: pcm_s16le, ``.m4a``/``.mp4``: aac,
    ``.mp3``: libmp3lame, ``.flac``: flac)."""
    import av

    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    ch = x.shape[1]
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if codec is None:
        codec = {".wav": "pcm_s16le", ".m4a": "aac", ".mp4": "aac", ".mp3": "libmp3lame",
                 ".flac": "flac", ".mkv": "aac"}.get(ext, "pcm_s16le")
    layout = {1: "mono", 2: "stereo"}[ch]
    with av.open(os.fspath(path), "w") as out:
        st = out.add_stream(codec, rate=rate, layout=layout)
        out.start_encoding()  # writes the header even when there are no samples
        mux_audio(out, st, x, rate)


def write_clip(path: PathLike, seconds: float, fps: int = 25, size: tuple[int, int] = (320, 240),
               square: Optional[int] = 96, audio: Optional[np.ndarray] = None, audio_rate: int = 16000,
               seed: int = 0, motion: float = 0.1) -> int:
    """Write an H.264 clip of ``seconds`` at ``fps`` (``size`` = (width, height)): a textured
    dark background and a bright ``square`` x ``square`` patch (all channels > 200, with a reddish
    "mouth" bar) drifting sideways by up to ``motion`` x width, so a stand-in detector finds
    one face in every frame.
    ``audio`` (mono float samples at ``audio_rate``) is muxed as AAC. Returns the frame count."""
    import av

    w, h = size
    n = int(round(seconds * fps))
    rng = np.random.default_rng(seed)
    bg = (rng.integers(0, 90, (h, w, 3))).astype(np.uint8)
    with av.open(os.fspath(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps, options={"crf": "18", "preset": "ultrafast"})
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        ast = None
        if audio is not None:
            ast = out.add_stream("aac", rate=audio_rate, layout="mono")
        for i in range(n):
            img = bg.copy()
            if square:
                cx = w / 2 + motion * w * np.sin(i / max(1, n) * 2 * np.pi)
                cy = h / 2
                x0, y0 = int(cx - square / 2), int(cy - square / 2)
                img[y0:y0 + square, x0:x0 + square] = 230
                m0 = y0 + int(square * 0.7)
                img[m0:m0 + max(2, square // 10), x0 + square // 4:x0 + 3 * square // 4] = (214, 208, 255)
            fr = av.VideoFrame.from_ndarray(img, format="bgr24")
            fr.pts = i
            fr.time_base = Fraction(1, fps)
            out.mux(vs.encode(fr))
        out.mux(vs.encode(None))
        if ast is not None:
            mux_audio(out, ast, audio, audio_rate)
    return n
