"""The GPU side of the op dispatch: reading ``__cuda_array_interface__``,
checking device arguments and allocating outputs.

An op calls :func:`on_device` with its array arguments: False -> the NumPy path;
True -> every array argument is a device array (mixed host / device arguments
raise TypeError naming both sides). The device path then calls ``_cuda`` with
raw pointers on the current CuPy stream of the inputs' device; outputs are
CuPy arrays allocated there. Deciding the dispatch needs neither CuPy nor a GPU.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any, Optional

import numpy as np

from .. import backend

__all__ = ["DeviceView", "on_device", "view", "require_cuda", "cupy_or_raise", "check_device_finite"]


def is_device_array(x: Any) -> bool:
    """True for CuPy arrays and anything else exposing ``__cuda_array_interface__``."""
    return hasattr(x, "__cuda_array_interface__")


def on_device(fn: str, **arrays: Any) -> bool:
    """True when the (non-None) array arguments live on a GPU, False when on the host.

    Raises TypeError naming the arguments when some are device arrays and
    others are not.
    """
    dev = [n for n, a in arrays.items() if a is not None and is_device_array(a)]
    if not dev:
        return False
    host = [n for n, a in arrays.items() if a is not None and not is_device_array(a)]
    if host:
        raise TypeError(
            f"{fn}: argument(s) {', '.join(repr(n) for n in dev)} are GPU arrays but "
            f"{', '.join(repr(n) for n in host)} are host arrays; pass all on the GPU "
            "(e.g. cupy.asarray(x)) or all on the host (e.g. cupy.asnumpy(x))"
        )
    return True


@dataclass(frozen=True)
class DeviceView:
    """What ``__cuda_array_interface__`` says about an array (no CuPy needed)."""

    ptr: int
    shape: tuple[int, ...]
    dtype: np.dtype
    strides: Optional[tuple[int, ...]]  # bytes; None = C-contiguous
    stream: Optional[int]  # producer's stream (v3): 1 legacy default, 2 per-thread default, else a handle
    obj: Any

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def c_contiguous(self) -> bool:
        if self.strides is None or self.size <= 1:
            return True
        expect = self.dtype.itemsize
        for n, s in zip(reversed(self.shape), reversed(self.strides)):
            if n != 1 and s != expect:
                return False
            expect *= n
        return True

    def describe(self) -> str:
        return f"{self.dtype} GPU array of shape {self.shape}"


def view(fn: str, name: str, x: Any) -> DeviceView:
    """Parse ``x.__cuda_array_interface__``; TypeError naming ``name`` when malformed."""
    try:
        cai = x.__cuda_array_interface__
        shape = tuple(int(n) for n in cai["shape"])
        dtype = np.dtype(cai["typestr"])
        ptr = int(cai["data"][0])
        strides = cai.get("strides")
        strides = None if strides is None else tuple(int(s) for s in strides)
        stream = cai.get("stream")
    except Exception as exc:
        raise TypeError(f"{fn}: argument '{name}' has a malformed __cuda_array_interface__ ({exc})") from exc
    return DeviceView(ptr, shape, dtype, strides, None if stream is None else int(stream), x)


def require_cuda(fn: str, names: list[str]) -> ModuleType:
    """``facefuse._cuda`` when the GPU path can run; TypeError naming the device arguments otherwise."""
    mod = backend.ready_cuda_module()
    if mod is None:
        status = backend.cuda_status()
        raise TypeError(
            f"{fn}: argument(s) {', '.join(repr(n) for n in names)} are GPU arrays, but the CUDA backend is "
            f"{status}; pass NumPy arrays (e.g. cupy.asnumpy(x))"
        )
    return mod


def check_device_finite(fn: str, unit: tuple[str, ...] = (), **arrays: Any) -> None:
    """With ``facefuse.set_device_checks(True)`` (or ``FACEFUSE_DEVICE_CHECKS=1``): the
    host path's rule on device arrays, NaN / inf in a float argument -> ValueError
    naming it, and the arguments named in ``unit`` (masks) within [0, 1]. One
    reduction and a host sync per argument, so it is off by default."""
    if not backend.device_checks():
        return
    cp = cupy_or_raise(fn)
    for name, a in arrays.items():
        if a is None or np.dtype(a.dtype).kind != "f":
            continue
        x = cp.asarray(a)
        if not bool(cp.isfinite(x).all()):
            raise ValueError(f"{fn}: argument '{name}' must be finite (no NaN or inf)")
        if name in unit and x.size and not (float(x.min()) >= 0.0 and float(x.max()) <= 1.0):
            raise ValueError(f"{fn}: argument '{name}' must hold values in [0, 1]")


def cupy_or_raise(fn: str) -> ModuleType:
    try:
        import cupy
    except Exception as exc:
        raise TypeError(f"{fn}: GPU arrays need CuPy for the outputs (pip install facefuse[gpu]): {exc}") from exc
    return cupy


class Launch:
    """Device, stream and inputs of one GPU call.

    Inputs become C-contiguous CuPy arrays on one device (a copy on the device
    only for non-contiguous views); the call runs on CuPy's current stream for
    that device, after any work the producer announced on its own stream.
    """

    def __init__(self, fn: str, **arrays: Any) -> None:
        self.fn = fn
        self.names = [n for n, a in arrays.items() if a is not None]
        self.cuda = require_cuda(fn, self.names)
        cp = cupy_or_raise(fn)
        self.cp = cp
        views = {n: view(fn, n, a) for n, a in arrays.items() if a is not None}
        self.views = views
        # The device of each input: CuPy says it; for other producers (PyTorch,
        # Numba...) ask the driver about the pointer.
        devices = {}
        for n, v in views.items():
            if isinstance(v.obj, cp.ndarray):
                devices[n] = int(v.obj.device.id)
            elif v.ptr != 0 and v.size > 0:
                devices[n] = int(cp.cuda.runtime.pointerGetAttributes(v.ptr).device)
        if len(set(devices.values())) > 1:
            raise ValueError(f"{fn}: GPU arguments are on different devices: {devices}")
        self.device = next(iter(devices.values())) if devices else cp.cuda.runtime.getDevice()
        with cp.cuda.Device(self.device):
            self.stream = cp.cuda.get_current_stream()
            # CAI v3: a foreign producer may announce the stream its data is being
            # written on; make this call's stream wait for it. (CuPy arrays follow
            # CuPy's own rule: work is ordered by the current stream.)
            ours = self.stream.ptr
            for v in views.values():
                if isinstance(v.obj, cp.ndarray) or v.stream is None or v.stream == ours:
                    continue
                if ours == 0 and v.stream == 1:  # legacy default stream == CuPy's null stream
                    continue
                ev = cp.cuda.Event(disable_timing=True)
                ev.record(cp.cuda.ExternalStream(v.stream))
                self.stream.wait_event(ev)

    @property
    def stream_ptr(self) -> int:
        return int(self.stream.ptr)

    def array(self, name: str, x: Any, dtype: Any = None) -> Any:
        """``x`` as a C-contiguous CuPy array on this call's device (and dtype)."""
        cp = self.cp
        with cp.cuda.Device(self.device), self.stream:
            a = cp.asarray(x)
            if dtype is not None and a.dtype != dtype:
                a = a.astype(dtype)
            return cp.ascontiguousarray(a)

    def empty(self, shape: tuple[int, ...], dtype: Any) -> Any:
        cp = self.cp
        with cp.cuda.Device(self.device):
            return cp.empty(shape, dtype=dtype)


def device_mask(launch: Launch, fn: str, name: str, m: Any) -> Any:
    """A float32 device mask: float32 as is, uint8 scaled by 1/255, bool / other floats cast."""
    cp = launch.cp
    a = launch.array(name, m)
    if a.dtype == np.float32:
        return a
    with cp.cuda.Device(launch.device), launch.stream:
        if a.dtype == np.uint8:
            return a.astype(np.float32) * np.float32(1.0 / 255.0)
        if a.dtype == np.bool_ or a.dtype.kind == "f":
            return a.astype(np.float32)
    raise TypeError(f"{fn}: argument '{name}' must be a float32 (0..1) or uint8 (0..255) mask, got {a.dtype}")
