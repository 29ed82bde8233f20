"""facefuse._core.ff_paste_back (compat.facefusion.paste_back's kernel): bit-exact against
its NumPy model, within 1 grey level of FaceFusion's semantics (the cv2 reference), every
crop dtype and layout FaceFusion's processors produce, and its argument errors."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from facefuse import _core
from facefuse.compat import facefusion as ff
from facefuse.reference import compat_facefusion as ref_ff

CV2_5 = int(cv2.__version__.split(".")[0]) >= 5
FF_TOL = 1  # grey levels vs FaceFusion's own paste_back (cv2 >= 5: measured; see the module docstring)


def _case(rng, h, w, cs_h, cs_w, crop_dtype, smooth=True):
    frame = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    base = rng.random((cs_h, cs_w, 3)).astype(np.float32)
    if smooth and min(cs_h, cs_w) > 4:
        base = cv2.GaussianBlur(base, (0, 0), 2.0)
    crop = (base * 255).astype(crop_dtype) if crop_dtype == np.uint8 else (base * 255).astype(crop_dtype)
    mask = rng.random((cs_h, cs_w)).astype(np.float32)
    if min(cs_h, cs_w) > 4:
        mask = cv2.GaussianBlur(mask, (0, 0), 2.0)
    mask = ((mask - mask.mean()) * 8 + 0.5).astype(np.float32)  # overshoots [0, 1] on both sides
    a, s = rng.uniform(-np.pi, np.pi), max(cs_h, cs_w) / (rng.uniform(0.2, 1.2) * min(h, w) + 1)
    lin = s * np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
    aff = np.zeros((2, 3))
    aff[:, :2] = lin
    aff[:, 2] = np.array([cs_w / 2, cs_h / 2]) - lin @ np.array([rng.uniform(-0.2, 1.2) * w, rng.uniform(-0.2, 1.2) * h])
    return frame, crop, mask, aff


def _layouts(crop):
    """The layouts FaceFusion hands paste_back: contiguous, channel-reversed, planar CHW
    transposed back (strides (w, 1, -h*w) for the enhancer), and flipped / strided views."""
    planar = np.ascontiguousarray(crop.transpose(2, 0, 1)[::-1]).transpose(1, 2, 0)[:, :, ::-1]
    wide = np.repeat(np.repeat(crop, 2, axis=0), 2, axis=1)[::2, ::2]  # non-unit row and column steps
    flipped = np.ascontiguousarray(crop[::-1, ::-1])[::-1, ::-1]  # negative row and column strides
    return {"contiguous": crop, "bgr-reversed": np.ascontiguousarray(crop[:, :, ::-1])[:, :, ::-1],
            "planar": planar, "strided": wide, "negative": flipped}


def _diff(a, b):
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0


@pytest.mark.parametrize("crop_dtype", [np.uint8, np.float32, np.float64])
@pytest.mark.parametrize("size", [(60, 80, 32, 32), (97, 61, 17, 23), (5, 7, 1, 1), (1, 1, 3, 2), (40, 50, 2, 9)])
def test_kernel_bit_exact_model(rng, crop_dtype, size) -> None:
    h, w, ch, cw = size
    for k in range(4):
        frame, crop, mask, aff = _case(rng, h, w, ch, cw, crop_dtype)
        if k % 2:
            aff = aff.astype(np.float32)
        for name, c in _layouts(crop).items():
            assert np.array_equal(c, crop), name
            for m in (mask, mask.astype(np.float64), mask[..., None], np.ascontiguousarray(mask[::-1])[::-1]):
                for quant in (False, True):
                    got = _core.ff_paste_back(frame, c, m, aff, quant)
                    want = ref_ff.paste_back_model(frame, c, m, aff, quant)
                    assert got.dtype == np.uint8 and got.shape == frame.shape
                    assert np.array_equal(got, want), (name, m.dtype, quant)


@pytest.mark.parametrize("crop_dtype", [np.uint8, np.float32])
def test_kernel_bit_exact_model_large_boxes(rng, crop_dtype) -> None:
    """Boxes wider than the kernel's 64-column chunks and its 8-lane groups, odd sizes,
    every layout, uint8 and float32 frames (the chunked / AVX2 path)."""
    for k, (h, w, cs_h, cs_w) in enumerate(((230, 317, 128, 128), (181, 263, 97, 131), (300, 200, 255, 61))):
        frame, crop, mask, aff = _case(rng, h, w, cs_h, cs_w, crop_dtype)
        aff[:, :2] *= rng.uniform(0.25, 0.5)  # a box larger than the crop
        aff = aff.astype(np.float32) if k % 2 else aff
        f32 = frame.astype(np.float32) + rng.random(frame.shape, dtype=np.float32)
        for name, c in _layouts(crop).items():
            for m in (mask, mask[..., None], np.ascontiguousarray(mask[::-1])[::-1]):
                for fr in (frame, f32):
                    got = _core.ff_paste_back(fr, c, m, aff)
                    assert np.array_equal(got, ref_ff.paste_back_model(fr, c, m, aff)), (name, fr.dtype, k)


def test_kernel_baseline_isa_bit_exact(rng, tmp_path) -> None:
    """FACEFUSE_CPU_BASELINE=1 (no AVX2 gathers, software fma): the same bits as the model."""
    import os
    import subprocess
    import sys

    cases = {}
    for k, crop_dtype in enumerate((np.uint8, np.float32, np.float64, np.uint8)):
        frame, crop, mask, aff = _case(rng, 150, 170, 64 if k < 3 else 1, 96 if k < 3 else 1, crop_dtype)
        aff[:, :2] *= 0.5
        c = _layouts(crop)["planar" if k % 2 else "bgr-reversed"]  # checked here in this layout
        cases.update({f"f{k}": frame, f"c{k}": c, f"m{k}": mask, f"a{k}": aff})
    np.savez(tmp_path / "in.npz", **cases)
    # npz stores crops contiguous: the child makes the planar (enhancer) layout again
    code = ("import sys, numpy as np; from facefuse import _core; d = np.load(sys.argv[1]); "
            "planar = lambda a: np.ascontiguousarray(a.transpose(2, 0, 1)[::-1]).transpose(1, 2, 0)[:, :, ::-1]; "
            "np.savez(sys.argv[2], **{str(k): _core.ff_paste_back(d[f'f{k}'], planar(d[f'c{k}']), d[f'm{k}'], "
            "d[f'a{k}']) for k in range(4)})")
    env = dict(os.environ, FACEFUSE_CPU_BASELINE="1")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "in.npz"), str(tmp_path / "out.npz")], env=env,
                   check=True)
    out = np.load(tmp_path / "out.npz")
    for k in range(4):
        want = ref_ff.paste_back_model(cases[f"f{k}"], cases[f"c{k}"], cases[f"m{k}"], cases[f"a{k}"])
        assert np.array_equal(out[str(k)], want), k
        assert np.array_equal(_core.ff_paste_back(cases[f"f{k}"], cases[f"c{k}"], cases[f"m{k}"], cases[f"a{k}"]), want)


def test_kernel_float32_frames_bit_exact(rng) -> None:
    for crop_dtype in (np.uint8, np.float32, np.float64):
        frame, crop, mask, aff = _case(rng, 70, 90, 30, 30, crop_dtype)
        f32 = frame.astype(np.float32) + rng.random(frame.shape, dtype=np.float32)
        got = _core.ff_paste_back(f32, crop, mask, aff)
        assert got.dtype == np.float32
        assert np.array_equal(got, ref_ff.paste_back_model(f32, crop, mask, aff))


@pytest.mark.skipif(not CV2_5, reason="the kernel samples float64 sources as OpenCV 5.x does")
def test_quantised_warp_equals_cv2_float64(rng) -> None:
    for _ in range(40):
        h, w = rng.integers(1, 60, 2)
        img = rng.random((h, w, 3)) * 255
        a, s = rng.uniform(-np.pi, np.pi), rng.uniform(0.3, 3)
        M = np.array([[s * np.cos(a), s * np.sin(a), rng.uniform(-40, 40)],
                      [-s * np.sin(a), s * np.cos(a), rng.uniform(-40, 40)]])
        dsize = (int(rng.integers(1, 70)), int(rng.integers(1, 70)))
        for rep in (False, True):
            want = cv2.warpAffine(img, M, dsize, borderMode=cv2.BORDER_REPLICATE if rep else cv2.BORDER_CONSTANT)
            assert np.array_equal(ref_ff.warp_affine_quantised(img, M, dsize, rep), want)


@pytest.mark.parametrize("crop_dtype", [np.uint8, np.float32, np.float64])
def test_compat_within_one_of_facefusion(rng, crop_dtype) -> None:
    """compat.paste_back vs FaceFusion's semantics (cv2 warps, int corners, truncation):
    within 1 on OpenCV 5.x, equal on 4.x (whose warps the kernel emulates bit for bit)."""
    worst = 0.0
    for _ in range(12):
        h, w = (int(v) for v in rng.integers(30, 160, 2))
        cs = int(rng.choice([1, 2, 16, 64, 96]))
        frame, crop, mask, aff = _case(rng, h, w, cs, cs, crop_dtype)
        for c in _layouts(crop).values():
            want = ref_ff.paste_back(frame, c, mask, aff)
            got = ff.paste_back(frame, c, mask, aff)
            worst = max(worst, _diff(got, want))
    assert worst <= (FF_TOL if CV2_5 else 0)


def test_fixed_point_warp_model(rng) -> None:
    """warp_affine_fixed_u8 (OpenCV 4.x's uint8 warp): weights summing to 2^15 give a
    constant image back unchanged, and on OpenCV 4.x it equals cv2.warpAffine."""
    for _ in range(20):
        h, w = (int(v) for v in rng.integers(1, 50, 2))
        a, s = rng.uniform(-np.pi, np.pi), rng.uniform(0.3, 3)
        M = np.array([[s * np.cos(a), -s * np.sin(a), rng.uniform(-20, 20)],
                      [s * np.sin(a), s * np.cos(a), rng.uniform(-20, 20)]])
        dsize = (int(rng.integers(1, 70)), int(rng.integers(1, 70)))
        flat = np.full((h, w, 3), int(rng.integers(0, 256)), np.uint8)
        assert np.array_equal(ref_ff.warp_affine_fixed_u8(flat, M, dsize, True), np.broadcast_to(flat[:1, :1], (dsize[1], dsize[0], 3)))
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        for rep in (False, True):
            if CV2_5:  # 5.x warps uint8 in float: the comparison is 4.x's (run with 4.10 / 4.12)
                continue
            want = cv2.warpAffine(img, M, dsize, borderMode=cv2.BORDER_REPLICATE if rep else cv2.BORDER_CONSTANT)
            assert np.array_equal(ref_ff.warp_affine_fixed_u8(img, M, dsize, rep), want)


def test_compat_reads_in_place_and_keeps_input(rng) -> None:
    frame, crop, mask, aff = _case(rng, 80, 100, 40, 40, np.float32)
    planar = _layouts(crop)["planar"]
    before = frame.copy()
    out = ff.paste_back(frame, planar, mask, aff)
    assert out is not frame and np.array_equal(frame, before)
    assert np.array_equal(out, ref_ff.paste_back_model(frame, planar, mask, aff, ff._CV2_4))


def test_outside_frame_returns_copy(rng) -> None:
    """FaceFusion raises ValueError for a crop entirely outside the frame; facefuse keeps the frame."""
    for crop_dtype in (np.uint8, np.float32, np.float64):
        frame, crop, mask, _ = _case(rng, 50, 60, 20, 20, crop_dtype)
        aff = np.array([[1.0, 0.0, 5000.0], [0.0, 1.0, 0.0]])
        out = ff.paste_back(frame, crop, mask, aff)
        assert out is not frame and np.array_equal(out, frame)


def test_fallbacks_follow_facefusion(rng) -> None:
    """Inputs the kernel does not take (uint8 masks, int16 crops) give the reference's result."""
    frame, crop, mask, aff = _case(rng, 50, 60, 20, 20, np.uint8)
    m8 = (mask.clip(0, 1) * 255).astype(np.uint8)
    assert np.array_equal(ff.paste_back(frame, crop, m8, aff), ref_ff.paste_back(frame, crop, m8, aff))
    c16 = crop.astype(np.int16)
    assert np.array_equal(ff.paste_back(frame, c16, mask, aff), ref_ff.paste_back(frame, c16, mask, aff))


@pytest.mark.parametrize("args, exc, name", [
    ((np.zeros((4, 4, 3), np.int16), np.zeros((2, 2, 3), np.uint8), np.ones((2, 2), np.float32), np.eye(2, 3)),
     TypeError, "temp_vision_frame"),
    ((np.zeros((4, 4), np.uint8), np.zeros((2, 2, 3), np.uint8), np.ones((2, 2), np.float32), np.eye(2, 3)),
     ValueError, "temp_vision_frame"),
    ((np.zeros((4, 4, 3), np.uint8), np.zeros((2, 2, 3), np.int32), np.ones((2, 2), np.float32), np.eye(2, 3)),
     TypeError, "crop_vision_frame"),
    ((np.zeros((4, 4, 3), np.uint8), np.zeros((2, 2, 4), np.uint8), np.ones((2, 2), np.float32), np.eye(2, 3)),
     ValueError, "crop_vision_frame"),
    ((np.zeros((4, 4, 3), np.uint8), np.zeros((2, 2, 3), np.uint8), np.ones((2, 2), np.uint8), np.eye(2, 3)),
     TypeError, "crop_mask"),
    ((np.zeros((4, 4, 3), np.uint8), np.zeros((2, 2, 3), np.uint8), np.ones((3, 2), np.float32), np.eye(2, 3)),
     ValueError, "crop_mask"),
    ((np.zeros((4, 4, 3), np.uint8), np.zeros((2, 2, 3), np.uint8), np.ones((2, 2), np.float32), np.eye(2, 3, dtype=np.int64)),
     TypeError, "affine_matrix"),
    ((np.zeros((4, 4, 3), np.uint8), np.zeros((2, 2, 3), np.uint8), np.ones((2, 2), np.float32), np.zeros((2, 3))),
     ValueError, "affine_matrix"),
    ((np.zeros((4, 4, 3), np.uint8), np.zeros((2, 2, 3), np.uint8), np.ones((2, 2), np.float32),
      np.array([[1.0, 0, np.nan], [0, 1, 0]])), ValueError, "affine_matrix"),
])
def test_kernel_errors_name_the_argument(args, exc, name) -> None:
    with pytest.raises(exc, match=name):
        _core.ff_paste_back(*args)


def test_compat_singular_affine_raises_value_error(rng) -> None:
    frame, crop, mask, _ = _case(rng, 20, 20, 8, 8, np.float32)
    with pytest.raises(ValueError, match="affine_matrix"):
        ff.paste_back(frame, crop, mask, np.zeros((2, 3)))


def test_pixel_boost_and_hash_natives(rng) -> None:
    for dtype in (np.uint8, np.float32, np.float64):
        for t, m in ((1, 5), (2, 3), (4, 16)):
            crop = (rng.random((m * t, m * t, 3)) * 255).astype(dtype)
            for c in (crop, crop[:, :, ::-1], _layouts(crop)["planar"]):
                tiles = _core.ff_implode(c, t)
                assert np.array_equal(tiles, ref_ff.implode_pixel_boost(c, t, (m, m))) and tiles.dtype == dtype
                for views in ([x[:, :, ::-1][:, :, ::-1] for x in tiles], [_layouts(x)["planar"] for x in tiles]):
                    back = _core.ff_explode(views, t)  # planar: the swapper's normalize_crop_frame outputs
                    assert np.array_equal(back, ref_ff.explode_pixel_boost(views, t, (m, m), (m * t, m * t)))
    with pytest.raises(ValueError, match="crop_vision_frame"):
        _core.ff_implode(np.zeros((5, 6, 3), np.uint8), 2)
    with pytest.raises(ValueError, match="temp_vision_frames"):
        _core.ff_explode([np.zeros((2, 2, 3), np.uint8)] * 3, 2)
    a = rng.integers(0, 256, 100_003, dtype=np.uint8).tobytes()
    h = _core.ff_hash64(a)
    assert h == _core.ff_hash64(a) and len(h) == 16
    assert h != _core.ff_hash64(a[:-1]) and h != _core.ff_hash64(bytes([a[0] ^ 1]) + a[1:])
    with pytest.raises(ValueError, match="content"):
        _core.ff_hash64(np.zeros((4, 4), np.uint8)[:, ::2])


def test_hash64_same_on_baseline_isa_and_sensitive(rng, tmp_path) -> None:
    """ff_hash64: the AVX2 and the baseline stripes give the same value (every length
    around the 64-byte stripes and 1 KiB scrambles); one changed byte anywhere changes it."""
    import os
    import subprocess
    import sys

    data = rng.integers(0, 256, 5000, dtype=np.uint8).tobytes()
    lengths = [0, 1, 7, 8, 63, 64, 65, 127, 1023, 1024, 1025, 2049, 5000]
    here = [_core.ff_hash64(data[:n]) for n in lengths]
    code = ("import sys; from facefuse import _core; d = open(sys.argv[1], 'rb').read(); "
            f"print(' '.join(_core.ff_hash64(d[:n]) for n in {lengths}))")
    (tmp_path / "d.bin").write_bytes(data)
    env = dict(os.environ, FACEFUSE_CPU_BASELINE="1")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "d.bin")], env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    assert out == here and len(set(here)) == len(here)
    for pos in (0, 63, 64, 1000, 1024, 4095, 4999):
        flipped = bytearray(data)
        flipped[pos] ^= 0x10
        assert _core.ff_hash64(bytes(flipped)) != here[-1], pos
