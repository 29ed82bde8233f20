"""Benchmarks: LAB conversion and Reinhard colour transfer, native vs reference.

Run: ``pytest bench/bench_color.py`` (the ratio table is printed at the end).
"""
from __future__ import annotations

import numpy as np
import pytest

import facefuse.ops as ops
import facefuse.reference as ref

SIZES = [(256, 256), (512, 512), (1080, 1920)]
IMPLS = {"native": ops, "reference": ref}


def _size_name(hw: tuple[int, int]) -> str:
    return f"{hw[1]}x{hw[0]}"


def _frame(rng: np.random.Generator, hw: tuple[int, int]) -> np.ndarray:
    """A smooth, photo-like uint8 BGR frame (gradients + noise), not white noise."""
    h, w = hw
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack(
        [
            128 + 100 * np.sin(x / (w / 3.1) + 0.3),
            128 + 90 * np.cos(y / (h / 2.3)),
            128 + 80 * np.sin((x + y) / (w / 1.7)),
        ],
        axis=-1,
    )
    noise = rng.normal(0, 12, (h, w, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _mask(hw: tuple[int, int]) -> np.ndarray:
    """A soft elliptical face mask in [0, 1]."""
    h, w = hw
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = ((x - w / 2) / (w / 3)) ** 2 + ((y - h / 2) / (h / 2.5)) ** 2
    return np.clip(1.5 - r, 0, 1).astype(np.float32)


@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize("hw", SIZES, ids=_size_name)
def test_bgr_to_lab(benchmark, bench_rng, impl, hw) -> None:
    img = (_frame(bench_rng, hw).astype(np.float32) / 255).astype(np.float32)
    benchmark.group = f"bgr_to_lab {_size_name(hw)} float32"
    benchmark.extra_info["impl"] = impl
    out = benchmark(IMPLS[impl].bgr_to_lab, img)
    assert out.shape == img.shape


@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize("hw", SIZES, ids=_size_name)
def test_lab_to_bgr(benchmark, bench_rng, impl, hw) -> None:
    lab = ref.bgr_to_lab(_frame(bench_rng, hw))
    benchmark.group = f"lab_to_bgr {_size_name(hw)} float32"
    benchmark.extra_info["impl"] = impl
    out = benchmark(IMPLS[impl].lab_to_bgr, lab)
    assert out.shape == lab.shape


@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize("hw", SIZES, ids=_size_name)
def test_color_transfer(benchmark, bench_rng, impl, hw) -> None:
    src = _frame(bench_rng, hw)
    refimg = np.clip(_frame(bench_rng, hw) * np.array([0.7, 0.9, 1.1]) + 20, 0, 255).astype(np.uint8)
    sm, rm = _mask(hw), _mask(hw)
    benchmark.group = f"color_transfer {_size_name(hw)} uint8 masks"
    benchmark.extra_info["impl"] = impl
    out = benchmark(IMPLS[impl].color_transfer, src, refimg, sm, rm, 0.8)
    assert out.shape == src.shape
