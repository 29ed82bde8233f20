"""GPU benchmark of the CUDA backend against the CPU core, with issue 14's targets, in one run.

Run: ``python bench/bench_gpu.py [--runs 50] [--cpu-runs 5] [--json out.json]``.
Needs a CUDA device, the facefuse._cuda module and CuPy; without them it prints
why and exits with status 2. bench/gpu_check.sh runs it on the device machine.

Per case: the GPU median (CUDA events around each call on the current stream,
after warm-up; sub-millisecond cases take 4x the runs), the achieved bandwidth
over the bytes the op must move at least (inputs read once, outputs written
once; the comment of each case says what they are), that bandwidth as a share
of a device-to-device copy measured in the same run, the CPU core's median
(``time.perf_counter``, same inputs on the host) and the speed-up; where issue
14 sets a target, the target and pass / fail. The targets:

* blend_laplacian, 32 crops 512 x 512 x 3 uint8, 5 levels: >= 50 % of the copy bandwidth;
* paste_back of 2 faces (512 x 512 crops) into a 1080p uint8 frame: < 0.5 ms with
  blend="laplacian", color="lab"; < 0.15 ms with blend="alpha";
* LandmarkSmoother, 4096 tracks x 478 points: < 0.1 ms per update.

A case whose GPU API is missing (e.g. paste_back raising TypeError "... has no
CUDA kernel") is reported as "skipped: <reason>" and the others still run; any
other exception in a case is reported as "error: ..." and makes the exit status 1.
Prints a Markdown table for bench/RESULTS.md.

``--dry-run`` calls every case once on small inputs, untimed, and prints no
figures: a smoke test of the code paths (also under the CPU emulation of the
kernels, cuda/emulation/, whose fake CuPy has no timing at all).
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterator, Optional

import numpy as np

import facefuse
from facefuse import ops

# Issue 14's targets.
BLEND_COPY_SHARE_MIN = 0.50
PASTE_LAPLACIAN_LAB_MS_MAX = 0.5
PASTE_ALPHA_MS_MAX = 0.15
SMOOTHER_MS_MAX = 0.1


@dataclass
class Result:
    case: str
    gpu_ms: Optional[float] = None
    gbps: Optional[float] = None
    copy_share: Optional[float] = None
    cpu_ms: Optional[float] = None
    speedup: Optional[float] = None
    target: str = ""   # e.g. "< 0.5 ms"
    figure: str = ""   # the figure the target is judged on
    verdict: str = ""  # "pass", "fail", "skipped: ...", "error: ...", "" (no target)


@dataclass
class Case:
    name: str
    gpu: Callable[[], Any]
    cpu: Optional[Callable[[], Any]]
    nbytes: Optional[float] = None  # bytes the op must move at least, for GB/s
    ms_max: Optional[float] = None  # target: GPU median below this
    share_min: Optional[float] = None  # target: bandwidth share of the copy at least this
    runs_scale: int = 1  # more timed runs for sub-millisecond cases


class ApiMissing(Exception):
    """The GPU path of an op does not exist (yet): the case is skipped, not failed."""


def _api_missing(exc: BaseException) -> bool:
    # The ops without a kernel raise TypeError("...has no CUDA kernel...") for device arrays.
    return isinstance(exc, (ApiMissing, NotImplementedError)) or (
        isinstance(exc, TypeError) and "no CUDA kernel" in str(exc))


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
    ms = statistics.median(times)
    if not ms > 0:  # events that measured nothing are not a timing (a stand-in CuPy, a broken clock)
        raise RuntimeError(f"CUDA events measured {ms} ms")
    return ms


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


def device_name(cp: Any) -> str:
    try:
        dev = cp.cuda.runtime.getDevice()
        p = cp.cuda.runtime.getDeviceProperties(dev)
        name = p["name"].decode() if isinstance(p["name"], bytes) else str(p["name"])
        return (f"{name} (device {dev}, cc {p['major']}.{p['minor']}, {p['multiProcessorCount']} SMs, "
                f"{p['totalGlobalMem'] / 2**30:.0f} GiB)")
    except Exception as exc:  # noqa: BLE001 - the fake CuPy of the emulation has no properties
        return f"unknown device ({type(exc).__name__})"


def frames(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, 256, shape, dtype=np.uint8)


def soft_masks(n: int, h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt(((x - w / 2) / (0.4 * w)) ** 2 + ((y - h / 2) / (0.45 * h)) ** 2)
    return np.repeat(np.clip(1.5 - r, 0, 1)[None], n, axis=0).astype(np.float32)


def face_affines(frame_hw: tuple[int, int], crop: int, faces: int = 2) -> np.ndarray:
    """Frame -> crop matrices (as FaceFusion's alignment) of `faces` faces side by side.

    Each face is ~37 % of the frame height, slightly rotated (+-6 degrees), centred on
    its own column of the frame, so the paste boxes neither overlap nor leave the frame."""
    h, w = frame_hw
    face_px = 0.37 * h
    s = crop / face_px
    out = np.empty((faces, 2, 3), np.float64)
    for k in range(faces):
        cx, cy = w * (k + 1) / (faces + 1), h * 0.5
        a = math.radians(6.0 if k % 2 else -6.0)
        R = s * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        out[k, :, :2] = R
        out[k, :, 2] = crop / 2 - R @ np.array([cx, cy])
    return out


# --------------------------------------------------------------------------- cases

def cases(cp: Any, rng: np.random.Generator, small: bool) -> Iterator[tuple[str, Callable[[], Case]]]:
    """(name, builder) per case; a builder makes the inputs and returns the Case (it may raise)."""
    n, hw = (2, 64) if small else (32, 512)
    fh, fw = (270, 480) if small else (1080, 1920)
    nt, p = (8, 478) if small else (4096, 478)

    # Laplacian blend, n crops of hw x hw x 3 uint8, 5 levels, one batched call.
    # Bytes: dst + src (uint8) + mask (float32) read, out (uint8) written.
    def blend() -> Case:
        d, s, m = frames(rng, (n, hw, hw, 3)), frames(rng, (n, hw, hw, 3)), soft_masks(n, hw, hw)
        dd, sd, md = cp.asarray(d), cp.asarray(s), cp.asarray(m)
        return Case(f"blend_laplacian {n}x{hw}x{hw}x3 uint8 levels=5",
                    lambda: ops.blend_laplacian(dd, sd, md, 5),
                    lambda: [ops.blend_laplacian(d[i], s[i], m[i], 5) for i in range(n)],
                    n * hw * hw * (3 + 3 + 4 + 3), share_min=BLEND_COPY_SHARE_MIN)
    yield "blend_laplacian", blend

    # Colour transfer, the same crops against as many references, source masks, batched.
    # Bytes: src read (stats twice + transfer once counted once), ref + mask read, out written.
    def color_batch() -> Case:
        d, s, m = frames(rng, (n, hw, hw, 3)), frames(rng, (n, hw, hw, 3)), soft_masks(n, hw, hw)
        dd, sd, md = cp.asarray(d), cp.asarray(s), cp.asarray(m)
        return Case(f"color_transfer {n}x{hw}x{hw}x3 uint8 masks",
                    lambda: ops.color_transfer(sd, dd, md, None),
                    lambda: [ops.color_transfer(s[i], d[i], m[i], None) for i in range(n)],
                    n * hw * hw * (3 + 3 + 4 + 3))
    yield "color_transfer batch", color_batch

    # Colour transfer on one full frame. Bytes: src + ref read, out written.
    def color_frame() -> Case:
        f1, f2 = frames(rng, (fh, fw, 3)), frames(rng, (fh, fw, 3))
        g1, g2 = cp.asarray(f1), cp.asarray(f2)
        return Case(f"color_transfer {fw}x{fh}x3 uint8", lambda: ops.color_transfer(g1, g2),
                    lambda: ops.color_transfer(f1, f2), fh * fw * 3 * 3)
    yield "color_transfer frame", color_frame

    # tPSNR of two frames (includes the one device -> host copy of the result). Bytes: both read.
    def tpsnr() -> Case:
        f1, f2 = frames(rng, (fh, fw, 3)), frames(rng, (fh, fw, 3))
        g1, g2 = cp.asarray(f1), cp.asarray(f2)
        return Case(f"tpsnr {fw}x{fh}x3 uint8", lambda: ops.tpsnr(g1, g2), lambda: ops.tpsnr(f1, f2),
                    2 * fh * fw * 3)
    yield "tpsnr", tpsnr

    # paste_back of 2 faces into one uint8 frame: crops hw x hw x 3, float32 masks, host affines.
    # No byte count: what it must touch depends on the paste boxes. Targets on the time alone.
    def paste(blend_mode: str, color: Optional[str], ms_max: float) -> Callable[[], Case]:
        def build() -> Case:
            frame, crops, masks = frames(rng, (fh, fw, 3)), frames(rng, (2, hw, hw, 3)), soft_masks(2, hw, hw)
            aff = face_affines((fh, fw), hw)
            fd, cd, md = cp.asarray(frame), cp.asarray(crops), cp.asarray(masks)

            def gpu() -> Any:
                return ops.paste_back(fd, cd, md, aff, blend=blend_mode, color=color)

            try:
                out = gpu()  # a missing GPU path shows here, before any timing
            except Exception as exc:  # noqa: BLE001
                if _api_missing(exc):
                    raise ApiMissing(f"{type(exc).__name__}: {exc}") from exc
                raise
            if not hasattr(out, "__cuda_array_interface__"):
                raise ApiMissing(f"paste_back returned {type(out).__name__}, not a device array")
            return Case(f"paste_back {fw}x{fh} uint8, 2 faces {hw}x{hw}, blend={blend_mode} color={color}", gpu,
                        lambda: ops.paste_back(frame, crops, masks, aff, blend=blend_mode, color=color),
                        ms_max=ms_max, runs_scale=4)
        return build
    yield "paste_back laplacian+lab", paste("laplacian", "lab", PASTE_LAPLACIAN_LAB_MS_MAX)
    yield "paste_back alpha", paste("alpha", None, PASTE_ALPHA_MS_MAX)

    # Smoothing: nt tracks x 478 points (MediaPipe mesh), one update per call, steady state.
    # Bytes: landmarks read + output written (float32) + per-point state raw, y, dy read and
    # written (float64).
    def smoother(method: str) -> Callable[[], Case]:
        def build() -> Case:
            base = rng.uniform(100, 900, (nt, 1, 2)) + rng.normal(0, 40, (nt, p, 2))
            ids = np.arange(nt)
            cpu_s, gpu_s = ops.LandmarkSmoother(method), ops.LandmarkSmoother(method)
            lm = (base + rng.normal(0, 1.0, base.shape)).astype(np.float32)
            lm_d = cp.asarray(lm)
            cpu_s.update(lm, ids)  # start the tracks: the timed calls are steady-state updates
            gpu_s.update(lm_d, ids)
            return Case(f"smoothing {method} {nt}x{p}", lambda: gpu_s.update(lm_d, ids),
                        lambda: cpu_s.update(lm, ids), nt * p * 2 * (4 + 4 + 3 * 2 * 8),
                        ms_max=SMOOTHER_MS_MAX, runs_scale=4)
        return build
    for method in ("pose_shape", "one_euro"):
        yield f"smoothing {method}", smoother(method)


def target_text(c: Case) -> str:
    if c.share_min is not None:
        return f">= {100 * c.share_min:.0f} % of copy"
    if c.ms_max is not None:
        return f"< {c.ms_max:g} ms"
    return ""


def judge(c: Case, r: Result) -> None:
    r.target = target_text(c)
    if c.share_min is not None and r.copy_share is not None:
        r.figure = f"{100 * r.copy_share:.0f} % of copy"
        r.verdict = "pass" if r.copy_share >= c.share_min else "fail"
    elif c.ms_max is not None and r.gpu_ms is not None:
        r.figure = f"{r.gpu_ms:.3f} ms"
        r.verdict = "pass" if r.gpu_ms < c.ms_max else "fail"


def _f(v: Optional[float], fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50, help="timed GPU runs per case (median)")
    ap.add_argument("--cpu-runs", type=int, default=5, help="timed CPU runs per case (median)")
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    ap.add_argument("--only", nargs="+", default=None, metavar="SUBSTR",
                    help="run only the cases whose name contains one of these")
    ap.add_argument("--dry-run", action="store_true",
                    help="call each case once on small inputs, untimed; print no figures (smoke test)")
    args = ap.parse_args(argv)

    status = facefuse.cuda_status()
    if not status.startswith("available"):
        print(f"bench_gpu: no CUDA device usable, nothing to measure ({status})", file=sys.stderr)
        return 2
    if "emulation" in status and not args.dry_run:
        # cuda/emulation's kernels run on the CPU and its fake CuPy has no clock: no figure can come of it.
        print(f"bench_gpu: the CUDA backend is the CPU emulation ({status}); only --dry-run runs there",
              file=sys.stderr)
        return 2
    import cupy as cp

    from facefuse.backend import cuda_module

    dev = device_name(cp)
    print(f"# device: {dev}")
    print(f"# {status}; driver CUDA {cuda_module().driver_version()}; CuPy {getattr(cp, '__version__', '?')}")
    copy_bw: Optional[float] = None
    if not args.dry_run:
        copy_bw = copy_bandwidth_gbps(cp, max(10, args.runs // 2))
        print(f"# device-to-device copy (1 GiB): {copy_bw:.1f} GB/s (read + write)")
    rng = np.random.default_rng(0)
    results: list[Result] = []
    errors = 0

    for key, build in cases(cp, rng, small=args.dry_run):
        if args.only and not any(s in key for s in args.only):
            continue
        r = Result(key)
        try:
            c = build()
            r.case = c.name
            if args.dry_run:
                c.gpu()
                cp.cuda.get_current_stream().synchronize()
                r.verdict, r.target = "ran (dry run, untimed)", target_text(c)
                print(f"{c.name}: ran once (dry run)", flush=True)
            else:
                g = gpu_median_ms(cp, c.gpu, args.runs * c.runs_scale)
                r.gpu_ms = g
                if c.nbytes is not None and copy_bw is not None:
                    r.gbps = c.nbytes / (g * 1e-3) / 1e9
                    r.copy_share = r.gbps / copy_bw
                if c.cpu is not None:
                    r.cpu_ms = cpu_median_ms(c.cpu, args.cpu_runs)
                    r.speedup = r.cpu_ms / g
                judge(c, r)
                print(f"{c.name}: GPU {g:.4f} ms" + (f" ({r.gbps:.1f} GB/s)" if r.gbps is not None else "")
                      + (f", CPU {r.cpu_ms:.2f} ms, {r.speedup:.1f}x" if r.cpu_ms is not None else "")
                      + (f"; target {r.target}: {r.verdict}" if r.target else ""), flush=True)
            del c
        except Exception as exc:  # noqa: BLE001 - one case must not stop the others
            if _api_missing(exc):
                r.verdict = f"skipped: {exc}"
            else:
                errors += 1
                r.verdict = f"error: {type(exc).__name__}: {exc}"
            r.target = {"paste_back laplacian+lab": f"< {PASTE_LAPLACIAN_LAB_MS_MAX:g} ms",
                        "paste_back alpha": f"< {PASTE_ALPHA_MS_MAX:g} ms"}.get(key, r.target)
            print(f"{key}: {r.verdict}", flush=True)
        results.append(r)
        if hasattr(cp, "get_default_memory_pool"):
            cp.get_default_memory_pool().free_all_blocks()

    print()
    print(f"Device: {dev}")
    if copy_bw is not None:
        print(f"Copy bandwidth (device-to-device, read + write): {copy_bw:.1f} GB/s")
    print()
    print("| case | GPU ms | GB/s | % of copy | CPU core ms | speed-up | target | result |")
    print("|---|---:|---:|---:|---:|---:|---|---|")
    for r in results:
        share = "-" if r.copy_share is None else f"{100 * r.copy_share:.0f}%"
        speed = "-" if r.speedup is None else f"**{r.speedup:.1f}x**"
        print(f"| {r.case} | {_f(r.gpu_ms, '.4f')} | {_f(r.gbps, '.1f')} | {share} | {_f(r.cpu_ms, '.2f')} | "
              f"{speed} | {r.target or '-'} | {r.verdict or '-'} |")
    targets = [{"name": r.case, "target": r.target, "figure": r.figure or "-", "verdict": r.verdict}
               for r in results if r.target]
    if args.json and not args.dry_run:
        with open(args.json, "w") as fh:
            json.dump({"device": dev, "status": status, "copy_gbps": copy_bw, "runs": args.runs,
                       "results": [asdict(r) for r in results], "targets": targets}, fh, indent=2)
    if errors:
        print(f"bench_gpu: {errors} case(s) raised an error", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
