"""The CUDA backend: status reporting and dispatch (everywhere), and GPU == CPU
for every op on fresh random inputs (tests marked ``gpu``, skipped without a
device; conftest.py gives the reason).

The GPU tests compare against the CPU core, which the other test files check
against the NumPy reference: the shared FF_HD maths is covered there, these
tests cover the GPU's indexing, tiling, batching, reductions and launches.
"""
from __future__ import annotations

import numpy as np
import pytest

import facefuse
from facefuse import backend, ops
from facefuse.ops import _device

# ---------------------------------------------------------------------------
# everywhere: import, status, dispatch
# ---------------------------------------------------------------------------


class FakeDeviceArray:
    """Just enough of ``__cuda_array_interface__`` for the dispatch (no GPU behind it)."""

    def __init__(self, shape, typestr="|u1", strides=None, ptr=0):
        self.__cuda_array_interface__ = {
            "shape": tuple(shape),
            "typestr": typestr,
            "data": (ptr, False),
            "strides": strides,
            "version": 3,
        }


def test_status_never_raises_and_agrees_with_available():
    status = facefuse.cuda_status()
    assert isinstance(status, str) and status
    assert facefuse.cuda_available() is status.startswith("available")
    if not facefuse.cuda_available():
        assert status.startswith("unavailable: ")
        reasons = ("not built", "driver", "no CUDA device", "CuPy", "CUDA runtime")
        assert any(r in status for r in reasons), status


def test_cuda_module_reports_devices_without_raising():
    mod = backend.cuda_module()
    if mod is None:
        assert "not built" in facefuse.cuda_status()
        return
    count, code, message = mod.device_info()
    assert isinstance(count, int) and isinstance(code, int) and isinstance(message, str)
    assert (code == 0) or count == 0
    assert mod.runtime_version_string().count(".") == 1
    assert mod.scratch_bytes() >= 0
    if code != 0:  # no driver / no device: the status names it
        assert "driver" in facefuse.cuda_status() or "device" in facefuse.cuda_status()


def test_cuda_entry_points_check_sizes_before_touching_the_device():
    """_cuda applies the op's contract (the CPU binding's) and its launch limits to
    the device arrays it is given, before any launch."""
    mod = backend.cuda_module()
    if mod is None:
        pytest.skip("facefuse._cuda not built")

    def dev(shape, typestr="|u1", ptr=8, strides=None):
        return FakeDeviceArray(shape, typestr, strides, ptr=ptr)

    frame, mask = dev((4, 4, 3)), dev((4, 4), "<f4")
    with pytest.raises(ValueError, match="'dst'.*device pointer"):
        mod.blend_laplacian(dev((4, 4, 3), ptr=0), frame, mask, frame, 5, 0, 0)
    with pytest.raises(ValueError, match="'dst'.*channels"):
        mod.blend_laplacian(dev((4, 4, 4)), dev((4, 4, 4)), mask, dev((4, 4, 4)), 5, 0, 0)
    with pytest.raises(ValueError, match="'dst'.*empty"):
        mod.blend_laplacian(dev((0, 4, 3)), dev((0, 4, 3)), dev((0, 4), "<f4"), dev((0, 4, 3)), 5, 0, 0)
    with pytest.raises(ValueError, match="'levels'"):
        mod.blend_laplacian(frame, frame, mask, frame, 0, 0, 0)
    with pytest.raises(TypeError, match="'levels'"):
        mod.blend_laplacian(frame, frame, mask, frame, 2.0, 0, 0)
    with pytest.raises(ValueError, match="'ref'"):
        mod.color_transfer(dev((4, 4, 4, 3)), dev((3, 4, 4, 3)), None, None, dev((4, 4, 4, 3)), 1.0, 0, 0)
    with pytest.raises(ValueError, match="'strength'"):
        mod.color_transfer(frame, frame, None, None, frame, 1.5, 0, 0)
    with pytest.raises(ValueError, match="'prev'"):
        mod.tpsnr(dev((4, 4, 2)), dev((4, 4, 2)), None, 0, 0)
    with pytest.raises(ValueError, match="'out'"):  # an output of the wrong size
        mod.bgr_to_lab(frame, dev((4, 3, 3), "<f4"), 0, 0)
    with pytest.raises(ValueError, match="'dst'.*tile rows"):  # beyond grid y: a clean error, not a launch failure
        big = dev((65535 * 16 + 1, 4, 3))
        mod.blend_laplacian(big, big, dev((65535 * 16 + 1, 4), "<f4"), big, 5, 0, 0)
    aff = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    alloc = lambda shape: pytest.fail("allocated for a bad call")  # noqa: E731
    with pytest.raises(ValueError, match="'frame'.*device pointer"):
        mod.paste_back(dev((4, 4, 3), ptr=0), frame, mask, aff, "alpha", None, 5, None, None, alloc, 0, 0)
    with pytest.raises(ValueError, match="'crop'.*C-contiguous"):
        mod.paste_back(frame, dev((4, 4, 3), strides=(24, 6, 1)), mask, aff, "alpha", None, 5, None, None, alloc, 0,
                       0)
    with pytest.raises(TypeError, match="'blend'.*no GPU Poisson"):
        mod.paste_back(frame, frame, mask, aff, "poisson", None, 5, None, None, alloc, 0, 0)
    with pytest.raises(ValueError, match="'crop_mask'"):
        mod.paste_back(frame, frame, dev((3, 4), "<f4"), aff, "alpha", None, 5, None, None, alloc, 0, 0)
    with pytest.raises(ValueError, match="'frame_index'"):
        mod.paste_back(dev((2, 4, 4, 3)), frame, mask, aff, "alpha", None, 5, None, [2], alloc, 0, 0)
    with pytest.raises(ValueError, match="'M'"):
        mod.warp_affine(frame, np.zeros((2, 3)), (4, 4), "constant", alloc, 0, 0)
    with pytest.raises(ValueError, match="'img'"):
        mod.warp_affine(dev((4, 4, 5)), aff, (4, 4), "constant", alloc, 0, 0)
    with pytest.raises(ValueError, match="'method'"):
        mod.LandmarkSmoother("kalman", {})
    with pytest.raises(ValueError, match="'alpha'"):  # the CPU core's parameter rules
        mod.LandmarkSmoother("ema", {"alpha": 2.0})


def test_mixed_host_and_device_arguments_raise_type_error_naming_them():
    dst = np.zeros((4, 5, 3), np.uint8)
    mask = np.ones((4, 5), np.float32)
    fake = FakeDeviceArray((4, 5, 3))
    with pytest.raises(TypeError, match=r"'src'.*GPU.*'dst', 'mask'.*host"):
        ops.blend_laplacian(dst, fake, mask)
    with pytest.raises(TypeError, match=r"'ref_mask'.*GPU.*'src', 'ref'"):
        ops.color_transfer(dst, dst, None, FakeDeviceArray((4, 5), "<f4"))
    with pytest.raises(TypeError, match=r"'cur'.*GPU.*'prev'"):
        ops.tpsnr(dst, fake)
    with pytest.raises(TypeError, match=r"'mask'.*GPU.*'frames'"):
        ops.tpsnr_sequence(np.zeros((3, 4, 5), np.uint8), FakeDeviceArray((4, 5), "<f4"))
    aff = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    with pytest.raises(TypeError, match=r"'crop'.*GPU.*'frame', 'crop_mask'"):
        ops.paste_back(dst, fake, mask, aff)
    with pytest.raises(TypeError, match=r"'out'.*GPU.*'frame'"):
        ops.paste_back(dst, dst, mask, aff, out=fake)
    with pytest.raises(TypeError, match=r"'crop_mask'.*both"):
        ops.paste_back(fake, [fake, fake], [FakeDeviceArray((4, 5), "<f4"), mask], [aff, aff])
    with pytest.raises(TypeError, match=r"'M'.*GPU.*'img'.*host"):  # a host image with a device matrix
        ops.warp_affine(dst, FakeDeviceArray((2, 3), "<f8"), (4, 4))
    # Device arrays and blend='poisson': no GPU Poisson paste, said before any device work.
    with pytest.raises(TypeError, match=r"'blend'.*no GPU Poisson paste"):
        ops.paste_back(fake, fake, FakeDeviceArray((4, 5), "<f4"), aff, blend="poisson")
    sm = ops.LandmarkSmoother("ema")
    with pytest.raises(TypeError, match="'track_ids'"):
        sm.update(np.zeros((1, 5, 2), np.float32), FakeDeviceArray((1,), "<i8"))


def test_device_arguments_without_a_usable_backend_raise_type_error_with_the_reason():
    if facefuse.cuda_available():
        pytest.skip("a GPU is usable here: the device path runs instead")
    status = facefuse.cuda_status()
    fake = FakeDeviceArray((4, 5, 3))
    with pytest.raises(TypeError, match=r"'dst', 'src', 'mask'") as e:
        ops.blend_laplacian(fake, fake, FakeDeviceArray((4, 5), "<f4"))
    assert status in str(e.value)
    with pytest.raises(TypeError, match="'img'"):
        ops.bgr_to_lab(fake)
    with pytest.raises(TypeError, match="'lab'"):
        ops.lab_to_bgr(FakeDeviceArray((4, 5, 3), "<f4"))
    with pytest.raises(TypeError, match="'landmarks'"):
        ops.LandmarkSmoother("ema").update(FakeDeviceArray((1, 5, 2), "<f4"), [1])
    with pytest.raises(TypeError, match="'img'") as e:
        ops.warp_affine(fake, np.eye(2, 3), (4, 4))
    assert status in str(e.value)
    with pytest.raises(TypeError, match="'frame', 'crop', 'crop_mask'"):
        ops.paste_back(fake, fake, FakeDeviceArray((4, 5), "<f4"), np.eye(2, 3))
    # Ops without a CUDA kernel say so.
    with pytest.raises(TypeError, match="no CUDA kernel"):
        ops.gaussian_pyramid(FakeDeviceArray((4, 5), "<f4"), 2)


def test_device_view_reads_the_interface():
    v = _device.view("f", "x", FakeDeviceArray((4, 5, 3), "<f4", ptr=4096))
    assert (v.ptr, v.shape, v.dtype, v.c_contiguous, v.size) == (4096, (4, 5, 3), np.dtype(np.float32), True, 60)
    # A row-reversed view and a column-strided view are not C-contiguous; a
    # C-contiguous stride tuple is.
    assert not _device.view("f", "x", FakeDeviceArray((4, 5), "<f4", strides=(-20, 4))).c_contiguous
    assert not _device.view("f", "x", FakeDeviceArray((4, 5), "<f4", strides=(40, 8))).c_contiguous
    assert _device.view("f", "x", FakeDeviceArray((4, 5), "<f4", strides=(20, 4))).c_contiguous
    assert _device.view("f", "x", FakeDeviceArray((4, 1), "<f4", strides=(4, 99))).c_contiguous

    class Broken:
        __cuda_array_interface__ = {"shape": (2,)}

    with pytest.raises(TypeError, match="'x'.*malformed"):
        _device.view("f", "x", Broken())


# ---- the host batch forms (the CPU twin of the GPU's batched API) ----------------------


def test_host_batches_equal_per_item_calls(rng):
    n, h, w = 3, 21, 17
    d = rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8)
    s = rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8)
    m = rng.random((n, h, w)).astype(np.float32)
    out = ops.blend_laplacian(d, s, m, 4)
    assert out.shape == d.shape and out.dtype == np.uint8
    for i in range(n):
        np.testing.assert_array_equal(out[i], ops.blend_laplacian(d[i], s[i], m[i], 4))
    lab = ops.bgr_to_lab(d)
    for i in range(n):
        np.testing.assert_array_equal(lab[i], ops.bgr_to_lab(d[i]))
        np.testing.assert_array_equal(ops.lab_to_bgr(lab)[i], ops.lab_to_bgr(lab[i]))
    ref = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    ct = ops.color_transfer(d, ref, m, None, 0.7)
    for i in range(n):
        np.testing.assert_array_equal(ct[i], ops.color_transfer(d[i], ref, m[i], None, 0.7))
    ct2 = ops.color_transfer(d, s, None, m)
    for i in range(n):
        np.testing.assert_array_equal(ct2[i], ops.color_transfer(d[i], s[i], None, m[i]))
    with pytest.raises(ValueError, match="'ref'"):
        ops.color_transfer(d, s[:2])
    with pytest.raises(ValueError, match="'mask'"):
        ops.blend_laplacian(d, s, m[:2])


# ---------------------------------------------------------------------------
# GPU == CPU (skipped without a usable device)
# ---------------------------------------------------------------------------

gpu = pytest.mark.gpu


def _frames(rng, shape, dtype):
    if dtype == np.uint8:
        return rng.integers(0, 256, shape, dtype=np.uint8)
    return (rng.random(shape) * 255).astype(np.float32)


BLEND_SHAPES = [(1, 1, 3), (1, 9, 3), (2, 2), (37, 53, 3), (64, 64, 1), (33, 65), (130, 97, 3)]


@gpu
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("shape", BLEND_SHAPES)
@pytest.mark.parametrize("levels", [1, 3, 5, 12])
def test_gpu_blend_equals_cpu(cp, rng, dtype, shape, levels):
    d, s = _frames(rng, shape, dtype), _frames(rng, shape, dtype)
    m = rng.random(shape[:2]).astype(np.float32)
    m[0, 0] = 1.5  # out-of-range alpha: clamped by both backends
    out = ops.blend_laplacian(cp.asarray(d), cp.asarray(s), cp.asarray(m), levels)
    assert isinstance(out, cp.ndarray) and out.dtype == dtype and out.shape == d.shape
    # Same maths, same order, no FMA: bit-identical.
    np.testing.assert_array_equal(cp.asnumpy(out), ops.blend_laplacian(d, s, m, levels))


@gpu
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_gpu_blend_batch_views_and_uint8_masks(cp, rng, dtype):
    n, h, w = 5, 71, 45
    d, s = _frames(rng, (n, h, w, 3), dtype), _frames(rng, (n, h, w, 3), dtype)
    m8 = rng.integers(0, 256, (n, h, w), dtype=np.uint8)
    out = ops.blend_laplacian(cp.asarray(d), cp.asarray(s), cp.asarray(m8), 5)
    for i in range(n):
        np.testing.assert_array_equal(cp.asnumpy(out[i]), ops.blend_laplacian(d[i], s[i], m8[i], 5))
    # Non-contiguous device views (reversed rows, strided columns, a channel-last slice).
    dv, sv, mv = cp.asarray(d)[1, ::-1, ::2], cp.asarray(s)[2, ::-1, ::2], cp.asarray(m8)[3, ::-1, ::2]
    got = ops.blend_laplacian(dv, sv, mv, 4)
    want = ops.blend_laplacian(d[1, ::-1, ::2], s[2, ::-1, ::2], m8[3, ::-1, ::2], 4)
    np.testing.assert_array_equal(cp.asnumpy(got), want)
    # Scratch is cached: a second identical call allocates nothing new.
    mod = backend.cuda_module()
    before = mod.scratch_bytes()
    ops.blend_laplacian(cp.asarray(d), cp.asarray(s), cp.asarray(m8), 5)
    assert mod.scratch_bytes() == before


@gpu
def test_gpu_runs_on_the_current_stream(cp, rng):
    d, s = _frames(rng, (64, 80, 3), np.uint8), _frames(rng, (64, 80, 3), np.uint8)
    m = rng.random((64, 80)).astype(np.float32)
    with cp.cuda.Stream(non_blocking=True) as st:
        dd, sd, md = cp.asarray(d), cp.asarray(s), cp.asarray(m)
        out = ops.blend_laplacian(dd, sd, md, 5)
        lab = ops.bgr_to_lab(dd)
        st.synchronize()
    np.testing.assert_array_equal(cp.asnumpy(out), ops.blend_laplacian(d, s, m, 5))
    np.testing.assert_array_equal(cp.asnumpy(lab), ops.bgr_to_lab(d))


@gpu
@pytest.mark.parametrize("shape", [(1, 1, 3), (17, 23, 3), (3, 40, 31, 3)])
def test_gpu_lab_conversions_equal_cpu(cp, rng, shape):
    u8 = rng.integers(0, 256, shape, dtype=np.uint8)
    f = rng.uniform(-0.1, 1.1, shape).astype(np.float32)  # outside [0, 1] too: clipped
    np.testing.assert_array_equal(cp.asnumpy(ops.bgr_to_lab(cp.asarray(u8))), ops.bgr_to_lab(u8))
    np.testing.assert_array_equal(cp.asnumpy(ops.bgr_to_lab(cp.asarray(f))), ops.bgr_to_lab(f))
    lab = ops.bgr_to_lab(u8) + rng.normal(0, 5, shape).astype(np.float32)
    np.testing.assert_array_equal(cp.asnumpy(ops.lab_to_bgr(cp.asarray(lab))), ops.lab_to_bgr(lab))
    # A non-contiguous view.
    np.testing.assert_array_equal(cp.asnumpy(ops.bgr_to_lab(cp.asarray(u8)[..., ::-1])), ops.bgr_to_lab(u8[..., ::-1]))


def _close_u8(got, want):
    diff = np.abs(got.astype(np.int16) - want.astype(np.int16))
    assert diff.max() <= 1, diff.max()
    assert (diff > 0).mean() < 1e-3  # only float32 rounding of a statistic can flip a pixel


@gpu
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("strength", [0.0, 0.6, 1.0])
def test_gpu_color_transfer_equals_cpu(cp, rng, dtype, strength):
    src, ref = _frames(rng, (45, 61, 3), dtype), _frames(rng, (30, 22, 3), dtype)
    sm = rng.random((45, 61)).astype(np.float32)
    rm = (rng.random((30, 22)) > 0.3).astype(np.float32)
    for masks in [(None, None), (sm, None), (sm, rm)]:
        dm = [None if x is None else cp.asarray(x) for x in masks]
        got = cp.asnumpy(ops.color_transfer(cp.asarray(src), cp.asarray(ref), dm[0], dm[1], strength))
        want = ops.color_transfer(src, ref, masks[0], masks[1], strength)
        assert got.dtype == dtype
        if dtype == np.uint8:
            _close_u8(got, want)
        else:
            np.testing.assert_allclose(got, want, atol=2e-2)


@gpu
def test_gpu_color_transfer_batches_and_views(cp, rng):
    n = 4
    src = _frames(rng, (n, 33, 29, 3), np.uint8)
    refs = _frames(rng, (n, 20, 24, 3), np.uint8)
    sm = rng.random((n, 33, 29)).astype(np.float32)
    got = cp.asnumpy(ops.color_transfer(cp.asarray(src), cp.asarray(refs), cp.asarray(sm), None, 0.8))
    for i in range(n):  # one reference per item
        _close_u8(got[i], ops.color_transfer(src[i], refs[i], sm[i], None, 0.8))
    got = cp.asnumpy(ops.color_transfer(cp.asarray(src), cp.asarray(refs[0])))
    for i in range(n):  # one reference for the whole batch
        _close_u8(got[i], ops.color_transfer(src[i], refs[0]))
    got = cp.asnumpy(ops.color_transfer(cp.asarray(src)[0, ::2, ::-1], cp.asarray(refs)[1, :, ::3]))
    _close_u8(got, ops.color_transfer(src[0, ::2, ::-1], refs[1, :, ::3]))
    one = _frames(rng, (1, 1, 3), np.uint8)  # 1x1: zero std, flat transfer
    _close_u8(cp.asnumpy(ops.color_transfer(cp.asarray(one), cp.asarray(refs[2]))), ops.color_transfer(one, refs[2]))


def _tracks(rng, n, p, frames, cut_every=0):
    base = rng.uniform(100, 400, (n, 1, 2)) + rng.normal(0, 30, (n, p, 2))
    seq = []
    for f in range(frames):
        drift = np.array([2.0 * f, -1.0 * f])
        lm = base + drift + rng.normal(0, 1.5, (n, p, 2))
        if cut_every and f and f % cut_every == 0:
            lm[::3] += 250.0  # a scene cut on every third track
        seq.append(lm.astype(np.float32))
    return seq


@gpu
@pytest.mark.parametrize("method", ["pose_shape", "ema", "adaptive_ema", "one_euro"])
@pytest.mark.parametrize("n,p", [(1, 1), (3, 5), (200, 68), (17, 478)])
def test_gpu_smoother_equals_cpu(cp, rng, method, n, p):
    cpu, gpu_s = ops.LandmarkSmoother(method), ops.LandmarkSmoother(method)
    ids = np.arange(n) * 7 + 3
    for f, lm in enumerate(_tracks(rng, n, p, 12, cut_every=5)):
        keep = ids if f % 4 != 3 else ids[::2]  # some tracks skip frames
        rows = np.searchsorted(ids, keep)
        t = 0.04 * f + 0.001 * (keep % 3)
        want = cpu.update(lm[rows], keep, t)
        got = gpu_s.update(cp.asarray(lm[rows]), keep, t)
        assert isinstance(got, cp.ndarray)
        np.testing.assert_allclose(cp.asnumpy(got), want, atol=2e-3, rtol=0)
        np.testing.assert_array_equal(cp.asnumpy(gpu_s.last_reset), cpu.last_reset)
        np.testing.assert_array_equal(cp.asnumpy(gpu_s.last_new), cpu.last_new)
        if f == 6:
            cpu.reset(ids[:2])
            gpu_s.reset(ids[:2])
            cpu.forget(ids[-1:])
            gpu_s.forget(ids[-1:])
    assert gpu_s.num_tracks == cpu.num_tracks
    np.testing.assert_array_equal(gpu_s.track_ids(), cpu.track_ids())
    with pytest.raises(ValueError, match="'t'"):
        gpu_s.update(cp.asarray(lm[:1]), ids[:1], 0.0)  # time going back on a live track
    with pytest.raises(TypeError, match="reset"):
        gpu_s.update(lm[:1], ids[:1], 10.0)  # host landmarks while the tracks live on the GPU


@gpu
def test_gpu_smoother_many_tracks_one_update(cp, rng):
    n, p = 4096, 68
    cpu, gpu_s = ops.LandmarkSmoother("pose_shape"), ops.LandmarkSmoother("pose_shape")
    ids = np.arange(n)
    for lm in _tracks(rng, n, p, 3):
        want = cpu.update(lm, ids)
        got = cp.asnumpy(gpu_s.update(cp.asarray(lm), ids))
    np.testing.assert_allclose(got, want, atol=2e-3, rtol=0)


@gpu
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("shape", [(1, 1), (1, 1, 3), (37, 45, 3), (64, 33, 4), (120, 77)])
def test_gpu_tpsnr_equals_cpu(cp, rng, dtype, shape):
    a = _frames(rng, shape, dtype)
    b = a.copy()
    b.reshape(-1)[:: 7] = _frames(rng, b.reshape(-1)[:: 7].shape, dtype)
    m = rng.random(shape[:2]).astype(np.float32)
    for mask in (None, m):
        dm = None if mask is None else cp.asarray(mask)
        got = ops.tpsnr(cp.asarray(a), cp.asarray(b), dm)
        want = ops.tpsnr(a, b, mask)
        assert isinstance(got, float)
        if np.isinf(want):
            assert np.isinf(got)
        else:
            assert got == pytest.approx(want, rel=1e-9, abs=1e-9)
    assert np.isinf(ops.tpsnr(cp.asarray(a), cp.asarray(a)))
    seq = np.stack([a, b, a, _frames(rng, shape, dtype)])
    np.testing.assert_allclose(ops.tpsnr_sequence(cp.asarray(seq)), ops.tpsnr_sequence(seq), rtol=1e-9)
    # Non-contiguous views (reversed rows, every other column).
    got = ops.tpsnr(cp.asarray(a)[::-1, ::2], cp.asarray(b)[::-1, ::2])
    want = ops.tpsnr(a[::-1, ::2], b[::-1, ::2])
    assert (np.isinf(got) and np.isinf(want)) or got == pytest.approx(want, rel=1e-9)


@gpu
def test_gpu_tpsnr_rejects_bad_masks(cp, rng):
    a = _frames(rng, (20, 30, 3), np.uint8)
    with pytest.raises(ValueError, match="'mask'"):
        ops.tpsnr(cp.asarray(a), cp.asarray(a), cp.zeros((20, 30), cp.float32))
    with pytest.raises(ValueError, match="'mask'"):
        ops.tpsnr(cp.asarray(a), cp.asarray(a), cp.full((20, 30), 2.0, cp.float32))
    with pytest.raises(ValueError, match="'cur'"):
        ops.tpsnr(cp.asarray(a), cp.asarray(a[:5]))


# ---------------------------------------------------------------------------
# everywhere: the kernels' logic under the CPU emulation (cuda/emulation/)
# ---------------------------------------------------------------------------


def test_kernels_match_the_cpu_core_under_cpu_emulation(tmp_path):
    """Runs every .cu kernel through cuda/emulation (one OS thread per CUDA
    thread, fake runtime) against the CPU core: catches indexing, tiling,
    reduction, barrier and state-handling mistakes without a GPU. It cannot
    catch what only real hardware shows (memory model, warp scheduling, launch
    limits, device libm): the ``gpu`` tests above cover those."""
    import os
    import shutil
    import subprocess
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "cuda" / "emulation" / "run_emulation.sh"
    if not script.exists():
        pytest.skip("cuda/emulation is not in this tree (installed package without sources)")
    if shutil.which("g++") is None or shutil.which("perl") is None:
        pytest.skip("needs g++ (C++20) and perl")
    res = subprocess.run([str(script)], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "TMPDIR": str(tmp_path)})
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    assert "all emulated kernels match the CPU core" in res.stdout
    assert res.stdout.count(" ok (") >= 20
