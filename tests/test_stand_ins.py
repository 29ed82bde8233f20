"""facefuse.testing's stand-in models carry a mark, and real runs refuse them unless
FACEFUSE_ALLOW_STAND_INS is set (left in ~/.facefuse/models they "swap" by inverting colours)."""
from __future__ import annotations

import pytest

pytest.importorskip("av")
pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from facefuse.cli import main  # noqa: E402
from facefuse.inference import InferencePool, ModelError  # noqa: E402
from facefuse.inference.stand_ins import METADATA_KEY, PRODUCER, is_stand_in_file  # noqa: E402
from facefuse.testing import builders, write_models  # noqa: E402
from pipeline_clips import FAST, build_models, make_clip, source_face  # noqa: E402


def test_every_stand_in_is_marked(tmp_path) -> None:
    for key, path in write_models(tmp_path).items():
        model = onnx.load(str(path))
        assert model.producer_name == PRODUCER, key
        assert METADATA_KEY in {p.key for p in model.metadata_props}, key
        assert is_stand_in_file(path), key
    assert len(builders()) >= 10


def test_pool_refuses_a_stand_in_unless_allowed(tmp_path, monkeypatch) -> None:
    path = write_models(tmp_path, ["inswapper_128"])["inswapper_128"]
    monkeypatch.delenv("FACEFUSE_ALLOW_STAND_INS")
    with InferencePool(providers="cpu", download=False) as pool:
        with pytest.raises(ModelError, match="stand-in.*facefuse models download inswapper_128.*FACEFUSE_ALLOW_STAND_INS=1"):
            pool.get(path)
        assert len(pool) == 0  # not cached
    with InferencePool(providers="cpu", download=False, allow_stand_ins=True) as pool:
        assert pool.get(path) is not None
    monkeypatch.setenv("FACEFUSE_ALLOW_STAND_INS", "1")
    with InferencePool(providers="cpu", download=False) as pool:
        assert pool.get(path) is not None


def test_swap_refuses_stand_ins_with_exit_2(tmp_path, monkeypatch, capsys) -> None:
    models = build_models(tmp_path / "models")
    clip, face = make_clip(tmp_path / "clip.mp4", seconds=0.2), source_face(tmp_path / "face.png")
    monkeypatch.delenv("FACEFUSE_ALLOW_STAND_INS")
    rc = main(["swap", "-s", str(face), "-t", str(clip), "-o", str(tmp_path / "o.mp4"),
               "--models-dir", str(models), *FAST])
    err = capsys.readouterr().err
    assert rc == 2 and "facefuse swap: error:" in err and "stand-in" in err and "FACEFUSE_ALLOW_STAND_INS=1" in err
    assert not (tmp_path / "o.mp4").exists()

