"""QualityMonitor on GPU frames (issue 14): the device update against the host
monitor on the same sequences -- records, summary, series and flags within 1e-9
relative --, the one device -> host copy per update, and the errors.

Every test is marked ``gpu`` (skipped without a usable CUDA backend). Without a
GPU they run under the CPU emulation of the kernels and a NumPy-backed fake CuPy:
``cuda/emulation/run_emulation.sh --python tests/test_cuda_quality.py -q``.
"""
from __future__ import annotations

import ctypes
import math

import numpy as np
import pytest

import facefuse
from facefuse import ops
from facefuse import reference

gpu = pytest.mark.gpu
pytestmark = gpu

REL = 1e-9  # sums added in another order than on the host
ABS = 1e-9  # dB, for differences (dtPSNR) that cancel to about 0


def _close(got, want, path="") -> float:
    """Assert got == want (dicts / lists / bools / None exactly, floats within REL / ABS);
    returns the largest relative difference seen."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), (path, got, want)
        return max([_close(got[k], want[k], f"{path}.{k}") for k in want] or [0.0])
    if isinstance(want, (list, tuple)):
        assert len(got) == len(want), (path, got, want)
        return max([_close(g, w, f"{path}[{i}]") for i, (g, w) in enumerate(zip(got, want))] or [0.0])
    if isinstance(want, float) and not isinstance(want, bool):
        assert isinstance(got, float) and not isinstance(got, bool), (path, got, want)
        assert math.isfinite(got) == math.isfinite(want), (path, got, want)
        if not math.isfinite(want):
            assert got == want, (path, got, want)
            return 0.0
        assert got == pytest.approx(want, rel=REL, abs=ABS), (path, got, want)
        return abs(got - want) / max(abs(want), 1e-300)
    assert got == want and type(got) is type(want), (path, got, want)
    return 0.0


def _frame(rng, shape, dtype):
    if dtype == np.uint8:
        return rng.integers(0, 256, shape, dtype=np.uint8)
    return (rng.random(shape) * 255).astype(np.float32)


def _sequence(rng, n, shape, dtype):
    """A clip with the cases the monitor distinguishes: small changes, repeats
    (infinite tPSNR -> the cap) and big jumps (jitter flags)."""
    frames = [_frame(rng, shape, dtype)]
    for t in range(1, n):
        f = frames[-1].copy()
        if t % 5 != 3:  # every 5th transition repeats the frame exactly
            flat = f.reshape(-1)
            k = max(1, flat.size // (40 if t % 7 else 3))  # t % 7 == 0: a big jump
            idx = rng.choice(flat.size, size=k, replace=False)
            flat[idx] = _frame(rng, (k,), dtype)
        frames.append(f)
    return frames


def _rois(rng, n, h, w, kind):
    """Per-frame ROIs: boxes (floats, some partly outside the frame) or masks (float32, uint8, bool)."""
    out = []
    for t in range(n):
        if kind is None:
            out.append(None)
        elif kind == "box":
            x, y = rng.uniform(-0.4 * w, 0.6 * w), rng.uniform(-0.4 * h, 0.6 * h)
            out.append((x, y, rng.uniform(0.5 * w, w), rng.uniform(0.5 * h, h)))
        else:
            m = rng.uniform(0.05, 1.0, (h, w)).astype(np.float32)
            b = m > 0.3
            b.flat[0] = True  # a bool mask must select a pixel (an all-False mask is an error on both paths)
            out.append(m if t % 3 == 0 else ((m * 255).astype(np.uint8) if t % 3 == 1 else b))
    return out


def _device_roi(cp, roi):
    return cp.asarray(roi) if isinstance(roi, np.ndarray) else roi


def _run_both(cp, frames, sources, rois, landmarks=None, **kw):
    """Feed the same clip to a host and a device monitor; compare each record, then the reports."""
    host, dev = ops.QualityMonitor(**kw), ops.QualityMonitor(**kw)
    worst = 0.0
    for t, f in enumerate(frames):
        s = None if sources is None else sources[t]
        lm = None if landmarks is None else landmarks[t]
        want = host.update(f, s, rois[t], lm)
        got = dev.update(cp.asarray(f), None if s is None else cp.asarray(s), _device_roi(cp, rois[t]), lm)
        worst = max(worst, _close(got, want, f"frame {t}"))
    worst = max(worst, _close(dev.summary(), host.summary(), "summary"), _close(dev.series(), host.series(), "series"))
    return host, dev, worst


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("shape", [(1, 1), (1, 1, 3), (37, 45, 3), (64, 33), (23, 51, 1), (19, 30, 4)])
def test_gpu_monitor_equals_host(cp, rng, dtype, shape):
    n = 12
    frames = _sequence(rng, n, shape, dtype)
    sources = _sequence(rng, n, shape, dtype)
    h, w = shape[:2]
    lms = [rng.normal(50, 10, (2, 5, 2)) for _ in range(n)]
    worst = 0.0
    for kind in (None, "box", "mask"):
        for with_source in (False, True):
            rois = _rois(rng, n, h, w, kind)
            _, dev, d = _run_both(cp, frames, sources if with_source else None, rois, lms, min_history=3, window=5)
            worst = max(worst, d)
            s = dev.summary()
            assert s["transitions"] == n - 1
            assert s["tpsnr"]["max"] == dev.cap_db  # the repeated frames: capped, not inf
            if with_source:
                assert s["dtpsnr"]["count"] == n - 1
            if kind is not None:
                assert s["tpsnr_roi"]["count"] == n - 1
    print(f"largest relative difference device vs host: {worst:.3g}")


def test_gpu_monitor_source_on_some_frames_and_flags(cp, rng):
    """Sources missing on some frames (no source pair there) and a clip with flicker
    on the output only: the same dtPSNR gaps and jitter flags as on the host."""
    n = 30
    src = _sequence(rng, n, (24, 28, 3), np.uint8)
    out = [f.copy() for f in src]
    for t in (12, 20, 21):  # processing flicker: dtPSNR drops there
        out[t] = np.clip(out[t].astype(np.int16) + rng.integers(-40, 40, out[t].shape), 0, 255).astype(np.uint8)
    sources = [None if t in (5, 6) else s for t, s in enumerate(src)]
    rois = [(4, 3, 15, 12)] * n
    host, dev, _ = _run_both(cp, out, sources, rois)
    assert dev.summary()["jitter"]["count"] > 0
    assert dev.summary()["jitter"] == host.summary()["jitter"]


def test_gpu_monitor_identical_frames_are_capped(cp, rng):
    f = _frame(rng, (16, 9, 3), np.float32)
    mask = rng.uniform(0.2, 1.0, (16, 9)).astype(np.float32)
    dev = ops.QualityMonitor(cap_db=60.0)
    dev.update(cp.asarray(f), cp.asarray(f), cp.asarray(mask))
    rec = dev.update(cp.asarray(f), cp.asarray(f), cp.asarray(mask))
    assert [rec[k] for k in ("tpsnr", "tpsnr_roi", "tpsnr_source", "tpsnr_source_roi")] == [60.0] * 4
    assert rec["dtpsnr"] == 0.0 and rec["dtpsnr_roi"] == 0.0
    host = ops.QualityMonitor(cap_db=60.0)
    host.update(f, f, mask)
    _close(rec, host.update(f, f, mask))


def test_gpu_monitor_views_and_copy_frames(cp, rng):
    """Non-contiguous device views; with copy_frames the monitor keeps its own
    device copy (the caller's buffer may be overwritten in place, as after a decode)."""
    n = 8
    big = _sequence(rng, n, (40, 62, 3), np.uint8)
    sl = (slice(None, None, -1), slice(3, None, 2))  # reversed rows, every other column: 40 x 30
    sl2 = (slice(None), slice(2, 61, 2))  # another 40 x 30 view, as the source
    host, dev = ops.QualityMonitor(), ops.QualityMonitor()
    buf = cp.asarray(np.zeros((40, 62, 3), np.uint8))
    for t, f in enumerate(big):
        buf[...] = cp.asarray(f)  # one device buffer reused for every frame
        want = host.update(f[sl], f[sl2], (5, 2, 20, 11))
        got = dev.update(buf[sl], buf[sl2], (5, 2, 20, 11))
        _close(got, want, f"view frame {t}")
    # The contiguous buffer itself, overwritten in place before each update.
    host, dev = ops.QualityMonitor(), ops.QualityMonitor()
    hbuf = np.zeros((40, 62, 3), np.uint8)
    for t, f in enumerate(big):
        buf[...] = cp.asarray(f)
        hbuf[...] = f
        _close(dev.update(buf, buf), host.update(hbuf, hbuf), f"reused buffer frame {t}")
    # Without copies the monitor keeps the caller's (contiguous) arrays: fine when they are not reused.
    host, dev = ops.QualityMonitor(copy_frames=False), ops.QualityMonitor(copy_frames=False)
    for t, f in enumerate(big):
        _close(dev.update(cp.asarray(f)), host.update(f), f"no-copy frame {t}")


def _d2h_copies(cp):
    """Device -> host transfers so far, where they can be counted: the emulated
    runtime's copies (the emulated _cuda exports a counter) plus the fake CuPy's."""
    try:
        runtime = ctypes.CDLL(facefuse._cuda.__file__).ff_emu_d2h_copies
    except (AttributeError, OSError):
        pytest.skip("device -> host copies are counted under cuda/emulation only")
    runtime.restype = ctypes.c_longlong
    return int(runtime()) + int(getattr(cp, "_emu_d2h", 0))


def test_gpu_monitor_one_copy_per_update(cp, rng):
    n = 6
    frames = _sequence(rng, n, (33, 21, 3), np.float32)
    dev = ops.QualityMonitor()
    mask = cp.asarray(rng.uniform(0.1, 1.0, (33, 21)).astype(np.float32))
    before = _d2h_copies(cp)
    dev.update(cp.asarray(frames[0]), cp.asarray(frames[0]), mask)
    assert _d2h_copies(cp) == before  # no pair yet: nothing to copy
    for t in range(1, n):
        before = _d2h_copies(cp)
        rec = dev.update(cp.asarray(frames[t]), cp.asarray(frames[t - 1]), mask)
        assert _d2h_copies(cp) - before == 1, f"frame {t}"
        assert all(rec[k] is not None for k in ("tpsnr", "tpsnr_roi", "tpsnr_source", "tpsnr_source_roi"))
    # Without source or ROI: still one.
    before = _d2h_copies(cp)
    dev.update(cp.asarray(frames[0]))
    assert _d2h_copies(cp) - before == 1


def _both_raise(cp, host, dev, exc, match, frame, source=None, roi=None, dev_roi=None):
    with pytest.raises(exc, match=match):
        host.update(frame, source, roi)
    with pytest.raises(exc, match=match):
        dev.update(cp.asarray(frame), None if source is None else cp.asarray(source),
                   _device_roi(cp, roi) if dev_roi is None else dev_roi)


def test_gpu_monitor_errors_match_the_host_and_keep_the_state(cp, rng):
    fn = "QualityMonitor.update"
    a, b, c = (_frame(rng, (12, 14, 3), np.float32) for _ in range(3))
    host, dev = ops.QualityMonitor(), ops.QualityMonitor()
    _close(dev.update(cp.asarray(a), cp.asarray(a)), host.update(a, a))
    bad = np.full((12, 14), 2.0, np.float32)
    _both_raise(cp, host, dev, ValueError, r"'roi' \(mask\).*\[0, 1\]", b, b, bad)
    _both_raise(cp, host, dev, ValueError, r"'roi' \(mask\) sums to 0", b, b, np.zeros((12, 14), np.float32))
    _both_raise(cp, host, dev, ValueError, "'roi' mask must be H x W", b, b, np.ones((12, 13), np.float32))
    _both_raise(cp, host, dev, TypeError, "'roi'.*mask", b, b, np.ones((12, 14), np.int32))
    _both_raise(cp, host, dev, ValueError, "'roi'.*does not overlap", b, b, (20, 0, 3, 3))
    _both_raise(cp, host, dev, ValueError, "'source' must match", b, b[:5])
    _both_raise(cp, host, dev, ValueError, "'frame' changed", b[:, :7])
    _both_raise(cp, host, dev, TypeError, "'frame' must be a non-empty uint8 or float32", b.astype(np.float64))
    nan = b.copy()
    nan[3, 4, 1] = np.nan
    _both_raise(cp, host, dev, ValueError, "finite", nan)
    with pytest.raises(TypeError, match="'roi'.*box or an H x W mask"):
        dev.update(cp.asarray(b), None, cp.asarray(np.ones((12, 14, 1), np.float32)))
    # Mixed host / device arguments name both sides; host frames after GPU ones need reset().
    with pytest.raises(TypeError, match=r"'frame'.*GPU.*'source'.*host"):
        dev.update(cp.asarray(b), b)
    with pytest.raises(TypeError, match=r"'roi'.*GPU.*'frame'.*host"):
        dev.update(b, None, cp.asarray(np.ones((12, 14), np.float32)))
    with pytest.raises(TypeError, match=r"'frame'.*GPU.*'roi'.*host"):
        dev.update(cp.asarray(b), None, np.ones((12, 14), np.float32))
    with pytest.raises(TypeError, match="'frame' is a host array but the monitor holds GPU frames"):
        dev.update(b)
    assert dev.count == host.count == 1
    # Nothing above changed the state: the next frames agree with the host's.
    for f in (b, c):
        _close(dev.update(cp.asarray(f), cp.asarray(a), cp.asarray(np.ones((12, 14), np.float32))),
               host.update(f, a, np.ones((12, 14), np.float32)))
    _close(dev.summary(), host.summary())
    dev.reset()
    assert dev.update(c)["index"] == 0  # host frames after reset()
    with pytest.raises(TypeError, match="'frame' is a GPU array but the monitor holds host frames") as e:
        dev.update(cp.asarray(c))
    assert str(e.value).startswith(fn)


def test_gpu_reference_monitor_stays_on_the_host(cp, rng):
    f = _frame(rng, (8, 8, 3), np.uint8)
    with pytest.raises(TypeError, match="no CUDA kernel"):
        reference.QualityMonitor().update(cp.asarray(f))


def test_gpu_monitor_binding_checks_its_arguments(cp, rng):
    """_cuda.quality_monitor_tpsnr applies the quality contracts and its own (box,
    source pair) before any launch: Python errors naming the argument."""
    mod = facefuse._cuda
    f3 = cp.asarray(_frame(rng, (6, 7, 3), np.uint8))
    f2 = cp.asarray(_frame(rng, (6, 7, 2), np.uint8))
    m = cp.asarray(np.ones((6, 7), np.float32))

    def call(prev=f3, frame=f3, ps=None, s=None, box=None, mask=None):
        return mod.quality_monitor_tpsnr(prev, frame, ps, s, box, mask, 0, 0)

    assert call()[0] == math.inf and call()[1:] == (None, None, None)
    with pytest.raises(ValueError, match="'frame'.*channels"):
        call(f2, f2)
    with pytest.raises(ValueError, match="'prev'.*shape of 'frame'"):
        call(prev=cp.asarray(_frame(rng, (6, 6, 3), np.uint8)))
    with pytest.raises(TypeError, match="'prev'.*dtype of 'frame'"):
        call(prev=cp.asarray(_frame(rng, (6, 7, 3), np.float32)))
    with pytest.raises(ValueError, match="'prev_source'"):
        call(s=f3)
    with pytest.raises(ValueError, match="'source'.*shape of 'frame'"):
        call(ps=f3, s=cp.asarray(_frame(rng, (5, 7, 3), np.uint8)))
    with pytest.raises(ValueError, match="'roi_box'"):
        call(box=(0, 0, 8, 6))
    with pytest.raises(ValueError, match="'roi_box'"):
        call(box=(3, 0, 3, 6))
    with pytest.raises(TypeError, match="'roi_box'"):
        call(box=(0, 0, 7))
    with pytest.raises(ValueError, match="'mask'.*'roi_box'"):
        call(box=(0, 0, 7, 6), mask=m)
    with pytest.raises(ValueError, match="'mask'"):
        call(mask=cp.asarray(np.ones((6, 6), np.float32)))
    with pytest.raises(TypeError, match="'frame'"):
        call(frame=np.zeros((6, 7, 3), np.uint8))
    # A valid call: the box is the whole frame here, so its tPSNR is the full frame's.
    other = cp.asarray(_frame(rng, (6, 7, 3), np.uint8))
    full, roi, src, src_roi = call(frame=other, ps=f3, s=f3, box=(0, 0, 7, 6))
    assert roi == full and src == src_roi == math.inf
    assert full == pytest.approx(ops.tpsnr(cp.asnumpy(f3), cp.asnumpy(other)), rel=REL)
