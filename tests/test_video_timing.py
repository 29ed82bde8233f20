"""Every frame at its own time (issue 18): frames in = frames out and every timestamp kept for
the timing phones and editors produce (VFR, 1/12800 and 1/90000 time bases, B-frames with
negative DTS, a late first pts, duplicate pts), a constant rate only when asked for."""
from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest

av = pytest.importorskip("av")

from facefuse.pipeline.engine import StreamResult, frame_notes  # noqa: E402
from facefuse.video import VideoReader, VideoWriter, process_video  # noqa: E402
from fidelity_clips import W, H, frame_times, make_clip, pattern  # noqa: E402

FAST = {"options": {"preset": "ultrafast"}}
CASES = {
    # phone-style VFR: durations alternating 1/30 s and 1/15 s (90 kHz clock)
    "vfr": ([sum(3000 if k % 2 == 0 else 6000 for k in range(i)) for i in range(60)], F(1, 90000), FAST),
    # the H.264 stream: time base 1/12800, one tick per frame (was written with 90 of 100 frames)
    "tb12800_one_tick": (list(range(100)), F(1, 12800), FAST),
    "tb12800_25fps": ([512 * i for i in range(30)], F(1, 12800), FAST),
    "tb90000_ntsc": ([3003 * i for i in range(30)], F(1, 90000), FAST),
    # B-frames: the muxer stores negative DTS (and an edit list that hides them)
    "bframes": ([512 * i for i in range(30)], F(1, 12800), {"options": {"bf": "3", "preset": "medium"}}),
    # first pts 0.5 s: the MP4 muxer writes an edit list that starts the track late
    "late_start": ([512 * i + 6400 for i in range(30)], F(1, 12800), FAST),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_frame_keeps_its_time(tmp_path, case) -> None:
    pts, tb, kw = CASES[case]
    src = make_clip(tmp_path / f"{case}.mp4", pts, tb, **kw)
    t_in = frame_times(src)
    assert len(t_in) == len(pts)
    if case == "bframes":  # the clip really has what the case is about
        with av.open(src) as c:
            assert min(p.dts for p in c.demux(video=0) if p.size) < 0
    if case == "late_start":
        assert t_in[0] == F(1, 2)
    out = tmp_path / "out.mp4"
    assert process_video(src, out, lambda f, i, t: f, preset="ultrafast") == len(pts)
    t_out = frame_times(out)
    # exact: the output's t = 0 is the input file's start (here its first frame), every step kept
    assert t_out == [t - t_in[0] for t in t_in]
    with VideoReader(out) as r:
        assert sum(1 for _ in r) == len(pts)


def test_reader_reports_time_base_and_origin(tmp_path) -> None:
    src = make_clip(tmp_path / "late.mp4", [512 * i + 6400 for i in range(5)], F(1, 12800))
    with VideoReader(src) as r:
        assert r.time_base == F(1, 12800)
        assert r.origin == pytest.approx(0.5) and r.start_time == pytest.approx(0.5)
        assert [f.timestamp for f in r] == pytest.approx([0.5 + 0.04 * i for i in range(5)])


def _dup_clip(path) -> str:
    """An FFV1 MKV whose frames 9 and 10 share a pts (0.4 s): packets muxed as encoded, frame 9's
    pts moved onto frame 10's (MKV stores pts; its dts stay increasing)."""
    with av.open(str(path), "w") as c:
        vs = c.add_stream("ffv1", rate=25)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        vs.time_base = F(1, 1000)
        pk = []
        for i in range(20):
            f = av.VideoFrame.from_ndarray(pattern(i), format="bgr24")
            f.pts, f.time_base = i * 40, F(1, 1000)
            pk += vs.encode(f)
        pk += vs.encode(None)
        for j, p in enumerate(pk):
            if j == 9:
                p.pts = pk[10].pts
            c.mux(p)
    return str(path)


def test_duplicate_pts_moved_one_tick_never_dropped(tmp_path) -> None:
    src = _dup_clip(tmp_path / "dup.mkv")
    t_in = frame_times(src)
    assert t_in[9] == t_in[10] == F(2, 5)
    out = tmp_path / "o.mp4"
    assert process_video(src, out, lambda f, i, t: f, preset="ultrafast") == 20
    t_out = frame_times(out)
    assert len(t_out) == 20
    expected = list(t_in)
    expected[10] += F(1, 1000)  # one tick of the input's 1/1000 clock later
    assert t_out == expected


def test_writer_counts_retimed_frames_and_notes_say_why(tmp_path) -> None:
    with VideoWriter(tmp_path / "o.mp4", 25, W, H, preset="ultrafast", time_base=F(1, 1000)) as w:
        for i, t in enumerate([0.0, 0.04, 0.04, 0.03, 0.12]):
            w.write(pattern(i), t)
        assert w.retimed == 2
    assert frame_times(tmp_path / "o.mp4") == [F(0), F(40, 1000), F(41, 1000), F(42, 1000), F(120, 1000)]
    with pytest.raises(ValueError, match="'timestamp'"):
        with VideoWriter(tmp_path / "p.mp4", 25, W, H, time_base=F(1, 1000)) as w:
            w.write(pattern(0))
    with pytest.raises(ValueError, match="'time_base'"):
        VideoWriter(tmp_path / "q.mp4", 25, W, H, time_base=0.001)
    notes = frame_notes(StreamResult(frames=9, frames_in=10, retimed=2, cut=True, cut_reason="the audio ends"))
    assert notes[0] == "video: 10 frame(s) decoded, 9 written: the audio ends"
    assert "2 frame(s)" in notes[1] and "none dropped" in notes[1]
    assert frame_notes(StreamResult(frames=5, frames_in=5, frames_announced=5)) == []
    lost = frame_notes(StreamResult(frames=98, frames_in=98, frames_announced=100))
    assert lost == ["video: the container announces 100 frames but 98 decoded (the others are damaged or missing "
                    "in the file)"]


def test_constant_rate_only_when_asked(tmp_path) -> None:
    pts = [sum(3000 if k % 2 == 0 else 6000 for k in range(i)) for i in range(12)]
    src = make_clip(tmp_path / "vfr.mp4", pts, F(1, 90000))
    out = tmp_path / "cfr.mp4"
    assert process_video(src, out, lambda f, i, t: f, preset="ultrafast", fps=10) == 12
    assert frame_times(out) == [F(i, 10) for i in range(12)]
    ntsc = tmp_path / "ntsc.mp4"  # 29.97 is the NTSC rate 30000/1001, exactly
    process_video(src, ntsc, lambda f, i, t: f, preset="ultrafast", fps=29.97)
    assert frame_times(ntsc) == [F(1001 * i, 30000) for i in range(12)]
    with pytest.raises(ValueError, match="'fps'"):
        process_video(src, tmp_path / "x.mp4", lambda f, i, t: f, fps=-1)


def test_a_range_starts_at_its_first_frame(tmp_path) -> None:
    pts = [sum(3000 if k % 2 == 0 else 6000 for k in range(i)) for i in range(20)]
    src = make_clip(tmp_path / "vfr.mp4", pts, F(1, 90000))
    out = tmp_path / "r.mp4"
    assert process_video(src, out, lambda f, i, t: f, preset="ultrafast", start_frame=5, stop_frame=15) == 10
    t_in = frame_times(src)
    assert frame_times(out) == [t - t_in[5] for t in t_in[5:15]]
    with VideoReader(out) as r:  # and the frame there is the range's first (the square moves 3 px a frame)
        first = r.read().image.astype(int)
    errs = [np.abs(first - pattern(k).astype(int)).mean() for k in range(3, 8)]
    assert int(np.argmin(errs)) == 2


def test_lipsync_mel_window_follows_the_frames_real_time(tmp_path) -> None:
    # a VFR frame k shown at t takes the window of time t (the CFR frame shown then), not of k / fps
    from facefuse.lipsync.feed import MelFeed
    from facefuse.testing.media import synth_speech, write_audio

    write_audio(tmp_path / "s.wav", synth_speech(2.0), 16000)
    by_time, by_index = MelFeed(tmp_path / "s.wav", 25.0), MelFeed(tmp_path / "s.wav", 25.0)
    try:
        assert by_time.start_step(10, 10 / 25) == by_index.start_step(10)  # on the grid: Diff2Lip's expression
        w_time = by_time.window(10, 0.8)  # frame 10 of a VFR video, shown at 0.8 s
        w_index = by_index.window(20)  # the CFR frame shown at 0.8 s
        np.testing.assert_array_equal(w_time, w_index)
        assert not np.array_equal(w_time, MelFeed(tmp_path / "s.wav", 25.0).window(10))
    finally:
        by_time.close()
        by_index.close()


def test_chunk_join_keeps_every_timestamp_and_track(tmp_path) -> None:
    from facefuse.batch.chunks import join_chunks, plan_chunks
    from fidelity_clips import audio_packets

    pts = [sum(3000 if k % 2 == 0 else 6000 for k in range(i)) for i in range(30)]  # VFR
    src = make_clip(tmp_path / "vfr.mp4", pts, F(1, 90000), audio=[("aac", "eng", 440), ("aac", "deu", 660)])
    ranges = plan_chunks(30, 10)
    parts = []
    for k, (a, b) in enumerate(ranges):
        parts.append(str(tmp_path / f"c{k}.mp4"))
        process_video(src, parts[-1], lambda f, i, t: f, preset="ultrafast", start_frame=a, stop_frame=b,
                      warmup_frames=3, copy_audio=False)
    out = tmp_path / "joined.mp4"
    with VideoReader(src) as r:
        fps = r.fps_fraction
    assert join_chunks(parts, str(out), fps=fps, expected_frames=[10, 10, 10], source=src, ranges=ranges,
                       streams_from=src) == 30
    assert frame_times(out) == frame_times(src)
    a_in, a_out = audio_packets(src), audio_packets(out)
    assert len(a_out) == 2 and all(x[2] and x[2] == y[2] for x, y in zip(a_in, a_out))
    with pytest.raises(ValueError, match="'source' and 'ranges'"):
        join_chunks(parts, str(tmp_path / "x.mp4"), fps=fps, source=src)


def test_an_encoder_that_refuses_the_time_base_rounds_and_says_so(tmp_path) -> None:
    # MPEG-4 Part 2 takes time-base denominators up to 65535: 1/90000 falls back to 1/60000
    src = make_clip(tmp_path / "ntsc.mp4", [3003 * i for i in range(10)], F(1, 90000))
    out = tmp_path / "o.mp4"
    with pytest.warns(UserWarning, match="mpeg4 takes no time base 1/90000"):
        assert process_video(src, out, lambda f, i, t: f, codec="mpeg4") == 10
    assert frame_times(out) == frame_times(src)  # 1001/30000 s steps are exact at 1/60000
