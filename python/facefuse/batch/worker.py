"""What a batch worker runs: one :class:`Unit` (a whole job or one chunk of it).

Used by both backends: the local one (one spawned process per GPU or CPU slot, see
:func:`worker_main`) and Ray (:func:`ray_task`). A worker process keeps one
:class:`facefuse.inference.InferencePool` per (models_dir, providers) for its whole life,
so ONNX sessions loaded by one job are warm for the next.
"""
from __future__ import annotations

import inspect
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

from .kinds import resolve_kind

__all__ = ["Unit", "execute_unit", "result_stats", "worker_main", "ray_task", "warm_pool"]

#: seconds between progress messages of a running unit
PROGRESS_EVERY = 0.5


@dataclass(frozen=True)
class Unit:
    """One piece of work: job ``key``'s whole run (``chunk`` None) or one chunk of it."""

    uid: str
    key: str
    kind: str
    inputs: Tuple[str, ...]           # positional inputs, in the kind's order
    output: str                       # the job's output, or the chunk file
    options: Dict[str, Any]
    chunk: Optional[int] = None
    start_frame: int = 0
    stop_frame: Optional[int] = None  # None: to the end
    warmup_frames: int = 0


_POOLS: Dict[Tuple[Any, Any], Any] = {}


def warm_pool(models_dir: Optional[str], providers: Optional[str]) -> Any:
    """This process's InferencePool for (models_dir, providers), created on first use."""
    key = (models_dir, providers)
    pool = _POOLS.get(key)
    if pool is None:
        from ..inference import InferencePool

        # a worker draws no download bar (the batch owns the terminal); downloads it makes
        # of the same file as another worker take turns on the file's lock
        pool = _POOLS[key] = InferencePool(models_dir=models_dir, providers=providers, download_progress=False)
    return pool


def _get(obj: Any, *names: str) -> Any:
    for n in names:
        if isinstance(obj, dict) and n in obj:
            return obj[n]
        if not isinstance(obj, dict) and hasattr(obj, n):
            return getattr(obj, n)
    return None


def result_stats(result: Any) -> Dict[str, Any]:
    """``frames`` and tPSNR ``quality_mean`` / ``quality_min`` from what a pipeline returned:
    an int (frames) or a dict / object with ``frames`` (or ``frames_written`` /
    ``frame_count``) and ``quality`` (a :class:`facefuse.ops.QualityMonitor`, its
    ``summary()`` dict, or a dict with ``tpsnr: {mean, min}``). Missing values are None."""
    out: Dict[str, Any] = {"frames": None, "quality_mean": None, "quality_min": None, "quality_count": None}
    if isinstance(result, bool):
        return out
    if isinstance(result, int):
        out["frames"] = result
        return out
    if result is None:
        return out
    frames = _get(result, "frames", "frames_written", "frame_count")
    if isinstance(frames, int) and not isinstance(frames, bool):
        out["frames"] = frames
    q = _get(result, "quality", "quality_summary", "summary")
    if callable(getattr(q, "summary", None)):
        q = q.summary()
    if isinstance(q, dict):
        t = q.get("tpsnr", q)
        if isinstance(t, dict) and isinstance(t.get("mean"), (int, float)):
            out["quality_mean"] = float(t["mean"])
            out["quality_min"] = float(t["min"]) if isinstance(t.get("min"), (int, float)) else None
            c = t.get("count")
            out["quality_count"] = int(c) if isinstance(c, int) else None
    return out


def execute_unit(unit: Unit, models_dir: Optional[str] = None, providers: Optional[str] = None,
                 progress: Optional[Callable[[int, int], None]] = None) -> Dict[str, Any]:
    """Run ``unit``: import its pipeline and call it with this process's warm pool for
    (models_dir, providers) — a job's own ``models_dir`` / ``providers`` options pick
    another warm pool instead of going to the pipeline. ``progress(done, total)`` goes to
    the pipeline's ``on_progress`` or ``progress`` parameter. Returns :func:`result_stats`
    plus ``seconds``; ``frames`` is counted from the file when the pipeline does not say."""
    kind = resolve_kind(unit.kind)
    fn = kind.load()
    kwargs: Dict[str, Any] = dict(unit.options)
    names, _ = kind.parameters()
    if "pool" in names:
        # a pipeline given a pool takes no models_dir / providers: they choose the pool
        md = kwargs.pop("models_dir", None) or models_dir
        pv = kwargs.pop("providers", None) or providers
        kwargs["pool"] = warm_pool(md, pv if pv is None or isinstance(pv, str) else ",".join(pv))
    if unit.chunk is not None:
        kwargs.update(start_frame=unit.start_frame, stop_frame=unit.stop_frame, warmup_frames=unit.warmup_frames)
        if "copy_audio" in names:
            kwargs["copy_audio"] = False  # the join copies the audio once over the whole
    for name in ("on_progress", "progress"):
        if name in names:
            # the batch draws progress; a pipeline's own bar would fight with it on the terminal
            if progress is not None:
                kwargs[name] = progress
            elif inspect.signature(fn).parameters[name].default is True:
                kwargs[name] = False
            break
    os.makedirs(os.path.dirname(unit.output), exist_ok=True)
    t0 = time.perf_counter()
    result = fn(*unit.inputs, unit.output, **kwargs)
    stats = result_stats(result)
    stats["seconds"] = time.perf_counter() - t0
    if stats["frames"] is None:
        from ..video import count_frames

        stats["frames"] = count_frames(unit.output)
    return stats


def _format_error(e: BaseException) -> Dict[str, str]:
    tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    return {"reason": f"{type(e).__name__}: {e}", "traceback": tb}


# ------------------------------------------------------------------ local worker process

def _die_with_parent() -> None:
    """Exit when the batch process dies (also by SIGKILL), so no orphan keeps writing."""
    ppid = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except Exception:  # pragma: no cover - the watchdog below still works
            pass

    def watch() -> None:
        while True:
            if os.getppid() != ppid:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, name="facefuse-batch-parent-watch", daemon=True).start()


def worker_main(conn: Any, models_dir: Optional[str], providers: Optional[str], threads: Optional[int]) -> None:
    """Loop of a local worker process: receive a Unit, send ("progress", uid, done, total)
    messages while it runs, then ("done", uid, stats) or ("failed", uid, error); None stops."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    if threads:
        try:
            from .. import _core

            _core.set_threads(int(threads))
        except Exception:  # pragma: no cover
            pass
    try:
        while True:
            try:
                unit = conn.recv()
            except EOFError:
                return
            if unit is None:
                return
            last = [0.0]

            def progress(done: int, total: int, uid: str = unit.uid) -> None:
                now = time.monotonic()
                if now - last[0] >= PROGRESS_EVERY:
                    last[0] = now
                    conn.send(("progress", uid, done, total))

            try:
                stats = execute_unit(unit, models_dir, providers, progress)
            except Exception as e:  # noqa: BLE001 - reported as this unit's failure
                conn.send(("failed", unit.uid, _format_error(e)))
            else:
                conn.send(("done", unit.uid, stats))
    finally:
        for pool in _POOLS.values():
            pool.close()


# ------------------------------------------------------------------ Ray task

def ray_task(unit: Unit, models_dir: Optional[str], providers: Optional[str]) -> Dict[str, Any]:
    """Body of the Ray task for ``unit``: Ray reuses worker processes, so the module-level
    pool stays warm across the tasks a Ray worker runs. Failures are returned, not raised,
    to keep the pipeline's message intact."""
    try:
        return {"ok": True, "stats": execute_unit(unit, models_dir, providers)}
    except Exception as e:  # noqa: BLE001
        return {"ok": False, "error": _format_error(e)}
