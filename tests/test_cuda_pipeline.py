"""The swap pipeline with its frames on the GPU (``frame_device="cuda"``) against the host run.

GPU tests: they run on a CUDA device with CuPy, and in the CPU emulation of the kernels
(cuda/emulation/run_emulation.sh --python tests/test_cuda_pipeline.py); skipped elsewhere.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("av")

import facefuse as ff  # noqa: E402
from facefuse.video import VideoReader  # noqa: E402

from pipeline_clips import FPS, SECONDS, build_models, make_clip, source_face  # noqa: E402

pytestmark = pytest.mark.gpu
FAST = dict(detector="scrfd", detector_size=320, progress=False, preset="ultrafast", crf=4)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("cuda_swap")
    return {"dir": d, "models": build_models(d / "models"), "clip": make_clip(d / "clip.mp4", seconds=1.0),
            "face": source_face(d / "face.png")}


def _frames(path) -> tuple[list, list]:
    with VideoReader(path) as r:
        frames = list(r)
    return [f.image for f in frames], [f.timestamp for f in frames]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


@pytest.mark.parametrize("blend,color", [("alpha", None), ("laplacian", "lab")])
def test_swap_video_on_the_gpu_matches_the_host_run(work, blend, color) -> None:
    outs = {}
    for dev in ("cpu", "cuda"):
        out = work["dir"] / f"{dev}_{blend}.mp4"
        res = ff.swap_video(work["face"], work["clip"], out, models_dir=work["models"], blend=blend, color=color,
                            faces="all", frame_device=dev, **FAST)
        assert res.frame_device == dev
        outs[dev] = (res, *_frames(out))
    (rc, fc, tc), (rg, fg, tg) = outs["cpu"], outs["cuda"]
    n = int(SECONDS * FPS / 2)
    assert rg.frames == rc.frames == n and len(fg) == n
    assert rg.faces_swapped == rc.faces_swapped == n
    assert tg == tc  # every frame at its own time
    # the crops differ only by the warp (facefuse's bilinear on the GPU, cv2's on the host):
    # a grey level here and there, nowhere a misplaced face
    for a, b in zip(fc, fg):
        assert _psnr(a, b) > 38.0
    q = rg.quality
    assert q["count"] == n and q["tpsnr"]["count"] == n - 1


def test_gpu_crops_are_the_bilinear_warp_of_the_frame(work) -> None:
    """The device crops of a frame are facefuse's warp_affine of it (replicated border), bit for bit."""
    import cupy

    from facefuse.inference import InferencePool
    from facefuse.models import FaceDetector, FaceSwapper
    from facefuse.ops import warp_affine
    from facefuse.pipeline.swap_frames import FrameSwapper

    frames, _ = _frames(work["clip"])
    with InferencePool(models_dir=work["models"], providers="cpu") as pool:
        det = FaceDetector(pool, "scrfd", size=320)
        swp = FaceSwapper(pool, "inswapper_128")
        latent = np.ones((1, 512), np.float32) / np.sqrt(512.0)
        worker = FrameSwapper(det, swp, latent, faces="all", smoothing=False, frame_device="cuda", blend="alpha",
                              color=None)
        plan = worker.plan(frames[3], 3, 3 / FPS)
        assert plan.device_image is not None and len(plan.crops) == 1
        np.testing.assert_array_equal(cupy.asnumpy(plan.device_image), frames[3])
        size = swp.size
        want = warp_affine(frames[3], np.asarray(swp.affine(det.detect(frames[3])[0].landmarks5), np.float64),
                           size, border="replicate")
        np.testing.assert_array_equal(cupy.asnumpy(plan.crops)[0], want)
        worker.model([plan])
        out = worker.finish(plan)
        assert hasattr(out, "__cuda_array_interface__")  # the engine downloads it, once
        host = ff.paste_back(frames[3], cupy.asnumpy(plan.swapped), np.minimum(worker.crop_mask, 1.0)[None],
                             np.stack(plan.affines), blend="alpha")
        np.testing.assert_array_equal(cupy.asnumpy(out), host)


def test_pixel_boost_and_box_mask_options_on_the_gpu_match_the_host(work) -> None:
    outs = {}
    for dev in ("cpu", "cuda"):
        out = work["dir"] / f"{dev}_boost.mp4"
        res = ff.swap_video(work["face"], work["clip"], out, models_dir=work["models"], blend="alpha", color=None,
                            faces="all", frame_device=dev, pixel_boost=256, mask_blur=0.2, mask_padding=(5, 0, 0, 0),
                            **FAST)
        assert res.frame_device == dev
        outs[dev] = _frames(out)[0]
    for a, b in zip(outs["cpu"], outs["cuda"]):
        assert _psnr(a, b) > 38.0
