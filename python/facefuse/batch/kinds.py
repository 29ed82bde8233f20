"""Job kinds: which pipeline function a batch job calls and how its inputs map to it.

A kind names a function ``fn(*inputs, output, *, pool=None, **options)`` (the signature
of ``facefuse.swap_video`` and ``facefuse.lipsync_video``), imported only when a job of
that kind runs, so the registry does not depend on the pipelines being installed.

Besides the built-in names (``swap``, ``lipsync``), a job file may name any
:class:`JobKind` object as ``"package.module:ATTRIBUTE"``: the way to batch a pipeline
of your own (the tests use :mod:`facefuse.testing.batch_kinds`).
"""
from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Dict, Tuple

__all__ = ["JobKind", "KINDS", "RANGE_ARGS", "DEFAULT_WARMUP_FRAMES", "resolve_kind"]

#: warm-up frames run before each chunk but not written (2 s at 25 fps). Measured with
#: swap_video on a moving face: 10 frames leave up to 19 levels of difference to a one-piece
#: run at the chunk start, 25 up to 3, 40 none (the landmark smoother's state converges)
DEFAULT_WARMUP_FRAMES = 50

#: the keyword arguments a pipeline must accept for its jobs to be split into chunks: the
#: engine's frame range, checked once by :func:`facefuse.pipeline.checks.frame_range` (the same
#: names as ``pipeline.checks.RANGE_ARGS``, spelled here so the registry loads no pipeline)
RANGE_ARGS: Tuple[str, ...] = ("start_frame", "stop_frame", "warmup_frames")


@dataclass(frozen=True)
class JobKind:
    """One kind of batch job.

    ``function``: ``"module:attribute"`` of the pipeline function. ``inputs``: its
    positional input names in call order (the output path follows them). ``video_input``:
    the input whose frames are processed (the one a long job is split along).
    ``audio_input``: the input whose audio the output carries; ``audio_at_video_start``:
    True when that audio belongs to the video (it is offset by the video's first frame
    time, as :func:`facefuse.video.process_video` does), False when it starts with frame 0.
    ``output_options`` / ``input_options``: the options that name files the function writes
    (a quality report) / reads (a reference image): no file a batch writes may be a file it
    reads or another file it writes, and a job writing such a side file runs in one piece.
    """

    name: str
    function: str
    inputs: Tuple[str, ...]
    video_input: str
    audio_input: str
    audio_at_video_start: bool = True
    output_options: Tuple[str, ...] = ()
    input_options: Tuple[str, ...] = ()
    processor: str = ""

    def load(self) -> Callable[..., Any]:
        """Import and return the pipeline function; ImportError naming the kind when absent."""
        mod_name, _, attr = self.function.partition(":")
        try:
            mod = importlib.import_module(mod_name)
            return getattr(mod, attr)
        except (ImportError, AttributeError) as e:
            raise ImportError(f"job kind {self.name!r} needs {mod_name}.{attr}, which this installation "
                              f"lacks ({e})") from e

    def parameters(self) -> Tuple[set, bool]:
        """(keyword names the function accepts, whether it takes ``**kwargs``)."""
        sig = inspect.signature(self.load())
        names = {n for n, p in sig.parameters.items()
                 if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        var_kw = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        return names, var_kw

    def accepts(self, name: str) -> bool:
        """Whether the function takes keyword ``name`` by name (``**kwargs`` does not count:
        a pipeline forwarding them elsewhere may reject it)."""
        return name in self.parameters()[0]

    def supports_chunks(self) -> bool:
        """Whether the function takes the frame-range keywords (:data:`RANGE_ARGS`): an engine
        processor's kind does; another function when its signature has them."""
        if self.processor:
            return True
        names = self.parameters()[0]
        return all(a in names for a in RANGE_ARGS)


#: built-in kinds; the functions land in ``facefuse`` with the swap and lip-sync pipelines
KINDS: Dict[str, JobKind] = {
    "swap": JobKind("swap", "facefuse:swap_video", ("source", "target"), video_input="target",
                    audio_input="target", audio_at_video_start=True,
                    output_options=("quality_report", "quality_plot"), input_options=("reference",),
                    processor="facefuse.pipeline.swap_frames:FrameSwapper"),
    "lipsync": JobKind("lipsync", "facefuse:lipsync_video", ("video", "audio"), video_input="video",
                       audio_input="audio", audio_at_video_start=False,
                       output_options=("quality_report", "quality_plot"), input_options=("model",),
                       processor="facefuse.pipeline.lipsync_frames:LipsyncProcessor"),
}


def resolve_kind(name: str) -> JobKind:
    """The :class:`JobKind` for a built-in name or a ``"module:ATTRIBUTE"`` reference.

    Raises ValueError (unknown name, or the reference is not a JobKind) or ImportError.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"job kind must be a non-empty string, got {name!r}")
    if name in KINDS:
        return KINDS[name]
    if ":" not in name:
        raise ValueError(f"unknown job kind {name!r}; known kinds: {', '.join(sorted(KINDS))} "
                         f"(or 'module:ATTRIBUTE' naming a facefuse.batch.JobKind)")
    mod_name, _, attr = name.partition(":")
    try:
        obj = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as e:
        raise ImportError(f"job kind {name!r} cannot be imported: {e}") from e
    if not isinstance(obj, JobKind):
        raise ValueError(f"job kind {name!r} is a {type(obj).__name__}, not a facefuse.batch.JobKind")
    return obj
