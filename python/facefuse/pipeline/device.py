"""Where a pipeline's frames live between decode and encode: ``frame_device``.

``"cuda"``: each decoded frame is uploaded once, the crops, the swap model's pre- and
post-processing, paste-back, colour and the quality monitor run on the GPU
(``facefuse._cuda`` through the ops, CuPy for the element-wise steps), and the finished
frame is downloaded once for the encoder. ``"cpu"``: NumPy and ``facefuse._core``
throughout. ``"auto"`` (the default): ``"cuda"`` when the CUDA backend can run and CuPy is
installed, and the options have GPU kernels (not ``blend="poisson"``); else ``"cpu"``.
Detection, tracking and landmark smoothing work on the host frame either way (they read
the image through ONNX Runtime's own input copy and touch a few numbers per face).
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..ops._device import is_device_array
from ..ops._common import check_choice

__all__ = ["FRAME_DEVICES", "cuda_unusable", "resolve_frame_device", "upload", "to_host"]

FRAME_DEVICES = ("auto", "cpu", "cuda")


def cuda_unusable() -> Optional[str]:
    """Why frames cannot live on the GPU here (None: they can)."""
    from .. import backend

    if not backend.cuda_available():
        return f"the CUDA backend is {backend.cuda_status()}"
    try:
        import cupy  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        return f"CuPy cannot be imported ({exc}); pip install 'facefuse[gpu]'"
    return None


def resolve_frame_device(fn: str, frame_device: Any, blend: str) -> str:
    """``"cpu"`` or ``"cuda"`` for the ``frame_device`` argument (see the module docstring);
    ValueError naming it when ``"cuda"`` was asked for and cannot be had."""
    check_choice(fn, "frame_device", frame_device, FRAME_DEVICES)
    if frame_device == "cpu":
        return "cpu"
    why = cuda_unusable()
    if frame_device == "auto":
        return "cpu" if why or blend == "poisson" else "cuda"
    if why:
        raise ValueError(f"{fn}: argument 'frame_device' is 'cuda' but {why}; use frame_device='cpu'")
    if blend == "poisson":
        raise ValueError(f"{fn}: blend='poisson' has no GPU kernel; with frame_device='cuda' use blend='laplacian' "
                         "or 'alpha', or frame_device='cpu'")
    return "cuda"


def upload(image: np.ndarray) -> Any:
    """A host frame as a CuPy array on the current device (one host-to-device copy)."""
    import cupy

    return cupy.asarray(image)


def to_host(frame: Any) -> np.ndarray:
    """A finished frame for the encoder: device arrays are downloaded (one copy), host arrays
    pass as they are."""
    if not is_device_array(frame):
        return frame
    import cupy

    return cupy.asnumpy(frame)
