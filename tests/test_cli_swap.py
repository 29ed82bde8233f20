"""``facefuse swap`` and ``facefuse doctor`` (stand-in models written to a tmp models dir)."""
from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("av")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from facefuse.cli import main  # noqa: E402
from facefuse.video import VideoReader  # noqa: E402
from pipeline_clips import FAST, FPS, SECONDS, build_models, leftovers, make_clip, source_face  # noqa: E402

@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    return {"dir": d, "models": build_models(d / "models"), "clip": make_clip(d / "clip.mp4"),
            "face": source_face(d / "face.png")}


def test_swap_writes_video_and_reports(work, tmp_path, capsys) -> None:
    out, rep, plot = tmp_path / "o.mp4", tmp_path / "q.json", tmp_path / "q.png"
    rc = main(["swap", "-s", str(work["face"]), "-t", str(work["clip"]), "-o", str(out),
               "--models-dir", str(work["models"]), "--faces", "all", "--blend", "alpha", "--color", "none",
               "--quality-report", str(rep), "--quality-plot", str(plot), "--json", *FAST])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["frames"] == SECONDS * FPS and doc["faces_swapped"] == SECONDS * FPS
    assert doc["quality"]["count"] == SECONDS * FPS
    # which execution providers the swap model ran on (CPU always the last fallback) and where the frames were
    assert doc["providers"] and doc["providers"][-1] == "CPUExecutionProvider"
    assert doc["frame_device"] in ("cpu", "cuda")
    with VideoReader(out) as r:
        assert sum(1 for _ in r) == SECONDS * FPS and r.has_audio
    assert json.loads(rep.read_text())["summary"]["count"] == SECONDS * FPS
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert sorted(os.listdir(tmp_path)) == ["o.mp4", "q.json", "q.png"]


def test_swap_human_summary(work, tmp_path, capsys) -> None:
    out = tmp_path / "o.png"
    import cv2
    import numpy as np

    img = np.full((120, 160, 3), 60, np.uint8)
    img[30:94, 40:104] = 255
    cv2.imwrite(str(tmp_path / "t.png"), img)
    rc = main(["swap", "-s", str(work["face"]), "-t", str(tmp_path / "t.png"), "-o", str(out),
               "--models-dir", str(work["models"]), *FAST])
    assert rc == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"wrote {out}") and "1 face(s) swapped" in line
    assert "frames on the " in line and "swap model on " in line and "swap model on ?" not in line
    assert cv2.imread(str(out)).shape == (120, 160, 3)


@pytest.mark.parametrize("case", ["missing_model", "wrong_model", "missing_target", "bad_choice_value"])
def test_swap_errors_exit_2_with_one_message(work, tmp_path, capsys, monkeypatch, case) -> None:
    monkeypatch.delenv("FACEFUSE_MODELS", raising=False)
    models, target = work["models"], work["clip"]
    extra: list = []
    if case == "missing_model":
        models = tmp_path / "empty"
        models.mkdir()
    elif case == "wrong_model":
        models = build_models(tmp_path / "m")
        (models / "inswapper_128.onnx").write_bytes((models / "scrfd_2.5g.onnx").read_bytes())
    elif case == "missing_target":
        target = tmp_path / "nope.mp4"
    else:
        extra = ["--face-index", "-3"]
    out = tmp_path / "o.mp4"
    rc = main(["swap", "-s", str(work["face"]), "-t", str(target), "-o", str(out), "--models-dir", str(models),
               *FAST, *extra])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("facefuse swap: error: ") and "Traceback" not in err
    expect = {"missing_model": "not found", "wrong_model": "does not match", "missing_target": "nope.mp4",
              "bad_choice_value": "argument --face-index"}[case]  # the flag, not the Python name
    assert expect in err
    assert not out.exists()
    assert [p for p in os.listdir(tmp_path) if p not in ("empty", "m")] == []


def test_swap_usage_error_is_exit_2(capsys) -> None:
    with pytest.raises(SystemExit) as ei:
        main(["swap", "-s", "x.png"])  # -t / -o missing
    assert ei.value.code == 2
    assert "required" in capsys.readouterr().err


def test_corrupt_target_exit_2_no_file(work, tmp_path, capsys) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    rc = main(["swap", "-s", str(work["face"]), "-t", str(bad), "-o", str(tmp_path / "o.mp4"),
               "--models-dir", str(work["models"]), *FAST])
    assert rc == 2 and "bad.mp4" in capsys.readouterr().err
    assert leftovers(tmp_path, {"bad.mp4"}) == []


def test_doctor_lists_found_models(work, capsys) -> None:
    assert main(["doctor", "--models-dir", str(work["models"]), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["versions"]["facefuse"] and doc["versions"]["onnxruntime"]
    assert doc["native"]["core"]["available"] is True
    assert "CPUExecutionProvider" in doc["onnxruntime"]["picked"]
    found = {r["model"]: r["path"] for r in doc["models"]["models"]}
    for key in ("scrfd", "arcface_w600k_r50", "inswapper_128"):
        assert found[key] and os.path.exists(found[key])
    assert found["yolo_face"] is None and found["simswap_256"] is None
    assert str(work["models"]) in doc["models"]["searched"][0]
    assert isinstance(doc["encoders"]["nvenc"], list)
    assert "available" in doc["native"]["cuda"]

    assert main(["doctor", "--models-dir", str(work["models"]), "--check"]) == 0
    text = capsys.readouterr().out
    assert "_core" in text and "onnxruntime" in text and "NVENC" in text
    lines = [ln for ln in text.splitlines() if "inswapper_128.onnx" in ln and ln.strip().startswith("found")]
    assert lines and "STAND-IN" in lines[0] and "[ok]" not in lines[0]  # signature fine, still not a real model
    assert any(ln.strip().startswith("missing") and "yoloface_8n.onnx" in ln for ln in text.splitlines())


def test_doctor_check_loads_files_as_the_pipeline_does(tmp_path) -> None:
    # arcface_simswap's input is read by position (no name in its spec): checking it by name
    # alone reported every real file as wrong. A file whose input passes the by-name check
    # but whose outputs are not a detector's (an ArcFace file named scrfd_2.5g.onnx) was "ok".
    import shutil

    from facefuse import doctor
    from facefuse.testing.face_models import BUILDERS

    BUILDERS["arcface_simswap"](tmp_path)
    shutil.copy(BUILDERS["arcface_w600k_r50"](tmp_path), tmp_path / "scrfd_2.5g.onnx")
    rows = {r["model"]: r for r in doctor.diagnose(str(tmp_path), check=True)["models"]["models"]}
    assert rows["arcface_simswap"]["check"] == "ok"
    assert rows["arcface_w600k_r50"]["check"] == "ok"
    assert rows["scrfd"]["path"] and rows["scrfd"]["check"] != "ok" and "scrfd" in rows["scrfd"]["check"]


def test_doctor_warns_when_two_onnxruntime_builds_are_installed(monkeypatch) -> None:
    from importlib import metadata

    from facefuse import doctor

    versions = {"onnxruntime": "1.22.0", "onnxruntime-gpu": "1.22.0"}

    def version(dist: str) -> str:
        if dist in versions:
            return versions[dist]
        raise metadata.PackageNotFoundError(dist)

    monkeypatch.setattr(metadata, "version", version)
    warning = doctor._providers()["warning"]
    assert "onnxruntime 1.22.0 and onnxruntime-gpu 1.22.0" in warning and "pip uninstall" in warning
    assert "warning" in doctor.format_report(doctor.diagnose())
    del versions["onnxruntime-gpu"]
    assert "warning" not in doctor._providers()


def test_doctor_check_failure_exits_1_with_the_whole_reason(tmp_path, capsys) -> None:
    # a detector file under the swapper's name: --check exited 0 and showed only the first
    # line of the reason ("... does not match model 'inswapper_128' (inswapper_128.onnx):")
    models = build_models(tmp_path / "m")
    (models / "inswapper_128.onnx").write_bytes((models / "scrfd_2.5g.onnx").read_bytes())
    assert main(["doctor", "--models-dir", str(models), "--check", "--json"]) == 1
    rows = {r["model"]: r for r in json.loads(capsys.readouterr().out)["models"]["models"]}
    reason = rows["inswapper_128"]["check"]
    assert "expected inputs" in reason and "found inputs" in reason and "problems:" in reason
    assert rows["scrfd"]["check"] == "ok"

    assert main(["doctor", "--models-dir", str(models), "--check"]) == 1
    text = capsys.readouterr().out
    for line in reason.splitlines():  # every line of the reason, under its model's row
        assert line.strip() in text
    assert "1 model file(s) failed the check" in text

    (models / "inswapper_128.onnx").unlink()  # all found files load: exit 0
    assert main(["doctor", "--models-dir", str(models), "--check"]) == 0
    assert main(["doctor", "--models-dir", str(models)]) == 0  # no --check: nothing is loaded
