"""FrameSwapper with pixel boost, the enhancer layer and occlusion masks (stand-in models).

A fixed "detector" returns known landmarks, so every crop's geometry is known; the stand-in
swapper inverts colours, the enhancer sharpens, the occluder masks green pixels.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from facefuse.inference import InferencePool  # noqa: E402
from facefuse.models import Face, FaceEnhancer, FaceMasker, FaceSwapper  # noqa: E402
from facefuse.pipeline import FrameSwapper  # noqa: E402
from facefuse.testing import write_models  # noqa: E402

LATENT = np.ones((1, 512), np.float32)
H, W = 360, 480
# two faces, about 130 px between the outer mouth corners and the eyes
FACES = [np.array([[120, 150], [180, 150], [150, 185], [125, 215], [175, 215]], np.float32),
         np.array([[320, 140], [380, 142], [350, 178], [326, 208], [374, 210]], np.float32)]


class FixedDetector:
    def detect(self, frame):
        return [Face(box=np.array([lm[:, 0].min() - 30, lm[:, 1].min() - 40, lm[:, 0].max() + 30,
                                   lm[:, 1].max() + 30], np.float32), score=0.9, landmarks5=lm) for lm in FACES]


def textured_frame(seed: int = 0, cell: int = 8) -> np.ndarray:
    """Smooth noise (cells of ``cell`` px): small cells give the sharpener edges, large ones let
    a warp there and back stay within a few grey levels."""
    rng = np.random.default_rng(seed)
    small = rng.integers(40, 220, (H // cell, W // cell, 3), np.uint8)
    return cv2.resize(small, (W, H), interpolation=cv2.INTER_CUBIC)  # edges for the sharpener


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    d = tmp_path_factory.mktemp("pipeline_quality")
    write_models(d, ["inswapper_128", "gfpgan_1.4", "xseg_1"])
    p = InferencePool(d, providers="cpu", download=False)
    yield p
    p.close()


def _swapper(pool, **kw) -> FrameSwapper:
    kw.setdefault("blend", "alpha")
    kw.setdefault("color", None)
    return FrameSwapper(FixedDetector(), FaceSwapper(pool, "inswapper_128"), LATENT, faces="all",
                        smoothing=False, **kw)


def test_pixel_boost_frame_swap_matches_the_crop_inversion(pool) -> None:
    frame = textured_frame()
    fs = _swapper(pool, pixel_boost=512)
    plan = fs.plan(frame, 0, 0.0)
    assert all(c.shape == (512, 512, 3) for c in plan.crops) and fs.crop_mask.shape == (512, 512)
    fs.model([plan])
    assert np.array_equal(plan.swapped, 255 - np.stack(plan.crops))  # tiles back in place
    out = fs.finish(plan)
    # inside both faces the frame is inverted (up to the warp there and back)
    for lm in FACES:
        x, y = lm[2].astype(int)
        assert np.abs(out[y - 5:y + 5, x - 5:x + 5].astype(int) - (255 - frame[y - 5:y + 5, x - 5:x + 5])).max() <= 6
    assert np.array_equal(out[310:], frame[310:])  # below both crops: untouched


def test_enhancer_blend_0_changes_nothing_and_100_is_the_enhancer_inside_its_mask(pool) -> None:
    frame = textured_frame(1, cell=3)
    enh = FaceEnhancer(pool, "gfpgan_1.4")
    bare = _swapper(pool, pixel_boost=256)(frame)
    assert np.array_equal(_swapper(pool, pixel_boost=256, enhancer=enh, enhancer_blend=0)(frame), bare)
    fs = _swapper(pool, pixel_boost=256, enhancer=enh, enhancer_blend=100)
    plan = fs.plan(frame, 0, 0.0)
    fs.model([plan])
    assert plan.enhanced.shape == (2, 512, 512, 3) and plan.enh_masks.shape == (2, 512, 512)
    # the enhancer saw the swapped face: its input is the enhancer's crop of the swapped frame
    # (FaceFusion's order), up to resampling
    inputs = fs.layers.enhancer_inputs(np.stack(plan.enh_crops), np.stack(plan.enh_affines), plan.swapped,
                                       plan.masks, np.stack(plan.affines))
    assert np.array_equal(plan.enhanced, enh.enhance(inputs))
    want = np.stack([enh.crop(bare, lm)[0] for lm in FACES])
    assert np.abs(inputs[:, 96:416, 96:416].astype(int) - want[:, 96:416, 96:416]).mean() < 2
    out = fs.finish(plan)
    assert np.abs(out[120:240, 100:400].astype(int) - bare[120:240, 100:400]).mean() > 2  # the sharpening shows
    for e, a, lm in zip(plan.enhanced, plan.enh_affines, FACES):
        back = cv2.warpAffine(e, a, (W, H), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        x, y = lm[2].astype(int)  # the nose: deep inside the enhancer's box mask (1 there)
        win = (slice(y - 6, y + 6), slice(x - 6, x + 6))
        assert np.abs(out[win].astype(int) - back[win]).max() <= 2
        assert np.abs(bare[win].astype(int) - back[win]).max() > 10
    half = _swapper(pool, pixel_boost=256, enhancer=enh, enhancer_blend=50)(frame)
    # blend 50: halfway, where the faces' layers do not overlap (there each face blends over the
    # last, as in FaceFusion's face-by-face loop)
    err = np.abs(half.astype(int) - (bare.astype(int) + out) / 2)
    assert err[:, :225].max() <= 1.5 and err[:, 285:].max() <= 1.5


def test_enhancer_layer_with_laplacian_and_lab_swap(pool) -> None:
    frame = textured_frame(2, cell=3)
    enh = FaceEnhancer(pool, "gfpgan_1.4")
    bare = _swapper(pool, blend="laplacian", color="lab")(frame)
    same = _swapper(pool, blend="laplacian", color="lab", enhancer=enh, enhancer_blend=0)(frame)
    assert np.array_equal(same, bare)
    full = _swapper(pool, blend="laplacian", color="lab", enhancer=enh, enhancer_blend=100)(frame)
    assert np.abs(full[120:240, 100:400].astype(int) - bare[120:240, 100:400]).mean() > 2


def test_occlusion_patch_is_excluded_from_the_swap(pool) -> None:
    frame = textured_frame(3)
    x, y = FACES[0][2].astype(int)
    frame[y - 12:y + 12, x - 12:x + 12] = (0, 255, 0)  # a green "hand" over the first nose
    masker = FaceMasker(pool, "xseg_1")
    occluded = _swapper(pool, mask_types=("box", "occlusion"), masker=masker)(frame)
    plain = _swapper(pool)(frame)
    patch = (slice(y - 4, y + 4), slice(x - 4, x + 4))
    assert np.array_equal(occluded[patch], frame[patch])  # kept as it was
    assert np.abs(plain[patch].astype(int) - (255 - frame[patch].astype(int))).max() <= 6  # swapped (inverted)
    cheek = (slice(y + 20, y + 26), slice(x - 30, x - 24))  # the rest of the face is still swapped
    assert np.abs(occluded[cheek].astype(int) - plain[cheek]).max() <= 1


def test_masks_of_all_faces_of_a_batch_in_one_occluder_run(pool, monkeypatch) -> None:
    masker = FaceMasker(pool, "xseg_1")
    masker.load()
    sess = masker._sessions["xseg_1"][0]
    calls: list = []
    real = sess.run
    monkeypatch.setattr(sess, "run", lambda n, f: calls.append(f["input"].shape) or real(n, f))
    fs = _swapper(pool, mask_types=("box", "occlusion"), masker=masker, batch_size=3)
    outs = fs.process_batch([textured_frame(i) for i in range(3)], [0, 1, 2], [0.0, 0.04, 0.08])
    assert len(outs) == 3 and calls == [(6, 256, 256, 3)]  # 3 frames x 2 faces


def test_options_are_checked(pool) -> None:
    with pytest.raises(ValueError, match="pixel_boost"):
        _swapper(pool, pixel_boost=300)
    with pytest.raises(ValueError, match="mask_types"):
        _swapper(pool, mask_types=("box", "area"))
    with pytest.raises(ValueError, match="masker"):
        _swapper(pool, mask_types=("occlusion",))
    with pytest.raises(ValueError, match="mask_regions"):
        _swapper(pool, mask_types=("region",), mask_regions=["ears"], masker=FaceMasker(pool))
    with pytest.raises(ValueError, match="enhancer_blend"):
        _swapper(pool, enhancer_blend=101)
    with pytest.raises(ValueError, match="mask_padding"):
        _swapper(pool, mask_padding=(0, 0, 0, 0, 0))
    with pytest.raises(ValueError, match="mask_blur"):
        _swapper(pool, mask_blur=2)
    with pytest.raises(ValueError, match="frame_device"):
        FrameSwapper(FixedDetector(), FaceSwapper(pool), LATENT, faces="all", frame_device="cuda",
                     enhancer=FaceEnhancer(pool, "gfpgan_1.4"))


# ------------------------------------------------------------------------ swap_video and the CLI
@pytest.fixture(scope="module")
def clip_work(tmp_path_factory):
    from pipeline_clips import build_models, make_clip, source_face

    d = tmp_path_factory.mktemp("quality_clip")
    models = build_models(d / "models")
    write_models(models, ["gfpgan_1.4", "xseg_1"])
    return {"dir": d, "models": models, "clip": make_clip(d / "clip.mp4", seconds=0.4, audio=False),
            "face": source_face(d / "face.png")}


def test_swap_video_with_boost_enhancer_and_occlusion(clip_work) -> None:
    import facefuse as ff
    from facefuse.video import VideoReader

    w = clip_work
    kw = dict(models_dir=w["models"], detector="scrfd", detector_size=320, progress=False, preset="ultrafast",
              faces="all", blend="alpha", color=None, crf=4)
    bare = ff.swap_video(w["face"], w["clip"], w["dir"] / "bare.mp4", **kw)
    res = ff.swap_video(w["face"], w["clip"], w["dir"] / "q.mp4", pixel_boost=512, enhancer="gfpgan_1.4",
                        enhancer_blend=100, mask_types=("box", "occlusion"), **kw)
    assert res.frames == bare.frames == 10 and res.faces_swapped == bare.faces_swapped == 10
    assert res.frame_device == "cpu" and res.stage_seconds["enhance"] > 0 and res.stage_seconds["mask"] > 0
    with VideoReader(w["dir"] / "q.mp4") as a, VideoReader(w["dir"] / "bare.mp4") as b:
        diff = [np.abs(x.image.astype(int) - y.image).mean() for x, y in zip(a, b)]
    assert min(diff) > 0.05  # the enhancer's sharpening is in every frame


def test_swap_video_checks_the_new_options_before_loading(clip_work, tmp_path) -> None:
    import facefuse as ff

    w = clip_work
    kw = dict(models_dir=tmp_path, progress=False)  # no model files there: the checks come first
    for bad, name in ((dict(pixel_boost=300), "pixel_boost"), (dict(enhancer="gfpgan_9"), "enhancer"),
                      (dict(enhancer_blend=-1), "enhancer_blend"), (dict(mask_types=["hair"]), "mask_types"),
                      (dict(mask_types=["region"], mask_regions=["ears"]), "mask_regions"),
                      (dict(occluder="xseg_9"), "occluder"), (dict(enhancer_weight=2.0), "enhancer_weight"),
                      (dict(enhancer="gfpgan_1.4", frame_device="cuda"), "frame_device")):
        with pytest.raises(ValueError, match=name):
            ff.swap_video(w["face"], w["clip"], tmp_path / "o.mp4", **kw, **bad)
    assert not list(tmp_path.iterdir())


def test_cli_takes_facefusions_option_names(clip_work, tmp_path, capsys) -> None:
    from facefuse.cli import main

    w = clip_work
    base = ["swap", "-s", str(w["face"]), "-t", str(w["clip"]), "--models-dir", str(w["models"]), "--faces", "all",
            "--detector", "scrfd", "--detector-size", "320", "--preset", "ultrafast", "--no-progress", "--json"]
    out = tmp_path / "o.mp4"
    assert main(base + ["-o", str(out), "--face-swapper-pixel-boost", "256x256", "--face-enhancer-model",
                        "gfpgan_1.4", "--face-mask-types", "box", "occlusion", "--face-mask-padding", "5"]) == 0
    assert out.exists() and '"enhance"' in capsys.readouterr().out
    assert main(base + ["-o", str(tmp_path / "p.mp4"), "--pixel-boost", "384", "--swapper", "inswapper_128",
                        "--mask", "box,region", "--mask-regions", "skin"]) == 2
    err = capsys.readouterr().err
    assert "bisenet_resnet_34.onnx" in err  # the parser's file is missing: named, with the fix
    assert main(base + ["-o", str(tmp_path / "q.mp4"), "--pixel-boost", "300"]) == 2
    assert "--pixel-boost" in capsys.readouterr().err
    assert main(base + ["-o", str(tmp_path / "q.mp4"), "--mask", "hair"]) == 2
    assert "argument --mask:" in capsys.readouterr().err
    assert main(base + ["-o", str(tmp_path / "q.mp4"), "--mask-padding", "5", "x"]) == 2
    assert "argument --mask-padding" in capsys.readouterr().err


def test_batch_job_files_take_the_options(clip_work, tmp_path) -> None:
    import json

    from facefuse.batch import JobFileError, load_jobs

    w = clip_work
    opts = {"pixel_boost": 512, "enhancer": "codeformer", "enhancer_blend": 60, "enhancer_weight": 0.7,
            "mask_types": ["box", "occlusion", "region"], "mask_regions": ["skin", "nose"], "mask_blur": 0.2,
            "mask_padding": [5, 0, 0, 0], "occluder": "many", "parser": "bisenet_resnet_18"}
    job = {"kind": "swap", "inputs": {"source": str(w["face"]), "target": str(w["clip"])},
           "output": str(tmp_path / "o.mp4"), "options": opts}
    p = tmp_path / "jobs.jsonl"
    p.write_text(json.dumps(job) + "\n")
    assert load_jobs(p)[0].options == opts
    p.write_text(json.dumps({**job, "options": {"pixel_bost": 512}}) + "\n")
    with pytest.raises(JobFileError, match="pixel_bost"):
        load_jobs(p)
