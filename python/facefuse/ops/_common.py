"""Helpers every op module shares: backend choice and argument normalisation.

Each op's argument contract (dtypes, shapes, ranges) is stated once, natively
(cpp/bindings/op_contracts.hpp), and both ``_core`` and ``_cuda`` apply it, so
the core is safe to call directly and this layer does not spell it again: it only
converts the conveniences the public API allows (uint8 or float64 masks, lists)
and picks the backend: NumPy -> ``_core``, ``__cuda_array_interface__`` ->
``_cuda`` (see ``_device`` and ``_gpu``). The checkers below are for the
Python-only classes' own parameters.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from .. import _core
from ._device import is_device_array, on_device  # noqa: F401  (re-exported)


def require_host(fn: str, **arrays: Any) -> None:
    """Raise a TypeError naming any argument that lives on a GPU.

    For the ops that have no CUDA kernel (yet): blend_laplacian, the colour ops,
    tpsnr, warp_affine, paste_back, LandmarkSmoother.update and QualityMonitor.update dispatch device
    arrays with ``_device.on_device`` instead.
    """
    gpu = [name for name, a in arrays.items() if a is not None and is_device_array(a)]
    if gpu:
        names = ", ".join(repr(n) for n in gpu)
        raise TypeError(
            f"{fn}: argument(s) {names} are GPU arrays, but {fn} has no CUDA kernel; "
            "pass NumPy arrays (e.g. cupy.asnumpy(x))"
        )


def as_ndarray(fn: str, name: str, x: Any) -> np.ndarray:
    """``x`` as an ndarray without copying when it already is one."""
    if isinstance(x, np.ndarray):
        return x
    if x is None:
        raise TypeError(f"{fn}: argument '{name}' must be a numpy array, got None")
    try:
        return np.asarray(x)
    except Exception as exc:  # pragma: no cover - exotic objects
        raise TypeError(f"{fn}: argument '{name}' must be a numpy array, got {type(x).__name__}") from exc


def as_mask(fn: str, name: str, mask: Any) -> np.ndarray:
    """A float32 mask in [0, 1]: uint8 is scaled by 1/255, bool and other floats are cast.

    Layout and shape are left to the native check.
    """
    m = as_ndarray(fn, name, mask)
    if m.dtype == np.float32:
        return m
    if m.dtype == np.uint8:
        return m.astype(np.float32) * np.float32(1.0 / 255.0)
    if m.dtype == np.bool_ or np.issubdtype(m.dtype, np.floating):
        return m.astype(np.float32)
    raise TypeError(f"{fn}: argument '{name}' must be a float32 (0..1) or uint8 (0..255) mask, got {m.dtype}")


def check_int(fn: str, name: str, v: Any, lo: int, hi: Optional[int] = None) -> int:
    """``v`` as an int in [lo, hi] (``hi`` None: no upper bound; integral floats such as 5.0
    accepted; bool is not)."""
    want = f"an int >= {lo}" if hi is None else f"an int in [{lo}, {hi}]"
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Integral, numbers.Real)):
        raise TypeError(f"{fn}: argument '{name}' must be {want}, got {type(v).__name__}")
    if not isinstance(v, numbers.Integral) and not (math.isfinite(float(v)) and float(v).is_integer()):
        raise ValueError(f"{fn}: argument '{name}' must be {want}, got {v!r}")
    if not lo <= v or (hi is not None and v > hi):
        raise ValueError(f"{fn}: argument '{name}' must be {want}, got {v!r}")
    return int(v)


def check_real(fn: str, name: str, v: Any, lo: float = -math.inf, hi: float = math.inf,
               lo_open: bool = False, hi_open: bool = False) -> float:
    """``v`` as a finite float in the interval (``lo_open`` / ``hi_open``: bound excluded)."""
    interval = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{fn}: argument '{name}' must be a finite number in {interval}, got {type(v).__name__}")
    x = float(v)
    inside = (lo < x if lo_open else lo <= x) and (x < hi if hi_open else x <= hi)
    if not (math.isfinite(x) and inside):
        raise ValueError(f"{fn}: argument '{name}' must be a finite number in {interval}, got {v!r}")
    return x


def check_choice(fn: str, name: str, value: Any, choices: Sequence[Any]) -> Any:
    """``value`` when it is one of ``choices``, else a ValueError listing them (in their order)."""
    if value not in choices:
        raise ValueError(f"{fn}: argument '{name}' must be one of {', '.join(repr(c) for c in choices)}, "
                         f"got {value!r}")
    return value


def check_names(fn: str, name: str, values: Any, known: Sequence[str], noun: str) -> list:
    """``values``, a non-empty list / tuple of names each in ``known``, as a list; else a
    ValueError naming the argument, the unknown ``noun`` names and the known names."""
    if isinstance(values, str) or not isinstance(values, (list, tuple)) or not values:
        raise ValueError(f"{fn}: argument '{name}' must be a non-empty list of {', '.join(known)}, got {values!r}")
    bad = [v for v in values if v not in known]
    if bad:
        raise ValueError(f"{fn}: argument '{name}': unknown {noun}(s) {', '.join(map(repr, bad))}; known: "
                         f"{', '.join(known)}")
    return list(values)


def native() -> Any:
    return _core
