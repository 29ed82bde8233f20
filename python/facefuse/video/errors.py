"""The error every video / image module raises, the FFmpeg errors it wraps, and the path type
they take."""
from __future__ import annotations

import os
from typing import Union

import av

PathLike = Union[str, "os.PathLike[str]"]

#: what PyAV raises for a file FFmpeg cannot read or write (each is re-raised as VideoError)
_FFMPEG_ERRORS: tuple = (av.FFmpegError, EOFError, UnicodeDecodeError)


class VideoError(ValueError):
    """A video/image file could not be opened, decoded, encoded or written."""
