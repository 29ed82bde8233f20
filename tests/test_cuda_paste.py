"""The GPU paste family (warp_affine, paste_back) against the CPU core on random
inputs. Every test is marked ``gpu`` (skipped without a usable device; under
cuda/emulation they run on the CPU-emulated kernels and a NumPy fake CuPy).

Bit-identical where the operation order is the CPU's (the warp, the alpha paste,
the Laplacian paste); the LAB paste sums its statistics in another order: at
most 1 grey level for uint8, 0.02 for float32 (as test_cuda.py's colour transfer).
"""
from __future__ import annotations

import numpy as np
import pytest

from facefuse import ops

gpu = pytest.mark.gpu
pytestmark = gpu


def _img(rng, shape, dtype):
    if dtype == np.uint8:
        return rng.integers(0, 256, shape, dtype=np.uint8)
    return (rng.random(shape) * 255).astype(np.float32)


def _affine(rng, fh, fw, ch, cw, scale=(0.5, 2.0)):
    """frame -> crop: rotation and scale, the crop centred anywhere in the frame."""
    a, s = rng.uniform(-np.pi, np.pi), rng.uniform(*scale)
    r = np.array([[s * np.cos(a), -s * np.sin(a)], [s * np.sin(a), s * np.cos(a)]])
    c = np.array([rng.uniform(0, fw), rng.uniform(0, fh)])
    return np.hstack([r, (np.array([cw / 2, ch / 2]) - r @ c)[:, None]])


def _faces(rng, k, fh, fw, dtype, sizes=None):
    crops, masks, affs = [], [], []
    for i in range(k):
        h, w = sizes[i] if sizes else (int(rng.integers(1, 25)), int(rng.integers(1, 25)))
        crops.append(_img(rng, (h, w, 3), dtype))
        m = rng.uniform(-0.2, 1.2, (h, w)).astype(np.float32)  # beyond [0, 1]: clipped
        m.flat[0] = np.nextafter(np.float32(1), np.float32(2))  # a blur's overshoot by an ulp
        masks.append(m)
        aff = _affine(rng, fh, fw, h, w)
        affs.append(aff.astype(np.float32) if i % 3 == 1 else aff)
    return crops, masks, affs


def _dev(cp, xs):
    return [cp.asarray(x) for x in xs]


def _same(got, want, tol=0.0):
    got = np.asarray(got)
    assert got.dtype == want.dtype and got.shape == want.shape
    if tol == 0:
        np.testing.assert_array_equal(got, want)
    else:
        assert float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max()) <= tol


# ---- warp_affine ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("border", ["constant", "replicate"])
def test_gpu_warp_affine_equals_cpu(cp, rng, dtype, border):
    cases = [((1, 1, 3), (1, 1)), ((1, 1), (7, 5)), ((23, 31, 1), (19, 27)), ((17, 13, 2), (1, 9)),
             ((29, 22, 3), (33, 18)), ((15, 26, 4), (21, 20)), ((9, 14), (12, 11))]
    for i, (shape, dsize) in enumerate(cases):
        src = _img(rng, shape, dtype)
        m = np.linalg.inv(np.vstack([_affine(rng, shape[0], shape[1], dsize[1], dsize[0]), [0, 0, 1]]))[:2]
        m = m.astype(np.float32) if i % 2 else m
        got = ops.warp_affine(cp.asarray(src), m, dsize, border)
        assert isinstance(got, cp.ndarray)
        _same(cp.asnumpy(got), ops.warp_affine(src, m, dsize, border))
    # A non-contiguous device view (reversed rows, every other column).
    big = _img(rng, (30, 40, 3), dtype)
    m = np.array([[0.9, 0.2, 1.5], [-0.15, 1.1, -2.0]])
    _same(cp.asnumpy(ops.warp_affine(cp.asarray(big)[::-1, ::2], m, (25, 17), border)),
          ops.warp_affine(big[::-1, ::2], m, (25, 17), border))


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_gpu_warp_affine_batch_of_matrices(cp, rng, dtype):
    src = _img(rng, (31, 27, 3), dtype)
    ms = np.stack([np.linalg.inv(np.vstack([_affine(rng, 31, 27, 20, 24), [0, 0, 1]]))[:2] for _ in range(6)])
    want = ops.warp_affine(src, ms, (24, 20), "replicate")
    assert want.shape == (6, 20, 24, 3)
    got = ops.warp_affine(cp.asarray(src), ms, (24, 20), "replicate")
    _same(cp.asnumpy(got), want)
    # A device M is geometry: copied to the host.
    _same(cp.asnumpy(ops.warp_affine(cp.asarray(src), cp.asarray(ms), (24, 20), "replicate")), want)
    _same(cp.asnumpy(ops.warp_affine(cp.asarray(src[..., 0]), ms[:1], (5, 3))), ops.warp_affine(src[..., 0], ms[:1], (5, 3)))


# ---- paste_back ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_gpu_paste_alpha_equals_cpu(cp, rng, dtype):
    fh, fw = 37, 45
    frame = _img(rng, (fh, fw, 3), dtype)
    crops, masks, affs = _faces(rng, 6, fh, fw, dtype)
    crops[0], masks[0] = crops[0][:1, :1], masks[0][:1, :1]  # a 1-pixel crop
    affs[0] = np.array([[1.0, 0, -20.0], [0, 1.0, -15.0]])
    affs[5] = affs[4]  # two faces in the same box: the later one wins where both paste
    want = ops.paste_back(frame, crops, masks, affs)
    assert not np.array_equal(want, frame)
    got = ops.paste_back(cp.asarray(frame), _dev(cp, crops), _dev(cp, masks), affs)
    assert isinstance(got, cp.ndarray)
    _same(cp.asnumpy(got), want)
    # One face, and a [K, h, w, 3] batch with its [K, h, w] masks and [K, 2, 3] matrices.
    _same(cp.asnumpy(ops.paste_back(cp.asarray(frame), cp.asarray(crops[3]), cp.asarray(masks[3]), affs[3])),
          ops.paste_back(frame, crops[3], masks[3], affs[3]))
    c4, m4 = _img(rng, (4, 19, 23, 3), dtype), rng.random((4, 19, 23)).astype(np.float32)
    a4 = np.stack([_affine(rng, fh, fw, 19, 23) for _ in range(4)])
    _same(cp.asnumpy(ops.paste_back(cp.asarray(frame), cp.asarray(c4), cp.asarray(m4), a4)),
          ops.paste_back(frame, c4, m4, a4))


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_gpu_paste_mask_dtypes_and_views(cp, rng, dtype):
    big = _img(rng, (41, 70, 3), dtype)
    frame = big[::-1, ::2]  # 41 x 35, non-contiguous
    cbig = _img(rng, (21, 40, 3), dtype)
    crop = cbig[:, ::2]  # 21 x 20
    mbig = rng.random((21, 40)).astype(np.float32)
    m = mbig[::-1, ::2]
    aff = _affine(rng, 41, 35, 21, 20)
    dframe, dcrop = cp.asarray(big)[::-1, ::2], cp.asarray(cbig)[:, ::2]
    _same(cp.asnumpy(ops.paste_back(dframe, dcrop, cp.asarray(mbig)[::-1, ::2], aff)),
          ops.paste_back(frame, crop, m, aff))
    for mk in ((m * 255).astype(np.uint8), m > 0.5, m.astype(np.float64)):
        _same(cp.asnumpy(ops.paste_back(dframe, dcrop, cp.asarray(mk), aff)), ops.paste_back(frame, crop, mk, aff))
    # 1-pixel frame.
    one = _img(rng, (1, 1, 3), dtype)
    c1, m1 = _img(rng, (5, 4, 3), dtype), np.ones((5, 4), np.float32)
    a1 = np.array([[2.0, 0.0, 1.0], [0.0, 2.0, 1.5]])
    _same(cp.asnumpy(ops.paste_back(cp.asarray(one), cp.asarray(c1), cp.asarray(m1), a1)),
          ops.paste_back(one, c1, m1, a1))


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("blend,color", [("alpha", None), ("laplacian", None), ("alpha", "lab"),
                                         ("laplacian", "lab")])
def test_gpu_paste_frames_with_frame_index(cp, rng, dtype, blend, color):
    n, fh, fw = 3, 33, 39
    frames = _img(rng, (n, fh, fw, 3), dtype)
    crops, masks, affs = _faces(rng, 5, fh, fw, dtype, sizes=[(17, 21), (9, 13), (20, 16), (1, 1), (15, 15)])
    index = [2, 0, 2, 1, 2]
    want = ops.paste_back(frames, crops, masks, affs, blend=blend, color=color, levels=4, frame_index=index)
    got = ops.paste_back(cp.asarray(frames), _dev(cp, crops), _dev(cp, masks), affs, blend=blend, color=color,
                         levels=4, frame_index=np.array(index))
    tol = 0.0 if color is None else (1.0 if dtype == np.uint8 else 0.02)
    _same(cp.asnumpy(got), want, tol)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("color", [None, "lab"])
def test_gpu_paste_laplacian_and_lab_close_to_cpu(cp, rng, dtype, color):
    fh, fw = 47, 53
    frame = _img(rng, (fh, fw, 3), dtype)
    crops, masks, affs = _faces(rng, 4, fh, fw, dtype, sizes=[(24, 24), (18, 30), (11, 7), (24, 24)])
    masks[3] = np.zeros_like(masks[3])  # all-zero mask: the transfer is skipped, nothing pasted
    for blend in ("laplacian", "alpha"):
        want = ops.paste_back(frame, crops, masks, affs, blend=blend, color=color)
        got = ops.paste_back(cp.asarray(frame), _dev(cp, crops), _dev(cp, masks), affs, blend=blend, color=color)
        tol = 0.0 if color is None else (1.0 if dtype == np.uint8 else 0.02)
        _same(cp.asnumpy(got), want, tol)


def test_gpu_paste_out_and_in_place(cp, rng):
    frame = _img(rng, (40, 44, 3), np.uint8)
    crops, masks, affs = _faces(rng, 3, 40, 44, np.uint8)
    for blend in ("alpha", "laplacian"):
        want = ops.paste_back(frame, crops, masks, affs, blend=blend)
        dframe = cp.asarray(frame)
        out = cp.asarray(np.zeros_like(frame))
        assert ops.paste_back(dframe, _dev(cp, crops), _dev(cp, masks), affs, blend=blend, out=out) is out
        _same(cp.asnumpy(out), want)
        _same(cp.asnumpy(dframe), frame)  # the input is untouched
        assert ops.paste_back(dframe, _dev(cp, crops), _dev(cp, masks), affs, blend=blend, out=dframe) is dframe
        _same(cp.asnumpy(dframe), want)


def test_gpu_paste_rejects_what_the_cpu_rejects(cp, rng):
    frame = _img(rng, (30, 40, 3), np.uint8)
    crop, mask = _img(rng, (12, 12, 3), np.uint8), rng.random((12, 12)).astype(np.float32)
    aff = _affine(rng, 30, 40, 12, 12)
    df, dc, dm = cp.asarray(frame), cp.asarray(crop), cp.asarray(mask)
    pb = ops.paste_back
    with pytest.raises(TypeError, match=r"'blend'.*no GPU Poisson"):
        pb(df, dc, dm, aff, blend="poisson")
    with pytest.raises(TypeError, match=r"'crop'.*GPU.*'frame'"):
        pb(frame, dc, mask, aff)  # mixed host / device
    with pytest.raises(TypeError, match=r"'crop'.*both"):
        pb(df, [dc, crop], [dm, dm], [aff, aff])
    cases = [
        (TypeError, "'crop'", lambda: pb(df, cp.asarray(crop.astype(np.float32)), dm, aff)),
        (ValueError, "'crop'", lambda: pb(df, cp.asarray(crop[..., :2]), dm, aff)),
        (ValueError, "'crop_mask'", lambda: pb(df, dc, cp.asarray(mask[:5]), aff)),
        (TypeError, "'crop_mask'", lambda: pb(df, dc, cp.asarray(mask.astype(np.int32)), aff)),
        (ValueError, "'affine'", lambda: pb(df, dc, dm, np.zeros((2, 3)))),
        (ValueError, "'affine'", lambda: pb(df, dc, dm, np.eye(3))),
        (ValueError, "'affine'", lambda: pb(df, [dc, dc], [dm, dm], [aff])),
        (ValueError, "'frame'", lambda: pb(cp.asarray(frame[..., 0]), dc, dm, aff)),
        (ValueError, "'blend'", lambda: pb(df, dc, dm, aff, blend="median")),
        (ValueError, "'color'", lambda: pb(df, dc, dm, aff, color="hsv")),
        (ValueError, "'levels'", lambda: pb(df, dc, dm, aff, levels=0)),
        (TypeError, "'out'", lambda: pb(df, dc, dm, aff, out=cp.asarray(frame.astype(np.float32)))),
        (ValueError, "'out'", lambda: pb(df, dc, dm, aff, out=cp.asarray(np.zeros((30, 80, 3), np.uint8))[:, ::2])),
        (ValueError, "'frame_index'", lambda: pb(cp.asarray(frame[None]), dc, dm, aff)),
        (ValueError, "'frame_index'", lambda: pb(cp.asarray(frame[None]), dc, dm, aff, frame_index=[1])),
        (ValueError, "'frame_index'", lambda: pb(df, dc, dm, aff, frame_index=[0])),
    ]
    for exc, name, call in cases:
        with pytest.raises(exc, match=name):
            call()
    with pytest.raises(ValueError, match="'M'"):
        ops.warp_affine(df, np.zeros((2, 3)), (10, 10))
    with pytest.raises(ValueError, match="'M'.*matrix 1"):
        ops.warp_affine(df, np.stack([aff, np.zeros((2, 3))]), (10, 10))
    with pytest.raises(ValueError, match="'img'"):
        ops.warp_affine(cp.asarray(np.zeros((4, 4, 5), np.uint8)), aff, (10, 10))
    with pytest.raises(ValueError, match="'dsize'"):
        ops.warp_affine(df, aff, (0, 10))
    with pytest.raises(ValueError, match="'border'"):
        ops.warp_affine(df, aff, (10, 10), "reflect")
