"""Streaming video IO: facefuse.video (inputs are generated with PyAV in tmp_path)."""
from __future__ import annotations

import os
import threading
import time
from fractions import Fraction

import numpy as np
import pytest

av = pytest.importorskip("av")

from facefuse.testing.media import mux_audio, tone  # noqa: E402
from facefuse.video import (  # noqa: E402
    VideoError,
    VideoReader,
    VideoWriter,
    audio_duration,
    available_encoders,
    process_video,
    read_image,
)

W, H, FPS, SECONDS, SR = 64, 48, 25, 2, 44100


def pattern(i: int, w: int = W, h: int = H) -> np.ndarray:
    """A frame with an asymmetric layout (to check rotation) that changes with i."""
    img = np.full((h, w, 3), 40, np.uint8)
    img[: h // 2, : w // 3] = (230, 120, 20)       # top-left block
    img[h - 6:, w - 10:] = (10, 200, 250)            # bottom-right block
    img[..., 1] = (img[..., 1].astype(int) + 3 * i) % 256
    return img


def make_video(path, *, seconds=SECONDS, fps=FPS, w=W, h=H, audio=True, rotation_ccw=0, options=None,
               video_delay=0):
    c = av.open(str(path), "w", options=options or {})
    vs = c.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "0"})
    vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
    if rotation_ccw:
        vs.set_display_rotation(rotation_ccw)
    if audio:
        a = c.add_stream("aac", rate=SR)
        a.layout = "mono"
    for i in range(seconds * fps):
        f = av.VideoFrame.from_ndarray(pattern(i, w, h), format="bgr24")
        f.pts, f.time_base = i + video_delay, Fraction(1, fps)
        c.mux(vs.encode(f))
    c.mux(vs.encode(None))
    if audio:
        mux_audio(c, a, tone(seconds, SR), SR)
    c.close()
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("v") / "src.mp4")


def stream_durations(path):
    with av.open(str(path)) as c:
        return {s.type: float(s.duration * s.time_base) for s in c.streams if s.duration}


def leftovers(directory):
    return sorted(p for p in os.listdir(directory) if p.startswith(".") or ".tmp" in p)


# ------------------------------------------------------------------------- reader

def test_reader_properties_and_frames(video):
    with VideoReader(video) as r:
        assert (r.width, r.height) == (W, H)
        assert r.fps == pytest.approx(FPS) and r.fps_fraction == Fraction(FPS)
        assert r.frame_count == SECONDS * FPS and r.frame_count_exact
        assert r.duration == pytest.approx(SECONDS, abs=0.05)
        assert r.has_audio and r.rotation == 0
        frames = list(r)
    assert len(frames) == SECONDS * FPS
    assert [f.index for f in frames] == list(range(len(frames)))
    ts = np.array([f.timestamp for f in frames])
    assert np.all(np.diff(ts) > 0) and ts[0] == pytest.approx(0, abs=1e-6)
    assert np.allclose(np.diff(ts), 1 / FPS, atol=1e-3)
    for f in frames:
        assert f.image.shape == (H, W, 3) and f.image.dtype == np.uint8 and f.image.flags.c_contiguous
    # crf 0: the decoded frame is the source up to the YUV 4:2:0 round trip
    diff = np.abs(frames[7].image.astype(int) - pattern(7).astype(int))
    assert np.median(diff) <= 2


def test_reader_single_pass_and_close(video):
    r = VideoReader(video)
    it = iter(r)
    next(it)
    with pytest.raises(RuntimeError, match="single-pass"):
        iter(r)
    r.close()
    r.close()  # idempotent
    assert VideoReader(video).read().index == 0


def test_reader_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        VideoReader(tmp_path / "nope.mp4")


# ------------------------------------------------------------------------- rotation

@pytest.mark.parametrize("cw", [90, 180, 270])
def test_rotation_upright(tmp_path, cw):
    src = make_video(tmp_path / "rot.mp4", seconds=1, audio=False, rotation_ccw=-cw)
    with VideoReader(src) as r:
        assert r.rotation == cw
        assert (r.width, r.height) == ((H, W) if cw in (90, 270) else (W, H))
        img = next(iter(r)).image
    expected = np.rot90(pattern(0), {90: -1, 180: 2, 270: 1}[cw])  # clockwise by cw
    assert img.shape == expected.shape
    err = np.abs(img.astype(int) - expected.astype(int)).mean()
    wrong = np.abs(img.astype(int) - np.rot90(expected, 2).astype(int)).mean()  # upside down
    assert err < 6 and wrong > 4 * err
    with VideoReader(src, auto_rotate=False) as r:
        assert r.rotation == cw and next(iter(r)).image.shape == (H, W, 3)


def test_writer_rotation_roundtrip(tmp_path):
    dst = tmp_path / "w.mp4"
    with VideoWriter(dst, 10, W, H, crf=0, preset="ultrafast", rotation=90) as w:
        for i in range(3):
            w.write(pattern(i))
    with VideoReader(dst) as r:
        assert r.rotation == 90 and next(iter(r)).image.shape == (W, H, 3)


# ------------------------------------------------------------------------- images

@pytest.mark.parametrize("ext", ["png", "jpg"])
def test_image_source(tmp_path, ext):
    img = pattern(0, 33, 21)
    p = tmp_path / f"face.{ext}"
    c = av.open(str(p), "w")
    s = c.add_stream("png" if ext == "png" else "mjpeg", rate=1)
    s.width, s.height = 33, 21
    s.pix_fmt = "rgb24" if ext == "png" else "yuvj444p"
    c.mux(s.encode(av.VideoFrame.from_ndarray(img, format="bgr24")))
    c.mux(s.encode(None))
    c.close()
    out = read_image(p)
    assert out.shape == (21, 33, 3) and out.dtype == np.uint8
    if ext == "png":
        np.testing.assert_array_equal(out, img)
    else:
        assert np.abs(out.astype(int) - img.astype(int)).mean() < 6
    with VideoReader(p) as r:
        assert len(list(r)) == 1
    # an image through the pipeline gives a one-frame video: 4:4:4 JPEG keeps its pixel format and
    # so its odd size; RGB PNG (no RGB in libx264) goes to 4:2:0, padded to even
    dst = tmp_path / "one.mp4"
    assert process_video(p, dst, lambda f, i, t: f) == 1
    with VideoReader(dst) as r:
        assert (r.width, r.height) == ((34, 22) if ext == "png" else (33, 21)) and len(list(r)) == 1


# ------------------------------------------------------------------------- corrupt input

def test_corrupt_random_bytes(tmp_path, rng):
    bad = tmp_path / "random.mp4"
    bad.write_bytes(rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoError, match="random.mp4"):
        VideoReader(bad)
    dst = tmp_path / "out.mp4"
    with pytest.raises(VideoError, match="random.mp4"):
        process_video(bad, dst, lambda f, i, t: f)
    assert not dst.exists() and leftovers(tmp_path) == []


def test_truncated_file(tmp_path, video):
    data = video.read_bytes()
    half = tmp_path / "half.mp4"  # moov atom at the end: fails at open
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match="half.mp4"):
        VideoReader(half)
    # faststart (index first): opens, fails when the missing packets are reached
    fs = make_video(tmp_path / "fs.mp4", audio=True, options={"movflags": "faststart"})
    d = fs.read_bytes()
    fshalf = tmp_path / "fshalf.mp4"
    fshalf.write_bytes(d[: len(d) // 2])
    with pytest.raises(VideoError, match="fshalf.mp4.*truncated"):
        list(VideoReader(fshalf))
    dst = tmp_path / "out.mp4"
    with pytest.raises(VideoError, match="fshalf.mp4"):
        process_video(fshalf, dst, lambda f, i, t: f)
    assert not dst.exists() and leftovers(tmp_path) == []


def test_no_video_stream(tmp_path):
    p = tmp_path / "audio_only.m4a"
    c = av.open(str(p), "w")
    a = c.add_stream("aac", rate=SR)
    a.layout = "mono"
    fr = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
    fr.sample_rate, fr.pts = SR, 0
    c.mux(a.encode(fr))
    c.mux(a.encode(None))
    c.close()
    with pytest.raises(VideoError, match="audio_only.m4a.*no video"):
        VideoReader(p)


# ------------------------------------------------------------------------- pipeline

def test_process_video_inverts_and_keeps_audio(tmp_path, video):
    dst = tmp_path / "inv.mp4"
    progress = []
    n = process_video(video, dst, lambda f, i, t: 255 - f, crf=0, preset="ultrafast",
                      on_progress=lambda d, tot: progress.append((d, tot)))
    assert n == SECONDS * FPS
    assert progress[-1] == (n, SECONDS * FPS) and len(progress) == n
    with VideoReader(video) as a, VideoReader(dst) as b:
        assert b.frame_count == n and b.has_audio and b.fps_fraction == Fraction(FPS)
        src_frames = [f.image for f in a]
        out_frames = [f.image for f in b]
    assert len(out_frames) == n
    for s, o in zip(src_frames[::7], out_frames[::7]):
        diff = np.abs(o.astype(int) - (255 - s.astype(int)))
        assert np.median(diff) <= 4 and diff.mean() < 5  # YUV 4:2:0 round trip
    d_src, d_out = stream_durations(video), stream_durations(dst)
    assert d_out["audio"] == pytest.approx(d_src["audio"], abs=0.1)
    assert d_out["video"] == pytest.approx(SECONDS, abs=0.05)
    with av.open(str(dst)) as c:  # copied, not re-encoded: same codec and sample rate
        assert c.streams.audio[0].codec_context.name == "aac"
        assert c.streams.audio[0].codec_context.sample_rate == SR
    assert leftovers(tmp_path) == []


def test_process_video_audio_trimmed_to_video(tmp_path, video):
    """fn sees every frame, the writer trims audio to the (shorter) output video."""
    dst = tmp_path / "short.mp4"
    src = make_video(tmp_path / "long_audio.mp4", seconds=2)
    with VideoReader(src) as r, VideoWriter(dst, FPS, W, H, preset="ultrafast", audio_from=src) as w:
        for f in r:
            if f.index >= FPS:  # first second only
                break
            w.write(f.image)
    d = stream_durations(dst)
    assert d["video"] == pytest.approx(1.0, abs=0.05)
    assert d["audio"] == pytest.approx(1.0, abs=0.1)


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("exc", [Boom, KeyboardInterrupt])
def test_exception_in_fn_cleans_up(tmp_path, video, exc):
    start_threads = threading.active_count()
    dst = tmp_path / "out.mp4"
    seen = []

    def fn(f, i, t):
        seen.append(i)
        if i == 17:
            raise exc("frame 17")
        return f

    with pytest.raises(exc, match="frame 17") as info:
        process_video(video, dst, fn, queue_size=2, preset="ultrafast")
    # original traceback: the raising line of fn is in it
    assert any(tb.name == "fn" for tb in info.traceback)
    assert max(seen) == 17
    assert not dst.exists() and leftovers(tmp_path) == []
    deadline = time.time() + 5
    while threading.active_count() != start_threads and time.time() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == start_threads


def test_exception_with_full_queues_no_deadlock(tmp_path, video):
    """The encoder (caller thread) is slow and the queues are full when fn dies."""
    start_threads = threading.active_count()
    dst = tmp_path / "out.mp4"

    def progress(done, total):
        time.sleep(0.02)

    def fn(f, i, t):
        if i == 6:
            raise Boom("late")
        return f

    t0 = time.time()
    with pytest.raises(Boom):
        process_video(video, dst, fn, queue_size=1, on_progress=progress, preset="ultrafast")
    assert time.time() - t0 < 10
    assert not dst.exists() and leftovers(tmp_path) == []
    assert threading.active_count() == start_threads


@pytest.mark.parametrize("exc", [Boom, KeyboardInterrupt])
def test_exception_in_caller_thread(tmp_path, video, exc):
    """on_progress runs in the caller's (encoding) thread: an error there, or a Ctrl-C
    arriving in that thread, stops the worker threads and leaves nothing."""
    start_threads = threading.active_count()
    dst = tmp_path / "out.mp4"

    def progress(done, total):
        if done == 3:
            raise exc("progress")

    with pytest.raises(exc):
        process_video(video, dst, lambda f, i, t: f, on_progress=progress, preset="ultrafast", queue_size=1)
    assert not dst.exists() and leftovers(tmp_path) == []
    assert threading.active_count() == start_threads


def test_fn_bad_return(tmp_path, video):
    dst = tmp_path / "out.mp4"
    with pytest.raises(TypeError, match="'fn' must return"):
        process_video(video, dst, lambda f, i, t: f.astype(np.float32))
    assert not dst.exists() and leftovers(tmp_path) == []


def test_existing_output_untouched_on_failure(tmp_path, video):
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"previous")

    def fn(f, i, t):
        if i == 3:
            raise Boom("x")
        return f

    with pytest.raises(Boom):
        process_video(video, dst, fn)
    assert dst.read_bytes() == b"previous"
    process_video(video, dst, lambda f, i, t: f, preset="ultrafast")
    with VideoReader(dst) as r:
        assert r.frame_count == SECONDS * FPS


def test_process_video_args(tmp_path, video):
    with pytest.raises(ValueError, match="'queue_size'"):
        process_video(video, tmp_path / "o.mp4", lambda f, i, t: f, queue_size=0)
    with pytest.raises(TypeError, match="'fn'"):
        process_video(video, tmp_path / "o.mp4", None)
    with pytest.raises(ValueError, match="same file"):
        process_video(video, video, lambda f, i, t: f)


# ------------------------------------------------------------------------- writer

def test_writer_exception_in_with_leaves_nothing(tmp_path):
    dst = tmp_path / "w.mp4"
    with pytest.raises(KeyboardInterrupt):
        with VideoWriter(dst, 25, W, H, preset="ultrafast") as w:
            w.write(pattern(0))
            assert leftovers(tmp_path) != []  # the temporary file exists meanwhile
            raise KeyboardInterrupt
    assert not dst.exists() and leftovers(tmp_path) == []


def test_writer_args(tmp_path):
    with pytest.raises(ValueError, match="'codec'.*no_such_codec"):
        VideoWriter(tmp_path / "a.mp4", 25, W, H, codec="no_such_codec")
    with pytest.raises(ValueError, match="'codec'"):
        VideoWriter(tmp_path / "a.mp4", 25, W, H, codec="aac")  # an audio encoder
    with pytest.raises(ValueError, match="'fps'"):
        VideoWriter(tmp_path / "a.mp4", 0, W, H)
    with pytest.raises(ValueError, match="'fps'"):
        VideoWriter(tmp_path / "a.mp4", float("nan"), W, H)
    with pytest.raises(ValueError, match="'width'"):
        VideoWriter(tmp_path / "a.mp4", 25, 0, H)
    with pytest.raises(ValueError, match="'height'"):
        VideoWriter(tmp_path / "a.mp4", 25, W, 2.5)
    with pytest.raises(ValueError, match="even"):
        VideoWriter(tmp_path / "a.mp4", 25, 33, 21, pad_odd=False)
    with pytest.raises(ValueError, match="'rotation'"):
        VideoWriter(tmp_path / "a.mp4", 25, W, H, rotation=45)
    with pytest.raises(VideoError, match="a.unknownext"):
        VideoWriter(tmp_path / "a.unknownext", 25, W, H)
    assert leftovers(tmp_path) == [] and os.listdir(tmp_path) == []
    with VideoWriter(tmp_path / "a.mp4", 25, W, H, preset="ultrafast") as w:
        with pytest.raises(ValueError, match="'image'"):
            w.write(np.zeros((H, W + 2, 3), np.uint8))
        with pytest.raises(ValueError, match="'image'"):
            w.write(np.zeros((H, W, 3), np.float32))
        w.write(pattern(0)[:, ::-1])  # non-contiguous view is fine
    assert (tmp_path / "a.mp4").exists()


def test_writer_odd_size_padded(tmp_path):
    dst = tmp_path / "odd.mp4"
    with VideoWriter(dst, Fraction(30000, 1001), 33, 21, crf=0, preset="ultrafast") as w:
        assert (w.encoded_width, w.encoded_height) == (34, 22)
        for i in range(4):
            w.write(pattern(i, 33, 21))
    with VideoReader(dst) as r:
        assert (r.width, r.height) == (34, 22)
        assert r.fps_fraction == Fraction(30000, 1001)
        img = next(iter(r)).image
    assert np.abs(img[:21, :33].astype(int) - pattern(0, 33, 21).astype(int)).mean() < 5


def test_writer_mpeg4_and_no_audio_source(tmp_path, video):
    silent = make_video(tmp_path / "silent.mp4", seconds=1, audio=False)
    dst = tmp_path / "m4.mp4"
    with VideoWriter(dst, 25, W, H, codec="mpeg4", options={"qscale": "2"}, audio_from=silent) as w:
        w.write(pattern(0))
    with VideoReader(dst) as r:
        assert not r.has_audio and len(list(r)) == 1


def test_writer_audio_transcoded_when_container_refuses(tmp_path, video):
    """MPEG-PS (.mpg) cannot hold AAC: the audio is re-encoded to the container's default."""
    dst = tmp_path / "out.mpg"
    with VideoWriter(dst, 25, W, H, codec="mpeg2video", audio_from=video) as w:
        for i in range(25):
            w.write(pattern(i))
    with av.open(str(dst)) as c:
        assert c.streams.audio and c.streams.audio[0].codec_context.name != "aac"


def test_available_encoders():
    v = available_encoders()
    assert "libx264" in v and "aac" not in v
    assert "aac" in available_encoders("audio")
    with pytest.raises(ValueError, match="'kind'"):
        available_encoders("subtitle")


def test_nvenc_when_present(tmp_path):
    if "h264_nvenc" not in available_encoders():
        pytest.skip("this FFmpeg build has no h264_nvenc")
    dst = tmp_path / "nv.mp4"
    try:
        with VideoWriter(dst, 25, W, H, codec="h264_nvenc") as w:
            for i in range(5):
                w.write(pattern(i))
    except VideoError as e:
        assert "h264_nvenc" in str(e) and "nv.mp4" in str(e)
        assert not dst.exists() and leftovers(tmp_path) == []
        pytest.skip(f"h264_nvenc cannot open here (no NVIDIA GPU/driver): {e}")
    with VideoReader(dst) as r:
        assert len(list(r)) == 5


def test_process_video_writer_failure_stops_threads(tmp_path, video):
    start_threads = threading.active_count()
    with pytest.raises(VideoError, match="out.unknownext"):
        process_video(video, tmp_path / "out.unknownext", lambda f, i, t: f)
    assert os.listdir(tmp_path) == []
    assert threading.active_count() == start_threads


def test_corrupt_packets_mid_file(tmp_path):
    """Garbage over the middle of the data: VideoError when the bad packet is reached
    (or concealment by the decoder), never a hang or a crash; process_video leaves nothing."""
    fs = make_video(tmp_path / "fs.mp4", seconds=1, audio=True, options={"movflags": "faststart"})
    data = fs.read_bytes()
    rng = np.random.default_rng(5)
    raised = 0
    for k, frac in enumerate(np.linspace(0.2, 0.95, 8)):
        b = bytearray(data)
        s = int(len(b) * frac)
        b[s:s + 2000] = rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
        bad = tmp_path / f"mid{k}.mp4"
        bad.write_bytes(bytes(b))
        dst = tmp_path / f"out{k}.mp4"
        try:
            process_video(bad, dst, lambda f, i, t: f, preset="ultrafast")
        except VideoError as e:
            assert f"mid{k}.mp4" in str(e)
            assert not dst.exists()
            raised += 1
        else:
            with VideoReader(dst) as r:
                assert r.frame_count > 0
    assert raised >= 1
    assert leftovers(tmp_path) == []


def test_audio_stays_in_sync_when_video_starts_late(tmp_path):
    """Video starts at 0.48 s, audio at 0: the output keeps both where they were (FFmpeg's
    default: times from the file's start), so the audio stays whole and in sync."""
    src = make_video(tmp_path / "late.mp4", video_delay=12)
    with VideoReader(src) as r:
        start = r.start_time
    if start < 0.4:
        pytest.skip(f"the demuxer normalised the video start time ({start}); nothing to check")
    dst = tmp_path / "out.mp4"
    process_video(src, dst, lambda f, i, t: f, preset="ultrafast")
    d = stream_durations(dst)
    assert d["audio"] == pytest.approx(SECONDS, abs=0.1)
    with VideoReader(dst) as r:
        assert r.start_time == pytest.approx(start, abs=1e-3)
    with av.open(str(dst)) as c:
        a = c.streams.audio[0]
        first = next(p for p in c.demux(a) if p.pts is not None)
        assert abs(float(first.pts * first.time_base)) < 0.05


def test_output_permissions_follow_umask(tmp_path, video):
    # the temporary file is created owner-only; the published output must not stay that way
    old = os.umask(0o022)
    try:
        out = tmp_path / "perm.mp4"
        process_video(video, out, lambda img, i, t: img)
    finally:
        os.umask(old)
    assert (out.stat().st_mode & 0o777) == 0o644


def test_audio_duration(tmp_path) -> None:
    from facefuse.testing.media import synth_speech, write_audio

    write_audio(tmp_path / "s.wav", synth_speech(1.3), 16000)
    assert audio_duration(tmp_path / "s.wav") == pytest.approx(1.3, abs=1e-3)
    make_video(tmp_path / "v.mp4", seconds=2)
    assert audio_duration(tmp_path / "v.mp4") == pytest.approx(2.0, abs=0.1)  # a video's audio track
    make_video(tmp_path / "mute.mp4", seconds=1, audio=False)
    assert audio_duration(tmp_path / "mute.mp4") is None  # no audio: not the video's length
    (tmp_path / "junk.wav").write_bytes(b"not audio" * 20)
    assert audio_duration(tmp_path / "junk.wav") is None
    assert audio_duration(tmp_path / "missing.wav") is None
