"""Pixel boost: a swapper of size S run on a B x B crop (B a multiple of S), as FaceFusion does.

The crop is cut into ``(B // S) ** 2`` tiles of S x S that each hold every ``B // S``-th pixel
(tile ``(i, j)`` is ``crop[i::T, j::T]``, T = B // S): each tile is a whole, subsampled face, so
the swapper sees the faces it was trained on; the swapped tiles are then interleaved back
into a B x B crop. NumPy and CuPy arrays alike (reshape / transpose only).
"""
from __future__ import annotations

from typing import Any, Dict, Tuple

__all__ = ["PIXEL_BOOST_CHOICES", "pixel_boost_choices", "split_tiles", "join_tiles"]

#: FaceFusion 3.8.1's pixel boost sizes per swapper (``face_swapper_set``); the first is the
#: model's own size (no boost).
PIXEL_BOOST_CHOICES: Dict[str, Tuple[int, ...]] = {
    "inswapper_128": (128, 256, 384, 512, 768, 1024),
    "inswapper_128_fp16": (128, 256, 384, 512, 768, 1024),
    "hyperswap_1a_256": (256, 512, 768, 1024),
    "hyperswap_1b_256": (256, 512, 768, 1024),
    "hyperswap_1c_256": (256, 512, 768, 1024),
    "simswap_256": (256, 512, 768, 1024),
}


def pixel_boost_choices(model: str) -> Tuple[int, ...]:
    """The pixel boost sizes ``model`` takes (FaceFusion's list for it)."""
    try:
        return PIXEL_BOOST_CHOICES[model]
    except KeyError:
        raise ValueError(f"argument 'model': no pixel boost sizes for {model!r}; known: "
                         f"{', '.join(sorted(PIXEL_BOOST_CHOICES))}") from None


def split_tiles(crops: Any, size: int) -> Any:
    """[N, B, B, C] -> [N * T * T, size, size, C] tiles (T = B // size), face-major: the tiles
    of face n are rows ``n*T*T .. (n+1)*T*T - 1``, tile ``i*T + j`` = ``crops[n, i::T, j::T]``."""
    n, b = crops.shape[0], crops.shape[1]
    t = b // size
    if t * size != b or crops.shape[2] != b:
        raise ValueError(f"argument 'crops' must be [N, B, B, C] with B a multiple of {size}, got {crops.shape}")
    c = crops.shape[3:]
    x = crops.reshape((n, size, t, size, t) + c)
    x = x.transpose((0, 2, 4, 1, 3) + tuple(range(5, 5 + len(c))))
    return x.reshape((n * t * t, size, size) + c)


def join_tiles(tiles: Any, boost: int) -> Any:
    """The inverse of :func:`split_tiles`: [N * T * T, S, S, (C)] -> [N, boost, boost, (C)]."""
    s = tiles.shape[1]
    t = boost // s
    if t * s != boost or tiles.shape[0] % (t * t) or tiles.shape[2] != s:
        raise ValueError(f"argument 'tiles' must be [N*{t}*{t}, S, S, ...] for boost {boost}, got {tiles.shape}")
    n = tiles.shape[0] // (t * t)
    c = tiles.shape[3:]
    x = tiles.reshape((n, t, t, s, s) + c)
    x = x.transpose((0, 3, 1, 4, 2) + tuple(range(5, 5 + len(c))))
    return x.reshape((n, boost, boost) + c)
