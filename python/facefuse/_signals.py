"""How the ``facefuse`` command ends when it is told to stop.

SIGINT (Ctrl-C) and SIGTERM (``timeout``, ``docker stop``, job schedulers) are handled
alike: the first raises KeyboardInterrupt in the main thread, so the command stops its
stages, removes its temporary files and exits with 128 + the signal's number (130 for
SIGINT, 143 for SIGTERM). A second signal while that shutdown runs ends the process at
once: the emergency callbacks run (``facefuse batch`` kills its worker processes), the
temporary files of every claimed output are removed (:func:`facefuse._files.claim_outputs`),
and the process leaves through ``os._exit`` with the first signal's status.

Why ``os._exit``: an interrupted command can leave a daemon thread of the package inside a
native call that released the GIL (the native core, ONNX Runtime, FFmpeg) when the join
that waits for it is cut short. If the interpreter finalises meanwhile, the thread, on
returning, tries to take the GIL, and CPython ends it with ``pthread_exit``, whose forced
unwind through the C++ frames of the binding (a ``noexcept`` GIL-scope destructor) calls
``std::terminate``: "terminate called without an active exception" and SIGABRT. After an
interrupt there is nothing left to finalise, so the command leaves without finalising.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Any, Callable, Iterator, List, Optional

__all__ = ["HANDLED", "Interrupts", "handle_interrupts", "register_emergency", "unregister_emergency", "leave_now"]

#: the signals handled like Ctrl-C
HANDLED = (signal.SIGINT, signal.SIGTERM)

_emergency: List[Callable[[], None]] = []
_emergency_lock = threading.RLock()  # re-entrant: read by the signal handler in the main thread


def register_emergency(fn: Callable[[], None]) -> None:
    """Run ``fn()`` when a second signal ends the process at once (before the temporary files
    of the claimed outputs are removed): e.g. kill the worker processes that write them."""
    with _emergency_lock:
        _emergency.append(fn)


def unregister_emergency(fn: Callable[[], None]) -> None:
    with _emergency_lock:
        try:
            _emergency.remove(fn)
        except ValueError:
            pass


def _say(msg: str) -> None:
    try:
        os.write(2, msg.encode(errors="replace"))
    except OSError:
        pass


def leave_now(status: int) -> None:
    """End the process now with ``status``: run the emergency callbacks (newest first), remove
    the temporary files of every claimed output (also the ones this process holds), flush
    stdout / stderr and ``os._exit`` (no interpreter finalisation, see the module docstring)."""
    from ._files import claimed_outputs, sweep_temps

    with _emergency_lock:
        callbacks = list(reversed(_emergency))
    for fn in callbacks:
        try:
            fn()
        except BaseException:  # noqa: BLE001 - leaving anyway
            pass
    for p in claimed_outputs():
        try:
            sweep_temps(p, include_own=True)
        except BaseException:  # noqa: BLE001
            pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - e.g. a reentrant call: the data is lost, not the exit
            pass
    os._exit(status)


class Interrupts:
    """State of :func:`handle_interrupts`: ``signum`` is the first signal received (None while
    none came); ``status`` is the exit status it stands for (128 + signum)."""

    def __init__(self) -> None:
        self.signum: Optional[int] = None

    @property
    def status(self) -> Optional[int]:
        return None if self.signum is None else 128 + int(self.signum)

    def _handler(self, signum: int, frame: Any) -> None:  # noqa: ARG002
        if self.signum is None:
            self.signum = signum
            raise KeyboardInterrupt
        _say(f"\nfacefuse: {signal.Signals(signum).name} again during the shutdown; stopping now\n")
        leave_now(self.status or 128 + signum)


@contextlib.contextmanager
def handle_interrupts() -> Iterator[Interrupts]:
    """Handle SIGINT and SIGTERM as described in the module docstring while the block runs
    (the previous handlers are restored after it). Outside the main thread nothing is
    installed (Python delivers signals to the main thread only)."""
    state = Interrupts()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return
    previous = {}
    try:
        for s in HANDLED:
            previous[s] = signal.signal(s, state._handler)
    except (ValueError, OSError):  # pragma: no cover - an embedding that forbids it
        pass
    try:
        yield state
    finally:
        for s, h in previous.items():
            try:
                signal.signal(s, h if h is not None else signal.SIG_DFL)
            except (ValueError, OSError):  # pragma: no cover
                pass
