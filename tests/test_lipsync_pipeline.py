"""lipsync_video end to end on generated clips, with the analytic tiny denoiser and a
stand-in detector that finds the bright square of facefuse.testing.media clips."""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

pytest.importorskip("onnx")

import facefuse as ff  # noqa: E402
from facefuse.inference import ModelNotFoundError  # noqa: E402
from facefuse.lipsync import batching, crop  # noqa: E402
from facefuse.lipsync.feed import MelFeed  # noqa: E402
from facefuse.pipeline import lipsync as P  # noqa: E402
from facefuse.pipeline import lipsync_frames  # noqa: E402
from facefuse.lipsync.audio import load_audio  # noqa: E402
from facefuse.lipsync.sampler import from_model  # noqa: E402
from facefuse.models import Face  # noqa: E402
from facefuse.testing.detector_models import build_yolo_face  # noqa: E402
from facefuse.testing.diff2lip_model import build_diff2lip, default_target  # noqa: E402
from facefuse.testing.media import synth_speech, write_audio, write_clip  # noqa: E402
from facefuse.video import VideoReader  # noqa: E402


class BrightSquare:
    """Finds the bright (all channels > 200) square, as the stand-in ONNX detectors do, in
    NumPy (fast; the stand-in yolo_face is used through FaceDetector where noted);
    ``skip(k)`` -> no face in call k, ``fail_at`` -> raise in that call."""

    def __init__(self, skip=lambda k: False, fail_at=None) -> None:
        self.calls = 0
        self.skip = skip
        self.fail_at = fail_at

    def detect(self, img: np.ndarray) -> list:
        k = self.calls
        self.calls += 1
        if self.fail_at is not None and k == self.fail_at:
            raise RuntimeError("detector exploded")
        if self.skip(k):
            return []
        ys, xs = np.nonzero((img > 200).all(axis=2))
        if xs.size == 0:
            return []
        box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)
        return [Face(box=box, score=0.9, landmarks5=np.zeros((5, 2), np.float32))]


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("lipsync")
    write_clip(d / "clip.mp4", 2.0, audio=synth_speech(2.0, seed=9))  # 50 frames, own audio
    write_clip(d / "still.mp4", 1.0, motion=0.0)  # 25 frames, no audio, square fixed
    speech = synth_speech(1.2, seed=1)
    write_audio(d / "short.wav", speech, 16000)
    write_audio(d / "long.m4a", synth_speech(3.0, seed=2), 16000)
    build_diff2lip(d / "models")
    build_yolo_face(d / "models")
    return d, speech


def _run(media, out, audio="short.wav", video="clip.mp4", **kw):
    d, _ = media
    kw.setdefault("detector", BrightSquare())
    kw.setdefault("steps", 3)
    kw.setdefault("spacing", "even")
    kw.setdefault("preset", "ultrafast")
    return P.lipsync_video(d / video, d / audio, out, models_dir=d / "models", providers="cpu", **kw)


def _frames(path):
    with VideoReader(path) as r:
        return [f.image for f in r], r.fps


def test_video_cut_to_shorter_audio(media, tmp_path) -> None:
    d, speech = media
    out = tmp_path / "out.mp4"
    with pytest.warns(UserWarning, match="shorter than the video"):
        r = _run(media, out, detector="yolo_face")  # FaceDetector on the stand-in yoloface_8n.onnx
    assert r.cut and r.frames == 30 and r.frames_synced == 30 and r.fps == 25
    assert r.audio_seconds == pytest.approx(1.2, abs=1e-3)
    frames, fps = _frames(out)
    assert len(frames) == 30 and fps == 25 and frames[0].shape == (240, 320, 3)
    # the output carries the driving audio (not the video's own), as long as the video
    got = load_audio(out)
    assert abs(got.shape[0] - 19200) <= 1024
    n = 12000
    corr = max(float(np.dot(got[lag:lag + n], speech[:n]))
               / (np.linalg.norm(got[lag:lag + n]) * np.linalg.norm(speech[:n]) + 1e-9) for lag in range(0, 1200, 1))
    assert corr > 0.95
    assert sorted(os.listdir(tmp_path)) == ["out.mp4"]  # no temporary file left


def test_cut_chunk_of_a_video_without_frame_count(media, tmp_path) -> None:
    # a raw H.264 stream has no frame count; a chunk starting at frame 10 is cut where the
    # 1.2 s audio ends (frame 30): the video has at least 31 frames, counted from its start
    d, _ = media
    write_clip(tmp_path / "raw.h264", 2.0)
    assert VideoReader(tmp_path / "raw.h264").frame_count == 0
    with pytest.warns(UserWarning, match="shorter than the video"):
        r = P.lipsync_video(tmp_path / "raw.h264", d / "short.wav", tmp_path / "out.mp4", models_dir=d / "models",
                            providers="cpu", detector=BrightSquare(), steps=3, spacing="even", preset="ultrafast",
                            start_frame=10)
    assert r.cut and r.frames == 20 and r.video_frames == 31


def test_longer_audio_is_trimmed_to_the_video(media, tmp_path) -> None:
    out = tmp_path / "out.mkv"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to warn about
        r = _run(media, out, audio="long.m4a")
    assert not r.cut and r.frames == 50 and r.video_frames == 50
    assert r.audio_seconds == pytest.approx(3.0, abs=0.05)  # the driving audio, not the part decoded
    frames, _ = _frames(out)
    assert len(frames) == 50
    assert abs(load_audio(out).shape[0] - 32000) <= 2048


def test_mouth_generated_and_rest_untouched(media, tmp_path) -> None:
    d, _ = media
    out = tmp_path / "out.mp4"
    r = _run(media, out, video="still.mp4", audio="long.m4a", blend="alpha", color=None, crf=0)
    assert r.frames == 25 and r.frames_synced == 25
    src, _ = _frames(d / "still.mp4")
    res, _ = _frames(out)
    box = BrightSquare().detect(src[0])[0].box.astype(int)  # static: the smoothed box is this box
    x1, y1, x2, y2 = box
    side = x2 - x1
    # where the paste mask is 1: the generated crop, i.e. the target warped back into the frame
    target = from_model(default_target()[None])[0].astype(np.float32)  # 128 x 128 BGR
    ys = slice(y1 + int(side * 0.62), y2 - int(side * 0.12))
    xs = slice(x1 + int(side * 0.12), x2 - int(side * 0.12))
    import cv2

    expect = cv2.resize(target, (side, side), interpolation=cv2.INTER_LINEAR)[ys.start - y1:ys.stop - y1,
                                                                              xs.start - x1:xs.stop - x1]
    for k in (0, 12, 24):
        assert np.abs(res[k][ys, xs].astype(np.float32) - expect).mean() < 6
        # the upper face and the background are the source (up to the yuv420 round trip)
        assert np.abs(res[k][y1:y1 + side // 2 - 2].astype(np.float32) - src[k][y1:y1 + side // 2 - 2]).mean() < 3
        outside = np.ones(src[k].shape[:2], bool)
        outside[y1 - 2:y2 + 2, x1 - 2:x2 + 2] = False
        assert np.abs(res[k][outside].astype(np.float32) - src[k][outside]).mean() < 3
        # and the mouth region did change
        assert np.abs(res[k][ys, xs].astype(np.float32) - src[k][ys, xs]).mean() > 30


def test_soft_paste_mask() -> None:
    m = crop.paste_mask(128, 0.5)
    assert m.shape == (128, 128) and m.dtype == np.float32
    assert m[:64].max() == 0 and m[100, 64] == pytest.approx(1.0, abs=1e-3)
    col = m[64:, 64]
    assert 0 < col[4] < 1 and np.all(np.diff(col[:12]) >= 0)  # ramps in below the cut, no step
    row = m[100]
    assert row[0] < 0.01 and 0 < row[6] < 1  # and towards the crop's sides
    a = crop.square_crop_affine(np.array([10, 20, 50, 100]), 128)
    np.testing.assert_allclose(a @ [30, 60, 1], [64, 64], atol=1e-4)  # box centre -> crop centre
    np.testing.assert_allclose(a[0, 0], 128 / 80)  # the longer side fills the crop
    st = crop.stretched_crop_affine(np.array([10, 20, 50, 100]), 128)  # Diff2Lip's resize of the box
    np.testing.assert_allclose(st @ [10, 20, 1], [0, 0], atol=1e-4)
    np.testing.assert_allclose(st @ [50, 100, 1], [128, 128], atol=1e-4)
    assert st[0, 0] == pytest.approx(128 / 40) and st[1, 1] == pytest.approx(128 / 80)


@pytest.mark.parametrize("call, arg", [
    (lambda: crop.paste_mask(128, 1.5), "face_hide_percentage"),
    (lambda: crop.paste_mask(128, 0.5, feather=0.6), "feather"),
    (lambda: crop.paste_mask(0), "size"),
    (lambda: crop.square_crop_affine(np.array([10, 20, 50]), 128), "box"),
    (lambda: crop.square_crop_affine(np.array([10, 20, np.nan, 100]), 128), "box"),
    (lambda: crop.square_crop_affine(np.array([10, 20, 50, 100]), 0), "size"),
    (lambda: crop.square_crop_affine(np.array([10, 20, 50, 100]), 128, scale=-1.0), "scale"),
    (lambda: crop.stretched_crop_affine(np.array([10, 20, 50]), 128), "box"),
    (lambda: crop.stretched_crop_affine(np.array([10, 20, 50, 100]), 0), "size"),
])
def test_geometry_helpers_name_a_bad_argument(call, arg) -> None:
    with pytest.raises(ValueError, match=f"'{arg}'"):
        call()


def test_frames_without_face_pass_through(media, tmp_path) -> None:
    d, _ = media
    out = tmp_path / "out.mp4"
    with pytest.warns(UserWarning, match="no face found in 13 of 25"):
        r = _run(media, out, video="still.mp4", audio="long.m4a", detector=BrightSquare(skip=lambda k: k % 2 == 0),
                 crf=0, color=None)
    assert r.frames == 25 and r.frames_synced == 12
    src, _ = _frames(d / "still.mp4")
    res, _ = _frames(out)
    x1, y1, x2, y2 = BrightSquare().detect(src[0])[0].box.astype(int)
    mouth = (slice((y1 + y2) // 2 + 8, y2 - 8), slice(x1 + 8, x2 - 8))
    for k in range(25):
        diff = np.abs(res[k][mouth].astype(np.float32) - src[k][mouth]).mean()
        assert (diff < 3) if k % 2 == 0 else (diff > 30)


def test_out_of_memory_shrinks_the_batch(media, tmp_path, monkeypatch) -> None:
    real = lipsync_frames.lipsync_batch
    sizes = []

    def oom_above_2(den, sampler, crops, *a, **kw):
        sizes.append(crops.shape[0])
        if crops.shape[0] > 2:
            raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Failed to allocate memory for "
                               "requested buffer")
        return real(den, sampler, crops, *a, **kw)

    monkeypatch.setattr(lipsync_frames, "lipsync_batch", oom_above_2)
    with pytest.warns(RuntimeWarning, match="out of memory at batch size") as rec:
        r = _run(media, tmp_path / "o.mp4", video="still.mp4", audio="long.m4a", batch_size=8)
    assert [str(w.message).split(": ", 1)[1] for w in rec] == [
        "out of memory at batch size 8; continuing with 4", "out of memory at batch size 4; continuing with 2"]
    assert r.batch_size == 2 and r.frames == 25 and r.frames_synced == 25
    assert sizes[:3] == [8, 4, 2] and max(sizes[3:]) <= 2


def test_free_gpu_memory_of_the_visible_gpu(monkeypatch) -> None:
    # nvidia-smi lists every GPU whatever CUDA_VISIBLE_DEVICES says; a batch worker that sees
    # only GPU 1 must size its batch by GPU 1's free memory, not GPU 0's
    free = {"0": 500, "1": 70000}

    class Done:
        def __init__(self, stdout):
            self.stdout = stdout

    def fake_run(cmd, **kw):
        ids = [a.split("=", 1)[1] for a in cmd if a.startswith("--id=")]
        return Done("".join(f"{free[i]}\n" for i in (ids or list(free))))

    monkeypatch.setattr(batching.subprocess, "run", fake_run)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert batching._free_gpu_mib() == 500
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert batching._free_gpu_mib() == 70000


@pytest.mark.parametrize("reference", ["gt", "first"])
def test_reference(media, tmp_path, monkeypatch, reference: str) -> None:
    real = lipsync_frames.lipsync_batch
    seen = []

    def spy(den, sampler, crops, refs, *a, **kw):
        seen.append((crops.copy(), refs.copy()))
        return real(den, sampler, crops, refs, *a, **kw)

    monkeypatch.setattr(lipsync_frames, "lipsync_batch", spy)
    _run(media, tmp_path / "o.mp4", audio="long.m4a", reference=reference, batch_size=4)
    first = seen[0][0][0]
    for crops, refs in seen:
        if reference == "gt":
            np.testing.assert_array_equal(refs, crops)
        else:
            np.testing.assert_array_equal(refs, np.broadcast_to(first, refs.shape))
    assert not np.array_equal(seen[-1][0][0], first)  # the face moves: crops differ


def test_streaming_keeps_few_frames_alive(media, tmp_path) -> None:
    written = [0]
    lag = []
    det = BrightSquare()
    orig = det.detect

    def detect(img):
        lag.append(det.calls - written[0])  # frames read ahead of the encoder
        return orig(img)

    det.detect = detect  # type: ignore[method-assign]

    def progress(done, total):
        written[0] = done
        assert total == 50

    r = _run(media, tmp_path / "o.mp4", audio="long.m4a", detector=det, batch_size=4, progress=progress)
    assert written[0] == r.frames == 50
    assert max(lag) <= 3 * 4 + 2  # queue (batch) + the batch being built + one in flight


def test_mel_feed_from_a_late_frame_holds_few_rows(tmp_path) -> None:
    # a chunk of a long video starts at frame start_frame: the feed decodes the audio up to
    # there but must not keep (and re-copy) every mel row before the chunk's first window
    speech = synth_speech(40.0, seed=3)
    write_audio(tmp_path / "long.wav", speech, 16000)
    feed = MelFeed(tmp_path / "long.wav", 25.0)
    held = []
    push = feed._stream.push

    def watch(chunk):
        held.append(feed._rows.shape[0])
        return push(chunk)

    feed._stream.push = watch  # type: ignore[method-assign]
    try:
        k = 30 * 25  # 30 s in
        w = feed.window(k)
        whole = load_audio(tmp_path / "long.wav")
        from facefuse.lipsync.audio import mel_window, melspectrogram

        np.testing.assert_allclose(w, mel_window(melspectrogram(whole), k, 25.0), atol=1e-4)
        # 0.5 s audio chunks: 40 new mel rows each; the window's 16 rows and one chunk suffice
        assert max(held) <= 16 + 2 * 40
    finally:
        feed.close()


def test_quality_outputs(media, tmp_path) -> None:
    import json

    r = _run(media, tmp_path / "o.mp4", audio="long.m4a", quality_report=tmp_path / "q.json",
             quality_plot=tmp_path / "q.png")
    doc = json.loads((tmp_path / "q.json").read_text())
    assert doc["summary"]["count"] == 50 and r.quality["count"] == 50
    assert (tmp_path / "q.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_inputs(media, tmp_path) -> None:
    d, _ = media
    out = tmp_path / "o.mp4"
    with pytest.raises(FileNotFoundError, match="'video'"):
        _run(media, out, video="nope.mp4")
    with pytest.raises(FileNotFoundError, match="'audio'"):
        _run(media, out, audio="nope.wav")
    with pytest.raises(ValueError, match="no audio stream"):
        _run(media, out, audio="still.mp4")
    for kw, name in (({"reference": "random"}, "reference"), ({"blend": "poisson"}, "blend"),
                     ({"color": "rgb"}, "color"), ({"face_hide_percentage": 1.5}, "face_hide_percentage"),
                     ({"batch_size": 0}, "batch_size"), ({"steps": 0}, "steps"), ({"crop_scale": 9}, "crop_scale")):
        with pytest.raises(ValueError, match=name):
            _run(media, out, **kw)
    with pytest.raises(TypeError, match="detector"):
        _run(media, out, detector=42)
    with pytest.raises(ValueError, match="'output'"):
        P.lipsync_video(d / "clip.mp4", d / "short.wav", d / "clip.mp4", models_dir=d / "models")
    with pytest.raises(ModelNotFoundError, match="export-diff2lip"):
        _run(media, out, model="missing.onnx")
    write_audio(tmp_path / "tiny.wav", np.zeros(0, np.float32), 16000)  # an audio stream without sound
    with pytest.raises(ValueError, match="shorter than one video frame"):
        _run(media, out, audio=tmp_path / "tiny.wav")
    assert not out.exists()
    assert os.listdir(tmp_path) == ["tiny.wav"]


def test_failure_mid_run_leaves_nothing(media, tmp_path) -> None:
    out = tmp_path / "o.mp4"
    out.write_bytes(b"previous")
    with pytest.raises(RuntimeError, match="detector exploded"):
        _run(media, out, audio="long.m4a", detector=BrightSquare(fail_at=20), batch_size=4)
    assert out.read_bytes() == b"previous"  # the old file is untouched, no temp file left
    assert os.listdir(tmp_path) == ["o.mp4"]


def test_top_level_export() -> None:
    assert ff.lipsync_video is P.lipsync_video
