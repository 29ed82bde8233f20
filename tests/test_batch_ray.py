"""Ray backend: the same jobs and chunks as Ray tasks on a local 2-CPU Ray instance.

Skipped when Ray is not installed (it is the optional ``ray`` extra, not in ``dev``)."""
from __future__ import annotations

import numpy as np
import pytest

from batch_helpers import frames_of, make_clip, smooth_job, temp_leftovers, write_jsonl
from facefuse.batch import run_batch

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_jobs_and_chunks_as_ray_tasks(local_ray, tmp_path):
    a, long = make_clip(tmp_path / "a.mp4", 30), make_clip(tmp_path / "long.mp4", 60)
    out = tmp_path / "out"
    jf = write_jsonl(tmp_path / "jobs.jsonl", [
        smooth_job(a, out / "a.mp4"),
        smooth_job(a, out / "fail.mp4", fail_at=3),
        smooth_job(long, out / "one.mp4"),
        smooth_job(long, out / "chunked.mp4", chunk_seconds=0.8)])
    rep = run_batch(jf, ray="auto", warmup_frames=10, progress=None)  # Ray already initialised: used as is
    assert [o.status for o in rep.outcomes] == ["done", "failed", "done", "done"]
    assert "failing at frame 3" in rep.outcomes[1].error
    assert rep.outcomes[3].chunks == 3 and rep.outcomes[3].frames == 60
    one, ch = frames_of(out / "one.mp4"), frames_of(out / "chunked.mp4")
    assert len(one) == len(ch) == 60 and [f[1] for f in one] == [f[1] for f in ch]
    assert all(np.array_equal(x[2], y[2]) for x, y in zip(one, ch))
    assert temp_leftovers(out) == []
    assert ray.is_initialized()  # a Ray the caller started is left running
    # resumable the same way: nothing finished is redone
    rep2 = run_batch(jf, ray="auto", warmup_frames=10, progress=None)
    assert [o.status for o in rep2.outcomes] == ["skipped", "failed", "skipped", "skipped"]


def test_gpus_per_task_must_be_a_number(local_ray, tmp_path):
    a = make_clip(tmp_path / "a.mp4", 5, audio=False)
    jf = write_jsonl(tmp_path / "jobs.jsonl", [smooth_job(a, tmp_path / "o.mp4")])
    with pytest.raises(ValueError, match="GPUs each task asks for"):
        run_batch(jf, ray="auto", gpus="0,1", progress=None)
