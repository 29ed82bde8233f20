"""Op latency on an idle machine and with every core busy.

Shows what the kernels' oversubscription guard (cpp/include/facefuse/parallel.hpp)
buys when other processes (decoders, inference) hold the cores. Run:

    python bench/under_load.py              # as shipped (import facefuse sets OMP_WAIT_POLICY=PASSIVE)
    OMP_WAIT_POLICY= python bench/under_load.py        # libgomp's default: workers spin between calls
    OMP_NUM_THREADS=1 python bench/under_load.py
"""
from __future__ import annotations

import multiprocessing as mp
import os
import time
from typing import Callable

import numpy as np

import facefuse as ff


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _cases() -> dict[str, Callable[[], object]]:
    rng = np.random.default_rng(0)
    dst = rng.integers(0, 256, (512, 512, 3), np.uint8)
    src = rng.integers(0, 256, (512, 512, 3), np.uint8)
    mask = rng.random((512, 512), np.float32)
    small, small_mask = src[:256, :256].copy(), mask[:256, :256].copy()
    hd_a = rng.integers(0, 256, (1080, 1920, 3), np.uint8)
    hd_b = rng.integers(0, 256, (1080, 1920, 3), np.uint8)
    return {
        "blend_laplacian 512x512": lambda: ff.blend_laplacian(dst, src, mask),
        "color_transfer 256x256": lambda: ff.color_transfer(small, dst, small_mask, mask),
        "color_transfer 512x512": lambda: ff.color_transfer(src, dst, mask, mask),
        "tpsnr 1920x1080": lambda: ff.tpsnr(hd_a, hd_b),
    }


def _measure(fn: Callable[[], object], seconds: float) -> tuple[float, float, float, int]:
    for _ in range(10):
        fn()
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    ms = np.asarray(times) * 1e3
    return float(np.median(ms)), float(np.percentile(ms, 90)), float(ms.mean()), len(ms)


def main(seconds: float = 2.0) -> None:
    policy = os.environ.get("OMP_WAIT_POLICY") or "(libgomp default)"
    n_busy = os.cpu_count() or 1
    cases = _cases()
    print(f"{ff._core.max_threads()} threads, OMP_WAIT_POLICY={policy}; {seconds:.0f} s per row")
    print("| op | load | median ms | p90 ms | mean ms | calls |")
    print("|---|---|---:|---:|---:|---:|")
    for name, fn in cases.items():
        print(f"| {name} | idle | %.3f | %.3f | %.3f | %d |" % _measure(fn, seconds))
    procs = [mp.Process(target=_busy, args=(len(cases) * seconds + 2.0,)) for _ in range(n_busy)]
    for p in procs:
        p.start()
    try:
        time.sleep(0.5)
        for name, fn in cases.items():
            print(f"| {name} | {n_busy} busy processes | %.3f | %.3f | %.3f | %d |" % _measure(fn, seconds))
    finally:
        for p in procs:
            p.join()


if __name__ == "__main__":
    main()
