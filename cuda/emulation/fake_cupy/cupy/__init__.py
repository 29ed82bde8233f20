"""A NumPy-backed stand-in for the slice of CuPy that facefuse uses, for running
tests/test_cuda.py's GPU tests against the CPU-emulated _cuda module
(cuda/emulation/run_emulation.sh --python). "Device memory" is host memory, so
pointers handed to the emulated kernels are NumPy data pointers. Not CuPy."""
from __future__ import annotations

import numpy as _np

float32, float64, uint8, int64, bool_ = _np.float32, _np.float64, _np.uint8, _np.int64, _np.bool_

#: Device -> host transfers made through this module (get / asnumpy), so tests can
#: count them (with the emulated runtime's own copies, see emu_counters.cpp). Not CuPy API.
_emu_d2h = 0


class _Mem:
    def __init__(self, ptr: int) -> None:
        self.ptr = ptr


class _Device:
    def __init__(self, id: int = 0) -> None:  # noqa: A002
        self.id = id

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def _unwrap(x):
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v) for v in x)
    return x


def _wrap(r):
    if isinstance(r, _np.ndarray):
        return ndarray(r)
    if isinstance(r, tuple):
        return tuple(_wrap(v) for v in r)
    return r


class ndarray:
    def __init__(self, a, dtype=None, memptr=None) -> None:
        if memptr is not None:  # cupy.ndarray(shape, dtype, memptr): a view of "device" memory
            import ctypes

            shape, dt = tuple(a), _np.dtype(dtype)
            n = int(_np.prod(shape, dtype=_np.int64)) * dt.itemsize
            buf = (ctypes.c_char * n).from_address(memptr.ptr) if n else bytearray(0)
            a = _np.frombuffer(buf, dtype=dt).reshape(shape)
            self._owner = memptr  # keeps the memory's owner alive
        self._a = a

    def __getattr__(self, name):  # the rest of the array API: NumPy's, results wrapped
        if name.startswith("__"):
            raise AttributeError(name)
        v = getattr(self._a, name)
        if callable(v):
            return lambda *a, **k: _wrap(v(*_unwrap(a), **{kk: _unwrap(vv) for kk, vv in k.items()}))
        return _wrap(v)

    @property
    def __cuda_array_interface__(self):
        a = self._a
        return {"shape": a.shape, "typestr": a.dtype.str, "data": (a.ctypes.data if a.size else 0, False),
                "strides": None if a.flags.c_contiguous else a.strides, "version": 3, "stream": 1}

    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    data = property(lambda self: _Mem(self._a.ctypes.data if self._a.size else 0))
    device = property(lambda self: _Device(0))

    def __getitem__(self, idx):
        return ndarray(self._a[idx])

    def __setitem__(self, idx, v):
        self._a[idx] = v._a if isinstance(v, ndarray) else v

    def __mul__(self, o):
        return ndarray(self._a * (o._a if isinstance(o, ndarray) else o))

    def __array__(self, *a, **k):  # as CuPy: no silent device -> host conversion
        raise TypeError("Implicit conversion to a NumPy array is not allowed (fake cupy)")

    def astype(self, dt, *a, **k):
        return ndarray(self._a.astype(dt, *a, **k))

    def copy(self):
        return ndarray(self._a.copy())

    def get(self):
        global _emu_d2h
        _emu_d2h += 1
        return self._a.copy()

    def __len__(self):
        return len(self._a)


def asarray(x, dtype=None):
    if isinstance(x, ndarray):
        return x if dtype is None or x.dtype == dtype else x.astype(dtype)
    if isinstance(x, (_np.ndarray, _np.generic, list, tuple, int, float)):
        return ndarray(_np.array(x, dtype=dtype, copy=True))
    raise TypeError(f"fake cupy cannot import {type(x).__name__}")


def ascontiguousarray(x, dtype=None):
    if dtype is not None and x.dtype != dtype:
        return ndarray(_np.ascontiguousarray(x._a, dtype=dtype))
    return x if x._a.flags.c_contiguous else ndarray(_np.ascontiguousarray(x._a))


def asnumpy(x):
    return x.get() if isinstance(x, ndarray) else _np.asarray(x)


def empty(shape, dtype=_np.float32):
    return ndarray(_np.empty(shape, dtype))


def zeros(shape, dtype=_np.float32):
    return ndarray(_np.zeros(shape, dtype))


def full(shape, v, dtype=_np.float32):
    return ndarray(_np.full(shape, v, dtype))


def ones(n, dtype=_np.float32):
    return ndarray(_np.ones(n, dtype))


def empty_like(x):
    return ndarray(_np.empty_like(x._a))


class _Pool:
    def free_all_blocks(self):
        pass


def get_default_memory_pool():
    return _Pool()


class _Stream:
    def __init__(self, ptr: int = 0, non_blocking: bool = False) -> None:
        self.ptr = ptr

    def __enter__(self):
        cuda._current.append(self)
        return self

    def __exit__(self, *a):
        cuda._current.pop()
        return False

    def synchronize(self):
        pass

    def wait_event(self, ev):
        pass


class _Event:
    def __init__(self, disable_timing: bool = False) -> None:
        pass

    def record(self, stream=None):
        pass

    def synchronize(self):
        pass


class _Runtime:
    @staticmethod
    def getDevice():
        return 0

    @staticmethod
    def pointerGetAttributes(ptr):
        class A:
            device = 0
        return A()


class cuda:  # noqa: N801  (module-like namespace)
    _current: list = []
    Device = _Device
    Event = _Event
    runtime = _Runtime

    @staticmethod
    def Stream(non_blocking: bool = False):  # noqa: N802
        return _Stream(ptr=4096 + len(cuda._current), non_blocking=non_blocking)

    @staticmethod
    def ExternalStream(ptr):  # noqa: N802
        return _Stream(ptr)

    @staticmethod
    def get_current_stream():
        return cuda._current[-1] if cuda._current else _Stream(0)

    @staticmethod
    def get_elapsed_time(a, b):
        return 0.0


def _binary(op):
    def f(self, o):
        return _wrap(getattr(self._a, op)(_unwrap(o)))
    return f


for _op in ("add", "sub", "truediv", "floordiv", "pow", "and", "or", "lt", "le", "gt", "ge", "eq", "ne"):
    for _name in (f"__{_op}__", f"__r{_op}__"):
        if hasattr(_np.ndarray, _name):
            setattr(ndarray, _name, _binary(_name))
ndarray.__rmul__ = _binary("__rmul__")
ndarray.__neg__ = lambda self: ndarray(-self._a)
ndarray.T = property(lambda self: ndarray(self._a.T))


def get_array_module(*args):
    return __import__(__name__) if any(isinstance(a, ndarray) for a in args) else _np


class _UnownedMemory:
    def __init__(self, ptr, size, owner, device_id=0):
        self.ptr, self.size, self.owner, self.device_id = int(ptr), int(size), owner, device_id


class _MemoryPointer:
    def __init__(self, mem, offset):
        self.mem, self.ptr = mem, mem.ptr + int(offset)


cuda.UnownedMemory = _UnownedMemory
cuda.MemoryPointer = _MemoryPointer


def __getattr__(name):  # the rest of the module API (concatenate, clip, rint, minimum...): NumPy's
    f = getattr(_np, name)
    if not callable(f) or isinstance(f, type):
        return f
    return lambda *a, **k: _wrap(f(*_unwrap(a), **{kk: _unwrap(vv) for kk, vv in k.items()}))
