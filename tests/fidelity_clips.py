"""Tiny generated clips (64 x 48, a few dozen frames) with the timing, colour, bit depth and
streams that phones and editors produce, and helpers that read back what a file holds, for the
fidelity tests (tests/test_video_fidelity*.py)."""
from __future__ import annotations

from fractions import Fraction
from typing import Optional, Sequence

import numpy as np

import av

W, H = 64, 48


def pattern(i: int) -> np.ndarray:
    """Frame ``i``: smooth gradients (chroma subsampling loses little) and a moving square."""
    y, x = np.mgrid[0:H, 0:W]
    img = np.stack([40 + 2 * x, 60 + 2 * y, 200 - 2 * x], -1).astype(np.int32)
    s = (i * 3) % (W - 16)
    img[16:32, s:s + 16] = (30, 200, 120)
    return np.ascontiguousarray(img.clip(0, 255).astype(np.uint8))


def _tone(rate: int, samples: int, freq: float) -> np.ndarray:
    t = np.arange(samples) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)[None, :]


def make_clip(path, pts: Sequence[int], time_base: Fraction, *, codec: str = "libx264", pix_fmt: str = "yuv420p",
              matrix: int = 2, range_: int = 0, primaries: int = 2, trc: int = 2, options: Optional[dict] = None,
              audio: Sequence[tuple] = (), subtitles: bool = False, tags: Optional[dict] = None,
              rate: Fraction = Fraction(25)) -> str:
    """Encode ``len(pts)`` frames with those presentation timestamps (``time_base`` units).
    ``audio``: (codec, language, freq) per audio track (the length of the video); ``subtitles``:
    one subrip track copied from a generated .srt (a container that holds subrip: mkv);
    ``tags``: container tags."""
    path = str(path)
    srt = None
    if subtitles:
        with open(path + ".srt", "w") as f:
            f.write("1\n00:00:00,000 --> 00:00:00,500\nhello\n\n")
        srt = av.open(path + ".srt")
    with av.open(path, "w") as c:
        vs = c.add_stream(codec, rate=rate, options=dict(options or {}))
        vs.width, vs.height, vs.pix_fmt = W, H, pix_fmt
        vs.time_base = time_base
        vs.codec_context.time_base = time_base
        cc = vs.codec_context
        cc.colorspace, cc.color_range, cc.color_primaries, cc.color_trc = matrix, range_, primaries, trc
        end = float((pts[-1] + (pts[-1] - pts[-2] if len(pts) > 1 else 1)) * time_base)
        astreams = []
        for acodec, lang, freq in audio:
            a = c.add_stream(acodec, rate=48000)
            a.layout = "mono"
            a.metadata["language"] = lang
            astreams.append((a, freq))
        sub = None
        if srt is not None:
            sub = c.add_stream_from_template(srt.streams.subtitles[0])
            sub.metadata["language"] = "fra"
        c.metadata.update(tags or {})
        m = matrix if matrix in (1, 5, 6, 9) else None
        for i, p in enumerate(pts):
            f = av.VideoFrame.from_ndarray(pattern(i), format="bgr24")
            if m is not None:
                f = f.reformat(format=pix_fmt, src_colorspace=m, dst_colorspace=m, src_color_range=2,
                               dst_color_range=2 if range_ == 2 or pix_fmt.startswith("yuvj") else 1)
            f.pts, f.time_base = int(p), time_base
            c.mux(vs.encode(f))
        c.mux(vs.encode(None))
        for a, freq in astreams:
            n = int(end * 48000)
            step = a.codec_context.frame_size or 1024
            for k in range(0, n, step):
                fr = av.AudioFrame.from_ndarray(_tone(48000, min(step, n - k), freq),
                                                format="flt", layout="mono")
                fr.sample_rate, fr.pts, fr.time_base = 48000, k, Fraction(1, 48000)
                c.mux(a.encode(fr))
            c.mux(a.encode(None))
        if sub is not None:
            for pkt in srt.demux(srt.streams.subtitles[0]):
                if pkt.size:
                    pkt.stream = sub
                    c.mux(pkt)
            srt.close()
    return path


def frame_times(path) -> list:
    """Presentation times (exact Fractions, seconds) of every video frame of ``path``, in order."""
    from facefuse.video import _frame_pts

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [Fraction(p) * Fraction(s.time_base) for p in _frame_pts(c, s)]


def decoded(path) -> list:
    """Every decoded frame of ``path`` in BGR, converted with its own tags (facefuse's reader)."""
    from facefuse.video import VideoReader

    with VideoReader(path) as r:
        return [f.image for f in r]


def audio_packets(path) -> list:
    """Per audio track: (language, codec, [(pts, bytes)...]) of ``path``."""
    out = []
    with av.open(str(path)) as c:
        tracks = list(c.streams.audio)
        for s in tracks:
            out.append((dict(s.metadata).get("language", "und"), s.codec_context.name, []))
        for pkt in c.demux(*tracks):
            if pkt.pts is None and pkt.size == 0:
                continue
            out[tracks.index(pkt.stream)][2].append((pkt.pts, bytes(pkt)))
    return out


def raw_frames(path) -> list:
    """Every decoded frame of ``path`` as stored: its YUV samples (uint16 for > 8 bits) as
    ``VideoFrame.to_ndarray`` lays them out, no conversion."""
    with av.open(str(path)) as c:
        return [f.to_ndarray() for f in c.decode(video=0)]
