"""Which native backends this facefuse can use.

``facefuse._core`` (CPU) is always there. ``facefuse._cuda`` (GPU) is built when
the build machine had a CUDA compiler; it links the CUDA runtime statically, so
importing it needs no CUDA installation, and it only touches the driver when
asked. Arrays with ``__cuda_array_interface__`` (CuPy, PyTorch CUDA tensors...)
go to it; its outputs are CuPy arrays, so CuPy must be installed too
(``pip install facefuse[gpu]``).
"""
from __future__ import annotations

import os
from types import ModuleType
from typing import Optional

__all__ = ["cuda_available", "cuda_status", "set_device_checks", "device_checks"]

# cudaError_t values the status distinguishes (driver_types.h).
_CUDA_ERROR_INSUFFICIENT_DRIVER = 35
_CUDA_ERROR_NO_DEVICE = 100


def cuda_module() -> Optional[ModuleType]:
    """``facefuse._cuda`` or None when it was not built (or cannot load)."""
    try:
        from . import _cuda  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _cuda


def _device_problem(mod: ModuleType) -> Optional[str]:
    try:
        count, code, message = mod.device_info()
    except Exception as exc:  # never raise from a status query
        return f"the CUDA runtime failed to start ({exc})"
    if code == _CUDA_ERROR_INSUFFICIENT_DRIVER:
        return f"no usable NVIDIA driver (CUDA runtime {mod.runtime_version_string()} needs one; {message})"
    if code == _CUDA_ERROR_NO_DEVICE or (code == 0 and count == 0):
        return "no CUDA device"
    if code != 0:
        return f"the CUDA runtime reports: {message}"
    return None


def cuda_status() -> str:
    """One line saying whether the GPU backend can run, and why not.

    Starts with ``"available"`` when it can; otherwise names the first missing
    piece: the ``_cuda`` module not built, no driver, no device, or CuPy missing.
    Never raises.
    """
    try:
        mod = cuda_module()
        if mod is None:
            return "unavailable: facefuse._cuda was not built (no CUDA compiler at build time, or FACEFUSE_CUDA=OFF)"
        problem = _device_problem(mod)
        if problem is not None:
            return f"unavailable: {problem}"
        try:
            import cupy  # noqa: F401
        except Exception as exc:
            return f"unavailable: CuPy is not importable ({type(exc).__name__}: {exc}); pip install facefuse[gpu]"
        count, _, _ = mod.device_info()
        return f"available: {count} CUDA device(s), {mod.device_name(0)}; CUDA runtime {mod.runtime_version_string()}"
    except Exception as exc:  # pragma: no cover - defensive: a status query must not raise
        return f"unavailable: {type(exc).__name__}: {exc}"


def cuda_available() -> bool:
    """True when device arrays can be served: ``_cuda`` built, a driver, a device and CuPy."""
    return cuda_status().startswith("available")


_READY: Optional[ModuleType] = None


def ready_cuda_module() -> Optional[ModuleType]:
    """``_cuda`` when the GPU path can run, else None. A positive answer is cached
    (the per-call dispatch must not query device properties every time)."""
    global _READY
    if _READY is None and cuda_available():
        _READY = cuda_module()
    return _READY


# NaN / inf (and mask range) checks on device arrays: each costs a reduction and a
# host sync, so they are off unless asked for (the host path always checks).
_DEVICE_CHECKS = os.environ.get("FACEFUSE_DEVICE_CHECKS", "").strip() not in ("", "0")


def set_device_checks(enabled: bool) -> bool:
    """Check GPU inputs for NaN / inf (and colour-transfer masks for [0, 1]) as the CPU
    path always does, at the cost of one host sync per argument. Returns the previous
    setting. Default: off, or on with the environment variable FACEFUSE_DEVICE_CHECKS=1."""
    global _DEVICE_CHECKS
    if not isinstance(enabled, bool):
        raise TypeError(f"set_device_checks: argument 'enabled' must be a bool, got {type(enabled).__name__}")
    previous, _DEVICE_CHECKS = _DEVICE_CHECKS, enabled
    return previous


def device_checks() -> bool:
    """Whether GPU inputs are checked for NaN / inf (see :func:`set_device_checks`)."""
    return _DEVICE_CHECKS
