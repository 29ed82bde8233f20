"""Outputs keep what the input had: an odd frame size (or say why not), an image's alpha channel."""
from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest

av = pytest.importorskip("av")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

import cv2  # noqa: E402

import facefuse as ff  # noqa: E402
from facefuse.cli import main  # noqa: E402
from facefuse.video import VideoReader, VideoWriter, process_video, size_change_note  # noqa: E402
from pipeline_clips import build_models, clip_frame, source_face  # noqa: E402

OW, OH = 321, 241  # an odd frame size


def odd_clip(path, frames: int = 6, pix_fmt: str = "yuv420p"):
    """A lossless FFV1 clip of OW x OH frames in 4:2:0 (FFV1 holds odd sizes; the output keeps the
    input's pixel format, so 4:2:0 is what H.264 then cannot hold) with the moving bright square."""
    with av.open(str(path), "w") as c:
        vs = c.add_stream("ffv1", rate=25)
        vs.width, vs.height, vs.pix_fmt = OW, OH, pix_fmt
        for i in range(frames):
            img = np.zeros((OH, OW, 3), np.uint8)
            img[:240, :320] = clip_frame(i)
            c.mux(vs.encode(av.VideoFrame.from_ndarray(img, format="bgr24")))
        c.mux(vs.encode(None))
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("fidelity")
    return {"dir": d, "models": build_models(d / "models"), "face": source_face(d / "face.png"),
            "odd": odd_clip(d / "odd.mkv")}


def _size(path):
    with VideoReader(path) as r:
        return r.width, r.height


# ------------------------------------------------------------------------- odd sizes

@pytest.mark.parametrize("codec,pix_fmt", [("mpeg4", "yuv420p"), ("libx264", "yuv444p"), ("ffv1", "yuv420p")])
def test_writer_keeps_an_odd_size_the_encoder_takes(tmp_path, codec, pix_fmt) -> None:
    # was padded to 322 x 242 whenever pix_fmt was 4:2:0, whatever the encoder could take
    dst = tmp_path / ("o.mkv" if codec == "ffv1" else "o.mp4")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no warning
        with VideoWriter(dst, 25, OW, OH, codec=codec, pix_fmt=pix_fmt, crf=0, preset="ultrafast") as w:
            assert (w.encoded_width, w.encoded_height) == (OW, OH) and w.size_note is None
            img = np.zeros((OH, OW, 3), np.uint8)
            img[:240, :320] = clip_frame(0)
            w.write(img)
    assert _size(dst) == (OW, OH)
    assert size_change_note(OW, OH, codec=codec, pix_fmt=pix_fmt, crf=0, preset="ultrafast") is None


def test_writer_pads_for_h264_420_and_says_so(tmp_path) -> None:
    with pytest.warns(UserWarning, match=r"321x241 .*322x242") as rec:
        w = VideoWriter(tmp_path / "o.mp4", 25, OW, OH, preset="ultrafast")
    with w:
        w.write(np.zeros((OH, OW, 3), np.uint8))
    note = str(rec[0].message)
    assert w.size_note == note and "libx264" in note and "yuv420p" in note and "yuv444p" in note
    assert _size(tmp_path / "o.mp4") == (322, 242)
    assert size_change_note(OW, OH, preset="ultrafast") == note
    assert size_change_note(OW, 240) is not None and "last column" in size_change_note(OW, 240)
    assert size_change_note(320, 240) is None
    with pytest.raises(ValueError, match="even"):
        VideoWriter(tmp_path / "p.mp4", 25, OW, OH, pad_odd=False)
    assert sorted(os.listdir(tmp_path)) == ["o.mp4"]


def test_process_video_keeps_the_odd_size_where_it_can(work, tmp_path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert process_video(work["odd"], tmp_path / "k.mp4", lambda f, i, t: f, codec="libx264",
                             pix_fmt="yuv444p", crf=0, preset="ultrafast") == 6
    assert _size(tmp_path / "k.mp4") == (OW, OH)
    with pytest.warns(UserWarning, match="321x241"):
        process_video(work["odd"], tmp_path / "p.mp4", lambda f, i, t: f, preset="ultrafast")
    assert _size(tmp_path / "p.mp4") == (322, 242)


def test_swap_says_when_the_size_changes(work, tmp_path, capsys) -> None:
    # a 321x241 video came out 322x242 with no message
    out = tmp_path / "o.mp4"
    rc = main(["swap", "-s", str(work["face"]), "-t", str(work["odd"]), "-o", str(out), "--models-dir",
               str(work["models"]), "--detector", "scrfd", "--detector-size", "320", "--preset", "ultrafast",
               "--no-progress", "--faces", "all", "--json"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    warn = [ln for ln in cap.err.splitlines() if ln.startswith("facefuse swap: warning: ")]
    assert len(warn) == 1 and "321x241" in warn[0] and "322x242" in warn[0]
    assert "UserWarning" not in cap.err  # said once, as the CLI's own line
    doc = json.loads(cap.out)
    assert len(doc["warnings"]) == 1 and "322x242" in doc["warnings"][0]
    assert _size(out) == (322, 242)

    res = ff.swap_video(work["face"], work["odd"], tmp_path / "k.mkv", models_dir=work["models"], detector="scrfd",
                        detector_size=320, progress=False, faces="all", codec="ffv1")
    assert res.warnings == [] and _size(tmp_path / "k.mkv") == (OW, OH)


def test_lipsync_says_when_the_size_changes(tmp_path) -> None:
    from facefuse.testing.detector_models import build_yolo_face
    from facefuse.testing.diff2lip_model import build_diff2lip
    from facefuse.testing.media import synth_speech, write_audio, write_clip

    models = tmp_path / "models"
    build_diff2lip(models)
    build_yolo_face(models)
    write_clip(tmp_path / "even.mp4", 0.2, size=(322, 242))
    write_audio(tmp_path / "a.wav", synth_speech(0.3), 16000)
    with VideoReader(tmp_path / "even.mp4") as r:
        frames = [f.image[:OH, :OW] for f in r]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with VideoWriter(tmp_path / "odd.mkv", 25, OW, OH, codec="ffv1", pix_fmt="yuv420p") as w:
            for f in frames:
                w.write(np.ascontiguousarray(f))
    with pytest.warns(UserWarning, match="321x241"):
        res = ff.lipsync_video(tmp_path / "odd.mkv", tmp_path / "a.wav", tmp_path / "o.mp4", models_dir=models,
                               providers="cpu", steps=1, spacing="even", preset="ultrafast")
    notes = [n for n in res.warnings if "321x241" in n]
    assert len(notes) == 1 and "322x242" in notes[0]
    assert _size(tmp_path / "o.mp4") == (322, 242)


# ------------------------------------------------------------------------- alpha

def _rgba_target(path) -> np.ndarray:
    bgra = np.dstack([clip_frame(3), np.tile(np.linspace(0, 255, 320).astype(np.uint8), (240, 1))])
    bgra[:10, :10, 3] = 0  # fully transparent corner
    assert cv2.imwrite(str(path), bgra)
    return bgra


@pytest.mark.parametrize("ext", [".png", ".webp", ".tiff"])
def test_rgba_image_target_keeps_its_alpha(work, tmp_path, ext) -> None:
    # the alpha channel was dropped: the output was 3-channel
    bgra = _rgba_target(tmp_path / "t.png")
    out = tmp_path / f"o{ext}"
    res = ff.swap_video(work["face"], tmp_path / "t.png", out, models_dir=work["models"], detector="scrfd",
                        detector_size=320, progress=False, faces="all", blend="alpha", color=None)
    got = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert res.faces_swapped == 1 and res.warnings == []
    assert got.shape == (240, 320, 4)
    np.testing.assert_array_equal(got[..., 3], bgra[..., 3])  # alpha untouched
    sq = got[80 + 8:144 - 8, 3 * 3 + 40 + 8:3 * 3 + 104 - 8, :3]
    assert sq.astype(int).mean() < 60  # the bright square was swapped (inverted)
    if ext != ".webp":  # lossless: outside the face, the colour is the target's
        np.testing.assert_array_equal(got[200:, :, :3], bgra[200:, :, :3])


def test_rgba_target_to_jpeg_says_the_alpha_is_dropped(work, tmp_path, capsys) -> None:
    _rgba_target(tmp_path / "t.png")
    out = tmp_path / "o.jpg"
    rc = main(["swap", "-s", str(work["face"]), "-t", str(tmp_path / "t.png"), "-o", str(out), "--models-dir",
               str(work["models"]), "--detector", "scrfd", "--detector-size", "320", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "facefuse swap: warning: " in err and "alpha" in err and ".jpg" in err
    assert cv2.imread(str(out), cv2.IMREAD_UNCHANGED).shape == (240, 320, 3)


def test_grey_alpha_and_opaque_targets(work, tmp_path) -> None:
    # a grey + alpha PNG keeps its alpha too; an opaque RGB image gets no alpha channel
    grey = cv2.cvtColor(clip_frame(3), cv2.COLOR_BGR2GRAY)
    alpha = np.tile(np.linspace(255, 30, 240).astype(np.uint8)[:, None], (1, 320))
    with av.open(str(tmp_path / "ya.png"), "w") as c:
        s = c.add_stream("png", rate=1)
        s.width, s.height, s.pix_fmt = 320, 240, "ya8"
        rgba = np.dstack([grey, grey, grey, alpha])
        f = av.VideoFrame.from_ndarray(rgba, format="rgba").reformat(format="ya8")
        c.mux(s.encode(f))
        c.mux(s.encode(None))
    kw = dict(models_dir=work["models"], detector="scrfd", detector_size=320, progress=False, faces="all")
    ff.swap_video(work["face"], tmp_path / "ya.png", tmp_path / "o.png", **kw)
    got = cv2.imread(str(tmp_path / "o.png"), cv2.IMREAD_UNCHANGED)
    target = cv2.imread(str(tmp_path / "ya.png"), cv2.IMREAD_UNCHANGED)  # the alpha as stored
    assert got.shape == (240, 320, 4) and np.abs(target[..., 3].astype(int) - alpha).max() <= 1
    np.testing.assert_array_equal(got[..., 3], target[..., 3])

    cv2.imwrite(str(tmp_path / "rgb.png"), clip_frame(3))
    ff.swap_video(work["face"], tmp_path / "rgb.png", tmp_path / "o2.png", **kw)
    assert cv2.imread(str(tmp_path / "o2.png"), cv2.IMREAD_UNCHANGED).shape == (240, 320, 3)
