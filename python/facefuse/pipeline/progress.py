"""The frame progress bar, kept importable here: it lives in :mod:`facefuse.progress`
(a neutral module, so that lower layers and the CLIs need not import the pipelines)."""
from __future__ import annotations

from ..progress import ProgressBar, format_duration

__all__ = ["ProgressBar", "format_duration"]
