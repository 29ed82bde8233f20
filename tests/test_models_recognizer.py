"""facefuse.models.recognizer with stand-in ArcFace models (real names / shapes, linear behaviour)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import numpy_helper  # noqa: E402

from facefuse.inference import InferencePool, ModelError, ModelNotFoundError  # noqa: E402
from facefuse.models import RECOGNIZER_SPECS, FaceRecognizer, warp_face  # noqa: E402
from facefuse.testing.face_models import BUILDERS  # noqa: E402

ASTRONAUT_LM5 = np.array([[204.0, 102.0], [243.0, 103.0], [225.0, 127.0], [205.0, 142.0], [238.0, 141.0]], np.float32)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("models")
    BUILDERS["arcface_w600k_r50"](d)
    BUILDERS["arcface_simswap"](d)
    return d



@pytest.fixture
def pool(models_dir: Path) -> InferencePool:
    with InferencePool(models_dir=models_dir, providers="cpu") as p:
        yield p


def expected_embedding(model_path: Path, crop_bgr: np.ndarray) -> np.ndarray:
    """What the stand-in computes, from its weights: FaceFusion's x/127.5-1 on RGB, 14x14 mean pool, @W + b."""
    model = onnx.load(str(model_path))
    w = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    x = crop_bgr[:, :, ::-1].astype(np.float64) / 127.5 - 1.0
    pooled = x.reshape(8, 14, 8, 14, 3).mean(axis=(1, 3)).transpose(2, 0, 1).reshape(-1)
    return pooled @ w["w"] + w["b"]


def test_embed_matches_facefusion_preprocessing(pool: InferencePool, models_dir: Path, astronaut_bgr: np.ndarray) -> None:
    rec = FaceRecognizer(pool)
    assert rec.template == "arcface_112_v2" and rec.size == (112, 112)
    emb, normed = rec.embed(astronaut_bgr, ASTRONAUT_LM5)
    assert emb.shape == (512,) and normed.shape == (512,)
    assert emb.dtype == np.float32 and normed.dtype == np.float32
    crop, _ = warp_face(astronaut_bgr, ASTRONAUT_LM5, "arcface_112_v2", 112)
    np.testing.assert_allclose(emb, expected_embedding(models_dir / "arcface_w600k_r50.onnx", crop), rtol=1e-4, atol=1e-4)
    # BGR fed without the RGB swap would give a different embedding (the check above is sensitive)
    wrong = expected_embedding(models_dir / "arcface_w600k_r50.onnx", crop[:, :, ::-1])
    assert np.abs(wrong - emb).max() > 1e-2


def test_embeddings_deterministic_and_unit_norm(pool: InferencePool, astronaut_bgr: np.ndarray) -> None:
    rec = FaceRecognizer(pool)
    e1, n1 = rec.embed(astronaut_bgr, ASTRONAUT_LM5)
    e2, n2 = FaceRecognizer(pool).embed(astronaut_bgr.copy(), ASTRONAUT_LM5.copy())
    np.testing.assert_array_equal(e1, e2)
    np.testing.assert_array_equal(n1, n2)
    assert abs(float(np.linalg.norm(n1)) - 1.0) < 1e-5
    np.testing.assert_allclose(n1, e1 / np.linalg.norm(e1), rtol=1e-6, atol=1e-7)


def test_different_faces_give_different_embeddings(pool: InferencePool, astronaut_bgr: np.ndarray) -> None:
    from skimage import data

    rec = FaceRecognizer(pool)
    _, a = rec.embed(astronaut_bgr, ASTRONAUT_LM5)
    other = np.ascontiguousarray(data.chelsea()[:, :, ::-1])  # a cat photo
    _, b = rec.embed(other, ASTRONAUT_LM5 + np.float32([20, 40]))
    _, c = rec.embed(astronaut_bgr, ASTRONAUT_LM5 + np.float32([0, 150]))  # the suit, not the face
    assert float(a @ b) < 0.99 and float(a @ c) < 0.99 and float(b @ c) < 0.99


def test_arcface_simswap_reads_its_input_by_position(pool: InferencePool, models_dir: Path, astronaut_bgr: np.ndarray) -> None:
    rec = FaceRecognizer(pool, "arcface_simswap")
    emb, normed = rec.embed(astronaut_bgr, ASTRONAUT_LM5)
    crop, _ = warp_face(astronaut_bgr, ASTRONAUT_LM5, "arcface_112_v2", 112)
    np.testing.assert_allclose(emb, expected_embedding(models_dir / "arcface_simswap.onnx", crop), rtol=1e-4, atol=1e-4)
    _, w600k = FaceRecognizer(pool).embed(astronaut_bgr, ASTRONAUT_LM5)
    assert float(normed @ w600k) < 0.99  # a different embedding space


def test_unknown_model(pool: InferencePool) -> None:
    with pytest.raises(ValueError, match="arcface_w600k_r50"):
        FaceRecognizer(pool, "arcface_nope")
    assert set(RECOGNIZER_SPECS) == {"arcface_w600k_r50", "arcface_simswap"}


def test_missing_file_says_where(tmp_path: Path) -> None:
    with InferencePool(models_dir=tmp_path, providers="cpu") as p:
        with pytest.raises(ModelNotFoundError, match=r"arcface_w600k_r50\.onnx.*(\n|.)*\.assets/models"):
            FaceRecognizer(p)


def test_wrong_signature_names_the_file(tmp_path: Path) -> None:
    bad = BUILDERS["simswap_256"](tmp_path / "src")
    shutil.copy(bad, tmp_path / "arcface_w600k_r50.onnx")
    shutil.copy(bad, tmp_path / "arcface_simswap.onnx")
    with InferencePool(models_dir=tmp_path, providers="cpu") as p:
        with pytest.raises(ModelError, match="arcface_w600k_r50.onnx") as ei:
            FaceRecognizer(p)
        assert "input" in str(ei.value)
        with pytest.raises(ModelError, match="arcface_simswap.onnx.*(\n|.)*expected"):
            FaceRecognizer(p, "arcface_simswap")


def test_bad_inputs(pool: InferencePool, astronaut_bgr: np.ndarray) -> None:
    rec = FaceRecognizer(pool)
    with pytest.raises(TypeError, match="frame"):
        rec.embed(astronaut_bgr.astype(np.float32), ASTRONAUT_LM5)
    with pytest.raises(ValueError, match="landmarks5"):
        rec.embed(astronaut_bgr, ASTRONAUT_LM5[:3])
    with pytest.raises(ValueError, match="crop"):
        rec.embed_crop(np.zeros((128, 128, 3), np.uint8))
    with pytest.raises(TypeError, match="pool"):
        FaceRecognizer("models/")  # type: ignore[arg-type]
