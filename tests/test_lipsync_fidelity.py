"""Lip sync keeps what the video had (issue 18): every frame at its own (VFR) time, its other
audio tracks sample-exact, the driving audio in the chosen track; bad track / rate / pixel
format flags exit 2 naming the flag."""
from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest

av = pytest.importorskip("av")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

import facefuse.pipeline.lipsync as P  # noqa: E402
from facefuse.cli import main  # noqa: E402
from facefuse.testing.detector_models import build_yolo_face  # noqa: E402
from facefuse.testing.diff2lip_model import build_diff2lip  # noqa: E402
from facefuse.testing.media import synth_speech, write_audio  # noqa: E402
from fidelity_clips import audio_packets, frame_times, make_clip  # noqa: E402

VFR = [sum(3000 if k % 2 == 0 else 6000 for k in range(i)) for i in range(24)]  # 1/30 s and 1/15 s frames


class NoFace:
    def detect(self, img: np.ndarray) -> list:
        return []


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("lipfid")
    build_diff2lip(d / "models")
    build_yolo_face(d / "models")
    write_audio(d / "speech.wav", synth_speech(2.0, seed=3), 16000)
    make_clip(d / "two.mp4", VFR, F(1, 90000), options={"preset": "ultrafast"},
              audio=[("aac", "eng", 440), ("aac", "deu", 660)])
    return d


def test_lipsync_keeps_times_and_the_other_track(media, tmp_path) -> None:
    out = tmp_path / "o.mp4"
    with pytest.warns(UserWarning, match="no face found in 24 of 24 frames"):
        r = P.lipsync_video(media / "two.mp4", media / "speech.wav", out, models_dir=media / "models",
                            providers="cpu", detector=NoFace(), steps=1, spacing="even", preset="ultrafast",
                            audio_track=1)
    assert r.frames == 24 and not r.cut
    assert frame_times(out) == frame_times(media / "two.mp4")
    a_in, a_out = audio_packets(media / "two.mp4"), audio_packets(out)
    assert [lang for lang, _, _ in a_out] == ["eng", "deu"]
    assert a_out[0][2] == a_in[0][2]  # the first track copied sample-exact
    assert a_out[1][2] != a_in[1][2]  # the second is the driving speech now


@pytest.mark.parametrize("flag,value", [("--audio-track", "2"), ("--fps", "-3"), ("--pix-fmt", "rgb48")])
def test_lipsync_bad_fidelity_flags_exit_2(media, tmp_path, capsys, flag, value) -> None:
    rc = main(["lipsync", "-v", str(media / "two.mp4"), "-a", str(media / "speech.wav"), "-o", str(tmp_path / "o.mp4"),
               "--models-dir", str(media / "models"), "--no-progress", flag, value])
    err = capsys.readouterr().err
    assert rc == 2 and f"argument {flag}" in err and "Traceback" not in err
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("flag,value", [("--fps", "0"), ("--pix-fmt", "bogus")])
def test_swap_bad_fidelity_flags_exit_2(media, tmp_path, capsys, flag, value) -> None:
    from pipeline_clips import FAST, build_models, source_face

    models = build_models(tmp_path / "models")
    rc = main(["swap", "-s", str(source_face(tmp_path / "f.png")), "-t", str(media / "two.mp4"), "-o",
               str(tmp_path / "o.mp4"), "--models-dir", str(models), *FAST, flag, value])
    err = capsys.readouterr().err
    assert rc == 2 and f"argument {flag}" in err and "Traceback" not in err
