"""``facefuse doctor``'s verdict per job: ready with the files, what is missing and the command
that fixes it without them; stand-ins are never "ready"; NVENC only where it can run."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from facefuse import doctor  # noqa: E402
from facefuse.cli import main  # noqa: E402
from facefuse.inference.stand_ins import METADATA_KEY, is_stand_in_file  # noqa: E402
from facefuse.testing import write_models  # noqa: E402


def _real_looking(directory: Path, names: list[str]) -> None:
    """Stand-ins with their marks removed: files the doctor must take for the real ones."""
    for path in write_models(directory, names).values():
        model = onnx.load(str(path))
        model.producer_name = "pytorch"
        keep = [p for p in model.metadata_props if p.key != METADATA_KEY]
        del model.metadata_props[:]
        model.metadata_props.extend(keep)
        onnx.save(model, str(path))
        assert not is_stand_in_file(path)


def test_verdict_without_files_names_what_is_missing_and_the_fix(tmp_path, capsys) -> None:
    assert main(["doctor", "--models-dir", str(tmp_path), "--json"]) == 0
    jobs = json.loads(capsys.readouterr().out)["jobs"]
    assert set(jobs) == {"swap", "lipsync"}
    swap, lip = jobs["swap"], jobs["lipsync"]
    assert not swap["ready"] and swap["files"] == ["yoloface_8n.onnx", "arcface_w600k_r50.onnx", "inswapper_128.onnx"]
    assert "missing yoloface_8n.onnx, arcface_w600k_r50.onnx, inswapper_128.onnx" in swap["problems"][0]
    assert swap["fixes"] == [f"facefuse models download --set swap --models-dir {tmp_path}"]
    assert not lip["ready"] and "diff2lip.onnx" in lip["files"]
    assert any("diff2lip.onnx" in p for p in lip["problems"])
    assert any("facefuse export-diff2lip" in f for f in lip["fixes"])

    assert main(["doctor", "--models-dir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    verdict = text[text.index("\nverdict\n"):]
    assert "swap         NOT READY: missing yoloface_8n.onnx" in verdict
    assert f"fix: facefuse models download --set swap --models-dir {tmp_path}" in verdict


def test_verdict_ready_with_the_files(tmp_path) -> None:
    _real_looking(tmp_path, ["yolo_face", "arcface_w600k_r50", "inswapper_128"])
    jobs = doctor.diagnose(str(tmp_path))["jobs"]
    assert jobs["swap"] == {"ready": True, "files": ["yoloface_8n.onnx", "arcface_w600k_r50.onnx",
                                                     "inswapper_128.onnx"], "problems": [], "fixes": []}
    assert not jobs["lipsync"]["ready"]  # diff2lip.onnx is counted
    assert jobs["lipsync"]["problems"] == ["missing diff2lip.onnx"]
    _real_looking(tmp_path, ["diff2lip"])
    text = doctor.format_report(doctor.diagnose(str(tmp_path)))
    assert "  swap         ready (yoloface_8n.onnx" in text and "  lipsync      ready (" in text


def test_stand_ins_are_not_ready(tmp_path) -> None:
    write_models(tmp_path, ["yolo_face", "arcface_w600k_r50", "inswapper_128"])
    d = doctor.diagnose(str(tmp_path), check=True)
    rows = {r["model"]: r for r in d["models"]["models"]}
    assert rows["inswapper_128"]["stand_in"] and rows["inswapper_128"]["check"] == "ok"
    swap = d["jobs"]["swap"]
    assert not swap["ready"] and all("stand-in" in p for p in swap["problems"]) and len(swap["problems"]) == 3
    assert swap["fixes"] == [f"facefuse models download --set swap --models-dir {tmp_path} --force"]
    line = [ln for ln in doctor.format_report(d).splitlines() if "inswapper_128.onnx" in ln][0]
    assert "STAND-IN" in line and "[ok]" not in line


def test_nvenc_listed_only_with_a_gpu(monkeypatch) -> None:
    monkeypatch.setattr(doctor, "_encoders", lambda: {"nvenc": ["h264_nvenc"], "h264": ["libx264", "h264_nvenc"]})
    monkeypatch.setattr(doctor, "_gpu", lambda: {"nvidia_smi": None, "gpus": [], "reason": "nvidia-smi not found"})
    d = doctor.diagnose()
    assert d["encoders"]["nvenc"] == [] and d["encoders"]["nvenc_built"] == ["h264_nvenc"]
    assert "NVENC        not usable without an NVIDIA GPU" in doctor.format_report(d)
    monkeypatch.setattr(doctor, "_gpu", lambda: {"nvidia_smi": "/usr/bin/nvidia-smi", "gpus": ["H100, 80 GiB"]})
    assert doctor.diagnose()["encoders"]["nvenc"] == ["h264_nvenc"]
