"""``facefuse batch`` with the real pipelines (swap, lipsync) on the stand-in models of
facefuse.testing: a chunked run gives the one-piece frames.

Each test skips while its pipeline is not in this build (they land separately)."""
from __future__ import annotations

import numpy as np
import pytest

import facefuse

pytest.importorskip("onnx")

from batch_helpers import frames_of, stream_durations, temp_leftovers, write_jsonl  # noqa: E402
from facefuse.batch import run_batch  # noqa: E402

FAST = {"detector": "scrfd", "detector_size": 320, "preset": "ultrafast", "crf": 0, "blend": "alpha",
        "color": None, "faces": "all"}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    if not hasattr(facefuse, "swap_video"):  # pragma: no cover
        pytest.skip("facefuse.swap_video is not in this build")
    from pipeline_clips import build_models, make_clip, source_face

    d = tmp_path_factory.mktemp("bswap")
    return {"dir": d, "models": build_models(d / "models"), "clip": make_clip(d / "clip.mp4", seconds=4),
            "face": source_face(d / "face.png")}


def test_swap_jobs_one_piece_and_chunked(work, tmp_path):
    job = {"kind": "swap", "inputs": {"source": str(work["face"]), "target": str(work["clip"])}, "options": FAST}
    jf = write_jsonl(tmp_path / "jobs.jsonl", [
        dict(job, output=str(tmp_path / "one.mp4")),
        dict(job, output=str(tmp_path / "chunked.mp4"), chunk_seconds=1.0),  # 4 chunks of 25 frames
        dict(job, output=str(tmp_path / "bad.mp4"), options=dict(FAST, swapper="simswap_256"))])  # no such model file
    rep = run_batch(jf, workers=2, models_dir=str(work["models"]), progress=None)  # 50 warm-up frames
    one, chunked, bad = rep.outcomes
    assert (one.status, chunked.status, bad.status) == ("done", "done", "failed")
    assert "simswap_256" in bad.error
    assert one.frames == chunked.frames == 100 and chunked.chunks == 4
    assert one.quality_mean is not None and chunked.quality_min is not None  # from SwapResult.quality
    a, b = frames_of(tmp_path / "one.mp4"), frames_of(tmp_path / "chunked.mp4")
    assert [f[1] for f in a] == [f[1] for f in b]
    # the same frames, chunk seams included: the warm-up brings tracks and landmark smoother
    # to the one-piece state (measured: 10 warm-up frames leave up to 19 levels at a seam, 25
    # up to 3, 40 none; the smoother's memory is infinite, so allow a level or two)
    diff = [int(np.abs(x[2].astype(int) - y[2].astype(int)).max()) for x, y in zip(a, b)]
    assert max(diff) <= 2, diff
    d1, d2 = stream_durations(tmp_path / "one.mp4"), stream_durations(tmp_path / "chunked.mp4")
    assert d1["video"] == d2["video"] and abs(d1["audio"] - d2["audio"]) < 1e-3
    assert temp_leftovers(tmp_path) == []


@pytest.fixture(scope="module")
def lip(tmp_path_factory):
    if not hasattr(facefuse, "lipsync_video"):  # pragma: no cover
        pytest.skip("facefuse.lipsync_video is not in this build")
    from facefuse.testing.detector_models import build_yolo_face
    from facefuse.testing.diff2lip_model import build_diff2lip
    from facefuse.testing.media import synth_speech, write_audio, write_clip

    d = tmp_path_factory.mktemp("blip")
    write_clip(d / "clip.mp4", 1.2, size=(160, 120), square=48)  # 30 frames
    write_audio(d / "short.wav", synth_speech(0.9, seed=2), 16000)  # cuts the video to 23 frames
    build_diff2lip(d / "models")
    build_yolo_face(d / "models")
    return d


def test_lipsync_chunked_equals_one_piece(lip, tmp_path):
    """The audio is shorter than the video: the plan stops where the audio does, each chunk
    takes its sound from the right place, and the join equals the one-piece (cut) video.
    (With 50 warm-up frames every chunk here warms from frame 0; how many a seam needs was
    measured on swap_video, see DEFAULT_WARMUP_FRAMES.)"""
    opts = {"steps": 1, "spacing": "even", "preset": "ultrafast", "crf": 0, "detector": "yolo_face", "batch_size": 8}
    job = {"kind": "lipsync", "inputs": {"video": str(lip / "clip.mp4"), "audio": str(lip / "short.wav")},
           "options": opts}
    jf = write_jsonl(tmp_path / "jobs.jsonl", [dict(job, output=str(tmp_path / "one.mp4")),
                                               dict(job, output=str(tmp_path / "ch.mp4"), chunk_seconds=0.4)])
    rep = run_batch(jf, workers=2, models_dir=str(lip / "models"), providers="cpu", progress=None)
    one, ch = rep.outcomes
    assert (one.status, ch.status) == ("done", "done"), (one.error, ch.error)
    assert one.frames == ch.frames == 23 and ch.chunks == 3
    a, b = frames_of(tmp_path / "one.mp4"), frames_of(tmp_path / "ch.mp4")
    assert [f[1] for f in a] == [f[1] for f in b]
    assert all(np.array_equal(x[2], y[2]) for x, y in zip(a, b))
    d1, d2 = stream_durations(tmp_path / "one.mp4"), stream_durations(tmp_path / "ch.mp4")
    assert d1["video"] == d2["video"] and abs(d1["audio"] - d2["audio"]) < 1e-3
    assert temp_leftovers(tmp_path) == []
