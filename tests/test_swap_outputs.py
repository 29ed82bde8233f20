"""What `facefuse swap` says when an output cannot be written, and which flag a bad value names.

A full disk is simulated: the write raises ``OSError(ENOSPC)`` (no real full disk needed).
"""
from __future__ import annotations

import errno
import os

import numpy as np
import pytest

pytest.importorskip("av")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

import cv2  # noqa: E402

import facefuse as ff  # noqa: E402
from facefuse.cli import main  # noqa: E402
from facefuse.pipeline import swap_images as swap_module  # noqa: E402
from pipeline_clips import FAST, build_models, clip_frame, make_clip, source_face  # noqa: E402

@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("swap_outputs")
    models = build_models(d / "models", detectors=("scrfd", "yolo_face"))
    return {"dir": d, "models": models, "clip": make_clip(d / "clip.mp4", seconds=0.4, audio=False),
            "face": source_face(d / "face.png")}


def _swap(work, target, out, *extra) -> int:
    return main(["swap", "-s", str(work["face"]), "-t", str(target), "-o", str(out),
                 "--models-dir", str(work["models"]), *FAST, *extra])


class _FullDisk:
    """A file object whose writes fail as on a full disk."""

    def __init__(self, path, mode="r", *a, **k):
        self.f = open(path, mode, *a, **k)

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def test_full_disk_writing_an_image_names_the_path(work, tmp_path, capsys, monkeypatch) -> None:
    # was: "cannot write the image ... (extension not supported?)" (cv2.imwrite's False)
    target = tmp_path / "t.png"
    cv2.imwrite(str(target), clip_frame(3))
    out = tmp_path / "o.png"
    monkeypatch.setattr(swap_module, "open", _FullDisk, raising=False)
    assert _swap(work, target, out) == 2
    err = capsys.readouterr().err
    assert err.startswith("facefuse swap: error: ") and err.count("\n") == 1
    assert str(out) in err and "No space left on device" in err and "extension" not in err
    assert sorted(os.listdir(tmp_path)) == ["t.png"]  # no partial or temporary file
    with pytest.raises(OSError, match="No space left on device") as ei:
        ff.swap_video(work["face"], target, out, models_dir=work["models"], detector="scrfd", detector_size=320,
                      progress=False)
    assert ei.value.errno == errno.ENOSPC


def test_image_encoder_failure_names_the_image(work, tmp_path, monkeypatch) -> None:
    # an encoder that fails (not the disk) is told apart from a failed write
    target = tmp_path / "t.png"
    cv2.imwrite(str(target), clip_frame(3))
    monkeypatch.setattr(cv2, "imencode", lambda ext, img, *a: (False, None))
    with pytest.raises(ValueError, match=r"cannot encode the image '.*o\.png' as \.png"):
        ff.swap_video(work["face"], target, tmp_path / "o.png", models_dir=work["models"], detector="scrfd",
                      detector_size=320, progress=False)
    assert sorted(os.listdir(tmp_path)) == ["t.png"]


def test_full_disk_for_the_quality_report_says_the_video_was_kept(work, tmp_path, capsys, monkeypatch) -> None:
    # was: "[Errno 28] No space left on device": no path, nothing about the video already written
    from facefuse.ops import QualityMonitor

    def full(self, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(QualityMonitor, "to_json", full)
    out, rep = tmp_path / "o.mp4", tmp_path / "q.json"
    assert _swap(work, work["clip"], out, "--quality-report", str(rep)) == 2
    err = capsys.readouterr().err
    assert err.startswith("facefuse swap: error: ") and err.count("\n") == 1
    assert str(rep) in err and "No space left on device" in err
    assert f"the video {str(out)!r} was written and kept" in err
    assert sorted(os.listdir(tmp_path)) == ["o.mp4"]  # the video, and no partial report


def test_quality_plot_failure_keeps_video_and_report(work, tmp_path, monkeypatch) -> None:
    from facefuse.ops import QualityMonitor

    def denied(self, path, title=""):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(QualityMonitor, "plot", denied)
    out, rep, plot = tmp_path / "o.mp4", tmp_path / "q.json", tmp_path / "q.png"
    with pytest.raises(PermissionError) as ei:
        ff.swap_video(work["face"], work["clip"], out, models_dir=work["models"], detector="scrfd",
                      detector_size=320, progress=False, preset="ultrafast", quality_report=rep, quality_plot=plot)
    msg = str(ei.value)
    assert ei.value.errno == errno.EACCES and str(plot) in msg and "Permission denied" in msg
    assert f"the video {str(out)!r} and the quality report {str(rep)!r} were written and kept" in msg
    assert sorted(os.listdir(tmp_path)) == ["o.mp4", "q.json"]


@pytest.mark.parametrize("extra,flag", [
    (["--detector-size", "100000"], "--detector-size"),  # was: "argument 'size'" (FaceDetector's name)
    (["--detector-size", "100"], "--detector-size"),
    (["--detector", "yolo_face", "--detector-size", "320"], "--detector-size"),  # file fixed at 640
    (["--face-index", "-3"], "--face-index"),
    (["--reference-image", "/nonexistent/r.png"], "--reference-image"),
])
def test_cli_errors_name_the_flag(work, tmp_path, capsys, extra, flag) -> None:
    out = tmp_path / "o.mp4"
    assert _swap(work, work["clip"], out, *extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("facefuse swap: error: ") and err.count("\n") == 1
    assert f"argument {flag}" in err and "'size'" not in err and "size=" not in err
    assert os.listdir(tmp_path) == []


def test_detector_size_names_the_python_argument(work, tmp_path) -> None:
    kw = dict(models_dir=work["models"], progress=False)
    for size in (100000, 100, 16):
        with pytest.raises(ValueError, match=r"argument 'detector_size' must be a multiple of 32 in \[32, 4096\]"):
            ff.swap_video(work["face"], work["clip"], tmp_path / "o.mp4", detector="scrfd", detector_size=size, **kw)
    with pytest.raises(ValueError, match="argument 'detector_size' is 320 but .*yoloface_8n.onnx.* 640") as ei:
        ff.swap_video(work["face"], work["clip"], tmp_path / "o.mp4", detector="yolo_face", detector_size=320, **kw)
    assert "'size'" not in str(ei.value)
    assert os.listdir(tmp_path) == []


def test_image_target_still_written(work, tmp_path) -> None:
    target = tmp_path / "t.jpg"
    cv2.imwrite(str(target), clip_frame(3))
    res = ff.swap_video(work["face"], target, tmp_path / "o.jpg", models_dir=work["models"], detector="scrfd",
                        detector_size=320, progress=False, blend="alpha", color=None)
    img = cv2.imread(str(tmp_path / "o.jpg"))
    assert res.faces_swapped == 1 and img.shape == clip_frame(3).shape
    assert np.abs(img.astype(int) - clip_frame(3).astype(int)).max() > 100  # the square was inverted
