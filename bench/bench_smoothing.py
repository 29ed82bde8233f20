"""LandmarkSmoother.update: native (one call for all tracks) vs the reference
(per-face Python loop), at 1, 8 and 64 tracks x 68 and 478 points.

Each measured call is one steady-state frame: the smoothers are warmed up on a
few frames first, then every round feeds the next frame of a slowly moving,
noisy scene (no scene cuts), so the timed work is the normal per-frame update.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from facefuse.ops.smoothing import LandmarkSmoother as NativeSmoother
from facefuse.reference.smoothing import LandmarkSmoother as ReferenceSmoother

CASES = list(itertools.product([1, 8, 64], [68, 478]))
IMPLS = {"native": NativeSmoother, "reference": ReferenceSmoother}


def _frames(rng: np.random.Generator, n: int, p: int, count: int = 64) -> list[np.ndarray]:
    base = rng.uniform(-80, 80, size=(n, p, 2)) + rng.uniform(200, 1000, size=(n, 1, 2))
    drift = rng.normal(0, 1.5, size=(n, 1, 2))
    return [(base + k * drift + rng.normal(0, 1.5, size=base.shape)).astype(np.float32) for k in range(count)]


@pytest.mark.parametrize("method", ["pose_shape", "one_euro"])
@pytest.mark.parametrize("impl", ["native", "reference"])
@pytest.mark.parametrize("n,p", CASES, ids=[f"{n}x{p}" for n, p in CASES])
def test_bench_update(benchmark, bench_rng, method: str, impl: str, n: int, p: int) -> None:
    frames = _frames(bench_rng, n, p)
    ids = np.arange(n, dtype=np.int64)
    smoother = IMPLS[impl](method, max_age=0)
    for f in frames[:4]:
        smoother.update(f, ids)
    it = itertools.cycle(frames[4:])
    k = itertools.count(4)

    def step() -> np.ndarray:
        next(k)
        return smoother.update(next(it), ids)

    benchmark.group = f"smoothing {method} {n}x{p} float32"
    benchmark.extra_info["impl"] = impl
    rounds = 30 if impl == "reference" and n == 64 else 100
    out = benchmark.pedantic(step, rounds=rounds, iterations=1, warmup_rounds=2)
    assert out.shape == (n, p, 2)
