"""Signals and leftovers: SIGTERM is handled like Ctrl-C, a second Ctrl-C during the shutdown
ends the process with 130 (no abort), and the temporary files a killed run left beside its
output are swept by the next run (never the ones a live process holds)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("av")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from facefuse.cli import main  # noqa: E402
from pipeline_clips import FAST, build_models, make_clip, source_face  # noqa: E402

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals to a child process")

# the swap CLI with every frame ~0.5 s longer, spent in short native calls that release the
# GIL (multi-band blends of 1024 x 1024 images): the model stage keeps entering and leaving
# the native core, as a pipeline of models and ops does, while the interrupted run shuts down
SLOW_SWAP = r"""
import numpy as np
import facefuse as ff
from facefuse.pipeline import swap as S
img = np.zeros((1024, 1024, 3), np.uint8)
mask = np.ones((1024, 1024), np.float32)
orig = S.FrameSwapper.model
def slow(self, *a, **k):
    for _ in range(40):
        ff.blend_laplacian(img, img, mask)
    return orig(self, *a, **k)
S.FrameSwapper.model = slow
from facefuse.cli import main
raise SystemExit(main())
"""


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("signals")
    return {"models": build_models(d / "models"), "clip": make_clip(d / "long.mp4", seconds=8, audio=True),
            "face": source_face(d / "face.png")}


def _start(work, out, *, script=None):
    args = ["swap", "-s", str(work["face"]), "-t", str(work["clip"]), "-o", str(out),
            "--models-dir", str(work["models"]), *FAST]
    head = [sys.executable, "-c", script] if script else [sys.executable, "-m", "facefuse"]
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.Popen(head + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_temp(p, directory, timeout=90.0) -> list:
    deadline = time.time() + timeout
    while time.time() < deadline and p.poll() is None:
        names = os.listdir(directory)
        if names:
            return names
        time.sleep(0.02)
    raise AssertionError(f"no temporary output appeared (exit {p.poll()}): {p.communicate() if p.poll() else ''}")


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_the_run_and_leaves_no_half_file(work, tmp_path, signum, status) -> None:
    """Ctrl-C and SIGTERM alike: the run stops, its temporary output is removed, 128 + signal."""
    out = tmp_path / "o.mp4"
    p = _start(work, out)
    try:
        names = _wait_for_temp(p, tmp_path)
        assert names[0].startswith(".o.mp4.") and names[0].endswith(".tmp.mp4")
        time.sleep(0.2)
        p.send_signal(signum)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == status, err
    assert "interrupted" in err and "Traceback" not in err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("gap", [0.02, 0.15])
def test_second_ctrl_c_during_shutdown_exits_130(work, tmp_path, gap) -> None:
    out = tmp_path / "o.mp4"
    p = _start(work, out, script=SLOW_SWAP)
    try:
        _wait_for_temp(p, tmp_path)
        p.send_signal(signal.SIGINT)
        time.sleep(gap)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, err
    assert "terminate called" not in err and "Fatal Python error" not in err and "Traceback" not in err
    assert os.listdir(tmp_path) == []


def test_next_run_sweeps_the_temps_a_killed_run_left(work, tmp_path) -> None:
    out = tmp_path / "o.mp4"
    p = _start(work, out)
    try:
        _wait_for_temp(p, tmp_path)
        p.send_signal(signal.SIGKILL)  # nothing can clean up after this one
        p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    left = os.listdir(tmp_path)
    assert len(left) == 1 and left[0].startswith(".o.mp4.") and left[0].endswith(".tmp.mp4")
    # a temporary file of the same output that a live process holds open (another run still
    # writing it) is not touched, nor are other files that merely look alike
    held = tmp_path / ".o.mp4.abcd_123.tmp.mp4"
    held.write_bytes(b"being written")
    other = tmp_path / ".o.mp4.notmine.mp4"
    other.write_bytes(b"x")
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; f = open(sys.argv[1], 'rb'); "
                               "print('open', flush=True); time.sleep(120)", str(held)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        short = make_clip(tmp_path.parent / f"{tmp_path.name}_short.mp4", seconds=0.4, audio=False)
        rc = main(["swap", "-s", str(work["face"]), "-t", str(short), "-o", str(out),
                   "--models-dir", str(work["models"]), *FAST])
        assert rc == 0
        assert sorted(os.listdir(tmp_path)) == sorted([".o.mp4.abcd_123.tmp.mp4", ".o.mp4.notmine.mp4", "o.mp4"])
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("signals", [(signal.SIGTERM,), (signal.SIGINT, signal.SIGINT)], ids=["sigterm", "two_sigint"])
def test_batch_stops_on_sigterm_and_on_a_second_ctrl_c(tmp_path, signals) -> None:
    import json

    from batch_helpers import make_clip as batch_clip
    from batch_helpers import smooth_job, temp_leftovers, write_jsonl

    clips = [batch_clip(tmp_path / f"c{i}.mp4", 40) for i in range(3)]
    out = tmp_path / "out"
    jf = write_jsonl(tmp_path / "jobs.jsonl", [smooth_job(c, out / f"j{i}.mp4", delay=0.03) for i, c in enumerate(clips)])
    manifest = tmp_path / "jobs.jsonl.manifest.json"

    def running() -> bool:
        try:
            doc = json.loads(manifest.read_text())
        except (OSError, ValueError):
            return False
        return any(e.get("status") == "running" for e in doc["jobs"].values()) and bool(
            [n for n in (os.listdir(out) if out.is_dir() else []) if n.endswith(".tmp.mp4")])

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    p = subprocess.Popen([sys.executable, "-m", "facefuse", "batch", str(jf)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not running() and p.poll() is None:
            time.sleep(0.02)
        assert running(), p.communicate() if p.poll() is not None else "no job started"
        for k, s in enumerate(signals):
            if k:
                time.sleep(0.02)
            p.send_signal(s)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 128 + signals[0], err
    assert "Traceback" not in err and "terminate called" not in err
    assert temp_leftovers(out) == []
