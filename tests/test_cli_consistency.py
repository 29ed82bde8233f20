"""The commands behave alike: a user error exits 2 from swap, lipsync and export-diff2lip; a
--models-dir that does not exist is warned about; every missing model file is named in one
error; without a terminal swap and lipsync both log progress (one line per 10 %)."""
from __future__ import annotations

import pytest

pytest.importorskip("av")
pytest.importorskip("onnx")

from facefuse.cli import main  # noqa: E402
from facefuse.testing import write_models  # noqa: E402
from facefuse.testing.media import synth_speech, write_audio, write_clip  # noqa: E402
from pipeline_clips import FAST, build_models, source_face  # noqa: E402


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("consistency")
    write_clip(d / "v.mp4", 0.4, audio=synth_speech(0.4))
    write_audio(d / "a.wav", synth_speech(0.4), 16000)
    source_face(d / "face.png")
    write_models(d / "models", ["yolo_face", "arcface_w600k_r50", "inswapper_128", "diff2lip"])
    return d


@pytest.mark.parametrize("argv", [
    ["swap", "-s", "{d}/nope.png", "-t", "{d}/v.mp4", "-o", "{t}/o.mp4", "--models-dir", "{d}/models"],
    ["lipsync", "-v", "{d}/nope.mp4", "-a", "{d}/a.wav", "-o", "{t}/o.mp4", "--models-dir", "{d}/models"],
    ["export-diff2lip", "--checkpoint", "{d}/nope.pt", "--source", "{d}/nope", "-o", "{t}/o.onnx"],
], ids=["swap", "lipsync", "export-diff2lip"])
def test_a_missing_input_file_exits_2_everywhere(argv, media, tmp_path, capsys) -> None:
    rc = main([a.format(d=media, t=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith(f"facefuse {argv[0]}: error: ") and "nope" in err


def test_a_models_dir_that_does_not_exist_is_warned_about(tmp_path, capsys) -> None:
    assert main(["doctor", "--models-dir", str(tmp_path / "typo")]) == 0
    err = capsys.readouterr().err
    assert f"facefuse doctor: warning: --models-dir '{tmp_path / 'typo'}': it does not exist" in err
    assert main(["models", "list", "--models-dir", str(tmp_path)]) == 0  # an existing one: no warning
    assert "warning: --models-dir" not in capsys.readouterr().err


def test_every_missing_model_file_in_one_error(media, tmp_path, capsys) -> None:
    rc = main(["swap", "-s", str(media / "face.png"), "-t", str(media / "v.mp4"), "-o", str(tmp_path / "o.mp4"),
               "--models-dir", str(tmp_path), "--offline", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "3 model files not found: yoloface_8n.onnx, inswapper_128.onnx, arcface_w600k_r50.onnx" in err
    write_models(tmp_path / "m", ["arcface_w600k_r50"])
    rc = main(["lipsync", "-v", str(media / "v.mp4"), "-a", str(media / "a.wav"), "-o", str(tmp_path / "o.mp4"),
               "--models-dir", str(tmp_path / "m"), "--offline", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "2 model files not found: diff2lip.onnx, yoloface_8n.onnx" in err, err


def test_progress_lines_without_a_terminal_in_both(media, tmp_path, capsys) -> None:
    models = build_models(tmp_path / "models")  # scrfd, as FAST asks
    write_models(models, ["yolo_face", "diff2lip"])
    fast = [a for a in FAST if a != "--no-progress"]
    assert main(["swap", "-s", str(media / "face.png"), "-t", str(media / "v.mp4"), "-o", str(tmp_path / "s.mp4"),
                 "--models-dir", str(models), "--allow-no-change", *fast]) == 0
    swap_err = capsys.readouterr().err
    assert main(["lipsync", "-v", str(media / "v.mp4"), "-a", str(media / "a.wav"), "-o", str(tmp_path / "l.mp4"),
                 "--models-dir", str(models), "--steps", "1", "--spacing", "even", "--preset", "ultrafast",
                 "--allow-no-change"]) == 0
    lip_err = capsys.readouterr().err
    for label, err in (("swap", swap_err), ("lipsync", lip_err)):
        lines = [ln for ln in err.splitlines() if ln.startswith(f"{label} [")]
        assert lines and "10/10 frames" in lines[-1], err
        assert "\r" not in err  # lines, not a bar redrawn in place
