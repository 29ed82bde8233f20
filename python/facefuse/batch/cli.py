"""``facefuse batch``: run a job file (see :mod:`facefuse.batch.jobs`).

    facefuse batch jobs.yaml [--workers N] [--gpus all|0,1] [--force] [--manifest PATH]
                             [--ray auto|local|ADDRESS] [--chunk-seconds S] [--warmup-frames W]
                             [--models-dir DIR] [--offline] [--providers LIST] [--check] [--no-progress]

Exit status: 0 when every job is done (or was done before), 1 when a job failed,
2 for a bad job file or argument, 130 when interrupted.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any, Iterator

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``batch`` sub-command to an argparse ``subparsers`` object."""
    from .kinds import DEFAULT_WARMUP_FRAMES

    p = subparsers.add_parser(
        "batch", help="run a file of swap / lipsync jobs (resumable; many workers, GPUs or Ray)",
        description="Run the jobs of a .yaml / .json / .jsonl file: a worker per GPU or N CPU workers, each "
                    "keeping its models loaded across jobs; a manifest records each job so that a new run "
                    "skips finished outputs and resumes an interrupted one; long videos can be split into "
                    "chunks processed in parallel and joined frame-exactly.")
    p.add_argument("jobs", metavar="JOBS", help="job file (.yaml/.yml needs PyYAML; .json; .jsonl)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="CPU worker processes (default 1); with --gpus, workers per GPU")
    p.add_argument("--gpus", default=None, metavar="all|IDS",
                   help="one worker per GPU: 'all' or device ids '0,1' (each worker sees only its GPU); "
                        "with --ray: GPUs per task (a number; 'all' = 1)")
    p.add_argument("--force", action="store_true", help="redo jobs the manifest records as finished")
    p.add_argument("--manifest", default=None, metavar="PATH",
                   help="job-state file (default: JOBS.manifest.json beside the job file)")
    p.add_argument("--ray", default=None, metavar="auto|local|ADDRESS",
                   help="run jobs / chunks as Ray tasks: 'auto' (running cluster), 'local' (start one here) "
                        "or a cluster address; needs pip install 'facefuse[ray]'")
    p.add_argument("--chunk-seconds", type=float, default=None, metavar="S",
                   help="split videos longer than S seconds into chunks processed in parallel")
    p.add_argument("--warmup-frames", type=int, default=DEFAULT_WARMUP_FRAMES, metavar="W",
                   help=f"frames run before each chunk to warm the smoother and tracks, not written "
                        f"(default {DEFAULT_WARMUP_FRAMES})")
    p.add_argument("--models-dir", default=None, metavar="DIR",
                   help="where the ONNX models are (a missing one is downloaded there on first use)")
    p.add_argument("--offline", action="store_true",
                   help="workers do not download missing model files (sets FACEFUSE_OFFLINE=1 for them; "
                        "Ray nodes need it in their own environment)")
    p.add_argument("--providers", default=None, metavar="LIST",
                   help="ONNX Runtime providers, e.g. 'cuda,cpu' (default: best available)")
    p.add_argument("--check", action="store_true", help="validate the job file, print the jobs and exit")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress on stderr (no status line, no per-job lines); the summary table stays")
    p.set_defaults(func=run)
    return p


@contextlib.contextmanager
def _offline(on: bool) -> Iterator[None]:
    """``FACEFUSE_OFFLINE=1`` for the run when ``on``: the worker processes inherit it (the
    variable, not an argument, so it reaches every pool a worker makes), restored after."""
    from ..inference.fetch import ENV_OFFLINE

    old = os.environ.get(ENV_OFFLINE)
    if on:
        os.environ[ENV_OFFLINE] = "1"
    try:
        yield
    finally:
        if on:
            if old is None:
                os.environ.pop(ENV_OFFLINE, None)
            else:
                os.environ[ENV_OFFLINE] = old


def run(args: argparse.Namespace) -> int:
    """Execute ``facefuse batch`` from parsed arguments; returns the exit status."""
    from .._cli_errors import error_text
    from .jobs import JobFileError, load_jobs
    from .manifest import ManifestError
    from .runner import default_manifest_path, run_batch

    if args.workers < 1:
        print("facefuse batch: --workers must be >= 1", file=sys.stderr)
        return 2
    if args.chunk_seconds is not None and not args.chunk_seconds > 0:
        print("facefuse batch: --chunk-seconds must be > 0", file=sys.stderr)
        return 2
    if args.warmup_frames < 0:
        print("facefuse batch: --warmup-frames must be >= 0", file=sys.stderr)
        return 2
    try:
        jobs = load_jobs(args.jobs)
    except (JobFileError, FileNotFoundError) as e:
        print(f"facefuse batch: {e}", file=sys.stderr)
        return 2
    if args.check:
        for j in jobs:
            ins = ", ".join(f"{k}={v}" for k, v in j.inputs.items())
            print(f"{j.index}\t{j.kind}\t{j.name}\t{ins} -> {j.output}\t{j.options}")
        print(f"{len(jobs)} job(s) valid", file=sys.stderr)
        return 0
    try:
        with _offline(args.offline):
            report = run_batch(jobs, workers=args.workers, gpus=args.gpus, force=args.force,
                               manifest=args.manifest or default_manifest_path(args.jobs), ray=args.ray,
                               chunk_seconds=args.chunk_seconds, warmup_frames=args.warmup_frames,
                               models_dir=args.models_dir, providers=args.providers,
                               progress=None if args.no_progress else sys.stderr)
    except (ManifestError, ValueError, RuntimeError) as e:
        msg = error_text(e, args, api=("run_batch",), renames={"jobs": "JOBS"})  # JOBS: a positional
        print(f"facefuse batch: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # while planning, before any worker ran
        print("facefuse batch: interrupted", file=sys.stderr)
        return 130
    print(report.table())
    if report.interrupted:
        return 130
    return 0 if report.ok else 1
