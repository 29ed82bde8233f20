"""Regression guard of the pipeline layer: `facefuse swap` (video and image), `facefuse
lipsync` and `facefuse batch` (chunked) on the stand-in models give outputs whose decoded
frames, timestamps and audio are bit for bit those recorded in tests/golden/pipeline_outputs.json.

Recorded before the pipeline engine refactor (issue 13), so a reshaping of the engine,
the processors, the reader or the writer that changes one pixel or one timestamp fails
here. The digests depend on the decoder / encoder / ONNX Runtime / OpenCV builds: with
other versions than the recorded ones (CI_LATEST) the comparison is skipped, saying so.
Re-record (only when an output change is intended, and say why in the commit):
``FACEFUSE_UPDATE_GOLDEN=1 python -m pytest tests/test_pipeline_golden.py``.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")

GOLDEN = Path(__file__).parent / "golden" / "pipeline_outputs.json"
UPDATE = os.environ.get("FACEFUSE_UPDATE_GOLDEN") == "1"


def _versions() -> dict:
    import av
    import cv2
    import onnxruntime

    return {"av": av.__version__, "ffmpeg": ".".join(map(str, av.library_versions["libavcodec"])),
            "onnxruntime": onnxruntime.__version__, "opencv": cv2.__version__, "numpy": np.__version__}


def _media_digest(path: Path) -> dict:
    """sha256 of every decoded video frame (BGR) and audio frame (samples), with the pts."""
    import av

    v, a = hashlib.sha256(), hashlib.sha256()
    n = 0
    pts = []
    with av.open(str(path)) as c:
        streams = [s for s in (c.streams.video[:1] + c.streams.audio[:1])]
        for frame in c.decode(*streams):
            if isinstance(frame, av.VideoFrame):
                v.update(frame.to_ndarray(format="bgr24").tobytes())
                pts.append(int(frame.pts))
                n += 1
            else:
                a.update(frame.to_ndarray().tobytes())
    return {"frames": n, "video": v.hexdigest()[:24], "pts": hashlib.sha256(str(pts).encode()).hexdigest()[:16],
            "audio": a.hexdigest()[:24]}


def _file_digest(path: Path) -> dict:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return {"shape": list(img.shape), "pixels": hashlib.sha256(img.tobytes()).hexdigest()[:24]}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    import cv2
    from facefuse.cli import main
    from facefuse.testing.detector_models import build_yolo_face
    from facefuse.testing.diff2lip_model import build_diff2lip
    from facefuse.testing.media import synth_speech, write_audio, write_clip
    from pipeline_clips import FAST, build_models, clip_frame, make_clip, source_face

    d = tmp_path_factory.mktemp("golden")
    models = build_models(d / "models")
    build_diff2lip(models)
    build_yolo_face(models)
    clip = make_clip(d / "clip.mp4", seconds=2)
    face = source_face(d / "face.png")
    cv2.imwrite(str(d / "frame.png"), clip_frame(7))
    write_clip(d / "talk.mp4", 1.2, size=(160, 120), square=48)
    write_audio(d / "speech.wav", synth_speech(1.0, seed=2), 16000)  # shorter: cuts the video
    m = ["--models-dir", str(models)]
    runs = {
        "swap_video": ["swap", "-s", str(face), "-t", str(clip), "-o", str(d / "swap.mp4"), "--faces", "all",
                       *FAST, *m],
        "swap_video_alpha_reference": ["swap", "-s", str(face), "-t", str(clip), "-o", str(d / "swap_ref.mp4"),
                                       "--blend", "alpha", "--color", "none", "--reference-frame", "3", *FAST, *m],
        "swap_image": ["swap", "-s", str(face), "-t", str(d / "frame.png"), "-o", str(d / "swap.png"),
                       "--faces", "all", *FAST, *m],
        "lipsync": ["lipsync", "-v", str(d / "talk.mp4"), "-a", str(d / "speech.wav"), "-o", str(d / "lip.mp4"),
                    "--steps", "3", "--batch-size", "4", "--preset", "ultrafast", "--no-progress", *m],
    }
    for name, argv in runs.items():
        assert main(argv) == 0, name
    job = {"kind": "swap", "inputs": {"source": str(face), "target": str(clip)},
           "options": {"detector": "scrfd", "detector_size": 320, "preset": "ultrafast", "faces": "all"}}
    (d / "jobs.jsonl").write_text(json.dumps(dict(job, output=str(d / "batch.mp4"), chunk_seconds=0.6)) + "\n")
    assert main(["batch", str(d / "jobs.jsonl"), "--workers", "1", "--warmup-frames", "10",
                 *m]) == 0
    got = {k: _media_digest(d / f) for k, f in (("swap_video", "swap.mp4"),
                                                ("swap_video_alpha_reference", "swap_ref.mp4"),
                                                ("lipsync", "lip.mp4"), ("batch_chunked", "batch.mp4"))}
    got["swap_image"] = _file_digest(d / "swap.png")
    return got


def test_pipeline_outputs_match_the_recorded_ones(outputs):
    versions = _versions()
    if UPDATE:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps({"versions": versions, "outputs": outputs}, indent=1, sort_keys=True) + "\n")
    recorded = json.loads(GOLDEN.read_text())
    if recorded["versions"] != versions:
        pytest.skip(f"digests recorded with {recorded['versions']}, this is {versions}")
    assert set(outputs) == set(recorded["outputs"])
    for name, want in recorded["outputs"].items():
        assert outputs[name] == want, name
    # the runs did something: swapped frames differ from the input, lip sync was cut to the audio
    assert outputs["swap_video"]["frames"] == 50 and outputs["batch_chunked"]["frames"] == 50
    assert outputs["lipsync"]["frames"] < 30
