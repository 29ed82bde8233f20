"""Per-frame cost of the face-swap pipeline EXCEPT model inference, and its peak memory.

Runs :func:`facefuse.swap_video` on generated clips (a moving bright square, AAC audio) with
the tiny stand-in models of :mod:`facefuse.testing`; every ONNX Runtime session is wrapped so
that ``session.run`` time is measured separately and subtracted. What is left is facefuse's
own work: decode, detection pre/post-processing, tracking + smoothing, face selection, crop,
swap pre/post-processing, paste-back (per blend), quality monitor, encode.

Two measurements, each in a FRESH subprocess (so peaks are not shared):

* ``cost``: per size (default 1280x720 and 1920x1080) and blend (alpha, laplacian,
  poisson): ms per frame of each worker stage minus its inference, plus decode-only and
  encode-only passes over the same clip, and the pipeline's wall time minus inference.
* ``memory``: peak RSS (``ru_maxrss``) of a whole 720p run on a 6-second and a 60-second
  clip (bounded queues: the two should differ by far less than 50 MB).

Long runs: the integrator runs them alone on an idle machine::

    python bench/swap_pipeline.py                       # cost at 720p + 1080p (6 s clips), memory 6 s vs 60 s
    python bench/swap_pipeline.py --only cost --sizes 1280x720 --seconds 4
    python bench/swap_pipeline.py --quick               # smoke test: a 1 s 320x240 clip, everything once
    python bench/swap_pipeline.py --json results.json
    python bench/swap_pipeline.py --only cost --sizes 1920x1080 --frame-device cuda   # frames on the GPU
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from fractions import Fraction
from typing import Any

import numpy as np

# these benchmarks run on facefuse.testing's stand-in models, which facefuse refuses by default
os.environ.setdefault("FACEFUSE_ALLOW_STAND_INS", "1")

BLENDS = ("alpha", "laplacian", "poisson")


# --------------------------------------------------------------------------- clip

def generate(path: str, seconds: float, w: int, h: int, fps: int = 25) -> float:
    """A clip with a dim moving gradient, one bright square sized like a face, and an AAC tone."""
    import av

    t0 = time.perf_counter()
    c = av.open(path, "w")
    vs = c.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "20"})
    vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
    vs.thread_type = "AUTO"
    sr = 48000
    a = c.add_stream("aac", rate=sr)
    a.layout = "mono"
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(xx * 160 // w), (yy * 160 // h), ((xx + yy) * 160 // (w + h))], -1).astype(np.uint8)
    side = max(48, int(round(min(w, h) * 0.22)))  # about 80 px in the 640 detector input at 720p / 1080p
    n = int(round(seconds * fps))
    spf = sr // fps
    tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(spf * n) / sr)).astype(np.float32)
    span = max(1, w - side - 20)
    for i in range(n):
        img = np.roll(base, 4 * i, axis=1)
        x = 10 + (6 * i) % span
        y = (h - side) // 2 + int(10 * np.sin(i / 7))
        img[y:y + side, x:x + side] = 255
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


def build_models(directory: str, detector: str) -> None:
    from facefuse.testing.detector_models import BUILDERS as DETECTORS
    from facefuse.testing.face_models import BUILDERS as FACES

    DETECTORS[detector](directory)
    FACES["arcface_w600k_r50"](directory)
    FACES["inswapper_128"](directory)


def source_image(path: str) -> None:
    import cv2

    img = np.full((320, 320, 3), 70, np.uint8)
    img[80:240, 80:240] = 255
    cv2.imwrite(path, img)


# --------------------------------------------------------------------------- timed sessions

_STREAM_THREADS = ("facefuse-prepare", "facefuse-model", "facefuse-process")


class _TimedSession:
    """Delegates to an onnxruntime session; adds each run() time to a shared per-file counter.

    Runs made in the streaming engine's threads are counted under ``"<file>@worker"``, so the
    set-up runs (source and reference embeddings) are told apart from the per-frame ones.
    (``facefuse-prepare`` / ``facefuse-model`` since the pipeline engine; ``facefuse-process``
    before it, so the same script measures both in an A/B run.)"""

    def __init__(self, session: Any, name: str, totals: dict, lock: threading.Lock) -> None:
        self._s, self._name, self._totals, self._lock = session, name, totals, lock

    def run(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self._s.run(*args, **kwargs)
        finally:
            dt = time.perf_counter() - t0
            key = self._name + ("@worker" if threading.current_thread().name in _STREAM_THREADS else "")
            with self._lock:
                self._totals[key] += dt

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s, name)


def timing_pool(models_dir: str) -> Any:
    from facefuse.inference import InferencePool

    class TimingPool(InferencePool):
        """An InferencePool whose sessions time their run() calls (``run_seconds`` per file)."""

        def __init__(self, *a: Any, **k: Any) -> None:
            super().__init__(*a, **k)
            self.run_seconds: dict = defaultdict(float)
            self._tlock = threading.Lock()

        def get(self, *a: Any, **k: Any) -> Any:
            sess = super().get(*a, **k)
            name = os.path.basename(self.resolve(a[0] if a and a[0] is not None else k.get("path") or
                                                 k["spec"].file_name))
            return _TimedSession(sess, name, self.run_seconds, self._tlock)

    return TimingPool(models_dir=models_dir, providers="cpu")


# --------------------------------------------------------------------------- children

def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _frame_device(frame_device: str) -> dict:
    """swap_video's frame_device keyword, always passed where swap_video has it (its own default,
    "auto", would put a GPU machine's "cpu" run on the GPU); a facefuse from before it keeps its
    frames on the host, so "cpu" runs there without the keyword."""
    import inspect

    import facefuse as ff

    if "frame_device" in inspect.signature(ff.swap_video).parameters:
        return {"frame_device": frame_device}
    if frame_device == "cpu":
        return {}
    raise SystemExit(f"swap_pipeline: frame_device={frame_device!r}: this facefuse's swap_video has no "
                     "frame_device keyword")


def child_cost(src: str, models: str, face: str, detector: str, blends: list, preset: str, tmp: str,
               frame_device: str = "cpu") -> dict:
    import facefuse as ff
    from facefuse.video import VideoReader, VideoWriter

    out: dict = {"blends": {}}
    # decode only
    t0 = time.perf_counter()
    n = 0
    with VideoReader(src) as r:
        fps, w, h = r.fps_fraction, r.width, r.height
        frames_for_encode = []
        for fr in r:
            n += 1
            if len(frames_for_encode) < 50:
                frames_for_encode.append(fr.image)
    out["frames"] = n
    out["decode_ms"] = 1e3 * (time.perf_counter() - t0) / n
    # encode only (the first 50 frames, cycled to n)
    t0 = time.perf_counter()
    with VideoWriter(os.path.join(tmp, "enc.mp4"), fps, w, h, preset=preset, crf=18, audio_from=src) as wr:
        for i in range(n):
            wr.write(frames_for_encode[i % len(frames_for_encode)])
    out["encode_ms"] = 1e3 * (time.perf_counter() - t0) / n
    os.unlink(os.path.join(tmp, "enc.mp4"))

    for blend in blends:
        pool = timing_pool(models)
        t0 = time.perf_counter()
        res = ff.swap_video(face, src, os.path.join(tmp, f"out_{blend}.mp4"), pool=pool, detector=detector,
                            blend=blend, color="lab", progress=False, preset=preset, **_frame_device(frame_device))
        wall = time.perf_counter() - t0
        runs = dict(pool.run_seconds)
        pool.close()
        st = res.stage_seconds
        worker = {k[: -len("@worker")]: v for k, v in runs.items() if k.endswith("@worker")}
        det_run = sum(v for k, v in worker.items() if k.startswith(("yoloface", "scrfd", "retinaface")))
        swap_run = sum(v for k, v in worker.items() if k.startswith("inswapper"))
        rec_run = sum(v for k, v in worker.items() if k.startswith("arcface"))  # tracks (re-)recognised
        per = res.frames
        row = {
            "frames": per,
            "faces_swapped": res.faces_swapped,
            "detect_post_ms": 1e3 * (st["detect"] - det_run) / per,
            "track_smooth_ms": 1e3 * st["track"] / per,
            "select_ms": 1e3 * (st["select"] - rec_run) / per,
            "crop_ms": 1e3 * st["crop"] / per,
            "swap_post_ms": 1e3 * (st["swap"] - swap_run) / per,
            "paste_ms": 1e3 * st["paste"] / per,
            "quality_ms": 1e3 * st["quality"] / per,
            "inference_ms": 1e3 * sum(worker.values()) / per,
            "setup_inference_s": sum(v for k, v in runs.items() if not k.endswith("@worker")),
            "wall_ms": 1e3 * wall / per,
            "wall_minus_inference_ms": 1e3 * (wall - sum(runs.values())) / per,
        }
        row["worker_non_inference_ms"] = sum(row[k] for k in ("detect_post_ms", "track_smooth_ms", "select_ms",
                                                              "crop_ms", "swap_post_ms", "paste_ms", "quality_ms"))
        out["blends"][blend] = row
        os.unlink(os.path.join(tmp, f"out_{blend}.mp4"))
    out["peak_rss_mib"] = _maxrss_mib()
    return out


def child_memory(src: str, models: str, face: str, detector: str, preset: str, tmp: str,
                 frame_device: str = "cpu") -> dict:
    import facefuse as ff

    base = _maxrss_mib()
    t0 = time.perf_counter()
    res = ff.swap_video(face, src, os.path.join(tmp, "mem.mp4"), models_dir=models, providers="cpu",
                        detector=detector, progress=False, preset=preset, **_frame_device(frame_device))
    wall = time.perf_counter() - t0
    os.unlink(os.path.join(tmp, "mem.mp4"))
    return {"frames": res.frames, "wall_s": wall, "base_maxrss_mib": base, "peak_rss_mib": _maxrss_mib()}


def _run_child(args: list) -> dict:
    r = subprocess.run([sys.executable, __file__, "--child", json.dumps(args)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"child {args[0]} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=["1280x720", "1920x1080"])
    ap.add_argument("--seconds", type=float, default=6.0, help="clip length of the cost runs (default 6)")
    ap.add_argument("--memory", nargs=2, type=float, default=[6.0, 60.0], metavar=("SHORT", "LONG"),
                    help="clip lengths of the 720p memory runs (default 6 60)")
    ap.add_argument("--blends", nargs="+", default=list(BLENDS), choices=BLENDS)
    ap.add_argument("--detector", default="yolo_face", choices=("yolo_face", "scrfd", "retinaface"))
    ap.add_argument("--preset", default="veryfast", help="x264 preset of the output (default veryfast)")
    ap.add_argument("--only", choices=("cost", "memory"), default=None)
    ap.add_argument("--quick", action="store_true", help="a 1 s 320x240 clip, every measurement once (smoke test)")
    ap.add_argument("--frame-device", choices=("cpu", "cuda"), default="cpu",
                    help="swap_video's frame_device: where the frames live between decode and encode "
                         "(default cpu, also on a GPU machine)")
    ap.add_argument("--json", default=None, metavar="PATH")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        a = json.loads(args.child)
        mode, rest = a[0], a[1:]
        if mode == "generate":
            print(json.dumps({"gen_s": generate(*rest)}))
        elif mode == "cost":
            print(json.dumps(child_cost(*rest)))
        else:
            print(json.dumps(child_memory(*rest)))
        return

    _frame_device(args.frame_device)  # fail here, not in a child, when swap_video cannot take it
    sizes = ["320x240"] if args.quick else args.sizes
    seconds = 1.0 if args.quick else args.seconds
    mem = [1.0, 2.0] if args.quick else args.memory
    mem_size = "320x240" if args.quick else "1280x720"
    doc: dict = {"settings": vars(args) | {"sizes": sizes, "seconds": seconds, "memory": mem}, "cost": {},
                 "memory": {}}
    try:
        from facefuse.cli import machine_info

        doc["machine"] = machine_info()
    except Exception:  # noqa: BLE001
        pass
    print(f"# swap pipeline without inference: detector={args.detector} (stand-in), inswapper_128 (stand-in), "
          f"x264 preset={args.preset}, frame_device={args.frame_device}, cpus={os.cpu_count()}")
    with tempfile.TemporaryDirectory() as d:
        models = os.path.join(d, "models")
        os.makedirs(models)
        build_models(models, args.detector)
        face = os.path.join(d, "face.png")
        source_image(face)
        if args.only in (None, "cost"):
            cols = ("detect_post_ms", "track_smooth_ms", "select_ms", "crop_ms", "swap_post_ms", "paste_ms",
                    "quality_ms", "worker_non_inference_ms", "inference_ms", "wall_minus_inference_ms")
            print("ms per frame; decode / encode measured in separate passes; wall - inference is the concurrent "
                  "pipeline's wall time minus all session.run time")
            print(f"{'size':>9} {'blend':>9} {'decode':>7} {'encode':>7} " + " ".join(f"{c[:-3]:>14}" for c in cols))
            for size in sizes:
                w, h = (int(v) for v in size.lower().split("x"))
                src = os.path.join(d, f"cost_{size}.mp4")
                _run_child(["generate", src, seconds, w, h])
                r = _run_child(["cost", src, models, face, args.detector, args.blends, args.preset, d,
                                args.frame_device])
                doc["cost"][size] = r
                for blend, row in r["blends"].items():
                    print(f"{size:>9} {blend:>9} {r['decode_ms']:7.2f} {r['encode_ms']:7.2f} "
                          + " ".join(f"{row[c]:14.2f}" for c in cols), flush=True)
                os.unlink(src)
        if args.only in (None, "memory"):
            w, h = (int(v) for v in mem_size.split("x"))
            print(f"peak RSS of a whole {mem_size} run (default settings), fresh process each")
            print(f"{'seconds':>8} {'frames':>7} {'wall s':>8} {'base MiB':>9} {'peak MiB':>9}")
            for s in mem:
                src = os.path.join(d, f"mem_{s:g}.mp4")
                _run_child(["generate", src, s, w, h])
                r = _run_child(["memory", src, models, face, args.detector, args.preset, d, args.frame_device])
                doc["memory"][f"{s:g}"] = r
                print(f"{s:8g} {r['frames']:7d} {r['wall_s']:8.1f} {r['base_maxrss_mib']:9.1f} "
                      f"{r['peak_rss_mib']:9.1f}", flush=True)
                os.unlink(src)
            a, b = (doc["memory"][f"{s:g}"]["peak_rss_mib"] for s in mem)
            doc["memory"]["difference_mib"] = b - a
            print(f"difference long - short: {b - a:+.1f} MiB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2, default=str)


if __name__ == "__main__":
    main()
