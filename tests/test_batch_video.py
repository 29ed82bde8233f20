"""Frame ranges with warm-up in facefuse.video and the chunk join (facefuse.batch.chunks)."""
from __future__ import annotations

import numpy as np
import pytest

from batch_helpers import FPS, frames_of, make_clip, stream_durations
from facefuse.batch.chunks import join_chunks, plan_chunks
from facefuse.testing.batch_kinds import smooth_video
from facefuse.video import VideoError, VideoReader, count_frames, process_video


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    return {"plain": make_clip(d / "plain.mp4", 60), "bframes": make_clip(d / "bf.mp4", 60, bframes=True)}


@pytest.mark.parametrize("name", ["plain", "bframes"])
def test_reader_start_frame_matches_reading_from_start(clips, name):
    full = frames_of(clips[name])
    assert count_frames(clips[name]) == len(full) == 60
    # frames on, just after and between keyframes (GOP 12 in the B-frame clip), and the last
    for start in (1, 11, 12, 13, 30, 59):
        with VideoReader(clips[name], start_frame=start) as r:
            part = [(f.index, f.timestamp, f.image) for f in r]
            assert r.start_time == 0.0  # of the video, not of the range
        assert [p[0] for p in part] == list(range(start, 60))
        for (i, t, a), (j, u, b) in zip(full[start:], part):
            assert t == u and np.array_equal(a, b), (start, i)


def test_reader_start_frame_errors(clips):
    with pytest.raises(ValueError, match="start_frame"):
        VideoReader(clips["plain"], start_frame=60)
    with pytest.raises(ValueError, match="start_frame"):
        VideoReader(clips["plain"], start_frame=-1)
    with pytest.raises(FileNotFoundError, match="'path'"):
        count_frames(clips["plain"].parent / "missing.mp4")
    with pytest.raises(TypeError, match="'path'"):
        count_frames(None)  # type: ignore[arg-type]


def test_process_video_range_and_warmup_calls(clips, tmp_path):
    calls = []

    def fn(img, index, timestamp):
        calls.append((index, timestamp))
        return img

    progress = []
    n = process_video(clips["plain"], tmp_path / "r.mp4", fn, start_frame=20, stop_frame=35, warmup_frames=5,
                      crf=0, preset="ultrafast", on_progress=lambda d, t: progress.append((d, t)))
    assert n == 15
    # fn saw the 5 warm-up frames with their own indices and timestamps, then the range
    assert [c[0] for c in calls] == list(range(15, 35))
    assert [c[1] for c in calls] == [i / FPS for i in range(15, 35)]
    assert progress[-1] == (15, 15)
    got = frames_of(tmp_path / "r.mp4")
    process_video(clips["plain"], tmp_path / "all.mp4", lambda im, i, t: im, crf=0, preset="ultrafast")
    full = frames_of(tmp_path / "all.mp4")
    assert len(got) == 15
    # the same frames as the same frames of a whole run (lossless x264: encoding is exact in YUV)
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(got, full[20:35]))
    assert not all(np.array_equal(a[2], b[2]) for a, b in zip(got, full[21:36]))
    # the copied audio starts at the range: as long as the video (to a packet)
    d = stream_durations(tmp_path / "r.mp4")
    assert abs(d["audio"] - 15 / FPS) < 0.07


def test_process_video_warmup_clipped_at_start_and_bad_args(clips, tmp_path):
    seen = []
    n = process_video(clips["plain"], tmp_path / "a.mp4", lambda im, i, t: seen.append(i) or im,
                      start_frame=3, warmup_frames=10, crf=0, preset="ultrafast")
    assert n == 57 and seen[0] == 0
    with pytest.raises(ValueError, match="stop_frame"):
        process_video(clips["plain"], tmp_path / "b.mp4", lambda im, i, t: im, start_frame=5, stop_frame=5)
    with pytest.raises(ValueError, match="warmup_frames"):
        process_video(clips["plain"], tmp_path / "b.mp4", lambda im, i, t: im, warmup_frames=-1)
    assert not (tmp_path / "b.mp4").exists()


def test_plan_chunks():
    assert plan_chunks(100, 30) == [(0, 25), (25, 50), (50, 75), (75, 100)]
    assert plan_chunks(10, 30) == [(0, 10)]
    r = plan_chunks(1001, 250)
    assert r[0][0] == 0 and r[-1][1] == 1001 and all(a[1] == b[0] for a, b in zip(r, r[1:]))
    assert max(b - a for a, b in r) <= 250
    with pytest.raises(ValueError, match="chunk_frames"):
        plan_chunks(10, 0)


def _chunked(src, tmp_path, ranges, warmup, tag):
    parts = []
    for k, (a, b) in enumerate(ranges):
        p = tmp_path / f"{tag}_{k}.mp4"
        smooth_video(src, p, start_frame=a, stop_frame=None if k == len(ranges) - 1 else b,
                     warmup_frames=min(warmup, a), copy_audio=False)
        parts.append(str(p))
    out = tmp_path / f"{tag}.mp4"
    with VideoReader(src) as r:
        fps, start = r.fps_fraction, r.start_time
    n = join_chunks(parts, str(out), fps=fps, expected_frames=[b - a for a, b in ranges], audio_from=str(src),
                    audio_offset=start)
    return out, n


@pytest.mark.parametrize("name", ["plain", "bframes"])
def test_chunked_run_equals_one_piece(clips, tmp_path, name):
    """A stateful fn (weighted mean of the last 6 frames) chunked with warm-up gives the
    one-piece frames, frame count, timestamps and audio length exactly (lossless x264)."""
    src = clips[name]
    smooth_video(src, tmp_path / "one.mp4")
    one = frames_of(tmp_path / "one.mp4")
    ranges = plan_chunks(60, 16)  # 4 chunks of 15
    joined, n = _chunked(src, tmp_path, ranges, warmup=8, tag="w8")
    got = frames_of(joined)
    assert n == len(got) == len(one) == 60
    assert [g[1] for g in got] == [o[1] for o in one]
    bad = [o[0] for o, g in zip(one, got) if not np.array_equal(o[2], g[2])]
    assert bad == []
    d1, d2 = stream_durations(tmp_path / "one.mp4"), stream_durations(joined)
    assert d2["video"] == d1["video"]
    assert abs(d2["audio"] - d1["audio"]) < 1e-3
    # without warm-up the smoother starts cold at each chunk: the seams show
    cold, _ = _chunked(src, tmp_path, ranges, warmup=0, tag="w0")
    cold_bad = [o[0] for o, g in zip(one, frames_of(cold)) if not np.array_equal(o[2], g[2])]
    assert cold_bad and set(cold_bad) <= {i for a, _ in ranges[1:] for i in range(a, a + 6)}


def test_join_rejects_wrong_frame_count_and_mismatched_codecs(clips, tmp_path):
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    smooth_video(clips["plain"], a, stop_frame=10, copy_audio=False)
    smooth_video(clips["plain"], b, start_frame=10, stop_frame=20, copy_audio=False, crf=20)
    with pytest.raises(VideoError, match="holds 10 frames, expected 12"):
        join_chunks([str(a), str(a)], str(tmp_path / "j.mp4"), fps=FPS, expected_frames=[10, 12])
    with pytest.raises(VideoError, match="other codec parameters"):
        join_chunks([str(a), str(b)], str(tmp_path / "j.mp4"), fps=FPS)
    assert not (tmp_path / "j.mp4").exists()
    assert [p.name for p in tmp_path.iterdir() if ".tmp" in p.name] == []


def test_range_with_batched_fn(clips, tmp_path):
    """batch_size > 1: warm-up frames inside a batch are run and dropped like single ones."""
    seen = []

    def fn_batch(images, indices, timestamps):
        seen.extend(indices)
        return [255 - im for im in images]

    n = process_video(clips["plain"], tmp_path / "b.mp4", fn_batch, batch_size=4, start_frame=22, stop_frame=41,
                      warmup_frames=7, crf=0, preset="ultrafast")
    process_video(clips["plain"], tmp_path / "s.mp4", lambda im, i, t: 255 - im, start_frame=22, stop_frame=41,
                  crf=0, preset="ultrafast")
    assert n == 19 and sorted(seen) == list(range(15, 41))
    a, b = frames_of(tmp_path / "b.mp4"), frames_of(tmp_path / "s.mp4")
    assert len(a) == len(b) == 19 and all(np.array_equal(x[2], y[2]) for x, y in zip(a, b))
