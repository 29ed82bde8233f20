"""How far facefuse's warp and paste-back are from the installed OpenCV's.

facefuse defines its own bilinear warp (facefuse/reference/paste.py); each OpenCV
release rounds a little differently. This prints, for the cv2 it imports, the
largest difference and the share of values that differ:

* ``warp_affine`` vs ``cv2.warpAffine`` (INTER_LINEAR), random affines (scale
  0.3..3, any rotation, sizes not multiples of 16), both borders, 1 / 3 / 4
  channels, on white noise, black/white (sharp) images and a real photo, and
  2-channel noise apart (OpenCV 5 warps 2 channels with 4.x's code);
* ``paste_back`` (alpha) vs FaceFusion's own way with cv2
  (``facefuse.reference.compat_facefusion.paste_back``: cv2.warpAffine + float
  blend + truncating ``astype``), face-sized crops of the photo, feathered mask.

Run it once per OpenCV version (the table in docs/warp-semantics.md):

    python bench/cv2_tolerance.py
    PYTHONPATH=/tmp/cv-4.12 python bench/cv2_tolerance.py   # cv2 installed with pip --target
"""
from __future__ import annotations

import argparse

import cv2
import numpy as np

from facefuse import ops
from facefuse.reference import compat_facefusion as ref_ff


def _photo() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


def _affine(rng: np.random.Generator, src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> np.ndarray:
    """src -> dst: src centre to a point near dst's, any rotation, scale 0.3..3."""
    ang, s = rng.uniform(-np.pi, np.pi), rng.uniform(0.3, 3.0)
    a = s * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    c_src = np.array([src_hw[1], src_hw[0]]) / 2
    c_dst = np.array([dst_hw[1], dst_hw[0]]) * rng.uniform(0.2, 0.8, 2)
    return np.hstack([a, (c_dst - a @ c_src)[:, None]])


def _images(rng: np.random.Generator, kind: str, dtype: type, c: int) -> np.ndarray:
    if kind == "photo":
        img = _photo()
        y, x = rng.integers(0, 400, 2)
        img = img[y:y + 97, x:x + 101]
        img = img if c == 3 else (img[..., :1] if c == 1 else np.dstack([img, img[..., :1]]))
        return np.ascontiguousarray(img).astype(dtype)
    shape = tuple(int(v) for v in rng.integers(9, 90, 2)) + (c,)
    if kind == "sharp":
        return ((rng.random(shape) > 0.5) * 255).astype(dtype)
    return rng.integers(0, 256, shape).astype(dtype)


def _diff(a: np.ndarray, b: np.ndarray) -> tuple[float, int, int]:
    d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    tol = 0 if a.dtype == np.uint8 else 1e-6
    return float(d.max()) if d.size else 0.0, int((d > tol).sum()), d.size


def warp_rows(rng: np.random.Generator, trials: int) -> list[tuple[str, float, float]]:
    rows = []
    for kind, channels in (("noise", (1, 3, 4)), ("sharp", (1, 3, 4)), ("photo", (1, 3, 4)), ("noise", (2,))):
        for dtype in (np.uint8, np.float32):
            worst, differ, total = 0.0, 0, 0
            for t in range(trials):
                c = channels[t % len(channels)]
                src = _images(rng, kind, dtype, c)
                dw, dh = (int(v) for v in rng.integers(17, 140, 2))
                m = _affine(rng, src.shape[:2], (dh, dw))
                if t % 4 == 0:
                    m = m.astype(np.float32)
                border = "replicate" if t % 2 else "constant"
                mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
                want = cv2.warpAffine(src, m, (dw, dh), flags=cv2.INTER_LINEAR, borderMode=mode).reshape(dh, dw, c)
                d, n, size = _diff(ops.warp_affine(src, m, (dw, dh), border), want)
                worst, differ, total = max(worst, d), differ + n, total + size
            name = f"warp_affine {kind}{' 2-channel' if channels == (2,) else ''} {np.dtype(dtype).name}"
            rows.append((name, worst, differ / total))
    return rows


def paste_rows(rng: np.random.Generator, trials: int) -> list[tuple[str, float, float]]:
    photo = _photo()
    mask = np.zeros((256, 256), np.float32)
    mask[24:-24, 24:-24] = 1
    mask = cv2.GaussianBlur(mask, (0, 0), 8).clip(0, 1)
    rows = []
    for kind in ("photo", "noise"):
        for dtype in (np.uint8, np.float32):
            worst, differ, total = 0.0, 0, 0
            for _ in range(trials):
                frame = np.ascontiguousarray(np.roll(photo, int(rng.integers(0, 512)), axis=1)).astype(dtype)
                aff = np.linalg.inv(np.vstack([_affine(rng, (256, 256), (512, 512)), [0, 0, 1]]))[:2]
                y, x = rng.integers(0, 256, 2)
                crop = (255 - photo[y:y + 256, x:x + 256] if kind == "photo"
                        else rng.integers(0, 256, (256, 256, 3))).astype(dtype)
                got = ops.paste_back(frame, crop, mask, aff)
                d, n, size = _diff(got, ref_ff.paste_back(frame, crop, mask, aff))
                worst, differ, total = max(worst, d), differ + n, total + size
            rows.append((f"paste_back vs FaceFusion-way {kind} {np.dtype(dtype).name}", worst, differ / total))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=60, help="random cases per row (default 60)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"OpenCV {cv2.__version__}, NumPy {np.__version__}")
    print(f"{'case':<44} {'max |diff|':>10} {'values differing':>17}")
    for name, worst, frac in warp_rows(rng, args.trials) + paste_rows(rng, max(1, args.trials // 4)):
        print(f"{name:<44} {worst:>10.4g} {frac:>16.3%}")


if __name__ == "__main__":
    main()
