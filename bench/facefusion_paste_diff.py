"""How often compat.facefusion.paste_back differs from FaceFusion's own, by how much.

    python bench/facefusion_paste_diff.py --facefusion /path/to/facefusion [--pastes 30]

Replays ``paste_back`` on a 1080p frame with FaceFusion's blurred box mask at 512 px
(its peak 0.99999976 is where a warped sample 1 off cv2's would land 2 off after the
truncating blend) and random similarity matrices, for three kinds of uint8 crops in the
enhancer's planar layout: a face-like warp of a photo, the same sharpened, and noise
(the steepest steps, so the widest tie bands). Prints the share of changed pixel values
at each difference from FaceFusion's result. FaceFusion's code is imported from the
checkout given, never copied here.
"""
from __future__ import annotations

import argparse
import sys

import cv2
import numpy as np


def _box_mask(size: int, blur: float = 0.3) -> np.ndarray:
    amount = int(size * 0.5 * blur)
    band = max(amount // 2, 1)
    m = np.ones((size, size), np.float32)
    m[:band, :] = m[-band:, :] = 0
    m[:, :band] = m[:, -band:] = 0
    return cv2.GaussianBlur(m, (0, 0), amount * 0.25)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--facefusion", required=True, help="a FaceFusion 3.5-3.8 checkout (folder holding facefusion/)")
    ap.add_argument("--pastes", type=int, default=30, help="pastes per crop kind")
    args = ap.parse_args(argv)
    sys.path.insert(0, args.facefusion)
    from facefusion import face_helper
    from skimage import data

    from facefuse.compat.facefusion import paste_back

    rng = np.random.default_rng(7)
    h, w = 1080, 1920
    frame = cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (w, h))
    mask = _box_mask(512)
    print(f"OpenCV {cv2.__version__}; share of changed pixel values at each |facefuse - FaceFusion|")
    for kind in ("face", "sharp", "noise"):
        hist: dict[int, int] = {}
        total = 0
        for _ in range(args.pastes):
            s, a = rng.uniform(0.6, 2.5), rng.uniform(-0.5, 0.5)
            cx, cy = rng.uniform(300, w - 300), rng.uniform(300, h - 300)
            m = np.array([[s * np.cos(a), -s * np.sin(a), 0], [s * np.sin(a), s * np.cos(a), 0]])
            m[:, 2] = np.array([256, 256]) - m[:, :2] @ np.array([cx, cy])
            crop = cv2.warpAffine(frame, m, (512, 512), borderMode=cv2.BORDER_REPLICATE)
            if kind == "sharp":
                crop = cv2.addWeighted(crop, 2.5, cv2.GaussianBlur(crop, (0, 0), 2), -1.5, 0)
            elif kind == "noise":
                crop = rng.integers(0, 256, crop.shape, dtype=np.uint8)
            crop = np.ascontiguousarray(crop.transpose(2, 0, 1)).transpose(1, 2, 0)  # the enhancer's layout
            want = face_helper.paste_back(frame, crop, mask, m)
            got = paste_back(frame, crop, mask, m)
            changed = (want != frame).any(-1) | (got != frame).any(-1)
            d = np.abs(want.astype(int) - got.astype(int))[changed]
            total += d.size
            for v, c in zip(*np.unique(d, return_counts=True)):
                hist[int(v)] = hist.get(int(v), 0) + int(c)
        shares = ", ".join(f"{k}: {100 * v / total:.3f} % ({v})" for k, v in sorted(hist.items()))
        print(f"{kind:6s} {total} values: {shares}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
