"""Face swappers on ONNX Runtime with FaceFusion 3.x's files and conventions.

Every swapper takes ``target`` [N, 3, S, S] float32 (the aligned crop, RGB, ``(x/255 - mean)
/ std``) and ``source`` [N, 512] float32 (the source identity), and returns ``output``
[N, 3, S, S] as its first output. Per model (FaceFusion ``face_swapper.py``):

================  ==============  ====  =================  ==================  ===================================
model             template        S     mean / std         output space        source
================  ==============  ====  =================  ==================  ===================================
inswapper_128     arcface_128     128   0 / 1              [0, 1] RGB          raw emb @ emap / ||emb|| (emap =
                                                                               the model graph's last initializer)
hyperswap_1*_256  arcface_128     256   0.5 / 0.5          [-1, 1] (x*std+m)   normed arcface_w600k_r50 embedding;
                                                                               2nd output ``mask`` [N,1,S,S]
simswap_256       arcface_112_v1  256   ImageNet           [0, 1] RGB          arcface_w600k_r50 embedding through
                                                                               arcface_converter_simswap.onnx,
                                                                               normed (FaceFusion 3.x)
================  ==============  ====  =================  ==================  ===================================

``inswapper_128_fp16`` (``inswapper_128_fp16.onnx``) is inswapper_128 in half precision with
float32 inputs / outputs (FaceFusion feeds it the same float32 tensors).
"""
from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..inference import INSWAPPER_128, InferencePool, ModelError, ModelSpec
from ..inference.device_io import array_module, run_device
from ..ops._device import is_device_array
from ._model_checks import check_positional, dims_match, fmt_shape, is_dynamic, last_initializer
from .align import box_mask, estimate_affine, warp_face
from ._tensors import bgr_tiles_to_nchw, bgr_to_nchw, nchw_tiles_to_bgr, nchw_to_bgr, value_tables
from .pixel_boost import join_tiles, pixel_boost_choices, split_tiles
from .recognizer import EMBEDDING_SIZE, RECOGNIZER_SPECS

__all__ = ["SWAPPER_SPECS", "SwapperConfig", "SWAPPER_CONFIGS", "CONVERTER_SPECS", "FaceSwapper"]

_FF_HINT = "FaceFusion users have it in <facefusion>/.assets/models/ (downloaded there on first use)"


def _swapper_spec(name: str, file_name: str, size: int, origin: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        file_name=file_name,
        inputs={"target": ((None, 3, size, size), np.float32), "source": ((None, EMBEDDING_SIZE), np.float32)},
        outputs={},  # FaceFusion reads output 0 by position (checked by position on load)
        source=f"{file_name} ({origin}); {_FF_HINT}",
    )


#: Model name -> file and named inputs checked on load (``inswapper_128`` is
#: ``facefuse.inference.INSWAPPER_128``, which also names its output).
SWAPPER_SPECS: Dict[str, ModelSpec] = {
    "inswapper_128": INSWAPPER_128,
    "inswapper_128_fp16": dataclasses.replace(
        INSWAPPER_128,
        name="inswapper_128_fp16",
        file_name="inswapper_128_fp16.onnx",
        source=f"inswapper_128_fp16.onnx (InsightFace, FaceFusion models-3.0.0); {_FF_HINT}",
    ),
    "hyperswap_1a_256": _swapper_spec("hyperswap_1a_256", "hyperswap_1a_256.onnx", 256, "FaceFusion models-3.3.0"),
    "hyperswap_1b_256": _swapper_spec("hyperswap_1b_256", "hyperswap_1b_256.onnx", 256, "FaceFusion models-3.3.0"),
    "hyperswap_1c_256": _swapper_spec("hyperswap_1c_256", "hyperswap_1c_256.onnx", 256, "FaceFusion models-3.3.0"),
    "simswap_256": _swapper_spec("simswap_256", "simswap_256.onnx", 256, "SimSwap, FaceFusion models-3.0.0"),
}

#: Embedding converters (FaceFusion 3.x maps an arcface_w600k_r50 embedding into the space a
#: swapper was trained on): input ``input`` [N, 512], output (first) [N, 512].
CONVERTER_SPECS: Dict[str, ModelSpec] = {
    "arcface_converter_simswap": ModelSpec(
        name="arcface_converter_simswap",
        file_name="arcface_converter_simswap.onnx",
        inputs={"input": ((None, EMBEDDING_SIZE), np.float32)},
        outputs={},
        source=f"arcface_converter_simswap.onnx (FaceFusion models-3.0.0); {_FF_HINT}",
    ),
}


@dataclass(frozen=True)
class SwapperConfig:
    """FaceFusion's alignment / normalisation for one swapper."""

    kind: str  # "inswapper" | "hyperswap" | "simswap"
    template: str
    size: int
    mean: Tuple[float, float, float]
    std: Tuple[float, float, float]
    recognizer: str  # recogniser whose embedding feeds source_latent
    converter: Optional[str] = None  # CONVERTER_SPECS key, or None
    output_normalised: bool = False  # output in the normalised space (undo mean / std)


_INSWAPPER = SwapperConfig("inswapper", "arcface_128", 128, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), "arcface_w600k_r50")
_HYPERSWAP = SwapperConfig(
    "hyperswap", "arcface_128", 256, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "arcface_w600k_r50", output_normalised=True
)
SWAPPER_CONFIGS: Dict[str, SwapperConfig] = {
    "inswapper_128": _INSWAPPER,
    "inswapper_128_fp16": _INSWAPPER,
    "hyperswap_1a_256": _HYPERSWAP,
    "hyperswap_1b_256": _HYPERSWAP,
    "hyperswap_1c_256": _HYPERSWAP,
    "simswap_256": SwapperConfig(
        "simswap",
        "arcface_112_v1",
        256,
        (0.485, 0.456, 0.406),
        (0.229, 0.224, 0.225),
        "arcface_w600k_r50",
        converter="arcface_converter_simswap",
    ),
}


class FaceSwapper:
    """One swapper model: align target crops, build the source latent, run, post-process.

    Parameters
    ----------
    pool:
        The :class:`~facefuse.inference.InferencePool` that finds and caches model files.
    model:
        A :data:`SWAPPER_SPECS` key.
    file_name:
        Optional other file (name or path) with the same signature (e.g. a renamed copy).
    recognizer:
        ``simswap_256`` only: ``"arcface_simswap"`` uses FaceFusion 2.x's dedicated
        ``arcface_simswap.onnx`` embedding directly (normalised) instead of the 3.x route
        (``arcface_w600k_r50`` + ``arcface_converter_simswap.onnx``).
    providers:
        Passed to :meth:`InferencePool.get`.

    Attributes
    ----------
    recognizer: str, the recogniser model whose raw embedding :meth:`source_latent` expects.
    template: str, size: (S, S), batchable: bool (the loaded file's batch dim is dynamic),
    has_mask: bool (the file has a ``mask`` output, e.g. hyperswap).
    """

    def __init__(
        self,
        pool: InferencePool,
        model: str = "inswapper_128",
        *,
        file_name: Any = None,
        recognizer: Optional[str] = None,
        providers: Any = None,
    ) -> None:
        if not isinstance(pool, InferencePool):
            raise TypeError(f"argument 'pool' must be a facefuse.inference.InferencePool, got {type(pool).__name__}")
        if not isinstance(model, str) or model not in SWAPPER_SPECS:
            raise ValueError(f"argument 'model': unknown swapper {model!r}; known: {', '.join(sorted(SWAPPER_SPECS))}")
        self.model = model
        self.config = SWAPPER_CONFIGS[model]
        self.spec = SWAPPER_SPECS[model]
        self.recognizer = self.config.recognizer
        self._converter: Optional[str] = self.config.converter
        if recognizer is not None:
            if self.config.kind == "simswap" and recognizer == "arcface_simswap":
                self.recognizer, self._converter = "arcface_simswap", None
            elif recognizer != self.config.recognizer:
                allowed = [self.config.recognizer] + (["arcface_simswap"] if self.config.kind == "simswap" else [])
                raise ValueError(f"argument 'recognizer': {model} takes embeddings from {' or '.join(allowed)}, got {recognizer!r}")
        self.template = self.config.template
        s = self.config.size
        self.size = (s, s)
        self._pool = pool
        self._providers = providers

        target = self.spec.file_name if file_name is None else file_name
        self.path: Path = pool.resolve(target, self.spec)
        self.session = pool.get(self.path, providers, spec=self.spec)
        check_positional(self.session, self.spec, self.path, outputs=[(None, 3, s, s)])
        outs = self.session.get_outputs()
        self._output_name = outs[0].name
        mask_out = [o for o in outs[1:] if o.name == "mask"]
        if mask_out and (mask_out[0].type != "tensor(float)" or not dims_match((None, 1, None, None), mask_out[0].shape)):
            raise ModelError(
                f"model file {str(self.path)!r} ({self.spec.name}): output 'mask' is {fmt_shape(mask_out[0].shape)} "
                f"{mask_out[0].type}, expected [?, 1, ?, ?] float32. Where to get the right file: {self.spec.hint()}"
            )
        self._mask_name: Optional[str] = mask_out[0].name if mask_out else None
        self.has_mask = self._mask_name is not None
        ins = {i.name: i.shape for i in self.session.get_inputs()}
        # one run for N crops needs both the crop and the latent batch dims to be open
        self.batchable = bool(is_dynamic(ins["target"][0]) and is_dynamic(ins["source"][0]))

        self._mean = np.array(self.config.mean, np.float32)
        self._std = np.array(self.config.std, np.float32)
        self._tables = value_tables(self._mean, self._std)
        self._emap: Optional[np.ndarray] = None
        self._converter_session: Any = None
        self._lock = threading.Lock()

    # -- source ---------------------------------------------------------------------------------
    @property
    def emap(self) -> np.ndarray:
        """inswapper only: the (512, 512) float32 embedding map (the graph's last initializer)."""
        if self.config.kind != "inswapper":
            raise AttributeError(f"{self.model} has no embedding map (only inswapper models do)")
        with self._lock:
            if self._emap is None:
                self._emap = last_initializer(self.path, self.spec, (EMBEDDING_SIZE, EMBEDDING_SIZE))
            return self._emap

    def _convert(self, embedding: np.ndarray) -> np.ndarray:
        assert self._converter is not None
        spec = CONVERTER_SPECS[self._converter]
        with self._lock:
            if self._converter_session is None:
                path = self._pool.resolve(spec.file_name, spec)
                sess = self._pool.get(path, self._providers, spec=spec)
                check_positional(sess, spec, path, outputs=[(None, EMBEDDING_SIZE)])
                self._converter_session = sess
        sess = self._converter_session
        (out,) = sess.run([sess.get_outputs()[0].name], {"input": embedding.reshape(1, EMBEDDING_SIZE)})
        return np.asarray(out, np.float32).reshape(EMBEDDING_SIZE)

    def source_latent(self, embedding: np.ndarray) -> np.ndarray:
        """(1, 512) float32 ``source`` input from a RAW recogniser embedding (512,) or (1, 512).

        The embedding must come from :attr:`recognizer`. inswapper: ``emb @ emap / ||emb||``;
        hyperswap: ``emb / ||emb||``; simswap: the converter's output, L2-normalised.
        """
        if not isinstance(embedding, np.ndarray):
            raise TypeError(f"argument 'embedding' must be a numpy array (512,), got {type(embedding).__name__}")
        if embedding.shape not in ((EMBEDDING_SIZE,), (1, EMBEDDING_SIZE)):
            raise ValueError(f"argument 'embedding' must have shape (512,) or (1, 512), got {embedding.shape}")
        e = embedding.astype(np.float32).reshape(EMBEDDING_SIZE)
        if not np.all(np.isfinite(e)):
            raise ValueError("argument 'embedding' contains NaN or infinite values")
        norm = float(np.linalg.norm(e))
        if norm == 0.0:
            raise ValueError("argument 'embedding' is all zeros (no identity to swap in)")
        if self.config.kind == "inswapper":
            latent = (e @ self.emap) / norm
        elif self._converter is not None:
            c = self._convert(e)
            cn = float(np.linalg.norm(c))
            latent = c / cn if cn > 0 else c
        else:
            latent = e / norm
        return np.ascontiguousarray(latent.reshape(1, EMBEDDING_SIZE), dtype=np.float32)

    # -- target ---------------------------------------------------------------------------------
    def crop(self, frame: np.ndarray, landmarks5: np.ndarray, size: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
        """``(crop (B, B, 3) uint8 BGR, affine (2, 3) float32 frame->crop)`` for this model;
        ``size`` B: the pixel boost size (a multiple of the model's, :meth:`boost_size`), default
        the model's own."""
        b = self.boost_size(size)
        return warp_face(frame, landmarks5, self.template, (b, b))

    def affine(self, landmarks5: np.ndarray, size: Optional[int] = None) -> np.ndarray:
        """The (2, 3) frame -> crop alignment matrix of :meth:`crop`, without the warp (the
        device path warps all of a frame's crops in one :func:`facefuse.ops.warp_affine`)."""
        b = self.boost_size(size)
        return estimate_affine(landmarks5, self.template, (b, b))

    def crop_mask(self, blur: float = 0.3, padding: Sequence[float] = (0, 0, 0, 0),
                  size: Optional[int] = None) -> np.ndarray:
        """(B, B) float32 default paste-back mask: FaceFusion's box mask (blur 0.3, no padding)."""
        b = self.boost_size(size)
        return box_mask((b, b), blur, padding)

    def boost_size(self, size: Optional[int]) -> int:
        """The crop size for pixel boost ``size`` (None: the model's own size); ValueError
        unless FaceFusion offers it for this model (:data:`PIXEL_BOOST_CHOICES`)."""
        if size is None:
            return self.config.size
        choices = pixel_boost_choices(self.model)
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or int(size) not in choices:
            raise ValueError(f"argument 'pixel_boost' must be one of {', '.join(map(str, choices))} for "
                             f"{self.model}, got {size!r}")
        return int(size)

    def prepare(self, crops: Any) -> Any:
        """[N, S, S, 3] uint8 BGR -> [N, 3, S, S] float32 RGB, ``(x/255 - mean) / std``
        (NumPy in, NumPy out; CuPy in, CuPy out: the same float32 operations)."""
        xp = array_module(crops)
        if xp is np:  # the same float32 values, in fewer passes
            return bgr_to_nchw(crops, self._tables)
        x = crops[..., ::-1].astype(xp.float32) / 255.0
        x = (x - xp.asarray(self._mean)) / xp.asarray(self._std)
        return xp.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=xp.float32)

    def finish(self, output: Any) -> Any:
        """[N, 3, S, S] model output -> [N, S, S, 3] uint8 BGR (denormalised, clipped, rounded);
        on the device for a CuPy output."""
        xp = array_module(output)
        if xp is np:  # the same float32 operations per value, in fewer passes
            y = np.asarray(output, np.float32)
            if self.config.output_normalised:
                y = y * self._std.reshape(3, 1, 1) + self._mean.reshape(3, 1, 1)
            return nchw_to_bgr(y, 0.0, 1.0, 255.0)
        y = xp.asarray(output, xp.float32).transpose(0, 2, 3, 1)
        if self.config.output_normalised:
            y = y * xp.asarray(self._std) + xp.asarray(self._mean)
        y = xp.clip(y, 0.0, 1.0)[..., ::-1] * 255.0
        return xp.ascontiguousarray(xp.rint(y).astype(xp.uint8))

    def _check_swap_args(self, crops: Any, latent: np.ndarray) -> Tuple[Any, np.ndarray]:
        s = self.config.size
        if not isinstance(crops, np.ndarray) and not is_device_array(crops):
            raise TypeError(f"argument 'crops' must be a numpy or CuPy array [N, {s}, {s}, 3] uint8 BGR, got "
                            f"{type(crops).__name__}")
        if crops.dtype != np.uint8:
            raise TypeError(f"argument 'crops' must be uint8, got {crops.dtype}")
        boosts = pixel_boost_choices(self.model)
        if crops.ndim != 4 or crops.shape[1] != crops.shape[2] or crops.shape[1] not in boosts \
                or crops.shape[3] != 3 or crops.shape[0] < 1:
            raise ValueError(f"argument 'crops' must have shape [N, B, B, 3] with N >= 1 and B in "
                             f"{', '.join(map(str, boosts))} (B > {s}: pixel boost), got {crops.shape}")
        if not isinstance(latent, np.ndarray):
            raise TypeError(f"argument 'latent' must be a numpy array (1, 512) or (N, 512), got {type(latent).__name__}")
        n = crops.shape[0]
        if latent.ndim != 2 or latent.shape[1] != EMBEDDING_SIZE or latent.shape[0] not in (1, n):
            raise ValueError(f"argument 'latent' must have shape (1, 512) or ({n}, 512), got {latent.shape}")
        lat = latent.astype(np.float32)
        if not np.all(np.isfinite(lat)):
            raise ValueError("argument 'latent' contains NaN or infinite values")
        if lat.shape[0] == 1 and n > 1:
            lat = np.repeat(lat, n, axis=0)
        return crops, np.ascontiguousarray(lat)

    def _run(self, target: Any, source: Any) -> Tuple[Any, Optional[Any]]:
        names = [self._output_name] + ([self._mask_name] if self._mask_name else [])
        feeds = {"target": target, "source": source}
        outs = run_device(self.session, names, feeds) if is_device_array(target) else self.session.run(names, feeds)
        return outs[0], (outs[1] if self._mask_name else None)

    def swap(self, crops: Any, latent: np.ndarray) -> Tuple[Any, Optional[Any]]:
        """Swap the identity ``latent`` into ``crops``.

        ``crops``: [N, S, S, 3] uint8 BGR aligned crops (from :meth:`crop`), or [N, B, B, 3]
        for pixel boost B (``crop(..., size=B)``): each crop is split into (B/S)^2 interleaved
        S x S tiles (:func:`facefuse.models.pixel_boost.split_tiles`), all tiles of all crops
        are swapped together (one run when :attr:`batchable`) and reassembled; ``latent``: (1, 512)
        (same identity for all) or (N, 512) from :meth:`source_latent`. Returns ``(swapped
        [N, B, B, 3] uint8 BGR, masks [N, B, B] float32 in [0, 1] or None)`` (B: the crops' size); masks come from
        the model's ``mask`` output where it has one. One run when :attr:`batchable`, else one
        run per crop. CuPy crops: the pre- and post-processing run on the GPU and the results
        are CuPy arrays; the model reads and writes device memory where the session runs on
        the CUDA execution provider (IOBinding), else the crops make one host round trip
        (see :func:`facefuse.inference.device_io.run_device`).
        """
        crops, lat = self._check_swap_args(crops, latent)
        xp = array_module(crops)
        n, b = crops.shape[0], crops.shape[1]
        tiles = (b // self.config.size) ** 2
        host_tiles = tiles > 1 and xp is np and not self.config.output_normalised
        if tiles > 1:  # pixel boost: every face's tiles in the same batch, face-major
            lat = np.repeat(lat, tiles, axis=0)
        if host_tiles:  # the tiles' tensor straight from the crops' planes (no uint8 tile copy)
            target = bgr_tiles_to_nchw(crops, self.config.size, self._tables)
        else:
            target = self.prepare(split_tiles(crops, self.config.size) if tiles > 1 else crops)
        lat = xp.asarray(lat)
        if self.batchable:
            out, mask = self._run(target, lat)
        else:
            results = [self._run(target[i : i + 1], lat[i : i + 1]) for i in range(target.shape[0])]
            out = xp.concatenate([r[0] for r in results], axis=0)
            mask = xp.concatenate([r[1] for r in results], axis=0) if self._mask_name else None
        swapped = nchw_tiles_to_bgr(out, b, 0.0, 1.0, 255.0) if host_tiles else self.finish(out)
        masks = self._finish_masks(mask) if mask is not None else None
        if tiles > 1 and not host_tiles:
            swapped = xp.ascontiguousarray(join_tiles(swapped, b))
        if tiles > 1:
            masks = None if masks is None else xp.ascontiguousarray(join_tiles(masks, b))
        assert swapped.shape[0] == n
        return swapped, masks

    def _finish_masks(self, mask: Any) -> Any:
        s = self.config.size
        xp = array_module(mask)
        m = xp.asarray(mask, xp.float32).reshape(mask.shape[0], mask.shape[-2], mask.shape[-1])
        if m.shape[1:] != (s, s):  # a model whose mask is not crop-sized: resized on the host
            h = np.stack([cv2.resize(x, (s, s), interpolation=cv2.INTER_LINEAR)
                          for x in (m if xp is np else xp.asnumpy(m))])
            m = xp.asarray(h)
        return xp.ascontiguousarray(xp.clip(m, 0.0, 1.0), dtype=xp.float32)

    def __repr__(self) -> str:
        return (
            f"FaceSwapper({self.model!r}, file={self.path.name!r}, template={self.template!r}, size={self.size}, "
            f"recognizer={self.recognizer!r}, batchable={self.batchable}, has_mask={self.has_mask})"
        )
