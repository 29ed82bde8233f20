"""Where batch units run: local worker processes, or Ray tasks.

Both expose the same small interface to the scheduler in :mod:`facefuse.batch.runner`:
``free_slots()``, ``submit(unit) -> events``, ``busy()``, ``poll(timeout) -> events`` and
``close()``. Events are tuples ``("start", uid)``, ``("progress", uid, done, total)``,
``("done", uid, stats)`` and ``("failed", uid, {"reason": ..., "traceback": ...})``.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
from multiprocessing.connection import wait
from typing import Any, Dict, List, Optional, Sequence

from .._signals import register_emergency, unregister_emergency
from .worker import Unit, ray_task, worker_main

__all__ = ["LocalExecutor", "RayExecutor"]

Event = tuple


class _Worker:
    def __init__(self, ctx: Any, cuda_device: Optional[str], args: tuple) -> None:
        self.cuda_device = cuda_device
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=worker_main, args=(child, *args), daemon=True,
                                name=f"facefuse-batch-worker{'-gpu' + cuda_device if cuda_device else ''}")
        # the child's environment is copied from ours when it starts: set the GPU it owns
        old = os.environ.get("CUDA_VISIBLE_DEVICES")
        if cuda_device is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = cuda_device
        try:
            self.proc.start()
        finally:
            if cuda_device is not None:
                if old is None:
                    os.environ.pop("CUDA_VISIBLE_DEVICES", None)
                else:
                    os.environ["CUDA_VISIBLE_DEVICES"] = old
        child.close()
        self.uid: Optional[str] = None


class LocalExecutor:
    """One spawned process per entry of ``devices``: a CUDA device id string (the worker
    sees only that GPU through ``CUDA_VISIBLE_DEVICES``) or None (a CPU worker, whose
    native core uses ``threads`` threads). A worker that dies fails its unit and is
    replaced."""

    def __init__(self, devices: Sequence[Optional[str]], *, models_dir: Optional[str] = None,
                 providers: Optional[str] = None, threads: Optional[int] = None) -> None:
        if not devices:
            raise ValueError("LocalExecutor: argument 'devices' is empty")
        self._ctx = mp.get_context("spawn")  # no fork: onnxruntime / CUDA state must not be inherited
        self._args = (models_dir, providers, threads)
        self._workers: List[_Worker] = []
        # a second Ctrl-C ends the batch at once: the workers first, so that their temporary
        # files can be removed (facefuse._signals.leave_now)
        register_emergency(self._kill_now)
        try:
            for d in devices:
                self._workers.append(_Worker(self._ctx, d, self._args))
        except BaseException:
            self.close()
            raise

    def free_slots(self) -> int:
        return sum(w.uid is None for w in self._workers)

    def busy(self) -> bool:
        return any(w.uid is not None for w in self._workers)

    def submit(self, unit: Unit) -> List[Event]:
        i, w = next((i, w) for i, w in enumerate(self._workers) if w.uid is None)
        try:
            w.conn.send(unit)
        except OSError:  # the idle worker died (BrokenPipeError): replace it, fail nothing
            self._replace(i)
            w = self._workers[i]
            w.conn.send(unit)
        w.uid = unit.uid
        return [("start", unit.uid)]

    def _replace(self, i: int) -> None:
        old = self._workers[i]
        try:
            old.conn.close()
        except OSError:
            pass
        self._workers[i] = _Worker(self._ctx, old.cuda_device, self._args)

    def poll(self, timeout: float) -> List[Event]:
        busy = [w for w in self._workers if w.uid is not None]
        if not busy:
            return []
        ready = set(wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout))
        events: List[Event] = []
        for i, w in enumerate(self._workers):
            if w.uid is None:
                continue
            dead = False
            if w.conn in ready:
                try:
                    while w.conn.poll():
                        msg = w.conn.recv()
                        events.append(msg)
                        if msg[0] in ("done", "failed"):
                            w.uid = None
                            break
                except (EOFError, OSError):
                    dead = True
            if w.uid is not None and (dead or w.proc.sentinel in ready) and not w.proc.is_alive():
                w.proc.join(1)
                code = w.proc.exitcode
                events.append(("failed", w.uid, {"reason": f"worker process died (exit code {code})",
                                                 "traceback": ""}))
                w.uid = None
                self._replace(i)
        return events

    def _kill_now(self) -> None:
        """SIGKILL every worker and reap it (the emergency exit of a second Ctrl-C)."""
        procs = [w.proc for w in self._workers]
        for p in procs:
            try:
                if p.pid is not None:
                    os.kill(p.pid, signal.SIGKILL)
            except OSError:
                pass
        for p in procs:
            try:
                p.join(2)
            except Exception:  # noqa: BLE001 - leaving anyway
                pass

    def close(self) -> None:
        unregister_emergency(self._kill_now)
        for w in self._workers:
            try:
                if w.uid is None and w.proc.is_alive():
                    w.conn.send(None)
            except (OSError, BrokenPipeError):
                pass
        for w in self._workers:
            w.proc.join(2 if w.uid is None else 0)
            if w.proc.is_alive():
                w.proc.terminate()
                w.proc.join(5)
            if w.proc.is_alive():  # pragma: no cover
                w.proc.kill()
                w.proc.join()
            try:
                w.conn.close()
            except OSError:
                pass
        self._workers = []


class RayExecutor:
    """Each unit is a Ray task (``num_cpus=1``, ``num_gpus=gpus_per_task``); Ray decides
    where it runs and sets ``CUDA_VISIBLE_DEVICES`` for it. Inputs, outputs and the chunk
    directories must be on storage every node sees at the same paths.

    ``address``: ``"auto"`` (an existing cluster, as ``ray start`` made), ``"local"`` (start
    a Ray instance in this process) or a cluster address (``ray://host:10001``,
    ``host:6379``). When Ray is already initialised in this process it is used as is.
    """

    def __init__(self, address: str = "auto", *, gpus_per_task: float = 0.0, models_dir: Optional[str] = None,
                 providers: Optional[str] = None) -> None:
        try:
            import ray
        except ImportError:
            raise RuntimeError("--ray needs Ray, an optional extra: pip install 'facefuse[ray]'") from None
        self._ray = ray
        self._owned = False
        if not ray.is_initialized():
            try:
                ray.init(address=None if address == "local" else address, log_to_driver=False)
            except Exception as e:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ...
                raise RuntimeError(f"cannot start or reach Ray at --ray {address!r}: {type(e).__name__}: {e} "
                                   f"('auto' needs a running cluster, e.g. `ray start --head`; 'local' starts "
                                   f"one in this process)") from e
            self._owned = True
        self._task = ray.remote(ray_task).options(num_cpus=1, num_gpus=float(gpus_per_task))
        self._args = (models_dir, providers)
        self._refs: Dict[Any, str] = {}

    def free_slots(self) -> int:
        return 1 << 30  # Ray queues tasks until resources free up

    def busy(self) -> bool:
        return bool(self._refs)

    def submit(self, unit: Unit) -> List[Event]:
        self._refs[self._task.remote(unit, *self._args)] = unit.uid
        return [("start", unit.uid)]

    def poll(self, timeout: float) -> List[Event]:
        if not self._refs:
            return []
        ready, _ = self._ray.wait(list(self._refs), num_returns=len(self._refs), timeout=timeout)
        events: List[Event] = []
        for ref in ready:
            uid = self._refs.pop(ref)
            try:
                res = self._ray.get(ref)
            except Exception as e:  # noqa: BLE001 - the task or its worker failed in Ray
                events.append(("failed", uid, {"reason": f"Ray task failed: {type(e).__name__}: {e}",
                                               "traceback": ""}))
                continue
            if res.get("ok"):
                events.append(("done", uid, res["stats"]))
            else:
                events.append(("failed", uid, res["error"]))
        return events

    def close(self) -> None:
        for ref in list(self._refs):
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # pragma: no cover
                pass
        self._refs = {}
        if self._owned:
            self._ray.shutdown()
