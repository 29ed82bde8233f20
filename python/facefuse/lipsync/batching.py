"""How many frames the Diff2Lip denoiser runs at once: from the GPU's free memory, or a
fixed size on the CPU (an out-of-memory error halves it during a run)."""
from __future__ import annotations

import os
import subprocess
from typing import Any, Optional, Union

import numpy as np

from .model import Diff2LipDenoiser

__all__ = ["auto_batch_size"]

_CPU_BATCH = 4


def _free_gpu_mib() -> Optional[int]:
    """Free MiB of the GPU the session gets as device 0."""
    cmd = ["nvidia-smi", "--query-gpu=memory.free", "--format=csv,noheader,nounits"]
    # nvidia-smi ignores CUDA_VISIBLE_DEVICES and lists every GPU: ask for the first visible one
    # (a `facefuse batch` worker on GPU 1 must not size its batch by GPU 0's free memory)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    if visible:
        cmd.append(f"--id={visible}")
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=5, check=True).stdout
        return int(out.split()[0])
    except Exception:  # no driver / tool: the caller falls back to a fixed size
        return None


def auto_batch_size(denoiser: Union[Diff2LipDenoiser, Any]) -> int:
    """A starting batch size: 4 on CPU; on a GPU, free memory / a per-frame budget (about
    0.25 GiB per frame in fp32, half in fp16 / bf16, a generous estimate for the 128 px UNet's
    activations) clamped to 1..64. Out-of-memory errors halve it during the run.
    ``denoiser``: a :class:`Diff2LipDenoiser` or a :class:`~.torch_denoiser.TorchDenoiser`."""
    if getattr(denoiser, "device", "cpu") != "cuda":
        return _CPU_BATCH
    free = _free_gpu_mib()
    if free is None:
        return 8
    half = denoiser.dtype == np.float16 or getattr(denoiser, "precision", "fp32") in ("fp16", "bf16")
    per_frame = 128 if half else 256
    return int(max(1, min(64, (free - 1024) // per_frame)))
