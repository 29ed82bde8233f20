"""The README's code blocks run as written (docs that match the code).

Each Python block runs alone in a fresh interpreter and a fresh namespace (nothing
injected: a block that needs a name defines it). A block marked
``<!-- readme-test: files: REASON -->`` needs the user's own files and the real model
files: it runs as written in a folder holding a generated clip, a face image and stand-in
models (``FACEFUSE_ALLOW_STAND_INS=1``). Every other block (shell, YAML, CuPy, FaceFusion)
carries ``<!-- readme-test: skip: REASON -->``, and the tests a reason names must exist.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple, Optional

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
_BLOCK = re.compile(r"(?:<!-- readme-test: (?P<kind>skip|files): (?P<reason>.*?) -->\n)?```(?P<lang>\w*)\n(?P<code>.*?)```",
                    flags=re.S)

# Run inside the child: the block in a fresh dict, then a JSON summary of what it defined
# (arrays by shape and dtype, numbers by value) for the assertions below.
_HARNESS = """
import json, sys
ns = {"__name__": "__main__"}
exec(compile(open(sys.argv[1]).read(), "README block", "exec"), ns)

def describe(v):
    if isinstance(v, type(sys)) or callable(v):
        return type(v).__name__
    if hasattr(v, "shape") and hasattr(v, "dtype"):
        return {"shape": list(v.shape), "dtype": str(v.dtype)}
    if isinstance(v, (bool, int, float, str)):
        return v
    for attr in ("frames", "faces_swapped", "frames_synced"):
        if hasattr(v, attr):
            return {a: getattr(v, a) for a in ("frames", "faces_swapped", "frames_synced") if hasattr(v, a)}
    return type(v).__name__

print("README-NS " + json.dumps({k: describe(v) for k, v in ns.items() if not k.startswith("__")}, default=str))
"""


class Block(NamedTuple):
    line: int
    lang: str
    code: str
    kind: Optional[str]
    reason: Optional[str]


def _blocks() -> list[Block]:
    text = README.read_text()
    return [Block(text.count("\n", 0, m.start("code")), m["lang"], m["code"], m["kind"], m["reason"])
            for m in _BLOCK.finditer(text)]


def _python(kind: Optional[str]) -> list[Block]:
    return [b for b in _blocks() if b.lang == "python" and b.kind == kind]


def _run(block: Block, cwd: Path, extra_env: Optional[dict] = None) -> dict:
    script = cwd / f"readme_block_{block.line}.py"
    script.write_text(block.code)
    env = {k: v for k, v in os.environ.items() if k != "FACEFUSE_ALLOW_STAND_INS"}  # only where a test says
    env.update(HOME=str(cwd), MPLBACKEND="Agg", **(extra_env or {}))
    r = subprocess.run([sys.executable, "-c", _HARNESS, str(script)], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"README block at line {block.line} failed:\n{block.code}\n{r.stderr[-3000:]}"
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("README-NS ")][-1]
    return json.loads(line[len("README-NS "):])


def test_readme_opens_with_the_three_commands() -> None:
    """A fresh machine's first thing: a virtual environment, the install .ci/run runs, a swap."""
    first = _blocks()[0]
    lines = [ln.split("#")[0].strip() for ln in first.code.strip().splitlines()]
    assert first.lang == "bash" and len(lines) == 3, first.code
    assert lines[0].startswith("python3 -m venv .venv")
    install = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()
               if ln.strip().startswith("pip install -e")][0]
    assert lines[1] == install
    assert lines[2].startswith("facefuse swap -s ") and " -t " in lines[2] and " -o " in lines[2]


def test_every_block_runs_or_says_why_not() -> None:
    blocks = _blocks()
    assert len([b for b in blocks if b.lang == "python"]) >= 8
    for b in blocks:
        if b.lang == "python" and b.kind is None:
            continue  # run below
        assert b.kind is not None, f"README block at line {b.line} ({b.lang or 'plain'}) is neither run nor marked"
        assert len(b.reason.split()) >= 4, f"README block at line {b.line}: give the reason it is not run"
        for name in re.findall(r"tests/\w+\.py", b.reason):
            assert (ROOT / name).is_file(), f"README block at line {b.line} names {name}, which does not exist"


# what each self-contained block must have made, keyed by a name it defines
_EXPECT = {
    "out": lambda ns: ns["out"] == {"shape": [512, 512, 3], "dtype": "uint8"},
    "bands": lambda ns: ns["out"] == {"shape": [512, 512, 3], "dtype": "uint8"} and ns["bands"] == "list",
    "matched": lambda ns: ns["matched"] == {"shape": [512, 512, 3], "dtype": "uint8"}
    and ns["lab"]["dtype"] == "float32",
    "one": lambda ns: ns["one"]["shape"] == [68, 2] and ns["smooth"]["shape"] == [2, 68, 2],
    "nmj": lambda ns: ns["nmj"] >= 0 and 0 < ns["db"] < 1e9,
    "seamless": lambda ns: ns["seamless"]["shape"] == [512, 512, 3] and ns["affine"]["shape"] == [2, 3],
    "reader": lambda ns: ns["image"]["shape"] == [240, 320, 3],
}


@pytest.mark.parametrize("block", _python(None), ids=lambda b: f"line{b.line}")
def test_python_block_runs_alone(block: Block, tmp_path: Path) -> None:
    ns = _run(block, tmp_path)
    checks = [k for k in _EXPECT if k in ns]
    assert checks, f"README block at line {block.line}: no expectation covers it ({sorted(ns)})"
    for k in checks:
        assert _EXPECT[k](ns), f"README block at line {block.line}: unexpected {ns}"
    if "mon" in ns:
        assert (tmp_path / "quality.json").stat().st_size > 0
        assert (tmp_path / "quality.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if "process_video" in ns:
        assert (tmp_path / "out.mp4").stat().st_size > 0


def _user_files(home: Path) -> None:
    """What a user has at hand: a face image, a video with speech, and (stand-ins for) the models."""
    import cv2
    import numpy as np

    from facefuse.testing import write_models
    from facefuse.testing.media import synth_speech, write_audio, write_clip

    for models in ("facefusion/.assets/models", ".facefuse/models"):
        write_models(home / models, ["yolo_face", "arcface_w600k_r50", "inswapper_128", "diff2lip"])
    source = np.full((160, 160, 3), 40, np.uint8)
    source[30:130, 30:130] = 235
    cv2.imwrite(str(home / "face.jpg"), source)
    write_clip(home / "video.mp4", 1.0, size=(160, 120), square=64, audio=synth_speech(1.0), audio_rate=16000)
    write_audio(home / "speech.wav", synth_speech(1.0), 16000)


def test_python_blocks_with_user_files_run(tmp_path: Path) -> None:
    blocks = _python("files")
    assert len(blocks) == 2  # ff.swap_video and ff.lipsync_video
    _user_files(tmp_path)
    results = {}
    for b in blocks:
        results.update(_run(b, tmp_path, {"FACEFUSE_ALLOW_STAND_INS": "1"}))
    assert results["result"] == {"frames": 25, "faces_swapped": 25}
    assert results["r"]["frames"] == 25 and results["r"]["frames_synced"] == 25
    assert (tmp_path / "out.mp4").stat().st_size > 0 and (tmp_path / "synced.mp4").stat().st_size > 0
    assert (tmp_path / "q.json").stat().st_size > 0


def test_benchmark_table_uses_facefuse_bench_cases() -> None:
    from facefuse import benchmarks

    text = README.read_text()
    table = text[text.index("| `facefuse bench` case |"):].split("\n\n")[0]
    cases = re.findall(r"^\| `([^`]+)` \|", table, flags=re.M)
    assert len(cases) >= 6
    known = {c.label(False) for c in benchmarks.select(None, False)}
    assert set(cases) <= known, sorted(set(cases) - known)
