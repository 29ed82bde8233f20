"""Runs that change nothing are not silent successes: ``--face-index 5`` on a one-face video
and lip sync on a video without a face warn and exit NO_CHANGE_STATUS, unless --allow-no-change."""
from __future__ import annotations

import pytest

pytest.importorskip("av")
pytest.importorskip("onnx")

from facefuse.cli import NO_CHANGE_STATUS, main  # noqa: E402
from facefuse.testing import write_models  # noqa: E402
from facefuse.testing.media import synth_speech, write_audio, write_clip  # noqa: E402
from pipeline_clips import FAST, build_models, make_clip, source_face  # noqa: E402


def test_swap_face_index_beyond_the_faces(tmp_path, capsys) -> None:
    models = build_models(tmp_path / "models")
    clip, face = make_clip(tmp_path / "clip.mp4", seconds=0.4), source_face(tmp_path / "face.png")
    args = ["swap", "-s", str(face), "-t", str(clip), "--models-dir", str(models), "--faces", "index",
            "--face-index", "5", *FAST]
    rc = main([*args, "-o", str(tmp_path / "o.mp4")])
    err = capsys.readouterr().err
    assert rc == NO_CHANGE_STATUS, err
    assert "warning: no face was swapped in any of the 10 frame(s)" in err and "face_index=5" in err
    assert "--allow-no-change" in err and (tmp_path / "o.mp4").exists()  # written, unchanged
    assert main([*args, "-o", str(tmp_path / "p.mp4"), "--allow-no-change"]) == 0
    assert "no face was swapped" in capsys.readouterr().err  # still said


def test_swap_video_warns_when_nothing_is_swapped(tmp_path) -> None:
    import facefuse as ff

    models = build_models(tmp_path / "models")
    clip, face = make_clip(tmp_path / "clip.mp4", seconds=0.2), source_face(tmp_path / "face.png")
    with pytest.warns(UserWarning, match="no face was swapped in any of the 5 frame"):
        res = ff.swap_video(face, clip, tmp_path / "o.mp4", models_dir=models, detector="scrfd", detector_size=320,
                            faces="index", face_index=3, progress=False, preset="ultrafast")
    assert res.faces_swapped == 0 and any("no face was swapped" in w for w in res.warnings)


def test_lipsync_without_a_face(tmp_path, capsys) -> None:
    write_models(tmp_path / "models", ["yolo_face", "diff2lip"])
    write_clip(tmp_path / "v.mp4", 0.2, square=None)
    write_audio(tmp_path / "a.wav", synth_speech(0.3), 16000)
    args = ["lipsync", "-v", str(tmp_path / "v.mp4"), "-a", str(tmp_path / "a.wav"), "--models-dir",
            str(tmp_path / "models"), "--providers", "cpu", "--steps", "1", "--spacing", "even", "--preset", "ultrafast",
            "--no-progress"]
    rc = main([*args, "-o", str(tmp_path / "o.mp4")])
    err = capsys.readouterr().err
    assert rc == NO_CHANGE_STATUS, err
    assert "no face found in 5 of 5 frames" in err and "nothing was changed" in err
    assert main([*args, "-o", str(tmp_path / "p.mp4"), "--allow-no-change"]) == 0
