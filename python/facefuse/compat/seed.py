"""The seed pipeline's Phase-1 names, as thin shims over facefuse's core.

* :class:`TemporalSmoother` (``window_size``, ``alpha``, ``enable_adaptive``):
  :class:`facefuse.ops.TemporalSmoother` itself.
* :class:`QualityMonitor`: :class:`facefuse.ops.QualityMonitor` itself.
* :class:`EnhancedBlender`: paste a processed face crop back into its frame with the
  seed's blend methods, on :func:`facefuse.ops.paste_back`:

  ============  ==============================  ===========================
  ``method``    ``ops.paste_back(blend=...)``   what it does
  ============  ==============================  ===========================
  ``basic``     ``"alpha"``                     feathered alpha blend
  ``multiband`` ``"laplacian"``                 Laplacian-pyramid blend
  ``seamless``  ``"poisson"``                   gradient-domain (Poisson)
  ``poisson``   ``"poisson"``                   same as ``seamless``
  ============  ==============================  ===========================

  ``color_correction=True`` adds ``color="lab"`` (Reinhard LAB transfer of the crop
  towards the frame under the mask before blending).

Example::

    from facefuse.compat.seed import EnhancedBlender, TemporalSmoother
    blender = EnhancedBlender(method="multiband", color_correction=True)
    frame = blender.blend(frame, face_crop, crop_mask, affine)   # affine: frame -> crop, 2x3
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..ops import QualityMonitor, TemporalSmoother

__all__ = ["TemporalSmoother", "QualityMonitor", "EnhancedBlender", "BLEND_METHODS"]

#: seed method -> facefuse.ops.paste_back blend mode
BLEND_METHODS: dict[str, str] = {
    "basic": "alpha",
    "multiband": "laplacian",
    "seamless": "poisson",
    "poisson": "poisson",
}


class EnhancedBlender:
    """The seed's ``EnhancedBlender``: one configured paste-back.

    Args:
        method: ``"basic"``, ``"multiband"``, ``"seamless"`` or ``"poisson"`` (see the
            module docstring for what each maps to).
        color_correction: match the crop's LAB statistics to the frame's under the mask.
        levels: pyramid levels for ``"multiband"`` (>= 1; passed to ``paste_back``).

    ``blend(frame, crop, crop_mask, affine, out=None) -> frame`` calls
    ``facefuse.ops.paste_back(frame, crop, crop_mask, affine, blend=..., color=...,
    levels=levels, out=out)``: frame H x W x 3 (uint8 or float32), crop h x w x 3 of
    the same dtype, crop_mask h x w float32 in [0, 1] (uint8 0..255 accepted),
    affine 2x3 frame -> crop; batches of crops / masks / affines are accepted as by
    ``paste_back``. Returns the new frame (``out`` when given).
    """

    def __init__(self, method: str = "basic", color_correction: bool = False, levels: int = 5) -> None:
        if not isinstance(method, str) or method not in BLEND_METHODS:
            choices = ", ".join(repr(m) for m in BLEND_METHODS)
            raise ValueError(f"EnhancedBlender: argument 'method' must be one of {choices}, got {method!r}")
        if isinstance(levels, (bool, np.bool_)) or not isinstance(levels, (int, np.integer)):
            raise TypeError(f"EnhancedBlender: argument 'levels' must be an int, got {type(levels).__name__}")
        if levels < 1:
            raise ValueError(f"EnhancedBlender: argument 'levels' must be >= 1, got {levels}")
        self.method = method
        self.color_correction = bool(color_correction)
        self.levels = int(levels)

    @property
    def blend_mode(self) -> str:
        """The ``paste_back`` blend mode this method maps to."""
        return BLEND_METHODS[self.method]

    @property
    def color(self) -> Optional[str]:
        """The ``paste_back`` colour mode: ``"lab"`` with colour correction, else None."""
        return "lab" if self.color_correction else None

    def blend(self, frame: Any, crop: Any, crop_mask: Any, affine: Any, out: Optional[np.ndarray] = None) -> np.ndarray:
        from ..ops import paste_back

        return paste_back(frame, crop, crop_mask, affine, blend=self.blend_mode, color=self.color,
                          levels=self.levels, out=out)

    def __repr__(self) -> str:
        return (f"EnhancedBlender(method={self.method!r}, color_correction={self.color_correction}, "
                f"levels={self.levels})")
