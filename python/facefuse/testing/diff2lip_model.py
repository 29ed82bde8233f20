"""A tiny ONNX stand-in for Diff2Lip's denoiser with the exact signature
(:data:`facefuse.lipsync.model.DIFF2LIP`) whose noise prediction is derived analytically from a
known target image:

    eps = (x - sqrt(abar[t]) * target) / sqrt(1 - abar[t])

with ``abar`` the 1000-entry ``alphas_cumprod`` table of the linear schedule baked into the
graph (as ``sqrt(abar)`` and ``sqrt(1 - abar)`` tables) and gathered by the ORIGINAL timestep
``t``. For any x this makes the x0 prediction exactly ``target``, so a correct DDIM sampler
ends on ``target``; a sampler that feeds step indices instead of timesteps, or uses another
schedule, leaves the trajectory the graph implies (the tests check every step). Channels 3-5
(the "learned variance") mix the other inputs so every input is used; DDIM ignores them.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

import numpy as np

from ..inference.stand_ins import mark

__all__ = ["default_target", "build_diff2lip", "BUILDERS"]

PathLike = Union[str, "os.PathLike[str]"]


def default_target(size: int = 128) -> np.ndarray:
    """A float32 RGB ``[3, size, size]`` pattern in [-0.9, 0.9]: smooth ramps per channel,
    so any misplacement or channel swap is visible."""
    r = np.linspace(-0.9, 0.9, size, dtype=np.float32)
    yy, xx = np.meshgrid(r, r, indexing="ij")
    return np.stack([xx, yy, -0.5 * (xx + yy)]).astype(np.float32)


def build_diff2lip(directory: PathLike, *, target: Optional[np.ndarray] = None, fp16: bool = False,
                   file_name: Optional[str] = None, fixed_batch: Optional[int] = None) -> Path:
    """Write the stand-in to ``directory / file_name`` (default ``diff2lip.onnx``, or
    ``diff2lip_fp16.onnx`` with ``fp16=True``: float16 inputs and output, computed in float32
    inside). ``target``: float ``[3, 128, 128]`` RGB in [-1, 1] (default :func:`default_target`).
    ``fixed_batch``: fix the batch dimension (default dynamic ``N``)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from ..lipsync.sampler import alphas_cumprod

    s = 128
    tgt = default_target(s) if target is None else np.asarray(target, np.float32)
    if tgt.shape != (3, s, s):
        raise ValueError(f"build_diff2lip: argument 'target' must be [3, {s}, {s}], got {tgt.shape}")
    abar = alphas_cumprod()
    ftype = TensorProto.FLOAT16 if fp16 else TensorProto.FLOAT
    n = fixed_batch if fixed_batch is not None else "N"

    def vi(name: str, elem: int, shape: list) -> "onnx.ValueInfoProto":
        return helper.make_tensor_value_info(name, elem, shape)

    inputs = [vi("x", ftype, [n, 3, s, s]), vi("t", TensorProto.INT64, [n]), vi("cond_img", ftype, [n, 3, s, s]),
              vi("mask", ftype, [n, 1, s, s]), vi("ref_img", ftype, [n, 3, s, s]), vi("indiv_mels", ftype, [n, 80, 16])]
    outputs = [vi("output", ftype, [n, 6, s, s])]
    inits = [
        # sqrt(abar) and sqrt(1 - abar) from float64: 1 - abar in float32 would lose ~1e-3
        # relative near t = 0 (abar = 0.9999), which the x0 prediction multiplies by 1/sqrt(1 - abar)
        numpy_helper.from_array(np.sqrt(abar).astype(np.float32), "sqrt_abar"),
        numpy_helper.from_array(np.sqrt(1.0 - abar).astype(np.float32), "sqrt_1m_abar"),
        numpy_helper.from_array(tgt[None], "target"),
        numpy_helper.from_array(np.array([-1, 1, 1, 1], np.int64), "shape4"),
        numpy_helper.from_array(np.array(0.5, np.float32), "half"),
    ]
    nodes = []
    f = {}
    for name in ("x", "cond_img", "mask", "ref_img", "indiv_mels"):
        if fp16:
            nodes.append(helper.make_node("Cast", [name], [name + "_f"], to=TensorProto.FLOAT))
            f[name] = name + "_f"
        else:
            f[name] = name
    nodes += [
        helper.make_node("Gather", ["sqrt_abar", "t"], ["sa1"], axis=0),
        helper.make_node("Reshape", ["sa1", "shape4"], ["sa"]),
        helper.make_node("Gather", ["sqrt_1m_abar", "t"], ["soma1"], axis=0),
        helper.make_node("Reshape", ["soma1", "shape4"], ["soma"]),
        helper.make_node("Mul", ["sa", "target"], ["sat"]),
        helper.make_node("Sub", [f["x"], "sat"], ["num"]),
        helper.make_node("Div", ["num", "soma"], ["eps"]),
        helper.make_node("Add", [f["cond_img"], f["ref_img"]], ["cr"]),
        helper.make_node("Mul", ["cr", f["mask"]], ["crm"]),
        helper.make_node("Mul", ["crm", "half"], ["crmh"]),
        helper.make_node("ReduceMean", [f["indiv_mels"]], ["mm"], axes=[1, 2], keepdims=1),
        helper.make_node("Reshape", ["mm", "shape4"], ["mm4"]),
        helper.make_node("Add", ["crmh", "mm4"], ["var"]),
        helper.make_node("Concat", ["eps", "var"], ["out_f" if fp16 else "output"], axis=1),
    ]
    if fp16:
        nodes.append(helper.make_node("Cast", ["out_f"], ["output"], to=TensorProto.FLOAT16))
    graph = helper.make_graph(nodes, "diff2lip_standin", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="facefuse.testing")
    mark(model)  # refused outside tests (facefuse.inference.stand_ins)
    model.ir_version = 8
    onnx.checker.check_model(model)
    out = Path(directory) / (file_name or ("diff2lip_fp16.onnx" if fp16 else "diff2lip.onnx"))
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return out


#: builders by model key, as the other stand-in modules
BUILDERS = {"diff2lip": build_diff2lip,
            "diff2lip_fp16": lambda d, **kw: build_diff2lip(d, fp16=True, **kw)}
