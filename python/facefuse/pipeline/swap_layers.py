"""What FaceFusion adds on top of a bare swap, per face: model masks and the enhancer layer.

:class:`SwapLayers` is the part of :class:`~facefuse.pipeline.swap_frames.FrameSwapper`'s
``model`` stage that comes after the swap model, for all faces of a batch of frames at once:

* the paste mask of each swapped crop: FaceFusion's minimum of the box mask (``mask_blur``,
  ``mask_padding``), the occlusion mask of the input crop and the region mask of the swapped
  crop (:class:`facefuse.models.FaceMasker`, one model run for all faces);
* the enhancer layer: the enhancer's crop of the *swapped* face (its template, e.g. ffhq_512),
  enhanced (one run for all faces when the file's batch dim is open), with its own mask (box
  with ``mask_blur`` and no padding, and occlusion when on) times ``enhancer_blend / 100``.

FaceFusion pastes the swap into the frame, then crops the enhancer's input from that frame.
Here the swapped crop is pasted into the enhancer's crop of the original frame instead (one
batched :func:`facefuse.paste_back` over all faces, crop to crop, alpha under the swap's
mask): the same pixels up to the resampling, without a second pass over the frame, so the
frame gets both layers in one paste-back call (alpha blend, no colour transfer) or two
(the swap's laplacian / poisson blend or LAB colour transfer applies to its layer only).
Where two faces overlap, each face's enhancer input holds its own swap only.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple

import numpy as np

from ..ops._common import check_int, check_names, check_real

__all__ = ["SwapLayers", "check_layer_options", "MASK_TYPES"]

#: The mask types of ``--mask`` (FaceFusion's ``--face-mask-types`` less ``area``).
MASK_TYPES = ("box", "occlusion", "region")


def check_layer_options(fn: str, mask_types: Any, mask_blur: Any, mask_padding: Any, mask_regions: Any,
                        enhancer_blend: Any) -> Tuple[Tuple[str, ...], Tuple[int, int, int, int]]:
    """The contract of the mask / enhancer options; ``(mask_types, padding)`` normalised."""
    from ..models.masker import check_regions

    check_names(fn, "mask_types", mask_types, MASK_TYPES, "type")
    check_real(fn, "mask_blur", mask_blur, 0.0, 1.0)
    pad = mask_padding
    if isinstance(pad, (int, np.integer)) and not isinstance(pad, bool):
        pad = (pad,) * 4
    if not isinstance(pad, (list, tuple)) or len(pad) not in (1, 2, 3, 4):
        raise ValueError(f"{fn}: argument 'mask_padding' must be 1 to 4 ints in [0, 100] (top right bottom "
                         f"left, as FaceFusion), got {mask_padding!r}")
    pad = [check_int(fn, "mask_padding", p, 0, 100) for p in pad]
    # FaceFusion's shorthand, as CSS: (all), (top+bottom, sides), (top, sides, bottom)
    pad = {1: pad * 4, 2: pad * 2, 3: pad + pad[1:2], 4: pad}[len(pad)]
    if "region" in mask_types:
        check_regions(fn, list(mask_regions) if isinstance(mask_regions, tuple) else mask_regions)
    check_int(fn, "enhancer_blend", enhancer_blend, 0, 100)
    return tuple(dict.fromkeys(mask_types)), (pad[0], pad[1], pad[2], pad[3])


class SwapLayers:
    """The masks and enhancer layer of a swap (see the module docstring).

    ``crop_size``: the swapped crops' size (the pixel boost size); ``masker`` is needed for the
    occlusion / region types, ``enhancer`` (a :class:`facefuse.models.FaceEnhancer`) is
    optional. Host arrays only.
    """

    def __init__(self, crop_size: int, *, mask_types: Sequence[str] = ("box",), mask_blur: float = 0.3,
                 mask_padding: Any = (0, 0, 0, 0), mask_regions: Sequence[str] = (), masker: Any = None,
                 enhancer: Any = None, enhancer_blend: int = 80) -> None:
        from ..models.align import box_mask

        fn = "FrameSwapper"
        types, pad = check_layer_options(fn, mask_types, mask_blur, mask_padding, mask_regions, enhancer_blend)
        if ("occlusion" in types or "region" in types) and masker is None:
            raise ValueError(f"{fn}: mask types 'occlusion' / 'region' need argument 'masker' (a FaceMasker)")
        self.types = types
        self.regions = list(mask_regions)
        self.masker = masker
        self.enhancer = enhancer
        self.blend = int(enhancer_blend) / 100.0
        self.box = box_mask(crop_size, float(mask_blur), pad) if "box" in types else None
        self.enhancer_box = enhancer.crop_mask(float(mask_blur)) if enhancer is not None else None

    @property
    def active(self) -> bool:
        """Whether these layers change anything beyond the box mask."""
        return self.enhancer is not None or self.types != ("box",)

    def swap_masks(self, crops: np.ndarray, swapped: np.ndarray, model_masks: Optional[np.ndarray]) -> np.ndarray:
        """[K, B, B] paste masks of K swapped faces: the minimum of the box, occlusion (of the
        input ``crops``), region (of ``swapped``) and the swap model's own masks, clipped to
        [0, 1] (the box, occlusion and region masks are in [0, 1]: combined in place)."""
        k = crops.shape[0]
        m: Optional[np.ndarray] = None
        if "occlusion" in self.types:
            m = self.masker.occlusion_stack(crops)
        if "region" in self.types:
            r = np.stack(self.masker.region(swapped, self.regions))
            m = r if m is None else np.minimum(m, r, out=m)
        if self.box is not None:
            if m is None:
                m = np.empty((k,) + self.box.shape, np.float32)
                m[...] = self.box
            else:
                np.minimum(m, self.box, out=m)
        assert m is not None  # the mask types are a non-empty subset of MASK_TYPES
        if model_masks is not None:
            np.minimum(m, np.asarray(model_masks, np.float32), out=m)
            np.clip(m, 0.0, 1.0, out=m)
        return m

    def enhancer_inputs(self, enh_crops: np.ndarray, enh_affines: np.ndarray, swapped: np.ndarray,
                        masks: np.ndarray, affines: np.ndarray) -> np.ndarray:
        """[K, E, E, 3]: the swapped crops pasted (alpha, under ``masks``) into the enhancer's crops
        of the original frame, crop to crop, all faces in one :func:`facefuse.paste_back`.

        ``enh_crops`` / ``enh_affines``: the enhancer's crops of the original frame (pasted into
        in place when C-contiguous and writeable) and their frame -> crop matrices; ``swapped`` / ``masks`` / ``affines``: the swap layer."""
        from ..ops import paste_back

        k = enh_crops.shape[0]
        # enhancer crop -> swap crop: the swap's frame -> crop after the enhancer's crop -> frame
        to3 = np.zeros((k, 3, 3), np.float64)
        to3[:, :2] = enh_affines
        to3[:, 2, 2] = 1.0
        crop_to_crop = np.asarray(affines, np.float64) @ np.linalg.inv(to3)
        out = enh_crops if enh_crops.flags.c_contiguous and enh_crops.flags.writeable else None
        return paste_back(enh_crops, swapped, masks, crop_to_crop, blend="alpha", out=out,
                          frame_index=list(range(k)))

    def enhance(self, enh_crops: np.ndarray, enh_affines: np.ndarray, swapped: np.ndarray, masks: np.ndarray,
                affines: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """The enhancer layer of K faces: ``(enhanced [K, E, E, 3] uint8, masks [K, E, E] float32)``
        (arguments: :meth:`enhancer_inputs`'s)."""
        inputs = self.enhancer_inputs(enh_crops, enh_affines, swapped, masks, affines)
        k = inputs.shape[0]
        if "occlusion" in self.types:
            m = self.masker.occlusion_stack(inputs)
            np.minimum(m, self.enhancer_box, out=m)
        else:
            m = np.empty((k,) + self.enhancer_box.shape, np.float32)
            m[...] = self.enhancer_box
        m *= np.float32(self.blend)
        return self.enhancer.enhance(inputs), m
