"""facefuse.models.swapper with stand-in swappers that invert the crop (real names / shapes)."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, List

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from facefuse.inference import INSWAPPER_128, InferencePool, ModelError, ModelNotFoundError  # noqa: E402
from facefuse.models import SWAPPER_SPECS, FaceRecognizer, FaceSwapper, box_mask  # noqa: E402
from facefuse.testing.face_models import BUILDERS  # noqa: E402

ASTRONAUT_LM5 = np.array([[204.0, 102.0], [243.0, 103.0], [225.0, 127.0], [205.0, 142.0], [238.0, 141.0]], np.float32)
ALL_SWAPPERS = ["inswapper_128", "inswapper_128_fp16", "hyperswap_1a_256", "hyperswap_1b_256", "hyperswap_1c_256", "simswap_256"]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("models")
    for build in BUILDERS.values():
        build(d)
    return d



@pytest.fixture
def pool(models_dir: Path) -> InferencePool:
    with InferencePool(models_dir=models_dir, providers="cpu") as p:
        yield p


@pytest.fixture(scope="module")
def raw_embedding() -> np.ndarray:
    return np.random.default_rng(7).standard_normal(512).astype(np.float32) * 3.0


class CountingSession:
    """Wraps an onnxruntime session and counts run() calls."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.calls: List[int] = []

    def run(self, names: Any, feeds: dict) -> Any:
        self.calls.append(int(feeds["target"].shape[0]))
        return self.session.run(names, feeds)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)


def crops_for(swapper: FaceSwapper, frame: np.ndarray, n: int) -> np.ndarray:
    shifts = [np.float32([dx, dy]) for dx, dy in [(0, 0), (15, -10), (-20, 25), (5, 40), (-30, -5)]]
    return np.stack([swapper.crop(frame, ASTRONAUT_LM5 + shifts[i % len(shifts)])[0] for i in range(n)])


# ------------------------------------------------------------------------------------- behaviour
@pytest.mark.parametrize("model", ALL_SWAPPERS)
def test_swap_inverts_the_crop(model: str, pool: InferencePool, astronaut_bgr: np.ndarray, raw_embedding: np.ndarray) -> None:
    sw = FaceSwapper(pool, model)
    s = sw.size[0]
    crops = crops_for(sw, astronaut_bgr, 2)
    assert crops.shape == (2, s, s, 3)
    swapped, masks = sw.swap(crops, sw.source_latent(raw_embedding))
    assert swapped.shape == crops.shape and swapped.dtype == np.uint8
    diff = np.abs(swapped.astype(int) - (255 - crops.astype(int)))
    assert diff.max() <= 1, f"{model}: max deviation from the inverted crop {diff.max()}"
    if model.startswith("hyperswap"):
        assert sw.has_mask and masks is not None
        assert masks.shape == (2, s, s) and masks.dtype == np.float32
        # stand-in mask = mean of the crop's channels in [0, 1]
        np.testing.assert_allclose(masks, crops.astype(np.float32).mean(axis=3) / 255.0, atol=2e-3)
    else:
        assert masks is None and not sw.has_mask


@pytest.mark.parametrize(
    "model,template,size,recognizer",
    [
        ("inswapper_128", "arcface_128", 128, "arcface_w600k_r50"),
        ("hyperswap_1a_256", "arcface_128", 256, "arcface_w600k_r50"),
        ("simswap_256", "arcface_112_v1", 256, "arcface_w600k_r50"),
    ],
)
def test_attributes_follow_facefusion(model: str, template: str, size: int, recognizer: str, pool: InferencePool) -> None:
    sw = FaceSwapper(pool, model)
    assert (sw.template, sw.size, sw.recognizer) == (template, (size, size), recognizer)
    np.testing.assert_array_equal(sw.crop_mask(), box_mask(size, 0.3))
    assert sw.crop_mask().shape == (size, size)


def test_crop_uses_the_model_template(pool: InferencePool, astronaut_bgr: np.ndarray) -> None:
    import cv2

    from facefuse.models import WARP_TEMPLATES

    sw = FaceSwapper(pool, "simswap_256")
    crop, affine = sw.crop(astronaut_bgr, ASTRONAUT_LM5)
    assert crop.shape == (256, 256, 3)
    mapped = cv2.transform(ASTRONAUT_LM5.reshape(-1, 1, 2), affine).reshape(-1, 2)
    err_v1 = np.abs(mapped - WARP_TEMPLATES["arcface_112_v1"] * 256).mean()
    err_128 = np.abs(mapped - WARP_TEMPLATES["arcface_128"] * 256).mean()
    assert err_v1 < 8 and err_v1 < err_128


# ----------------------------------------------------------------------------------------- batch
@pytest.mark.parametrize("model,batch,runs", [("inswapper_128", "batch", 1), ("inswapper_128", 1, 3), ("hyperswap_1a_256", 1, 3)])
def test_batch_equals_single_calls(
    model: str, batch: Any, runs: int, tmp_path: Path, astronaut_bgr: np.ndarray, raw_embedding: np.ndarray
) -> None:
    BUILDERS[model](tmp_path, batch=batch)
    with InferencePool(models_dir=tmp_path, providers="cpu") as p:
        sw = FaceSwapper(p, model)
        assert sw.batchable == (batch != 1)
        counting = CountingSession(sw.session)
        sw.session = counting
        crops = crops_for(sw, astronaut_bgr, 3)
        latent = sw.source_latent(raw_embedding)
        together, masks = sw.swap(crops, latent)
        assert len(counting.calls) == runs  # one run for a dynamic batch dim, else one per crop
        singles = [sw.swap(crops[i : i + 1], latent) for i in range(3)]
        np.testing.assert_array_equal(together, np.concatenate([s[0] for s in singles]))
        if masks is not None:
            np.testing.assert_array_equal(masks, np.concatenate([s[1] for s in singles]))


def test_per_crop_latents(pool: InferencePool, astronaut_bgr: np.ndarray, raw_embedding: np.ndarray) -> None:
    sw = FaceSwapper(pool, "inswapper_128")
    crops = crops_for(sw, astronaut_bgr, 2)
    lat = np.concatenate([sw.source_latent(raw_embedding), sw.source_latent(-raw_embedding)])
    out, _ = sw.swap(crops, lat)
    assert np.abs(out.astype(int) - (255 - crops.astype(int))).max() <= 1


# ---------------------------------------------------------------------------------------- source
def test_inswapper_latent_uses_the_model_emap(pool: InferencePool, models_dir: Path, raw_embedding: np.ndarray) -> None:
    sw = FaceSwapper(pool, "inswapper_128")
    model = onnx.load(str(models_dir / "inswapper_128.onnx"))
    emap = numpy_helper.to_array(model.graph.initializer[-1]).astype(np.float64)
    assert emap.shape == (512, 512)
    expected = (raw_embedding.astype(np.float64) @ emap) / np.linalg.norm(raw_embedding)
    got = sw.source_latent(raw_embedding)
    assert got.shape == (1, 512) and got.dtype == np.float32
    np.testing.assert_allclose(got[0], expected, rtol=1e-4, atol=1e-5)
    # not just the normalised embedding
    assert np.abs(got[0] - raw_embedding / np.linalg.norm(raw_embedding)).max() > 0.05
    np.testing.assert_array_equal(sw.emap, emap.astype(np.float32))


def test_hyperswap_latent_is_the_normed_embedding(pool: InferencePool, raw_embedding: np.ndarray) -> None:
    sw = FaceSwapper(pool, "hyperswap_1b_256")
    np.testing.assert_allclose(sw.source_latent(raw_embedding)[0], raw_embedding / np.linalg.norm(raw_embedding), rtol=1e-6)
    with pytest.raises(AttributeError):
        sw.emap


def test_simswap_latent_goes_through_the_converter(pool: InferencePool, models_dir: Path, raw_embedding: np.ndarray) -> None:
    sw = FaceSwapper(pool, "simswap_256")
    w = numpy_helper.to_array(onnx.load(str(models_dir / "arcface_converter_simswap.onnx")).graph.initializer[0])
    c = raw_embedding.astype(np.float64) @ w
    np.testing.assert_allclose(sw.source_latent(raw_embedding)[0], c / np.linalg.norm(c), rtol=1e-4, atol=1e-6)
    # FaceFusion 2.x route: the dedicated arcface_simswap embedding, only normalised
    legacy = FaceSwapper(pool, "simswap_256", recognizer="arcface_simswap")
    assert legacy.recognizer == "arcface_simswap"
    np.testing.assert_allclose(legacy.source_latent(raw_embedding)[0], raw_embedding / np.linalg.norm(raw_embedding), rtol=1e-6)


def test_end_to_end_with_the_recogniser(pool: InferencePool, astronaut_bgr: np.ndarray) -> None:
    sw = FaceSwapper(pool, "inswapper_128")
    rec = FaceRecognizer(pool, sw.recognizer)
    emb, _ = rec.embed(astronaut_bgr, ASTRONAUT_LM5)
    crop, _ = sw.crop(astronaut_bgr, ASTRONAUT_LM5)
    out, _ = sw.swap(crop[None], sw.source_latent(emb))
    assert np.abs(out[0].astype(int) - (255 - crop.astype(int))).max() <= 1


# ---------------------------------------------------------------------------------------- errors
def test_inswapper_spec_is_shared() -> None:
    assert SWAPPER_SPECS["inswapper_128"] is INSWAPPER_128
    assert SWAPPER_SPECS["inswapper_128_fp16"].file_name == "inswapper_128_fp16.onnx"
    assert {"inswapper_128", "hyperswap_1a_256", "hyperswap_1b_256", "hyperswap_1c_256", "simswap_256"} <= set(SWAPPER_SPECS)


def test_unknown_model_lists_known(pool: InferencePool) -> None:
    with pytest.raises(ValueError, match="hyperswap_1a_256"):
        FaceSwapper(pool, "blendswap_256")
    with pytest.raises(ValueError, match="recognizer"):
        FaceSwapper(pool, "inswapper_128", recognizer="arcface_simswap")


def test_missing_file_says_where(tmp_path: Path) -> None:
    with InferencePool(models_dir=tmp_path, providers="cpu") as p:
        with pytest.raises(ModelNotFoundError, match=r"hyperswap_1c_256\.onnx(\n|.)*\.assets/models"):
            FaceSwapper(p, "hyperswap_1c_256")


def test_missing_converter_says_where(tmp_path: Path, raw_embedding: np.ndarray) -> None:
    BUILDERS["simswap_256"](tmp_path)
    with InferencePool(models_dir=tmp_path, providers="cpu") as p:
        sw = FaceSwapper(p, "simswap_256")
        with pytest.raises(ModelNotFoundError, match=r"arcface_converter_simswap\.onnx"):
            sw.source_latent(raw_embedding)


def test_wrong_signature_names_the_file(tmp_path: Path) -> None:
    src = BUILDERS["hyperswap_1a_256"](tmp_path / "src")
    shutil.copy(src, tmp_path / "inswapper_128.onnx")
    with InferencePool(models_dir=tmp_path, providers="cpu") as p:
        with pytest.raises(ModelError, match=r"inswapper_128\.onnx") as ei:
            FaceSwapper(p, "inswapper_128")
        assert "128" in str(ei.value) and "256" in str(ei.value)


def test_inswapper_without_emap_is_rejected(tmp_path: Path, raw_embedding: np.ndarray) -> None:
    # the right inputs / outputs, but its last initializer is a scalar, not the 512x512 emap
    t = helper.make_tensor_value_info("target", TensorProto.FLOAT, ["n", 3, 128, 128])
    s = helper.make_tensor_value_info("source", TensorProto.FLOAT, ["n", 512])
    o = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", 3, 128, 128])
    one = numpy_helper.from_array(np.array(1.0, np.float32), "one")
    graph = helper.make_graph([helper.make_node("Sub", ["one", "target"], ["output"])], "g", [t, s], [o], [one])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "inswapper_128.onnx"))
    with InferencePool(models_dir=tmp_path, providers="cpu") as p:
        sw = FaceSwapper(p, "inswapper_128")
        with pytest.raises(ModelError, match=r"inswapper_128\.onnx.*(\n|.)*512"):
            sw.source_latent(raw_embedding)


def test_file_name_override(tmp_path: Path, astronaut_bgr: np.ndarray, raw_embedding: np.ndarray) -> None:
    path = BUILDERS["inswapper_128"](tmp_path)
    mine = tmp_path / "my_swapper.onnx"
    path.rename(mine)
    with InferencePool(models_dir=tmp_path, providers="cpu") as p:
        sw = FaceSwapper(p, "inswapper_128", file_name="my_swapper.onnx")
        assert sw.path.name == "my_swapper.onnx"
        crop, _ = sw.crop(astronaut_bgr, ASTRONAUT_LM5)
        out, _ = sw.swap(crop[None], sw.source_latent(raw_embedding))
        assert np.abs(out[0].astype(int) - (255 - crop.astype(int))).max() <= 1


def test_bad_arguments(pool: InferencePool, raw_embedding: np.ndarray) -> None:
    sw = FaceSwapper(pool, "inswapper_128")
    crops = np.zeros((2, 128, 128, 3), np.uint8)
    lat = sw.source_latent(raw_embedding)
    with pytest.raises(TypeError, match="crops"):
        sw.swap(crops.astype(np.float32), lat)
    with pytest.raises(ValueError, match="crops"):
        sw.swap(np.zeros((2, 200, 200, 3), np.uint8), lat)  # 256 is pixel boost now; 200 no size
    with pytest.raises(ValueError, match="crops"):
        sw.swap(crops[0], lat)
    with pytest.raises(ValueError, match="latent"):
        sw.swap(crops, np.zeros((3, 512), np.float32))
    with pytest.raises(TypeError, match="latent"):
        sw.swap(crops, [0.0] * 512)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="embedding"):
        sw.source_latent(np.zeros(512, np.float32))
    with pytest.raises(ValueError, match="embedding"):
        sw.source_latent(np.ones(128, np.float32))
    with pytest.raises(TypeError, match="embedding"):
        sw.source_latent([1.0] * 512)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="pool"):
        FaceSwapper(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "model,mean,std", [("inswapper_128", (0, 0, 0), (1, 1, 1)), ("hyperswap_1a_256", (0.5,) * 3, (0.5,) * 3), ("simswap_256", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))]
)
def test_prepare_is_rgb_normalised(model: str, mean: tuple, std: tuple, pool: InferencePool) -> None:
    sw = FaceSwapper(pool, model)
    s = sw.size[0]
    crop = np.empty((1, s, s, 3), np.uint8)
    crop[:] = (10, 100, 200)  # BGR
    x = sw.prepare(crop)
    assert x.shape == (1, 3, s, s) and x.dtype == np.float32
    rgb = np.array([200, 100, 10]) / 255.0
    np.testing.assert_allclose(x[0, :, 3, 5], (rgb - np.array(mean)) / np.array(std), rtol=1e-5)
    # finish() undoes it: back to the same BGR pixel (hyperswap's output is in the normalised space)
    y = x if model.startswith("hyperswap") else x * np.array(std, np.float32).reshape(1, 3, 1, 1) + np.array(mean, np.float32).reshape(1, 3, 1, 1)
    np.testing.assert_array_equal(sw.finish(y)[0, 3, 5], (10, 100, 200))


def test_hyperswap_without_mask_output_gives_none(tmp_path: Path, astronaut_bgr: np.ndarray, raw_embedding: np.ndarray) -> None:
    BUILDERS["hyperswap_1a_256"](tmp_path, with_mask=False)
    with InferencePool(models_dir=tmp_path, providers="cpu") as p:
        sw = FaceSwapper(p, "hyperswap_1a_256")
        assert not sw.has_mask
        crop, _ = sw.crop(astronaut_bgr, ASTRONAUT_LM5)
        out, masks = sw.swap(crop[None], sw.source_latent(raw_embedding))
        assert masks is None and np.abs(out[0].astype(int) - (255 - crop.astype(int))).max() <= 1
