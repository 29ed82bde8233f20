"""Model downloads (facefuse.inference.download / fetch / registry) against a loopback server
with injected faults: nothing here touches the network."""
from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

pytest.importorskip("requests")
pytest.importorskip("onnx")

from facefuse.inference import InferencePool, ModelNotFoundError, files  # noqa: E402
from facefuse.inference.download import DownloadError, DownloadSettings, download_file, part_path  # noqa: E402
from facefuse.inference.fetch import download_dir, fetch_model, is_facefusion_dir  # noqa: E402
from facefuse.inference.registry import MODEL_SETS, PUBLIC_HOSTS, REGISTRY, lookup  # noqa: E402
from model_server import file_crc, serving, write_mirror  # noqa: E402

FAST = DownloadSettings(connect_timeout=2.0, read_timeout=0.5, retries=2, backoff=0.01, max_backoff=0.02)


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("mirror")
    return {"root": root, "files": write_mirror(root, ("yolo_face", "scrfd", "arcface_w600k_r50", "inswapper_128"))}


@pytest.fixture
def server(mirror, monkeypatch):
    with serving(mirror["root"], monkeypatch) as s:
        yield s


def _path(name: str) -> str:
    e = lookup(name)
    return f"/{e.release}/{e.file_name}"


def _fetch(name: str, dest_dir: Path) -> Path:
    e = lookup(name)
    return download_file(e.urls(), e.hash_urls(), dest_dir / e.file_name, settings=FAST)


def _only(directory: Path) -> list:
    """The visible files of a directory (the lock file is hidden and may stay)."""
    return sorted(p for p in os.listdir(directory) if not p.endswith(".lock"))


def test_happy_path_writes_the_file_and_its_hash(server, mirror, tmp_path) -> None:
    got = _fetch("inswapper_128", tmp_path)
    src = mirror["files"]["inswapper_128"]
    assert got == tmp_path / "inswapper_128.onnx" and got.read_bytes() == src.read_bytes()
    assert (tmp_path / "inswapper_128.hash").read_text() == file_crc(src)  # as FaceFusion keeps it
    assert _only(tmp_path) == ["inswapper_128.hash", "inswapper_128.onnx"]
    assert server.gets(".onnx") == [""]  # one plain GET


def test_404_names_the_url_and_leaves_nothing(server, tmp_path) -> None:
    server.faults[_path("scrfd")] = ["404"]
    with pytest.raises(DownloadError) as ei:
        _fetch("scrfd", tmp_path)
    msg = str(ei.value)
    assert "scrfd_2.5g.onnx" in msg and f"{server.url}{_path('scrfd')}: HTTP 404" in msg
    assert _only(tmp_path) == []


def test_500_is_retried_then_succeeds(server, mirror, tmp_path) -> None:
    server.faults[_path("scrfd")] = ["500", "500"]
    got = _fetch("scrfd", tmp_path)
    assert got.read_bytes() == mirror["files"]["scrfd"].read_bytes()
    assert len(server.gets("scrfd_2.5g.onnx")) == 3


def test_cut_connection_is_resumed_with_range(server, mirror, tmp_path) -> None:
    server.faults[_path("arcface_w600k_r50")] = ["cut"]
    got = _fetch("arcface_w600k_r50", tmp_path)
    data = mirror["files"]["arcface_w600k_r50"].read_bytes()
    assert got.read_bytes() == data
    first, second = server.gets("arcface_w600k_r50.onnx")
    assert first == "" and second.startswith("bytes=") and 0 < int(second[6:-1]) < len(data)
    assert not part_path(got).exists()


def test_part_left_by_an_earlier_run_is_resumed(server, mirror, tmp_path) -> None:
    data = mirror["files"]["yolo_face"].read_bytes()
    part_path(tmp_path / "yoloface_8n.onnx").write_bytes(data[:1000])
    got = _fetch("yolo_face", tmp_path)
    assert got.read_bytes() == data and server.gets("yoloface_8n.onnx") == ["bytes=1000-"]


def test_server_ignoring_range_still_gives_the_whole_file(server, mirror, tmp_path) -> None:
    data = mirror["files"]["yolo_face"].read_bytes()
    part_path(tmp_path / "yoloface_8n.onnx").write_bytes(data[:1000])
    server.faults[_path("yolo_face")] = ["norange"]
    assert _fetch("yolo_face", tmp_path).read_bytes() == data


def test_bad_part_from_an_earlier_run_is_redone_from_zero(server, mirror, tmp_path) -> None:
    data = mirror["files"]["yolo_face"].read_bytes()
    part_path(tmp_path / "yoloface_8n.onnx").write_bytes(b"\0" * 1000)  # wrong bytes: resuming gives a bad hash
    assert _fetch("yolo_face", tmp_path).read_bytes() == data
    assert server.gets("yoloface_8n.onnx") == ["bytes=1000-", ""]


def test_corrupted_body_keeps_nothing_and_says_why(server, mirror, tmp_path) -> None:
    server.faults[_path("scrfd")] = ["corrupt"]
    with pytest.raises(DownloadError) as ei:
        _fetch("scrfd", tmp_path)
    msg = str(ei.value)
    assert "hash mismatch" in msg and file_crc(mirror["files"]["scrfd"]) in msg and "deleted" in msg
    assert _only(tmp_path) == []
    assert not part_path(tmp_path / "scrfd_2.5g.onnx").exists()


def test_stalled_server_times_out_fast(server, tmp_path) -> None:
    server.faults[_path("scrfd")] = ["stall"] * 5
    t0 = time.perf_counter()
    with pytest.raises(DownloadError) as ei:
        _fetch("scrfd", tmp_path)
    assert time.perf_counter() - t0 < 10
    assert "timed out" in str(ei.value) and "scrfd_2.5g.onnx" in str(ei.value)
    assert not (tmp_path / "scrfd_2.5g.onnx").exists()


def test_missing_hash_companion_is_an_error(server, mirror, tmp_path) -> None:
    e = lookup("scrfd")
    server.faults[f"/{e.release}/{e.hash_name}"] = ["404"]
    with pytest.raises(DownloadError, match="CRC32 hash"):
        _fetch("scrfd", tmp_path)
    assert _only(tmp_path) == []


def test_two_concurrent_downloaders_take_turns(server, mirror, tmp_path) -> None:
    server.faults[_path("inswapper_128")] = ["slow", "slow"]
    results, errors = [], []
    waits = []

    def run() -> None:
        try:
            e = lookup("inswapper_128")
            results.append(download_file(e.urls(), e.hash_urls(), tmp_path / e.file_name, settings=FAST,
                                         on_wait=lambda: waits.append(1)))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and len(results) == 2 and results[0] == results[1]
    assert results[0].read_bytes() == mirror["files"]["inswapper_128"].read_bytes()
    assert len(waits) == 1  # the second waited for the first ...
    assert len(server.gets("inswapper_128.onnx")) == 1  # ... and found its file: one transfer
    assert _only(tmp_path) == ["inswapper_128.hash", "inswapper_128.onnx"]


def test_pool_fetches_on_first_use_and_notes_the_licence_once(server, tmp_path, capsys) -> None:
    pool = InferencePool(models_dir=tmp_path / "m", download_progress=False)
    path = pool.resolve("inswapper_128.onnx")
    assert path == (tmp_path / "m" / "inswapper_128.onnx").resolve()
    assert pool.resolve("inswapper_128.onnx") == path  # found now: no second download
    assert len(server.gets("inswapper_128.onnx")) == 1
    err = capsys.readouterr().err
    assert err.count("non-commercial") == 1 and "inswapper_128.onnx" in err  # said once, on the download
    fetch_model("scrfd", tmp_path / "m", progress=False)
    assert "scrfd_2.5g.onnx" in capsys.readouterr().err  # InsightFace's too
    fetch_model("yolo_face", tmp_path / "m", progress=False)
    assert capsys.readouterr().err == ""  # no licence note known for it: nothing said


def test_offline_names_file_url_and_directory(server, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FACEFUSE_OFFLINE", "1")
    pool = InferencePool(models_dir=tmp_path / "m")
    with pytest.raises(ModelNotFoundError) as ei:
        pool.resolve("arcface_w600k_r50.onnx")
    msg = str(ei.value)
    assert "'arcface_w600k_r50.onnx'" in msg and f"{server.url}{_path('arcface_w600k_r50')}" in msg
    assert f"into {tmp_path / 'm'}" in msg and "FACEFUSE_OFFLINE" in msg
    assert server.requests == [] and not (tmp_path / "m").exists()  # nothing fetched, nothing made
    # download=False says the same without the variable
    monkeypatch.delenv("FACEFUSE_OFFLINE")
    with pytest.raises(ModelNotFoundError, match="downloads are off"):
        InferencePool(models_dir=tmp_path / "m", download=False).resolve("arcface_w600k_r50.onnx")
    assert server.requests == []


def test_file_not_in_the_registry_is_not_fetched(server, tmp_path) -> None:
    with pytest.raises(ModelNotFoundError, match="export-diff2lip"):
        fetch_model("diff2lip", tmp_path)
    with pytest.raises(ModelNotFoundError, match="my_model.onnx"):
        InferencePool(models_dir=tmp_path).resolve("my_model.onnx")
    assert server.requests == []


def _readonly_dir(tmp_path: Path) -> Path:
    """A directory no file can be created in, even by root (chmod does not bind root)."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        for cand in (Path("/sys/kernel"), Path("/proc/self")):
            try:
                (cand / ".facefuse-probe").touch()
            except OSError:
                return cand
        pytest.skip("running as root with no read-only directory at hand")
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    return d


def test_read_only_models_dir_falls_through_to_the_next(server, mirror, tmp_path) -> None:
    ro = _readonly_dir(tmp_path)
    pool = InferencePool(models_dir=ro, download_progress=False)
    path = pool.resolve("scrfd_2.5g.onnx")
    assert path.parent == files.DEFAULT_MODELS_DIR.resolve()  # conftest's stand-in for ~/.facefuse/models
    assert path.read_bytes() == mirror["files"]["scrfd"].read_bytes()


def test_no_writable_models_dir_is_a_clear_error(server, tmp_path, monkeypatch) -> None:
    ro = _readonly_dir(tmp_path)
    monkeypatch.setattr(files, "DEFAULT_MODELS_DIR", ro)
    with pytest.raises(PermissionError) as ei:
        InferencePool(models_dir=ro, download_progress=False).resolve("scrfd_2.5g.onnx")
    assert "no writable models directory" in str(ei.value) and str(ro) in str(ei.value)
    assert server.gets("scrfd_2.5g.onnx") == []


def test_facefusion_folder_is_used_as_is_and_never_written(server, mirror, tmp_path) -> None:
    ff = tmp_path / "facefusion" / ".assets" / "models"
    ff.mkdir(parents=True)
    (ff / "scrfd_2.5g.onnx").write_bytes(mirror["files"]["scrfd"].read_bytes())
    before = sorted(os.listdir(ff))
    assert is_facefusion_dir(ff) and not is_facefusion_dir(tmp_path)
    pool = InferencePool(models_dir=ff, download_progress=False)
    assert pool.resolve("scrfd_2.5g.onnx") == (ff / "scrfd_2.5g.onnx").resolve()
    fetched = pool.resolve("arcface_w600k_r50.onnx")
    assert fetched.parent == files.DEFAULT_MODELS_DIR.resolve() and download_dir(ff) == files.DEFAULT_MODELS_DIR
    assert sorted(os.listdir(ff)) == before


def test_progress_bar_shows_size_rate_and_eta(server, tmp_path) -> None:
    stream = io.StringIO()
    fetch_model("inswapper_128", tmp_path, progress=True, stream=stream)
    text = stream.getvalue()
    size = (tmp_path / "inswapper_128.onnx").stat().st_size
    last = [ln for ln in text.splitlines() if ln.startswith("download inswapper_128.onnx")][-1]
    assert f"{size / 1e6:.1f} MB/{size / 1e6:.1f} MB" in last and "/s" in last
    assert "ETA" in text
    quiet = io.StringIO()
    fetch_model("scrfd", tmp_path, progress=False, stream=quiet)
    assert "download" not in quiet.getvalue()


# -------------------------------------------------------------------- the real URL table


def test_real_url_table_has_the_right_form(monkeypatch) -> None:
    monkeypatch.delenv("FACEFUSE_MODEL_URL", raising=False)
    for m in REGISTRY.values():
        assert m.file_name.endswith(".onnx") and m.hash_name == m.file_name[:-5] + ".hash"
        if not m.downloadable:
            assert m.urls() == [] and m.how_to_get, m.name  # says how to get it instead
            continue
        urls, hashes = m.urls(), m.hash_urls()
        assert len(urls) == len(hashes) == len(PUBLIC_HOSTS)
        for u, h in zip(urls, hashes):
            pu, ph = urlparse(u), urlparse(h)
            assert pu.scheme == ph.scheme == "https" and pu.hostname in PUBLIC_HOSTS and ph.hostname == pu.hostname
            assert pu.path.endswith("/" + m.file_name) and ph.path == pu.path[: -len(m.file_name)] + m.hash_name
            assert f"/{m.release}/" in pu.path and m.release.startswith("models-3.")
        assert urls[0] == (f"https://github.com/facefusion/facefusion-assets/releases/download/"
                           f"{m.release}/{m.file_name}")
        assert urls[1] == f"https://huggingface.co/facefusion/{m.release}/resolve/main/{m.file_name}"
    assert "non-commercial" in REGISTRY["inswapper_128"].licence
    for names in MODEL_SETS.values():
        assert all(n in REGISTRY for n in names)


def test_every_model_the_package_loads_is_in_the_registry() -> None:
    from facefuse.doctor import MODEL_FAMILIES
    from facefuse.lipsync.model import DIFF2LIP_SPECS
    from facefuse.models.landmarker import FAN_68_5
    from facefuse.testing import DEFAULT_SET

    import importlib

    files_loaded = {FAN_68_5.file_name} | {s.file_name for s in DIFF2LIP_SPECS.values()}
    for _, module, attr in MODEL_FAMILIES:
        files_loaded |= {s.file_name for s in getattr(importlib.import_module(module), attr).values()}
    registered = {m.file_name for m in REGISTRY.values()}
    assert files_loaded <= registered, files_loaded - registered
    assert set(DEFAULT_SET) <= set(REGISTRY)
    from facefuse.testing import builders

    assert set(builders()) <= set(REGISTRY)  # every stand-in is a registry file, by the same name


def test_mirror_url_replaces_the_public_hosts(monkeypatch) -> None:
    monkeypatch.setenv("FACEFUSE_MODEL_URL", "https://models.example.com/ff/")
    e = lookup("inswapper_128.onnx")
    assert e.urls() == ["https://models.example.com/ff/models-3.0.0/inswapper_128.onnx"]
    assert e.hash_urls() == ["https://models.example.com/ff/models-3.0.0/inswapper_128.hash"]
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        lookup("nope")
    with pytest.raises(TypeError, match="'name'"):
        lookup(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'urls'"):
        download_file([], ["x"], "/tmp/x.onnx")
