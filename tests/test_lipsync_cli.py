"""`facefuse lipsync` / `facefuse export-diff2lip` command lines."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("onnx")

from facefuse.cli import main  # noqa: E402
from facefuse.lipsync import export as E  # noqa: E402
from facefuse.testing.detector_models import build_yolo_face  # noqa: E402
from facefuse.testing.diff2lip_model import build_diff2lip  # noqa: E402
from facefuse.testing.media import synth_speech, write_audio, write_clip  # noqa: E402
from facefuse.video import VideoReader  # noqa: E402


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("lipsync_cli")
    write_clip(d / "v.mp4", 1.0)  # 25 frames
    write_audio(d / "a.wav", synth_speech(0.6), 16000)
    build_diff2lip(d / "models")
    build_yolo_face(d / "models")
    return d


def test_lipsync_command(media, tmp_path, capsys) -> None:
    out = tmp_path / "o.mp4"
    rc = main(["lipsync", "-v", str(media / "v.mp4"), "-a", str(media / "a.wav"), "-o", str(out),
               "--models-dir", str(media / "models"), "--providers", "cpu", "--steps", "2", "--spacing", "even",
               "--preset", "ultrafast", "--quality-report", str(tmp_path / "q.json")])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "warning: the audio (0.60 s) is shorter than the video (1.00 s): the output is cut to 15 frames" in err
    assert "15 frames (15 lip-synced)" in err
    assert "(model on CPU)" in err  # --providers cpu: the provider that actually ran is named
    assert "lipsync [" in err and "15/15 frames" in err  # the progress bar, its total cut to the audio
    with VideoReader(out) as r:
        assert r.frame_count == 15 and r.has_audio
    assert (tmp_path / "q.json").is_file()


def test_quality_plot_failure_leaves_no_partial_file(media, tmp_path, capsys, monkeypatch) -> None:
    from facefuse.ops import QualityMonitor

    def broken_plot(self, path, title=""):
        with open(path, "w") as fh:
            fh.write("half a PNG")
        raise RuntimeError("plotting failed")

    monkeypatch.setattr(QualityMonitor, "plot", broken_plot)
    plot = tmp_path / "q.png"
    rc = main(["lipsync", "-v", str(media / "v.mp4"), "-a", str(media / "a.wav"), "-o", str(tmp_path / "o.mp4"),
               "--models-dir", str(media / "models"), "--providers", "cpu", "--steps", "1", "--spacing", "even",
               "--preset", "ultrafast", "--no-progress", "--quality-plot", str(plot)])
    assert rc == 1 and "plotting failed" in capsys.readouterr().err
    assert not plot.exists() and not [p for p in os.listdir(tmp_path) if p.startswith(".q.png")]


def test_full_disk_for_the_quality_report_says_the_video_was_kept(media, tmp_path, capsys, monkeypatch) -> None:
    import errno

    from facefuse.ops import QualityMonitor

    def full(self, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(QualityMonitor, "to_json", full)
    out, rep = tmp_path / "o.mp4", tmp_path / "q.json"
    rc = main(["lipsync", "-v", str(media / "v.mp4"), "-a", str(media / "a.wav"), "-o", str(out),
               "--models-dir", str(media / "models"), "--providers", "cpu", "--steps", "1", "--spacing", "even",
               "--preset", "ultrafast", "--no-progress", "--quality-report", str(rep)])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("facefuse lipsync: error: writing the quality report ")
    assert str(rep) in last and "No space left on device" in last and f"the video {str(out)!r} was written and kept" in last
    assert sorted(os.listdir(tmp_path)) == ["o.mp4"]


def test_lipsync_command_errors(media, tmp_path, capsys) -> None:
    base = ["lipsync", "-a", str(media / "a.wav"), "-o", str(tmp_path / "o.mp4"), "--models-dir", str(media / "models")]
    # user errors exit 2 as in `facefuse swap` (was 1), naming the flag (was the Python argument)
    assert main(base + ["-v", str(tmp_path / "missing.mp4")]) == 2
    assert "facefuse lipsync: error: argument --video: no such file" in capsys.readouterr().err
    assert main(base + ["-v", str(media / "v.mp4"), "--model", "other.onnx"]) == 2
    err = capsys.readouterr().err
    assert "'other.onnx' not found" in err and "export-diff2lip" in err
    assert main(base + ["-v", str(media / "v.mp4"), "--face-hide-percentage", "2"]) == 2
    assert "argument --face-hide-percentage" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["lipsync", "-v", "x.mp4"])  # -a / -o missing: argparse usage error
    assert not (tmp_path / "o.mp4").exists()


def test_export_needs_torch_and_diff2lip(tmp_path, monkeypatch, capsys) -> None:
    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(b"\0")
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    rc = main(["export-diff2lip", "--checkpoint", str(ckpt), "--source", str(tmp_path), "-o", str(tmp_path / "d.onnx")])
    err = capsys.readouterr().err
    assert rc == 2 and "needs PyTorch" in err and "pip install torch" in err
    assert main(["export-diff2lip", "--checkpoint", str(tmp_path / "none.pt"), "--source", str(tmp_path)]) == 2
    assert "argument --checkpoint: no such file" in capsys.readouterr().err
    assert main(["export-diff2lip", "--checkpoint", str(ckpt), "--source", str(tmp_path / "nodir")]) == 2
    assert "argument --source: no such directory" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="guided-diffusion/guided_diffusion/script_util.py"):
        E._import_diff2lip(tmp_path)
    assert os.listdir(tmp_path) == ["model.pt"]
    assert E.DIFF2LIP_FLAGS["learn_sigma"] and E.DIFF2LIP_FLAGS["audio_as_style"]  # 6 output channels, style audio


def test_runtime_never_imports_torch() -> None:
    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('torch import blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import facefuse, facefuse.cli\n"
        "from facefuse.lipsync import pipeline, model, sampler, audio, cli\n"
        "facefuse.cli.build_parser()\n"
        "assert facefuse.lipsync_video is pipeline.lipsync_video\n"
        "print('ok', 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok False"


def test_progress_bar_log_mode() -> None:
    import io

    from facefuse.pipeline.progress import ProgressBar  # the bar `facefuse lipsync` uses

    buf = io.StringIO()  # not a terminal: one line per 10 % of the frames
    bar = ProgressBar(label="lipsync", enabled=True, stream=buf, log_step=0.1)
    for i in range(1, 51):
        bar(i, 50)
    bar.close()
    lines = buf.getvalue().splitlines()
    assert 5 <= len(lines) <= 11 and lines[-1].startswith("lipsync [") and "50/50 frames" in lines[-1]
    assert np.all(np.diff([int(l.split("] ")[1].split("/")[0]) for l in lines]) > 0)
