"""Swap + pixel boost 512 + face enhancer + occlusion mask per 1080p frame, everything but inference:
facefuse versus the same steps done the FaceFusion 3.8.1 way, in the same run; and peak memory.

``cost``: a 1920x1080 frame with 2 faces (fixed landmarks: detection is not part of it). Every
model is replaced by the same free stand-in on both sides (the swapper and the enhancer return
their input, the occluder all ones), so what is timed is the work around the models:

* facefuse: :class:`facefuse.pipeline.FrameSwapper` ``plan`` (crops) + ``model`` (tiles of both
  faces in one batch, pre/post-processing, occlusion masks of both faces batched, the enhancer's
  input made crop to crop, its masks) + ``finish`` (one native ``paste_back`` for both faces and
  both layers), with ``pixel_boost=512, enhancer="gfpgan_1.4", mask_types=("box", "occlusion"),
  blend="alpha", color=None``.
* FaceFusion's way (written here in NumPy / OpenCV after its face_swapper, face_enhancer,
  face_masker and face_helper): per face a 512 warp, box mask, occlusion mask, 16 tiles
  prepared and normalised one by one, reassembled, ``paste_back`` (a frame copy + two
  ``cv2.warpAffine``); then per face the enhancer's warp of the swapped frame, its box and
  occlusion masks, ``paste_back`` and ``blend_frame`` (``cv2.addWeighted`` over the frame).

``memory``: peak RSS (``ru_maxrss``) of :func:`facefuse.swap_video` with the same options and the
tiny stand-in ONNX models of :mod:`facefuse.testing`, on a 6 s and a 60 s clip, each in a fresh
subprocess (bounded queues: the peaks should differ by far less than 50 MB).

    python bench/swap_quality.py                         # cost (1080p, 30 frames) + memory (6 s vs 60 s)
    python bench/swap_quality.py --only cost --frames 50
    python bench/swap_quality.py --only memory --size 1280x720 --seconds 6 60
    python bench/swap_quality.py --only memory --queue-size 8   # swap_video's queues at depth 8
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
from typing import Any, Dict, List

import cv2
import numpy as np

os.environ.setdefault("FACEFUSE_ALLOW_STAND_INS", "1")  # the bench runs on facefuse.testing's stand-ins

FACES_1080 = [np.array([[760, 480], [880, 478], [822, 560], [772, 630], [868, 628]], np.float32),
              np.array([[1180, 500], [1290, 505], [1236, 580], [1190, 645], [1282, 648]], np.float32)]


# ------------------------------------------------------------------- FaceFusion's way (baseline)
def _ff_warp(frame: np.ndarray, lm: np.ndarray, template: np.ndarray, size: int) -> tuple:
    m = cv2.estimateAffinePartial2D(lm, template * size, method=cv2.RANSAC, ransacReprojThreshold=100)[0]
    return cv2.warpAffine(frame, m, (size, size), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_AREA), m


def _ff_box(crop: np.ndarray, blur: float) -> np.ndarray:
    w, h = crop.shape[1], crop.shape[0]
    amount = int(w * 0.5 * blur)
    area = max(amount // 2, 1)
    m = np.ones((h, w), np.float32)
    m[:area, :] = 0
    m[-area:, :] = 0
    m[:, :area] = 0
    m[:, -area:] = 0
    return cv2.GaussianBlur(m, (0, 0), amount * 0.25) if amount > 0 else m


def _ff_occlusion(crop: np.ndarray, occluder: Any) -> np.ndarray:
    x = np.expand_dims(cv2.resize(crop, (256, 256)), 0).astype(np.float32) / 255.0
    m = occluder(x)[0].clip(0, 1).astype(np.float32)
    m = cv2.resize(m, crop.shape[:2][::-1])
    m = np.minimum.reduce([m])
    return (cv2.GaussianBlur(m.clip(0, 1), (0, 0), 5).clip(0.5, 1) - 0.5) * 2


def _ff_paste(frame: np.ndarray, crop: np.ndarray, mask: np.ndarray, m: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    inv = cv2.invertAffineTransform(m)
    ch, cw = crop.shape[:2]
    pts = cv2.transform(np.array([[[0, 0], [cw, 0], [cw, ch], [0, ch]]], np.float64), inv)[0]
    x1, y1 = np.clip(np.floor(pts.min(0)).astype(int), 0, [w, h])
    x2, y2 = np.clip(np.ceil(pts.max(0)).astype(int), 0, [w, h])
    pm = inv.copy()
    pm[0, 2] -= x1
    pm[1, 2] -= y1
    im = np.expand_dims(cv2.warpAffine(mask, pm, (x2 - x1, y2 - y1)).clip(0, 1), -1)
    ic = cv2.warpAffine(crop, pm, (x2 - x1, y2 - y1), borderMode=cv2.BORDER_REPLICATE)
    out = frame.copy()
    box = out[y1:y2, x1:x2]
    out[y1:y2, x1:x2] = (box * (1 - im) + ic * im).astype(out.dtype)
    return out


def facefusion_frame(frame: np.ndarray, faces: List[np.ndarray], models: Dict[str, Any], tpl: Dict[str, Any],
                     boost: int = 512, blend: int = 80) -> np.ndarray:
    temp = frame
    t = boost // 128
    for lm in faces:  # face_swapper.swap_face
        crop, m = _ff_warp(temp, lm, tpl["arcface_128"], boost)
        masks = [_ff_box(crop, 0.3), _ff_occlusion(crop, models["occluder"])]
        tiles = crop.reshape(128, t, 128, t, 3).transpose(1, 3, 0, 2, 4).reshape(t * t, 128, 128, 3)
        outs = []
        for tile in tiles:
            x = np.expand_dims(((tile[:, :, ::-1] / 255.0 - 0.0) / 1.0).transpose(2, 0, 1), 0).astype(np.float32)
            y = models["swapper"](x)[0].transpose(1, 2, 0).clip(0, 1)[:, :, ::-1] * 255
            outs.append(y)
        crop = np.stack(outs).reshape(t, t, 128, 128, 3).transpose(2, 0, 3, 1, 4).reshape(boost, boost, 3)
        temp = _ff_paste(temp, crop, np.minimum.reduce(masks).clip(0, 1), m)
    for lm in faces:  # face_enhancer.enhance_face
        crop, m = _ff_warp(temp, lm, tpl["ffhq_512"], 512)
        masks = [_ff_box(crop, 0.3), _ff_occlusion(crop, models["occluder"])]
        x = np.expand_dims(((crop[:, :, ::-1] / 255.0 - 0.5) / 0.5).transpose(2, 0, 1), 0).astype(np.float32)
        y = models["enhancer"](x)[0]
        y = ((np.clip(y, -1, 1) + 1) / 2).transpose(1, 2, 0)
        crop = (y * 255.0).round().astype(np.uint8)[:, :, ::-1]
        paste = _ff_paste(temp, crop, np.minimum.reduce(masks).clip(0, 1), m)
        temp = cv2.addWeighted(temp, 1 - blend / 100, paste, blend / 100, 0)
    return temp


# ------------------------------------------------------------------------------ cost
def _frame() -> np.ndarray:
    rng = np.random.default_rng(0)
    return cv2.resize(rng.integers(30, 220, (270, 480, 3), np.uint8), (1920, 1080), interpolation=cv2.INTER_CUBIC)


def run_cost(frames: int) -> Dict[str, Any]:
    from facefuse.inference import InferencePool
    from facefuse.models import Face, FaceEnhancer, FaceMasker, FaceSwapper
    from facefuse.models.align import WARP_TEMPLATES
    from facefuse.pipeline import FrameSwapper
    from facefuse.testing import write_models

    class Fixed:
        def detect(self, frame: np.ndarray) -> list:
            return [Face(box=np.r_[lm.min(0) - 60, lm.max(0) + 60].astype(np.float32), score=0.9, landmarks5=lm)
                    for lm in FACES_1080]

    free = {"swapper": lambda x: x, "enhancer": lambda x: x,
            "occluder": lambda x: np.ones(x.shape[:3] + (1,), np.float32)}
    with tempfile.TemporaryDirectory() as d:
        write_models(d, ["inswapper_128", "gfpgan_1.4", "xseg_1"])
        pool = InferencePool(d, providers="cpu", download=False)
        swp, enh, masker = FaceSwapper(pool), FaceEnhancer(pool, "gfpgan_1.4"), FaceMasker(pool, "xseg_1")
        masker.load()
        swp._run = lambda target, source: (free["swapper"](target), None)  # type: ignore[method-assign]
        enh._run = free["enhancer"]  # type: ignore[method-assign]
        masker._run = staticmethod(lambda sess, x: free["occluder"](x))  # type: ignore[method-assign]
        fs = FrameSwapper(Fixed(), swp, np.ones((1, 512), np.float32), faces="all", smoothing=False, blend="alpha",
                          color=None, pixel_boost=512, enhancer=enh, enhancer_blend=80, masker=masker,
                          mask_types=("box", "occlusion"))
        frame = _frame()
        tpl = {k: np.asarray(v, np.float64) for k, v in WARP_TEMPLATES.items()}
        ours, theirs = [], []
        for i in range(frames + 2):  # two warm-up frames, interleaved so both see the same load
            t0 = time.perf_counter()
            a = fs(frame, i, i / 25)
            t1 = time.perf_counter()
            b = facefusion_frame(frame, FACES_1080, free, tpl)
            t2 = time.perf_counter()
            if i >= 2:
                ours.append(t1 - t0)
                theirs.append(t2 - t1)
        pool.close()
    diff = np.abs(a.astype(int) - b.astype(int))
    med_o, med_t = float(np.median(ours)) * 1e3, float(np.median(theirs)) * 1e3
    return {"frames": frames, "facefuse_ms": med_o, "facefusion_way_ms": med_t, "speedup": med_t / med_o,
            "stage_ms": {k: v / (frames + 2) * 1e3 for k, v in fs.stage_seconds.items() if v},
            "max_abs_diff": int(diff.max()), "mean_abs_diff": float(diff.mean())}


# ------------------------------------------------------------------------------ memory
def _clip(path: str, seconds: float, w: int, h: int) -> None:
    import av

    with av.open(path, "w") as c:
        s = c.add_stream("libx264", rate=25, options={"preset": "ultrafast", "crf": "18"})
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        side = h // 4
        for i in range(int(seconds * 25)):
            img = np.full((h, w, 3), 70, np.uint8)
            x = (w // 4) + (i * 3) % (w // 2)
            img[h // 3:h // 3 + side, x:x + side] = 255  # the stand-in detector's "face"
            img[h // 3 + side // 3:h // 3 + side // 2, x + side // 3:x + side // 2] = (0, 255, 0)  # an occluder
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def _memory_child(clip: str, models: str, out: str, queue_size: str) -> None:
    import facefuse as ff

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    r = ff.swap_video(_face(models), clip, out, models_dir=models, detector="scrfd", detector_size=320,
                      progress=False, preset="ultrafast", faces="all", blend="alpha", color=None, pixel_boost=512,
                      enhancer="gfpgan_1.4", mask_types=("box", "occlusion"),
                      **({"queue_size": int(queue_size)} if int(queue_size) else {}))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"frames": r.frames, "faces": r.faces_swapped, "seconds": time.perf_counter() - t0,
                      "peak_mb": peak / 1024, "after_import_mb": base / 1024}))


def _face(models: str) -> str:
    path = os.path.join(models, "face.png")
    if not os.path.exists(path):
        img = np.full((240, 240, 3), 70, np.uint8)
        img[60:180, 60:180] = 255
        cv2.imwrite(path, img)
    return path


def run_memory(seconds: List[float], w: int, h: int, queue_size: int = 0) -> Dict[str, Any]:
    from facefuse.testing import write_models

    out: Dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as d:
        write_models(d, ["scrfd", "arcface_w600k_r50", "inswapper_128", "gfpgan_1.4", "xseg_1"])
        for s in seconds:
            clip = os.path.join(d, f"clip{s:g}.mp4")
            _clip(clip, s, w, h)
            cmd = [sys.executable, __file__, "--child", clip, d, os.path.join(d, f"out{s:g}.mp4"), str(queue_size)]
            res = subprocess.run(cmd, capture_output=True, text=True, check=True)
            out[f"{s:g}s"] = json.loads(res.stdout.strip().splitlines()[-1])
    peaks = [v["peak_mb"] for v in out.values()]
    out["peak_growth_mb"] = max(peaks) - min(peaks)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=("cost", "memory"), default=None)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--seconds", type=float, nargs="+", default=[6, 60])
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--json", default=None)
    ap.add_argument("--threads", type=int, default=1,
                    help="threads for OpenCV and facefuse's OpenMP loops, both sides (default 1: the work per core, "
                         "steady on a shared machine; 0 leaves the libraries' defaults)")
    ap.add_argument("--queue-size", type=int, default=0,
                    help="memory: swap_video's queue_size (0: its default)")
    ap.add_argument("--child", nargs=4, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.threads:  # before facefuse._core loads: OpenMP reads it once
        os.environ["OMP_NUM_THREADS"] = str(a.threads)
        cv2.setNumThreads(a.threads)
    if a.child:
        _memory_child(*a.child)
        return
    res: Dict[str, Any] = {"load": os.getloadavg(), "cpus": os.cpu_count(), "threads": a.threads}
    if a.only in (None, "cost"):
        res["cost"] = c = run_cost(a.frames)
        print(f"per 1080p frame, 2 faces, pixel boost 512 + gfpgan layer + occlusion, inference excluded "
              f"(median of {c['frames']}): facefuse {c['facefuse_ms']:.1f} ms, FaceFusion's way "
              f"{c['facefusion_way_ms']:.1f} ms -> {c['speedup']:.2f}x; outputs differ by max {c['max_abs_diff']} "
              f"(mean {c['mean_abs_diff']:.3f}) grey levels; stages {json.dumps({k: round(v, 1) for k, v in c['stage_ms'].items()})}")
    if a.only in (None, "memory"):
        w, h = (int(v) for v in a.size.lower().split("x"))
        res["memory"] = m = run_memory(a.seconds, w, h, a.queue_size)
        print("peak RSS: " + ", ".join(f"{k} {v['peak_mb']:.0f} MB ({v['frames']} frames, {v['seconds']:.0f} s)"
                                       for k, v in m.items() if isinstance(v, dict))
              + f"; growth {m['peak_growth_mb']:.1f} MB")
    print(f"load average {res['load'][0]:.1f} on {res['cpus']} CPUs; threads {a.threads or 'default'}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
