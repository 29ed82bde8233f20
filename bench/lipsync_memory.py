"""Peak memory and per-frame cost of facefuse.lipsync_video vs video length (tiny model).

For each length N (seconds) it generates a synthetic 720p25 clip with a bright square "face"
(facefuse.testing.media.write_clip) and an N-second speech-like WAV, builds the analytic
stand-in denoiser (facefuse.testing.diff2lip_model, the exact Diff2Lip signature), then runs
lipsync_video in a FRESH subprocess per length and reports:

* peak RSS (``ru_maxrss``) and RSS after imports (MB): streaming means the peak must not grow
  with N (issue 6: 60 s vs 6 s differ by < 50 MB);
* per-frame wall time, and how it splits: the model (ONNX Runtime session runs, tiny here),
  the sampler's element-wise DDIM updates and composite (NumPy), and everything else
  outside the model (decode, mel, detection, crop, paste-back, encode; the decode / detect
  side runs in its own thread, so it overlaps the rest).

The face detector is the NumPy bright-square finder by default (``--detector numpy``; the
ONNX stand-in ``yolo_face`` costs ~70 ms a frame on 2 CPU cores, which would dominate).
Run (the 60 s case takes minutes on a small CPU):

    python bench/lipsync_memory.py 6 60
    python bench/lipsync_memory.py 2 --steps 5          # a smoke run
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

# these benchmarks run on facefuse.testing's stand-in models, which facefuse refuses by default
os.environ.setdefault("FACEFUSE_ALLOW_STAND_INS", "1")


class _BrightSquare:
    """The stand-in detectors' rule (all channels > 200) in NumPy, on a 4x-subsampled frame."""

    def detect(self, img):  # type: ignore[no-untyped-def]
        from facefuse.models import Face

        small = img[::4, ::4]
        ys, xs = np.nonzero((small > 200).all(axis=2))
        if xs.size == 0:
            return []
        box = np.array([xs.min() * 4, ys.min() * 4, xs.max() * 4 + 4, ys.max() * 4 + 4], np.float32)
        return [Face(box=box, score=0.9, landmarks5=np.zeros((5, 2), np.float32))]


def child(args: argparse.Namespace) -> None:
    base_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    import facefuse  # noqa: F401
    from facefuse.lipsync import model as M
    from facefuse.pipeline import lipsync as P
    from facefuse.lipsync import sampler as S

    model_s = [0.0]
    update_s = [0.0]
    real_call = M.Diff2LipDenoiser.__call__
    real_step = S.DDIMSampler.step

    def timed_call(self, *a, **kw):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        try:
            return real_call(self, *a, **kw)
        finally:
            model_s[0] += time.perf_counter() - t

    def timed_step(self, *a, **kw):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        try:
            return real_step(self, *a, **kw)
        finally:
            update_s[0] += time.perf_counter() - t

    M.Diff2LipDenoiser.__call__ = timed_call  # type: ignore[method-assign]
    S.DDIMSampler.step = timed_step  # type: ignore[method-assign]
    after_import_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    det = _BrightSquare() if args.detector == "numpy" else args.detector
    t0 = time.perf_counter()
    r = P.lipsync_video(args.video, args.audio, args.output, models_dir=args.models, providers="cpu", detector=det,
                        steps=args.steps, batch_size=args.batch_size, preset="ultrafast")
    wall = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    n = max(1, r.frames)
    print(json.dumps({
        "frames": r.frames, "synced": r.frames_synced, "batch_size": r.batch_size,
        "rss_start_mb": base_kib / 1024, "rss_after_import_mb": after_import_kib / 1024, "peak_rss_mb": peak_kib / 1024,
        "wall_ms_per_frame": 1e3 * wall / n, "model_ms_per_frame": 1e3 * model_s[0] / n,
        "update_ms_per_frame": 1e3 * update_s[0] / n,
        "outside_model_ms_per_frame": 1e3 * (wall - model_s[0]) / n,
    }))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("seconds", type=float, nargs="*", default=[6.0, 60.0])
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--detector", default="numpy", help="'numpy' (default) or 'yolo_face' (the ONNX stand-in)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--video"), ap.add_argument("--audio"), ap.add_argument("--output"), ap.add_argument("--models")
    args = ap.parse_args()
    if args.child:
        child(args)
        return

    from facefuse.cli import machine_info
    from facefuse.testing.detector_models import build_yolo_face
    from facefuse.testing.diff2lip_model import build_diff2lip
    from facefuse.testing.media import synth_speech, write_audio, write_clip

    w, h = (int(v) for v in args.size.split("x"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="ff_lipsync_mem_") as d:
        build_diff2lip(d)
        build_yolo_face(d)
        for sec in args.seconds:
            v, a, o = (os.path.join(d, f"{sec:g}{ext}") for ext in (".mp4", ".wav", "_out.mp4"))
            t = time.perf_counter()
            write_clip(v, sec, 25, (w, h), square=min(w, h) // 3, motion=0.05)
            write_audio(a, synth_speech(sec), 16000)
            gen = time.perf_counter() - t
            cmd = [sys.executable, __file__, "--child", "--video", v, "--audio", a, "--output", o, "--models", d,
                   "--steps", str(args.steps), "--batch-size", str(args.batch_size), "--detector", args.detector]
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                sys.exit(f"child failed for {sec:g} s:\n{out.stderr}")
            row = json.loads(out.stdout.strip().splitlines()[-1])
            row["seconds"] = sec
            row["generate_s"] = gen
            rows.append(row)
            print(f"{sec:6g} s  {row['frames']:5d} frames  peak RSS {row['peak_rss_mb']:7.1f} MB "
                  f"(after imports {row['rss_after_import_mb']:6.1f})  {row['wall_ms_per_frame']:6.1f} ms/frame: "
                  f"model {row['model_ms_per_frame']:5.1f}, DDIM update {row['update_ms_per_frame']:5.1f}, "
                  f"outside the model {row['outside_model_ms_per_frame']:6.1f}", flush=True)
    if len(rows) >= 2:
        print(f"peak RSS difference {rows[-1]['seconds']:g} s vs {rows[0]['seconds']:g} s: "
              f"{rows[-1]['peak_rss_mb'] - rows[0]['peak_rss_mb']:+.1f} MB")
    info = machine_info()
    print(f"machine: {info['cpu']}, {info['logical_cores']} logical cores; size {w}x{h}, {args.steps} DDIM steps, "
          f"batch {args.batch_size}, detector {args.detector}")


if __name__ == "__main__":
    main()
