"""GPU benchmark of the CUDA backend against the CPU core, in one run.

Run: ``python bench/bench_gpu.py [--runs 50] [--cpu-runs 5] [--json out.json]``.
Needs a CUDA device, the facefuse._cuda module and CuPy; without them it prints
why and exits with status 2.

Per case: the GPU median (CUDA events around each call on the current stream,
after warm-up), the achieved bandwidth over the bytes the op must move at least
(inputs read once, outputs written once; the comment of each case says what
they are), that bandwidth as a share of a device-to-device copy measured in the
same run, the CPU core's median (``time.perf_counter``, same inputs on the host)
and the speed-up. Prints a Markdown table for bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np

import facefuse
from facefuse import ops


@dataclass
class Result:
    case: str
    gpu_ms: float
    gbps: float
    copy_share: float
    cpu_ms: float
    speedup: float


def gpu_median_ms(cp: Any, fn: Callable[[], Any], runs: int, warmup: int = 5) -> float:
    """Median of `runs` timings (ms) with CUDA events on the current stream."""
    for _ in range(warmup):
        fn()
    stream = cp.cuda.get_current_stream()
    stream.synchronize()
    times = []
    for _ in range(runs):
        start, end = cp.cuda.Event(), cp.cuda.Event()
        start.record(stream)
        fn()
        end.record(stream)
        end.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, end))
    return statistics.median(times)


def cpu_median_ms(fn: Callable[[], Any], runs: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def copy_bandwidth_gbps(cp: Any, runs: int, nbytes: int = 1 << 30) -> float:
    """Device-to-device copy of `nbytes`: (read + write) bytes per second, GB/s."""
    src = cp.ones(nbytes, dtype=cp.uint8)
    dst = cp.empty_like(src)
    ms = gpu_median_ms(cp, lambda: dst.__setitem__(Ellipsis, src), runs, warmup=3)
    del src, dst
    cp.get_default_memory_pool().free_all_blocks()
    return 2 * nbytes / (ms * 1e-3) / 1e9


def frames(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, 256, shape, dtype=np.uint8)


def soft_masks(n: int, h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt(((x - w / 2) / (0.4 * w)) ** 2 + ((y - h / 2) / (0.45 * h)) ** 2)
    return np.repeat(np.clip(1.5 - r, 0, 1)[None], n, axis=0).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50, help="timed GPU runs per case (median)")
    ap.add_argument("--cpu-runs", type=int, default=5, help="timed CPU runs per case (median)")
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = ap.parse_args(argv)

    if not facefuse.cuda_available():
        print(f"bench_gpu: no CUDA device usable, nothing to measure ({facefuse.cuda_status()})", file=sys.stderr)
        return 2
    import cupy as cp

    from facefuse.backend import cuda_module

    print(f"# {facefuse.cuda_status()}; driver CUDA {cuda_module().driver_version()}")
    copy_bw = copy_bandwidth_gbps(cp, max(10, args.runs // 2))
    print(f"# device-to-device copy (1 GiB): {copy_bw:.1f} GB/s (read + write)")
    rng = np.random.default_rng(0)
    results: list[Result] = []

    def record(case: str, gpu_fn: Callable, cpu_fn: Callable, nbytes: float) -> None:
        g = gpu_median_ms(cp, gpu_fn, args.runs)
        c = cpu_median_ms(cpu_fn, args.cpu_runs)
        gbps = nbytes / (g * 1e-3) / 1e9
        results.append(Result(case, g, gbps, gbps / copy_bw, c, c / g))
        print(f"{case}: GPU {g:.3f} ms ({gbps:.1f} GB/s), CPU {c:.2f} ms, {c / g:.1f}x", flush=True)

    # Laplacian blend, 32 crops of 512 x 512 x 3 uint8, 5 levels, one batched call.
    # Bytes: dst + src + mask read, out written.
    n, h, w = 32, 512, 512
    d, s, m = frames(rng, (n, h, w, 3)), frames(rng, (n, h, w, 3)), soft_masks(n, h, w)
    dd, sd, md = cp.asarray(d), cp.asarray(s), cp.asarray(m)
    record(f"blend_laplacian {n}x{h}x{w}x3 uint8 levels=5",
           lambda: ops.blend_laplacian(dd, sd, md, 5),
           lambda: [ops.blend_laplacian(d[i], s[i], m[i], 5) for i in range(n)],
           n * h * w * (3 + 3 + 4 + 3))

    # Colour transfer, the same 32 crops against 32 references, source masks, batched.
    # Bytes: src read (stats twice + transfer once counted once), ref + mask read, out written.
    record(f"color_transfer {n}x{h}x{w}x3 uint8 masks",
           lambda: ops.color_transfer(sd, dd, md, None),
           lambda: [ops.color_transfer(s[i], d[i], m[i], None) for i in range(n)],
           n * h * w * (3 + 3 + 4 + 3))
    del dd, sd, md

    # Colour transfer on one 1080p frame.
    f1, f2 = frames(rng, (1080, 1920, 3)), frames(rng, (1080, 1920, 3))
    g1, g2 = cp.asarray(f1), cp.asarray(f2)
    record("color_transfer 1920x1080x3 uint8",
           lambda: ops.color_transfer(g1, g2),
           lambda: ops.color_transfer(f1, f2),
           1080 * 1920 * 3 * 3)

    # tPSNR of two 1080p uint8 frames (includes the one device -> host copy of the result).
    # Bytes: both frames read.
    record("tpsnr 1920x1080x3 uint8",
           lambda: ops.tpsnr(g1, g2),
           lambda: ops.tpsnr(f1, f2),
           2 * 1080 * 1920 * 3)
    del g1, g2

    # Smoothing: 4096 tracks x 478 points (MediaPipe mesh), one update per call.
    # Bytes: landmarks read + output written (float32) + per-point state raw, y, dy
    # read and written (float64).
    nt, p = 4096, 478
    base = rng.uniform(100, 900, (nt, 1, 2)) + rng.normal(0, 40, (nt, p, 2))
    ids = np.arange(nt)
    for method in ("pose_shape", "one_euro"):
        cpu_s, gpu_s = ops.LandmarkSmoother(method), ops.LandmarkSmoother(method)
        lm = (base + rng.normal(0, 1.0, base.shape)).astype(np.float32)
        lm_d = cp.asarray(lm)
        cpu_s.update(lm, ids)  # start the tracks: the timed calls are steady-state updates
        gpu_s.update(lm_d, ids)
        record(f"smoothing {method} {nt}x{p}",
               lambda: gpu_s.update(lm_d, ids),
               lambda: cpu_s.update(lm, ids),
               nt * p * 2 * (4 + 4 + 3 * 2 * 8))

    print()
    print(f"Copy bandwidth (device-to-device, read + write): {copy_bw:.1f} GB/s")
    print()
    print("| case | GPU ms | GB/s | % of copy | CPU core ms | speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r.case} | {r.gpu_ms:.3f} | {r.gbps:.1f} | {100 * r.copy_share:.0f}% | {r.cpu_ms:.2f} | "
              f"**{r.speedup:.1f}x** |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"status": facefuse.cuda_status(), "copy_gbps": copy_bw,
                       "results": [asdict(r) for r in results]}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
