"""Face enhancers (face restoration) on ONNX Runtime with FaceFusion 3.x's files and conventions.

Every enhancer takes ``input`` [N, 3, S, S] float32: the aligned crop in RGB, ``(x/255 - 0.5)
/ 0.5`` (so [-1, 1]), and returns [N, 3, S, S] in [-1, 1] RGB as its first output (clipped,
mapped back with ``(y + 1) / 2 * 255`` and rounded). CodeFormer has a second input ``weight``:
[1] float64, the fidelity weight (FaceFusion's ``--face-enhancer-weight``, default 0.5).
Per model (FaceFusion 3.8.1 ``face_enhancer``, all published in release models-3.0.0):

=========================  ==========  =====
model                      template    S
=========================  ==========  =====
gfpgan_1.2 / 1.3 / 1.4     ffhq_512    512
codeformer (+ ``weight``)  ffhq_512    512
gpen_bfr_256               arcface_128 256
gpen_bfr_512               ffhq_512    512
gpen_bfr_1024              ffhq_512    1024
gpen_bfr_2048              ffhq_512    2048
restoreformer_plus_plus    ffhq_512    512
=========================  ==========  =====

FaceFusion pastes the enhanced crop under its own box mask (``--face-mask-blur``, no padding;
the occlusion mask too when on) and blends the result with the frame by
``--face-enhancer-blend`` / 100 (default 80): the frame pipeline does that in one
:func:`facefuse.paste_back` (:class:`facefuse.pipeline.swap_frames.FrameSwapper`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Tuple

import numpy as np

from ..inference import InferencePool, ModelSpec
from ..ops._common import check_real
from ._model_checks import check_positional, is_dynamic
from ._tensors import bgr_to_nchw, nchw_to_bgr, value_tables
from .align import box_mask, estimate_affine, warp_face

__all__ = ["ENHANCER_SPECS", "ENHANCER_CONFIGS", "EnhancerConfig", "FaceEnhancer"]

_TABLES = value_tables(np.full(3, 0.5, np.float32), np.full(3, 0.5, np.float32))
_FF_HINT = "FaceFusion users have it in <facefusion>/.assets/models/ (downloaded there on first use)"


@dataclass(frozen=True)
class EnhancerConfig:
    """FaceFusion's alignment for one enhancer: its warp template and crop size."""

    template: str
    size: int


ENHANCER_CONFIGS: Dict[str, EnhancerConfig] = {
    "codeformer": EnhancerConfig("ffhq_512", 512),
    "gfpgan_1.2": EnhancerConfig("ffhq_512", 512),
    "gfpgan_1.3": EnhancerConfig("ffhq_512", 512),
    "gfpgan_1.4": EnhancerConfig("ffhq_512", 512),
    "gpen_bfr_256": EnhancerConfig("arcface_128", 256),
    "gpen_bfr_512": EnhancerConfig("ffhq_512", 512),
    "gpen_bfr_1024": EnhancerConfig("ffhq_512", 1024),
    "gpen_bfr_2048": EnhancerConfig("ffhq_512", 2048),
    "restoreformer_plus_plus": EnhancerConfig("ffhq_512", 512),
}


def _spec(name: str) -> ModelSpec:
    s = ENHANCER_CONFIGS[name].size
    inputs: Dict[str, Any] = {"input": ((None, 3, s, s), np.float32)}
    if name == "codeformer":
        inputs["weight"] = ((1,), np.float64)
    return ModelSpec(name=name, file_name=f"{name}.onnx", inputs=inputs, outputs={},
                     source=f"{name}.onnx (FaceFusion models-3.0.0); {_FF_HINT}")


#: Model name -> file and named inputs checked on load (output 0 is read by position).
ENHANCER_SPECS: Dict[str, ModelSpec] = {k: _spec(k) for k in ENHANCER_CONFIGS}


class FaceEnhancer:
    """One face enhancer model: align crops, run, map the output back to uint8 BGR.

    ``FaceEnhancer(pool, model="gfpgan_1.4", weight=0.5)``; ``weight``: CodeFormer's fidelity
    input (FaceFusion's ``--face-enhancer-weight``), ignored by the others. Attributes:
    ``template``, ``size`` (S, S), ``batchable`` (the file's batch dim is open: one run for all
    crops, else one per crop), ``has_weight``.
    """

    def __init__(self, pool: InferencePool, model: str = "gfpgan_1.4", *, weight: float = 0.5,
                 file_name: Any = None, providers: Any = None) -> None:
        if not isinstance(pool, InferencePool):
            raise TypeError(f"argument 'pool' must be a facefuse.inference.InferencePool, got {type(pool).__name__}")
        if not isinstance(model, str) or model not in ENHANCER_SPECS:
            raise ValueError(f"argument 'model': unknown enhancer {model!r}; known: {', '.join(sorted(ENHANCER_SPECS))}")
        check_real("FaceEnhancer", "weight", weight, 0.0, 1.0)
        self.model = model
        self.config = ENHANCER_CONFIGS[model]
        self.spec = ENHANCER_SPECS[model]
        self.template = self.config.template
        s = self.config.size
        self.size = (s, s)
        self.weight = float(weight)
        target = self.spec.file_name if file_name is None else file_name
        self.path = pool.resolve(target, self.spec)
        self.session = pool.get(self.path, providers, spec=self.spec)
        check_positional(self.session, self.spec, self.path, outputs=[(None, 3, s, s)])
        self._output_name = self.session.get_outputs()[0].name
        ins = {i.name: i.shape for i in self.session.get_inputs()}
        self.has_weight = "weight" in ins
        self.batchable = bool(is_dynamic(ins["input"][0]))

    def crop(self, frame: np.ndarray, landmarks5: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """``(crop (S, S, 3) uint8 BGR, affine (2, 3) float32 frame->crop)`` on the model's template."""
        return warp_face(frame, landmarks5, self.template, self.size)

    def affine(self, landmarks5: np.ndarray) -> np.ndarray:
        """The (2, 3) frame -> crop matrix of :meth:`crop`, without the warp."""
        return estimate_affine(landmarks5, self.template, self.size)

    def crop_mask(self, blur: float = 0.3) -> np.ndarray:
        """(S, S) float32: FaceFusion's enhancer box mask (``blur``, never padded)."""
        return box_mask(self.size, blur, (0, 0, 0, 0))

    @staticmethod
    def prepare(crops: np.ndarray) -> np.ndarray:
        """[N, S, S, 3] uint8 BGR -> [N, 3, S, S] float32 RGB in [-1, 1] (``(x/255 - 0.5) / 0.5``)."""
        return bgr_to_nchw(crops, _TABLES)

    @staticmethod
    def finish(output: np.ndarray) -> np.ndarray:
        """[N, 3, S, S] in [-1, 1] RGB -> [N, S, S, 3] uint8 BGR (clipped, ``(y+1)/2*255`` rounded)."""
        return nchw_to_bgr(output, -1.0, 1.0, 127.5, offset=1.0)  # (y + 1) * 127.5 == (y + 1) / 2 * 255

    def enhance(self, crops: np.ndarray) -> np.ndarray:
        """Enhance aligned crops: [N, S, S, 3] uint8 BGR (from :meth:`crop`) -> the same shape."""
        s = self.config.size
        if not isinstance(crops, np.ndarray):
            raise TypeError(f"argument 'crops' must be a numpy array [N, {s}, {s}, 3] uint8 BGR, got "
                            f"{type(crops).__name__}")
        if crops.dtype != np.uint8:
            raise TypeError(f"argument 'crops' must be uint8, got {crops.dtype}")
        if crops.ndim != 4 or crops.shape[1:] != (s, s, 3) or crops.shape[0] < 1:
            raise ValueError(f"argument 'crops' must have shape [N, {s}, {s}, 3] with N >= 1, got {crops.shape}")
        x = self.prepare(crops)
        if self.batchable:
            out = self._run(x)
        else:
            out = np.concatenate([self._run(x[i:i + 1]) for i in range(x.shape[0])])
        return self.finish(out)

    def _run(self, x: np.ndarray) -> np.ndarray:
        feeds: Dict[str, Any] = {"input": x}
        if self.has_weight:
            feeds["weight"] = np.array([self.weight], np.float64)
        (out,) = self.session.run([self._output_name], feeds)
        return out

    def __repr__(self) -> str:
        return (f"FaceEnhancer({self.model!r}, file={self.path.name!r}, template={self.template!r}, "
                f"size={self.size}, batchable={self.batchable}, weight={self.weight})")
