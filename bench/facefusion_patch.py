"""FaceFusion's own processors, unpatched vs ``facefuse.compat.facefusion.patch()``.

    python bench/facefusion_patch.py --facefusion /path/to/facefusion [--sizes 720p,1080p,4k]
        [--faces 1,2,4] [--rounds 7] [--threads N] [--clock wall|cpu] [--json out.json]

Imports FaceFusion from the checkout given (nothing of it is copied here) and runs, per
frame and per face, its ``face_swapper`` ``swap_face`` (inswapper_128 at pixel boost
128 and 512, hyperswap_1a_256) and ``face_enhancer`` ``enhance_face`` (gfpgan_1.4), plus
the face-store look-ups a processor makes per frame (3 ``get_faces`` / ``get_static_faces``
of the target frame). Only the ONNX forward passes are stubbed (a session whose ``run``
returns a cheap function of its input, timed and subtracted) together with inswapper's
embedding initializer (read from the model file otherwise). Faces are given (5-point
landmarks on a synthetic frame): detection is not part of the timed loop.

Non-model time per frame = frame time - time inside the stubbed ``run``; unpatched (A)
and patched (B) rounds alternate in one process; medians reported, plus the max
absolute pixel difference of the B and A output frames ("max diff": processors chain,
so a face is pasted onto a frame that may already be 1 off) and of each single
``paste_back`` call replayed on FaceFusion's own inputs ("per paste": the drop-in's
bound, measured in one extra untimed unpatched frame).

``--clock cpu`` times with the process's CPU time (all its threads) instead of the wall
clock, and runs OpenCV on one thread: on a machine shared with other jobs, time spent
descheduled is not counted. Use it with ``--threads 1`` (OpenMP workers waiting would
count otherwise); ``--clock wall`` (the default) is what a user sees on an idle machine.
"""
from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
import types
from typing import Any, Callable

import numpy as np

SIZES = {"720p": (720, 1280), "1080p": (1080, 1920), "4k": (2160, 3840)}
# arcface_128-like 5 points of a face (eyes, nose, mouth corners) in units of the eye distance
LM5 = np.array([[-0.5, 0.0], [0.5, 0.0], [0.0, 0.55], [-0.41, 1.15], [0.41, 1.15]])


_now = time.perf_counter  # --clock cpu: time.process_time


class StubSession:
    """An ONNX session stand-in: the inputs FaceFusion looks for, and a cheap output of the right shape."""

    def __init__(self, inputs: list[str], fn: Callable[[dict], np.ndarray], clock: list[float]) -> None:
        self._inputs = [types.SimpleNamespace(name=n) for n in inputs]
        self._fn, self._clock = fn, clock

    def get_inputs(self) -> list[Any]:
        return self._inputs

    def run(self, _names: Any, feeds: dict) -> list[np.ndarray]:
        t0 = _now()
        out = self._fn(feeds)
        self._clock[0] += _now() - t0
        return [out]


def _import_facefusion(path: str) -> dict[str, Any]:
    sys.path.insert(0, path)
    try:
        import tqdm  # noqa: F401  (FaceFusion's progress bars; not timed)
    except ImportError:
        stub = types.ModuleType("tqdm")

        class _Bar:
            def __init__(self, *a: Any, **k: Any) -> None: ...
            def __enter__(self) -> "_Bar": return self
            def __exit__(self, *a: Any) -> bool: return False
            def update(self, *a: Any, **k: Any) -> None: ...
            def set_postfix(self, *a: Any, **k: Any) -> None: ...

        stub.tqdm = _Bar  # type: ignore[attr-defined]
        sys.modules["tqdm"] = stub
    mods = {name: importlib.import_module(f"facefusion.{name}") for name in
            ("state_manager", "face_store", "types")}
    mods["swapper"] = importlib.import_module("facefusion.processors.modules.face_swapper.core")
    mods["enhancer"] = importlib.import_module("facefusion.processors.modules.face_enhancer.core")
    return mods


def _faces(ff: dict[str, Any], h: int, w: int, n: int, rng: np.random.Generator) -> list[Any]:
    eye = 0.08 * h
    cols = min(n, 2)
    faces = []
    for k in range(n):
        cx = w * (k % cols + 1) / (cols + 1)
        cy = h * (k // cols + 1) / ((n + cols - 1) // cols + 1) - 0.4 * eye
        a = np.deg2rad(rng.uniform(-12, 12))
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        lm5 = (LM5 * eye) @ rot.T + [cx, cy]
        emb = rng.standard_normal(512).astype(np.float32)
        faces.append(ff["types"].Face(origin=None, bounding_box=np.array([cx - eye, cy - eye, cx + eye, cy + 2 * eye]),
                                      score_set={}, landmark_set={"5": lm5, "5/68": lm5, "68": None}, angle=0,
                                      embedding=emb, embedding_norm=emb / np.linalg.norm(emb), age=None, gender=None,
                                      race=None))
    return faces


def _frame(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    import cv2

    small = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _setup(ff: dict[str, Any], clock: list[float]) -> None:
    sm, sw, en = ff["state_manager"], ff["swapper"], ff["enhancer"]
    for key, value in {"download_providers": ["github"], "face_mask_types": ["box"], "face_mask_blur": 0.3, "face_mask_padding": (0, 0, 0, 0),
                       "face_swapper_weight": 0.5, "face_enhancer_blend": 80, "face_enhancer_weight": 0.5,
                       "face_enhancer_model": "gfpgan_1.4", "face_swapper_model": "inswapper_128",
                       "face_swapper_pixel_boost": "128x128"}.items():
        sm.init_item(key, value)
    emap = np.random.default_rng(1).standard_normal((512, 512)).astype(np.float32) / 16
    sw.get_static_model_initializer = lambda _path: emap

    def swap(feeds: dict) -> np.ndarray:
        t = feeds["target"]
        if sm.get_item("face_swapper_model").startswith("hyperswap"):
            return np.tanh(t * 0.9)  # model range [-1, 1]
        return np.clip(t * 0.9 + 0.05, 0, 1)

    sessions = {"swapper": StubSession(["source", "target"], swap, clock),
                "enhancer": StubSession(["input"], lambda f: f["input"] * np.float32(0.95), clock)}
    sw.get_inference_pool = lambda: {"face_swapper": sessions["swapper"]}
    en.get_inference_pool = lambda: {"face_enhancer": sessions["enhancer"]}


def _store_lookups(ff: dict[str, Any], frame: np.ndarray) -> None:
    store = ff["face_store"]
    get = getattr(store, "get_faces", None) or getattr(store, "get_static_faces")
    for _ in range(3):
        get(frame)


CONFIGS = {
    "inswapper_128 boost 128": [("swap", "inswapper_128", "128x128")],
    "inswapper_128 boost 512": [("swap", "inswapper_128", "512x512")],
    "hyperswap_1a_256": [("swap", "hyperswap_1a_256", "256x256")],
    "gfpgan_1.4": [("enhance", "gfpgan_1.4", None)],
    "inswapper_128 boost 512 + gfpgan_1.4": [("swap", "inswapper_128", "512x512"), ("enhance", "gfpgan_1.4", None)],
}


def _run_frame(ff: dict[str, Any], steps: list, frame: np.ndarray, faces: list, source_face: Any,
               clock: list[float]) -> tuple[float, np.ndarray]:
    sm, sw, en = ff["state_manager"], ff["swapper"], ff["enhancer"]
    clock[0] = 0.0
    t0 = _now()
    temp = frame
    for kind, model, boost in steps:
        _store_lookups(ff, frame)
        if kind == "swap":
            sm.set_item("face_swapper_model", model)
            sm.set_item("face_swapper_pixel_boost", boost)
            for face in faces:
                temp = sw.swap_face(source_face, face, frame, temp)
        else:
            for face in faces:
                temp = en.enhance_face(face, temp)
    return _now() - t0 - clock[0], temp


def _per_paste_diff(ff: dict[str, Any], steps: list, frame: np.ndarray, faces: list, source_face: Any,
                    clock: list[float]) -> int:
    """Max |FaceFusion's paste_back - facefuse's| over every paste_back call of one
    unpatched frame, each call replayed through compat.paste_back on FaceFusion's own
    inputs (the per-call bound; the frame-level max diff adds the chaining of the
    processors: a face pasted over a frame already 1 off)."""
    from facefuse.compat import facefusion as compat

    original = sys.modules["facefusion.face_helper"].paste_back
    worst = [0]

    def spy(temp: np.ndarray, crop: np.ndarray, mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
        want = original(temp, crop, mask, affine)
        got = compat.paste_back(temp, crop, mask, affine)
        worst[0] = max(worst[0], int(np.max(np.abs(want.astype(np.int16) - got.astype(np.int16)))))
        return want

    bound = [(mod, k) for _name, mod in compat._facefusion_modules()  # patch()'s sweep of the copies
             for k, v in list(vars(mod).items()) if v is original]
    for mod, k in bound:
        setattr(mod, k, spy)
    try:
        _run_frame(ff, steps, frame, faces, source_face, clock)
    finally:
        for mod, k in bound:
            setattr(mod, k, original)
    return worst[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--facefusion", required=True, help="a FaceFusion 3.5-3.8 checkout (folder holding facefusion/)")
    ap.add_argument("--sizes", default="720p,1080p,4k")
    ap.add_argument("--faces", default="1,2,4")
    ap.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated names of " + "; ".join(CONFIGS))
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=0, help="facefuse threads (0: its default)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall: elapsed time; cpu: the process's CPU time, OpenCV on 1 thread (busy machines)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    global _now
    _now = time.process_time if args.clock == "cpu" else time.perf_counter

    ff = _import_facefusion(args.facefusion)
    from facefuse import _core
    from facefuse.compat import facefusion as compat

    if args.threads:
        _core.set_threads(args.threads)
    if args.clock == "cpu":
        import cv2

        cv2.setNumThreads(1)
    clock = [0.0]
    _setup(ff, clock)
    rng = np.random.default_rng(0)
    rows = []
    print(f"{'config':40s} {'size':>6s} {'faces':>5s} {'FaceFusion ms':>14s} {'patched ms':>11s} {'speed-up':>9s} "
          f"{'max diff':>8s} {'per paste':>9s}")
    for cfg in [c.strip() for c in args.configs.split(",") if c.strip()]:
        steps = CONFIGS[cfg]
        for size in args.sizes.split(","):
            h, w = SIZES[size]
            frame = _frame(h, w, rng)
            for n in (int(v) for v in args.faces.split(",")):
                faces = _faces(ff, h, w, n, rng)
                source = _faces(ff, h, w, 1, rng)[0]
                a_t, b_t, diff = [], [], 0
                for r in range(args.rounds + 1):  # round 0 warms both (caches, first-call checks)
                    compat.unpatch()
                    ta, out_a = _run_frame(ff, steps, frame, faces, source, clock)
                    compat.patch()
                    tb, out_b = _run_frame(ff, steps, frame, faces, source, clock)
                    compat.unpatch()
                    diff = max(diff, int(np.max(np.abs(out_a.astype(np.int16) - out_b.astype(np.int16)))))
                    if r:
                        a_t.append(ta)
                        b_t.append(tb)
                per_paste = _per_paste_diff(ff, steps, frame, faces, source, clock)  # untimed
                a, b = statistics.median(a_t) * 1e3, statistics.median(b_t) * 1e3
                rows.append({"config": cfg, "size": size, "faces": n, "facefusion_ms": a, "patched_ms": b,
                             "speedup": a / b, "max_diff": diff, "max_diff_per_paste": per_paste})
                print(f"{cfg:40s} {size:>6s} {n:5d} {a:14.2f} {b:11.2f} {a / b:8.2f}x {diff:8d} {per_paste:9d}",
                      flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
