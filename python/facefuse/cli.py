"""The ``facefuse`` command line.

    facefuse --version
    facefuse bench [--filter SUBSTR] [--repeat N] [--min-time S] [--quick] [--json PATH|-] [--list]
    facefuse lipsync -v video.mp4 -a speech.wav -o out.mp4 [--model diff2lip.onnx] ...
    facefuse export-diff2lip --checkpoint model.pt --source path/to/diff2lip [-o diff2lip.onnx]

``bench`` times every op and paste-back, facefuse's native core against the
NumPy / OpenCV reference in the same run (cases: :mod:`facefuse.benchmarks`), and
prints a table of medians and speed-ups; ``--json`` also writes them for machines.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Any, Optional, TextIO

__all__ = ["main", "build_parser"]


def _version() -> str:
    from . import __version__

    return __version__


def machine_info() -> dict[str, Any]:
    """CPU model, cores, threads, library versions: what a benchmark figure needs beside it."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info: dict[str, Any] = {"cpu": cpu, "logical_cores": os.cpu_count(), "platform": platform.platform(),
                            "python": platform.python_version()}
    try:
        from . import _core

        info["threads"] = _core.max_threads()
        info["openmp"] = bool(getattr(_core, "openmp", False))
    except Exception:  # pragma: no cover - the core always loads in a working install
        pass
    try:
        import cv2
        import numpy

        info["numpy"] = numpy.__version__
        info["opencv"] = cv2.__version__
    except Exception:  # pragma: no cover
        pass
    return info


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="facefuse",
        description="facefuse: fast face-swap / lip-sync pipeline ops (native core + NumPy/OpenCV reference).",
    )
    p.add_argument("--version", action="version", version=f"facefuse {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    b = sub.add_parser(
        "bench",
        help="time every op and paste-back, native vs the NumPy/OpenCV reference",
        description="Time every op and paste-back: facefuse's native core vs the NumPy/OpenCV reference, "
                    "measured interleaved in the same run after a warm-up; medians and speed-ups.",
    )
    b.add_argument("--filter", metavar="SUBSTR", default=None,
                   help="only cases whose name contains SUBSTR (case-insensitive)")
    b.add_argument("--repeat", type=int, default=None, metavar="N",
                   help="at least N timed runs of each implementation (default 7; 3 with --quick)")
    b.add_argument("--min-time", type=float, default=None, metavar="S",
                   help="and at least S seconds of runs of each implementation (default 0.2; 0 with --quick)")
    b.add_argument("--warmup", type=int, default=1, metavar="N", help="untimed runs of each first (default 1)")
    b.add_argument("--quick", action="store_true", help="small sizes and few repeats (a smoke test, not a benchmark)")
    b.add_argument("--json", metavar="PATH", default=None, help="also write the results as JSON to PATH ('-': stdout)")
    b.add_argument("--list", action="store_true", help="list the selected cases and exit")
    b.add_argument("--threads", type=int, default=None, metavar="N", help="native threads (default: all)")
    from .lipsync import cli as lipsync_cli

    lipsync_cli.add_parsers(sub)
    from .batch.cli import add_parser as _add_batch_parser  # facefuse batch (facefuse/batch/cli.py)
    _add_batch_parser(sub)
    return p


def _fmt_ms(s: Optional[float]) -> str:
    return "-" if s is None else f"{s * 1e3:.3f}"


def _table(rows: list[dict[str, Any]], skipped: list[dict[str, str]], out: TextIO) -> None:
    head = ("case", "native ms", "reference ms", "speed-up")
    body = [(r["name"], _fmt_ms(r["native_ms"] / 1e3), _fmt_ms(r["reference_ms"] / 1e3), f"{r['speedup']:.1f}x")
            for r in rows]
    widths = [max([len(head[i])] + [len(b[i]) for b in body]) for i in range(4)]
    line = "  ".join(h.ljust(widths[0]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(head))
    print(line, file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for b in body:
        print("  ".join(v.ljust(widths[0]) if i == 0 else v.rjust(widths[i]) for i, v in enumerate(b)), file=out)
    for s in skipped:
        print(f"skipped: {s['name']} ({s['reason']})", file=out)


def _progress(msg: str) -> None:
    err = sys.stderr
    if err.isatty():
        err.write("\r\033[K" + msg)
    else:
        err.write(msg + "\n")
    err.flush()


def _bench(args: argparse.Namespace) -> int:
    from . import benchmarks

    quick = bool(args.quick)
    repeat = args.repeat if args.repeat is not None else (3 if quick else 7)
    min_time = args.min_time if args.min_time is not None else (0.0 if quick else 0.2)
    if repeat < 1:
        print("facefuse bench: --repeat must be >= 1", file=sys.stderr)
        return 2
    if min_time < 0:
        print("facefuse bench: --min-time must be >= 0", file=sys.stderr)
        return 2
    if args.warmup < 0:
        print("facefuse bench: --warmup must be >= 0", file=sys.stderr)
        return 2
    cases = benchmarks.select(args.filter, quick)
    if not cases:
        print(f"facefuse bench: no case matches --filter {args.filter!r}; "
              "use --list to see the cases", file=sys.stderr)
        return 2
    if args.list:
        for c in cases:
            why = c.unavailable()
            print(c.label(quick) + (f"  [skipped: {why}]" if why else ""))
        return 0
    old_threads = None
    if args.threads is not None:
        from . import _core

        if args.threads < 1:
            print("facefuse bench: --threads must be >= 1", file=sys.stderr)
            return 2
        old_threads = _core.max_threads()
        _core.set_threads(args.threads)

    to_stdout_json = args.json == "-"
    table_out = sys.stderr if to_stdout_json else sys.stdout
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    t_start = time.perf_counter()
    try:
        for i, case in enumerate(cases, 1):
            name = case.label(quick)
            why = case.unavailable()
            if why:
                skipped.append({"name": name, "reason": why})
                _progress(f"[{i}/{len(cases)}] {name}: skipped ({why})")
                continue
            _progress(f"[{i}/{len(cases)}] {name} ...")
            native_fn, reference_fn = case.setup(quick)
            t = benchmarks.time_case(native_fn, reference_fn, repeat=repeat, min_time=min_time, warmup=args.warmup)
            rows.append({
                "name": name,
                "native_ms": t["native_s"] * 1e3,
                "reference_ms": t["reference_s"] * 1e3,
                "speedup": t["reference_s"] / t["native_s"] if t["native_s"] > 0 else float("inf"),
                "native_runs": t["native_runs"],
                "reference_runs": t["reference_runs"],
            })
    finally:
        if old_threads is not None:
            from . import _core

            _core.set_threads(old_threads)
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K")
    _progress(f"done: {len(rows)} case(s) in {time.perf_counter() - t_start:.1f} s"
              + (f", {len(skipped)} skipped" if skipped else ""))
    _table(rows, skipped, table_out)
    if args.json is not None:
        doc = {
            "facefuse_version": _version(),
            "machine": machine_info(),
            "settings": {"repeat": repeat, "min_time_s": min_time, "warmup": args.warmup, "quick": quick,
                         "filter": args.filter, "threads": args.threads},
            "unit": "ms (median)",
            "cases": rows,
            "skipped": skipped,
        }
        text = json.dumps(doc, indent=2)
        if to_stdout_json:
            sys.stdout.write(text + "\n")
        else:
            with open(args.json, "w") as f:
                f.write(text + "\n")
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    """Run the ``facefuse`` command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "bench":
        return _bench(args)
    from .lipsync import cli as lipsync_cli

    if args.command in lipsync_cli.COMMANDS:
        return lipsync_cli.run(args)
    if args.command == "batch":
        return args.func(args)
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
