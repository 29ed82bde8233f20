"""Tiny stand-ins for the recogniser, embedding-converter and swapper model files.

Each ``build_<key>(directory)`` writes FaceFusion's file name into ``directory`` with the
input / output names and shapes facefuse's loaders check, and returns its path. Behaviour:

* recognisers (``arcface_w600k_r50``, ``arcface_simswap``): 8x8 average pooling of the
  [N, 3, 112, 112] input, then a fixed random projection (seeded, different per model) to
  512 values plus a bias -> embeddings depend on crop content, deterministically.
* ``arcface_converter_simswap``: a fixed random 512x512 linear map.
* swappers INVERT the crop in RGB [0, 1] after their own normalisation round trip:
  inswapper ``output = 1 - target`` (its input is x/255); hyperswap ``output = -target``
  (inputs in [-1, 1], output de-normalised with x*0.5+0.5) and ``mask`` = the mean of the
  RGB channels in [0, 1]; simswap ``output = 1 - (target * std + mean)`` (ImageNet-normalised
  input, [0, 1] output). Each adds ``0 * sum(source-derived value)`` so the ``source`` input
  is connected without changing the result. inswapper's graph projects the source through a
  512x512 ``emap`` that is its LAST initializer, as in the real file.

Batch dims: hyperswap is built with batch 1 (FaceFusion's export script has no dynamic axes);
the others get a symbolic ``batch`` dim unless ``batch=1`` is passed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, List, Sequence, Union

import numpy as np

from ..inference.stand_ins import mark

__all__ = [
    "BUILDERS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "EMAP_SEED",
    "build_arcface_w600k_r50",
    "build_arcface_simswap",
    "build_arcface_converter_simswap",
    "build_inswapper_128",
    "build_inswapper_128_fp16",
    "build_hyperswap_1a_256",
    "build_hyperswap_1b_256",
    "build_hyperswap_1c_256",
    "build_simswap_256",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Seed of the stand-in inswapper's emap (tests recompute nothing from it: they read the file).
EMAP_SEED = 128
_OPSET = 13
Batch = Union[int, str, None]


def _onnx() -> tuple:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    return onnx, TensorProto, helper, numpy_helper


def _save(graph: object, path: Path) -> Path:
    onnx, _, helper, _ = _onnx()
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)], producer_name="facefuse.testing")
    mark(model)  # refused outside tests (facefuse.inference.stand_ins)
    model.ir_version = 8  # readable by every onnxruntime >= 1.14
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(path)  # never leave a half-written model behind
    return path


def _dir(directory: Union[str, Path]) -> Path:
    if not isinstance(directory, (str, Path)):
        raise TypeError(f"argument 'directory' must be a str or Path, got {type(directory).__name__}")
    return Path(directory)


def _const(name: str, value: np.ndarray) -> object:
    _, _, _, numpy_helper = _onnx()
    return numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), name)


# ---------------------------------------------------------------------------------- recognisers
def _recognizer(path: Path, seed: int, input_name: str, batch: Batch) -> Path:
    _, TensorProto, helper, _ = _onnx()
    rng = np.random.default_rng(seed)
    feat = 3 * 8 * 8  # 112 / 14 = 8 cells per side
    w = rng.standard_normal((feat, 512)).astype(np.float32) / np.sqrt(feat)
    b = rng.standard_normal((512,)).astype(np.float32) * 0.1
    x = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, 3, 112, 112])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, 512])
    nodes = [
        helper.make_node("AveragePool", [input_name], ["pooled"], kernel_shape=[14, 14], strides=[14, 14]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "w"], ["proj"]),
        helper.make_node("Add", ["proj", "b"], ["output"]),
    ]
    graph = helper.make_graph(nodes, path.stem, [x], [y], initializer=[_const("w", w), _const("b", b)])
    return _save(graph, path)


def build_arcface_w600k_r50(directory: Union[str, Path], *, batch: Batch = "batch") -> Path:
    """``arcface_w600k_r50.onnx``: input ``input`` [N, 3, 112, 112] -> ``output`` [N, 512]."""
    return _recognizer(_dir(directory) / "arcface_w600k_r50.onnx", 600, "input", batch)


def build_arcface_simswap(directory: Union[str, Path], *, batch: Batch = "batch") -> Path:
    """``arcface_simswap.onnx``: one input [N, 3, 112, 112] -> [N, 512] (read by position)."""
    return _recognizer(_dir(directory) / "arcface_simswap.onnx", 256, "input", batch)


def build_arcface_converter_simswap(directory: Union[str, Path], *, batch: Batch = "batch") -> Path:
    """``arcface_converter_simswap.onnx``: ``input`` [N, 512] -> ``output`` [N, 512] (x @ W)."""
    _, TensorProto, helper, _ = _onnx()
    path = _dir(directory) / "arcface_converter_simswap.onnx"
    w = np.random.default_rng(512).standard_normal((512, 512)).astype(np.float32) / np.sqrt(512)
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 512])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, 512])
    graph = helper.make_graph([helper.make_node("MatMul", ["input", "w"], ["output"])], path.stem, [x], [y], [_const("w", w)])
    return _save(graph, path)


# ------------------------------------------------------------------------------------ swappers
def _source_zero(source: str, extra: Sequence[object] = ()) -> List[object]:
    """Nodes computing ``zero = 0 * sum(source)`` (shape [N, 1, 1, 1]) from ``source`` [N, 512]."""
    _, _, helper, _ = _onnx()
    return [
        *extra,
        helper.make_node("ReduceSum", [source, "axes1"], ["src_sum"], keepdims=1),  # [N, 1]
        helper.make_node("Mul", ["src_sum", "zero_f"], ["src_zero2"]),
        helper.make_node("Unsqueeze", ["src_zero2", "axes23"], ["src_zero"]),  # [N, 1, 1, 1]
    ]


def _source_consts() -> List[object]:
    _, _, _, numpy_helper = _onnx()
    return [
        numpy_helper.from_array(np.array([1], np.int64), "axes1"),
        numpy_helper.from_array(np.array([2, 3], np.int64), "axes23"),
        _const("zero_f", np.array(0.0, np.float32)),
    ]


def _inswapper(path: Path, batch: Batch) -> Path:
    _, TensorProto, helper, _ = _onnx()
    size = 128
    target = helper.make_tensor_value_info("target", TensorProto.FLOAT, [batch, 3, size, size])
    source = helper.make_tensor_value_info("source", TensorProto.FLOAT, [batch, 512])
    output = helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, 3, size, size])
    emap = np.random.default_rng(EMAP_SEED).standard_normal((512, 512)).astype(np.float32) / np.sqrt(512)
    nodes = _source_zero("src_proj", [helper.make_node("MatMul", ["source", "emap"], ["src_proj"])]) + [
        helper.make_node("Sub", ["one", "target"], ["inverted"]),
        helper.make_node("Add", ["inverted", "src_zero"], ["output"]),
    ]
    # the real inswapper keeps its emap as the LAST initializer; FaceFusion reads it from there
    inits = [_const("one", np.array(1.0, np.float32))] + _source_consts() + [_const("emap", emap)]
    graph = helper.make_graph(nodes, path.stem, [target, source], [output], initializer=inits)
    return _save(graph, path)


def build_inswapper_128(directory: Union[str, Path], *, batch: Batch = "batch") -> Path:
    """``inswapper_128.onnx``: target [N,3,128,128], source [N,512] -> output = 1 - target."""
    return _inswapper(_dir(directory) / "inswapper_128.onnx", batch)


def build_inswapper_128_fp16(directory: Union[str, Path], *, batch: Batch = "batch") -> Path:
    """``inswapper_128_fp16.onnx`` with the same float32 interface as inswapper_128."""
    return _inswapper(_dir(directory) / "inswapper_128_fp16.onnx", batch)


def _hyperswap(path: Path, batch: Batch, with_mask: bool) -> Path:
    _, TensorProto, helper, _ = _onnx()
    size = 256
    source = helper.make_tensor_value_info("source", TensorProto.FLOAT, [batch, 512])
    target = helper.make_tensor_value_info("target", TensorProto.FLOAT, [batch, 3, size, size])
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, 3, size, size])]
    nodes = _source_zero("source") + [
        helper.make_node("Neg", ["target"], ["inverted"]),
        helper.make_node("Add", ["inverted", "src_zero"], ["output"]),
    ]
    if with_mask:
        outputs.append(helper.make_tensor_value_info("mask", TensorProto.FLOAT, [batch, 1, size, size]))
        nodes += [  # mask = mean over channels of the crop in [0, 1]
            helper.make_node("ReduceMean", ["target"], ["t_mean"], axes=[1], keepdims=1),
            helper.make_node("Mul", ["t_mean", "half"], ["t_half"]),
            helper.make_node("Add", ["t_half", "half"], ["mask"]),
        ]
    inits = _source_consts() + [_const("half", np.array(0.5, np.float32))]
    graph = helper.make_graph(nodes, path.stem, [source, target], outputs, initializer=inits)
    return _save(graph, path)


def build_hyperswap_1a_256(directory: Union[str, Path], *, batch: Batch = 1, with_mask: bool = True) -> Path:
    """``hyperswap_1a_256.onnx``: source [1,512], target [1,3,256,256] -> output = -target, mask."""
    return _hyperswap(_dir(directory) / "hyperswap_1a_256.onnx", batch, with_mask)


def build_hyperswap_1b_256(directory: Union[str, Path], *, batch: Batch = 1, with_mask: bool = True) -> Path:
    """``hyperswap_1b_256.onnx`` (same stand-in as 1a)."""
    return _hyperswap(_dir(directory) / "hyperswap_1b_256.onnx", batch, with_mask)


def build_hyperswap_1c_256(directory: Union[str, Path], *, batch: Batch = 1, with_mask: bool = True) -> Path:
    """``hyperswap_1c_256.onnx`` (same stand-in as 1a)."""
    return _hyperswap(_dir(directory) / "hyperswap_1c_256.onnx", batch, with_mask)


def build_simswap_256(directory: Union[str, Path], *, batch: Batch = "batch") -> Path:
    """``simswap_256.onnx``: target [N,3,256,256] ImageNet-normalised, source [N,512] ->
    output = 1 - (target * std + mean) in [0, 1] RGB."""
    _, TensorProto, helper, _ = _onnx()
    path = _dir(directory) / "simswap_256.onnx"
    size = 256
    target = helper.make_tensor_value_info("target", TensorProto.FLOAT, [batch, 3, size, size])
    source = helper.make_tensor_value_info("source", TensorProto.FLOAT, [batch, 512])
    output = helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, 3, size, size])
    std = np.array(IMAGENET_STD, np.float32).reshape(1, 3, 1, 1)
    mean = np.array(IMAGENET_MEAN, np.float32).reshape(1, 3, 1, 1)
    nodes = _source_zero("source") + [
        helper.make_node("Mul", ["target", "std"], ["t_std"]),
        helper.make_node("Add", ["t_std", "mean"], ["rgb"]),
        helper.make_node("Sub", ["one", "rgb"], ["inverted"]),
        helper.make_node("Add", ["inverted", "src_zero"], ["output"]),
    ]
    inits = _source_consts() + [_const("std", std), _const("mean", mean), _const("one", np.array(1.0, np.float32))]
    graph = helper.make_graph(nodes, path.stem, [target, source], [output], initializer=inits)
    return _save(graph, path)


#: Model key -> builder(directory, **options) -> Path.
BUILDERS: Dict[str, Callable[..., Path]] = {
    "arcface_w600k_r50": build_arcface_w600k_r50,
    "arcface_simswap": build_arcface_simswap,
    "arcface_converter_simswap": build_arcface_converter_simswap,
    "inswapper_128": build_inswapper_128,
    "inswapper_128_fp16": build_inswapper_128_fp16,
    "hyperswap_1a_256": build_hyperswap_1a_256,
    "hyperswap_1b_256": build_hyperswap_1b_256,
    "hyperswap_1c_256": build_hyperswap_1c_256,
    "simswap_256": build_simswap_256,
}
