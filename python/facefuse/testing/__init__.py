"""Tiny ONNX stand-ins for the real model files (built with the ``onnx`` package).

Each builder writes a model with exactly the real file's name, input / output names and
shapes, and simple checkable behaviour (detectors find bright squares, swappers invert
colours, enhancers sharpen, occluders mask green patches, the Diff2Lip denoiser converges to a known image), so tests, benchmarks and a
first try of the CLI drive the real loading, pre- and post-processing code without the
real weights::

    python -m facefuse.testing DIR            # every stand-in into DIR
    python -m facefuse.testing DIR yolo_face arcface_w600k_r50 inswapper_128
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Dict, Iterable, Optional, Union

from .samples import ASTRONAUT_LANDMARKS5, sample_inputs

__all__ = ["builders", "write_models", "DEFAULT_SET", "sample_inputs", "ASTRONAUT_LANDMARKS5"]

#: What ``facefuse swap`` and ``facefuse lipsync`` load with their default options.
DEFAULT_SET = ("yolo_face", "arcface_w600k_r50", "inswapper_128", "diff2lip")


def builders() -> Dict[str, Callable[..., Path]]:
    """Every stand-in builder by model key (``builder(directory) -> path``)."""
    from .detector_models import BUILDERS as detectors
    from .diff2lip_model import BUILDERS as diff2lip
    from .face_models import BUILDERS as faces
    from .quality_models import BUILDERS as quality

    return {**detectors, **faces, **quality, **diff2lip}


def write_models(directory: Union[str, "os.PathLike[str]"], names: Optional[Iterable[str]] = None) -> Dict[str, Path]:
    """Write the stand-ins ``names`` (default: all) into ``directory``; returns key -> path."""
    table = builders()
    keys = list(table) if names is None else list(names)
    unknown = [k for k in keys if k not in table]
    if unknown:
        raise ValueError(f"write_models: unknown model(s) {unknown}; known: {', '.join(sorted(table))}")
    out = Path(os.fspath(directory)).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    return {k: table[k](out) for k in keys}
