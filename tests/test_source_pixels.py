"""The writer's changed-pixel box equals the plain NumPy definition."""
from __future__ import annotations

import numpy as np
import pytest

from facefuse.video.source_pixels import changed_box


def _plain(out: np.ndarray, src: np.ndarray):
    diff = np.any(out != src, axis=2)
    rows, cols = np.flatnonzero(diff.any(axis=1)), np.flatnonzero(diff.any(axis=0))
    return None if rows.size == 0 else (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)


@pytest.mark.parametrize("h,w", [(1, 1), (7, 5), (48, 64), (1080, 1920)])
def test_changed_box_is_the_plain_bounding_box(h, w) -> None:
    rng = np.random.default_rng(h * w)
    src = rng.integers(0, 256, (h, w, 3), np.uint8)
    assert changed_box(src.copy(), src) is None
    for _ in range(20):
        out = src.copy()
        for _ in range(int(rng.integers(1, 4))):  # a few changed pixels, each in one channel
            y, x, c = int(rng.integers(0, h)), int(rng.integers(0, w)), int(rng.integers(0, 3))
            out[y, x, c] ^= np.uint8(rng.integers(1, 256))
        assert changed_box(out, src) == _plain(out, src)
    out = src.copy()
    out[-1, -1, 2] ^= 1  # the last byte of the frame
    assert changed_box(out, src) == (h - 1, h, w - 1, w)
