"""The README's quick-start snippets run as written (docs that match the code).

The snippets read images from disk and use a detector's output; the test supplies
those from the astronaut photo and a synthetic landmark track.
"""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_snippets() -> None:
    assert len(_python_blocks()) >= 5


def test_readme_snippets_run(astronaut_bgr, monkeypatch, tmp_path) -> None:
    rng = np.random.default_rng(0)
    flipped = np.ascontiguousarray(astronaut_bgr[:, ::-1])
    images = {"target_frame.jpg": astronaut_bgr, "swapped_face.jpg": flipped}
    real_imread = cv2.imread
    monkeypatch.setattr(cv2, "imread",
                        lambda path, *a: images[path].copy() if path in images else real_imread(path, *a))
    monkeypatch.chdir(tmp_path)

    base = rng.uniform(100, 400, (68, 2)).astype(np.float32)
    track = [base + np.float32(k) for k in range(12)]
    frames = [np.roll(astronaut_bgr, k, axis=1) for k in range(12)]
    ns: dict = {
        "detections": [(np.stack([t, t + 50]), [0, 1]) for t in track],
        "fps": 25.0,
        "landmarks_68x2": track[0],
        "prev_out": frames[0],
        "cur_out": frames[1],
        "outputs": frames,
        "sources": frames,
        "face_boxes": [(150, 80, 200, 220)] * len(frames),
        "landmarks": track,
        "tracks": np.stack(track),
        # paste-back: five landmarks on the photo's face and a 512 alignment template
        "landmarks5": np.float32([[190, 120], [240, 118], [217, 150], [195, 178], [238, 176]]),
        "template_512": np.float32([[192, 240], [320, 240], [256, 314], [202, 376], [310, 376]]),
        "affine2": np.float64([[1.2, 0.1, -350.0], [-0.1, 1.2, -90.0]]),
        "face": flipped,
        "temp_vision_frame": astronaut_bgr,
        "crop_vision_frame": flipped,
        "affine_matrix": np.float64([[1.0, 0.0, -100.0], [0.0, 1.0, -50.0]]),
        "face_crop": flipped,
    }
    # a 1-second clip with audio for the streaming snippet
    import av

    clip = tmp_path / "clip.mp4"
    with av.open(str(clip), "w") as c:
        vs = c.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        aus = c.add_stream("aac", rate=16000)
        for k in range(25):
            img = np.full((48, 64, 3), 10 * k, np.uint8)
            for p in vs.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                c.mux(p)
        tone = (0.2 * np.sin(np.arange(16000) / 16000 * 2 * np.pi * 440)).astype(np.float32)[None]
        af = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        af.sample_rate = 16000
        for p in aus.encode(af):
            c.mux(p)
        for s in (vs, aus):
            for p in s.encode(None):
                c.mux(p)
    ns["video_path"] = str(clip)

    # face swap / lip sync: stand-in models where the snippets look (~ = tmp_path), a source
    # face and a target clip the stand-in detector finds a face in, a speech track
    from facefuse.testing import write_models
    from facefuse.testing.media import synth_speech, write_audio, write_clip

    monkeypatch.setenv("HOME", str(tmp_path))
    for models in ("facefusion/.assets/models", ".facefuse/models"):
        write_models(tmp_path / models, ["yolo_face", "arcface_w600k_r50", "inswapper_128", "diff2lip"])
    source = np.full((160, 160, 3), 40, np.uint8)
    source[30:130, 30:130] = 235
    cv2.imwrite(str(tmp_path / "face.jpg"), source)
    write_clip(tmp_path / "video.mp4", 1.0, size=(160, 120), square=64, audio=synth_speech(1.0), audio_rate=16000)
    write_audio(tmp_path / "speech.wav", synth_speech(1.0), 16000)

    for block in _python_blocks():
        exec(compile(block, str(README), "exec"), ns)  # noqa: S102

    assert ns["one"].shape == (68, 2) and ns["smooth"].shape == (2, 68, 2)
    assert ns["matched"].shape == astronaut_bgr.shape and ns["matched"].dtype == np.uint8
    assert np.isfinite(ns["db"]) and ns["db"] > 0
    assert (tmp_path / "quality.json").stat().st_size > 0
    assert (tmp_path / "quality.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert ns["nmj"] >= 0
    assert ns["seamless"].shape == astronaut_bgr.shape
    assert (tmp_path / "out.mp4").stat().st_size > 0
    assert ns["out"].shape == astronaut_bgr.shape  # the blender's output, last
    assert not np.array_equal(ns["frame"], astronaut_bgr)  # pasted in place (out=frame)
    assert ns["result"].frames == 25 and ns["result"].faces_swapped == 25
    assert (tmp_path / "q.json").stat().st_size > 0
    assert ns["r"].frames == 25 and ns["r"].frames_synced == 25
    assert (tmp_path / "synced.mp4").stat().st_size > 0
