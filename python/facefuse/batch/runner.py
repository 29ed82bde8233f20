"""The batch scheduler: plan jobs against the manifest, run their units, join chunks.

:func:`run_batch` is the API behind ``facefuse batch``. The parent process is the only
writer of the manifest; workers (local processes or Ray tasks) only run units and report.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Dict, List, Optional, Sequence, TextIO, Union

from .chunks import (DEFAULT_WARMUP_FRAMES, chunk_dir, chunk_path, discard_chunks, join_chunks, plan_chunks,
                     remove_stale_temps)
from .._files import claim_outputs
from ..progress import StatusLine
from .jobs import Job, JobFileError, load_jobs, path_problems
from .kinds import RANGE_ARGS, resolve_kind
from .manifest import Manifest
from .worker import Unit

__all__ = ["JobOutcome", "BatchReport", "run_batch", "parse_gpus", "default_manifest_path"]


@dataclass
class JobOutcome:
    """How one job ended: ``status`` is ``done``, ``skipped`` (finished by an earlier run),
    ``failed`` or ``pending`` (the run was interrupted)."""

    job: Job
    status: str = "pending"
    frames: Optional[int] = None
    seconds: Optional[float] = None
    quality_mean: Optional[float] = None
    quality_min: Optional[float] = None
    chunks: int = 1
    error: Optional[str] = None
    note: Optional[str] = None

    @property
    def fps(self) -> Optional[float]:
        if self.frames and self.seconds:
            return self.frames / self.seconds
        return None


@dataclass
class BatchReport:
    """All outcomes in job-file order, and the run's wall time."""

    outcomes: List[JobOutcome]
    seconds: float
    manifest: str
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(o.status in ("done", "skipped") for o in self.outcomes)

    @property
    def failed(self) -> List[JobOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def counts(self) -> Dict[str, int]:
        c: Dict[str, int] = {}
        for o in self.outcomes:
            c[o.status] = c.get(o.status, 0) + 1
        return c

    def table(self) -> str:
        """The summary table (plain text)."""
        def f(v: Optional[float], fmt: str) -> str:
            return "-" if v is None else format(v, fmt)

        head = ("job", "status", "frames", "fps", "seconds", "tPSNR mean", "tPSNR min", "note")
        rows = []
        for o in self.outcomes:
            note = o.error if o.status == "failed" else (o.note or "")
            if o.chunks > 1:
                note = f"{o.chunks} chunks" + (f"; {note}" if note else "")
            if len(note) > 70:
                note = note[:67] + "..."
            rows.append((f"{o.job.index} {o.job.name}", o.status, "-" if o.frames is None else str(o.frames),
                         f(o.fps, ".1f"), f(o.seconds, ".1f"), f(o.quality_mean, ".2f"), f(o.quality_min, ".2f"),
                         note))
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
        right = {2, 3, 4, 5, 6}

        def line(cells: Sequence[str]) -> str:
            return "  ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i])
                             for i, c in enumerate(cells)).rstrip()

        out = [line(head), line(["-" * w for w in widths])] + [line(r) for r in rows]
        frames = sum(o.frames or 0 for o in self.outcomes if o.status == "done")
        c = self.counts()
        out.append(f"{len(self.outcomes)} job(s): " + ", ".join(f"{v} {k}" for k, v in sorted(c.items()))
                   + f"; {frames} frames made in {self.seconds:.1f} s"
                   + (f" ({frames / self.seconds:.1f} fps overall)" if frames and self.seconds > 0 else "")
                   + ("; INTERRUPTED" if self.interrupted else ""))
        return "\n".join(out)


def default_manifest_path(jobs_file: str) -> str:
    """``jobs.yaml`` -> ``jobs.yaml.manifest.json`` beside it."""
    return os.path.abspath(os.fspath(jobs_file)) + ".manifest.json"


def parse_gpus(spec: Optional[str]) -> Optional[List[str]]:
    """``"0,1"`` -> ["0", "1"]; ``"all"`` -> every GPU nvidia-smi lists (or the entries of
    ``CUDA_VISIBLE_DEVICES``); None -> None (CPU workers). ValueError when none is found."""
    if spec is None:
        return None
    s = str(spec).strip()
    if s.lower() == "all":
        env = os.environ.get("CUDA_VISIBLE_DEVICES")
        if env is not None and env.strip():
            ids = [x.strip() for x in env.split(",") if x.strip()]
        else:
            try:
                out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
            except (OSError, subprocess.SubprocessError):
                out = ""
            ids = [str(i) for i, ln in enumerate(out.splitlines()) if ln.startswith("GPU ")]
        if not ids:
            raise ValueError("--gpus all: no NVIDIA GPU found (nvidia-smi lists none); omit --gpus for CPU workers")
        return ids
    ids = [x.strip() for x in s.split(",")]
    if not ids or any(not x for x in ids):
        raise ValueError(f"argument 'gpus' must be 'all' or a comma-separated list of device ids, got {spec!r}")
    if len(set(ids)) != len(ids):
        raise ValueError(f"argument 'gpus' lists a device twice: {spec!r}")
    return ids


# --------------------------------------------------------------------------- planning

@dataclass
class _Run:
    job: Job
    outcome: JobOutcome
    units: Dict[str, Unit] = field(default_factory=dict)
    remaining: set = field(default_factory=set)
    ranges: Optional[List[tuple]] = None
    chunk_stats: Dict[int, dict] = field(default_factory=dict)
    cdir: Optional[str] = None
    fps: Optional[Fraction] = None
    t0: Optional[float] = None
    progress: Dict[str, tuple] = field(default_factory=dict)


def _stamp(path: str) -> Optional[Dict[str, int]]:
    """What identifies the file written at ``path``: its size and modification time (ns)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return {"size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


def _unchanged(path: str, stamp: Any) -> bool:
    """Whether ``path`` is still the file recorded as ``stamp`` (:func:`_stamp`) when it was
    made: a file replaced, rewritten or touched since is not (nor is an entry without a stamp)."""
    return isinstance(stamp, dict) and stamp.get("size") is not None and _stamp(path) == {
        "size": stamp.get("size"), "mtime_ns": stamp.get("mtime_ns")}


def _note(o: JobOutcome, msg: str) -> None:
    o.note = f"{o.note}; {msg}" if o.note else msg


def _plan(job: Job, manifest: Manifest, *, force: bool, chunk_seconds: Optional[float], warmup: int) -> _Run:
    from ..video import VideoReader, audio_duration, count_frames

    key = job.key
    run = _Run(job, JobOutcome(job))
    entry = manifest.entry(key) or {}
    if not force and entry.get("status") == "done" and os.path.isfile(job.output):
        if _unchanged(job.output, entry.get("written")):
            o = run.outcome
            o.status, o.frames, o.seconds = "skipped", entry.get("frames"), entry.get("seconds")
            o.quality_mean, o.quality_min = entry.get("quality_mean"), entry.get("quality_min")
            o.chunks = len((entry.get("plan") or {}).get("ranges") or []) or 1
            o.note = "finished earlier"
            return run
        # not the file this job made (replaced, rewritten, touched since): make it again
        run.outcome.note = "its output changed since it was made: redone"
    remove_stale_temps(job.output)
    kind = resolve_kind(job.kind)
    inputs = tuple(job.inputs[n] for n in kind.inputs)
    seconds = job.chunk_seconds if job.chunk_seconds is not None else chunk_seconds
    ranges = None
    side = [o for o in kind.output_options if job.options.get(o) is not None]
    if seconds:
        if not kind.supports_chunks():
            _note(run.outcome, f"not split: {kind.function} takes no {'/'.join(RANGE_ARGS)}")
        elif side:
            # every chunk would write the one file, and each would cover its own frames only
            _note(run.outcome, f"not split: its {' / '.join(side)} covers the whole video")
        else:
            video = job.inputs[kind.video_input]
            with VideoReader(video) as r:
                fps = r.fps_fraction
            total = count_frames(video)
            if kind.audio_input != kind.video_input:
                # a separate driving audio (lip sync) cuts the video where it ends: plan that far
                audio_s = audio_duration(job.inputs[kind.audio_input])
                if audio_s is not None:
                    total = max(1, min(total, math.ceil(audio_s * fps)))
            ranges = plan_chunks(total, max(1, int(round(seconds * fps))))
            if len(ranges) < 2:
                ranges = None
            else:
                from ..pipeline.checks import as_fps

                run.fps = as_fps("batch", job.options["fps"]) if job.options.get("fps") else fps
    base = {"name": job.name, "kind": job.kind, "output": job.output, "index": job.index, "error": None,
            "written": None}
    if ranges is None:
        # chunks an earlier, interrupted chunked run of this job left for a resume: unused now
        discard_chunks(chunk_dir(job.output, key))
        uid = f"{key}:all"
        run.units[uid] = Unit(uid, key, job.kind, inputs, job.output, dict(job.options))
        run.remaining.add(uid)
        manifest.update(key, status="pending", plan=None, chunks=None, **base)
        return run
    run.ranges = ranges
    run.cdir = cdir = chunk_dir(job.output, key)
    plan_doc = {"ranges": [list(r) for r in ranges], "warmup": warmup}
    old_chunks = entry.get("chunks") or {}
    if force or entry.get("plan") != plan_doc:
        discard_chunks(cdir)
        old_chunks = {}
    os.makedirs(cdir, exist_ok=True)
    chunks: Dict[str, dict] = {}
    for k, (a, b) in enumerate(ranges):
        path = chunk_path(cdir, k, job.output)
        remove_stale_temps(path)
        old = old_chunks.get(str(k), {})
        if old.get("status") == "done" and _unchanged(path, old.get("written")):
            run.chunk_stats[k] = old.get("stats", {})
            chunks[str(k)] = old
            continue
        uid = f"{key}:{k}"
        run.units[uid] = Unit(uid, key, job.kind, inputs, path, dict(job.options), chunk=k, start_frame=a,
                              stop_frame=None if k == len(ranges) - 1 else b, warmup_frames=min(warmup, a))
        run.remaining.add(uid)
        chunks[str(k)] = {"status": "pending", "range": [a, b]}
    run.outcome.chunks = len(ranges)
    manifest.update(key, status="pending", plan=plan_doc, chunks=chunks, **base)
    return run


def _merge_quality(stats: Sequence[dict]) -> tuple:
    """(frame-weighted mean, min) of the chunks' tPSNR, None when a chunk has none."""
    if not stats or any(s.get("quality_mean") is None for s in stats):
        return None, None
    w = [s.get("quality_count") or s.get("frames") or 1 for s in stats]
    mean = sum(wi * s["quality_mean"] for wi, s in zip(w, stats)) / sum(w)
    mins = [s["quality_min"] for s in stats if s.get("quality_min") is not None]
    return mean, (min(mins) if mins else None)


# --------------------------------------------------------------------------- run

def run_batch(
    jobs: Union[str, "os.PathLike[str]", Sequence[Job]],
    *,
    workers: int = 1,
    gpus: Union[None, str, Sequence[str]] = None,
    force: bool = False,
    manifest: Optional[str] = None,
    ray: Optional[str] = None,
    chunk_seconds: Optional[float] = None,
    warmup_frames: int = DEFAULT_WARMUP_FRAMES,
    models_dir: Optional[str] = None,
    providers: Optional[str] = None,
    progress: Optional[TextIO] = sys.stderr,
) -> BatchReport:
    """Run a batch of jobs; returns a :class:`BatchReport` (failures are in it, not raised).

    Parameters
    ----------
    jobs:
        A job file path (see :mod:`facefuse.batch.jobs`) or validated :class:`Job` objects.
    workers:
        CPU worker processes; with ``gpus``, worker processes per GPU.
    gpus:
        None (CPU workers), ``"all"``, or device ids (``"0,1"`` / ``["0", "1"]``): one worker
        per GPU, each seeing only its own through ``CUDA_VISIBLE_DEVICES``. With ``ray``: a
        number of GPUs each task asks for (``"all"`` means 1).
    force:
        Redo jobs the manifest records as finished.
    manifest:
        Manifest path (default: the job file's path + ``.manifest.json``; required when
        ``jobs`` is a list).
    ray:
        None (local workers) or a Ray address: ``"auto"``, ``"local"``, ``"ray://..."``.
    chunk_seconds, warmup_frames:
        Split a job whose video is longer than ``chunk_seconds`` into chunks run in
        parallel, each preceded by ``warmup_frames`` frames run but not written.
    models_dir, providers:
        For the workers' :class:`facefuse.inference.InferencePool`.
    progress:
        Stream for progress lines (None: quiet).
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"run_batch: argument 'workers' must be an int >= 1, got {workers!r}")
    if isinstance(warmup_frames, bool) or not isinstance(warmup_frames, int) or warmup_frames < 0:
        raise ValueError(f"run_batch: argument 'warmup_frames' must be an int >= 0, got {warmup_frames!r}")
    if chunk_seconds is not None and (isinstance(chunk_seconds, bool) or not isinstance(chunk_seconds, (int, float))
                                      or not chunk_seconds > 0):
        raise ValueError(f"run_batch: argument 'chunk_seconds' must be a positive number, got {chunk_seconds!r}")
    if isinstance(jobs, (str, os.PathLike)):
        manifest = manifest or default_manifest_path(os.fspath(jobs))
        job_list = load_jobs(jobs)
    else:
        job_list = list(jobs)
        if not all(isinstance(j, Job) for j in job_list):
            raise TypeError("run_batch: argument 'jobs' must be a job file path or a list of facefuse.batch.Job")
        if manifest is None:
            raise ValueError("run_batch: argument 'manifest' is required when 'jobs' is a list")
        problems = path_problems(job_list)  # load_jobs checked a job file already
        if problems:
            raise JobFileError("run_batch: argument 'jobs'", problems)

    t_start = time.perf_counter()
    disp = StatusLine(progress, prefix="[batch] ")  # None: quiet
    with Manifest(manifest) as man:
        runs: List[_Run] = []
        for job in job_list:
            try:
                runs.append(_plan(job, man, force=force, chunk_seconds=chunk_seconds, warmup=warmup_frames))
            except Exception as e:  # noqa: BLE001 - this job fails, the others go on
                r = _Run(job, JobOutcome(job, status="failed", error=f"planning failed: {type(e).__name__}: {e}"))
                man.update(job.key, status="failed", error=r.outcome.error, name=job.name, output=job.output)
                disp.event(f"{job.label}: FAILED {r.outcome.error}")
                runs.append(r)
        for r in runs:
            if r.outcome.status == "skipped":
                disp.event(f"{r.job.label}: finished earlier, skipped ({r.job.output})")
        by_key = {r.job.key: r for r in runs}
        queue = deque(u for r in runs if r.outcome.status == "pending" for u in r.units.values())
        # while the batch runs, these outputs and chunk files are written for it: a second Ctrl-C
        # removes their temporary files after killing the workers (facefuse._signals)
        claim = claim_outputs([r.job.output for r in runs if r.outcome.status == "pending"]
                              + [u.output for u in queue], sweep=False)
        claim.__enter__()
        for r in runs:  # every chunk already made: only the join is left
            if r.outcome.status == "pending" and not r.remaining:
                r.t0 = time.perf_counter()
                _finish(r, man, disp)
        executor = None
        interrupted = False
        try:
            if queue:
                executor = _make_executor(ray, workers, gpus, models_dir, providers)
            while queue or (executor is not None and executor.busy()):
                while queue and executor.free_slots():
                    unit = queue.popleft()
                    r = by_key[unit.key]
                    if r.outcome.status != "pending":
                        continue  # an earlier chunk of its job failed
                    _events(executor.submit(unit), by_key, man, disp)
                _events(executor.poll(0.2), by_key, man, disp)
                disp.status(_status_line(runs))
        except KeyboardInterrupt:
            interrupted = True
            disp.event("interrupted: finished outputs are kept; run the same command again to resume")
        finally:
            try:
                if executor is not None:
                    executor.close()
                disp.close()
            finally:
                claim.__exit__(None, None, None)
        for r in runs:
            if r.outcome.status == "pending" and interrupted:
                r.outcome.note = "interrupted"
                for u in r.units.values():  # the stopped workers' temporary files
                    remove_stale_temps(u.output)
    return BatchReport([r.outcome for r in runs], time.perf_counter() - t_start, os.path.abspath(manifest),
                       interrupted=interrupted)


def _make_executor(ray: Optional[str], workers: int, gpus: Union[None, str, Sequence[str]],
                   models_dir: Optional[str], providers: Optional[str]) -> Any:
    from .executors import LocalExecutor, RayExecutor

    if ray:
        per_task = 0.0
        if gpus is not None:
            g = str(gpus).strip().lower() if isinstance(gpus, str) else None
            try:
                per_task = 1.0 if g in ("all", None) else float(g)
            except ValueError:
                raise ValueError(f"with --ray, --gpus is the GPUs each task asks for (a number, or 'all' = 1), "
                                 f"got {gpus!r}") from None
            if per_task <= 0:
                raise ValueError(f"with --ray, --gpus must be > 0, got {gpus!r}")
        return RayExecutor(ray, gpus_per_task=per_task, models_dir=models_dir, providers=providers)
    ids = parse_gpus(gpus) if isinstance(gpus, str) or gpus is None else [str(g) for g in gpus]
    if ids is None:
        devices: List[Optional[str]] = [None] * workers
        threads = max(1, (os.cpu_count() or 1) // workers)
    else:
        devices = [d for d in ids for _ in range(workers)]
        threads = None
    return LocalExecutor(devices, models_dir=models_dir, providers=providers, threads=threads)


def _status_line(runs: List[_Run]) -> str:
    c: Dict[str, int] = {}
    for r in runs:
        c[r.outcome.status] = c.get(r.outcome.status, 0) + 1
    parts = []
    for r in runs:
        if r.outcome.status != "pending" or r.t0 is None:
            continue
        done = sum(p[0] for p in r.progress.values())
        total = sum(p[1] for p in r.progress.values())
        n_units = len(r.ranges) if r.ranges else 1
        left = len(r.remaining)
        s = r.job.name + (f" {n_units - left}/{n_units} chunks" if r.ranges else "")
        if total:
            s += f" {done}/{total}f"
        parts.append(s)
    head = (f"{c.get('done', 0) + c.get('skipped', 0)}/{len(runs)} done"
            + (f", {c['failed']} failed" if c.get("failed") else ""))
    return f"[batch {head}] " + " | ".join(parts)


def _events(events: List[tuple], by_key: Dict[str, _Run], man: Manifest, disp: StatusLine) -> None:
    for ev in events:
        kind, uid = ev[0], ev[1]
        key = uid.rsplit(":", 1)[0]
        r = by_key.get(key)
        if r is None:
            continue
        unit = r.units[uid]
        if kind == "start":
            if r.t0 is None:
                r.t0 = time.perf_counter()
                man.update(key, status="running")
                disp.event(f"{r.job.label}: started" + (f" ({len(r.ranges)} chunks)" if r.ranges else ""))
            if unit.chunk is not None:
                man.update_chunk(key, unit.chunk, status="running")
        elif kind == "progress":
            r.progress[uid] = (ev[2], ev[3])
        elif kind == "done":
            r.remaining.discard(uid)
            stats = ev[2]
            if unit.chunk is not None:
                r.chunk_stats[unit.chunk] = stats
                man.update_chunk(key, unit.chunk, status="done", stats=stats, written=_stamp(unit.output))
            else:
                r.chunk_stats[0] = stats
            if r.outcome.status == "pending" and not r.remaining:
                _finish(r, man, disp)
        elif kind == "failed":
            r.remaining.discard(uid)
            remove_stale_temps(unit.output)  # what a dead worker's writer left behind
            err = ev[2]
            if unit.chunk is not None:
                man.update_chunk(key, unit.chunk, status="failed", error=err["reason"])
            if r.outcome.status == "pending":
                where = f"chunk {unit.chunk}: " if unit.chunk is not None else ""
                _fail(r, man, disp, where + err["reason"], err.get("traceback"))


def _fail(r: _Run, man: Manifest, disp: StatusLine, reason: str, tb: Optional[str] = None) -> None:
    r.outcome.status, r.outcome.error = "failed", reason
    r.outcome.seconds = time.perf_counter() - r.t0 if r.t0 is not None else None
    man.update(r.job.key, status="failed", error=reason, traceback=tb or None)
    disp.event(f"{r.job.label}: FAILED {reason}")


def _finish(r: _Run, man: Manifest, disp: StatusLine) -> None:
    """All units of ``r`` are done: join the chunks if any, record the outcome."""
    o = r.outcome
    if r.ranges is None:
        s = r.chunk_stats[0]
        o.frames, o.quality_mean, o.quality_min = s.get("frames"), s.get("quality_mean"), s.get("quality_min")
    else:
        kind = resolve_kind(r.job.kind)
        parts = [chunk_path(r.cdir, k, r.job.output) for k in range(len(r.ranges))]
        try:
            # the last chunk runs to the end of the video (or of the audio): its length is not fixed
            expected = [b - a for a, b in r.ranges[:-1]] + [None]
            video = r.job.inputs[kind.video_input]
            driving = r.job.inputs[kind.audio_input] if kind.audio_input != kind.video_input else None
            cfr = r.job.options.get("fps") is not None  # the chunks were written at a constant rate
            o.frames = join_chunks(parts, r.job.output, fps=r.fps, expected_frames=expected,
                                   audio_from=driving, audio_offset=0.0, streams_from=video,
                                   audio_track=int(r.job.options.get("audio_track") or 0),
                                   source=None if cfr else video, ranges=None if cfr else r.ranges)
        except Exception as e:  # noqa: BLE001
            _fail(r, man, disp, f"joining the chunks failed: {type(e).__name__}: {e}")
            return
        stats = [r.chunk_stats[k] for k in range(len(r.ranges))]
        o.quality_mean, o.quality_min = _merge_quality(stats)
    o.status = "done"
    if r.ranges is None and r.chunk_stats[0].get("seconds"):
        o.seconds = r.chunk_stats[0]["seconds"]  # time in the worker (a Ray task may have queued)
    else:  # first chunk started -> join finished
        o.seconds = time.perf_counter() - r.t0 if r.t0 is not None else None
    man.update(r.job.key, status="done", frames=o.frames, seconds=o.seconds, fps=o.fps,
               quality_mean=o.quality_mean, quality_min=o.quality_min, error=None, traceback=None,
               written=_stamp(r.job.output))  # a later run skips the job only while this is the file
    if r.cdir is not None:
        discard_chunks(r.cdir)
    fps = f", {o.fps:.1f} fps" if o.fps else ""
    disp.event(f"{r.job.label}: done, {o.frames} frames{fps} -> {r.job.output}")
