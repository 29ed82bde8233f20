"""ArcFace face recognisers on ONNX Runtime (FaceFusion's files and pre-processing).

* ``arcface_w600k_r50`` (``arcface_w600k_r50.onnx``, FaceFusion 3.x's only recogniser):
  input ``input`` [N, 3, 112, 112] float32, output (first) [N, 512].
* ``arcface_simswap`` (``arcface_simswap.onnx``, FaceFusion 2.x's recogniser for SimSwap):
  one input [N, 3, 112, 112] read by position (FaceFusion 2.x fed ``get_inputs()[0].name``),
  output [N, 512].

Both: the face is aligned to ``arcface_112_v2`` at 112x112, BGR->RGB, ``x / 127.5 - 1``,
NCHW. ``embed`` returns the raw embedding and its L2-normalised copy.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Tuple

import numpy as np

from ..inference import InferencePool, ModelSpec
from ._model_checks import check_positional
from .align import warp_face

__all__ = ["RECOGNIZER_SPECS", "RecognizerConfig", "RECOGNIZER_CONFIGS", "FaceRecognizer", "EMBEDDING_SIZE"]

EMBEDDING_SIZE = 512

_W600K_SOURCE = (
    "arcface_w600k_r50.onnx (InsightFace buffalo_l w600k_r50, FaceFusion models-3.0.0); FaceFusion "
    "users have it in <facefusion>/.assets/models/ (downloaded there on first use)"
)
_SIMSWAP_SOURCE = (
    "arcface_simswap.onnx (SimSwap's ArcFace backbone, FaceFusion 2.x models release); FaceFusion 2.x "
    "users have it in <facefusion>/.assets/models/"
)

#: Model name -> the file and the tensors checked by name on load.
RECOGNIZER_SPECS: Dict[str, ModelSpec] = {
    "arcface_w600k_r50": ModelSpec(
        name="arcface_w600k_r50",
        file_name="arcface_w600k_r50.onnx",
        inputs={"input": ((None, 3, 112, 112), np.float32)},
        outputs={},  # FaceFusion reads output 0 by position; checked by position below
        source=_W600K_SOURCE,
    ),
    "arcface_simswap": ModelSpec(
        name="arcface_simswap",
        file_name="arcface_simswap.onnx",
        inputs={},  # input name not part of FaceFusion's contract: checked by position
        outputs={},
        source=_SIMSWAP_SOURCE,
    ),
}


@dataclass(frozen=True)
class RecognizerConfig:
    """Alignment and pre-processing of one recogniser (FaceFusion's values)."""

    template: str
    size: int
    named_input: bool  # True: input fed by its spec name; False: by position


RECOGNIZER_CONFIGS: Dict[str, RecognizerConfig] = {
    "arcface_w600k_r50": RecognizerConfig(template="arcface_112_v2", size=112, named_input=True),
    "arcface_simswap": RecognizerConfig(template="arcface_112_v2", size=112, named_input=False),
}


class FaceRecognizer:
    """512-d ArcFace embeddings of aligned faces.

    Parameters
    ----------
    pool:
        The :class:`~facefuse.inference.InferencePool` that finds and caches the model file.
    model:
        A :data:`RECOGNIZER_SPECS` key.
    file_name:
        Optional other file (name or path) with the same signature.
    providers:
        Passed to :meth:`InferencePool.get` (``None``: the pool's default).

    Raises
    ------
    ValueError (unknown model), ModelNotFoundError, ModelError (wrong signature).
    """

    def __init__(
        self,
        pool: InferencePool,
        model: str = "arcface_w600k_r50",
        *,
        file_name: Any = None,
        providers: Any = None,
    ) -> None:
        if not isinstance(pool, InferencePool):
            raise TypeError(f"argument 'pool' must be a facefuse.inference.InferencePool, got {type(pool).__name__}")
        if not isinstance(model, str) or model not in RECOGNIZER_SPECS:
            raise ValueError(
                f"argument 'model': unknown recogniser {model!r}; known: {', '.join(sorted(RECOGNIZER_SPECS))}"
            )
        self.model = model
        self.spec = RECOGNIZER_SPECS[model]
        self.config = RECOGNIZER_CONFIGS[model]
        self.template = self.config.template
        self.size = (self.config.size, self.config.size)
        target = self.spec.file_name if file_name is None else file_name
        self.path = pool.resolve(target, self.spec)
        # a spec with no named input would reject every input: check those by position only
        self.session = pool.get(self.path, providers, spec=self.spec if self.config.named_input else None)
        s = self.config.size
        check_positional(
            self.session,
            self.spec,
            self.path,
            inputs=[] if self.config.named_input else [(None, 3, s, s)],
            outputs=[(None, EMBEDDING_SIZE)],
        )
        self._input_name = "input" if self.config.named_input else self.session.get_inputs()[0].name
        self._output_name = self.session.get_outputs()[0].name

    def prepare(self, crop: np.ndarray) -> np.ndarray:
        """Aligned (S, S, 3) uint8 BGR crop -> [1, 3, S, S] float32 RGB in [-1, 1]."""
        x = crop[:, :, ::-1].astype(np.float32) / 127.5 - 1.0
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None])

    def embed_crop(self, crop: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Embeddings of an already aligned crop (S, S, 3) uint8 BGR; see :meth:`embed`."""
        if not isinstance(crop, np.ndarray) or crop.dtype != np.uint8:
            raise TypeError("argument 'crop' must be a uint8 numpy array (S, S, 3) BGR")
        if crop.shape != (self.size[1], self.size[0], 3):
            raise ValueError(f"argument 'crop' must have shape {(self.size[1], self.size[0], 3)}, got {crop.shape}")
        (out,) = self.session.run([self._output_name], {self._input_name: self.prepare(crop)})
        embedding = np.asarray(out, dtype=np.float32).reshape(-1)
        if embedding.shape != (EMBEDDING_SIZE,):
            raise ValueError(f"model {self.spec.file_name} returned {out.shape}, expected [1, {EMBEDDING_SIZE}]")
        norm = float(np.linalg.norm(embedding))
        normed = embedding / norm if norm > 0 else embedding.copy()
        return embedding, normed.astype(np.float32)

    def embed(self, frame: np.ndarray, landmarks5: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """``(embedding (512,), normed_embedding (512,))`` float32 of the face at ``landmarks5``.

        ``frame``: (H, W, 3) uint8 BGR; ``landmarks5``: (5, 2) frame coordinates.
        ``normed_embedding`` has unit L2 norm (all zeros only if the model returned zeros).
        """
        crop, _ = warp_face(frame, landmarks5, self.template, self.size)
        return self.embed_crop(crop)
