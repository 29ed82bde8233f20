"""``facefuse models``, the doctor's model rows and ``facefuse swap``'s first run on a fresh
$HOME, with the models served by a loopback mirror ($FACEFUSE_MODEL_URL)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest.importorskip("requests")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from facefuse.cli import main  # noqa: E402
from facefuse.inference import ModelNotFoundError, files  # noqa: E402
from model_server import file_crc, serving, write_mirror  # noqa: E402

SERVED = ("yolo_face", "scrfd", "arcface_w600k_r50", "inswapper_128")


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("mirror")
    return {"root": root, "files": write_mirror(root, SERVED)}


@pytest.fixture
def server(mirror, monkeypatch):
    with serving(mirror["root"], monkeypatch) as s:
        yield s


def test_download_set_then_list_verify_and_path(server, mirror, tmp_path, capsys) -> None:
    md = tmp_path / "models"
    assert main(["models", "download", "--set", "swap", "--models-dir", str(md), "--no-progress"]) == 0
    for key in ("yolo_face", "arcface_w600k_r50", "inswapper_128"):
        name = mirror["files"][key].name
        assert (md / name).read_bytes() == mirror["files"][key].read_bytes()
    capsys.readouterr()
    assert main(["models", "download", "inswapper_128", "--models-dir", str(md), "--no-progress"]) == 0
    assert "already at" in capsys.readouterr().out and len(server.gets("inswapper_128.onnx")) == 1

    assert main(["models", "list", "--models-dir", str(md), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in doc["models"]}
    assert rows["inswapper_128"]["path"] == str((md / "inswapper_128.onnx").resolve())
    assert rows["scrfd"]["path"] is None and rows["scrfd"]["urls"] == [f"{server.url}/models-3.0.0/scrfd_2.5g.onnx"]
    assert rows["inswapper_128"]["licence"] and "swap" in rows["inswapper_128"]["sets"]
    assert rows["diff2lip"]["urls"] == [] and "export-diff2lip" in rows["diff2lip"]["how_to_get"]
    assert doc["download_dir"] == str(md)
    assert main(["models", "list", "--models-dir", str(md)]) == 0
    text = capsys.readouterr().out
    assert any("inswapper_128.onnx" in ln and "[non-commercial]" in ln for ln in text.splitlines())

    assert main(["models", "verify", "--models-dir", str(md)]) == 0
    out = capsys.readouterr().out
    assert out.count("hash ok") == 3
    # a damaged file: verify names it, its CRC32 and the command that fixes it
    bad = md / "arcface_w600k_r50.onnx"
    bad.write_bytes(bad.read_bytes()[:-1] + b"\0")
    assert main(["models", "verify", "--models-dir", str(md)]) == 1
    out = capsys.readouterr().out
    line = [ln for ln in out.splitlines() if "arcface_w600k_r50.onnx" in ln][0]
    assert line.startswith("hash mismatch") and file_crc(bad) in line
    assert f"facefuse models download arcface_w600k_r50 --force --models-dir {md}" in line
    assert main(["models", "download", "arcface_w600k_r50", "--force", "--models-dir", str(md), "--no-progress"]) == 0
    assert main(["models", "verify", "arcface_w600k_r50", "--models-dir", str(md)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("hash ok")

    assert main(["models", "path", "inswapper_128", "--models-dir", str(md)]) == 0
    assert capsys.readouterr().out.strip() == str((md / "inswapper_128.onnx").resolve())
    assert main(["models", "path", "scrfd_2.5g.onnx", "--models-dir", str(md)]) == 1
    err = capsys.readouterr().err
    assert "scrfd_2.5g.onnx is missing" in err and "facefuse models download scrfd" in err


def test_verify_without_hash_file_fetches_the_published_one(server, mirror, tmp_path, capsys) -> None:
    md = tmp_path / "m"
    md.mkdir()
    (md / "scrfd_2.5g.onnx").write_bytes(mirror["files"]["scrfd"].read_bytes())  # a copy without its .hash
    assert main(["models", "verify", "scrfd", "--models-dir", str(md)]) == 0
    assert capsys.readouterr().out.startswith("hash ok")
    assert main(["models", "verify", "scrfd", "--models-dir", str(md), "--offline"]) == 0
    assert "no .hash beside it; offline" in capsys.readouterr().out


def test_download_errors_and_usage(server, tmp_path, capsys) -> None:
    md = str(tmp_path / "m")
    assert main(["models", "download", "--models-dir", md]) == 2
    assert "--all / --set" in capsys.readouterr().err
    assert main(["models", "download", "nope", "--models-dir", md]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
    assert main(["models", "download", "diff2lip", "--models-dir", md]) == 1
    assert "export-diff2lip" in capsys.readouterr().err
    assert main(["models", "download", "hyperswap_1a_256", "--models-dir", md, "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "HTTP 404" in err and f"{server.url}/models-3.3.0/hyperswap_1a_256.onnx" in err
    assert main(["models"]) == 2


def test_doctor_shows_hash_state_and_the_fix(server, mirror, tmp_path, capsys) -> None:
    md = tmp_path / "m"
    assert main(["models", "download", "scrfd", "inswapper_128", "--models-dir", str(md), "--no-progress"]) == 0
    bad = md / "inswapper_128.onnx"
    bad.write_bytes(bad.read_bytes()[:-1] + b"\0")
    server.requests.clear()
    capsys.readouterr()
    assert main(["doctor", "--models-dir", str(md), "--json"]) == 1  # a file that fails its hash
    rows = {r["model"]: r for r in json.loads(capsys.readouterr().out)["models"]["models"]}
    assert rows["scrfd"]["status"] == "hash ok"
    assert rows["inswapper_128"]["status"] == "hash mismatch"
    assert rows["inswapper_128"]["fix"] == f"facefuse models download inswapper_128 --force --models-dir {md}"
    assert rows["yolo_face"]["status"] == "missing"
    assert rows["yolo_face"]["fix"] == f"facefuse models download yolo_face --models-dir {md}"
    assert rows["diff2lip"]["status"] == "missing" and "export-diff2lip" in rows["diff2lip"]["fix"]
    assert main(["doctor", "--models-dir", str(md)]) == 1
    text = capsys.readouterr().out
    assert "[hash ok]" in text and "HASH MISMATCH" in text
    assert f"fix: facefuse models download yolo_face --models-dir {md}" in text
    assert server.requests == []  # the doctor reads what is here


def test_swap_first_run_on_a_fresh_home(server, mirror, tmp_path, monkeypatch, capsys) -> None:
    from pipeline_clips import FAST, FPS, SECONDS, make_clip, source_face

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(files, "DEFAULT_MODELS_DIR", Path("~/.facefuse/models"))  # the real default
    clip, face, out = make_clip(tmp_path / "clip.mp4"), source_face(tmp_path / "face.png"), tmp_path / "o.mp4"
    rc = main(["swap", "-s", str(face), "-t", str(clip), "-o", str(out), "--faces", "all", "--json", *FAST])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert json.loads(captured.out)["frames"] == SECONDS * FPS
    models = home / ".facefuse" / "models"
    assert sorted(p for p in os.listdir(models) if not p.startswith(".")) == [
        "arcface_w600k_r50.hash", "arcface_w600k_r50.onnx", "inswapper_128.hash", "inswapper_128.onnx",
        "scrfd_2.5g.hash", "scrfd_2.5g.onnx"]
    assert "non-commercial" in captured.err  # said on the first download
    # a second run fetches nothing
    n = len(server.requests)
    assert main(["swap", "-s", str(face), "-t", str(clip), "-o", str(tmp_path / "o2.mp4"), *FAST]) == 0
    assert len(server.requests) == n


def test_swap_offline_names_the_url_and_the_place(server, tmp_path, capsys) -> None:
    from pipeline_clips import FAST, make_clip, source_face

    md = tmp_path / "m"
    clip, face = make_clip(tmp_path / "clip.mp4", seconds=0.2), source_face(tmp_path / "face.png")
    rc = main(["swap", "-s", str(face), "-t", str(clip), "-o", str(tmp_path / "o.mp4"), "--models-dir", str(md),
               "--offline", *FAST])
    err = capsys.readouterr().err
    # the folder does not exist yet: warned about first, then the error
    assert rc == 2 and err.startswith("facefuse swap: warning: --models-dir") and "\nfacefuse swap: error: " in err
    assert f"{server.url}/models-3.0.0/scrfd_2.5g.onnx" in err and f"into {md}" in err
    assert server.requests == []


def test_lipsync_fetches_its_detector_and_honours_offline(server, mirror, tmp_path) -> None:
    from facefuse import lipsync_video
    from facefuse.inference import ModelNotFoundError
    from facefuse.testing import write_models
    from pipeline_clips import make_clip

    md = tmp_path / "m"
    write_models(md, ["diff2lip"])  # never downloadable: the user exports it
    clip = make_clip(tmp_path / "clip.mp4", seconds=0.2)
    with pytest.raises(ModelNotFoundError) as ei:
        lipsync_video(clip, clip, tmp_path / "o.mp4", models_dir=md, offline=True, steps=2)
    assert f"{server.url}/models-3.0.0/yoloface_8n.onnx" in str(ei.value) and server.requests == []
    with pytest.raises(TypeError, match="'offline'"):
        lipsync_video(clip, clip, tmp_path / "o.mp4", models_dir=md, offline="yes")
    r = lipsync_video(clip, clip, tmp_path / "o.mp4", models_dir=md, steps=2, batch_size=2)
    assert r.frames > 0 and (md / "yoloface_8n.onnx").read_bytes() == mirror["files"]["yolo_face"].read_bytes()


def test_batch_workers_fetch_quietly_and_offline_reaches_them(server, tmp_path, capsys, monkeypatch) -> None:
    from facefuse.batch import worker
    from facefuse.batch.cli import _offline

    monkeypatch.setattr(worker, "_POOLS", {})
    pool = worker.warm_pool(str(tmp_path / "m"), None)
    assert pool.resolve("scrfd_2.5g.onnx").parent == (tmp_path / "m").resolve()
    assert "download" not in capsys.readouterr().err  # no bar from a worker: the batch owns the terminal
    monkeypatch.delenv("FACEFUSE_OFFLINE", raising=False)
    with _offline(True):
        assert os.environ["FACEFUSE_OFFLINE"] == "1"  # what the worker processes inherit
        with pytest.raises(ModelNotFoundError, match="downloads are off"):
            worker.warm_pool(str(tmp_path / "m"), None).resolve("yoloface_8n.onnx")
    assert "FACEFUSE_OFFLINE" not in os.environ


def test_readme_model_commands_parse() -> None:
    # docs that match the code: every `facefuse models ...` / `--offline` line of the README parses
    import shlex

    from facefuse.cli import build_parser

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    lines = [ln.split("#")[0].strip() for ln in readme.splitlines()
             if ln.startswith("facefuse models") or (ln.startswith("facefuse ") and "--offline" in ln)]
    assert len(lines) >= 6
    for ln in lines:
        args = build_parser().parse_args(shlex.split(ln)[1:])
        assert args.command in ("models", "swap", "batch", "lipsync"), ln


def test_doctor_check_loads_the_files_only_the_registry_lists(tmp_path) -> None:
    # fan_68_5 and the Diff2Lip export have no spec dict of a model family: the doctor lists
    # them from the registry and --check loads them with their own classes
    from facefuse import doctor
    from facefuse.testing import write_models

    write_models(tmp_path, ["fan_68_5", "diff2lip"])
    rows = {r["model"]: r for r in doctor.diagnose(str(tmp_path), check=True)["models"]["models"]}
    assert rows["fan_68_5"]["status"] == "present" and rows["fan_68_5"]["check"] == "ok"
    assert rows["diff2lip"]["status"] == "present" and rows["diff2lip"]["check"] == "ok"
    assert rows["diff2lip_fp16"]["status"] == "missing" and "check" not in rows["diff2lip_fp16"]
