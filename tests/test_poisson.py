"""Seamless (Poisson) blending: native multigrid vs an exact sparse solve and vs cv2.seamlessClone."""
from __future__ import annotations

import numpy as np
import pytest

from facefuse import ops
from facefuse import reference as ref

scipy_sparse = pytest.importorskip("scipy.sparse")
from scipy.sparse.linalg import spsolve  # noqa: E402


def exact_blend(dst, src, mask):
    """Direct sparse solve of the same discrete system (float64)."""
    d = dst.astype(np.float64)
    s = src.astype(np.float64)
    squeeze = d.ndim == 2
    if squeeze:
        d, s = d[..., None], s[..., None]
    h, w, _ = d.shape
    unk = np.asarray(mask) > 0.5
    unk[0, :] = unk[-1, :] = False
    unk[:, 0] = unk[:, -1] = False
    ys, xs = np.nonzero(unk)
    n = len(ys)
    out = d.copy()
    if n:
        idx = -np.ones((h, w), np.int64)
        idx[ys, xs] = np.arange(n)
        rows, cols, vals = [np.arange(n)], [np.arange(n)], [np.full(n, 4.0)]
        b = 4 * s[ys, xs]
        for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            qy, qx = ys + dy, xs + dx
            b -= s[qy, qx]
            inside = unk[qy, qx]
            rows.append(np.arange(n)[inside])
            cols.append(idx[qy, qx][inside])
            vals.append(-np.ones(int(inside.sum())))
            b[~inside] += d[qy[~inside], qx[~inside]]
        a = scipy_sparse.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
        f = spsolve(a, b)
        out[ys, xs] = f.reshape(n, -1)
    return out[..., 0] if squeeze else out


def _smooth(rng, shape):
    import cv2

    a = (rng.random(shape) * 255).astype(np.float32)
    return cv2.GaussianBlur(a, (0, 0), 3).reshape(shape)


@pytest.mark.parametrize("shape", [(40, 37, 3), (64, 64), (101, 77, 1)])
def test_matches_exact_solve(rng, shape):
    h, w = shape[:2]
    dst = _smooth(rng, shape) * 0.5 + 60
    src = _smooth(rng, shape)
    yy, xx = np.mgrid[:h, :w]
    mask = ((((yy - h / 2) / (0.4 * h)) ** 2 + ((xx - w / 2) / (0.35 * w)) ** 2) < 1).astype(np.float32)
    mask[h // 3 : h // 3 + 3, :] = 1.0  # touches the left and right borders
    out = ops.blend_poisson(dst, src, mask, tol=1e-6, max_iter=200)
    np.testing.assert_allclose(out, exact_blend(dst, src, mask), atol=1e-3)


def test_src_equals_dst_is_identity(astronaut_bgr):
    m = np.zeros(astronaut_bgr.shape[:2], np.float32)
    m[100:301, 50:261] = 1
    np.testing.assert_array_equal(ops.blend_poisson(astronaut_bgr, astronaut_bgr, m), astronaut_bgr)
    assert np.abs(ref.blend_poisson(astronaut_bgr, astronaut_bgr, m).astype(int) - astronaut_bgr).max() <= 1
