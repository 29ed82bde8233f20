"""Tiny stand-ins for the face enhancer, occluder and face parser files (FaceFusion's names).

* enhancers (``gfpgan_1.4``, ``codeformer``, ``gpen_bfr_*``, ``restoreformer_plus_plus``...):
  ``input`` [N, 3, S, S] in [-1, 1] -> a 3 x 3 sharpening of it (centre 5, the 4 neighbours -1,
  zero padding), so the output depends on the crop and differs from it where it has edges.
  ``codeformer`` also takes ``weight`` [1] float64 and returns ``(1 - w) * sharpened + w * input``
  (weight 1 gives the input back).
* occluders (``xseg_1/2/3``): ``input`` [N, 256, 256, 3] BGR / 255 -> [N, 256, 256, 1]: 0 where
  the pixel is green (G - B - R > 0.6, an "occluding hand"), 1 elsewhere.
* parsers (``bisenet_resnet_18/34``): ``input`` [N, 3, 512, 512] ImageNet-normalised RGB ->
  [N, 19, 512, 512] scores: class 11 (mouth) where the pixel is red (2R - G - B > 4 in the
  normalised space), class 1 (skin) elsewhere.

The batch dim is symbolic unless ``batch`` says otherwise.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, Union

import numpy as np

from .face_models import Batch, _const, _dir, _onnx, _save

__all__ = ["BUILDERS", "build_enhancer", "build_occluder", "build_parser", "GREEN_THRESHOLD"]

#: An occluder stand-in masks pixels with G - B - R (in [0, 1]) above this.
GREEN_THRESHOLD = 0.6

_ENHANCER_SIZES = {
    "codeformer": 512, "gfpgan_1.2": 512, "gfpgan_1.3": 512, "gfpgan_1.4": 512, "gpen_bfr_256": 256,
    "gpen_bfr_512": 512, "gpen_bfr_1024": 1024, "gpen_bfr_2048": 2048, "restoreformer_plus_plus": 512,
}


def build_enhancer(directory: Union[str, Path], name: str = "gfpgan_1.4", *, batch: Batch = "batch") -> Path:
    """``<name>.onnx``: a sharpening enhancer with the real file's signature (see the module)."""
    if name not in _ENHANCER_SIZES:
        raise ValueError(f"argument 'name' must be one of {', '.join(_ENHANCER_SIZES)}, got {name!r}")
    _, TensorProto, helper, _ = _onnx()
    s = _ENHANCER_SIZES[name]
    path = _dir(directory) / f"{name}.onnx"
    k = np.zeros((3, 1, 3, 3), np.float32)
    k[:, 0] = [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, s, s])]
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, 3, s, s])
    conv = "output" if name != "codeformer" else "sharp"
    nodes = [helper.make_node("Conv", ["input", "k"], [conv], group=3, pads=[1, 1, 1, 1])]
    inits = [_const("k", k)]
    if name == "codeformer":
        inputs.append(helper.make_tensor_value_info("weight", TensorProto.DOUBLE, [1]))
        nodes += [
            helper.make_node("Cast", ["weight"], ["w"], to=TensorProto.FLOAT),
            helper.make_node("Sub", ["input", "sharp"], ["diff"]),
            helper.make_node("Mul", ["diff", "w"], ["wdiff"]),
            helper.make_node("Add", ["sharp", "wdiff"], ["output"]),
        ]
    graph = helper.make_graph(nodes, path.stem, inputs, [out], initializer=inits)
    return _save(graph, path)


def build_occluder(directory: Union[str, Path], name: str = "xseg_1", *, batch: Batch = "batch") -> Path:
    """``<name>.onnx`` (xseg_1/2/3): 0 on green pixels, 1 elsewhere (see the module)."""
    if name not in ("xseg_1", "xseg_2", "xseg_3"):
        raise ValueError(f"argument 'name' must be xseg_1, xseg_2 or xseg_3, got {name!r}")
    _, TensorProto, helper, _ = _onnx()
    path = _dir(directory) / f"{name}.onnx"
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 256, 256, 3])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, 256, 256, 1])
    nodes = [
        helper.make_node("MatMul", ["input", "w"], ["greenness"]),  # BGR -> G - B - R
        helper.make_node("Greater", ["greenness", "t"], ["green"]),
        helper.make_node("Cast", ["green"], ["greenf"], to=TensorProto.FLOAT),
        helper.make_node("Sub", ["one", "greenf"], ["output"]),
    ]
    inits = [_const("w", np.array([[-1.0], [1.0], [-1.0]], np.float32)),
             _const("t", np.array(GREEN_THRESHOLD, np.float32)), _const("one", np.array(1.0, np.float32))]
    return _save(helper.make_graph(nodes, path.stem, [x], [y], initializer=inits), path)


def build_parser(directory: Union[str, Path], name: str = "bisenet_resnet_34", *, batch: Batch = "batch") -> Path:
    """``<name>.onnx`` (bisenet_resnet_18/34): mouth (11) on red pixels, skin (1) elsewhere."""
    if name not in ("bisenet_resnet_18", "bisenet_resnet_34"):
        raise ValueError(f"argument 'name' must be bisenet_resnet_18 or bisenet_resnet_34, got {name!r}")
    _, TensorProto, helper, _ = _onnx()
    path = _dir(directory) / f"{name}.onnx"
    w = np.zeros((19, 3, 1, 1), np.float32)
    b = np.full((19,), -100.0, np.float32)
    b[1] = 0.0  # skin: a constant score
    w[11, :, 0, 0] = [2.0, -1.0, -1.0]  # mouth: redness, above skin past 4
    b[11] = -4.0
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, 512, 512])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, 19, 512, 512])
    nodes = [helper.make_node("Conv", ["input", "w", "b"], ["output"])]
    return _save(helper.make_graph(nodes, path.stem, [x], [y], initializer=[_const("w", w), _const("b", b)]), path)


def _named(fn: Callable[..., Path], name: str) -> Callable[..., Path]:
    def build(directory: Union[str, Path], **kw: object) -> Path:
        return fn(directory, name, **kw)

    build.__doc__ = f"``{name}.onnx`` stand-in ({fn.__name__})."
    return build


#: Model key -> builder(directory, **options) -> Path.
BUILDERS: Dict[str, Callable[..., Path]] = {
    **{n: _named(build_enhancer, n) for n in _ENHANCER_SIZES},
    **{n: _named(build_occluder, n) for n in ("xseg_1", "xseg_2", "xseg_3")},
    **{n: _named(build_parser, n) for n in ("bisenet_resnet_18", "bisenet_resnet_34")},
}
