"""Batch jobs and the files they write: outputs compared as files (symlinked folders, hard
links), not as path strings; a finished output is skipped only while it is what was written."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from batch_helpers import frames_of, make_clip, smooth_job, temp_leftovers, write_jsonl
from facefuse.batch import Job, JobFileError, Manifest, load_jobs, run_batch
from facefuse.cli import main as cli_main


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("in")
    return [make_clip(d / f"c{i}.mp4", 12 + i, audio=False) for i in range(2)]


@pytest.fixture
def linked(tmp_path):
    """tmp_path/out and a symlink tmp_path/ln -> out."""
    (tmp_path / "out").mkdir()
    os.symlink(tmp_path / "out", tmp_path / "ln")
    return tmp_path / "out", tmp_path / "ln"


def test_two_outputs_through_a_symlinked_folder_are_one(clips, tmp_path, linked, capsys):
    out, ln = linked
    jf = write_jsonl(tmp_path / "jobs.jsonl", [smooth_job(clips[0], out / "a.mp4"), smooth_job(clips[1], ln / "a.mp4")])
    with pytest.raises(JobFileError) as e:
        load_jobs(jf)
    assert any(p.startswith("job 1 (line 2), field 'output'") and "also the output of job 0 (line 1)" in p
               for p in e.value.problems), e.value.problems
    # the command refuses the file before any job runs
    assert cli_main(["batch", str(jf)]) == 2
    assert "also the output of job 0" in capsys.readouterr().err
    assert os.listdir(out) == []


def test_an_output_may_not_be_an_input_of_any_job(clips, tmp_path, linked):
    out, ln = linked
    made = out / "made.mp4"
    made.write_bytes(clips[0].read_bytes())
    os.link(clips[1], tmp_path / "hard.mp4")
    jf = write_jsonl(tmp_path / "jobs.jsonl", [
        smooth_job(clips[0], ln / "made.mp4"),            # overwrites the input of job 1
        smooth_job(made, out / "b.mp4"),
        smooth_job(clips[1], tmp_path / "hard.mp4"),      # a hard link of its own input
    ])
    with pytest.raises(JobFileError) as e:
        load_jobs(jf)
    text = "\n".join(e.value.problems)
    assert "job 0 (line 1), field 'output'" in text and "also input 'video' of job 1 (line 2)" in text
    assert "job 2 (line 3), field 'output'" in text and "also input 'video' of this job" in text


def test_path_options_of_a_job_are_outputs_and_inputs_too(tmp_path):
    pytest.importorskip("onnx")
    from pipeline_clips import source_face

    face = source_face(tmp_path / "face.png")
    target = tmp_path / "t.mp4"
    target.write_bytes(b"not read at validation")
    job = {"kind": "swap", "inputs": {"source": str(face), "target": str(target)}}
    jf = write_jsonl(tmp_path / "jobs.jsonl", [
        dict(job, output=str(tmp_path / "o1.mp4"), options={"quality_report": str(target)}),
        dict(job, output=str(tmp_path / "o2.mp4"), options={"quality_report": str(tmp_path / "q.json"),
                                                             "quality_plot": str(tmp_path / "o1.mp4")}),
        dict(job, output=str(tmp_path / "o3.mp4"), options={"quality_plot": str(tmp_path / "q.json")}),
    ])
    with pytest.raises(JobFileError) as e:
        load_jobs(jf)
    text = "\n".join(e.value.problems)
    assert "job 0 (line 1), field 'options.quality_report'" in text and "also input 'target' of this job" in text
    assert "job 1 (line 2), field 'options.quality_plot'" in text and "also the output of job 0" in text
    assert "job 2 (line 3), field 'options.quality_plot'" in text and "options.quality_report' of job 1" in text


def test_run_batch_checks_a_list_of_jobs_too(clips, tmp_path, linked):
    out, ln = linked
    jobs = [Job(index=i, line=None, name=f"j{i}", kind="facefuse.testing.batch_kinds:SMOOTH",
                inputs={"video": str(clips[i])}, output=str(d / "a.mp4")) for i, d in enumerate((out, ln))]
    with pytest.raises(ValueError, match="also the output of job 0"):
        run_batch(jobs, manifest=str(tmp_path / "m.json"), progress=None)
    assert os.listdir(out) == []


def test_a_finished_output_that_changed_is_made_again(clips, tmp_path):
    out = tmp_path / "out"
    jf = write_jsonl(tmp_path / "jobs.jsonl", [smooth_job(clips[0], out / "a.mp4"), smooth_job(clips[1], out / "b.mp4")])
    assert [o.status for o in run_batch(jf, progress=None).outcomes] == ["done", "done"]
    entry = next(e for e in json.loads(Path(str(jf) + ".manifest.json").read_text())["jobs"].values()
                 if e["output"] == str(out / "a.mp4"))
    assert entry["written"] == {"size": (out / "a.mp4").stat().st_size, "mtime_ns": (out / "a.mp4").stat().st_mtime_ns}
    (out / "a.mp4").write_bytes(b"0123456789")  # replaced by something else
    rep = run_batch(jf, progress=None)
    assert [o.status for o in rep.outcomes] == ["done", "skipped"]
    assert "changed since" in rep.outcomes[0].note
    assert len(frames_of(out / "a.mp4")) == 12
    assert [o.status for o in run_batch(jf, progress=None).outcomes] == ["skipped", "skipped"]
    assert temp_leftovers(out) == []


def test_a_finished_chunk_that_changed_is_made_again(clips, tmp_path):
    """The planning of a resumed chunked job keeps a finished chunk only while its file is
    the one that was written."""
    from facefuse.batch.chunks import chunk_dir, chunk_path
    from facefuse.batch.jobs import parse_jobs
    from facefuse.batch.runner import _plan

    long = make_clip(tmp_path / "long.mp4", 40, audio=False)
    (job,) = parse_jobs([smooth_job(long, tmp_path / "o.mp4", chunk_seconds=0.8)], base_dir=str(tmp_path))
    with Manifest(tmp_path / "m.json") as man:
        run = _plan(job, man, force=False, chunk_seconds=None, warmup=5)
        assert len(run.units) == 2
        # as if both chunks had been made and recorded by an interrupted run
        cdir = chunk_dir(job.output, job.key)
        for k in (0, 1):
            p = Path(chunk_path(cdir, k, job.output))
            p.write_bytes(b"chunk %d" % k * 100)
            st = p.stat()
            man.update_chunk(job.key, k, status="done", stats={"frames": 20},
                             written={"size": st.st_size, "mtime_ns": st.st_mtime_ns})
        Path(chunk_path(cdir, 0, job.output)).write_bytes(b"0123456789")
        run = _plan(job, man, force=False, chunk_seconds=None, warmup=5)
        assert sorted(u.chunk for u in run.units.values()) == [0]


def test_a_job_writing_a_quality_report_is_not_split(tmp_path):
    """Each chunk would write the job's one report (and cover its own frames only)."""
    pytest.importorskip("onnx")
    from facefuse.batch.jobs import parse_jobs
    from facefuse.batch.runner import _plan
    from pipeline_clips import make_clip as swap_clip
    from pipeline_clips import source_face

    face, clip = source_face(tmp_path / "face.png"), swap_clip(tmp_path / "t.mp4", seconds=2, audio=False)
    job = {"kind": "swap", "inputs": {"source": str(face), "target": str(clip)}, "chunk_seconds": 0.5}
    plain, reported = parse_jobs([dict(job, output="a.mp4"),
                                  dict(job, output="b.mp4", options={"quality_report": str(tmp_path / "q.json")})],
                                 base_dir=str(tmp_path))
    with Manifest(tmp_path / "m.json") as man:
        assert len(_plan(plain, man, force=False, chunk_seconds=None, warmup=5).units) > 1  # split
        run = _plan(reported, man, force=False, chunk_seconds=None, warmup=5)
        assert run.ranges is None and len(run.units) == 1
        assert "not split: its quality_report covers the whole video" in run.outcome.note
