"""Model runs whose inputs and outputs are device arrays (CuPy / ``__cuda_array_interface__``).

:func:`run_device` is what a model wrapper calls when its tensors already live on the GPU
(the swap pipeline's crops with ``frame_device="cuda"``):

* the session runs on ``CUDAExecutionProvider`` (onnxruntime-gpu installed): the feeds are
  bound by pointer through ONNX Runtime's IOBinding and the outputs stay where ONNX Runtime
  allocates them on the device, wrapped as CuPy arrays without a copy (the array keeps the
  ``OrtValue`` alive);
* any other session (the CPU build of onnxruntime): the feeds are copied to the host, run,
  and the outputs uploaded: one device-to-host and one host-to-device copy per call, and
  the pixel work around the model still stays on the GPU.

ONNX Runtime runs on its own CUDA stream: the stream that wrote the feeds is synchronised
before the run, and a run with IOBinding returns when its outputs are complete (ONNX Runtime's
default), so the outputs are ready for any stream afterwards.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..ops._device import is_device_array  # the ops' own dispatch rule

__all__ = ["array_module", "binds_device", "run_device"]

_CUDA_EP = "CUDAExecutionProvider"
_ORT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(int64)": np.int64,
              "tensor(int32)": np.int32, "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_}


def array_module(x: Any) -> Any:
    """``cupy`` for a device array, ``numpy`` otherwise (so one function serves both)."""
    if is_device_array(x):
        import cupy

        return cupy
    return np


def binds_device(session: Any) -> bool:
    """Whether ``session`` reads and writes device memory directly (IOBinding on the CUDA
    execution provider) rather than host arrays."""
    try:
        return _CUDA_EP in session.get_providers()
    except Exception:  # noqa: BLE001  (a test double or a closed session: the host route)
        return False


def _device_id(cp: Any, x: Any) -> int:
    dev = getattr(x, "device", None)
    return int(dev.id) if dev is not None else int(cp.cuda.runtime.getDevice())


def _wrap(cp: Any, value: Any, device_id: int) -> Any:
    """An ``OrtValue`` on the device as a CuPy array over the same memory (kept alive by it)."""
    dtype = np.dtype(_ORT_TYPES[value.data_type()])
    shape = tuple(int(n) for n in value.shape())
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    mem = cp.cuda.UnownedMemory(int(value.data_ptr()), nbytes, value, device_id)
    return cp.ndarray(shape, dtype=dtype, memptr=cp.cuda.MemoryPointer(mem, 0))


def run_device(session: Any, output_names: Sequence[str], feeds: Dict[str, Any], *,
               bind: Optional[bool] = None, device_type: str = "cuda") -> List[Any]:
    """Run ``session`` on device-array ``feeds``; returns the outputs named in ``output_names``
    as device arrays, in that order (see the module docstring for the two routes).

    ``bind``: IOBinding (True) or the host round trip (False); None: IOBinding when the
    session runs on the CUDA execution provider. ``device_type``: ONNX Runtime's name of the
    memory the arrays live in (``"cuda"``; the tests' host-memory stand-in for CuPy binds
    ``"cpu"``).
    """
    import cupy as cp

    arrays = {k: cp.ascontiguousarray(v) for k, v in feeds.items()}
    if not (binds_device(session) if bind is None else bind):
        host = {k: cp.asnumpy(v) for k, v in arrays.items()}
        return [cp.asarray(np.ascontiguousarray(o)) for o in session.run(list(output_names), host)]
    first = next(iter(arrays.values()))
    device_id = _device_id(cp, first)
    cp.cuda.get_current_stream().synchronize()  # the feeds are written before ONNX Runtime reads them
    io = session.io_binding()
    for name, a in arrays.items():
        io.bind_input(name, device_type, device_id, np.dtype(a.dtype), tuple(a.shape), int(a.data.ptr))
    for name in output_names:
        io.bind_output(name, device_type, device_id)
    session.run_with_iobinding(io)
    return [_wrap(cp, v, device_id) for v in io.get_outputs()]  # in the order bound
