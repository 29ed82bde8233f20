"""The per-face hot paths of FaceFusion 3.5-3.8 that ``facefuse.compat.facefusion.patch``
replaces besides ``paste_back``: each replacement is built around FaceFusion's own
function (``make_*(original)``), returns what it returns, and calls it for any input
it does not handle. What each one replaces and how exact it is: the module docstring
of ``facefuse.compat.facefusion`` and the README's drop-in section.
"""
from __future__ import annotations

import threading
import types
import weakref
from collections import OrderedDict
from typing import Any, Callable, Optional

import numpy as np

_BOOST_DTYPES = (np.dtype(np.uint8), np.dtype(np.float32), np.dtype(np.float64))


def _core() -> Any:
    from .. import _core as core

    return core


# --------------------------------------------------------------------------- box mask


def make_create_box_mask(original: Callable[..., Any], capacity: int = 32) -> Callable[..., Any]:
    """``face_masker.create_box_mask`` cached by its arguments: the mask depends only on
    the crop's size, the blur and the padding. A miss runs FaceFusion's own function;
    a hit returns a copy of its result (bit-identical; callers may modify it)."""
    cache: "OrderedDict[Any, np.ndarray]" = OrderedDict()
    lock = threading.Lock()

    def create_box_mask(crop_vision_frame: Any, face_mask_blur: Any, face_mask_padding: Any) -> Any:
        try:
            key = (tuple(crop_vision_frame.shape[:2]), face_mask_blur, tuple(face_mask_padding))
            hash(key)
        except (AttributeError, TypeError):
            return original(crop_vision_frame, face_mask_blur, face_mask_padding)
        with lock:
            hit = cache.get(key)
            if hit is not None:
                cache.move_to_end(key)
        if hit is None:
            hit = original(crop_vision_frame, face_mask_blur, face_mask_padding)
            if not isinstance(hit, np.ndarray):
                return hit
            with lock:
                cache[key] = hit.copy()
                while len(cache) > capacity:
                    cache.popitem(last=False)
        return hit.copy()

    create_box_mask.__wrapped__ = original  # type: ignore[attr-defined]
    return create_box_mask


# --------------------------------------------------------------------------- pixel boost


def make_implode_pixel_boost(original: Callable[..., Any]) -> Callable[..., Any]:
    """``pixel_boost.implode_pixel_boost`` natively: the same tiles, the crop read in place."""

    def implode_pixel_boost(crop_vision_frame: Any, pixel_boost_total: Any, model_size: Any) -> Any:
        c = crop_vision_frame
        try:
            t, m0, m1 = int(pixel_boost_total), int(model_size[0]), int(model_size[1])
        except (TypeError, ValueError, IndexError):
            return original(crop_vision_frame, pixel_boost_total, model_size)
        if (isinstance(c, np.ndarray) and c.dtype in _BOOST_DTYPES and t >= 1
                and c.shape == (m0 * t, m1 * t, 3) and c.dtype.isnative):
            return _core().ff_implode(c, t)
        return original(crop_vision_frame, pixel_boost_total, model_size)

    implode_pixel_boost.__wrapped__ = original  # type: ignore[attr-defined]
    return implode_pixel_boost


def make_explode_pixel_boost(original: Callable[..., Any]) -> Callable[..., Any]:
    """``pixel_boost.explode_pixel_boost`` natively: the same crop from tiles of one dtype."""

    def explode_pixel_boost(temp_vision_frames: Any, pixel_boost_total: Any, model_size: Any,
                            pixel_boost_size: Any) -> Any:
        try:
            t, m0, m1 = int(pixel_boost_total), int(model_size[0]), int(model_size[1])
            p0, p1 = int(pixel_boost_size[0]), int(pixel_boost_size[1])
            tiles = list(temp_vision_frames)
        except (TypeError, ValueError, IndexError):
            return original(temp_vision_frames, pixel_boost_total, model_size, pixel_boost_size)
        ok = (t >= 1 and len(tiles) == t * t and (p0, p1) == (m0 * t, m1 * t) and tiles
              and all(isinstance(x, np.ndarray) and x.shape == (m0, m1, 3) for x in tiles))
        if ok:
            dt = tiles[0].dtype
            ok = dt in _BOOST_DTYPES and dt.isnative and all(x.dtype == dt for x in tiles)
        if ok:
            return _core().ff_explode(tiles, t)
        return original(temp_vision_frames, pixel_boost_total, model_size, pixel_boost_size)

    explode_pixel_boost.__wrapped__ = original  # type: ignore[attr-defined]
    return explode_pixel_boost


# --------------------------------------------------------------------------- crop preparation

_PROBE = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)  # 1 x 256 x 3: every byte value


def make_prepare_crop_frame(original: Callable[..., Any]) -> Callable[..., Any]:
    """A processor's ``prepare_crop_frame`` (uint8 H x W x 3 BGR crop -> float32
    1 x 3 x H x W RGB, per-channel arithmetic on each byte) as a table look-up.

    The table is FaceFusion's own function applied to the 256 byte values (on every
    call, so model options that changed are followed); ``cv2.LUT`` applies it. The
    first crop is also run through the original and compared bit for bit: a version
    whose preparation is not per-byte is left alone from then on.
    """
    import cv2

    state = {"checked": False, "ok": True}

    def via_table(crop: np.ndarray) -> Optional[np.ndarray]:
        ref = original(_PROBE)
        if not (isinstance(ref, np.ndarray) and ref.shape == (1, 3, 1, 256) and ref.dtype == np.float32):
            return None
        lut = np.ascontiguousarray(ref[0, ::-1, 0, :].T)[None]  # 1 x 256 x 3: BGR position c -> RGB channel 2 - c
        hwc = cv2.LUT(np.ascontiguousarray(crop), lut)
        return np.ascontiguousarray(hwc.transpose(2, 0, 1)[::-1])[None]

    def prepare_crop_frame(crop_vision_frame: Any) -> Any:
        c = crop_vision_frame
        if not (state["ok"] and isinstance(c, np.ndarray) and c.dtype == np.uint8 and c.ndim == 3
                and c.shape[2] == 3 and c.shape[0] * c.shape[1] >= 1024):
            return original(crop_vision_frame)
        got = via_table(c)
        if got is None:
            return original(crop_vision_frame)
        if not state["checked"]:
            want = original(crop_vision_frame)
            state["checked"] = True
            state["ok"] = isinstance(want, np.ndarray) and want.dtype == got.dtype and np.array_equal(
                want, got) and want.shape == got.shape
            return want
        return got

    prepare_crop_frame.__wrapped__ = original  # type: ignore[attr-defined]
    return prepare_crop_frame


# --------------------------------------------------------------------------- enhancer output


def _normalize_probe() -> np.ndarray:
    """3 x 32 x 32 float32 model outputs around every rounding edge of the enhancer's
    conversion (value k + 0.5 after scaling, a few ulps either side), the clip bounds,
    signed zeros, huge values and infinities."""
    edges = (2.0 * (np.arange(256) + 0.5) / 255.0 - 1.0).astype(np.float32)
    vals, up, down = [edges], edges, edges
    for _ in range(3):  # 1, 2 and 3 ulps either side
        up, down = np.nextafter(up, np.float32(2)), np.nextafter(down, np.float32(-2))
        vals += [up, down]
    special = np.array([-np.inf, -1e30, -2, -1.0000001, -1, -0.0, 0.0, 1, 1.0000001, 2, 1e30, np.inf, 1e-40, -1e-40],
                       np.float32)
    rest = 3 * 32 * 32 - 7 * 256 - len(special)
    flat = np.concatenate(vals + [special, np.linspace(-1.2, 1.2, rest, dtype=np.float32)])
    return flat.reshape(3, 32, 32)


def make_enhancer_normalize_crop_frame(original: Callable[..., Any]) -> Callable[..., Any]:
    """The face enhancer's ``normalize_crop_frame`` (float32 3 x H x W model output ->
    uint8 H x W x 3 BGR: clip to [-1, 1], (v + 1) / 2 * 255, round, uint8, channels
    reversed; five numpy passes) in one native pass, returned in FaceFusion's layout
    (the same strides for a C-contiguous model output). The first call also runs the
    original on that crop and on a probe of every rounding edge and both compare bit
    for bit (a mismatch turns the native pass off); NaN outputs and other dtypes go to
    the original."""
    state = {"checked": False, "ok": True}

    def native(c: np.ndarray) -> Optional[np.ndarray]:
        planar = _core().ff_enhancer_normalize(c)
        return None if planar is None else planar.transpose(1, 2, 0)[:, :, ::-1]

    def same(want: Any, got: Optional[np.ndarray]) -> bool:
        # values, dtype and shape (strides are FaceFusion's for a C-contiguous output, ONNX
        # Runtime's; numpy's astype keeps other layouts, which callers do not depend on)
        return (got is not None and isinstance(want, np.ndarray) and want.dtype == got.dtype
                and want.shape == got.shape and np.array_equal(want, got))

    def normalize_crop_frame(crop_vision_frame: Any) -> Any:
        c = crop_vision_frame
        if not (state["ok"] and isinstance(c, np.ndarray) and c.dtype == np.float32 and c.ndim == 3
                and c.shape[0] == 3 and c.shape[1] * c.shape[2] >= 1024):
            return original(crop_vision_frame)
        if not state["checked"]:
            want = original(crop_vision_frame)
            probe = _normalize_probe()
            state["checked"] = True
            state["ok"] = same(want, native(c)) and same(original(probe), native(probe))
            return want
        got = native(c)
        return original(crop_vision_frame) if got is None else got

    normalize_crop_frame.__wrapped__ = original  # type: ignore[attr-defined]
    return normalize_crop_frame


# --------------------------------------------------------------------------- enhancer blend

_last = threading.local()


def note_paste(frame: np.ndarray, out: np.ndarray, crop: np.ndarray, affine: np.ndarray) -> None:
    """Remembers (per thread) the last paste: ``out`` is ``frame`` with a box changed."""
    try:
        _last.rec = (weakref.ref(frame), weakref.ref(out), crop.shape[:2], np.array(affine))
    except TypeError:  # pragma: no cover - arrays always take weak references
        _last.rec = None


def _take_paste(frame: Any, out: Any) -> Optional[tuple[int, int, int, int]]:
    rec = getattr(_last, "rec", None)
    _last.rec = None
    if rec is None or rec[0]() is not frame or rec[1]() is not out:
        return None
    from ..reference import compat_facefusion as ref

    box, _ = ref.calculate_paste_area(frame, types.SimpleNamespace(shape=rec[2]), rec[3])
    return tuple(int(v) for v in box)  # type: ignore[return-value]


def make_blend_frame(original: Callable[..., Any]) -> Callable[..., Any]:
    """The face enhancer's ``blend_frame(temp, paste, factor)`` (a full-frame
    ``cv2.addWeighted``) folded into its paste: when ``paste`` is the frame
    :func:`facefuse.compat.facefusion.paste_back` just returned for ``temp``, the two
    differ only inside the paste box, and ``addWeighted(t, 1 - f, t, f, 0) == t`` for
    uint8 and 0 <= f <= 1; so the same ``cv2.addWeighted`` runs on the box alone,
    written into ``paste`` (FaceFusion drops that array right after), which is
    returned. Any other call goes to FaceFusion's function."""
    import cv2

    def blend_frame(source_vision_frame: Any, target_vision_frame: Any, blend_factor: Any) -> Any:
        box = _take_paste(source_vision_frame, target_vision_frame)
        s, t = source_vision_frame, target_vision_frame
        try:
            f = float(blend_factor)
        except (TypeError, ValueError):
            box = None
        if (box is None or not isinstance(s, np.ndarray) or not isinstance(t, np.ndarray) or s.dtype != np.uint8
                or t.dtype != np.uint8 or s.shape != t.shape or not 0.0 <= f <= 1.0 or not t.flags.writeable):
            return original(source_vision_frame, target_vision_frame, blend_factor)
        x1, y1, x2, y2 = box
        if x2 > x1 and y2 > y1:
            region = t[y1:y2, x1:x2]
            blended = cv2.addWeighted(s[y1:y2, x1:x2], 1 - f, region, f, 0)
            region[...] = blended
        return t

    blend_frame.__wrapped__ = original  # type: ignore[attr-defined]
    return blend_frame


# --------------------------------------------------------------------------- frame hash


def make_create_hash(original: Callable[..., Any]) -> Callable[..., Any]:
    """``face_store``'s ``create_hash`` (crc32 of the frame's bytes, used there only as
    the key of the detected-faces store) as a 64-bit native hash (~5x faster than crc32).
    Keys differ from crc32's (16 hex digits): faces stored before patch() are detected again."""

    def create_hash(content: Any) -> Any:
        if isinstance(content, (bytes, bytearray, memoryview)):
            return _core().ff_hash64(content)
        return original(content)

    create_hash.__wrapped__ = original  # type: ignore[attr-defined]
    return create_hash
