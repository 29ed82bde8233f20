"""Colours, bit depth and every stream as they came (issue 18): the conversion follows the
input's matrix and range, the output carries its tags and pixel format, every audio track
(sample-exact) and subtitle track and the container's tags are copied, lip sync's audio
replaces one chosen track; ``facefuse probe`` says what was found and what is kept."""
from __future__ import annotations

import json
from fractions import Fraction as F

import numpy as np
import pytest

av = pytest.importorskip("av")

from facefuse.cli import main  # noqa: E402
from facefuse.video import VideoReader, VideoWriter, process_video  # noqa: E402
from facefuse.video.color import ColorInfo, output_pix_fmt  # noqa: E402
from fidelity_clips import audio_packets, decoded, frame_times, make_clip, pattern  # noqa: E402

PTS = [512 * i for i in range(12)]
TB = F(1, 12800)
LOSSLESS = {"options": {"crf": "0", "preset": "ultrafast"}}
TAGS = {"creation_time": "2024-05-01T10:00:00.000000Z", "title": "holiday"}


def _tags(path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0].codec_context
        return {"pix_fmt": v.pix_fmt, "matrix": int(v.colorspace), "range": int(v.color_range),
                "primaries": int(v.color_primaries), "trc": int(v.color_trc)}


def _err(a, b) -> float:
    return float(np.abs(a.astype(int) - b.astype(int)).mean())


# ------------------------------------------------------------------------- colour

@pytest.mark.parametrize("name,pix_fmt,rng,wrong", [
    ("bt709_limited", "yuv444p", 1, {"src_colorspace": "ITU601", "src_color_range": "MPEG"}),
    # (swscale reads a yuvj frame as full range whatever it is told: the wrong matrix shows instead)
    ("jpeg_full", "yuvj444p", 2, {"src_colorspace": "ITU601", "src_color_range": "JPEG"}),
])
def test_conversion_follows_matrix_and_range(tmp_path, name, pix_fmt, rng, wrong) -> None:
    src = make_clip(tmp_path / f"{name}.mp4", PTS, TB, pix_fmt=pix_fmt, matrix=1, range_=rng, primaries=1, trc=1,
                    **LOSSLESS)
    with VideoReader(src) as r:
        assert r.color.matrix == 1 and r.color.full_range == (rng == 2) and r.color.bit_depth == 8
        frames = [f.image for f in r]
    assert max(_err(f, pattern(i)) for i, f in enumerate(frames)) < 1.0  # the colours that were encoded
    with av.open(src) as c:  # the other matrix / range reads visibly other colours
        fr = next(c.decode(video=0))
        assert _err(fr.to_ndarray(format="bgr24", dst_color_range="JPEG", **wrong), pattern(0)) > 2.0
    out = tmp_path / "o.mp4"
    process_video(src, out, lambda f, i, t: f, crf=0, preset="ultrafast")
    tin, tout = _tags(src), _tags(out)
    assert tout["matrix"] == 1 and tout["primaries"] == 1 and tout["trc"] == 1
    assert tout["range"] == (2 if rng == 2 else 1)
    assert tout["pix_fmt"] == tin["pix_fmt"].replace("yuvj", "yuv") or tout["pix_fmt"] == tin["pix_fmt"]
    # unchanged pixels survive decode -> BGR -> encode within rounding (lossless encoder, 4:4:4): under
    # one level on average (the wrong matrix or range alone is off by 2 or more, above)
    assert max(_err(a, b) for a, b in zip(decoded(src), decoded(out))) < 1.0


def test_untagged_stays_untagged(tmp_path) -> None:
    src = make_clip(tmp_path / "plain.mp4", PTS, TB, pix_fmt="yuv444p", **LOSSLESS)
    out = tmp_path / "o.mp4"
    process_video(src, out, lambda f, i, t: f, crf=0, preset="ultrafast")
    assert _tags(out)["matrix"] == 2 and _tags(out)["primaries"] == 2
    assert max(_err(a, b) for a, b in zip(decoded(src), decoded(out))) < 0.6


# ------------------------------------------------------------------------- bit depth

def test_ten_bit_in_ten_bit_out_unless_asked(tmp_path) -> None:
    src = make_clip(tmp_path / "hdr.mp4", PTS, TB, pix_fmt="yuv420p10le", matrix=9, range_=1, primaries=9, trc=14,
                    **LOSSLESS)
    out = tmp_path / "o.mp4"
    process_video(src, out, lambda f, i, t: f, crf=0, preset="ultrafast")
    assert _tags(out) == _tags(src) == {"pix_fmt": "yuv420p10le", "matrix": 9, "range": 1, "primaries": 9, "trc": 14}
    eight = tmp_path / "8.mp4"
    process_video(src, eight, lambda f, i, t: f, preset="ultrafast", pix_fmt="yuv420p")
    assert _tags(eight)["pix_fmt"] == "yuv420p" and _tags(eight)["matrix"] == 9
    # 4:2:0: the chroma is upsampled for BGR and subsampled again (the sharp square's edges blur a
    # little, as in any 8-bit 4:2:0 round trip); 8-bit processing adds under half a level
    assert max(_err(a, b) for a, b in zip(decoded(src), decoded(out))) < 2.5
    info = ColorInfo(pix_fmt="yuv420p10le")
    assert output_pix_fmt("libx264", info) == "yuv420p10le" and output_pix_fmt("mpeg4", info) == "yuv420p"
    assert output_pix_fmt("libx264", ColorInfo(pix_fmt="yuvj420p")) == "yuv420p"


# ------------------------------------------------------------------------- streams

def _two_track_clip(path, subtitles=False):
    return make_clip(path, PTS, TB, pix_fmt="yuv420p", matrix=1, range_=1, primaries=1, trc=1,
                     options={"preset": "ultrafast"}, audio=[("aac", "eng", 440), ("aac", "deu", 660)],
                     subtitles=subtitles, tags=TAGS)


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_every_track_and_tag_copied(tmp_path, ext) -> None:
    src = _two_track_clip(tmp_path / f"two.{ext}", subtitles=ext == "mkv")
    out = tmp_path / f"o.{ext}"
    process_video(src, out, lambda f, i, t: f, preset="ultrafast")
    a_in, a_out = audio_packets(src), audio_packets(out)
    assert [(lang, codec) for lang, codec, _ in a_out] == [("eng", "aac"), ("deu", "aac")]
    assert all(x[2] == y[2] and x[2] for x, y in zip(a_in, a_out))  # sample-exact: the same packets
    with av.open(str(out)) as c:
        assert {k: c.metadata.get(k) for k in TAGS} == TAGS
        subs = [(s.codec_context.name, s.metadata.get("language")) for s in c.streams.subtitles]
    assert subs == ([("srt", "fra")] if ext == "mkv" else [])


def test_a_subtitle_the_container_cannot_hold_is_named(tmp_path) -> None:
    src = _two_track_clip(tmp_path / "s.mkv", subtitles=True)
    with VideoWriter(tmp_path / "o.mp4", 25, 64, 48, preset="ultrafast", streams_from=src) as w:
        w.write(pattern(0))
    assert len(w.stream_notes) == 1 and "subtitle" in w.stream_notes[0] and "srt" in w.stream_notes[0]


def test_lipsync_audio_replaces_the_chosen_track(tmp_path) -> None:
    from facefuse.testing.media import synth_speech, write_audio

    src = _two_track_clip(tmp_path / "two.mp4")
    write_audio(tmp_path / "speech.wav", synth_speech(0.6), 16000)
    out = tmp_path / "o.mp4"
    with VideoWriter(out, 25, 64, 48, preset="ultrafast", time_base=TB, streams_from=src,
                     audio_from=tmp_path / "speech.wav", audio_track=1) as w:
        for i, t in enumerate(frame_times(src)):
            w.write(pattern(i), float(t))
    a_in, a_out = audio_packets(src), audio_packets(out)
    assert [lang for lang, _, _ in a_out] == ["eng", "deu"]  # the replaced track keeps its language
    assert a_out[0][2] == a_in[0][2] and a_out[1][2] != a_in[1][2]
    with pytest.raises(ValueError, match="'audio_track'"):
        VideoWriter(tmp_path / "x.mp4", 25, 64, 48, streams_from=src, audio_from=tmp_path / "speech.wav",
                    audio_track=2)


# ------------------------------------------------------------------------- facefuse probe

def test_probe_prints_what_it_found_and_what_is_kept(tmp_path, capsys) -> None:
    vfr = make_clip(tmp_path / "vfr.mp4", [sum(3000 if k % 2 == 0 else 6000 for k in range(i)) for i in range(10)],
                    F(1, 90000), pix_fmt="yuv420p10le", matrix=1, range_=1, primaries=1, trc=1,
                    audio=[("aac", "eng", 440), ("aac", "deu", 660)], tags=TAGS)
    assert main(["probe", vfr]) == 0
    text = capsys.readouterr().out
    assert "timing: VFR, 10 frames" in text and "33.33 ms" in text and "66.67 ms" in text
    assert "matrix bt709, range limited" in text and "yuv420p10le (10-bit)" in text
    assert "unchanged pixels are the decoded samples, at full depth" in text  # 10-bit in, same format out
    assert "audio: 2 track(s) copied" in text and "aac/deu" in text and "creation_time" in text
    assert main(["probe", vfr, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["timing"]["kind"] == "VFR" and doc["color"]["bit_depth"] == 10
    cfr = make_clip(tmp_path / "cfr.mp4", PTS, TB)
    assert main(["probe", cfr, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["timing"]["kind"] == "CFR"
    assert main(["probe", str(tmp_path / "nope.mp4")]) == 2
    assert "facefuse probe: error: argument FILE" in capsys.readouterr().err


def test_unchanged_pixels_keep_their_ten_bit_samples(tmp_path) -> None:
    # the pipeline works in 8-bit BGR; unchanged pixels are written from the decoded samples
    from fidelity_clips import raw_frames

    src = make_clip(tmp_path / "ten.mp4", PTS, TB, pix_fmt="yuv420p10le", matrix=1, range_=1, primaries=1, trc=1,
                    **LOSSLESS)
    same = tmp_path / "same.mp4"
    lossless10 = {"crf": None, "options": {"qp": "0"}, "preset": "ultrafast"}  # (10-bit x264: crf 0 is not lossless)
    process_video(src, same, lambda f, i, t: f, **lossless10)
    r_in, r_same = raw_frames(src), raw_frames(same)
    assert r_in[0].dtype == np.uint16 and (r_in[0] % 4 != 0).any()  # real 10-bit samples, not 8-bit x 4
    assert all(np.array_equal(a, b) for a, b in zip(r_in, r_same))  # lossless encoder: bit-exact

    def paint(f, i, t):  # in place, as user code may: the engine compares against its own copy
        f[8:24, 40:56] = (0, 0, 255)
        return f

    box = tmp_path / "box.mp4"
    process_video(src, box, paint, **lossless10)
    for a, b in zip(r_in, raw_frames(box)):
        y_in, y_out = a[:48], b[:48]  # the luma plane
        outside = np.ones((48, 64), bool)
        outside[8:24, 40:56] = False
        assert np.array_equal(y_in[outside], y_out[outside])
        assert not np.array_equal(y_in[8:24, 40:56], y_out[8:24, 40:56])
    red = decoded(box)[0][12:20, 44:52].astype(int)
    assert np.abs(red - np.array([0, 0, 255])).max() <= 3


@pytest.mark.parametrize("cw", [90, 270])
def test_rotation_kept_as_display_matrix(tmp_path, cw) -> None:
    # a phone clip stored landscape with a display matrix: processed upright, written as stored
    # with the same matrix, so the decoded samples stand in for unchanged pixels
    from fidelity_clips import raw_frames

    src = str(tmp_path / "phone.mp4")
    with av.open(src, "w") as c:
        vs = c.add_stream("libx264", rate=25, options={"qp": "0", "preset": "ultrafast"})
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        vs.set_display_rotation(-cw)
        for i in range(4):
            f = av.VideoFrame.from_ndarray(pattern(i), format="bgr24")
            f.pts = i
            c.mux(vs.encode(f))
        c.mux(vs.encode(None))
    seen = []
    out = tmp_path / "o.mp4"
    process_video(src, out, lambda f, i, t: seen.append(f.shape) or f, crf=None, options={"qp": "0"},
                  preset="ultrafast")
    assert seen[0] == (64, 48, 3)  # upright for the processing
    with VideoReader(out) as r:
        assert r.rotation == cw and (r.width, r.height) == (48, 64)
    assert all(np.array_equal(a, b) for a, b in zip(raw_frames(src), raw_frames(out)))
