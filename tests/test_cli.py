"""The ``facefuse`` command line: ``bench`` (JSON structure, timings) and ``--version``."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import facefuse
from facefuse import benchmarks
from facefuse.cli import main


def _run_bench(tmp_path, *extra: str) -> dict:
    path = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--json", str(path), *extra]) == 0
    return json.loads(path.read_text())


def _check_doc(doc: dict, quick: bool = True) -> None:
    assert doc["facefuse_version"] == facefuse.__version__
    assert doc["settings"]["quick"] is quick
    assert doc["machine"]["logical_cores"] >= 1
    assert isinstance(doc["cases"], list) and isinstance(doc["skipped"], list)
    for row in doc["cases"]:
        assert set(row) >= {"name", "native_ms", "reference_ms", "speedup", "native_runs", "reference_runs"}
        assert row["native_ms"] > 0 and row["reference_ms"] > 0
        assert row["speedup"] == pytest.approx(row["reference_ms"] / row["native_ms"])
        assert row["native_runs"] >= doc["settings"]["repeat"]
        assert row["reference_runs"] >= doc["settings"]["repeat"]
    for s in doc["skipped"]:
        assert s["reason"]


@pytest.mark.parametrize("filt", ["bgr_to_lab", "tpsnr", "LandmarkSmoother", "blend_laplacian 128"])
def test_bench_quick_json(tmp_path, capsys, filt) -> None:
    doc = _run_bench(tmp_path, "--filter", filt)
    _check_doc(doc)
    selected = benchmarks.select(filt, quick=True)
    names = [r["name"] for r in doc["cases"]] + [s["name"] for s in doc["skipped"]]
    assert sorted(names) == sorted(c.label(True) for c in selected)
    assert len(doc["cases"]) >= 1  # these ops are always built
    out, err = capsys.readouterr()
    assert "speed-up" in out and doc["cases"][0]["name"] in out  # the table
    assert "[1/" in err  # the progress line


def test_bench_every_case_runs_or_is_skipped_with_a_reason(tmp_path) -> None:
    doc = _run_bench(tmp_path, "--repeat", "1", "--warmup", "0")
    _check_doc(doc)
    assert len(doc["cases"]) + len(doc["skipped"]) == len(benchmarks.CASES)
    for case in benchmarks.CASES:
        why = case.unavailable()
        listed = [s for s in doc["skipped"] if s["name"] == case.label(True)]
        assert bool(listed) == bool(why)


def test_bench_paste_cases(tmp_path) -> None:
    cases = benchmarks.select("paste_back", quick=True)
    assert len(cases) == 12  # 2 sizes x 2 face counts x (alpha, laplacian, compat)
    assert not any(c.unavailable() for c in cases)
    doc = _run_bench(tmp_path, "--filter", "paste_back 320x240 4x")
    _check_doc(doc)
    assert len(doc["cases"]) == 6 and not doc["skipped"]


def test_bench_json_to_stdout(capsys) -> None:
    assert main(["bench", "--quick", "--filter", "tpsnr", "--json", "-"]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)  # stdout holds only the JSON; the table went to stderr
    _check_doc(doc)
    assert "speed-up" in err


def test_bench_list_and_errors(capsys) -> None:
    assert main(["bench", "--quick", "--list", "--filter", "compat"]) == 0
    out, _ = capsys.readouterr()
    assert out.count("compat.facefusion.paste_back") == 4
    assert main(["bench", "--filter", "no-such-case"]) == 2
    assert main(["bench", "--repeat", "0"]) == 2
    assert main(["bench", "--min-time", "-1"]) == 2
    assert main([]) == 2


def test_full_size_case_names() -> None:
    names = [c.name for c in benchmarks.CASES]
    for size in ("1920x1080", "3840x2160"):
        for faces in ("1x512", "4x512"):
            for blend in ("alpha", "laplacian"):
                assert f"paste_back {size} {faces} {blend}" in names
            assert f"compat.facefusion.paste_back {size} {faces}" in names
    assert any(n.startswith("blend_poisson 512x512") for n in names)
    assert any(n.startswith("LandmarkSmoother.update 64x478") for n in names)


def test_time_case_medians() -> None:
    calls = {"a": 0, "b": 0}

    def a():
        calls["a"] += 1

    def b():
        calls["b"] += 1

    t = benchmarks.time_case(a, b, repeat=5, min_time=0.0, warmup=2)
    assert t["native_runs"] == 5 and t["reference_runs"] == 5
    assert calls == {"a": 7, "b": 7}
    assert t["native_s"] >= 0 and t["reference_s"] >= 0


@pytest.mark.parametrize("module", ["facefuse.cli", "facefuse"])
def test_version(module, capsys) -> None:
    r = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    assert r.stdout.strip() == f"facefuse {facefuse.__version__}"
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert facefuse.__version__ in capsys.readouterr().out


def test_bench_json_path_is_checked_before_the_run(tmp_path, capsys) -> None:
    # a --json path in a missing directory failed with a traceback after the whole run
    bad = tmp_path / "nodir" / "x.json"
    assert main(["bench", "--quick", "--filter", "tpsnr", "--json", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--json" in err and str(bad.parent) in err
    assert "[1/" not in err  # nothing was timed
    assert main(["bench", "--quick", "--filter", "tpsnr", "--json", str(tmp_path)]) == 2  # a directory
    assert "--json" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_bench_json_write_failure_after_the_run_is_one_line(tmp_path, capsys, monkeypatch) -> None:
    # the directory goes away during the run: one line that says where the results are, no
    # traceback, no partial file
    d = tmp_path / "out"
    d.mkdir()
    real = benchmarks.time_case

    def time_case(*a, **k):
        if d.exists():
            d.rmdir()
        return real(*a, **k)

    monkeypatch.setattr(benchmarks, "time_case", time_case)
    assert main(["bench", "--quick", "--filter", "tpsnr", "--json", str(d / "x.json")]) == 2
    out, err = capsys.readouterr()
    assert "speed-up" in out  # the table was printed
    last = err.strip().splitlines()[-1]
    assert last.startswith("facefuse bench: ") and "x.json" in last and "table" in last
    assert os.listdir(tmp_path) == []
