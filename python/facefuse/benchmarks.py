"""The benchmark cases of ``facefuse bench``: every op and paste-back, native vs reference.

A :class:`Case` has a name, the ``facefuse.ops`` / ``facefuse.reference`` names it
needs, and ``setup(quick) -> (native_fn, reference_fn)``: two zero-argument
callables doing the same work on the same inputs, the first on facefuse's native
core, the second the NumPy / OpenCV way (``facefuse.reference``). Cases whose ops
this build lacks report why in :meth:`Case.unavailable` and are skipped.

:func:`time_case` times both in the same run (interleaved, after a warm-up) and
returns medians. :func:`make_scene` builds realistic paste-back inputs (several
512 x 512 face crops with rotated, scaled similarity affines), shared with
bench/bench_compat.py and the tests.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import cv2
import numpy as np

__all__ = ["Case", "CASES", "Scene", "face_affine", "face_mask", "make_scene", "select", "time_case"]

Fn = Callable[[], Any]


@dataclass(frozen=True)
class Case:
    """One benchmark case: ``setup(quick)`` returns ``(native_fn, reference_fn)``."""

    name: str
    setup: Callable[[bool], tuple[Fn, Fn]]
    needs_ops: tuple[str, ...] = ()
    needs_reference: tuple[str, ...] = ()
    quick_name: Optional[str] = None  # the name in --quick mode (smaller sizes), if different
    tags: tuple[str, ...] = field(default_factory=tuple)

    def label(self, quick: bool) -> str:
        return (self.quick_name or self.name) if quick else self.name

    def unavailable(self) -> Optional[str]:
        """Why the case cannot run in this build (None when it can)."""
        from . import ops, reference

        missing = [f"facefuse.ops.{n}" for n in self.needs_ops if not hasattr(ops, n)]
        missing += [f"facefuse.reference.{n}" for n in self.needs_reference if not hasattr(reference, n)]
        if missing:
            return "not in this build: " + ", ".join(missing)
        return None


# --------------------------------------------------------------------------- inputs

def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _photo_like(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A smooth-ish uint8 BGR image (noise blurred at two scales), cheap at 4K."""
    small = rng.integers(0, 256, (max(1, h // 8), max(1, w // 8), 3), dtype=np.uint8)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    noise = rng.integers(-12, 13, (h, w, 3), dtype=np.int16)
    return np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def face_mask(size: int, blur: float = 0.3, padding: float = 0.0) -> np.ndarray:
    """A FaceFusion-style box mask: ones, a border of ``blur * size / 2`` px faded to 0 (float32)."""
    amount = max(1, int(size * 0.5 * blur))
    m = np.ones((size, size), np.float32)
    edge = max(amount // 2, 1) + int(padding * size)
    m[:edge, :] = 0
    m[-edge:, :] = 0
    m[:, :edge] = 0
    m[:, -edge:] = 0
    if amount > 0:
        m = cv2.GaussianBlur(m, (0, 0), amount * 0.25)
    return np.clip(m, 0, 1).astype(np.float32)


def face_affine(center: tuple[float, float], face_px: float, angle_deg: float, crop: int = 512) -> np.ndarray:
    """The 2x3 frame -> crop similarity of a face ``face_px`` wide at ``center``, rolled by ``angle_deg``."""
    s = crop / float(face_px)
    a = math.radians(angle_deg)
    c, si = s * math.cos(a), s * math.sin(a)
    cx, cy = center
    # crop = R*s*(p - center) + crop/2
    m = np.array([[c, si, 0.0], [-si, c, 0.0]])
    m[:, 2] = np.array([crop / 2.0, crop / 2.0]) - m[:, :2] @ np.array([cx, cy])
    return m


@dataclass
class Scene:
    frame: np.ndarray        # H x W x 3 uint8
    crops: np.ndarray        # N x c x c x 3 uint8
    masks: np.ndarray        # N x c x c float32
    affines: np.ndarray      # N x 2 x 3 float64 (frame -> crop)


def make_scene(h: int, w: int, n_faces: int, crop: int = 512, seed: int = 0) -> Scene:
    """A frame with ``n_faces`` faces along a row: sizes ~ 0.3-0.45 of the frame height,
    rolls of up to +-20 degrees, 512 crops (feathered box masks), all inside the frame."""
    rng = _rng(seed)
    frame = _photo_like(rng, h, w)
    crops = np.stack([_photo_like(rng, crop, crop) for _ in range(n_faces)])
    masks = np.stack([face_mask(crop)] * n_faces)
    affines = []
    for k in range(n_faces):
        face_px = h * rng.uniform(0.30, 0.45) if n_faces > 1 else h * 0.5
        cx = w * (k + 0.5) / n_faces
        cy = h * rng.uniform(0.4, 0.6)
        affines.append(face_affine((cx, cy), face_px, rng.uniform(-20, 20), crop))
    return Scene(frame, crops, masks, np.stack(affines))


# --------------------------------------------------------------------------- cases

def _blend_laplacian(quick: bool) -> tuple[Fn, Fn]:
    from . import ops, reference

    h, w = (96, 128) if quick else (1080, 1920)
    rng = _rng(1)
    dst, src = _photo_like(rng, h, w), _photo_like(rng, h, w)
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot((yy - h / 2) / (0.35 * h), (xx - w / 2) / (0.3 * w))
    mask = np.clip((1.0 - r) / 0.25, 0.0, 1.0).astype(np.float32)
    return (lambda: ops.blend_laplacian(dst, src, mask, 5),
            lambda: reference.blend_laplacian(dst, src, mask, 5))


def _color_transfer(quick: bool) -> tuple[Fn, Fn]:
    from . import ops, reference

    n = 64 if quick else 512
    rng = _rng(2)
    src, ref = _photo_like(rng, n, n), _photo_like(rng, n, n)
    mask = face_mask(n)
    return (lambda: ops.color_transfer(src, ref, mask, mask),
            lambda: reference.color_transfer(src, ref, mask, mask))


def _bgr_to_lab(quick: bool) -> tuple[Fn, Fn]:
    from . import ops, reference

    h, w = (48, 64) if quick else (1080, 1920)
    img = _photo_like(_rng(3), h, w)
    return lambda: ops.bgr_to_lab(img), lambda: reference.bgr_to_lab(img)


def _tpsnr(quick: bool) -> tuple[Fn, Fn]:
    from . import ops, reference

    h, w = (48, 64) if quick else (1080, 1920)
    rng = _rng(4)
    a = _photo_like(rng, h, w)
    b = np.clip(a.astype(np.int16) + rng.integers(-3, 4, a.shape), 0, 255).astype(np.uint8)
    return lambda: ops.tpsnr(a, b), lambda: reference.tpsnr(a, b)


def _landmark_smoother(quick: bool) -> tuple[Fn, Fn]:
    from . import ops, reference

    n, p, frames = (8, 68, 16) if quick else (64, 478, 64)
    rng = _rng(5)
    base = rng.uniform(100, 900, (n, 1, 2)) + rng.normal(0, 40, (n, p, 2))
    drift = np.cumsum(rng.normal(0, 1.0, (frames, n, 1, 2)), axis=0)
    seq = (base[None] + drift + rng.normal(0, 0.8, (frames, n, p, 2))).astype(np.float32)
    ids = np.arange(n, dtype=np.int64)

    def runner(smoother: Any) -> Fn:
        state = {"k": 0}

        def step() -> Any:
            k = state["k"]
            state["k"] = (k + 1) % frames
            return smoother.update(seq[k], ids)

        return step

    return runner(ops.LandmarkSmoother()), runner(reference.LandmarkSmoother())


def _blend_poisson(quick: bool) -> tuple[Fn, Fn]:
    from . import ops, reference

    n = 64 if quick else 512
    rng = _rng(6)
    dst, src = _photo_like(rng, n, n), _photo_like(rng, n, n)
    yy, xx = np.mgrid[:n, :n]
    mask = (np.hypot(yy - n / 2, xx - n / 2) < 0.35 * n).astype(np.float32)
    return (lambda: ops.blend_poisson(dst, src, mask),
            lambda: reference.blend_poisson(dst, src, mask))


def _paste_case(h: int, w: int, faces: int, blend: str):
    def setup(quick: bool) -> tuple[Fn, Fn]:
        from . import ops, reference

        hh, ww, crop = (240, 320, 64) if quick else (h, w, 512)
        sc = make_scene(hh, ww, faces, crop, seed=7)
        if faces == 1:
            args = (sc.frame, sc.crops[0], sc.masks[0], sc.affines[0])
        else:
            args = (sc.frame, sc.crops, sc.masks, sc.affines)
        return (lambda: ops.paste_back(*args, blend=blend),
                lambda: reference.paste_back(*args, blend=blend, warp="cv2"))  # FaceFusion's cv2 warps

    return setup


def _compat_case(h: int, w: int, faces: int):
    def setup(quick: bool) -> tuple[Fn, Fn]:
        from .compat import facefusion as ff
        from .reference import compat_facefusion as ref_ff

        hh, ww, crop = (240, 320, 64) if quick else (h, w, 512)
        sc = make_scene(hh, ww, faces, crop, seed=7)  # the scene of the paste_back cases

        def run(fn: Callable[..., np.ndarray]) -> Fn:
            def go() -> np.ndarray:
                out = sc.frame
                for k in range(faces):  # FaceFusion pastes one face after the other
                    out = fn(out, sc.crops[k], sc.masks[k], sc.affines[k])
                return out

            return go

        return run(ff.paste_back), run(ref_ff.paste_back)

    return setup


def _build() -> list[Case]:
    cases = [
        Case("blend_laplacian 1920x1080 u8 L5", _blend_laplacian, ("blend_laplacian",), ("blend_laplacian",),
             "blend_laplacian 128x96 u8 L5", ("op",)),
        Case("color_transfer 512x512 u8 masked", _color_transfer, ("color_transfer",), ("color_transfer",),
             "color_transfer 64x64 u8 masked", ("op",)),
        Case("bgr_to_lab 1920x1080 u8", _bgr_to_lab, ("bgr_to_lab",), ("bgr_to_lab",),
             "bgr_to_lab 64x48 u8", ("op",)),
        Case("tpsnr 1920x1080 u8", _tpsnr, ("tpsnr",), ("tpsnr",), "tpsnr 64x48 u8", ("op",)),
        Case("LandmarkSmoother.update 64x478 pose_shape", _landmark_smoother, ("LandmarkSmoother",),
             ("LandmarkSmoother",), "LandmarkSmoother.update 8x68 pose_shape", ("op",)),
        Case("blend_poisson 512x512 u8", _blend_poisson, ("blend_poisson",), ("blend_poisson",),
             "blend_poisson 64x64 u8", ("op",)),
    ]
    for (h, w) in ((1080, 1920), (2160, 3840)):
        for faces in (1, 4):
            for blend in ("alpha", "laplacian"):
                cases.append(Case(
                    f"paste_back {w}x{h} {faces}x512 {blend}", _paste_case(h, w, faces, blend),
                    ("paste_back",), ("paste_back",),
                    f"paste_back 320x240 {faces}x64 {blend} ({w}x{h} case)", ("paste",)))
    for (h, w) in ((1080, 1920), (2160, 3840)):
        for faces in (1, 4):
            cases.append(Case(
                f"compat.facefusion.paste_back {w}x{h} {faces}x512", _compat_case(h, w, faces),
                ("paste_back",), (),
                f"compat.facefusion.paste_back 320x240 {faces}x64 ({w}x{h} case)", ("compat",)))
    return cases


CASES: list[Case] = _build()


def select(substr: Optional[str] = None, quick: bool = False) -> list[Case]:
    """The cases whose name (or --quick name) contains ``substr`` (case-insensitive)."""
    if not substr:
        return list(CASES)
    s = substr.lower()
    return [c for c in CASES if s in c.name.lower() or s in c.label(quick).lower()]


# --------------------------------------------------------------------------- timing

def time_case(native: Fn, reference: Fn, repeat: int = 7, min_time: float = 0.2,
              warmup: int = 1, max_runs: int = 10_000) -> dict[str, Any]:
    """Median wall time of each callable (seconds), measured interleaved in the same run.

    After ``warmup`` calls of each, the two are called alternately until each has
    run at least ``repeat`` times and for at least ``min_time`` seconds in total
    (at most ``max_runs`` times).
    """
    for _ in range(max(0, warmup)):
        native()
        reference()
    times: dict[str, list[float]] = {"native": [], "reference": []}
    fns = {"native": native, "reference": reference}
    total = {"native": 0.0, "reference": 0.0}
    clock = time.perf_counter
    while True:
        for k in ("native", "reference"):
            if len(times[k]) >= repeat and total[k] >= min_time:
                continue
            if len(times[k]) >= max_runs:
                continue
            t0 = clock()
            fns[k]()
            dt = clock() - t0
            times[k].append(dt)
            total[k] += dt
        if all(len(times[k]) >= max_runs or (len(times[k]) >= repeat and total[k] >= min_time) for k in times):
            break
    return {
        "native_s": statistics.median(times["native"]),
        "reference_s": statistics.median(times["reference"]),
        "native_runs": len(times["native"]),
        "reference_runs": len(times["reference"]),
    }
