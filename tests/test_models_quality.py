"""Pixel boost, FaceEnhancer and FaceMasker against FaceFusion's conventions (stand-in models)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from facefuse.inference import InferencePool, ModelError  # noqa: E402
from facefuse.models import FaceEnhancer, FaceMasker, FaceSwapper  # noqa: E402
from facefuse.models.pixel_boost import join_tiles, split_tiles  # noqa: E402
from facefuse.testing import write_models  # noqa: E402
from facefuse.testing.face_models import build_inswapper_128  # noqa: E402
from facefuse.testing.quality_models import build_enhancer, build_occluder  # noqa: E402

LATENT = np.ones((1, 512), np.float32)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("quality_models")
    write_models(d, ["inswapper_128", "hyperswap_1a_256", "gfpgan_1.4", "codeformer", "gpen_bfr_256", "xseg_1",
                     "xseg_2", "xseg_3", "bisenet_resnet_34"])
    return d


@pytest.fixture
def pool(models):
    p = InferencePool(models, providers="cpu", download=False)
    yield p
    p.close()


def _count_runs(monkeypatch, session) -> list:
    calls: list = []
    real = session.run

    def run(names, feeds, *a, **k):
        calls.append({n: v.shape for n, v in feeds.items()})
        return real(names, feeds, *a, **k)

    monkeypatch.setattr(session, "run", run)
    return calls


# ------------------------------------------------------------------------------ pixel boost
def test_tiles_are_facefusions_interleaved_subsamplings_and_join_back() -> None:
    crops = np.random.default_rng(0).integers(0, 256, (2, 512, 512, 3), np.uint8)
    tiles = split_tiles(crops, 128)
    assert tiles.shape == (32, 128, 128, 3)
    for n in range(2):
        for i in range(4):
            for j in range(4):
                assert np.array_equal(tiles[n * 16 + i * 4 + j], crops[n, i::4, j::4])
    assert np.array_equal(join_tiles(tiles, 512), crops)
    masks = np.random.default_rng(1).random((3, 256, 256), dtype=np.float32)
    assert np.array_equal(join_tiles(split_tiles(masks[..., None], 128)[..., 0], 256), masks)


@pytest.mark.parametrize("boost", [256, 384, 512, 1024])
def test_pixel_boost_swaps_every_tile_and_reassembles_the_crop(pool, monkeypatch, boost) -> None:
    swp = FaceSwapper(pool, "inswapper_128")
    calls = _count_runs(monkeypatch, swp.session)
    crops = np.random.default_rng(boost).integers(0, 256, (2, boost, boost, 3), np.uint8)
    out, masks = swp.swap(crops, LATENT)
    # the stand-in inverts each pixel: any misplaced tile pixel would show
    assert out.shape == crops.shape and np.array_equal(out, 255 - crops) and masks is None
    t = (boost // 128) ** 2
    assert calls == [{"target": (2 * t, 3, 128, 128), "source": (2 * t, 512)}]  # one run, all tiles of both faces


def test_pixel_boost_with_a_batch_one_file_runs_per_tile(tmp_path, monkeypatch) -> None:
    build_inswapper_128(tmp_path, batch=1)
    with InferencePool(tmp_path, providers="cpu", download=False) as p:
        swp = FaceSwapper(p, "inswapper_128")
        calls = _count_runs(monkeypatch, swp.session)
        crops = np.random.default_rng(3).integers(0, 256, (1, 256, 256, 3), np.uint8)
        assert np.array_equal(swp.swap(crops, LATENT)[0], 255 - crops)
        assert len(calls) == 4


def test_pixel_boost_masks_of_a_masked_swapper_are_reassembled(pool) -> None:
    swp = FaceSwapper(pool, "hyperswap_1a_256")
    crops = np.random.default_rng(4).integers(0, 256, (1, 512, 512, 3), np.uint8)
    out, masks = swp.swap(crops, LATENT)
    assert masks.shape == (1, 512, 512)
    # the stand-in's mask is the mean of the crop's channels in [0, 1]
    np.testing.assert_allclose(masks[0], crops[0].astype(np.float32).mean(-1) / 255.0, atol=1e-5)


def test_pixel_boost_size_is_checked(pool) -> None:
    swp = FaceSwapper(pool, "inswapper_128")
    frame = np.zeros((300, 300, 3), np.uint8)
    lm = np.array([[120, 130], [180, 130], [150, 160], [125, 195], [175, 195]], np.float32)
    assert swp.crop(frame, lm, 512)[0].shape == (512, 512, 3)
    for bad in (200, 0, 2048, 512.0, True):
        with pytest.raises(ValueError, match="pixel_boost"):
            swp.crop(frame, lm, bad)
    with pytest.raises(ValueError, match="pixel_boost"):
        FaceSwapper(pool, "hyperswap_1a_256").affine(lm, 384)  # FaceFusion offers 384 for inswapper only
    with pytest.raises(ValueError, match="crops"):
        swp.swap(np.zeros((1, 200, 200, 3), np.uint8), LATENT)


# ------------------------------------------------------------------------------ enhancer
def _ff_input(crop: np.ndarray) -> np.ndarray:
    """FaceFusion's face_enhancer prepare_crop_frame, for one crop."""
    x = crop[:, :, ::-1] / 255.0
    x = (x - 0.5) / 0.5
    return np.expand_dims(x.transpose(2, 0, 1), axis=0).astype(np.float32)


def test_enhancer_input_and_output_follow_facefusion(pool, monkeypatch) -> None:
    enh = FaceEnhancer(pool, "gfpgan_1.4")
    assert (enh.template, enh.size, enh.has_weight) == ("ffhq_512", (512, 512), False)
    crops = np.random.default_rng(5).integers(0, 256, (2, 512, 512, 3), np.uint8)
    seen: list = []
    real = enh.session.run
    monkeypatch.setattr(enh.session, "run", lambda n, f: seen.append(f) or real(n, f))
    out = enh.enhance(crops)
    assert len(seen) == 1 and set(seen[0]) == {"input"}  # one run for both faces
    np.testing.assert_allclose(seen[0]["input"], np.concatenate([_ff_input(c) for c in crops]), atol=1e-6)
    # the stand-in sharpens in [-1, 1]; FaceFusion clips, maps to [0, 255], rounds, back to BGR
    k = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], np.float32)
    for c, o in zip(crops, out):
        x = _ff_input(c)[0].transpose(1, 2, 0)
        y = cv2.filter2D(x, -1, k, borderType=cv2.BORDER_CONSTANT)
        want = (((np.clip(y, -1, 1) + 1) / 2) * 255.0).round().astype(np.uint8)[:, :, ::-1]
        assert np.abs(o.astype(int) - want).max() <= 1
    assert np.abs(out.astype(int) - crops).mean() > 10  # it did change the crop


def test_codeformer_gets_its_weight_as_float64(pool, monkeypatch) -> None:
    crops = np.random.default_rng(6).integers(0, 256, (1, 512, 512, 3), np.uint8)
    cf = FaceEnhancer(pool, "codeformer", weight=1.0)
    assert cf.has_weight
    seen: list = []
    real = cf.session.run
    monkeypatch.setattr(cf.session, "run", lambda n, f: seen.append(f) or real(n, f))
    assert np.array_equal(cf.enhance(crops), crops)  # the stand-in's weight 1: the input back
    assert seen[0]["weight"].dtype == np.float64 and seen[0]["weight"].tolist() == [1.0]
    assert not np.array_equal(FaceEnhancer(pool, "codeformer", weight=0.0).enhance(crops), crops)


def test_gpen_256_uses_arcface_128_at_256(pool) -> None:
    enh = FaceEnhancer(pool, "gpen_bfr_256")
    assert (enh.template, enh.size) == ("arcface_128", (256, 256))
    frame = np.random.default_rng(7).integers(0, 256, (400, 400, 3), np.uint8)
    lm = np.array([[170, 180], [230, 180], [200, 215], [175, 245], [225, 245]], np.float32)
    crop, aff = enh.crop(frame, lm)
    assert crop.shape == (256, 256, 3) and aff.shape == (2, 3)
    with pytest.raises(ValueError, match="crops"):
        enh.enhance(np.zeros((1, 512, 512, 3), np.uint8))


def test_enhancer_errors_name_the_argument_and_the_file(pool, tmp_path) -> None:
    with pytest.raises(ValueError, match="model"):
        FaceEnhancer(pool, "gfpgan_9")
    with pytest.raises(ValueError, match="weight"):
        FaceEnhancer(pool, "codeformer", weight=1.5)
    with InferencePool(tmp_path, providers="cpu", download=False) as empty:
        with pytest.raises(Exception, match="gfpgan_1.4.onnx"):
            FaceEnhancer(empty, "gfpgan_1.4")
    build_occluder(tmp_path, "xseg_1")
    (tmp_path / "xseg_1.onnx").rename(tmp_path / "gfpgan_1.4.onnx")  # a wrong file under the right name
    with InferencePool(tmp_path, providers="cpu", download=False) as wrong:
        with pytest.raises(ModelError, match="gfpgan_1.4"):
            FaceEnhancer(wrong, "gfpgan_1.4")


# ------------------------------------------------------------------------------ masker
def test_occlusion_mask_excludes_the_green_patch_and_runs_once(pool, monkeypatch) -> None:
    m = FaceMasker(pool, "xseg_1")
    m.load()
    calls = _count_runs(monkeypatch, m._sessions["xseg_1"][0])
    crops = np.full((2, 512, 512, 3), 128, np.uint8)
    crops[0, 150:350, 150:350] = (0, 255, 0)
    masks = m.occlusion(crops)
    assert len(calls) == 1 and calls[0]["input"] == (2, 256, 256, 3)
    assert masks[0].shape == (512, 512) and masks[0].dtype == np.float32
    assert masks[0][250, 250] == 0.0 and masks[0][30, 30] == 1.0  # softened edges, flat inside and out
    assert masks[1].min() == 1.0
    soft = (masks[0] > 0) & (masks[0] < 1)  # the blurred border, just outside the patch (FaceFusion's
    assert soft.any() and not soft[160:340, 160:340].any()  # (clip(0.5, 1) - 0.5) * 2 keeps the patch at 0)


def test_many_occluders_take_the_minimum(pool) -> None:
    crops = [np.full((128, 128, 3), 100, np.uint8)]
    crops[0][40:90, 40:90] = (0, 255, 0)
    one = FaceMasker(pool, "xseg_1").occlusion(crops)[0]
    many = FaceMasker(pool, "many").occlusion(crops)[0]
    assert np.array_equal(one, many) and one[64, 64] == 0.0  # the three stand-ins agree


def test_region_mask_keeps_the_asked_regions(pool) -> None:
    m = FaceMasker(pool)
    crop = np.full((256, 256, 3), (120, 150, 200), np.uint8)  # skin-like BGR
    crop[150:230, 60:200] = (0, 0, 255)  # red: the stand-in parser's mouth
    mouth = m.region([crop], ["mouth", "upper-lip"])[0]
    skin = m.region(crop[None], ["skin"])[0]
    assert mouth[190, 130] == 1.0 and mouth[40, 40] == 0.0
    assert skin[190, 130] == 0.0 and skin[40, 40] == 1.0
    with pytest.raises(ValueError, match="mask_regions"):
        m.region([crop], ["ears"])
    with pytest.raises(ValueError, match="occluder"):
        FaceMasker(pool, occluder="xseg_9")


def test_doctor_checks_the_new_files(models, tmp_path) -> None:
    import shutil

    from facefuse import doctor

    for f in ("gfpgan_1.4.onnx", "codeformer.onnx", "xseg_1.onnx", "bisenet_resnet_34.onnx"):
        shutil.copy(models / f, tmp_path / f)
    shutil.copy(models / "xseg_2.onnx", tmp_path / "restoreformer_plus_plus.onnx")  # a wrong file
    rows = {r["model"]: r for r in doctor.diagnose(str(tmp_path), check=True)["models"]["models"]}
    for k in ("gfpgan_1.4", "codeformer", "xseg_1", "bisenet_resnet_34"):
        assert rows[k]["check"] == "ok", rows[k]
    assert "restoreformer_plus_plus" in rows["restoreformer_plus_plus"]["check"]
    assert rows["gpen_bfr_512"]["status"] == "missing" and rows["xseg_3"]["family"] == "occluder"


# ------------------------------------------------------------------------------ soften_mask
def _masks_256() -> dict:
    from facefuse.models.masker import soften_mask  # noqa: F401  (import check)

    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:256, :256]
    square = np.ones((256, 256), np.float32)
    square[75:175, 75:175] = 0
    blobs = cv2.GaussianBlur(rng.standard_normal((256, 256)).astype(np.float32), (0, 0), 12)
    return {"square": square, "disk": (((yy - 150) ** 2 + (xx - 100) ** 2) > 60 ** 2).astype(np.float32),
            "diagonal": (xx + 0.7 * yy > 200).astype(np.float32), "blobs": (blobs > 0).astype(np.float32),
            "soft": np.clip(blobs / (2 * blobs.std()) + 0.5, 0, 1).astype(np.float32),
            "noise": rng.random((256, 256)).astype(np.float32)}  # model masks are in [0, 1]


@pytest.mark.parametrize("size,inner,edge", [((512, 512), 0.002, 0.1), ((1024, 1024), 0.03, 0.1),
                                             ((768, 640), 0.03, 0.1), ((333, 301), 0.03, 0.1)])
def test_soften_mask_matches_facefusions_order(size, inner, edge) -> None:
    """Blurring at the model's (or half the crop's) resolution, then resizing, is FaceFusion's
    resize-then-blur up to the resampling: close inside, a little apart on the outermost pixels."""
    from facefuse.models.masker import soften_mask
    from facefuse.reference.compat_facefusion import soften_model_mask

    for name, m in _masks_256().items():
        got, want = soften_mask(m, size), soften_model_mask(m, size)
        assert got.shape == (size[1], size[0]) and got.dtype == np.float32, name
        assert got.min() >= 0.0 and got.max() <= 1.0, name
        d = np.abs(got - want)
        assert d[16:-16, 16:-16].max() <= inner and d.max() <= edge and d.mean() < 0.005, (name, d.max())


@pytest.mark.parametrize("size", [(256, 256), (200, 180), (1, 1), (300, 200)])
def test_soften_mask_at_or_below_the_model_size_is_facefusions(size) -> None:
    from facefuse.models.masker import soften_mask
    from facefuse.reference.compat_facefusion import soften_model_mask

    for m in _masks_256().values():
        assert np.array_equal(soften_mask(m, size), soften_model_mask(m, size))


def test_soften_mask_views_and_out() -> None:
    from facefuse.models.masker import soften_mask

    big = np.random.default_rng(3).random((300, 600)).astype(np.float32)
    view = big[::2, 1::2][:128, :200]  # non-contiguous
    want = soften_mask(np.ascontiguousarray(view), (400, 256))
    assert np.array_equal(soften_mask(view, (400, 256)), want)
    out = np.full((256, 400), -1, np.float32)
    assert soften_mask(view.astype(np.float64), (400, 256), out=out) is out and np.array_equal(out, want)
    one = soften_mask(np.zeros((1, 1), np.float32), (64, 64))
    assert one.shape == (64, 64) and not one.any()


def test_occlusion_stack_is_occlusion(pool) -> None:
    m = FaceMasker(pool, "xseg_1")
    crops = np.full((2, 384, 384, 3), 128, np.uint8)
    crops[1, 100:250, 120:260] = (0, 255, 0)
    stack = m.occlusion_stack(crops)
    assert stack.shape == (2, 384, 384) and stack.flags.c_contiguous
    assert all(np.array_equal(a, b) for a, b in zip(stack, m.occlusion(crops)))
    assert stack[1, 175, 190] == 0.0 and stack[0].min() == 1.0
    with pytest.raises(ValueError, match="crops"):
        m.occlusion_stack([crops[0], crops[0][:300]])
