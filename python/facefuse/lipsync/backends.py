"""Which runtime runs Diff2Lip's denoiser: ONNX Runtime (``diff2lip.onnx``) or torch
(``diff2lip.pt2``, :mod:`.torch_denoiser`), and the denoiser object for it."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Sequence, Union

__all__ = ["BACKENDS", "DEFAULT_MODELS", "pick_backend", "make_denoiser"]

PathLike = Union[str, "os.PathLike[str]"]

BACKENDS = ("onnx", "torch")
#: the file each backend loads when no model is named (``facefuse export-diff2lip`` writes both)
DEFAULT_MODELS = {"onnx": "diff2lip.onnx", "torch": "diff2lip.pt2"}


def _ort_has_cuda() -> bool:
    try:
        import onnxruntime as ort
    except Exception:
        return False
    return "CUDAExecutionProvider" in ort.get_available_providers()


def _wants_cpu(providers: Union[None, str, Sequence[str]]) -> bool:
    if providers is None:
        return False
    first = (providers.split(",") if isinstance(providers, str) else list(providers) or [""])[0]
    return str(first).strip().lower().startswith("cpu")


def pick_backend(fn: str, backend: Optional[str], model: Optional[PathLike],
                 providers: Union[None, str, Sequence[str]] = None) -> str:
    """``backend`` checked, or when None: from the model file's extension (``.pt2`` torch,
    ``.onnx`` ONNX Runtime), else the best available for the device: ONNX Runtime with CUDA,
    else torch with CUDA, else ONNX Runtime (on the CPU; facefuse needs no torch there)."""
    if backend is not None:
        if backend not in BACKENDS:
            raise ValueError(f"{fn}: argument 'backend' must be 'onnx', 'torch' or None, got {backend!r}")
        return backend
    if model is not None:
        ext = Path(os.fspath(model)).suffix.lower()
        if ext in (".pt2", ".onnx"):
            return "torch" if ext == ".pt2" else "onnx"
    if _wants_cpu(providers) or _ort_has_cuda():
        return "onnx"
    from .torch_denoiser import torch_available

    return "torch" if torch_available("cuda") else "onnx"


def make_denoiser(pool: Any, backend: str, model: Optional[PathLike], *,
                  providers: Union[None, str, Sequence[str]] = None, precision: Optional[str] = None) -> Any:
    """A :class:`~.model.Diff2LipDenoiser` (ONNX Runtime, ``pool``'s session) or a
    :class:`~.torch_denoiser.TorchDenoiser` (on cuda unless ``providers`` starts with cpu)
    for ``model`` (None: :data:`DEFAULT_MODELS`), resolved in ``pool``'s models directory."""
    from .model import DIFF2LIP

    name = model if model is not None else DEFAULT_MODELS[backend]
    if backend == "onnx":
        if precision is not None:
            raise ValueError("lipsync_video: argument 'precision' is for the torch backend; the ONNX model's "
                             "precision is fixed at export (export-diff2lip --fp16)")
        from .model import Diff2LipDenoiser

        return Diff2LipDenoiser(pool, name, providers=providers)
    from .torch_denoiser import TorchDenoiser, torch_available

    path = pool.resolve(name, DIFF2LIP)
    device = "cpu" if _wants_cpu(providers) or not torch_available("cuda") else "cuda"
    return TorchDenoiser(path, device=device, precision=precision)
