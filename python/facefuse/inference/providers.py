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


def available_providers() -> List[str]:
    """The supported providers the installed onnxruntime offers, in :data:`PROVIDER_ORDER`.

    ``CPUExecutionProvider`` is always included (and always last). Providers facefuse does not
    know about (e.g. ``AzureExecutionProvider``) are left out.
    """
    offered = set(_ort().get_available_providers())
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
            raise ValueError(
                f"pick_providers: execution provider {n!r} ({canon}) is not available in this "
                f"onnxruntime installation; available: {', '.join(avail)}"
            )
        if canon not in out:
            out.append(canon)
    if _CPU not in out:
        out.append(_CPU)
    return out
