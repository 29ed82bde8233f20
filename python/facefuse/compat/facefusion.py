"""FaceFusion 3.5-3.8 drop-in: ``paste_back`` and the other per-face hot paths, native.

Use it directly::

    from facefuse.compat.facefusion import paste_back
    frame = paste_back(temp_vision_frame, crop_vision_frame, crop_mask, affine_matrix)

or swap it into a running FaceFusion::

    from facefuse.compat import facefusion as ff_compat
    ff_compat.patch()     # after FaceFusion's processors are imported (call again if more are)
    ...                   # run FaceFusion as usual
    ff_compat.unpatch()   # the original functions are back (the identical objects)

What :func:`patch` swaps (``_TARGETS``; each replacement calls FaceFusion's own
function for any input it does not handle):

* ``face_helper.paste_back`` -> :func:`paste_back`, plus every ``facefusion.*``
  attribute bound to it (the processors' ``from ... import paste_back`` copies);
  within 1 grey level on every pixel (below);
* ``face_masker.create_box_mask`` (and copies) -> cached by (crop size, blur,
  padding): a miss runs FaceFusion's function, a hit returns a copy: bit-identical;
* ``processors.pixel_boost.implode_pixel_boost`` / ``explode_pixel_boost`` (and
  copies) -> native tile shuffles: bit-identical;
* ``face_swapper`` / ``face_enhancer`` ``prepare_crop_frame`` -> a 256-entry table
  made by FaceFusion's own function from every byte value (on each call, so model
  options are followed) applied with ``cv2.LUT``; the first crop is checked against
  the original bit for bit (a mismatch turns the table off): bit-identical;
* ``face_enhancer``'s ``blend_frame`` -> folded into the paste: ``cv2.addWeighted``
  on the paste box only, written into the pasted frame (outside the box the two
  frames are equal and ``addWeighted(t, 1 - f, t, f, 0) == t``): bit-identical;
* ``face_enhancer``'s ``normalize_crop_frame`` (float32 model output -> uint8 crop,
  five numpy passes) -> one native pass in FaceFusion's layout; the first call is
  checked against the original on that crop and on a probe of every rounding edge
  (a mismatch turns it off), NaN outputs go to the original: bit-identical;
* ``face_store``'s ``create_hash`` (a cache key only there) -> a 64-bit native hash
  instead of crc32: other keys, same store behaviour.

Not swapped: the swappers' ``normalize_crop_frame`` (per-model branches; two numpy
passes), the full-frame copy inside ``paste_back`` (FaceFusion's
callers keep the input frame: the enhancer blends with it), ``warp_face_by_*``
(cv2), ``vision.match_frame_color`` (not facefuse's colour transfer).

Semantics of :func:`paste_back` (``facefuse.reference.compat_facefusion``:
``paste_back`` is FaceFusion's way with cv2, ``paste_back_model`` the kernel bit for
bit): the paste box from the crop's integer corners through the inverted affine,
each rounded half to even (cv2.transform of FaceFusion's int corner array),
clipped to the frame; crop (replicated border) and mask (0 border, clipped to
[0, 1] after the warp) warped into it; ``frame * (1 - mask) + crop * mask`` in
numpy's dtype promotion, truncated to uint8. Crops and masks of any strides are read
in place. The warps follow the installed OpenCV's arithmetic:

* OpenCV 5.x: uint8 and float32 crops and float32 masks with its float arithmetic
  (``facefuse.ops.warp_affine``), float64 ones with its 1/32-px quantised path
  (bit-equal). 5.x's float warp itself changes in the last bits with its CPU
  dispatch, so a uint8 sample can round either way at a .5 tie; there the kernel
  keeps the unrounded value (``reference.compat_facefusion.u8_tie_sample``), which
  keeps FaceFusion's truncating blend within 1 grey level whichever way cv2 rounded.
* OpenCV 4.x: float crops and masks with the 1/32-px quantised path, uint8 crops
  with 4.x's 15-bit fixed point (``warp_affine_fixed_u8``); both bit-equal to 4.10 /
  4.12's cv2.warpAffine.

Measured against FaceFusion 3.8.1's own ``paste_back``, every call of its processors
replayed (bench/facefusion_patch.py, "per paste"): at most 1 grey level on OpenCV 5.1
for uint8, float32 and float64 crops; on 4.12 likewise (README, bench/RESULTS.md).
A whole FaceFusion frame can differ by 2 where processors chain (a face enhanced on
a frame the swapper left 1 off, or faces overlapping).

A crop entirely outside the frame returns an unchanged copy; FaceFusion raises
ValueError there. Inputs the kernel does not take (uint8 masks, other dtypes,
non-arrays) are served by the reference, which computes what FaceFusion does.
"""
from __future__ import annotations

import importlib
import sys
import threading
from typing import Any, Callable

import numpy as np

from ..reference import compat_facefusion as _ref
from . import _ff_hot as _hot


def _core() -> Any:
    from .. import _core as core  # the CPU core (this drop-in is host-only)

    return core

__all__ = ["paste_back", "patch", "unpatch", "is_patched", "patched_targets"]

_CROP_DTYPES = (np.dtype(np.uint8), np.dtype(np.float32), np.dtype(np.float64))
_FRAME_DTYPES = (np.dtype(np.uint8), np.dtype(np.float32))
_MASK_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _cv2_major() -> int:
    import cv2

    try:
        return int(str(cv2.__version__).split(".")[0])
    except ValueError:  # pragma: no cover - odd version strings
        return 5


#: OpenCV 4.x warps float32 images with 1/32-px positions and uint8 ones in 15-bit
#: fixed point at those positions; 5.x warps both in float. The kernel emulates either.
_CV2_4 = _cv2_major() < 5


def _native_ok(frame: Any, crop: Any, mask: Any, affine: Any) -> bool:
    if not (isinstance(frame, np.ndarray) and isinstance(crop, np.ndarray) and isinstance(mask, np.ndarray)
            and isinstance(affine, np.ndarray)):
        return False
    if frame.dtype not in _FRAME_DTYPES or crop.dtype not in _CROP_DTYPES or mask.dtype not in _MASK_DTYPES:
        return False
    if frame.ndim != 3 or frame.shape[2] != 3 or crop.ndim != 3 or crop.shape[2] != 3:
        return False
    if min(frame.shape[0], frame.shape[1], crop.shape[0], crop.shape[1]) < 1:
        return False
    if mask.shape[:2] != crop.shape[:2] or not (mask.ndim == 2 or (mask.ndim == 3 and mask.shape[2] == 1)):
        return False
    return affine.shape == (2, 3) and affine.dtype in _MASK_DTYPES


def paste_back(temp_vision_frame: np.ndarray, crop_vision_frame: np.ndarray, crop_mask: np.ndarray,
               affine_matrix: np.ndarray) -> np.ndarray:
    """FaceFusion 3.5-3.8 ``face_helper.paste_back`` in one native pass.

    Args:
        temp_vision_frame: H x W x 3 frame, uint8 BGR (or float32 on the 0..255 scale).
        crop_vision_frame: h x w x 3 processed crop: uint8, float32 or float64, any
            strides (FaceFusion's transposed / channel-reversed model outputs are read
            in place).
        crop_mask: h x w (or h x w x 1) float32 / float64 mask; values outside [0, 1]
            are clipped after the warp, as FaceFusion clips them.
        affine_matrix: 2x3 frame -> crop affine (the one the crop was warped with).

    Returns:
        A new frame, same shape and dtype; the input frame is not modified. Within 1
        grey level of FaceFusion's own ``paste_back`` on every pixel (module
        docstring). A crop entirely outside the frame returns an unchanged copy
        (FaceFusion raises ValueError there).

    Raises:
        ValueError: a singular or non-finite affine (as FaceFusion, which fails in cv2).
    """
    if not _native_ok(temp_vision_frame, crop_vision_frame, crop_mask, affine_matrix):
        return _ref.paste_back(temp_vision_frame, crop_vision_frame, crop_mask, affine_matrix)
    out = _core().ff_paste_back(temp_vision_frame, crop_vision_frame, crop_mask, affine_matrix, _CV2_4)
    _hot.note_paste(temp_vision_frame, out, crop_vision_frame, affine_matrix)
    return out


# --------------------------------------------------------------------------- patching

# (module, attribute, replacement factory, sweep): sweep = also swap every other
# facefusion.* attribute bound to the same original (``from x import f`` copies).
_TARGETS: tuple[tuple[str, str, Callable[[Any], Any], bool], ...] = (
    ("facefusion.face_helper", "paste_back", lambda original: paste_back, True),
    ("facefusion.face_masker", "create_box_mask", _hot.make_create_box_mask, True),
    ("facefusion.processors.pixel_boost", "implode_pixel_boost", _hot.make_implode_pixel_boost, True),
    ("facefusion.processors.pixel_boost", "explode_pixel_boost", _hot.make_explode_pixel_boost, True),
    ("facefusion.face_store", "create_hash", _hot.make_create_hash, False),
    ("facefusion.processors.modules.face_enhancer.core", "blend_frame", _hot.make_blend_frame, False),
    ("facefusion.processors.modules.face_enhancer.core", "prepare_crop_frame", _hot.make_prepare_crop_frame, False),
    ("facefusion.processors.modules.face_enhancer.core", "normalize_crop_frame",
     _hot.make_enhancer_normalize_crop_frame, False),
    ("facefusion.processors.modules.face_swapper.core", "prepare_crop_frame", _hot.make_prepare_crop_frame, False),
)
# Imported by patch() itself (cheap helpers); the processor modules only when already imported.
_IMPORT = ("facefusion.face_helper", "facefusion.face_masker", "facefusion.processors.pixel_boost",
           "facefusion.face_store")

_lock = threading.RLock()
# (module, attribute) of a target -> (original, replacement)
_active: dict[tuple[str, str], tuple[Any, Any]] = {}
# id(original) -> (original, its replacement), kept for the process: a later patch()
# puts the same replacement back, its caches (at most 32 box masks) and first-call
# checks already done (a replacement holds its original, so a weak map would not free it)
_made: dict[int, tuple[Any, Any]] = {}


def _replacement(original: Any, make: Callable[[Any], Any]) -> Any:
    hit = _made.get(id(original))
    if hit is None or hit[0] is not original:
        hit = (original, make(original))
        _made[id(original)] = hit
    return hit[1]
_swapped: list[tuple[str, str]] = []     # every (module name, attribute) set to a replacement


def _facefusion_modules() -> list[tuple[str, Any]]:
    return [(name, mod) for name, mod in list(sys.modules.items())
            if mod is not None and (name == "facefusion" or name.startswith("facefusion."))]


def _set(mod_name: str, mod: Any, attr: str, value: Any) -> None:
    setattr(mod, attr, value)
    if (mod_name, attr) not in _swapped:
        _swapped.append((mod_name, attr))


def patch() -> list[str]:
    """Swap FaceFusion's per-face hot paths for facefuse's (see the module docstring).

    Safe to call again: it also swaps what FaceFusion modules imported since the last
    call hold (call it again after FaceFusion imports its processors). Returns the
    swapped attributes as ``"module.attr"`` names.

    Raises:
        ImportError: FaceFusion (``facefusion.face_helper``) is not importable.
    """
    try:
        importlib.import_module("facefusion.face_helper")
    except ImportError as exc:
        raise ImportError(
            "facefuse.compat.facefusion.patch(): FaceFusion is not importable "
            f"(import facefusion.face_helper failed: {exc}). Run this inside FaceFusion's "
            "environment, or put FaceFusion's checkout on sys.path / PYTHONPATH, before calling "
            "patch(); without FaceFusion, call facefuse.compat.facefusion.paste_back directly."
        ) from exc
    with _lock:
        for name in _IMPORT[1:]:
            try:
                importlib.import_module(name)
            except ImportError:  # a FaceFusion without this helper: its target is skipped
                pass
        for mod_name, attr, make, sweep in _TARGETS:
            mod = sys.modules.get(mod_name)
            if mod is None:
                continue
            if (mod_name, attr) not in _active:
                current = getattr(mod, attr, None)
                if current is None or not callable(current):
                    if mod_name == "facefusion.face_helper":
                        raise ImportError("facefuse.compat.facefusion.patch(): facefusion.face_helper has no "
                                          "paste_back (unsupported FaceFusion version; 3.5-3.8 expected)")
                    continue
                if getattr(current, "__module__", "").startswith("facefuse."):
                    continue  # patched by another copy of this module: nothing to learn
                _active[(mod_name, attr)] = (current, _replacement(current, make))
            original, replacement = _active[(mod_name, attr)]
            if getattr(mod, attr, None) is original:
                _set(mod_name, mod, attr, replacement)
            if sweep:
                for name, other in _facefusion_modules():
                    try:
                        attrs = [k for k, v in vars(other).items() if v is original]
                    except TypeError:  # pragma: no cover - modules without __dict__
                        continue
                    for a in attrs:
                        _set(name, other, a, replacement)
        return patched_targets()


def unpatch() -> None:
    """Put FaceFusion's original functions back (the identical objects). No-op when not patched.

    A later :func:`patch` puts the same replacements back (their box-mask cache and
    first-call checks kept)."""
    with _lock:
        if not _active:
            return
        back = {id(rep): orig for orig, rep in _active.values()}
        for name, attr in _swapped:
            mod = sys.modules.get(name)
            value = getattr(mod, attr, None) if mod is not None else None
            if value is not None and id(value) in back:
                setattr(mod, attr, back[id(value)])
        # Modules imported after patch() copied a replacement from its module: restore them too.
        for _name, mod in _facefusion_modules():
            try:
                items = [(k, v) for k, v in vars(mod).items() if id(v) in back]
            except TypeError:  # pragma: no cover
                continue
            for k, v in items:
                if any(v is rep for _o, rep in _active.values()):
                    setattr(mod, k, back[id(v)])
        _swapped.clear()
        _active.clear()


def is_patched() -> bool:
    """True between :func:`patch` and :func:`unpatch`."""
    return bool(_active)


def patched_targets() -> list[str]:
    """The ``"module.attr"`` names currently swapped by :func:`patch`."""
    with _lock:
        return [f"{m}.{a}" for m, a in _swapped]
