"""The DDIM loop with every buffer left where the model runs (ONNX Runtime IOBinding).

On a GPU the host loop (:meth:`~.sampler.DDIMSampler.sample`) copies x in and the model
output out at every step and does the element-wise update in NumPy. Here the update is a tiny
ONNX graph (:func:`build_update_model`) run by ONNX Runtime on the same device as the
denoiser, so per batch only the initial noise goes in and the final sample comes out; the
conditioning is uploaded once (:meth:`~.model.Diff2LipDenoiser.bind`), and each step moves
just ``t`` (N int64) and four float32 coefficients from the host. No CuPy or torch needed.

The update graph computes exactly :meth:`~.sampler.DDIMSampler.step` (float32):
``x0 = clip(c0 x - c1 eps, -1, 1)``, ``eps' = (c0 x - x0) / c1``, ``x' = c2 x0 + c3 eps'``
with ``eps`` = model output channels 0-2 (cast to float32 for an fp16 model) and
``coef = (c0, c1, c2, c3)`` = (sqrt(1/a), sqrt(1/a - 1), sqrt(a_prev), sqrt(1 - a_prev)).
It also emits ``x'`` in the model's dtype (the next step's model input).
The same code runs on the CPU execution provider (``device="cpu"``), which is how the tests
check it against the NumPy loop on machines without a GPU.
"""
from __future__ import annotations

from typing import Any, Dict, Tuple

import numpy as np

__all__ = ["build_update_model", "UpdateSession", "sample_on_device"]


def build_update_model(model_dtype: Any = np.float32, clip_denoised: bool = True) -> bytes:
    """The serialized ONNX update graph: inputs ``x`` [N,3,H,W] float32, ``out`` [N,6,H,W]
    (the denoiser output, ``model_dtype``), ``coef`` [4] float32; outputs ``x_next`` float32
    and ``x_model`` (``x_next`` in ``model_dtype``)."""
    from onnx import TensorProto, helper, numpy_helper

    fp16 = np.dtype(model_dtype) == np.float16
    mtype = TensorProto.FLOAT16 if fp16 else TensorProto.FLOAT
    f = TensorProto.FLOAT
    inputs = [helper.make_tensor_value_info("x", f, ["N", 3, "H", "W"]),
              helper.make_tensor_value_info("out", mtype, ["N", 6, "H", "W"]),
              helper.make_tensor_value_info("coef", f, [4])]
    outputs = [helper.make_tensor_value_info("x_next", f, ["N", 3, "H", "W"]),
               helper.make_tensor_value_info("x_model", mtype, ["N", 3, "H", "W"])]
    inits = [numpy_helper.from_array(np.array([0], np.int64), "s0"),
             numpy_helper.from_array(np.array([3], np.int64), "s3"),
             numpy_helper.from_array(np.array([1], np.int64), "ax1"),
             numpy_helper.from_array(np.array(-1.0, np.float32), "lo"),
             numpy_helper.from_array(np.array(1.0, np.float32), "hi")]
    nodes = [helper.make_node("Slice", ["out", "s0", "s3", "ax1"], ["eps_m"])]
    nodes.append(helper.make_node("Cast", ["eps_m"], ["eps"], to=f) if fp16 else
                 helper.make_node("Identity", ["eps_m"], ["eps"]))
    nodes += [
        helper.make_node("Split", ["coef"], ["c0", "c1", "c2", "c3"], axis=0, num_outputs=4),
        helper.make_node("Mul", ["c0", "x"], ["c0x"]),
        helper.make_node("Mul", ["c1", "eps"], ["c1e"]),
        helper.make_node("Sub", ["c0x", "c1e"], ["x0raw"]),
    ]
    if clip_denoised:
        nodes.append(helper.make_node("Clip", ["x0raw", "lo", "hi"], ["x0"]))
    else:
        nodes.append(helper.make_node("Identity", ["x0raw"], ["x0"]))
    nodes += [
        helper.make_node("Sub", ["c0x", "x0"], ["num"]),
        helper.make_node("Div", ["num", "c1"], ["eps2"]),
        helper.make_node("Mul", ["c2", "x0"], ["a"]),
        helper.make_node("Mul", ["c3", "eps2"], ["b"]),
        helper.make_node("Add", ["a", "b"], ["x_next"]),
        helper.make_node("Cast", ["x_next"], ["x_model"], to=mtype),
    ]
    graph = helper.make_graph(nodes, "ddim_update", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="facefuse")
    model.ir_version = 8
    return model.SerializeToString()


class UpdateSession:
    """An ONNX Runtime session of the update graph on the denoiser's providers."""

    _cache: Dict[Tuple[Any, ...], Any] = {}

    def __init__(self, providers: Any, model_dtype: Any, clip_denoised: bool) -> None:
        import onnxruntime as ort

        key = (tuple(providers), np.dtype(model_dtype).name, bool(clip_denoised))
        sess = UpdateSession._cache.get(key)
        if sess is None:
            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            sess = ort.InferenceSession(build_update_model(model_dtype, clip_denoised), sess_options=opts,
                                        providers=list(providers))
            UpdateSession._cache[key] = sess
        self.session = sess


def sample_on_device(denoiser: Any, sampler: Any, x_T: np.ndarray, cond: Any) -> np.ndarray:
    """Run ``sampler``'s DDIM steps with ``denoiser`` keeping x, the model output and the
    conditioning on ``denoiser.device``; returns the final float32 sample ``[N, 3, H, W]``.

    ``cond`` must come from ``denoiser.bind`` with the device loop enabled (its
    ``device_values``)."""
    import onnxruntime as ort

    if cond.device_values is None:
        raise ValueError("sample_on_device: argument 'cond' was not bound on the device (device_loop off)")
    dev = denoiser.device
    upd = UpdateSession(denoiser.providers, denoiser.dtype, sampler.clip_denoised).session
    x0 = np.ascontiguousarray(x_T, dtype=np.float32)
    n, c, h, w = x0.shape
    mdt = denoiser.dtype
    x = ort.OrtValue.ortvalue_from_numpy(x0, dev, 0)
    x_next = ort.OrtValue.ortvalue_from_shape_and_type([n, c, h, w], np.float32, dev, 0)
    xm = ort.OrtValue.ortvalue_from_numpy(x0.astype(mdt), dev, 0)
    xm_next = ort.OrtValue.ortvalue_from_shape_and_type([n, c, h, w], mdt, dev, 0)
    out = ort.OrtValue.ortvalue_from_shape_and_type([n, 6, h, w], mdt, dev, 0)
    result = None
    for i, t in enumerate(sampler.timesteps):
        io = denoiser.session.io_binding()
        io.bind_ortvalue_input("x", xm)
        io.bind_cpu_input("t", np.full(n, t, np.int64))
        for name, value in cond.device_values.items():
            io.bind_ortvalue_input(name, value)
        io.bind_ortvalue_output("output", out)
        denoiser.session.run_with_iobinding(io)
        iu = upd.io_binding()
        iu.bind_ortvalue_input("x", x)
        iu.bind_ortvalue_input("out", out)
        iu.bind_cpu_input("coef", sampler.coefficients(i))
        iu.bind_ortvalue_output("x_next", x_next)
        iu.bind_ortvalue_output("x_model", xm_next)
        upd.run_with_iobinding(iu)
        if i == len(sampler.timesteps) - 1:
            result = iu.copy_outputs_to_cpu()[0]
        x, x_next = x_next, x
        xm, xm_next = xm_next, xm
    assert result is not None
    return np.asarray(result, dtype=np.float32)
