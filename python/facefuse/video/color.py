"""Colour of a video stream: its matrix / range / primaries / transfer tags and bit depth, the
YUV <-> BGR conversion that matches them (both ways the same, so unchanged pixels survive a
decode -> encode round trip within encoder noise), and the output pixel format that keeps the
input's bit depth and chroma layout.

Untagged streams (matrix "unspecified") are converted as players guess them: BT.709 for HD
(width >= 1280 or height > 576), BT.601 below; the output then stays untagged, as it came.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, List, Optional

import numpy as np

import av
from av.video.reformatter import ColorPrimaries, ColorRange, ColorTrc, Colorspace

__all__ = ["ColorInfo", "color_of", "to_bgr", "from_bgr", "encoder_pix_fmts", "output_pix_fmt", "bit_depth"]

# AVColorSpace value -> the swscale matrix that converts it (AVCOL_SPC_* and SWS_CS_* share values)
_MATRIX_NAMES = {1: "bt709", 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 9: "bt2020nc",
                 10: "bt2020c"}
_SWS_MATRIX = {1: Colorspace.ITU709, 4: Colorspace.FCC, 5: Colorspace.ITU601, 6: Colorspace.SMPTE170M,
               7: Colorspace.SMPTE240M, 9: Colorspace.BT2020, 10: Colorspace.BT2020}
_RANGE_NAMES = {0: "unspecified", 1: "limited", 2: "full"}


def _enum_name(enum: Any, value: int) -> str:
    try:
        return enum(value).name.lower()
    except ValueError:
        return str(value)


def bit_depth(pix_fmt: str) -> int:
    """Bits per sample of ``pix_fmt`` (its first component): 8, 10, 12 or 16."""
    return int(av.VideoFormat(pix_fmt).components[0].bits)


@dataclass(frozen=True)
class ColorInfo:
    """What a stream says about its colour (the AVFrame tags, integer AVCOL_* values), its pixel
    format and size. ``matrix`` / ``primaries`` / ``trc`` 2 and ``range`` 0 mean unspecified."""

    matrix: int = 2
    range: int = 0
    primaries: int = 2
    trc: int = 2
    pix_fmt: str = "yuv420p"
    width: int = 0
    height: int = 0

    @property
    def full_range(self) -> bool:
        """Full (JPEG) range: tagged so, or a ``yuvj*`` pixel format (full by definition)."""
        return self.range == 2 or self.pix_fmt.startswith("yuvj")

    @property
    def bit_depth(self) -> int:
        return bit_depth(self.pix_fmt)

    @property
    def is_rgb(self) -> bool:
        return self.pix_fmt.startswith(("gbr", "rgb", "bgr", "argb", "abgr", "rgba", "bgra", "pal8"))

    @property
    def conversion_matrix(self) -> Colorspace:
        """The swscale matrix both directions use: the tagged one, else the players' guess."""
        if self.matrix in _SWS_MATRIX:
            return _SWS_MATRIX[self.matrix]
        hd = self.width >= 1280 or self.height > 576
        return Colorspace.ITU709 if hd else Colorspace.ITU601

    def describe(self) -> dict:
        """Readable tags for ``facefuse probe`` (names as FFmpeg prints them)."""
        d = asdict(self)
        d["matrix"] = _MATRIX_NAMES.get(self.matrix, "unspecified" if self.matrix == 2 else str(self.matrix))
        d["range"] = ("full" if self.full_range else _RANGE_NAMES.get(self.range, str(self.range)))
        d["primaries"] = _enum_name(ColorPrimaries, self.primaries)
        d["trc"] = _enum_name(ColorTrc, self.trc)
        d["bit_depth"] = self.bit_depth
        d["converted_with"] = ("rgb (no matrix)" if self.is_rgb else
                               f"{self.conversion_matrix.name.lower()} "
                               f"{'full' if self.full_range else 'limited'} range")
        return d


def color_of(frame: Any) -> ColorInfo:
    """The colour tags, pixel format and size of a decoded ``av.VideoFrame``."""
    return ColorInfo(matrix=int(frame.colorspace), range=int(frame.color_range),
                     primaries=int(frame.color_primaries), trc=int(frame.color_trc),
                     pix_fmt=frame.format.name, width=int(frame.width), height=int(frame.height))


def to_bgr(frame: Any, color: ColorInfo) -> np.ndarray:
    """``frame`` as H x W x 3 uint8 BGR, converted with ``color``'s matrix and range."""
    if color.is_rgb:
        return frame.to_ndarray(format="bgr24")
    rng = ColorRange.JPEG if color.full_range else ColorRange.MPEG
    return frame.to_ndarray(format="bgr24", src_colorspace=color.conversion_matrix, src_color_range=rng,
                            dst_color_range=ColorRange.JPEG)


def from_bgr(image: np.ndarray, color: Optional[ColorInfo], pix_fmt: str) -> Any:
    """An ``av.VideoFrame`` in ``pix_fmt`` from BGR ``image``, converted with ``color``'s matrix
    and range (the inverse of :func:`to_bgr`) and carrying its tags; ``color`` None: BT.601
    limited, untagged (FFmpeg's default)."""
    frame = av.VideoFrame.from_ndarray(image, format="bgr24")
    out_rgb = pix_fmt.startswith(("gbr", "rgb", "bgr"))
    if color is None or (color.is_rgb and not out_rgb):
        return frame.reformat(format=pix_fmt)
    full = color.full_range or pix_fmt.startswith("yuvj")
    rng = ColorRange.JPEG if full else ColorRange.MPEG
    out = frame.reformat(format=pix_fmt, src_colorspace=color.conversion_matrix,
                         dst_colorspace=color.conversion_matrix, src_color_range=ColorRange.JPEG,
                         dst_color_range=ColorRange.JPEG if out_rgb else rng)
    # the tags exactly as they came (reformat sets the matrix it used even where the input had none)
    out.colorspace = color.matrix
    out.color_range = 2 if full else color.range
    out.color_primaries = color.primaries
    out.color_trc = color.trc
    return out


def encoder_pix_fmts(codec: str) -> Optional[List[str]]:
    """The pixel formats encoder ``codec`` takes (empty: it does not say), or None for a codec
    FFmpeg does not know (:class:`~facefuse.video.VideoWriter` names that one itself)."""
    try:
        return [f.name for f in (av.Codec(codec, "w").video_formats or [])]
    except Exception:  # noqa: BLE001 - an unknown codec
        return None


def output_pix_fmt(codec: str, color: Optional[ColorInfo]) -> str:
    """The encoder's pixel format closest to the input's: the same (``yuvj*`` as ``yuv*``, full
    range then carried by the tag) when ``codec`` takes it; else 4:2:0 at the input's depth
    (10-bit input: ``yuv420p10le``) when it takes that; else ``yuv420p``."""
    formats = encoder_pix_fmts(codec) or []
    if color is None:
        return "yuv420p" if not formats or "yuv420p" in formats else formats[0]
    want = color.pix_fmt.replace("yuvj", "yuv")
    if want in formats:
        return want
    if color.bit_depth > 8 and "yuv420p10le" in formats:
        return "yuv420p10le"
    return "yuv420p" if not formats or "yuv420p" in formats else formats[0]
