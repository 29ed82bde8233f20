"""Face masks from models, with FaceFusion 3.x's files and conventions: occlusion and region.

* occlusion (``xseg_1`` / ``xseg_2`` / ``xseg_3``, release models-3.1.0 / 3.1.0 / 3.2.0, or
  ``many``: the minimum of the three): ``input`` [N, 256, 256, 3] float32 BGR / 255 (NHWC, no
  mean) -> [N, 256, 256, 1] in [0, 1], 1 where the face is visible.
* region (``bisenet_resnet_18`` models-3.1.0, ``bisenet_resnet_34`` models-3.0.0, the face
  parser): ``input`` [N, 3, 512, 512] float32 RGB, ImageNet mean / std -> [N, 19, 512, 512]
  class scores; the mask is 1 where the arg-max class is one of the asked regions
  (:data:`FACE_MASK_REGIONS`, FaceFusion's class numbers).

Both are resized back to the crop (bilinear) and softened as FaceFusion does: Gaussian blur
sigma 5 (in crop pixels), ``(clip(m, 0.5, 1) - 0.5) * 2``. FaceFusion resizes first and blurs
at crop size; for a crop larger than the model's mask facefuse blurs at the model's resolution
(or half the crop's, whichever is larger) with the sigma scaled to it, then resizes: the same
mask up to the resampling (a 256 mask to a 512 crop: within 0.002 farther than 16 px from the
crop's edge, up to ~0.07 nearer it, where the blur's border reflection differs; see
:func:`soften_mask`) at a quarter of the cost. The crops of all faces go through the model in
one run when its batch dim is open. FaceFusion combines the masks with the box mask by their
pixel-wise minimum (:func:`combine_masks`).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..inference import InferencePool, ModelSpec
from ._model_checks import check_positional, is_dynamic

__all__ = ["OCCLUDER_SPECS", "PARSER_SPECS", "OCCLUDER_MODELS", "FACE_MASK_REGIONS", "MASK_TYPES", "FaceMasker",
           "combine_masks", "soften_mask"]

_FF_HINT = "FaceFusion users have it in <facefusion>/.assets/models/ (downloaded there on first use)"
_OCCLUDER_SIZE = 256
_PARSER_SIZE = 512
_IMAGENET_MEAN = np.array((0.485, 0.456, 0.406), np.float32)
_IMAGENET_STD = np.array((0.229, 0.224, 0.225), np.float32)

#: FaceFusion's mask types that facefuse makes (its ``area`` type, from 68 landmarks, is not here).
MASK_TYPES = ("box", "occlusion", "region")
#: Region name -> the face parser's class number (FaceFusion ``face_mask_region_set``).
FACE_MASK_REGIONS: Dict[str, int] = {
    "skin": 1, "left-eyebrow": 2, "right-eyebrow": 3, "left-eye": 4, "right-eye": 5, "glasses": 6,
    "nose": 10, "mouth": 11, "upper-lip": 12, "lower-lip": 13,
}


def _spec(name: str, release: str, shape: Tuple[Any, ...]) -> ModelSpec:
    return ModelSpec(name=name, file_name=f"{name}.onnx", inputs={"input": (shape, np.float32)}, outputs={},
                     source=f"{name}.onnx (FaceFusion {release}); {_FF_HINT}")


OCCLUDER_SPECS: Dict[str, ModelSpec] = {
    "xseg_1": _spec("xseg_1", "models-3.1.0", (None, _OCCLUDER_SIZE, _OCCLUDER_SIZE, 3)),
    "xseg_2": _spec("xseg_2", "models-3.1.0", (None, _OCCLUDER_SIZE, _OCCLUDER_SIZE, 3)),
    "xseg_3": _spec("xseg_3", "models-3.2.0", (None, _OCCLUDER_SIZE, _OCCLUDER_SIZE, 3)),
}
PARSER_SPECS: Dict[str, ModelSpec] = {
    "bisenet_resnet_18": _spec("bisenet_resnet_18", "models-3.1.0", (None, 3, _PARSER_SIZE, _PARSER_SIZE)),
    "bisenet_resnet_34": _spec("bisenet_resnet_34", "models-3.0.0", (None, 3, _PARSER_SIZE, _PARSER_SIZE)),
}
#: ``--face-occluder-model`` choices (FaceFusion's default: xseg_1).
OCCLUDER_MODELS = ("many",) + tuple(OCCLUDER_SPECS)


def combine_masks(masks: Sequence[np.ndarray]) -> np.ndarray:
    """FaceFusion's combination of crop masks: their pixel-wise minimum, clipped to [0, 1]."""
    if not masks:
        raise ValueError("argument 'masks' must hold at least one mask")
    return np.clip(np.minimum.reduce([np.asarray(m, np.float32) for m in masks]), 0.0, 1.0)


def soften_mask(mask: np.ndarray, size: Tuple[int, int], out: Optional[np.ndarray] = None) -> np.ndarray:
    """A model's mask (h x w float, values in [0, 1] as the models give them; others are clipped
    first) at crop ``size`` (w, h), softened as FaceFusion does: clipped to [0, 1], Gaussian blur of sigma 5 crop pixels, ``(clip(m, 0.5, 1) - 0.5) * 2``.

    FaceFusion resizes the mask to the crop, then blurs. For a crop larger than the mask the blur
    runs here at the mask's resolution or half the crop's (whichever is larger; the mask is
    resized to it first when that is the larger), with the sigma scaled to that resolution, and
    the blurred mask is resized to the crop: blur and bilinear resampling nearly commute, so the
    result matches FaceFusion's up to the resampling at a fraction of the cost of a sigma-5 blur
    at crop size. ``out``: an optional C-contiguous (h, w) float32 array to write into."""
    m = np.clip(np.asarray(mask, np.float32), 0.0, 1.0)
    h, w = m.shape
    cw, ch = size
    if cw <= w or ch <= h:  # FaceFusion's order: resize, then blur at crop size
        bw, bh = cw, ch
    else:
        bw, bh = max(w, (cw + 1) // 2), max(h, (ch + 1) // 2)
    if (bw, bh) != (w, h):
        m = cv2.resize(m, (bw, bh))
    m = cv2.GaussianBlur(m, (0, 0), sigmaX=5.0 * bw / cw, sigmaY=5.0 * bh / ch)
    if (bw, bh) != (cw, ch):
        m = cv2.resize(m, (cw, ch))
    if out is None:
        out = m
    np.clip(m, 0.5, 1.0, out=out)
    out -= 0.5
    out *= 2.0
    return out


def _check_crops(fn: str, crops: Any) -> List[np.ndarray]:
    seq = list(crops) if isinstance(crops, (list, tuple)) or (isinstance(crops, np.ndarray) and crops.ndim == 4) \
        else None
    if seq is None or not seq:
        raise TypeError(f"{fn}: argument 'crops' must be a [N, h, w, 3] uint8 array or a non-empty list of "
                        f"h x w x 3 uint8 crops, got {type(crops).__name__}")
    for c in seq:
        if not isinstance(c, np.ndarray) or c.dtype != np.uint8 or c.ndim != 3 or c.shape[2] != 3 or 0 in c.shape:
            raise ValueError(f"{fn}: argument 'crops' must hold h x w x 3 uint8 crops, got "
                             f"{getattr(c, 'shape', type(c).__name__)} {getattr(c, 'dtype', '')}")
    return seq


class FaceMasker:
    """Occlusion and region masks of aligned face crops (FaceFusion's ``face_masker``).

    ``FaceMasker(pool, occluder="xseg_1", parser="bisenet_resnet_34")``: the models load on
    first use, so a masker that only makes occlusion masks never needs the parser's file.
    """

    def __init__(self, pool: InferencePool, occluder: str = "xseg_1", parser: str = "bisenet_resnet_34", *,
                 providers: Any = None) -> None:
        if not isinstance(pool, InferencePool):
            raise TypeError(f"argument 'pool' must be a facefuse.inference.InferencePool, got {type(pool).__name__}")
        if occluder not in OCCLUDER_MODELS:
            raise ValueError(f"argument 'occluder' must be one of {', '.join(OCCLUDER_MODELS)}, got {occluder!r}")
        if parser not in PARSER_SPECS:
            raise ValueError(f"argument 'parser' must be one of {', '.join(PARSER_SPECS)}, got {parser!r}")
        self.occluder = occluder
        self.parser = parser
        self._pool = pool
        self._providers = providers
        self._sessions: Dict[str, Tuple[Any, bool]] = {}

    def load(self, occlusion: bool = True, region: bool = False) -> None:
        """Load (and check) the model files these mask types need now, so that a missing or
        wrong file fails before any frame is processed."""
        if occlusion:
            for name in self._occluders():
                self._session(name, OCCLUDER_SPECS[name], (None, _OCCLUDER_SIZE, _OCCLUDER_SIZE, 1))
        if region:
            self._session(self.parser, PARSER_SPECS[self.parser], (None, 19, _PARSER_SIZE, _PARSER_SIZE))

    def _occluders(self) -> Tuple[str, ...]:
        return tuple(OCCLUDER_SPECS) if self.occluder == "many" else (self.occluder,)

    def _session(self, name: str, spec: ModelSpec, out_shape: Tuple[Any, ...]) -> Tuple[Any, bool]:
        if name not in self._sessions:
            path = self._pool.resolve(spec.file_name, spec)
            sess = self._pool.get(path, self._providers, spec=spec)
            check_positional(sess, spec, path, outputs=[out_shape])
            self._sessions[name] = (sess, bool(is_dynamic(sess.get_inputs()[0].shape[0])))
        return self._sessions[name]

    @staticmethod
    def _run(session: Tuple[Any, bool], x: np.ndarray) -> np.ndarray:
        sess, batchable = session
        name = sess.get_outputs()[0].name
        if batchable:
            return sess.run([name], {"input": x})[0]
        return np.concatenate([sess.run([name], {"input": x[i:i + 1]})[0] for i in range(x.shape[0])])

    def occlusion(self, crops: Any) -> List[np.ndarray]:
        """Occlusion masks (h x w float32, 1 = visible face) of aligned crops ([N, h, w, 3]
        uint8 BGR or a list; sizes may differ): all crops in one run per occluder file."""
        seq = _check_crops("FaceMasker.occlusion", crops)
        raw = self._occluded(seq)
        if all(c.shape == seq[0].shape for c in seq):
            return list(self._soften_all(raw, seq))
        return [soften_mask(m, (c.shape[1], c.shape[0])) for m, c in zip(raw, seq)]

    def occlusion_stack(self, crops: np.ndarray) -> np.ndarray:
        """:meth:`occlusion` of same-size crops ([N, h, w, 3] uint8 BGR) as one new C-contiguous
        [N, h, w] float32 array (the caller may modify it)."""
        seq = _check_crops("FaceMasker.occlusion_stack", crops)
        if any(c.shape != seq[0].shape for c in seq):
            raise ValueError("FaceMasker.occlusion_stack: argument 'crops' must hold crops of one size, got "
                             f"{sorted({c.shape for c in seq})}")
        return self._soften_all(self._occluded(seq), seq)

    @staticmethod
    def _soften_all(raw: np.ndarray, seq: List[np.ndarray]) -> np.ndarray:
        h, w = seq[0].shape[:2]
        out = np.empty((len(seq), h, w), np.float32)
        for i, m in enumerate(raw):
            soften_mask(m, (w, h), out=out[i])
        return out

    def _occluded(self, seq: List[np.ndarray]) -> np.ndarray:
        """[N, 256, 256] raw occlusion masks in [0, 1] (the minimum over the occluder files)."""
        x = np.divide(np.stack([cv2.resize(c, (_OCCLUDER_SIZE, _OCCLUDER_SIZE)) for c in seq]), np.float32(255.0),
                      dtype=np.float32)  # == .astype(float32) / 255.0, in one pass
        raw: Optional[np.ndarray] = None
        for name in self._occluders():
            sess = self._session(name, OCCLUDER_SPECS[name], (None, _OCCLUDER_SIZE, _OCCLUDER_SIZE, 1))
            m = np.clip(self._run(sess, x)[..., 0], 0.0, 1.0)
            raw = m if raw is None else np.minimum(raw, m)
        assert raw is not None
        return raw

    def region(self, crops: Any, regions: Sequence[str]) -> List[np.ndarray]:
        """Region masks (h x w float32, 1 inside ``regions``, :data:`FACE_MASK_REGIONS` names) of
        aligned crops ([N, h, w, 3] uint8 BGR or a list): all crops in one parser run."""
        seq = _check_crops("FaceMasker.region", crops)
        classes = check_regions("FaceMasker.region", regions)
        x = np.stack([cv2.resize(c, (_PARSER_SIZE, _PARSER_SIZE)) for c in seq])[..., ::-1].astype(np.float32)
        x = (x / 255.0 - _IMAGENET_MEAN) / _IMAGENET_STD
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2), np.float32)
        scores = self._run(self._session(self.parser, PARSER_SPECS[self.parser],
                                         (None, 19, _PARSER_SIZE, _PARSER_SIZE)), x)
        hit = np.isin(scores.argmax(1), classes).astype(np.float32)
        return [soften_mask(m, (c.shape[1], c.shape[0])) for m, c in zip(hit, seq)]


def check_regions(fn: str, regions: Any) -> List[int]:
    """Region names -> the parser's class numbers; ValueError naming 'mask_regions' otherwise."""
    from ..ops._common import check_names

    return [FACE_MASK_REGIONS[r] for r in check_names(fn, "mask_regions", regions, list(FACE_MASK_REGIONS), "region")]
