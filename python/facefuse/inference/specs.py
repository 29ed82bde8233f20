"""What a pipeline expects of a model file (:class:`ModelSpec`) and the check of a loaded
session against it (:func:`check_model`), so a wrong file fails early with a clear message
instead of deep inside ``session.run``."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .errors import ModelError
from .files import ENV_MODELS, FACEFUSION_HINT

Dim = Union[int, str, None]
Shape = Tuple[Dim, ...]
TensorSpec = Tuple[Sequence[Dim], Any]

_ORT_TYPES: Dict[str, str] = {
    "float32": "tensor(float)",
    "float16": "tensor(float16)",
    "float64": "tensor(double)",
    "int8": "tensor(int8)",
    "int16": "tensor(int16)",
    "int32": "tensor(int32)",
    "int64": "tensor(int64)",
    "uint8": "tensor(uint8)",
    "uint16": "tensor(uint16)",
    "uint32": "tensor(uint32)",
    "uint64": "tensor(uint64)",
    "bool": "tensor(bool)",
}
_ORT_TO_NP = {v: k for k, v in _ORT_TYPES.items()}


def _ort_type(dtype: Any) -> str:
    """numpy dtype / name / ONNX Runtime type string -> ONNX Runtime type string."""
    if isinstance(dtype, str) and dtype.startswith("tensor("):
        return dtype
    name = np.dtype(dtype).name
    try:
        return _ORT_TYPES[name]
    except KeyError:
        raise ValueError(f"ModelSpec: unsupported dtype {dtype!r}") from None


def _fmt_dim(d: Any) -> str:
    return "?" if d is None else str(d)


def _fmt_tensor(name: str, shape: Optional[Sequence[Any]], ort_type: str) -> str:
    dt = _ORT_TO_NP.get(ort_type, ort_type)
    shp = "[?]" if shape is None else "[" + ", ".join(_fmt_dim(d) for d in shape) + "]"
    return f"{name} {shp} {dt}"


@dataclass(frozen=True)
class ModelSpec:
    """What a pipeline expects of a model file.

    ``inputs`` / ``outputs`` map tensor names to ``(shape, dtype)``; a shape entry that is
    ``None`` or a string (a symbolic dim such as ``"batch"``) matches any size. ``dtype`` is
    a numpy dtype or name (``np.float32``, ``"float32"``). ``source`` says where users find
    the file (shown in error messages).
    """

    name: str
    file_name: str
    inputs: Mapping[str, TensorSpec] = field(default_factory=dict)
    outputs: Mapping[str, TensorSpec] = field(default_factory=dict)
    source: str = ""

    def hint(self) -> str:
        where = self.source or FACEFUSION_HINT.format(env=ENV_MODELS)
        return where


# inswapper_128 (InsightFace, used by FaceFusion / roop): target [1, 3, 128, 128] float32 aligned
# face crop, source [1, 512] float32 latent (ArcFace embedding @ emap, normalised); output
# [1, 3, 128, 128] float32 in [0, 1]. The batch dim is left open.
INSWAPPER_128 = ModelSpec(
    name="inswapper_128",
    file_name="inswapper_128.onnx",
    inputs={"target": ((None, 3, 128, 128), np.float32), "source": ((None, 512), np.float32)},
    outputs={"output": ((None, 3, 128, 128), np.float32)},
    source=(
        "inswapper_128.onnx (InsightFace); FaceFusion users have it in "
        "<facefusion>/.assets/models/ (downloaded there on first use)"
    ),
)


def dims_match(expected: Sequence[Dim], found: Optional[Sequence[Any]]) -> bool:
    """Whether a session tensor's shape ``found`` fits ``expected``: same rank, and every fixed
    expected size equal where the model fixes one (a ``None`` / symbolic expected dim, a
    symbolic or negative model dim, and an unknown rank in the model accept anything).
    Shared with the positional checks of :mod:`facefuse.models._model_checks`."""
    if found is None:  # unknown rank in the model: accept
        return True
    if len(expected) != len(found):
        return False
    for e, f in zip(expected, found):
        if e is None or isinstance(e, str):
            continue
        if not isinstance(f, int) or f < 0:  # symbolic / dynamic in the model accepts any size
            continue
        if int(e) != f:
            return False
    return True


def check_model(session: Any, spec: ModelSpec, path: Union[str, os.PathLike, None] = None) -> None:
    """Check a session's inputs / outputs against ``spec``.

    Every expected input and output must exist with a matching rank, fixed sizes and dtype;
    the model must not require inputs the spec does not provide (extra outputs are fine).

    Raises
    ------
    ModelError
        The message names the file (``path``), lists the expected and the found tensors and
        each problem.
    """
    found_in = {i.name: (i.shape, i.type) for i in session.get_inputs()}
    found_out = {o.name: (o.shape, o.type) for o in session.get_outputs()}
    problems: List[str] = []

    def compare(kind: str, expected: Mapping[str, TensorSpec], found: Mapping[str, Tuple[Any, str]]) -> None:
        for name, (shape, dtype) in expected.items():
            if name not in found:
                problems.append(f"missing {kind} {name!r}")
                continue
            fshape, ftype = found[name]
            etype = _ort_type(dtype)
            if not dims_match(tuple(shape), fshape):
                problems.append(
                    f"{kind} {name!r} has shape {_fmt_tensor('', fshape, '').strip()}, "
                    f"expected {_fmt_tensor('', tuple(shape), '').strip()}"
                )
            if ftype != etype:
                problems.append(
                    f"{kind} {name!r} has dtype {_ORT_TO_NP.get(ftype, ftype)}, "
                    f"expected {_ORT_TO_NP.get(etype, etype)}"
                )

    compare("input", spec.inputs, found_in)
    compare("output", spec.outputs, found_out)
    for name in found_in:
        if name not in spec.inputs:
            problems.append(f"unexpected input {name!r} (the pipeline would not feed it)")
    if not problems:
        return

    def listing(expected: Mapping[str, TensorSpec]) -> str:
        return ", ".join(_fmt_tensor(n, tuple(s), _ort_type(d)) for n, (s, d) in expected.items()) or "(none)"

    def found_listing(found: Mapping[str, Tuple[Any, str]]) -> str:
        return ", ".join(_fmt_tensor(n, s, t) for n, (s, t) in found.items()) or "(none)"

    where = str(path) if path is not None else "<in-memory model>"
    raise ModelError(
        f"model file {where!r} does not match model {spec.name!r} ({spec.file_name}):\n"
        f"  expected inputs:  {listing(spec.inputs)}\n"
        f"  found inputs:     {found_listing(found_in)}\n"
        f"  expected outputs: {listing(spec.outputs)}\n"
        f"  found outputs:    {found_listing(found_out)}\n"
        f"  problems: {'; '.join(problems)}\n"
        f"  where to get the right file: {spec.hint()}"
    )
