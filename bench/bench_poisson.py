"""Seamless (Poisson) blending benchmarks: native multigrid vs cv2.seamlessClone (the
reference), uint8 BGR, an elliptical mask filling an S x S region (256, 512 and 1024
square regions inside a 1920x1080 frame; 256 also in a 256x256 frame), default tol."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from facefuse import ops
from facefuse import reference as ref

# (frame h, frame w, region size)
CASES = [(256, 256, 256), (1080, 1920, 256), (1080, 1920, 512), (1080, 1920, 1024)]


def _case(fh, fw, s, rng):
    base = cv2.resize(
        cv2.GaussianBlur(rng.integers(0, 256, (fh // 8 + 1, fw // 8 + 1, 3), dtype=np.uint8), (0, 0), 1.5),
        (fw, fh),
        interpolation=cv2.INTER_CUBIC,
    )
    noise = rng.integers(-12, 13, (fh, fw, 3))
    dst = np.clip(base.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    src = np.clip(np.ascontiguousarray(base[::-1, ::-1]).astype(np.int16) + noise[::-1] + 20, 0, 255).astype(np.uint8)
    mask = np.zeros((fh, fw), np.float32)
    ry, rx = min(s, fh) // 2 - 2, s // 2 - 2
    cv2.ellipse(mask, (fw // 2, fh // 2), (rx, ry), 0, 0, 360, 1.0, -1)
    return dst, src, mask


@pytest.mark.parametrize("impl", ["reference", "native"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[2]}in{c[1]}x{c[0]}")
def test_blend_poisson(benchmark, bench_rng, case, impl):
    fh, fw, s = case
    dst, src, mask = _case(fh, fw, s, bench_rng)
    benchmark.group = f"blend_poisson {s}x{min(s, fh)} region in {fw}x{fh} uint8x3"
    benchmark.extra_info["impl"] = impl
    fn = ops.blend_poisson if impl == "native" else ref.blend_poisson
    rounds = 3 if (impl == "reference" and s >= 1024) else None
    if rounds:
        out = benchmark.pedantic(fn, (dst, src, mask), rounds=rounds, iterations=1, warmup_rounds=1)
    else:
        out = benchmark(fn, dst, src, mask)
    assert out.shape == dst.shape and out.dtype == np.uint8
    inside = mask > 0.5
    np.testing.assert_array_equal(out[~inside], dst[~inside]) if impl == "native" else None
    # sanity: native and cv2 agree on average inside the mask
    other = ref.blend_poisson(dst, src, mask) if impl == "native" else ops.blend_poisson(dst, src, mask)
    assert np.abs(out.astype(np.int16) - other.astype(np.int16))[inside].mean() < 4.0
