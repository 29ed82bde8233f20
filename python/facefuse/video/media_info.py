"""What a media file holds and what a facefuse output of it keeps (``facefuse probe FILE``):
its streams, the video's timing kind (CFR / VFR, duplicate timestamps), colour tags, pixel
format and bit depth. Reads the packet index (one demux pass, no decoding) and one frame."""
from __future__ import annotations

import os
from fractions import Fraction
from typing import Any

import av

from .color import output_pix_fmt
from .errors import _FFMPEG_ERRORS, PathLike, VideoError
from .reader import VideoReader, _frame_pts

__all__ = ["media_info", "timing_of"]


def timing_of(pts: list, time_base: Fraction) -> dict:
    """Timing kind of sorted frame timestamps ``pts`` (``time_base`` units): ``CFR`` when every
    frame lasts the same (within one tick), else ``VFR``; frame durations seen (seconds) and
    how many timestamps repeat."""
    deltas = [b - a for a, b in zip(pts, pts[1:])]
    dup = sum(1 for d in deltas if d == 0)
    steps = sorted({d for d in deltas if d > 0})
    kind = "CFR" if not steps or steps[-1] - steps[0] <= 1 else "VFR"
    return {"kind": kind, "frames": len(pts), "duplicate_pts": dup,
            "first_pts": pts[0] if pts else None, "time_base": str(time_base),
            "frame_durations": [float(d * time_base) for d in steps[:8]]}


def _lang(stream: Any) -> str:
    return dict(stream.metadata).get("language", "und")


def media_info(path: PathLike, codec: str = "libx264") -> dict:
    """A dict describing ``path`` (streams, timing, colour, bit depth, container tags) and
    ``keeps``: what an output encoded with ``codec`` in the same container keeps, one line each."""
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise FileNotFoundError(f"media_info: argument 'path': no such file: {p!r}")
    try:
        with av.open(p, "r", metadata_errors="ignore") as c:
            streams = [{"index": s.index, "type": s.type, "codec": s.codec_context.name if s.codec_context else None,
                        "language": _lang(s), "time_base": str(s.time_base)} for s in c.streams]
            tags = dict(c.metadata)
            fmt = c.format.name
            vs = c.streams.video[0] if c.streams.video else None
            pts = _frame_pts(c, vs) if vs is not None else None
            tb = Fraction(vs.time_base) if vs is not None else None
    except _FFMPEG_ERRORS as e:
        raise VideoError(f"media_info: cannot read {p!r}: {e}") from e
    info: dict = {"path": p, "format": fmt, "streams": streams, "tags": tags}
    if vs is None:
        info["keeps"] = ["no video stream: facefuse swap / lipsync need one"]
        return info
    with VideoReader(p, strict=False) as r:
        color, rotation, fps = r.color, r.rotation, r.fps_fraction
    timing = timing_of(pts, tb) if pts else {"kind": "unknown (packets carry no timestamps)"}
    info.update(timing=timing, fps=float(fps), rotation=rotation, color=color.describe())
    out_fmt = output_pix_fmt(codec, color)
    audio = [s for s in streams if s["type"] == "audio"]
    subs = [s for s in streams if s["type"] == "subtitle"]
    other = [s for s in streams if s["type"] not in ("video", "audio", "subtitle")]
    keeps = []
    if timing.get("kind") in ("CFR", "VFR"):
        keeps.append(f"timing: all {timing['frames']} frames, each at its own timestamp ({timing['kind']}, time base "
                     f"{tb}); --fps N re-times them to a constant rate instead")
        if timing["duplicate_pts"]:
            keeps.append(f"timing: {timing['duplicate_pts']} duplicate timestamp(s): each moved one tick later "
                         f"(no frame dropped; reported)")
    d = info["color"]
    keeps.append(f"colour: tags kept (matrix {d['matrix']}, range {d['range']}, primaries {d['primaries']}, "
                 f"transfer {d['trc']}); converted to and from BGR with {d['converted_with']}")
    depth = color.bit_depth
    out_depth = av.VideoFormat(out_fmt).components[0].bits
    same = out_fmt.replace("yuvj", "yuv") == color.pix_fmt.replace("yuvj", "yuv") and out_fmt.startswith("yuv")
    keeps.append(f"pixels: {color.pix_fmt} ({depth}-bit) -> {out_fmt} ({out_depth}-bit) with {codec}"
                 + (("; unchanged pixels are the decoded samples, at full depth; the face box a pass "
                     "changes is processed in 8-bit BGR" if same else
                     "; processed in 8-bit BGR, so every pixel keeps 8 bits of precision") if depth > 8 else ""))
    if rotation:
        keeps.append(f"rotation: {rotation} degrees kept (frames processed upright, written as stored with "
                     f"the same display matrix)")
    keeps.append(f"audio: {len(audio)} track(s) copied as they are"
                 + (f" ({', '.join(a['codec'] + '/' + a['language'] for a in audio)})" if audio else "")
                 + "; lip sync replaces one (--audio-track, default the first)")
    if subs:
        keeps.append(f"subtitles: {len(subs)} track(s) copied where the output container holds their codec "
                     f"({', '.join(s['codec'] or '?' for s in subs)})")
    if other:
        keeps.append(f"not kept: {len(other)} data / attachment stream(s) "
                     f"({', '.join(str(s['codec']) for s in other)})")
    kept_tags = [k for k in tags if k not in ("major_brand", "minor_version", "compatible_brands", "encoder")]
    keeps.append("container tags: " + (", ".join(kept_tags) if kept_tags else "none to copy"))
    info["keeps"] = keeps
    return info
