"""The audio track of :class:`~facefuse.video.writer.VideoWriter`: the first audio stream of a
source file, its packets copied (or re-encoded when the output container cannot hold the
codec), trimmed to the video and shifted by ``audio_offset``, muxed as the frames go in.

A mixin rather than an object of its own: the writer's ``close`` / ``abort`` flush and close
the audio containers with its video ones, in one place.
"""
from __future__ import annotations

import os
from typing import Any, Iterator, Optional

import av

from .errors import _FFMPEG_ERRORS, PathLike, VideoError


class _AudioMux:
    """Audio muxing of a :class:`VideoWriter` (which sets ``path``, ``audio_offset`` and the
    output container ``_out`` before calling :meth:`_setup_audio`)."""

    path: str
    audio_offset: float
    _out: Any
    _ain: Any

    def _setup_audio(self, audio_from: Optional[PathLike]) -> None:
        self._apackets = None
        self._pending = None
        self._transcode = False
        if audio_from is None:
            return
        src = os.fspath(audio_from)
        self._audio_src = src
        try:
            self._ain = av.open(src, "r", metadata_errors="ignore")
        except _FFMPEG_ERRORS as e:
            raise VideoError(f"VideoWriter: cannot open audio source {src!r}: {e}") from e
        if not self._ain.streams.audio:
            self._ain.close()
            self._ain = None
            return
        ain = self._ain.streams.audio[0]
        self._ain_stream = ain
        supported = getattr(self._out, "supported_codecs", None)
        if supported is None or ain.codec_context.name in supported:
            self._aout = self._out.add_stream_from_template(ain)
        else:
            self._transcode = True
            name = self._out.default_audio_codec
            if name in (None, "", "none"):
                raise VideoError(f"VideoWriter: the container of {self.path!r} holds no audio")
            self._aout = self._out.add_stream(name, rate=ain.codec_context.sample_rate or 48000)
        self._apackets = self._ain.demux(ain)

    def _audio_packets(self, until: float) -> Iterator[Any]:
        """Packets (already in the output's codec) with start time < ``until`` seconds."""
        while self._apackets is not None:
            if self._pending is None:
                try:
                    pkt = next(self._apackets)
                except StopIteration:
                    self._apackets = None
                    break
                except _FFMPEG_ERRORS as e:
                    raise VideoError(f"VideoWriter: reading audio from {self._audio_src!r} failed: {e}") from e
                if pkt.dts is None and pkt.pts is None:
                    if self._transcode:  # decoder flush packet
                        for fr in pkt.decode():
                            if (fr.time or 0.0) < until:
                                yield from self._aout.encode(fr)
                    continue
                self._pending = pkt
            pkt = self._pending
            ts = pkt.pts if pkt.pts is not None else pkt.dts
            t = float(ts * pkt.time_base) - self.audio_offset
            if t >= until:
                break
            self._pending = None
            if self.audio_offset:
                end = t + float((pkt.duration or 0) * pkt.time_base)
                if end <= 0:
                    continue  # entirely before the first frame
                shift = int(round(self.audio_offset / pkt.time_base))
                pkt.pts = None if pkt.pts is None else pkt.pts - shift
                pkt.dts = None if pkt.dts is None else pkt.dts - shift
            if self._transcode:
                try:
                    frames = pkt.decode()
                except _FFMPEG_ERRORS as e:
                    raise VideoError(f"VideoWriter: decoding audio of {self._audio_src!r} failed: {e}") from e
                for fr in frames:
                    yield from self._aout.encode(fr)
            else:
                pkt.stream = self._aout
                yield pkt

    def _mux_audio(self, until: float) -> None:
        if self._apackets is None:
            return
        for p in self._audio_packets(until):
            self._out.mux(p)
