"""The scaffolding of one pipeline run, owned here once: the outputs claimed (stale temporary
files of a killed run swept, ours removed on any failure), the model pool opened and closed
when the caller gave none, and the progress display."""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterable, Iterator, Optional, Tuple

from .._files import claim_outputs

__all__ = ["pipeline_scope", "progress_callback"]


@contextlib.contextmanager
def pipeline_scope(outputs: Iterable[Any], pool: Any = None, **pool_args: Any) -> Iterator[Any]:
    """Claim ``outputs`` and yield the :class:`~facefuse.inference.InferencePool` to use:
    ``pool`` when given (kept open), else one made with ``pool_args`` and closed at the end."""
    with claim_outputs(outputs):
        own = pool is None
        if own:
            from ..inference import InferencePool

            pool = InferencePool(**pool_args)
        try:
            yield pool
        finally:
            if own:
                pool.close()


def progress_callback(progress: Any, total: int, label: str) -> Tuple[Optional[Callable[[int, int], None]], Any]:
    """(callback, bar) for a ``progress`` argument: a callable is used as it is; True draws a
    bar on stderr (when it is a terminal; close it at the end); False / None: neither."""
    if callable(progress) and not isinstance(progress, bool):
        return progress, None
    if progress:
        from ..progress import ProgressBar

        bar = ProgressBar(total, label=label)
        return bar.update, bar
    return None, None
