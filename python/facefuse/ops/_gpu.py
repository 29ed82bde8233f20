"""GPU implementations of the public ops (called by the op modules when their
arguments are device arrays, see ``_device.on_device``).

Each function makes the inputs C-contiguous CuPy arrays on one device (masks
converted to float32 as on the host), allocates the outputs there and enqueues
``facefuse._cuda`` on the current CuPy stream. The argument checks are the
native ones: ``_cuda`` applies the same contract as the CPU core
(cpp/bindings/op_contracts.hpp), so dtypes, shapes and ranges are not spelled
here. No host synchronisation, except where the result is a host value
(``tpsnr`` returns a float).

What the GPU path does NOT check by default, because it would need a host round
trip: NaN / inf in float frames or landmarks, mask values outside [0, 1] for
``color_transfer`` (``blend_laplacian`` clamps them, as the CPU does) -- the ops
check these before calling here when ``facefuse.set_device_checks(True)`` --, and
all-zero colour-transfer masks (that image is returned as ``src``, clipped).
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ._device import Launch, device_mask, view


def _mask(L: Launch, fn: str, name: str, m: Optional[Any]) -> Optional[Any]:
    return None if m is None else device_mask(L, fn, name, m)


def blend_laplacian(dst: Any, src: Any, mask: Any, levels: Any) -> Any:
    fn = "blend_laplacian"
    L = Launch(fn, dst=dst, src=src, mask=mask)
    d, s, m = L.array("dst", dst), L.array("src", src), device_mask(L, fn, "mask", mask)
    out = L.empty(d.shape, d.dtype)
    L.cuda.blend_laplacian(d, s, m, out, levels, L.device, L.stream_ptr)
    return out


def _to_float32(fn: str, name: str, x: Any) -> Any:
    """A per-pixel conversion ``_cuda.<fn>`` of x into a new float32 array of its shape."""
    L = Launch(fn, **{name: x})
    a = L.array(name, x)
    out = L.empty(a.shape, np.float32)
    getattr(L.cuda, fn)(a, out, L.device, L.stream_ptr)
    return out


def bgr_to_lab(img: Any) -> Any:
    return _to_float32("bgr_to_lab", "img", img)


def lab_to_bgr(lab: Any) -> Any:
    return _to_float32("lab_to_bgr", "lab", lab)


def color_transfer(src: Any, ref: Any, src_mask: Optional[Any], ref_mask: Optional[Any], strength: Any) -> Any:
    fn = "color_transfer"
    L = Launch(fn, src=src, ref=ref, src_mask=src_mask, ref_mask=ref_mask)
    s, r = L.array("src", src), L.array("ref", ref)
    sm, rm = _mask(L, fn, "src_mask", src_mask), _mask(L, fn, "ref_mask", ref_mask)
    out = L.empty(s.shape, s.dtype)
    L.cuda.color_transfer(s, r, sm, rm, out, strength, L.device, L.stream_ptr)
    return out


def tpsnr(prev: Any, cur: Any, mask: Optional[Any]) -> float:
    fn = "tpsnr"
    L = Launch(fn, prev=prev, cur=cur, mask=mask)
    return float(L.cuda.tpsnr(L.array("prev", prev), L.array("cur", cur), _mask(L, fn, "mask", mask), L.device,
                              L.stream_ptr))


def tpsnr_sequence(frames: Any, mask: Optional[Any]) -> np.ndarray:
    fn = "tpsnr_sequence"
    L = Launch(fn, frames=frames, mask=mask)
    return L.cuda.tpsnr_sequence(L.array("frames", frames), _mask(L, fn, "mask", mask), L.device, L.stream_ptr)


def to_host(fn: str, name: str, x: Any) -> np.ndarray:
    """The device array argument ``name`` (a matrix: geometry) copied to the host."""
    L = Launch(fn, **{name: x})
    with L.cp.cuda.Device(L.device):
        return L.cp.asnumpy(x)


def warp_affine(img: Any, M: Any, dsize: Any, border: Any) -> Any:
    fn = "warp_affine"
    L = Launch(fn, img=img)
    a = L.array("img", img)
    return L.cuda.warp_affine(a, M, dsize, border, lambda shape: L.empty(shape, a.dtype), L.device, L.stream_ptr)


def _items(L: Launch, fn: str, name: str, x: Any, mask: bool) -> Any:
    """Contiguous device crops / float32 masks, keeping the caller's form (one, batch or list)."""
    conv = (lambda n, v: device_mask(L, fn, n, v)) if mask else L.array
    if isinstance(x, (list, tuple)):
        return [conv(name, v) for v in x]
    return conv(name, x)


def paste_back(frame: Any, crop: Any, crop_mask: Any, affine: Any, blend: Any, color: Any, levels: Any,
               out: Optional[Any], frame_index: Any) -> Any:
    fn = "paste_back"
    first = (lambda x: x[0] if isinstance(x, (list, tuple)) and x else x)
    L = Launch(fn, frame=frame, crop=first(crop), crop_mask=first(crop_mask), out=out)
    f = L.array("frame", frame)
    crops, masks = _items(L, fn, "crop", crop, False), _items(L, fn, "crop_mask", crop_mask, True)
    return L.cuda.paste_back(f, crops, masks, affine, blend, color, levels, out, frame_index,
                             lambda shape: L.empty(shape, f.dtype), L.device, L.stream_ptr)


def smoother_update(gpu_core: Any, landmarks: Any, ids: np.ndarray, ts: Optional[np.ndarray]) -> tuple[Any, Any, Any]:
    """One GPU update of a LandmarkSmoother: (out, last_reset, last_new) as CuPy arrays."""
    L = Launch("LandmarkSmoother.update", landmarks=landmarks)
    lm = L.array("landmarks", landmarks)
    if lm.dtype == np.float64:
        lm = L.array("landmarks", lm, np.float32)
    n = lm.shape[0] if lm.ndim else 0
    out = L.empty(lm.shape, np.float32)
    rf, nf = L.empty((n,), np.bool_), L.empty((n,), np.bool_)
    gpu_core.update(lm, ids, ts, out, rf, nf, L.device, L.stream_ptr)
    return out, rf, nf


__all__ = ["blend_laplacian", "bgr_to_lab", "lab_to_bgr", "color_transfer", "tpsnr", "tpsnr_sequence",
           "warp_affine", "paste_back", "to_host", "smoother_update", "view"]
