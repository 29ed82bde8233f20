"""blend_laplacian 512x512 latency on an idle machine and with every core busy.

Shows what the blend kernel's oversubscription fallback buys when other
processes (decode, inference) hold the cores. Run:

    python bench/blend_under_load.py              # as shipped
    OMP_WAIT_POLICY=PASSIVE python bench/blend_under_load.py
"""
from __future__ import annotations

import multiprocessing as mp
import os
import time

import numpy as np

import facefuse as ff


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _measure(seconds: float = 4.0) -> tuple[float, float, float, int]:
    rng = np.random.default_rng(0)
    dst = rng.integers(0, 256, (512, 512, 3), np.uint8)
    src = rng.integers(0, 256, (512, 512, 3), np.uint8)
    mask = rng.random((512, 512), np.float32)
    for _ in range(20):
        ff.blend_laplacian(dst, src, mask)
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        ff.blend_laplacian(dst, src, mask)
        times.append(time.perf_counter() - t)
    ms = np.asarray(times) * 1e3
    return float(np.median(ms)), float(np.percentile(ms, 90)), float(ms.mean()), len(ms)


def main() -> None:
    policy = os.environ.get("OMP_WAIT_POLICY", "(default)")
    print(f"blend_laplacian 512x512 uint8, {ff._core.max_threads()} threads, OMP_WAIT_POLICY={policy}")
    print("| load | median ms | p90 ms | mean ms | calls |")
    print("|---|---:|---:|---:|---:|")
    print("| idle | %.3f | %.3f | %.3f | %d |" % _measure())
    n_busy = os.cpu_count() or 1
    procs = [mp.Process(target=_busy, args=(6.0,)) for _ in range(n_busy)]
    for p in procs:
        p.start()
    try:
        time.sleep(0.5)
        print(f"| {n_busy} busy processes | %.3f | %.3f | %.3f | %d |" % _measure())
    finally:
        for p in procs:
            p.join()


if __name__ == "__main__":
    main()
