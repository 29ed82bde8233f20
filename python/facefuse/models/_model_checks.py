"""Shared checks for the model families: frames, positional output checks, emap extraction.

``facefuse.inference.check_model`` checks tensors by name. FaceFusion reads some outputs
(and, for older files, inputs) by position, so their names are not part of the contract;
these helpers check such tensors by position with the same kind of message.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..inference import ModelError, ModelSpec
from ..inference.specs import Dim, dims_match  # noqa: F401  (dims_match: swapper; one copy, check_model's)


def fmt_shape(shape: Optional[Sequence[Any]]) -> str:
    if shape is None:
        return "[?]"
    return "[" + ", ".join("?" if (d is None or isinstance(d, str) or (isinstance(d, int) and d < 0)) else str(d) for d in shape) + "]"


def is_dynamic(dim: Any) -> bool:
    """Whether a session dim (int, str or None) accepts any size."""
    return not (isinstance(dim, int) and dim >= 0)


def check_positional(
    session: Any,
    spec: ModelSpec,
    path: Union[str, Path],
    *,
    inputs: Sequence[Sequence[Dim]] = (),
    outputs: Sequence[Sequence[Dim]] = (),
) -> None:
    """Check the first ``len(inputs)`` inputs / ``len(outputs)`` outputs by position.

    Inputs: exactly that many, float32, each matching its shape. Outputs: at least that
    many, float32, the first ones matching. Raises :class:`ModelError` naming the file.
    """
    problems: List[str] = []
    found_in = list(session.get_inputs())
    found_out = list(session.get_outputs())
    if inputs and len(found_in) != len(inputs):
        problems.append(f"has {len(found_in)} inputs, expected {len(inputs)}")
    for i, shape in enumerate(inputs[: len(found_in)]):
        t = found_in[i]
        if t.type != "tensor(float)" or not dims_match(shape, t.shape):
            problems.append(f"input {i} ({t.name!r}) is {fmt_shape(t.shape)} {t.type}, expected {fmt_shape(shape)} float32")
    if len(found_out) < len(outputs):
        problems.append(f"has {len(found_out)} outputs, expected at least {len(outputs)}")
    for i, shape in enumerate(outputs[: len(found_out)]):
        t = found_out[i]
        if t.type != "tensor(float)" or not dims_match(shape, t.shape):
            problems.append(f"output {i} ({t.name!r}) is {fmt_shape(t.shape)} {t.type}, expected {fmt_shape(shape)} float32")
    if problems:
        found = ", ".join(f"{t.name} {fmt_shape(t.shape)}" for t in found_in) or "(none)"
        found_o = ", ".join(f"{t.name} {fmt_shape(t.shape)}" for t in found_out) or "(none)"
        raise ModelError(
            f"model file {str(path)!r} does not match model {spec.name!r} ({spec.file_name}):\n"
            f"  expected inputs (by position):  {', '.join(fmt_shape(s) for s in inputs) or '(by name, see spec)'}\n"
            f"  found inputs:     {found}\n"
            f"  expected outputs (by position): {', '.join(fmt_shape(s) for s in outputs)}\n"
            f"  found outputs:    {found_o}\n"
            f"  problems: {'; '.join(problems)}\n"
            f"  where to get the right file: {spec.hint()}"
        )


def check_frame(frame: Any, arg: str = "frame") -> np.ndarray:
    """Validate an (H, W, 3) uint8 image; returns it (TypeError / ValueError naming ``arg``)."""
    if not isinstance(frame, np.ndarray):
        raise TypeError(f"argument '{arg}' must be a numpy array (H, W, 3) uint8 BGR, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise TypeError(f"argument '{arg}' must have dtype uint8, got {frame.dtype}")
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.shape[0] < 1 or frame.shape[1] < 1:
        raise ValueError(f"argument '{arg}' must have shape (H, W, 3), got {frame.shape}")
    return frame


_INIT_CACHE: Dict[Tuple[str, int, int], np.ndarray] = {}
_INIT_LOCK = threading.Lock()


def last_initializer(path: Union[str, Path], spec: ModelSpec, shape: Sequence[int]) -> np.ndarray:
    """The model graph's LAST initializer as float32 (inswapper's ``emap``), shape-checked.

    Parsing a 500 MB model takes a while, so the result is cached per (path, mtime, size):
    every swapper on the same file shares one read-only array.
    """
    st = Path(path).stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    with _INIT_LOCK:
        hit = _INIT_CACHE.get(key)
    if hit is not None and tuple(hit.shape) == tuple(shape):
        return hit
    arr = _read_last_initializer(path, spec, shape)
    arr.setflags(write=False)
    with _INIT_LOCK:
        _INIT_CACHE[key] = arr
    return arr


def _read_last_initializer(path: Union[str, Path], spec: ModelSpec, shape: Sequence[int]) -> np.ndarray:
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:  # pragma: no cover - onnx is a dependency of the swap pipeline
        raise ModelError(f"reading the embedding map of {str(path)!r} needs the 'onnx' package: {exc}") from exc
    try:
        model = onnx.load(str(path))
    except Exception as exc:
        raise ModelError(f"could not read model file {str(path)!r} with onnx: {exc}") from exc
    inits = model.graph.initializer
    if len(inits) == 0:
        raise ModelError(
            f"model file {str(path)!r} ({spec.name}) has no initializers; expected its embedding map "
            f"{list(shape)} as the last one. Where to get the right file: {spec.hint()}"
        )
    arr = numpy_helper.to_array(inits[-1])
    if tuple(arr.shape) != tuple(shape):
        raise ModelError(
            f"model file {str(path)!r} ({spec.name}): last initializer {inits[-1].name!r} has shape "
            f"{list(arr.shape)}, expected the embedding map {list(shape)}. Where to get the right file: {spec.hint()}"
        )
    return np.ascontiguousarray(arr, dtype=np.float32)
