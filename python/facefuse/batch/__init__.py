"""Batch jobs and scale-out: many videos, long videos, many GPUs, locally or on Ray.

* :func:`load_jobs` reads and validates a ``jobs.yaml`` / ``.json`` / ``.jsonl`` file.
* :func:`run_batch` runs it: a worker process per GPU (or N CPU workers), each keeping its
  ONNX sessions warm across jobs, or Ray tasks (``ray="auto"``); a manifest makes a run
  resumable; long videos are split into chunks run in parallel and joined frame-exactly.
* The ``facefuse batch`` command (:mod:`facefuse.batch.cli`) wraps both.

Names are imported on first use, so ``facefuse --help`` does not load the video stack.
"""
from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "DEFAULT_WARMUP_FRAMES": "kinds", "KINDS": "kinds", "JobKind": "kinds", "resolve_kind": "kinds",
    "join_chunks": "chunks", "plan_chunks": "chunks",
    "Job": "jobs", "JobFileError": "jobs", "load_jobs": "jobs", "parse_jobs": "jobs",
    "Manifest": "manifest", "ManifestError": "manifest",
    "BatchReport": "runner", "JobOutcome": "runner", "run_batch": "runner",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list:
    return sorted(list(globals()) + __all__)
