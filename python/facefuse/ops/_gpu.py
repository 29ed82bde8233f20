"""GPU implementations of the public ops (called by the op modules when their
arguments are device arrays, see ``_device.on_device``).

Each function checks dtypes and shapes with the same argument names as the CPU
bindings, makes non-contiguous views contiguous on the device, allocates the
outputs with CuPy on the inputs' device and enqueues ``facefuse._cuda`` on the
current CuPy stream. No host synchronisation, except where the result is a
host value (``tpsnr`` returns a float).

What the GPU path does NOT check by default, because it would need a host round
trip: NaN / inf in float frames or landmarks, mask values outside [0, 1] for
``color_transfer`` (``blend_laplacian`` clamps them, as the CPU does) -- the ops
check these before calling here when ``facefuse.set_device_checks(True)`` --, and
all-zero colour-transfer masks (that image is returned as ``src``, clipped).
"""
from __future__ import annotations

import numbers
from typing import Any, Optional

import numpy as np

from ._device import Launch, device_mask, view

_FRAME = (np.dtype(np.uint8), np.dtype(np.float32))


def _shape(a: Any) -> str:
    return f"{a.dtype} GPU array of shape {tuple(a.shape)}"


def _frame_dtype(fn: str, name: str, a: Any, what: str) -> bool:
    """True for uint8, False for float32; TypeError naming ``name`` otherwise."""
    if a.dtype not in _FRAME:
        raise TypeError(f"{fn}: argument '{name}' must be a uint8 or float32 {what}, got {_shape(a)}")
    return a.dtype == np.uint8


def _nonempty(fn: str, name: str, a: Any) -> None:
    if a.size == 0:
        raise ValueError(f"{fn}: argument '{name}' must not be empty, got {_shape(a)}")


# ---- pyramid -------------------------------------------------------------------------


def blend_laplacian(dst: Any, src: Any, mask: Any, levels: int) -> Any:
    fn = "blend_laplacian"
    L = Launch(fn, dst=dst, src=src, mask=mask)
    d = L.array("dst", dst)
    u8 = _frame_dtype(fn, "dst", d, "H x W[, C] frame or N x H x W x C batch")
    if d.ndim not in (2, 3, 4):
        raise ValueError(f"{fn}: argument 'dst' must be H x W, H x W x C or N x H x W x C, got {_shape(d)}")
    batched = d.ndim == 4
    c = d.shape[-1] if d.ndim >= 3 else 1
    if c not in (1, 3):
        raise ValueError(f"{fn}: argument 'dst' must have 1 or 3 channels, got {_shape(d)}")
    _nonempty(fn, "dst", d)
    s = L.array("src", src)
    if s.dtype != d.dtype:
        raise TypeError(f"{fn}: argument 'src' must be a {d.dtype} frame like dst, got {_shape(s)}")
    if s.shape != d.shape:
        raise ValueError(f"{fn}: argument 'src' must have dst's shape {tuple(d.shape)}, got {_shape(s)}")
    m = device_mask(L, fn, "mask", mask)
    if batched and m.ndim != 3:  # as the CPU: a 4-D dst needs an N x H x W mask to be a batch
        raise ValueError(f"{fn}: argument 'dst' must be H x W[, C] (or N x H x W x C with an N x H x W mask), "
                         f"got {_shape(d)} with a mask of shape {tuple(m.shape)}")
    want = d.shape[:3] if batched else d.shape[:2]
    if m.shape != want:
        raise ValueError(f"{fn}: argument 'mask' must be float32 {'N x H x W' if batched else 'H x W'} "
                         f"matching dst {tuple(d.shape)}, got {_shape(m)}")
    n = d.shape[0] if batched else 1
    h, w = (d.shape[1], d.shape[2]) if batched else (d.shape[0], d.shape[1])
    out = L.empty(d.shape, d.dtype)
    # levels is an int >= 1 (checked by the caller); any value beyond 64 means "all levels".
    L.cuda.blend_laplacian(d.data.ptr, s.data.ptr, m.data.ptr, out.data.ptr, u8, n, h, w, c, min(levels, 64),
                           L.device, L.stream_ptr)
    return out


# ---- colour ----------------------------------------------------------------------------


def _bgr(fn: str, name: str, a: Any, what: str) -> None:
    if a.ndim not in (3, 4) or a.shape[-1] != 3:
        raise ValueError(f"{fn}: argument '{name}' must be an H x W x 3 (or N x H x W x 3) {what} array, "
                         f"got {_shape(a)}")
    _nonempty(fn, name, a)


def bgr_to_lab(img: Any) -> Any:
    fn = "bgr_to_lab"
    L = Launch(fn, img=img)
    a = L.array("img", img)
    u8 = _frame_dtype(fn, "img", a, "H x W x 3 BGR image")
    _bgr(fn, "img", a, "BGR")
    out = L.empty(a.shape, np.float32)
    L.cuda.bgr_to_lab(a.data.ptr, u8, out.data.ptr, a.size // 3, L.device, L.stream_ptr)
    return out


def lab_to_bgr(lab: Any) -> Any:
    fn = "lab_to_bgr"
    L = Launch(fn, lab=lab)
    a = L.array("lab", lab)
    if a.dtype != np.float32:
        raise TypeError(f"{fn}: argument 'lab' must be a float32 H x W x 3 LAB image, got {_shape(a)}")
    _bgr(fn, "lab", a, "float32 LAB")
    out = L.empty(a.shape, np.float32)
    L.cuda.lab_to_bgr(a.data.ptr, out.data.ptr, a.size // 3, L.device, L.stream_ptr)
    return out


def strength_value(fn: str, strength: Any) -> float:
    """The CPU binding's rule: a real number (not bool / str) in [0, 1]."""
    if isinstance(strength, (bool, np.bool_, str)) or not isinstance(strength, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{fn}: argument 'strength' must be a number in [0, 1], got {type(strength).__name__}")
    v = float(strength)
    if not (0.0 <= v <= 1.0):
        raise ValueError(f"{fn}: argument 'strength' must be in [0, 1], got {v}")
    return v


def color_transfer(src: Any, ref: Any, src_mask: Optional[Any], ref_mask: Optional[Any], strength: Any) -> Any:
    fn = "color_transfer"
    L = Launch(fn, src=src, ref=ref, src_mask=src_mask, ref_mask=ref_mask)
    s = L.array("src", src)
    u8 = _frame_dtype(fn, "src", s, "(0..255) H x W x 3 BGR image")
    _bgr(fn, "src", s, "BGR")
    r = L.array("ref", ref)
    if r.dtype != s.dtype:
        raise TypeError(f"{fn}: argument 'ref' must be an H x W x 3 BGR image of the same dtype as 'src' "
                        f"({s.dtype}), got {_shape(r)}")
    _bgr(fn, "ref", r, "BGR")
    batched = s.ndim == 4
    n = s.shape[0] if batched else 1
    if r.ndim == 4 and (not batched or r.shape[0] != n):
        raise ValueError(f"{fn}: argument 'ref' must be one H' x W' x 3 image or a batch of N={n} "
                         f"(matching src), got {_shape(r)}")
    n_ref = r.shape[0] if r.ndim == 4 else 1
    s_px = s.shape[-3] * s.shape[-2]
    r_px = r.shape[-3] * r.shape[-2]
    masks = []
    for name, m, img in (("src_mask", src_mask, s), ("ref_mask", ref_mask, r)):
        if m is None:
            masks.append(None)
            continue
        dm = device_mask(L, fn, name, m)
        if dm.shape != img.shape[:-1]:
            raise ValueError(f"{fn}: argument '{name}' must be a float32 mask of shape {tuple(img.shape[:-1])} "
                             f"matching '{name[:3]}', got {_shape(dm)}")
        masks.append(dm)
    st = strength_value(fn, strength)
    out = L.empty(s.shape, s.dtype)
    L.cuda.color_transfer(s.data.ptr, r.data.ptr, 0 if masks[0] is None else masks[0].data.ptr,
                          0 if masks[1] is None else masks[1].data.ptr, out.data.ptr, u8, n, s_px, n_ref, r_px, st,
                          L.device, L.stream_ptr)
    return out


# ---- quality ---------------------------------------------------------------------------


def _quality_frame(fn: str, name: str, a: Any, lead: int) -> tuple[bool, int, int, int]:
    layout = ("T x H x W or T x H x W x C" if lead else "H x W or H x W x C") + " (C = 1, 3 or 4)"
    u8 = _frame_dtype(fn, name, a, layout + " array")
    if a.ndim not in (2 + lead, 3 + lead):
        raise ValueError(f"{fn}: argument '{name}' must be {layout}, got {_shape(a)}")
    c = a.shape[lead + 2] if a.ndim == 3 + lead else 1
    if c not in (1, 3, 4):
        raise ValueError(f"{fn}: argument '{name}' must have 1, 3 or 4 channels, got {_shape(a)}")
    _nonempty(fn, name, a)
    return u8, a.shape[lead], a.shape[lead + 1], c


def _quality_mask(L: Launch, fn: str, mask: Any, h: int, w: int) -> Any:
    if mask is None:
        return None
    m = device_mask(L, fn, "mask", mask)
    if m.shape != (h, w):
        raise ValueError(f"{fn}: argument 'mask' must be a float32 H x W mask (0..1) matching the frames "
                         f"({h}, {w}), got {_shape(m)}")
    return m


def _psnr(L: Launch, fn: str, sums: tuple, c: int, has_mask: bool, data_arg: str) -> float:
    sse, wsum, lo, hi = sums
    if has_mask:
        if not np.isfinite(wsum) or not (lo >= 0.0) or not (hi <= 1.0):
            raise ValueError(f"{fn}: argument 'mask' must hold finite values in [0, 1]")
        if wsum <= 0.0:
            raise ValueError(f"{fn}: argument 'mask' sums to 0: no pixel has a weight, so the PSNR is undefined")
    if not np.isfinite(sse):
        raise ValueError(f"{fn}: argument {data_arg} must hold finite values (found NaN or inf)")
    return float(L.cuda.psnr_from_sums(sse, wsum, c))


def tpsnr(prev: Any, cur: Any, mask: Optional[Any]) -> float:
    fn = "tpsnr"
    L = Launch(fn, prev=prev, cur=cur, mask=mask)
    a = L.array("prev", prev)
    u8, h, w, c = _quality_frame(fn, "prev", a, 0)
    b = L.array("cur", cur)
    if b.dtype != a.dtype:
        raise TypeError(f"{fn}: argument 'cur' must be an array with the dtype of 'prev' ({a.dtype}), got {_shape(b)}")
    if b.shape != a.shape:
        raise ValueError(f"{fn}: argument 'cur' must have the shape of 'prev' {tuple(a.shape)}, got {_shape(b)}")
    m = _quality_mask(L, fn, mask, h, w)
    sums = L.cuda.tpsnr_sums(a.data.ptr, b.data.ptr, 0, 1, u8, h, w, c, 0 if m is None else m.data.ptr, L.device,
                             L.stream_ptr)
    return _psnr(L, fn, sums[0], c, m is not None, "'prev' / 'cur'")


def tpsnr_sequence(frames: Any, mask: Optional[Any]) -> np.ndarray:
    fn = "tpsnr_sequence"
    L = Launch(fn, frames=frames, mask=mask)
    f = L.array("frames", frames)
    u8, h, w, c = _quality_frame(fn, "frames", f, 1)
    t = f.shape[0]
    if t < 2:
        raise ValueError(f"{fn}: argument 'frames' must hold at least 2 frames (T >= 2), got {_shape(f)}")
    m = _quality_mask(L, fn, mask, h, w)
    stride = h * w * c  # elements between consecutive frames
    sums = L.cuda.tpsnr_sums(f.data.ptr, f.data.ptr + stride * f.dtype.itemsize, stride, t - 1, u8, h, w, c,
                             0 if m is None else m.data.ptr, L.device, L.stream_ptr)
    return np.array([_psnr(L, fn, s, c, m is not None, "'frames'") for s in sums], dtype=np.float64)


# ---- smoothing -------------------------------------------------------------------------


def smoother_update(gpu_core: Any, landmarks: Any, ids: np.ndarray, ts: Optional[np.ndarray]) -> tuple[Any, Any, Any]:
    """One GPU update of a LandmarkSmoother: (out, last_reset, last_new) as CuPy arrays."""
    fn = "LandmarkSmoother.update"
    L = Launch(fn, landmarks=landmarks)
    lm = L.array("landmarks", landmarks)
    if lm.dtype == np.float64:
        lm = L.array("landmarks", lm, np.float32)
    if lm.dtype != np.float32:
        raise TypeError(f"{fn}: argument 'landmarks' must be float32 N x P x 2, got {_shape(lm)}")
    if lm.ndim != 3 or lm.shape[2] != 2:
        raise ValueError(f"{fn}: argument 'landmarks' must be float32 N x P x 2, got {_shape(lm)}")
    n, p = lm.shape[0], lm.shape[1]
    out = L.empty((n, p, 2), np.float32)
    rf = L.empty((n,), np.bool_)
    nf = L.empty((n,), np.bool_)
    gpu_core.update(lm.data.ptr, n, p, ids, ts, out.data.ptr, rf.data.ptr, nf.data.ptr, L.device, L.stream_ptr)
    return out, rf, nf


__all__ = ["blend_laplacian", "bgr_to_lab", "lab_to_bgr", "color_transfer", "tpsnr", "tpsnr_sequence",
           "smoother_update", "strength_value", "view"]
