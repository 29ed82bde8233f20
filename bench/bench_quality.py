"""tPSNR benchmarks: native vs the NumPy reference (cast, diff, square, mean)
and cv2.PSNR (no mask), uint8 BGR frames with and without a face mask."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

import facefuse.ops as ops
import facefuse.reference as ref

SIZES = [(256, 256), (512, 512), (1080, 1920)]


def _frames(rng, h, w):
    a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    b = np.clip(a.astype(np.int16) + rng.integers(-8, 9, a.shape), 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    # A soft elliptical face mask, as a paste-back pipeline would have.
    r = ((xx - w / 2) / (0.3 * w)) ** 2 + ((yy - h / 2) / (0.4 * h)) ** 2
    m = np.clip(1.5 - r, 0, 1).astype(np.float32)
    return a, b, m


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[1]}x{s[0]}")
@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("impl", ["native", "reference", "opencv"])
def test_tpsnr(benchmark, bench_rng, size, masked, impl):
    h, w = size
    if impl == "opencv" and masked:
        pytest.skip("cv2.PSNR has no mask")
    a, b, m = _frames(bench_rng, h, w)
    mask = m if masked else None
    fn = {"native": ops.tpsnr, "reference": ref.tpsnr, "opencv": lambda x, y, _m: cv2.PSNR(x, y)}[impl]
    benchmark.group = f"tpsnr{' mask' if masked else ''} {w}x{h}x3 uint8"
    benchmark.extra_info["impl"] = impl
    result = benchmark(fn, a, b, mask)
    assert result == pytest.approx(ref.tpsnr(a, b, mask), rel=1e-6)


@pytest.mark.parametrize("impl", ["native", "reference"])
def test_tpsnr_sequence(benchmark, bench_rng, impl):
    h, w, t = 256, 256, 16
    frames = np.stack([_frames(bench_rng, h, w)[0] for _ in range(t)])
    fn = {"native": ops.tpsnr_sequence, "reference": ref.tpsnr_sequence}[impl]
    benchmark.group = f"tpsnr_sequence {t}x{w}x{h}x3 uint8"
    benchmark.extra_info["impl"] = impl
    benchmark(fn, frames)


@pytest.mark.parametrize("impl", ["native", "reference"])
def test_monitor_update(benchmark, bench_rng, impl):
    """One QualityMonitor.update with source and roi (4 tPSNR calls) at 1080p."""
    h, w = 1080, 1920
    a, b, _ = _frames(bench_rng, h, w)
    cls = {"native": ops.QualityMonitor, "reference": ref.QualityMonitor}[impl]
    mon = cls(copy_frames=False)
    frames = [a, b]
    state = {"i": 0}

    def step():
        i = state["i"] = state["i"] + 1
        f = frames[i & 1]
        return mon.update(f, source=frames[(i + 1) & 1], roi=(700, 200, 500, 600))

    step()  # past frame 0 (which computes nothing), so calibration sees the real cost
    benchmark.group = f"QualityMonitor.update source+roi {w}x{h}x3 uint8"
    benchmark.extra_info["impl"] = impl
    benchmark(step)
