"""Peak memory and per-frame cost of facefuse.video.process_video vs video length.

For each length N (seconds) it generates a synthetic 720p25 video with an AAC track
(a moving gradient, libx264 ultrafast), then, each in a FRESH subprocess so runs don't
share a peak, measures:

* ``decode``: iterating VideoReader (BGR conversion included);
* ``pipeline``: process_video(src, dst, identity) (decode + fn + encode, audio copied);

and prints peak RSS (``ru_maxrss``), RSS after imports, and ms per frame. Bounded
queues mean the peak should not grow with N. Run:

    python bench/video_memory.py 6 60
    python bench/video_memory.py 6 --size 1920x1080 --preset veryfast --queue-size 8
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
from fractions import Fraction

import numpy as np


def generate(path: str, seconds: float, w: int, h: int, fps: int = 25) -> float:
    import av

    t0 = time.perf_counter()
    c = av.open(path, "w")
    vs = c.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "23"})
    vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
    vs.thread_type = "AUTO"
    sr = 48000
    a = c.add_stream("aac", rate=sr)
    a.layout = "mono"
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(xx * 255 // w), (yy * 255 // h), ((xx + yy) * 255 // (w + h))], -1).astype(np.uint8)
    n = int(round(seconds * fps))
    spf = sr // fps
    tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(spf * n) / sr)).astype(np.float32)
    for i in range(n):
        img = np.roll(base, 8 * i, axis=1)
        img[(4 * i) % (h - 64):(4 * i) % (h - 64) + 64, 100:164] = 255  # a moving square
        f = av.VideoFrame.from_ndarray(img, format="bgr24")
        f.pts, f.time_base = i, Fraction(1, fps)
        c.mux(vs.encode(f))
        af = av.AudioFrame.from_ndarray(tone[None, i * spf:(i + 1) * spf], format="fltp", layout="mono")
        af.sample_rate, af.pts, af.time_base = sr, i * spf, Fraction(1, sr)
        c.mux(a.encode(af))
    c.mux(vs.encode(None))
    c.mux(a.encode(None))
    c.close()
    return time.perf_counter() - t0


def _proc_status_kib(key: str) -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return float(line.split()[1])
    except OSError:
        pass
    return float("nan")


def child(mode: str, src: str, dst: str, preset: str, queue_size: int) -> None:
    if mode == "generate":
        w, h = (int(v) for v in dst.split("x"))
        print(json.dumps({"gen_s": generate(src, float(preset), w, h)}))
        return
    from facefuse.video import VideoReader, process_video

    base_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    base_rss_kib = _proc_status_kib("VmRSS")
    t0 = time.perf_counter()
    if mode == "decode":
        n = 0
        with VideoReader(src) as r:
            for _ in r:
                n += 1
    else:
        n = process_video(src, dst, lambda f, i, t: f, preset=preset, queue_size=queue_size)
    wall = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"frames": n, "wall_s": wall, "ms_per_frame": 1e3 * wall / max(n, 1),
                      "base_rss_mib": base_rss_kib / 1024, "base_maxrss_mib": base_kib / 1024,
                      "peak_rss_mib": peak_kib / 1024, "vmhwm_mib": _proc_status_kib("VmHWM") / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("seconds", nargs="*", type=float, default=[6.0, 60.0])
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--preset", default="ultrafast", help="x264 preset of process_video's encoder")
    ap.add_argument("--queue-size", type=int, default=8)
    ap.add_argument("--child", nargs=3, metavar=("MODE", "SRC", "DST"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child, args.preset, args.queue_size)
        return
    w, h = (int(v) for v in args.size.lower().split("x"))
    print(f"# process_video memory: {w}x{h} 25 fps, encoder libx264 preset={args.preset}, "
          f"queue_size={args.queue_size}, cpus={os.cpu_count()}")
    print("# base = RSS after imports; peak = ru_maxrss (RUSAGE_SELF) and VmHWM after the run")
    print(f"{'seconds':>7} {'frames':>6} {'gen_s':>6} {'mode':>8} {'ms/frame':>9} {'base MiB':>9} "
          f"{'maxrss MiB':>10} {'VmHWM MiB':>10}")
    with tempfile.TemporaryDirectory() as d:
        for s in args.seconds:
            src, dst = os.path.join(d, f"src{s:g}.mp4"), os.path.join(d, f"dst{s:g}.mp4")
            # generated in a subprocess too: ru_maxrss survives fork+exec, so a big parent
            # would inflate the children's figures
            gen = json.loads(subprocess.run(
                [sys.executable, __file__, "--preset", str(s), "--child", "generate", src, f"{w}x{h}"],
                check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])["gen_s"]
            for mode in ("decode", "pipeline"):
                out = subprocess.run(
                    [sys.executable, __file__, "--preset", args.preset, "--queue-size", str(args.queue_size),
                     "--child", mode, src, dst], check=True, capture_output=True, text=True).stdout
                r = json.loads(out.strip().splitlines()[-1])
                print(f"{s:7g} {r['frames']:6d} {gen:6.1f} {mode:>8} {r['ms_per_frame']:9.2f} "
                      f"{r['base_rss_mib']:9.1f} {r['peak_rss_mib']:10.1f} {r['vmhwm_mib']:10.1f}", flush=True)
            for p in (src, dst):
                if os.path.exists(p):
                    os.unlink(p)


if __name__ == "__main__":
    main()
