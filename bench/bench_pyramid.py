"""Multi-band blending benchmarks: native vs the NumPy/cv2 reference vs OpenCV's own
C++ multi-band blender (cv2.detail_MultiBandBlender), uint8 BGR frames, 5 bands."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from facefuse import ops
from facefuse import reference as ref

SIZES = [(256, 256), (512, 512), (1080, 1920)]
LEVELS = 5


def _case(h, w, rng):
    dst = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    # a smoother src so the blend result is meaningful to compare
    src = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 2)
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot((yy - h / 2) / (0.35 * h), (xx - w / 2) / (0.3 * w))
    mask = np.clip((1.0 - r) / 0.25, 0.0, 1.0).astype(np.float32)
    return dst, src, mask


def opencv_multiband(dst: np.ndarray, src: np.ndarray, mask8: np.ndarray, bands: int = LEVELS) -> np.ndarray:
    """OpenCV's C++ multi-band blender used as a user would: prepare, feed both, blend."""
    h, w = dst.shape[:2]
    blender = cv2.detail_MultiBandBlender(0, bands)
    blender.prepare((0, 0, w, h))
    blender.feed(dst.astype(np.int16), 255 - mask8, (0, 0))
    blender.feed(src.astype(np.int16), mask8, (0, 0))
    out, _ = blender.blend(None, None)
    return np.clip(out, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("impl", ["reference", "native", "opencv"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[1]}x{s[0]}")
def test_blend_laplacian(benchmark, bench_rng, size, impl):
    h, w = size
    dst, src, mask = _case(h, w, bench_rng)
    benchmark.group = f"blend_laplacian {w}x{h} uint8x3 levels={LEVELS}"
    benchmark.extra_info["impl"] = impl
    if impl == "opencv":
        mask8 = (mask * 255 + 0.5).astype(np.uint8)
        out = benchmark(opencv_multiband, dst, src, mask8)
    else:
        fn = ops.blend_laplacian if impl == "native" else ref.blend_laplacian
        out = benchmark(fn, dst, src, mask, LEVELS)
    assert out.shape == dst.shape and out.dtype == np.uint8
    # sanity: every contender agrees with the reference on average
    expect = ref.blend_laplacian(dst, src, mask, LEVELS)
    diff = np.abs(out.astype(np.int16) - expect.astype(np.int16))
    assert diff.mean() < (4.0 if impl == "opencv" else 0.5)
