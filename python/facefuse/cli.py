"""The ``facefuse`` command line.

    facefuse --version
    facefuse bench [--filter SUBSTR] [--repeat N] [--min-time S] [--quick] [--json PATH|-] [--list]
    facefuse swap -s FACE -t TARGET -o OUTPUT [options]     (facefuse swap --help)
    facefuse doctor [--models-dir DIR] [--check] [--json]
    facefuse models list | download [NAMES|--all|--set swap|lipsync] | verify [NAMES] | path NAME
    facefuse lipsync -v video.mp4 -a speech.wav -o out.mp4 [--model diff2lip.onnx] ...
    facefuse export-diff2lip --checkpoint model.pt --source path/to/diff2lip [-o diff2lip.onnx]

``bench`` times every op and paste-back, facefuse's native core against the
NumPy / OpenCV reference in the same run (cases: :mod:`facefuse.benchmarks`), and
prints a table of medians and speed-ups; ``--json`` also writes them for machines.

``swap`` runs :func:`facefuse.swap_video`; usage, model and video errors print one
``facefuse swap: error: ...`` message and exit with status 2, Ctrl-C exits with 130 and
SIGTERM with 143 (no partial output is left in either case; see :func:`main`).
``doctor`` reports versions, native backends, ONNX Runtime providers, the GPU, NVENC
encoders and each model file (present / missing / hash ok / hash mismatch, and the fix).
``models`` lists, downloads, verifies and locates the model files (:mod:`facefuse.models_cli`).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Any, Optional, TextIO

from ._cli_errors import error_text, name_flags, warning_text
from .progress import is_terminal, write_line

__all__ = ["main", "build_parser", "name_flags", "NO_CHANGE_STATUS"]

#: Exit status of ``swap`` / ``lipsync`` when the run changed no frame (no face swapped / synced):
#: the output is written, but a script must not take it for a success (``--allow-no-change``: 0).
NO_CHANGE_STATUS = 3


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
                            "python": platform.python_version(),
                            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}  # PASSIVE unless the user set it
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
    _add_swap_parser(sub)
    d = sub.add_parser("doctor", help="what this installation can run: versions, backends, providers, GPU, models",
                       description="Report versions, native backends (_core, _cuda), ONNX Runtime providers, "
                                   "the GPU, NVENC encoders and which known model files are found.")
    d.add_argument("--models-dir", default=None, metavar="DIR",
                   help="models directory searched first (then $FACEFUSE_MODELS, ~/.facefuse/models)")
    d.add_argument("--check", action="store_true",
                   help="also load each model file found and check its signature (exit status 1 if one fails)")
    d.add_argument("--json", action="store_true", help="print the report as JSON")
    from . import models_cli
    from .lipsync import cli as lipsync_cli

    models_cli.add_parser(sub)
    from . import probe_cli

    probe_cli.add_parser(sub)

    lipsync_cli.add_parsers(sub)
    from .batch.cli import add_parser as _add_batch_parser  # facefuse batch (facefuse/batch/cli.py)
    _add_batch_parser(sub)
    return p


def _add_swap_parser(sub: Any) -> None:
    from .pipeline.swap import BLENDS, FACE_MODES, FACE_ORDERS

    s = sub.add_parser(
        "swap", help="swap a face into a video or image",
        description="Swap the face of SOURCE into TARGET (video or image) and write OUTPUT: detection, tracking, "
                    "landmark smoothing, swap, paste-back and a temporal-quality monitor, streamed frame by frame; "
                    "every frame keeps its timestamp, colour tags and bit depth, every audio / subtitle track is "
                    "copied (facefuse probe TARGET says what is kept). Models come from --models-dir, $FACEFUSE_MODELS or "
                    "~/.facefuse/models (FaceFusion's model files); a missing one is downloaded into the first "
                    "writable of them on first use (hash-checked) unless --offline.")
    s.add_argument("-s", "--source", required=True, metavar="FACE", help="image with the face to paste in")
    s.add_argument("-t", "--target", required=True, metavar="TARGET", help="video or image to swap into")
    s.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                   help="output video (or image for an image target)")
    s.add_argument("--models-dir", default=None, metavar="DIR", help="directory holding the .onnx model files")
    s.add_argument("--offline", action="store_true",
                   help="do not download missing model files (also FACEFUSE_OFFLINE=1)")
    s.add_argument("--providers", default=None, metavar="LIST",
                   help="ONNX Runtime providers, e.g. 'cuda,cpu' (default: TensorRT > CUDA > CPU as available)")
    s.add_argument("--detector", default="yolo_face", help="yolo_face (default), scrfd or retinaface")
    s.add_argument("--detector-size", type=int, default=640, metavar="N", help="detector input size (default 640)")
    s.add_argument("--score-threshold", type=float, default=0.5, metavar="F", help="detector score threshold (default 0.5)")
    s.add_argument("--swapper", default="inswapper_128",
                   help="inswapper_128 (default), hyperswap_1a_256 / 1b / 1c, simswap_256")
    s.add_argument("--blend", choices=BLENDS, default="laplacian", help="paste-back blend (default laplacian)")
    s.add_argument("--color", choices=("lab", "none"), default="lab", help="colour matching (default lab)")
    s.add_argument("--frame-device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where frames are processed between decode and encode (default auto: the GPU when "
                        "facefuse's CUDA backend and CuPy can run)")
    s.add_argument("--faces", choices=FACE_MODES, default="reference",
                   help="reference: the face closest to the reference face (default); all; index: --face-index")
    s.add_argument("--face-index", type=int, default=0, metavar="N",
                   help="which face in --face-order for --faces index and for the reference face (default 0)")
    s.add_argument("--face-order", choices=FACE_ORDERS, default="large-small", help="(default large-small)")
    s.add_argument("--reference-frame", type=int, default=0, metavar="N",
                   help="target frame holding the reference face (default 0)")
    s.add_argument("--reference-image", default=None, metavar="PATH",
                   help="take the reference face from this image instead of a target frame")
    s.add_argument("--reference-distance", type=float, default=0.6, metavar="F",
                   help="largest ArcFace distance (1 - cos) to the reference that is still swapped (default 0.6)")
    s.add_argument("--no-smoothing", action="store_true", help="do not smooth the landmarks over time")
    s.add_argument("--quality-report", default=None, metavar="JSON", help="write the temporal-quality report")
    s.add_argument("--quality-plot", default=None, metavar="PNG", help="plot tPSNR over time with jitter frames")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.add_argument("--codec", default="libx264", help="video encoder (default libx264; h264_nvenc on NVIDIA)")
    s.add_argument("--crf", type=float, default=18, help="quality, lower is better (default 18)")
    s.add_argument("--preset", default="medium", help="encoder preset (default medium)")
    s.add_argument("--fps", type=float, default=None, metavar="N",
                   help="write a constant N fps (every frame kept, re-timed); default: every frame at its own "
                        "timestamp, as in the target")
    s.add_argument("--pix-fmt", default=None, metavar="FMT",
                   help="stored pixel format, e.g. yuv420p (default: the target's where the codec takes it, so "
                        "a 10-bit target gives a 10-bit output)")
    s.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    s.add_argument("--allow-no-change", action="store_true",
                   help="exit 0 even when no face was swapped in any frame (batch scripts); by default that "
                        f"warns and exits {NO_CHANGE_STATUS}")
    s.add_argument("--debug", action="store_true", help="show the traceback of unexpected errors")
    from ._swap_quality_cli import add_quality_options

    add_quality_options(s)


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
    write_line(sys.stderr, msg, in_place=is_terminal(sys.stderr))


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
    if args.json not in (None, "-") and not args.list:
        why = _unwritable(args.json)
        if why:  # before the run, not after it: the results would be lost
            print(f"facefuse bench: --json {args.json!r}: {why}", file=sys.stderr)
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
            from ._files import write_atomic

            def write(tmp: str) -> None:
                with open(tmp, "w") as f:
                    f.write(text + "\n")

            try:
                write_atomic(args.json, write)
            except OSError as e:
                print(f"facefuse bench: cannot write --json {args.json!r}: {e.strerror or e}; "
                      f"the results are in the table above", file=sys.stderr)
                return 2
    return 0


def _unwritable(path: str) -> Optional[str]:
    """Why a file cannot be written at ``path`` (None if it can): its directory is missing,
    not a directory or not writable (a file is made there and removed to find out), or
    ``path`` is a directory."""
    import tempfile

    if os.path.isdir(path):
        return "is a directory"
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        return f"directory does not exist: {d!r}"
    try:
        fd, tmp = tempfile.mkstemp(prefix=".facefuse-check.", dir=d)
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        return f"cannot write in {d!r}: {e.strerror or e}"
    return None


def _swap(args: argparse.Namespace) -> int:
    from ._swap_quality_cli import QUALITY_RENAMES, quality_kwargs
    from .pipeline.swap import swap_video

    def fail(msg: str) -> int:
        print(f"facefuse swap: error: {msg}", file=sys.stderr)
        return 2

    from .progress import ProgressBar

    # as `facefuse lipsync`: a bar on a terminal; in a log, one line per 10 % of the frames
    bar = None if args.no_progress else ProgressBar(label="swap", enabled=True, log_step=0.1)
    try:
        result = _said_once(
            swap_video,
            args.source, args.target, args.output, models_dir=args.models_dir, providers=args.providers,
            detector=args.detector, detector_size=args.detector_size, score_threshold=args.score_threshold,
            swapper=args.swapper, blend=args.blend, color=None if args.color == "none" else args.color,
            faces=args.faces, face_index=args.face_index, face_order=args.face_order,
            reference_frame=args.reference_frame, reference=args.reference_image,
            reference_distance=args.reference_distance, smoothing=not args.no_smoothing,
            quality_report=args.quality_report, quality_plot=args.quality_plot, progress=bar is not None and bar.update,
            codec=args.codec, crf=args.crf, preset=args.preset, frame_device=args.frame_device,
            offline=True if args.offline else None, fps=args.fps, pix_fmt=args.pix_fmt, **quality_kwargs(args))
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        print("\nfacefuse swap: interrupted; no output written", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError) as e:  # ModelError, VideoError, missing files: the user's to fix
        return fail(error_text(e, args, api=("swap_video",),
                               renames={"reference": "--reference-image", **QUALITY_RENAMES}))
    except Exception as e:  # noqa: BLE001 - anything else: say what it was, traceback on request
        if args.debug:
            raise
        print(f"facefuse swap: unexpected error: {type(e).__name__}: {e} (run with --debug for the traceback)",
              file=sys.stderr)
        return 1
    finally:
        if bar is not None:
            bar.close()
    for note in result.warnings:  # what the output does not keep of the target
        print(f"facefuse swap: warning: {warning_text(note)}", file=sys.stderr)
    q = result.quality or {}
    if args.json:
        doc = {"output": result.output, "frames": result.frames, "fps": result.fps, "seconds": result.seconds,
               "processing_fps": result.processing_fps, "faces_swapped": result.faces_swapped,
               "frames_with_swap": result.frames_with_swap, "is_image": result.is_image,
               "stage_seconds": result.stage_seconds, "quality": q, "warnings": result.warnings,
               "frame_device": result.frame_device, "providers": result.providers}
        sys.stdout.write(json.dumps(doc, indent=2, allow_nan=False, default=str) + "\n")
    else:
        jit = q.get("jitter", {})
        tp = q.get("tpsnr_roi") or q.get("tpsnr")
        qual = (f"; tPSNR mean {tp['mean']:.1f} dB" if tp else "") + (
            f", jitter {jit.get('count', 0)} frame(s) ({jit.get('percent', 0.0):.1f}%)" if jit else "")
        print(f"wrote {result.output}: {result.frames} frame(s), {result.faces_swapped} face(s) swapped in "
              f"{result.frames_with_swap} frame(s), {result.seconds:.1f} s ({result.processing_fps:.1f} fps, frames on "
              f"the {'GPU' if result.frame_device == 'cuda' else 'CPU'}, swap model on "
              f"{_provider_name(result.providers)}){qual}")
    if result.faces_swapped == 0 and not args.allow_no_change:
        print(f"facefuse swap: error: nothing was changed (see the warning above); check --faces, --face-index, "
              f"--reference-distance and --score-threshold, or pass --allow-no-change to accept it "
              f"(exit {NO_CHANGE_STATUS})", file=sys.stderr)
        return NO_CHANGE_STATUS
    return 0


def _provider_name(providers: list) -> str:
    """The execution provider a session runs on, as users name it ("CUDA", "CPU")."""
    return providers[0].replace("ExecutionProvider", "") if providers else "?"


def _said_once(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` without Python's display of the UserWarnings its result also lists
    (``SwapResult.warnings``): the command prints those as its own one-line warnings."""
    import warnings

    with warnings.catch_warnings():
        for start in ("VideoWriter: ", "swap_video: "):
            warnings.filterwarnings("ignore", message=start, category=UserWarning)
        return fn(*args, **kwargs)


def _doctor(args: argparse.Namespace) -> int:
    from .doctor import check_failures, diagnose, format_report

    d = diagnose(args.models_dir, check=args.check)
    if args.json:
        sys.stdout.write(json.dumps(d, indent=2, default=str) + "\n")
    else:
        print(format_report(d))
    return 1 if check_failures(d) else 0  # --check: a model file found that does not load


def main(argv: Optional[list[str]] = None) -> int:
    """Run the ``facefuse`` command line; returns the exit status.

    SIGINT and SIGTERM are handled alike (:mod:`facefuse._signals`): the command stops and
    cleans up, the status is 130 (SIGINT) or 143 (SIGTERM), and a second signal during that
    shutdown ends the process at once with the same status and no temporary file left. Run
    as the program (``argv`` None, the ``facefuse`` script and ``python -m facefuse``), an
    interrupted command leaves through ``os._exit`` without finalising the interpreter,
    whose native threads may still be busy; called with ``argv`` it returns the status.
    """
    import threading

    from ._signals import handle_interrupts, leave_now

    program = argv is None and threading.current_thread() is threading.main_thread()
    with handle_interrupts() as interrupts:
        try:
            status = _main(argv)
        except KeyboardInterrupt:  # outside a command's own handling (start-up, bench, doctor)
            print("\nfacefuse: interrupted", file=sys.stderr)
            status = 130
        if interrupts.signum is not None:
            if status == 130:
                status = interrupts.status or status
            if program:
                leave_now(status)
    return status


def _leaf_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)command parser ``args`` were parsed by: ``facefuse models list`` -> that of ``list``."""
    while True:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        name = getattr(args, subs[0].dest, None) if subs else None
        if not subs or name not in subs[0].choices:
            return parser
        parser = subs[0].choices[name]


def _warn_missing_models_dir(args: argparse.Namespace) -> None:
    """A mistyped --models-dir is otherwise silent: the files are looked up elsewhere (and a
    download would create the folder)."""
    d = getattr(args, "models_dir", None)
    if d and not os.path.isdir(os.path.expanduser(d)):
        what = "it is not a directory" if os.path.exists(os.path.expanduser(d)) else "it does not exist"
        name = " ".join(x for x in (args.command, getattr(args, "models_command", None)) if isinstance(x, str))
        print(f"facefuse {name}: warning: --models-dir {d!r}: {what}; model files are looked up in "
              f"$FACEFUSE_MODELS and ~/.facefuse/models too, and a download creates it", file=sys.stderr)


def _main(argv: Optional[list[str]]) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # the subcommand's usage, not the top level's (exit 2, as argparse)
        _leaf_parser(parser, args).error(f"unrecognized arguments: {' '.join(unknown)}")
    _warn_missing_models_dir(args)
    if args.command == "bench":
        return _bench(args)
    if args.command == "swap":
        return _swap(args)
    if args.command == "doctor":
        return _doctor(args)
    if args.command == "models":
        from . import models_cli

        return models_cli.run(args)
    if args.command == "probe":
        from . import probe_cli

        return probe_cli.run(args)
    from .lipsync import cli as lipsync_cli

    if args.command in lipsync_cli.COMMANDS:
        return lipsync_cli.run(args)
    if args.command == "batch":
        return args.func(args)
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
