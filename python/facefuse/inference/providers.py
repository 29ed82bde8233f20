"""Which ONNX Runtime execution providers to use: TensorRT, then CUDA, then CPU as the
always-present fallback (onnxruntime is imported on first use, not with the package)."""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

#: Preferred execution providers, fastest first. CPU is always the last fallback.
PROVIDER_ORDER: Tuple[str, ...] = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "CPUExecutionProvider",
)
_CPU = "CPUExecutionProvider"

#: Short names accepted by :func:`pick_providers` (case-insensitive).
PROVIDER_ALIASES: Dict[str, str] = {
    "trt": "TensorrtExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}


def _ort() -> Any:
    import onnxruntime

    return onnxruntime


_GPU = ("CUDAExecutionProvider", "TensorrtExecutionProvider")


def _installed(dist: str) -> Optional[str]:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def cpu_build_fix() -> str:
    """The exact commands that replace a CPU-only ONNX Runtime with its CUDA build. Both builds
    install the package ``onnxruntime``: with both present the one installed last wins, and
    reinstalling the GPU extra brings the CPU build back (it is a base dependency)."""
    gpu = _installed("onnxruntime-gpu")
    pin = f"=={gpu}" if gpu else '>=1.21,<1.27" (CUDA 12 driver) or "onnxruntime-gpu[cuda,cudnn]>=1.27'
    return (f'pip uninstall -y onnxruntime onnxruntime-gpu && pip install "onnxruntime-gpu[cuda,cudnn]{pin}"'
            + (" (CUDA 13 driver)" if not gpu else ""))


_warned_cpu_build = False


def _warn_if_gpu_build_lost(offered: Sequence[str]) -> None:
    """onnxruntime-gpu installed (a GPU extra) but the CPU build answers: say so once, with the fix,
    instead of running every model on the CPU without a word."""
    global _warned_cpu_build
    if _warned_cpu_build or any(p in offered for p in _GPU) or not _installed("onnxruntime-gpu"):
        return
    _warned_cpu_build = True
    import warnings

    warnings.warn(f"onnxruntime-gpu {_installed('onnxruntime-gpu')} is installed but the CPU build of ONNX Runtime "
                  f"(onnxruntime {_installed('onnxruntime')}) overwrote it: models run on the CPU. Fix: "
                  f"{cpu_build_fix()}", RuntimeWarning, stacklevel=3)


def available_providers() -> List[str]:
    """The supported providers the installed onnxruntime offers, in :data:`PROVIDER_ORDER`.

    ``CPUExecutionProvider`` is always included (and always last). Providers facefuse does not
    know about (e.g. ``AzureExecutionProvider``) are left out.
    """
    offered = set(_ort().get_available_providers())
    _warn_if_gpu_build_lost(list(offered))
    out = [p for p in PROVIDER_ORDER if p in offered and p != _CPU]
    out.append(_CPU)
    return out


def _canonical_provider(name: str, offered: Sequence[str]) -> Optional[str]:
    key = name.strip()
    if key.lower() in PROVIDER_ALIASES:
        return PROVIDER_ALIASES[key.lower()]
    for p in set(PROVIDER_ORDER) | set(offered):
        if p.lower() == key.lower():
            return p
    return None


def pick_providers(requested: Union[None, str, Iterable[str]] = None) -> List[str]:
    """The provider list to give ``onnxruntime.InferenceSession``.

    Parameters
    ----------
    requested:
        ``None``: every available provider in :data:`PROVIDER_ORDER` (TensorRT, CUDA, CPU).
        Otherwise a list of names or a comma-separated string (``"cuda,cpu"``); full names
        (``"CUDAExecutionProvider"``) and the aliases ``trt`` / ``tensorrt`` / ``cuda`` / ``cpu``
        are accepted, case-insensitively. The requested order is kept, duplicates are dropped
        and ``CPUExecutionProvider`` is appended as the fallback when not requested.

    Raises
    ------
    ValueError
        A requested provider is unknown or not offered by the installed onnxruntime; the
        message names it and lists what is available.
    """
    avail = available_providers()
    if requested is None:
        return avail
    if isinstance(requested, str):
        names = [n for n in (s.strip() for s in requested.split(",")) if n]
    else:
        names = [str(n).strip() for n in requested]
        if any(not n for n in names):
            raise ValueError(f"pick_providers: argument 'requested' contains an empty name: {list(requested)!r}")
    if not names:
        raise ValueError(
            f"pick_providers: argument 'requested' names no provider; available: {', '.join(avail)}"
        )
    offered = list(_ort().get_available_providers())
    out: List[str] = []
    for n in names:
        canon = _canonical_provider(n, offered)
        if canon is None:
            raise ValueError(
                f"pick_providers: unknown execution provider {n!r}; available: {', '.join(avail)} "
                f"(aliases: {', '.join(sorted(PROVIDER_ALIASES))})"
            )
        if canon not in offered:
            cpu_build = canon in _GPU and not any(p in offered for p in _GPU)
            raise ValueError(
                f"pick_providers: execution provider {n!r} ({canon}) is not available in this "
                f"onnxruntime installation; available: {', '.join(avail)}"
                + (f". This is ONNX Runtime's CPU-only build; for the GPU: {cpu_build_fix()}" if cpu_build else "")
            )
        if canon not in out:
            out.append(canon)
    if _CPU not in out:
        out.append(_CPU)
    return out
