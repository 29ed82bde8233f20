"""Job files: reading .yaml / .json / .jsonl and validating every field up front."""
from __future__ import annotations

import json

import pytest

from batch_helpers import SMOOTH, make_clip, smooth_job, write_jsonl
from facefuse.batch import JobFileError, load_jobs, resolve_kind
from facefuse.batch.kinds import KINDS


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("c") / "in.mp4", 10, audio=False)


def test_jsonl_relative_paths_names_and_key(clip, tmp_path):
    (tmp_path / "in.mp4").write_bytes(clip.read_bytes())
    p = write_jsonl(tmp_path / "jobs.jsonl", [
        {"kind": SMOOTH, "inputs": ["in.mp4"], "output": "out/a.mp4", "name": "first"},
        smooth_job(tmp_path / "in.mp4", tmp_path / "out" / "b.mp4", window=3, chunk_seconds=2),
    ])
    with open(p, "a") as f:
        f.write("\n# a comment\n")
    jobs = load_jobs(p)
    assert [j.name for j in jobs] == ["first", "b.mp4"]
    assert jobs[0].inputs == {"video": str(tmp_path / "in.mp4")}
    assert jobs[0].output == str(tmp_path / "out" / "a.mp4")
    assert (jobs[0].line, jobs[1].line) == (1, 2)
    assert jobs[1].options == {"window": 3} and jobs[1].chunk_seconds == 2.0
    # the key follows kind, inputs, output and options, nothing else
    again = load_jobs(p)
    assert [j.key for j in again] == [j.key for j in jobs] and jobs[0].key != jobs[1].key
    p2 = write_jsonl(tmp_path / "j2.jsonl", [smooth_job(tmp_path / "in.mp4", tmp_path / "out" / "b.mp4", window=4)])
    assert load_jobs(p2)[0].key != jobs[1].key


def test_yaml_with_line_numbers(clip, tmp_path):
    pytest.importorskip("yaml")
    p = tmp_path / "jobs.yaml"
    p.write_text(f"""jobs:
  - kind: "{SMOOTH}"
    inputs: {{video: {clip}}}
    output: a.mp4

  - kind: "{SMOOTH}"
    inputs: {{video: {clip}}}
    output: b.mp4
    options: {{windw: 3}}
""")
    with pytest.raises(JobFileError) as e:
        load_jobs(p)
    (msg,) = e.value.problems
    assert msg.startswith("job 1 (line 6), field 'options': windw not accepted by "
                          "facefuse.testing.batch_kinds:smooth_video; it takes codec, copy_audio, ")
    assert ", window" in msg and "pool" not in msg and "start_frame" not in msg
    p.write_text(p.read_text().replace("windw", "window"))
    jobs = load_jobs(p)
    assert [j.output for j in jobs] == [str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4")]


def test_every_problem_named_with_job_and_field(clip, tmp_path):
    p = write_jsonl(tmp_path / "bad.jsonl", [
        {"kind": "swap", "inputs": {"source": "missing.jpg"}, "output": "o.mp4", "options": {"pool": 1}},
        {"kind": "nope", "inputs": [], "output": "noext"},
        {"kind": SMOOTH, "inputs": [str(clip)], "output": "o.mp4", "extra": 1, "chunk_seconds": -1},
        {"kind": SMOOTH, "inputs": [str(clip), str(clip)], "output": str(clip)},
        [1, 2],
    ])
    with pytest.raises(JobFileError) as e:
        load_jobs(p)
    text = "\n".join(e.value.problems)
    assert "job 0 (line 1), field 'inputs.source': no such file" in text
    assert "job 0 (line 1), field 'inputs.target': missing" in text
    assert "job 0 (line 1), field 'options': pool set by the batch runner" in text
    assert "job 1 (line 2), field 'kind': unknown job kind 'nope'" in text
    assert "job 1 (line 2), field 'output'" in text and "no extension" in text
    assert "job 2 (line 3), field 'extra': unknown field" in text
    assert "job 2 (line 3), field 'chunk_seconds'" in text
    assert "job 2 (line 3), field 'output'" in text and "also the output of job 0" in text
    assert "job 3 (line 4), field 'inputs': kind 'smooth' takes 1 inputs (video), got 2" in text
    assert "job 4 (line 5): expected a mapping" in text
    assert isinstance(e.value, ValueError)


def test_file_level_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_jobs(tmp_path / "none.jsonl")
    (tmp_path / "j.txt").write_text("x")
    with pytest.raises(JobFileError, match="unknown job file type"):
        load_jobs(tmp_path / "j.txt")
    (tmp_path / "j.jsonl").write_text('{"kind": 1}\n{oops\n')
    with pytest.raises(JobFileError, match="line 2: not valid JSON"):
        load_jobs(tmp_path / "j.jsonl")
    (tmp_path / "e.json").write_text(json.dumps({"jobs": []}))
    with pytest.raises(JobFileError, match="no job"):
        load_jobs(tmp_path / "e.json")


def test_kinds_registry():
    assert set(KINDS) == {"swap", "lipsync"}
    assert KINDS["swap"].inputs == ("source", "target") and KINDS["swap"].video_input == "target"
    assert KINDS["lipsync"].inputs == ("video", "audio") and KINDS["lipsync"].audio_input == "audio"
    assert resolve_kind(SMOOTH).supports_chunks()
    with pytest.raises(ValueError, match="not a facefuse.batch.JobKind"):
        resolve_kind("facefuse.testing.batch_kinds:smooth_video")
    with pytest.raises(ImportError):
        resolve_kind("facefuse.no_such_module:X")
