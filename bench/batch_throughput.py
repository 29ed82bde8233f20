"""Throughput of ``facefuse batch``: many short jobs on 1 vs N workers, and one long
video chunked vs in one piece.

Each configuration runs as a fresh ``python -m facefuse batch`` subprocess (``--force``,
its own manifest); the script samples the summed RSS of that process tree every 50 ms
(batch parent + workers) and reports wall time, frames per second over all jobs and the
peak tree RSS.

* A: ``--jobs`` (8) short jobs of ``--seconds`` (4) each, with ``--workers-list`` (1,2).
* B: one ``--long-seconds`` (120) video, one piece on 1 worker vs ``--chunk-seconds``
  (30) chunks on ``--chunk-workers`` (2) workers; frame counts are checked equal.

The pipeline is ``--kind``: ``smooth`` (default: the stand-in temporal smoother of
:mod:`facefuse.testing.batch_kinds`, decode + per-frame NumPy + encode, no model) or a
real kind with its inputs: ``swap --source FACE.jpg`` / ``lipsync --audio SPEECH.wav``,
with ``--models-dir`` and ``--options JSON`` passed on. Clips are synthetic
(``--size``, 25 fps, AAC tone). Run alone on the machine (it saturates every core):

    python bench/batch_throughput.py                       # the measurement
    python bench/batch_throughput.py --quick               # tiny inputs: proves it runs
    python bench/batch_throughput.py --kind swap --source face.jpg --models-dir ~/models --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from fractions import Fraction
from typing import Any, Dict, List, Optional

import numpy as np

# these benchmarks run on facefuse.testing's stand-in models, which facefuse refuses by default
os.environ.setdefault("FACEFUSE_ALLOW_STAND_INS", "1")

SMOOTH = "facefuse.testing.batch_kinds:SMOOTH"


def make_clip(path: str, seconds: float, w: int, h: int, fps: int = 25) -> str:
    """Synthetic clip: moving gradient, a bright moving square (a 'face' for stand-in
    detectors), an AAC tone."""
    import av

    c = av.open(path, "w")
    vs = c.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "23"})
    vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
    sr = 48000
    a = c.add_stream("aac", rate=sr)
    a.layout = "mono"
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(xx * 255 // w), (yy * 255 // h), ((xx + yy) * 255 // (w + h))], -1).astype(np.uint8)
    n = max(1, int(round(seconds * fps)))
    spf = sr // fps
    side = max(8, min(w, h) // 4)
    for i in range(n):
        img = np.roll(base, 4 * i, axis=1)
        y = (2 * i) % max(1, h - side)
        img[y:y + side, w // 3:w // 3 + side] = 255
        f = av.VideoFrame.from_ndarray(img, format="bgr24")
        f.pts, f.time_base = i, Fraction(1, fps)
        c.mux(vs.encode(f))
        t = np.arange(i * spf, (i + 1) * spf) / sr
        af = av.AudioFrame.from_ndarray((0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None],
                                        format="fltp", layout="mono")
        af.sample_rate, af.pts, af.time_base = sr, i * spf, Fraction(1, sr)
        c.mux(a.encode(af))
    c.mux(vs.encode(None))
    c.mux(a.encode(None))
    c.close()
    return path


def _tree_rss(root: int) -> int:
    """Summed RSS (bytes) of ``root`` and its descendants, from /proc (Linux)."""
    children: Dict[int, List[int]] = {}
    rss: Dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                st = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{name}/statm") as f:
                rss[int(name)] = int(f.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(int(st[1]), []).append(int(name))
    total, todo = 0, [root]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(children.get(p, []))
    return total


def run_batch_cli(jobs_file: str, args: List[str]) -> Dict[str, Any]:
    """Run ``python -m facefuse batch`` and measure it."""
    cmd = [sys.executable, "-m", "facefuse", "batch", jobs_file, "--force",
           "--manifest", jobs_file + f".{time.monotonic_ns()}.manifest.json", *args]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            time.sleep(0.05)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    th.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{out}\n{err[-3000:]}")
    frames = 0
    for line in out.splitlines():
        if " frames made in " in line:
            frames = int(line.split(";")[-1].split(" frames made")[0].split()[-1])
    return {"wall_s": wall, "frames": frames, "fps": frames / wall if wall else None,
            "peak_tree_rss_mb": peak[0] / 2**20}


def job(kind: str, video: str, output: str, a: argparse.Namespace, chunk: Optional[float] = None) -> dict:
    opts = json.loads(a.options) if a.options else {}
    if kind == "smooth":
        j = {"kind": SMOOTH, "inputs": {"video": video}, "output": output, "options": {"crf": 18, **opts}}
    elif kind == "swap":
        j = {"kind": "swap", "inputs": {"source": a.source, "target": video}, "output": output, "options": opts}
    else:
        j = {"kind": "lipsync", "inputs": {"video": video, "audio": a.audio}, "output": output, "options": opts}
    if chunk:
        j["chunk_seconds"] = chunk
    return j


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kind", choices=("smooth", "swap", "lipsync"), default="smooth")
    ap.add_argument("--source", help="face image (--kind swap)")
    ap.add_argument("--audio", help="speech audio (--kind lipsync)")
    ap.add_argument("--options", help="pipeline options as JSON, e.g. '{\"swapper\": \"inswapper_128\"}'")
    ap.add_argument("--models-dir")
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=4.0, help="length of each short job")
    ap.add_argument("--workers-list", default="1,2")
    ap.add_argument("--long-seconds", type=float, default=120.0)
    ap.add_argument("--chunk-seconds", type=float, default=30.0)
    ap.add_argument("--chunk-workers", type=int, default=2)
    ap.add_argument("--size", default=None, help="frame size WxH (default 1280x720; 160x96 with --quick)")
    ap.add_argument("--quick", action="store_true", help="tiny inputs (a smoke test, not a measurement)")
    ap.add_argument("--json", help="also write the results as JSON")
    a = ap.parse_args()
    if a.kind == "swap" and not a.source or a.kind == "lipsync" and not a.audio:
        ap.error(f"--kind {a.kind} needs {'--source' if a.kind == 'swap' else '--audio'}")
    if a.quick:
        a.seconds, a.long_seconds, a.chunk_seconds = 0.4, 2.0, 0.5
    a.size = a.size or ("160x96" if a.quick else "1280x720")
    w, h = (int(v) for v in a.size.lower().split("x"))
    extra = ["--models-dir", a.models_dir] if a.models_dir else []
    results: Dict[str, Any] = {"kind": a.kind, "size": a.size, "cpu_count": os.cpu_count(), "a": [], "b": []}
    with tempfile.TemporaryDirectory(prefix="ff-batch-bench-") as d:
        short = [make_clip(os.path.join(d, f"short{i}.mp4"), a.seconds, w, h) for i in range(a.jobs)]
        jf = os.path.join(d, "short.jsonl")
        with open(jf, "w") as f:
            for i, v in enumerate(short):
                f.write(json.dumps(job(a.kind, v, os.path.join(d, "out", f"s{i}.mp4"), a)) + "\n")
        for n in (int(x) for x in a.workers_list.split(",")):
            r = run_batch_cli(jf, ["--workers", str(n), *extra])
            r["workers"] = n
            results["a"].append(r)
            print(f"A  {a.jobs} x {a.seconds:g} s jobs, {n} worker(s): {r['wall_s']:.2f} s, {r['fps']:.1f} fps, "
                  f"peak tree RSS {r['peak_tree_rss_mb']:.0f} MB", file=sys.stderr)
        long = make_clip(os.path.join(d, "long.mp4"), a.long_seconds, w, h)
        for label, chunk, workers in (("one piece", None, 1), ("chunked", a.chunk_seconds, a.chunk_workers)):
            lf = os.path.join(d, f"long-{workers}.jsonl")
            with open(lf, "w") as f:
                f.write(json.dumps(job(a.kind, long, os.path.join(d, "out", f"long-{label[0]}.mp4"), a, chunk)) + "\n")
            r = run_batch_cli(lf, ["--workers", str(workers), *extra])
            r.update(mode=label, workers=workers, chunk_seconds=chunk)
            results["b"].append(r)
            print(f"B  {a.long_seconds:g} s video {label} ({workers} worker(s)): {r['wall_s']:.2f} s, "
                  f"peak tree RSS {r['peak_tree_rss_mb']:.0f} MB", file=sys.stderr)
        if len({r["frames"] for r in results["b"]}) != 1:
            raise SystemExit(f"chunked and one-piece frame counts differ: {[r['frames'] for r in results['b']]}")
    print("\n| run | workers | wall s | frames | fps | peak tree RSS MB |\n|---|---|---|---|---|---|")
    for r in results["a"]:
        print(f"| {a.jobs} x {a.seconds:g} s ({a.kind}, {a.size}) | {r['workers']} | {r['wall_s']:.2f} | "
              f"{r['frames']} | {r['fps']:.1f} | {r['peak_tree_rss_mb']:.0f} |")
    for r in results["b"]:
        chunks = f" ({r['chunk_seconds']:g} s chunks)" if r["chunk_seconds"] else ""
        print(f"| {a.long_seconds:g} s {r['mode']}{chunks} | {r['workers']} | {r['wall_s']:.2f} | {r['frames']} | "
              f"{r['fps']:.1f} | {r['peak_tree_rss_mb']:.0f} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
