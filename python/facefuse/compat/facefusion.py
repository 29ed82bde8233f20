"""FaceFusion 3.x drop-in: ``paste_back`` with FaceFusion's exact semantics, on the native core.

Use it directly::

    from facefuse.compat.facefusion import paste_back
    frame = paste_back(temp_vision_frame, crop_vision_frame, crop_mask, affine_matrix)

or swap it into a running FaceFusion::

    from facefuse.compat import facefusion as ff_compat
    ff_compat.patch()     # before or after FaceFusion's processors are imported
    ...                   # run FaceFusion as usual
    ff_compat.unpatch()   # the original functions are back

What :func:`patch` swaps (and nothing else):

* ``facefusion.face_helper.paste_back`` -> :func:`paste_back`;
* every attribute of an already-imported ``facefusion`` / ``facefusion.*`` module
  that is bound to that same original function object (the processors do
  ``from facefusion.face_helper import paste_back``: face_swapper, face_enhancer,
  lip_syncer, expression_restorer, age_modifier, deep_swapper, face_editor, ...).
  Modules imported after ``patch()`` pick up the replacement from face_helper.

Other FaceFusion code paths were checked and are NOT swapped, because facefuse's
ops do not compute the same thing: ``vision.match_frame_color`` (multi-scale
low-frequency colour equalisation, not facefuse's Reinhard LAB ``color_transfer``),
``blend_frame`` / ``blend_vision_frames`` (``cv2.addWeighted``, already native),
the mask builders of ``face_masker`` and ``warp_face_by_*`` (cv2 calls). FaceFusion
has no Laplacian, Poisson, landmark-smoothing or tPSNR path to replace.

Semantics of :func:`paste_back` (``facefuse.reference.compat_facefusion`` is the
NumPy / cv2 oracle): paste box = the crop's corners mapped back through the
inverted affine, floor / ceil, clipped to the frame; crop and mask warped back
bilinearly (crop with replicated borders, mask with 0 outside, clipped to [0, 1]);
``frame * (1 - mask) + crop * mask`` in floating point, cast back to the frame's
dtype; the input frame is not modified. Pixels outside the paste box are
bit-identical. Inside it, facefuse samples with its own bilinear semantics
(``facefuse.ops.warp_affine``) and rounds where FaceFusion's ``astype``
truncates: with FaceFusion 3.8's pinned OpenCV 5.0 (and 5.1) results are within
2 grey levels of FaceFusion's (1 where only the rounding differs); with the
OpenCV 4.x of FaceFusion 3.7 and older, within 10 (4.x quantises warp positions
to 1/32 px). Bounds: ``facefuse.reference.paste.cv2_tolerance``.

Inputs the native kernel does not take are served by the reference itself, so
the function is safe as a drop-in for any call FaceFusion's own would accept:
frames other than uint8 / float32 H x W x 3, a crop whose dtype differs from the
frame's, uint8 masks (FaceFusion warps them as integers and clips to {0, 1}) and
masks with values outside [0, 1] (FaceFusion clips after the warp, the kernel
before and after). A mask that leaves [0, 1] by float rounding only (within
``MASK_SLACK``, e.g. cv2.GaussianBlur's 1.0000001) stays native: the kernel pastes
it exactly as the mask clipped to [0, 1], within a thousandth of a grey level of
FaceFusion's clip after the warp.
"""
from __future__ import annotations

import importlib
import sys
import threading
from typing import Any, Optional

import numpy as np

from .. import ops as _ops
from ..reference import compat_facefusion as _ref

__all__ = ["paste_back", "patch", "unpatch", "is_patched", "patched_targets"]

_NATIVE_DTYPES = (np.dtype(np.uint8), np.dtype(np.float32))

#: How far outside [0, 1] a mask may reach and still take the native path: float
#: rounding of a blurred or resized [0, 1] mask (a few float32 ulps of 1).
MASK_SLACK = 1e-6


def _native_ok(frame: Any, crop: Any, mask: Any, affine: Any) -> bool:
    if not (isinstance(frame, np.ndarray) and isinstance(crop, np.ndarray) and isinstance(mask, np.ndarray)):
        return False
    if frame.dtype not in _NATIVE_DTYPES or crop.dtype != frame.dtype:
        return False
    if frame.ndim != 3 or frame.shape[2] != 3 or crop.ndim != 3 or crop.shape[2] != 3:
        return False
    if frame.shape[0] < 1 or frame.shape[1] < 1 or crop.shape[0] < 1 or crop.shape[1] < 1:
        return False
    if mask.dtype.kind != "f" or mask.shape[:2] != crop.shape[:2] or mask.ndim not in (2, 3):
        return False
    if mask.ndim == 3 and mask.shape[2] != 1:
        return False
    a = np.asarray(affine)
    if a.shape != (2, 3) or a.dtype not in (np.float32, np.float64) or not np.all(np.isfinite(a)):
        return False
    if np.linalg.det(a[:, :2].astype(np.float64)) == 0.0:
        return False
    # FaceFusion clips the mask after warping it; the kernel clips its values before
    # (and after). The same result for a mask in [0, 1], and within MASK_SLACK * 255
    # grey levels for one that a blur left a few ulps outside.
    lo, hi = float(mask.min()), float(mask.max())
    return -MASK_SLACK <= lo and hi <= 1.0 + MASK_SLACK  # also False for NaN


def paste_back(temp_vision_frame: np.ndarray, crop_vision_frame: np.ndarray, crop_mask: np.ndarray,
               affine_matrix: np.ndarray) -> np.ndarray:
    """FaceFusion 3.x ``face_helper.paste_back`` on facefuse's native paste-back.

    Args:
        temp_vision_frame: H x W x 3 frame, uint8 BGR (or float32 on the 0..255 scale).
        crop_vision_frame: h x w x 3 processed crop, same dtype as the frame.
        crop_mask: h x w (or h x w x 1) float mask in [0, 1].
        affine_matrix: 2x3 frame -> crop affine (the one the crop was warped with).

    Returns:
        A new frame, same shape and dtype; the input frame is not modified.
        Within 2 grey levels of FaceFusion's own ``paste_back`` on OpenCV 5.x
        (10 on OpenCV 4.x); see the module docstring.
    """
    if not _native_ok(temp_vision_frame, crop_vision_frame, crop_mask, affine_matrix):
        return _ref.paste_back(temp_vision_frame, crop_vision_frame, crop_mask, affine_matrix)
    mask = crop_mask[..., 0] if crop_mask.ndim == 3 else crop_mask
    # the affine keeps its dtype: FaceFusion inverts a float32 matrix in float32
    return _ops.paste_back(temp_vision_frame, crop_vision_frame, mask, np.asarray(affine_matrix), blend="alpha")


# --------------------------------------------------------------------------- patching

_lock = threading.RLock()
_original: Optional[Any] = None          # facefusion.face_helper.paste_back as found
_swapped: list[tuple[str, str]] = []     # (module name, attribute) set to our paste_back


def _facefusion_modules() -> list[tuple[str, Any]]:
    return [(name, mod) for name, mod in list(sys.modules.items())
            if mod is not None and (name == "facefusion" or name.startswith("facefusion."))]


def patch() -> list[str]:
    """Swap FaceFusion's paste-back for :func:`paste_back` (see the module docstring).

    Safe to call again: it also swaps the copies held by FaceFusion modules imported
    since the last call. Returns the swapped attributes as ``"module.attr"`` names.

    Raises:
        ImportError: FaceFusion (``facefusion.face_helper``) is not importable.
    """
    global _original
    try:
        face_helper = importlib.import_module("facefusion.face_helper")
    except ImportError as exc:
        raise ImportError(
            "facefuse.compat.facefusion.patch(): FaceFusion is not importable "
            f"(import facefusion.face_helper failed: {exc}). Run this inside FaceFusion's "
            "environment, or put FaceFusion's checkout on sys.path / PYTHONPATH, before calling "
            "patch(); without FaceFusion, call facefuse.compat.facefusion.paste_back directly."
        ) from exc
    with _lock:
        current = getattr(face_helper, "paste_back", None)
        if current is None:
            raise ImportError("facefuse.compat.facefusion.patch(): facefusion.face_helper has no paste_back "
                              "(unsupported FaceFusion version; 3.x expected)")
        if _original is None:
            if current is paste_back:  # patched by another copy of this module: nothing to learn
                return patched_targets()
            _original = current
        for name, mod in _facefusion_modules():
            try:
                attrs = [k for k, v in vars(mod).items() if v is _original]
            except TypeError:  # pragma: no cover - modules without __dict__
                continue
            for attr in attrs:
                setattr(mod, attr, paste_back)
                if (name, attr) not in _swapped:
                    _swapped.append((name, attr))
        return patched_targets()


def unpatch() -> None:
    """Put FaceFusion's original functions back (the identical objects). No-op when not patched."""
    global _original
    with _lock:
        if _original is None:
            return
        for name, attr in _swapped:
            mod = sys.modules.get(name)
            if mod is not None and getattr(mod, attr, None) is paste_back:
                setattr(mod, attr, _original)
        # Modules imported after patch() copied our function from face_helper: restore them too.
        for _name, mod in _facefusion_modules():
            try:
                attrs = [k for k, v in vars(mod).items() if v is paste_back]
            except TypeError:  # pragma: no cover
                continue
            for attr in attrs:
                setattr(mod, attr, _original)
        _swapped.clear()
        _original = None


def is_patched() -> bool:
    """True between :func:`patch` and :func:`unpatch`."""
    return _original is not None


def patched_targets() -> list[str]:
    """The ``"module.attr"`` names currently swapped by :func:`patch`."""
    with _lock:
        return [f"{m}.{a}" for m, a in _swapped]
