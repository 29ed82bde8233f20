"""A Diff2Lip checkpoint with random weights, in the released file's format, for checking
facefuse against Diff2Lip's own code (the reference test, ``bench/lipsync_gpu.py``) without
the released weights. Needs torch and a Diff2Lip checkout (imported with
:func:`facefuse.lipsync.diff2lip_source.import_diff2lip`)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Union

__all__ = ["build_diff2lip_model", "write_random_checkpoint"]

PathLike = Union[str, "os.PathLike[str]"]


def build_diff2lip_model(source: PathLike, *, use_fp16: bool = False) -> tuple:
    """(model, diffusion) of Diff2Lip's released configuration (``DIFF2LIP_FLAGS``) from its own
    ``tfg_create_model_and_diffusion``; the diffusion without respacing (1000 steps)."""
    from ..lipsync.diff2lip_source import import_diff2lip
    from ..lipsync.export import DIFF2LIP_FLAGS

    su = import_diff2lip(Path(source))
    args = su.tfg_model_and_diffusion_defaults()
    args.update(DIFF2LIP_FLAGS)
    args["use_fp16"] = use_fp16
    return su.tfg_create_model_and_diffusion(**args)


def write_random_checkpoint(source: PathLike, path: PathLike, seed: int = 0) -> Any:
    """Write a state dict of the released configuration with seeded random weights to ``path``
    (``torch.save`` of the state dict, as Diff2Lip's training saves it) and return the model.

    guided-diffusion zero-initialises the last convolution of every residual block and of
    the output (``zero_module``): with those left at zero the output would not depend on most
    of the network, so every all-zero parameter gets N(0, 0.02^2) values instead."""
    import torch

    torch.manual_seed(seed)
    model, _ = build_diff2lip_model(source)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in model.parameters():
            if not p.any():
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    torch.save(model.state_dict(), str(path))
    return model.eval()
