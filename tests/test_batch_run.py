"""Running batches locally: workers, warm pools, failures, resume, --force, chunks, SIGKILL."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from batch_helpers import frames_of, make_clip, smooth_job, stream_durations, temp_leftovers, write_jsonl
from facefuse.batch import Manifest, ManifestError, run_batch
from facefuse.cli import main as cli_main


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("in")
    return [make_clip(d / f"c{i}.mp4", 30 + 5 * i) for i in range(3)]


def _status(report):
    return [o.status for o in report.outcomes]


def test_workers_failures_warm_pool_and_resume(clips, tmp_path):
    rec = tmp_path / "pools.txt"
    out = tmp_path / "out"
    jobs = [smooth_job(clips[0], out / "crash.mp4", crash_at=3),          # its worker process dies
            smooth_job(clips[0], out / "a.mp4", record_to=str(rec)),
            smooth_job(clips[1], out / "b.mp4", record_to=str(rec)),
            smooth_job(clips[1], out / "fail.mp4", fail_at=5),            # the pipeline raises
            smooth_job(clips[2], out / "c.mp4", record_to=str(rec)),
            smooth_job(clips[2], out / "d.mp4", record_to=str(rec))]
    jf = write_jsonl(tmp_path / "jobs.jsonl", jobs)
    rep = run_batch(jf, workers=2, progress=None)
    assert _status(rep) == ["failed", "done", "done", "failed", "done", "done"]
    assert "worker process died (exit code 70)" in rep.outcomes[0].error
    assert "RuntimeError: smooth_video: failing at frame 5" in rep.outcomes[3].error
    assert [o.frames for o in rep.outcomes if o.status == "done"] == [30, 35, 40, 40]
    assert all(o.quality_mean is not None and o.quality_min <= o.quality_mean for o in rep.outcomes[1:3])
    assert not (out / "crash.mp4").exists() and not (out / "fail.mp4").exists()
    assert [len(frames_of(out / n)) for n in ("a.mp4", "b.mp4", "c.mp4", "d.mp4")] == [30, 35, 40, 40]
    assert temp_leftovers(out) == []
    # each worker process kept one pool for all its jobs; some worker ran several jobs
    runs = [line.split()[:2] for line in rec.read_text().splitlines()]
    assert len(runs) == 4
    pools = {pid: {pool for p, pool in runs if p == pid} for pid, _ in runs}
    assert all(len(p) == 1 for p in pools.values())
    assert max(sum(p == pid for p, _ in runs) for pid in pools) >= 2
    # the manifest records every job by key
    man = json.loads(Path(str(jf) + ".manifest.json").read_text())
    st = sorted(e["status"] for e in man["jobs"].values())
    assert st == ["done"] * 4 + ["failed"] * 2
    table = rep.table()
    assert "failed" in table and "worker process died" in table and "4 done, 2 failed" in table

    # run again: finished outputs are not redone, failed ones are tried again
    mtimes = {n: (out / n).stat().st_mtime_ns for n in ("a.mp4", "b.mp4", "c.mp4", "d.mp4")}
    (out / "b.mp4").unlink()  # a finished output that went missing is redone
    rep2 = run_batch(jf, workers=1, progress=None)
    assert _status(rep2) == ["failed", "skipped", "done", "failed", "skipped", "skipped"]
    assert rep2.outcomes[1].frames == 30  # from the manifest
    assert {n: (out / n).stat().st_mtime_ns for n in ("a.mp4", "c.mp4", "d.mp4")} == \
        {n: mtimes[n] for n in ("a.mp4", "c.mp4", "d.mp4")}
    assert len(frames_of(out / "b.mp4")) == 35
    # --force redoes everything
    rep3 = run_batch(jf, workers=1, force=True, progress=None)
    assert _status(rep3) == ["failed", "done", "done", "failed", "done", "done"]
    assert (out / "a.mp4").stat().st_mtime_ns != mtimes["a.mp4"]


def test_chunked_job_equals_one_piece_job(clips, tmp_path):
    long = make_clip(tmp_path / "long.mp4", 80)
    jf = write_jsonl(tmp_path / "jobs.jsonl", [
        smooth_job(long, tmp_path / "one.mp4"),
        smooth_job(long, tmp_path / "chunked.mp4", chunk_seconds=0.8)])   # 20 frames -> 4 chunks
    rep = run_batch(jf, workers=2, warmup_frames=10, progress=None)
    assert _status(rep) == ["done", "done"]
    assert (rep.outcomes[0].chunks, rep.outcomes[1].chunks) == (1, 4)
    one, ch = frames_of(tmp_path / "one.mp4"), frames_of(tmp_path / "chunked.mp4")
    assert len(one) == len(ch) == 80 == rep.outcomes[1].frames
    assert [f[1] for f in one] == [f[1] for f in ch]
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(one, ch))
    d1, d2 = stream_durations(tmp_path / "one.mp4"), stream_durations(tmp_path / "chunked.mp4")
    assert d1["video"] == d2["video"] and abs(d1["audio"] - d2["audio"]) < 1e-3
    # quality of the chunks merged: the same smoother over the same frames
    assert rep.outcomes[1].quality_min == pytest.approx(rep.outcomes[0].quality_min)
    assert temp_leftovers(tmp_path) == []  # chunk directory removed after the join


def test_one_piece_run_removes_the_chunks_of_an_earlier_chunked_run(clips, tmp_path):
    # an interrupted --chunk-seconds run leaves its finished chunks for a resume; running the
    # same job again in one piece must not leave that hidden directory behind for good
    from facefuse.batch.chunks import chunk_dir
    from facefuse.batch.jobs import load_jobs

    jf = write_jsonl(tmp_path / "jobs.jsonl", [smooth_job(clips[0], tmp_path / "o.mp4")])
    (job,) = load_jobs(jf)
    cdir = Path(chunk_dir(job.output, job.key))
    cdir.mkdir()
    (cdir / "chunk_0000.mp4").write_bytes(b"an earlier run's chunk")
    rep = run_batch(jf, progress=None)
    assert _status(rep) == ["done"] and rep.outcomes[0].frames == 30
    assert not cdir.exists() and temp_leftovers(tmp_path) == []


def test_job_models_dir_selects_its_own_warm_pool(clips, tmp_path):
    rec = tmp_path / "pools.txt"
    jobs = [smooth_job(clips[0], tmp_path / f"o{i}.mp4", record_to=str(rec),
                       **({"models_dir": str(tmp_path)} if i % 2 else {})) for i in range(4)]
    rep = run_batch(write_jsonl(tmp_path / "jobs.jsonl", jobs), workers=1, progress=None)
    assert _status(rep) == ["done"] * 4
    pools = [line.split()[1] for line in rec.read_text().splitlines()]
    assert pools[0] == pools[2] and pools[1] == pools[3] and pools[0] != pools[1]


def test_pipeline_without_range_keywords_runs_in_one_piece(clips, tmp_path):
    job = smooth_job(clips[2], tmp_path / "o.mp4", chunk_seconds=0.4)
    job["kind"] = "facefuse.testing.batch_kinds:WHOLE"
    rep = run_batch(write_jsonl(tmp_path / "jobs.jsonl", [job]), progress=None)
    (o,) = rep.outcomes
    assert (o.status, o.chunks, o.frames) == ("done", 1, 40)
    assert "not split" in o.note and "start_frame" in o.note and "not split" in rep.table()


def test_one_worker_per_gpu_sees_only_its_device(clips, tmp_path):
    """GPU workers get CUDA_VISIBLE_DEVICES=<their id> (checked without a GPU: the stand-in
    pipeline records the variable); two workers per GPU with workers=2."""
    rec = tmp_path / "gpus.txt"
    jf = write_jsonl(tmp_path / "jobs.jsonl",
                     [smooth_job(clips[0], tmp_path / f"o{i}.mp4", record_to=str(rec), delay=0.01) for i in range(6)])
    before = os.environ.get("CUDA_VISIBLE_DEVICES")
    rep = run_batch(jf, gpus="3,5", workers=2, progress=None)
    assert _status(rep) == ["done"] * 6
    assert os.environ.get("CUDA_VISIBLE_DEVICES") == before  # the parent's environment is left as it was
    runs = [line.split() for line in rec.read_text().splitlines()]
    per_pid = {pid: {dev for p, _, dev in runs if p == pid} for pid, _, _ in runs}
    assert all(len(d) == 1 for d in per_pid.values())
    assert {d for (d,) in per_pid.values()} <= {"3", "5"} and len(per_pid) <= 4


def test_manifest_is_locked_and_atomic(tmp_path):
    with Manifest(tmp_path / "m.json") as m:
        m.update("k", status="running")
        with pytest.raises(ManifestError, match="in use by another"):
            Manifest(tmp_path / "m.json")
        assert json.loads((tmp_path / "m.json").read_text())["jobs"]["k"]["status"] == "running"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.json.lock"]
    (tmp_path / ".m.json.abc123.tmp").write_text("{half")  # a save killed before its rename
    with Manifest(tmp_path / "m.json") as m:
        assert m.entry("k")["status"] == "running"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.json.lock"]
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ManifestError, match="cannot be read"):
        Manifest(tmp_path / "bad.json")


def test_cli_exit_status_and_table(clips, tmp_path, capsys):
    jf = write_jsonl(tmp_path / "jobs.jsonl", [smooth_job(clips[0], tmp_path / "a.mp4")])
    assert cli_main(["batch", str(jf), "--check"]) == 0
    assert not (tmp_path / "a.mp4").exists()
    assert cli_main(["batch", str(jf), "--manifest", str(tmp_path / "m.json")]) == 0
    out = capsys.readouterr()
    assert "0 a.mp4" in out.out and "done" in out.out and "started" in out.err
    assert (tmp_path / "m.json").exists() and len(frames_of(tmp_path / "a.mp4")) == 30
    bad = write_jsonl(tmp_path / "bad.jsonl", [smooth_job(clips[0], tmp_path / "f.mp4", fail_at=2)])
    assert cli_main(["batch", str(bad)]) == 1
    assert cli_main(["batch", str(tmp_path / "nothing.jsonl")]) == 2
    assert cli_main(["batch", str(jf), "--workers", "0"]) == 2
    assert cli_main(["batch", str(jf), "--gpus", "0,0"]) == 2
    err = capsys.readouterr().err
    assert "no such job file" in err and "--workers must be >= 1" in err and "device twice" in err


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_line_on_a_terminal(clips, tmp_path):
    jf = write_jsonl(tmp_path / "jobs.jsonl", [smooth_job(clips[2], tmp_path / "o.mp4", delay=0.02)])
    tty = _Tty()
    run_batch(jf, progress=tty)
    text = tty.getvalue()
    # a redrawn status line with per-job frame progress, event lines, no status line left at the end
    assert "\r\x1b[K[batch 0/1 done] o.mp4 " in text and "/40f" in text
    assert "[batch] job 0 (line 1) 'o.mp4': done, 40 frames" in text
    assert text.endswith("o.mp4\n") and text.count("\r\x1b[K[batch") >= 2


def _wait_for(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_sigkill_mid_run_resumes_with_nothing_half_written(clips, tmp_path):
    """SIGKILL the batch process while a chunked job and whole jobs run; the next run
    keeps finished outputs and chunks, redoes the rest, and leaves no partial file."""
    rec = tmp_path / "ran.txt"
    out = tmp_path / "out"
    long = make_clip(tmp_path / "long.mp4", 80)
    jobs = [smooth_job(long, out / "long.mp4", chunk_seconds=0.8, delay=0.01, record_to=str(rec))]
    jobs += [smooth_job(c, out / f"j{i}.mp4", delay=0.01, record_to=str(rec)) for i, c in enumerate(clips)]
    jf = write_jsonl(tmp_path / "jobs.jsonl", jobs)
    manifest = Path(str(jf) + ".manifest.json")

    def chunks_done():
        try:
            e = [v for v in json.loads(manifest.read_text())["jobs"].values() if v.get("plan")]
        except (OSError, ValueError):
            return 0
        return sum(c["status"] == "done" for c in (e[0].get("chunks") or {}).values()) if e else 0

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-m", "facefuse", "batch", str(jf), "--workers", "1",
                             "--warmup-frames", "10"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert _wait_for(lambda: chunks_done() >= 2, 60), proc.stderr.read().decode() if proc.poll() else "slow"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = chunks_done()
    assert 2 <= before < 4
    time.sleep(0.3)  # the worker dies with its parent (PR_SET_PDEATHSIG); let it go
    ran_before = len(rec.read_text().splitlines())
    # nothing half-written at any output path: the job outputs do not exist yet
    assert not any((out / n).exists() for n in ("long.mp4", "j0.mp4", "j1.mp4", "j2.mp4"))
    rep = run_batch(jf, workers=1, warmup_frames=10, progress=None)
    assert _status(rep) == ["done"] * 4
    # the resumed run made only the chunks that were not finished, then the other jobs
    ran_after = len(rec.read_text().splitlines()) - ran_before
    assert ran_after == (4 - before) + 3
    assert [len(frames_of(out / n)) for n in ("long.mp4", "j0.mp4", "j1.mp4", "j2.mp4")] == [80, 30, 35, 40]
    assert temp_leftovers(out) == []


def test_ctrl_c_stops_cleanly_with_status_130(clips, tmp_path):
    out = tmp_path / "out"
    jf = write_jsonl(tmp_path / "jobs.jsonl",
                     [smooth_job(c, out / f"j{i}.mp4", delay=0.02) for i, c in enumerate(clips)])
    manifest = Path(str(jf) + ".manifest.json")

    def one_done():
        try:
            return any(e["status"] == "done" for e in json.loads(manifest.read_text())["jobs"].values())
        except (OSError, ValueError):
            return False

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-m", "facefuse", "batch", str(jf)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(one_done, 60)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "INTERRUPTED" in stdout and "run the same command again to resume" in stderr
    assert (out / "j0.mp4").exists() and not (out / "j2.mp4").exists()
    assert temp_leftovers(out) == []


def test_cli_no_progress_is_quiet_on_stderr(clips, tmp_path, capsys):
    jf = write_jsonl(tmp_path / "jobs.jsonl", [smooth_job(clips[0], tmp_path / "a.mp4")])
    assert cli_main(["batch", str(jf), "--no-progress"]) == 0
    out = capsys.readouterr()
    assert "[batch]" not in out.err and "started" not in out.err  # no event or status lines
    assert "0 a.mp4" in out.out and "done" in out.out  # the summary table stays
    assert len(frames_of(tmp_path / "a.mp4")) == 30
