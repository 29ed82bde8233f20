"""The streams of :class:`~facefuse.video.writer.VideoWriter` besides its video: every audio and
subtitle track of a source file (``streams_from``), its container and stream metadata, and an
audio track that replaces one of them (``audio_from``: lip sync's driving audio). Packets are
copied (re-encoded only when the output container cannot hold the codec; a subtitle it cannot
hold is left out with a note), trimmed to the video and shifted by ``audio_offset``, and muxed
as the frames go in (memory does not grow with the file).

A mixin rather than an object of its own: the writer's ``close`` / ``abort`` flush and close
these containers with its video ones, in one place.
"""
from __future__ import annotations

import os
from typing import Any, Iterator, List, Optional

import av

from .errors import _FFMPEG_ERRORS, PathLike, VideoError

#: tags that describe the old file's muxing or encoding, not its content (the new file writes its
#: own; mkvmerge's statistics would be stale after a re-encode or a cut)
_MUX_TAGS = {"major_brand", "minor_version", "compatible_brands", "encoder", "duration", "bps", "number_of_frames",
             "number_of_bytes", "_statistics_tags", "_statistics_writing_app", "_statistics_writing_date_utc"}


def _copy_tags(src: Any, dst: Any, drop: tuple = ()) -> None:
    try:
        tags = {k: v for k, v in dict(src.metadata).items() if k.lower() not in _MUX_TAGS and k not in drop}
        dst.metadata.update(tags)
    except (AttributeError, TypeError, ValueError):  # a muxer without metadata support: nothing to keep
        pass


class _Source:
    """One input file's copied streams: a single demux pass over them, one pending packet."""

    def __init__(self, path: str, container: Any, pairs: List[tuple], offset: float) -> None:
        self.path, self.container, self.offset = path, container, offset
        self.out_of = {ist.index: (ost, transcode) for ist, ost, transcode in pairs}
        self.packets: Optional[Iterator[Any]] = container.demux([ist for ist, _, _ in pairs]) if pairs else None
        self.pending: Any = None


class _AudioMux:
    """Stream copying of a :class:`VideoWriter` (which sets ``path``, ``audio_offset`` and the
    output container ``_out`` before calling :meth:`_setup_audio`)."""

    path: str
    audio_offset: float
    streams_offset: float
    _vs: Any
    _out: Any

    def _open_source(self, path: PathLike, what: str) -> Any:
        src = os.fspath(path)
        try:
            c = av.open(src, "r", metadata_errors="ignore")
        except _FFMPEG_ERRORS as e:
            raise VideoError(f"VideoWriter: cannot open {what} source {src!r}: {e}") from e
        self._inputs.append(c)
        return c

    def _add_copy(self, ist: Any, pairs: list) -> None:
        """An output stream for input stream ``ist`` (copied; audio re-encoded when the container
        cannot hold its codec; a subtitle the container cannot hold is noted and left out)."""
        supported = getattr(self._out, "supported_codecs", None)
        name = ist.codec_context.name
        if supported is None or name in supported:
            try:
                ost = self._out.add_stream_from_template(ist)
            except (_FFMPEG_ERRORS + (ValueError,)) as e:
                self.stream_notes.append(f"{ist.type} track {ist.index} ({name}) left out: {e}")
                return
            transcode = False
        elif ist.type == "audio":
            codec = self._out.default_audio_codec
            if codec in (None, "", "none"):
                raise VideoError(f"VideoWriter: the container of {self.path!r} holds no audio")
            ost = self._out.add_stream(codec, rate=ist.codec_context.sample_rate or 48000)
            transcode = True
            self.stream_notes.append(f"audio track {ist.index} ({name}) re-encoded to {codec}: the container "
                                     f"of {os.path.basename(self.path)!r} cannot hold {name}")
        else:
            self.stream_notes.append(f"{ist.type} track {ist.index} ({name}) left out: the container of "
                                     f"{os.path.basename(self.path)!r} cannot hold {name}")
            return
        _copy_tags(ist, ost)
        pairs.append((ist, ost, transcode))

    def _setup_audio(self, audio_from: Optional[PathLike], streams_from: Optional[PathLike] = None,
                     audio_track: int = 0) -> None:
        self._inputs: List[Any] = []
        self._sources: List[_Source] = []
        #: what of the source's streams the output does not keep as they are, one line each
        self.stream_notes: List[str] = []
        keep: list = []
        drive = a = None
        if audio_from is not None:
            a = self._open_source(audio_from, "audio")
            drive = a.streams.audio[0] if a.streams.audio else None
        if streams_from is not None:
            c = self._open_source(streams_from, "stream")
            _copy_tags(c, self._out)
            if c.streams.video:
                _copy_tags(c.streams.video[0], self._vs, drop=("rotate",))
            tracks = list(c.streams.audio)
            if drive is not None and tracks and not 0 <= audio_track < len(tracks):
                raise ValueError(f"VideoWriter: argument 'audio_track' must be in [0, {len(tracks) - 1}] "
                                 f"({os.fspath(streams_from)!r} has {len(tracks)} audio track(s)), got {audio_track}")
            for i, ist in enumerate(tracks):
                if drive is not None and i == audio_track:
                    drive_pairs: list = []
                    self._add_copy(drive, drive_pairs)
                    if drive_pairs:  # the replaced track's language and title go to its replacement
                        _copy_tags(ist, drive_pairs[0][1])
                    self._sources.append(_Source(os.fspath(audio_from), a, drive_pairs,
                                                 self.audio_offset))
                    drive = None
                else:
                    self._add_copy(ist, keep)
            for ist in c.streams.subtitles:
                self._add_copy(ist, keep)
            self._sources.append(_Source(os.fspath(streams_from), c, keep, self.streams_offset))
        if drive is not None:  # no track to replace: the driving audio is the only (or an added) one
            pairs: list = []
            self._add_copy(drive, pairs)
            self._sources.insert(0, _Source(os.fspath(audio_from), a, pairs, self.audio_offset))

    def _packets(self, src: _Source, until: float) -> Iterator[Any]:
        """``src``'s packets (already in the output's codec) with start time < ``until`` seconds."""
        while src.packets is not None:
            if src.pending is None:
                try:
                    pkt = next(src.packets)
                except StopIteration:
                    src.packets = None
                    break
                except _FFMPEG_ERRORS as e:
                    raise VideoError(f"VideoWriter: reading {src.path!r} failed: {e}") from e
                if pkt.dts is None and pkt.pts is None:
                    ost, transcode = src.out_of[pkt.stream.index]
                    if transcode:  # decoder flush packet
                        for fr in pkt.decode():
                            if (fr.time or 0.0) - src.offset < until:
                                yield from ost.encode(fr)
                    continue
                src.pending = pkt
            pkt = src.pending
            ts = pkt.pts if pkt.pts is not None else pkt.dts
            t = float(ts * pkt.time_base) - src.offset
            if t >= until:
                break
            src.pending = None
            ost, transcode = src.out_of[pkt.stream.index]
            if src.offset:
                end = t + float((pkt.duration or 0) * pkt.time_base)
                if end <= 0:
                    continue  # entirely before the first frame
                shift = int(round(src.offset / pkt.time_base))
                pkt.pts = None if pkt.pts is None else pkt.pts - shift
                pkt.dts = None if pkt.dts is None else pkt.dts - shift
            if transcode:
                try:
                    frames = pkt.decode()
                except _FFMPEG_ERRORS as e:
                    raise VideoError(f"VideoWriter: decoding audio of {src.path!r} failed: {e}") from e
                for fr in frames:
                    yield from ost.encode(fr)
            else:
                pkt.stream = ost
                yield pkt

    def _mux_audio(self, until: float) -> None:
        for src in getattr(self, "_sources", ()):
            for p in self._packets(src, until):
                self._out.mux(p)

    def _flush_audio(self) -> None:
        for src in self._sources:
            for ost, transcode in src.out_of.values():
                if transcode:
                    self._out.mux(ost.encode(None))

    def _close_inputs(self) -> None:
        for c in getattr(self, "_inputs", ()):
            try:
                c.close()
            except Exception:  # noqa: BLE001 - closing a reader cannot lose output
                pass
        self._inputs = []
