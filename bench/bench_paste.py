"""paste_back benchmarks: native fused paste vs FaceFusion's way (facefuse.reference's
paste_back with warp="cv2": cv2.warpAffine of crop and mask, float blend).

Cases: 1080p and 4K frames, 1 and 4 faces (512 x 512 crops placed at realistic
spots with a rotation), blend alpha / laplacian, plus a LAB colour case.
Targets: alpha >= 4x the reference at 1080p; laplacian (1 face) < 2x the
reference's *alpha* time (group "paste_back ... laplacian-vs-ref-alpha").
"""
from __future__ import annotations

import functools

import numpy as np
import pytest

from facefuse import ops
from facefuse import reference as ref

SIZES = {"1920x1080": (1080, 1920), "3840x2160": (2160, 3840)}
CROP = 512
REFERENCE = functools.partial(ref.paste_back, warp="cv2")  # what users run today


def _faces(rng, h, w, k):
    """k 512-crops, soft box masks and frame -> crop matrices of faces ~h/4 tall."""
    crops, masks, affs = [], [], []
    m = np.zeros((CROP, CROP), np.float32)
    m[32:-32, 32:-32] = 1.0
    import cv2

    m = cv2.GaussianBlur(m, (0, 0), 8)
    for i in range(k):
        face = h / 4.0  # face box side in the frame
        cx = w * (0.2 + 0.6 * (i + 0.5) / k)
        cy = h * (0.35 + 0.1 * (i % 2))
        s = CROP / (1.6 * face)  # the crop holds 1.6 face sizes
        ang = np.deg2rad(rng.uniform(-20, 20))
        a = np.array([[s * np.cos(ang), -s * np.sin(ang)], [s * np.sin(ang), s * np.cos(ang)]])
        t = np.array([CROP / 2, CROP / 2]) - a @ np.array([cx, cy])
        affs.append(np.hstack([a, t[:, None]]))
        crops.append(rng.integers(0, 256, (CROP, CROP, 3), dtype=np.uint8))
        masks.append(m)
    return np.stack(crops), np.stack(masks), np.stack(affs)


CASES = [
    (size, k, blend, color)
    for size in SIZES
    for k in (1, 4)
    for blend, color in (("alpha", None), ("laplacian", None))
] + [("1920x1080", 1, "alpha", "lab")]


@pytest.mark.parametrize("impl", ["reference", "native"])
@pytest.mark.parametrize("size,k,blend,color", CASES)
def test_paste_back(benchmark, bench_rng, impl, size, k, blend, color):
    h, w = SIZES[size]
    frame = bench_rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    crops, masks, affs = _faces(bench_rng, h, w, k)
    fn = ops.paste_back if impl == "native" else REFERENCE
    benchmark.group = f"paste_back {size} uint8 faces={k} {blend}" + (f" color={color}" if color else "")
    benchmark.extra_info["impl"] = impl
    out = benchmark(fn, frame, crops, masks, affs, blend, color)
    assert out.shape == frame.shape


@pytest.mark.parametrize("impl", ["reference", "native"])
def test_laplacian_vs_reference_alpha(benchmark, bench_rng, impl):
    """The native Laplacian paste of one face against the reference's ALPHA paste."""
    h, w = SIZES["1920x1080"]
    frame = bench_rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    crops, masks, affs = _faces(bench_rng, h, w, 1)
    benchmark.group = "paste_back 1920x1080 uint8 faces=1 laplacian(native)-vs-alpha(reference)"
    benchmark.extra_info["impl"] = impl
    if impl == "native":
        benchmark(ops.paste_back, frame, crops[0], masks[0], affs[0], "laplacian")
    else:
        benchmark(REFERENCE, frame, crops[0], masks[0], affs[0], "alpha")


@pytest.mark.parametrize("impl", ["reference", "native"])
def test_paste_back_in_place(benchmark, bench_rng, impl):
    """In-place paste (out=frame) skips the frame copy: the pipeline's steady state."""
    h, w = SIZES["3840x2160"]
    frame = bench_rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    crops, masks, affs = _faces(bench_rng, h, w, 1)
    benchmark.group = "paste_back 3840x2160 uint8 faces=1 alpha out=frame"
    benchmark.extra_info["impl"] = impl
    fn = ops.paste_back if impl == "native" else REFERENCE
    benchmark(fn, frame, crops, masks, affs, "alpha", None, 5, frame)
