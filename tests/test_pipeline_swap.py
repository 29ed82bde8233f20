"""facefuse.swap_video end to end with the stand-in models of facefuse.testing.

The stand-in detectors find bright squares, the swappers invert colours: a swapped square
turns dark exactly where the square is, and the rest of the frame stays as it was.
"""
from __future__ import annotations

import json
import subprocess
import sys

import time

import numpy as np
import pytest

pytest.importorskip("av")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

import cv2  # noqa: E402

import facefuse as ff  # noqa: E402
from facefuse.inference import InferencePool, ModelError, ModelNotFoundError  # noqa: E402
from facefuse.video import VideoError, VideoReader  # noqa: E402
from pipeline_clips import (  # noqa: E402
    FPS, H, SECONDS, SIDE, W, Y0, background, build_models, clip_frame, leftovers, make_clip, source_face, square_x,
    stream_durations,
)

FAST = dict(detector="scrfd", detector_size=320, progress=False, preset="ultrafast")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("swap")
    models = build_models(d / "models", detectors=("scrfd", "yolo_face"))
    clip = make_clip(d / "clip.mp4")
    face = source_face(d / "face.png")
    with VideoReader(clip) as r:
        decoded = [f.image for f in r]
    return {"dir": d, "models": models, "clip": clip, "face": face, "decoded": decoded}


@pytest.fixture(scope="module")
def alpha_run(work):
    """One full run: alpha blend, no colour transfer (inversion visible exactly), reports on."""
    out = work["dir"] / "alpha.mp4"
    rep, plot = work["dir"] / "q.json", work["dir"] / "q.png"
    res = ff.swap_video(work["face"], work["clip"], out, models_dir=work["models"], blend="alpha", color=None,
                        faces="all", quality_report=rep, quality_plot=plot, crf=4, **FAST)
    with VideoReader(out) as r:
        frames = [f.image for f in r]
        meta = (r.fps, r.width, r.height, r.has_audio)
    return {"result": res, "out": out, "frames": frames, "meta": meta, "report": rep, "plot": plot}


def test_full_run_is_a_playable_video_with_audio(work, alpha_run) -> None:
    res, frames = alpha_run["result"], alpha_run["frames"]
    n = SECONDS * FPS
    assert res.frames == n and len(frames) == n and not res.is_image
    assert res.faces_swapped == n and res.frames_with_swap == n
    assert alpha_run["meta"] == (pytest.approx(FPS), W, H, True)
    src_d, out_d = stream_durations(work["clip"]), stream_durations(alpha_run["out"])
    assert out_d["audio"] == pytest.approx(src_d["audio"], abs=1.0 / FPS)
    assert out_d["video"] == pytest.approx(src_d["video"], abs=1.0 / FPS)
    assert set(res.stage_seconds) >= {"detect", "track", "crop", "swap", "paste", "quality"}
    assert list(work["dir"].glob(".*tmp*")) == []


def test_swap_lands_on_the_moving_square_and_nowhere_else(work, alpha_run) -> None:
    for i in (0, 12, 25, 49):
        out, src = alpha_run["frames"][i].astype(int), work["decoded"][i].astype(int)
        x0 = square_x(i)
        inner = out[Y0 + 12:Y0 + SIDE - 12, x0 + 12:x0 + SIDE - 12]
        assert inner.mean() < 25, f"frame {i}: the square is not inverted (mean {inner.mean():.1f})"
        # a band well outside the crop region of the face (the crop spans about 2x the square)
        far = np.ones((H, W), bool)
        far[max(0, Y0 - 70):Y0 + SIDE + 70, max(0, x0 - 70):x0 + SIDE + 70] = False
        diff = np.abs(out - src)[far]
        assert far.sum() > 10000
        # two lossy encodes (source, output) leave a few grey levels; an inverted pixel moves by ~100+
        assert diff.mean() < 3.5 and diff.max() < 25, f"frame {i}: pixels far from the face changed"
    # and the frame where the square is NOT: its old place (frame 0) is background again in frame 49
    x_old = square_x(0)
    old = alpha_run["frames"][49][Y0 + 10:Y0 + 30, x_old + 5:x_old + 20].astype(int)
    ref = work["decoded"][49][Y0 + 10:Y0 + 30, x_old + 5:x_old + 20].astype(int)
    assert np.abs(old - ref).mean() < 3


def test_quality_report_and_plot(alpha_run) -> None:
    doc = json.loads(alpha_run["report"].read_text())
    assert doc["summary"]["count"] == SECONDS * FPS
    assert len(doc["frames"]["tpsnr"]) == SECONDS * FPS and doc["frames"]["tpsnr"][0] is None
    assert doc["summary"]["tpsnr_roi"]["count"] == SECONDS * FPS - 1
    assert alpha_run["result"].quality["count"] == SECONDS * FPS
    img = cv2.imread(str(alpha_run["plot"]))
    assert img is not None and img.ndim == 3 and min(img.shape[:2]) > 100
    assert alpha_run["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_default_settings_reference_mode(work, tmp_path) -> None:
    """Defaults: faces='reference' (reference = frame 0's face), laplacian blend, LAB colour."""
    out = tmp_path / "d.mp4"
    calls = []
    res = ff.swap_video(work["face"], work["clip"], out, models_dir=work["models"], detector="scrfd",
                        detector_size=320, progress=lambda done, total: calls.append((done, total)),
                        preset="ultrafast")
    assert res.faces_swapped == SECONDS * FPS
    assert calls[-1] == (SECONDS * FPS, SECONDS * FPS) and len(calls) == SECONDS * FPS
    with VideoReader(out) as r:
        f = next(iter(r)).image.astype(int)
    inner = f[Y0 + 12:Y0 + SIDE - 12, square_x(0) + 12:square_x(0) + SIDE - 12]
    # LAB transfer re-lights the inverted square, but it is no longer the white source square
    assert inner.mean() < 230


# ----------------------------------------------------------------------------- face selection

def two_faces_image(path):
    img = clip_frame(0) * 0 + 70
    img[40:140, 20:120] = 255  # large white square
    img[150:200, 200:250] = (255, 215, 215)  # small tinted square
    cv2.imwrite(str(path), img)
    return img


def inverted(out: np.ndarray, y0: int, y1: int, x0: int, x1: int) -> bool:
    return out[y0 + 8:y1 - 8, x0 + 8:x1 - 8].astype(int).mean() < 60


@pytest.mark.parametrize("faces,index,expect", [
    ("all", 0, (True, True)),
    ("index", 0, (True, False)),  # large-small order: index 0 = the large square
    ("index", 1, (False, True)),
    ("index", 2, (False, False)),  # no third face: nothing swapped
])
def test_faces_modes_on_an_image_target(work, tmp_path, faces, index, expect) -> None:
    tgt = tmp_path / "two.png"
    two_faces_image(tgt)
    out = tmp_path / "out.png"
    res = ff.swap_video(work["face"], tgt, out, models_dir=work["models"], detector="yolo_face", blend="alpha",
                        color=None, faces=faces, face_index=index, progress=False)
    img = cv2.imread(str(out))
    assert res.is_image and res.frames == 1 and img.shape == (H, W, 3)
    got = (inverted(img, 40, 140, 20, 120), inverted(img, 150, 200, 200, 250))
    assert got == expect
    assert res.faces_swapped == sum(expect)


def test_reference_mode_picks_the_closest_face(work, tmp_path) -> None:
    from facefuse.models.detector import FaceDetector
    from facefuse.models.recognizer import FaceRecognizer

    tgt = tmp_path / "two.png"
    target = two_faces_image(tgt)
    ref = np.full((200, 200, 3), 70, np.uint8)
    ref[60:130, 60:130] = (255, 215, 215)  # the tinted face, elsewhere and at another size
    # the distances the pipeline compares, computed here with the same models
    with InferencePool(work["models"]) as pool:
        det, rec = FaceDetector(pool, "yolo_face"), FaceRecognizer(pool)
        _, r = rec.embed(ref, det.detect(ref)[0].landmarks5)
        faces = sorted(det.detect(target), key=lambda f: f.box[0])  # large (left), tinted (right)
        dist = [1 - float(rec.embed(target, f.landmarks5)[1] @ r) for f in faces]
    assert dist[1] < dist[0]
    out = tmp_path / "out.png"
    kw = dict(models_dir=work["models"], detector="yolo_face", blend="alpha", color=None, faces="reference",
              reference=ref, progress=False)
    ff.swap_video(work["face"], tgt, out, reference_distance=2.0, **kw)
    img = cv2.imread(str(out))
    assert (inverted(img, 40, 140, 20, 120), inverted(img, 150, 200, 200, 250)) == (False, True)
    # a threshold below the closest distance: no face is the reference person
    res = ff.swap_video(work["face"], tgt, out, reference_distance=dist[1] * 0.5, **kw)
    assert res.faces_swapped == 0
    assert np.abs(cv2.imread(str(out)).astype(int) - target.astype(int)).max() <= 1


# ----------------------------------------------------------------------------- errors

def test_wrong_signature_model_is_a_clear_error_and_writes_nothing(work, tmp_path) -> None:
    models = build_models(tmp_path / "m", detectors=("scrfd",), others=("arcface_w600k_r50",))
    # a recogniser file under the swapper's name: loads, but its inputs are not the swapper's
    (models / "inswapper_128.onnx").write_bytes((models / "arcface_w600k_r50.onnx").read_bytes())
    out = tmp_path / "o.mp4"
    with pytest.raises(ModelError, match="inswapper_128.onnx") as ei:
        ff.swap_video(work["face"], work["clip"], out, models_dir=models, **FAST)
    assert "expected" in str(ei.value)
    assert not out.exists() and leftovers(tmp_path, {"m"}) == []


def test_missing_model_names_the_file(work, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("FACEFUSE_MODELS", raising=False)
    models = build_models(tmp_path / "m", detectors=("scrfd",), others=("arcface_w600k_r50",))
    with pytest.raises(ModelNotFoundError, match="inswapper_128.onnx"):
        ff.swap_video(work["face"], work["clip"], tmp_path / "o.mp4", models_dir=models, **FAST)
    assert leftovers(tmp_path, {"m"}) == []


def test_corrupt_video_is_a_clear_error_and_leaves_no_file(work, tmp_path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    out = tmp_path / "o.mp4"
    with pytest.raises(VideoError, match="bad.mp4"):
        ff.swap_video(work["face"], bad, out, models_dir=work["models"], **FAST)
    assert leftovers(tmp_path, {"bad.mp4"}) == []


def test_truncated_video_is_a_clear_error_and_leaves_no_file(work, tmp_path) -> None:
    full = make_clip(tmp_path / "full.mp4", audio=False, faststart=True)  # index first: the cut loses frames
    data = full.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "o.mp4"
    with pytest.raises(VideoError, match="cut.mp4"):
        ff.swap_video(work["face"], cut, out, models_dir=work["models"], **FAST)
    assert leftovers(tmp_path, {"full.mp4", "cut.mp4"}) == []


def test_ctrl_c_leaves_no_half_file(work, tmp_path) -> None:
    out = tmp_path / "o.mp4"

    def interrupt(done, total):
        if done == 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ff.swap_video(work["face"], work["clip"], out, models_dir=work["models"], detector="scrfd",
                      detector_size=320, progress=interrupt, preset="ultrafast")
    assert leftovers(tmp_path) == []


def test_no_face_in_source(work, tmp_path) -> None:
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((100, 100, 3), 50, np.uint8))
    with pytest.raises(ValueError, match="no face found in the source"):
        ff.swap_video(blank, work["clip"], tmp_path / "o.mp4", models_dir=work["models"], **FAST)
    assert leftovers(tmp_path, {"blank.png"}) == []


@pytest.mark.parametrize("kw,match", [
    (dict(blend="feather"), "'blend'"),
    (dict(color="rgb"), "'color'"),
    (dict(faces="one"), "'faces'"),
    (dict(face_index=-1), "'face_index'"),
    (dict(score_threshold=1.5), "'score_threshold'"),
    (dict(detector="yolo"), "'detector'.*yolo_face"),
    (dict(swapper="inswapper"), "'swapper'.*inswapper_128"),
])
def test_bad_arguments_name_the_argument(work, tmp_path, kw, match) -> None:
    with pytest.raises(ValueError, match=match):
        ff.swap_video(work["face"], work["clip"], tmp_path / "o.mp4", models_dir=work["models"], **kw)


def test_output_kind_must_match_target(work, tmp_path) -> None:
    with pytest.raises(ValueError, match="'output' must be a video"):
        ff.swap_video(work["face"], work["clip"], tmp_path / "o.png", models_dir=work["models"])
    with pytest.raises(ValueError, match="same file"):
        ff.swap_video(work["face"], work["clip"], work["clip"], models_dir=work["models"])


def test_pool_passed_in_is_kept_open(work, tmp_path) -> None:
    img = tmp_path / "t.png"
    cv2.imwrite(str(img), clip_frame(5))
    pool = InferencePool(work["models"])
    ff.swap_video(work["face"], img, tmp_path / "o.png", pool=pool, detector="yolo_face", progress=False)
    assert "inswapper_128.onnx" in pool and "yoloface_8n.onnx" in pool
    pool.close()
    with pytest.raises(ValueError, match="'models_dir'"):
        ff.swap_video(work["face"], img, tmp_path / "o.png", pool=pool, models_dir=work["models"])


def test_import_facefuse_stays_light() -> None:
    code = ("import sys, facefuse; heavy = [m for m in ('onnxruntime', 'av', 'onnx') if m in sys.modules]; "
            "assert not heavy, heavy; assert callable(facefuse.swap_video); "
            "assert 'onnxruntime' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------- FrameSwapper on its own

@pytest.fixture(scope="module")
def frame_models(work):
    from facefuse.models.detector import FaceDetector
    from facefuse.models.swapper import FaceSwapper

    pool = InferencePool(work["models"])
    det, swp = FaceDetector(pool, "scrfd", size=320), FaceSwapper(pool)
    yield det, swp, np.ones((1, 512), np.float32)
    pool.close()


def test_scene_cut_restarts_the_track(frame_models) -> None:
    from facefuse.pipeline import FrameSwapper

    det, swp, latent = frame_models
    fs = FrameSwapper(det, swp, latent, faces="all", blend="alpha", color=None)
    ids = []
    for i in range(12):
        img = background() if i < 6 else 255 - background()  # a new shot from frame 6 on
        img[Y0:Y0 + SIDE, 60 + i:60 + i + SIDE] = 255  # the square barely moves: IoU alone would keep its id
        fs(img, i, i / FPS)
        ids.append(fs.last_faces[0].track_id)
    assert ids[:6] == [ids[0]] * 6 and ids[6:] == [ids[6]] * 6 and ids[6] != ids[0]
    assert fs.faces_swapped == 12 and fs.smoother.num_tracks == 1  # the old track was forgotten


def test_index_mode_follows_its_track(frame_models) -> None:
    from facefuse.pipeline import FrameSwapper

    det, swp, latent = frame_models
    fs = FrameSwapper(det, swp, latent, faces="index", face_index=0, face_order="large-small",
                      blend="alpha", color=None)
    picked = []
    for i in range(10):
        img = np.full((H, W, 3), 60, np.uint8)
        a, b = 90 - 4 * i, 54 + 4 * i  # the left square shrinks, the right one grows: sizes cross at i = 4.5
        img[40:40 + a, 20:20 + a] = 255
        img[40:40 + b, 180:180 + b] = 255
        fs(img, i, i / FPS)
        (f,) = fs.last_faces
        picked.append("left" if f.box[0] < 160 else "right")
    assert picked == ["left"] * 10  # the face chosen on frame 0 stays chosen
    fresh = FrameSwapper(det, swp, latent, faces="index", face_index=0, blend="alpha", color=None)
    fresh(img, 0, 0.0)
    assert fresh.last_faces[0].box[0] > 160  # on the last frame alone the right one is the largest


def test_crops_of_several_frames_go_through_the_swapper_together(work, tmp_path, monkeypatch) -> None:
    from facefuse.models.swapper import FaceSwapper

    sizes: list = []
    slow = [0.0]
    real = FaceSwapper.swap

    def counting(self, crops, latent):
        sizes.append(len(crops))
        # a model slower than detection (as on a real swapper): planned frames queue up
        # while it runs, and the next batch takes them (only where batches are asked for)
        time.sleep(slow[0])
        return real(self, crops, latent)

    monkeypatch.setattr(FaceSwapper, "swap", counting)
    outs = {}
    for batch in (1, 4):
        sizes.clear()
        slow[0] = 0.0 if batch == 1 else 0.15
        out = tmp_path / f"b{batch}.mp4"
        res = ff.swap_video(work["face"], work["clip"], out, models_dir=work["models"], faces="all", blend="alpha",
                            color=None, frame_batch=batch, **FAST)
        assert res.faces_swapped == SECONDS * FPS
        assert sum(sizes) == SECONDS * FPS  # every target crop went through the swapper once
        with VideoReader(out) as r:
            outs[batch] = [f.image for f in r]
        if batch == 1:
            assert max(sizes) == 1
        else:
            assert max(sizes) > 1 and max(sizes) <= 4  # frames already decoded were batched
    assert all(np.array_equal(a, b) for a, b in zip(outs[1], outs[4]))


def test_process_video_batches_hand_lists(work, tmp_path) -> None:
    from facefuse.video import process_video

    seen: list = []

    def fn(images, indices, timestamps):
        assert isinstance(images, list) and len(images) == len(indices) == len(timestamps)
        seen.append(list(indices))
        return [255 - im for im in images]

    n = process_video(work["clip"], tmp_path / "o.mp4", fn, batch_size=3, preset="ultrafast", crf=4)
    assert n == SECONDS * FPS
    flat = [i for b in seen for i in b]
    assert flat == list(range(SECONDS * FPS)) and max(len(b) for b in seen) <= 3
    with VideoReader(tmp_path / "o.mp4") as r:
        first = next(iter(r)).image.astype(int)
    assert np.abs(first - (255 - work["decoded"][0].astype(int))).mean() < 3
    with pytest.raises(TypeError, match="list of"):
        process_video(work["clip"], tmp_path / "p.mp4", lambda im, i, t: im[0], batch_size=2)  # not a list
    assert not (tmp_path / "p.mp4").exists()
    with pytest.raises(ValueError, match="'batch_size'"):
        process_video(work["clip"], tmp_path / "p.mp4", fn, batch_size=0)


def test_reference_frame_without_a_face_says_what_to_do(work, tmp_path) -> None:
    tgt = tmp_path / "empty.png"
    cv2.imwrite(str(tgt), background())
    with pytest.raises(ValueError, match="no face found in the target image.*reference"):
        ff.swap_video(work["face"], tgt, tmp_path / "o.png", models_dir=work["models"], **FAST)
    res = ff.swap_video(work["face"], tgt, tmp_path / "o.png", models_dir=work["models"], faces="all", **FAST)
    assert res.faces_swapped == 0 and (tmp_path / "o.png").exists()


def test_frame_swapper_checks_its_arguments(frame_models) -> None:
    from facefuse.pipeline import FrameSwapper

    det, swp, latent = frame_models
    with pytest.raises(ValueError, match="'faces'"):
        FrameSwapper(det, swp, latent, faces="many")
    with pytest.raises(ValueError, match="'recognizer'"):
        FrameSwapper(det, swp, latent, faces="reference")
    with pytest.raises(ValueError, match="'face_index'"):  # -1 used to pick the last face silently
        FrameSwapper(det, swp, latent, faces="index", face_index=-1)
    with pytest.raises(ValueError, match="'latent'"):  # used to fail only at the first swap
        FrameSwapper(det, swp, latent[:, :256], faces="all")


def test_own_pool_is_closed_even_on_error(work, tmp_path, monkeypatch) -> None:
    closed: list = []
    real = InferencePool.close

    def close(self):
        closed.append(len(self))
        real(self)

    monkeypatch.setattr(InferencePool, "close", close)
    img = tmp_path / "t.png"
    cv2.imwrite(str(img), clip_frame(5))
    ff.swap_video(work["face"], img, tmp_path / "o.png", models_dir=work["models"], detector="yolo_face",
                  progress=False)
    assert closed == [3]  # detector, recogniser, swapper sessions released
    with pytest.raises(VideoError):
        bad = tmp_path / "bad.mp4"
        bad.write_bytes(b"garbage" * 50)
        ff.swap_video(work["face"], bad, tmp_path / "o.mp4", models_dir=work["models"], **FAST)
    assert len(closed) == 2


def test_warmup_frames_are_tracked_but_not_swapped_or_reported(work, tmp_path) -> None:
    # warm-up frames (before start_frame) only bring tracks and smoother to their state; their
    # output is dropped, so they must not be swapped, counted or put in the quality report
    out = tmp_path / "chunk.mp4"
    res = ff.swap_video(work["face"], work["clip"], out, models_dir=work["models"], faces="all",
                        start_frame=6, stop_frame=10, warmup_frames=6, **FAST)
    assert res.frames == 4
    assert 0 < res.frames_with_swap <= 4
    assert res.quality["count"] == 4
