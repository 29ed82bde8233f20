"""Splitting a long video into frame ranges and joining the encoded pieces.

Chunk ``k`` covers frames ``[start_k, stop_k)``; the pipeline runs it with
``start_frame=start_k, stop_frame=stop_k, warmup_frames=W`` (see
:func:`facefuse.video.process_video`): the W frames before ``start_k`` go through the
pipeline (smoother and face tracks warm up) but are not written. The chunks are then
joined by remuxing their packets, without re-encoding, with timestamps shifted so that
frame ``i`` of the result sits at ``i / fps`` as in a one-piece run, and the audio is
copied once over the whole from the source (:class:`facefuse.video.VideoWriter`).

Frame-exactness of the join: every chunk is encoded with the same settings, so the
streams concatenate (same codec parameters, checked); each chunk starts with a
keyframe. Timestamps: given the ``source`` video and the chunks' frame ranges, each chunk is
placed so that its frames keep the source's own times (pass-through, VFR included), as in a
one-piece run; without them frame ``i`` sits at ``i / fps`` (a constant-rate run). The decoded
frames of a chunked and a one-piece run are identical when the
codec is lossless (``crf=0`` with libx264, lossless in YUV); with a lossy setting they
differ only by the encoder's choices near the chunk starts, not by a frame.
"""
from __future__ import annotations

import math
import os
import shutil
from fractions import Fraction
from typing import List, Optional, Sequence, Tuple

import av

from ..video import VideoError, VideoWriter, _frame_pts
from .kinds import DEFAULT_WARMUP_FRAMES

__all__ = ["plan_chunks", "chunk_dir", "chunk_path", "join_chunks", "remove_stale_temps", "DEFAULT_WARMUP_FRAMES"]



def plan_chunks(total_frames: int, chunk_frames: int) -> List[Tuple[int, int]]:
    """Split ``[0, total_frames)`` into ``ceil(total / chunk_frames)`` ranges of near-equal
    length (each at most ``chunk_frames``): a list of ``(start, stop)``."""
    for name, v in (("total_frames", total_frames), ("chunk_frames", chunk_frames)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"plan_chunks: argument '{name}' must be an int >= 1, got {v!r}")
    n = math.ceil(total_frames / chunk_frames)
    bounds = [round(k * total_frames / n) for k in range(n + 1)]
    return [(bounds[k], bounds[k + 1]) for k in range(n)]


def chunk_dir(output: str, key: str) -> str:
    """The hidden directory beside ``output`` that holds its chunks while they are made."""
    d, base = os.path.split(os.path.abspath(output))
    return os.path.join(d, f".{base}.chunks-{key[:12]}")


def chunk_path(directory: str, index: int, output: str) -> str:
    """Chunk ``index``'s file (the output's container format)."""
    return os.path.join(directory, f"chunk_{index:04d}{os.path.splitext(output)[1]}")


def remove_stale_temps(path: str) -> List[str]:
    """Delete the temporary files a killed writer of ``path`` left behind
    (:class:`facefuse.video.VideoWriter`'s ``.NAME.XXXXXXXX.tmpEXT``) that no live process
    holds open (:func:`facefuse._files.sweep_temps`: another run may be writing the same
    output); returns the names removed."""
    from .._files import sweep_temps

    return [os.path.basename(p) for p in sweep_temps(path)]


def discard_chunks(directory: str) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def _source_times(source: str) -> Tuple[List[Fraction], float]:
    """Every frame time (seconds, exact) of ``source``'s video and the time its output's t = 0
    stands for (:attr:`facefuse.video.VideoReader.origin`)."""
    from ..video import VideoReader

    with av.open(source, "r", metadata_errors="ignore") as c:
        s = c.streams.video[0]
        pts = _frame_pts(c, s)
        tb = Fraction(s.time_base)
    if pts is None:
        raise VideoError(f"join_chunks: the frames of {source!r} carry no timestamps to place the chunks by")
    with VideoReader(source, strict=False) as r:
        origin = r.origin
    return [Fraction(p) * tb for p in pts], origin


def join_chunks(
    parts: Sequence[str],
    output: str,
    *,
    fps: Fraction,
    expected_frames: Optional[Sequence[Optional[int]]] = None,
    audio_from: Optional[str] = None,
    audio_offset: float = 0.0,
    source: Optional[str] = None,
    ranges: Optional[Sequence[Tuple[int, int]]] = None,
    streams_from: Optional[str] = None,
    audio_track: int = 0,
) -> int:
    """Concatenate the video streams of ``parts`` into ``output`` (remux, no re-encode)
    and copy the audio of ``audio_from`` once over the whole (starting ``audio_offset``
    seconds into it). ``expected_frames[k]``: the frames chunk ``k`` must hold (a
    mismatch raises :class:`VideoError` rather than join a shifted video; None: any). Output is
    written to a temporary file and renamed. Returns the number of frames.

    ``source`` and ``ranges`` (chunk ``k`` = frames ``ranges[k]`` of ``source``): every chunk
    starts at its first frame's time in ``source`` (from the file's start), so the joined video
    keeps the source's timestamps; without them chunk frames follow each other at ``1 / fps``.
    ``streams_from``: copy its audio / subtitle tracks and tags too (the source video; with
    ``audio_from``, that audio replaces its track ``audio_track``), shifted by its start.
    """
    if not parts:
        raise ValueError("join_chunks: argument 'parts' is empty")
    if expected_frames is not None and len(expected_frames) != len(parts):
        raise ValueError(f"join_chunks: 'expected_frames' has {len(expected_frames)} entries for {len(parts)} parts")
    if (source is None) != (ranges is None) or (ranges is not None and len(ranges) != len(parts)):
        raise ValueError("join_chunks: arguments 'source' and 'ranges' go together, one range per part")
    src_times, origin = _source_times(source) if source is not None else (None, 0.0)
    first = av.open(parts[0], "r")
    writer = None
    try:
        tmpl = first.streams.video[0]
        extradata = tmpl.codec_context.extradata
        writer = VideoWriter(output, fps, tmpl.codec_context.width, tmpl.codec_context.height,
                             audio_from=audio_from, audio_offset=audio_offset, video_template=tmpl,
                             streams_from=streams_from, streams_offset=origin, audio_track=audio_track)
        done = 0
        for k, part in enumerate(parts):
            with av.open(part, "r") as c:
                s = c.streams.video[0]
                if s.codec_context.name != tmpl.codec_context.name or s.codec_context.extradata != extradata \
                        or (s.codec_context.width, s.codec_context.height) != (tmpl.codec_context.width,
                                                                               tmpl.codec_context.height):
                    raise VideoError(f"join_chunks: chunk {k} ({part!r}) was encoded with other codec parameters "
                                     f"than chunk 0; chunks must share codec and settings to be joined")
                pts = _frame_pts(c, s)
                if not pts:
                    raise VideoError(f"join_chunks: chunk {k} ({part!r}) has no timestamped frame")
                if expected_frames is not None and expected_frames[k] is not None and len(pts) != expected_frames[k]:
                    raise VideoError(f"join_chunks: chunk {k} ({part!r}) holds {len(pts)} frames, "
                                     f"expected {expected_frames[k]}")
                c.seek(pts[0], stream=s, backward=True)
                tb = s.time_base
                # shift the chunk so that its first frame lands where it is in one piece: at its time
                # in the source (pass-through), or where frame `done` is at a constant rate
                at = (src_times[ranges[k][0]] - Fraction(origin) if src_times is not None
                      else Fraction(done) / Fraction(fps))
                shift = int(round(at / tb)) - pts[0]
                n = 0
                for pkt in c.demux(s):
                    if pkt.pts is None and pkt.dts is None:
                        continue  # end-of-stream flush packet
                    if pkt.is_discard:
                        continue
                    pkt.pts = None if pkt.pts is None else pkt.pts + shift
                    pkt.dts = None if pkt.dts is None else pkt.dts + shift
                    pkt.time_base = tb
                    writer.write_packet(pkt, frames=1)
                    n += 1
                if n != len(pts):
                    raise VideoError(f"join_chunks: chunk {k} ({part!r}) changed while being joined")
                done += n
        writer.close()
        return done
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        first.close()
