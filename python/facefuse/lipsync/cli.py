"""``facefuse lipsync`` and ``facefuse export-diff2lip`` (registered by :mod:`facefuse.cli`).

    facefuse lipsync -v video.mp4 -a speech.wav -o out.mp4 [--model diff2lip.onnx|diff2lip.pt2]
                     [--models-dir DIR] [--backend onnx|torch] [--precision fp32|fp16|bf16]
                     [--providers cuda,cpu] [--detector yolo_face] [--steps 25] [--batch-size N]
                     [--reference gt|first] [--face-hide-percentage 0.5] [--blend laplacian|alpha]
                     [--color lab|none] [--seed 7] [--quality-report q.json] [--quality-plot q.png]
    facefuse export-diff2lip --checkpoint model.pt --source path/to/diff2lip -o diff2lip.onnx [--fp16]
                             [--no-torch-package] [--aoti cpu|cuda]

Importing this module is cheap (argparse only); the pipeline, PyAV and ONNX Runtime load when
a command runs, torch only in ``export-diff2lip`` and ``lipsync --backend torch``.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Optional

from .._cli_errors import error_text, warning_text

__all__ = ["COMMANDS", "add_parsers", "run"]

COMMANDS = ("lipsync", "export-diff2lip")


def add_parsers(sub: Any) -> None:
    """Add the ``lipsync`` and ``export-diff2lip`` sub-commands to ``sub`` (an argparse subparsers)."""
    from ..cli import NO_CHANGE_STATUS
    p = sub.add_parser(
        "lipsync",
        help="lip-sync a video to a speech track with Diff2Lip (ONNX Runtime or torch), streaming",
        description="Redo the mouth of the face in VIDEO to match AUDIO with Diff2Lip's diffusion model "
                    "(exported with `facefuse export-diff2lip` to ONNX and a torch package). Frames stream from "
                    "decode to encode; the output carries AUDIO, trimmed to the video; a shorter AUDIO cuts the video.",
    )
    p.add_argument("-v", "--video", required=True, help="the video whose mouth is redone")
    p.add_argument("-a", "--audio", required=True, help="the driving speech (audio file or a video with sound)")
    p.add_argument("-o", "--output", required=True, help="the output video (temp file renamed on success)")
    p.add_argument("--model", default=None,
                   help="the exported Diff2Lip denoiser: a path or a file name in --models-dir (default diff2lip.onnx "
                        "for --backend onnx, diff2lip.pt2 for torch)")
    p.add_argument("--backend", default=None, choices=("onnx", "torch"),
                   help="the denoiser's runtime (default: from --model's extension, else ONNX Runtime with CUDA, else "
                        "torch with CUDA, else ONNX Runtime)")
    p.add_argument("--precision", default=None, choices=("fp32", "fp16", "bf16"),
                   help="the torch backend's precision (default fp16 on a GPU, fp32 on the CPU)")
    p.add_argument("--models-dir", default=None, help="directory with the model files (also $FACEFUSE_MODELS)")
    p.add_argument("--offline", action="store_true",
                   help="do not download a missing detector model file (also FACEFUSE_OFFLINE=1)")
    p.add_argument("--providers", default=None,
                   help="execution providers, e.g. 'cuda,cpu' (default: best available); 'cpu' also puts the torch "
                        "backend on the CPU")
    p.add_argument("--detector", default="yolo_face", choices=("yolo_face", "scrfd", "retinaface"),
                   help="face detector model (FaceFusion's files; default yolo_face)")
    p.add_argument("--steps", type=int, default=25, help="DDIM steps (default 25, as Diff2Lip)")
    p.add_argument("--spacing", default="ddim", choices=("ddim", "even"),
                   help="timestep spacing: 'ddim' = Diff2Lip's ddimN stride (default), 'even' = sections")
    p.add_argument("--batch-size", type=int, default=None,
                   help="frames per model batch (default: from free GPU memory, 4 on CPU; halved on out-of-memory)")
    p.add_argument("--reference", default="gt", choices=("gt", "first"),
                   help="reference face: each frame itself (gt, default) or the first frame with a face")
    p.add_argument("--face-hide-percentage", type=float, default=0.5,
                   help="lower fraction of the face crop that is regenerated (default 0.5)")
    p.add_argument("--blend", default="laplacian", choices=("laplacian", "alpha"), help="paste-back blend (default laplacian)")
    p.add_argument("--color", default="lab", choices=("lab", "none"), help="colour match of the generated mouth (default lab)")
    p.add_argument("--seed", type=int, default=7, help="seed of the shared initial noise (default 7, as Diff2Lip)")
    p.add_argument("--crop", default="square", choices=("square", "stretch"),
                   help="face crop: a square around the box (default) or the box stretched to 128x128 as Diff2Lip")
    p.add_argument("--crop-scale", type=float, default=1.0, help="square crop side / detected box side (default 1)")
    p.add_argument("--quality-report", default=None, metavar="JSON", help="write a temporal-quality report")
    p.add_argument("--quality-plot", default=None, metavar="PNG", help="write a temporal-quality plot")
    p.add_argument("--crf", type=float, default=18, help="encoder quality (x264 CRF, default 18)")
    p.add_argument("--preset", default="medium", help="encoder preset (default medium)")
    p.add_argument("--audio-track", type=int, default=0, metavar="N",
                   help="the video's audio track the driving audio replaces (default 0, the first; the others "
                        "and the subtitles are copied)")
    p.add_argument("--fps", type=float, default=None, metavar="N",
                   help="write a constant N fps (every frame kept, re-timed); default: each frame at its own time")
    p.add_argument("--pix-fmt", default=None, metavar="FMT",
                   help="stored pixel format (default: the video's where the codec takes it; 10-bit stays 10-bit)")
    p.add_argument("--codec", default="libx264", help="video encoder (default libx264; h264_nvenc on NVIDIA)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--allow-no-change", action="store_true",
                   help="exit 0 even when no frame had a face to lip-sync (batch scripts); by default that "
                        f"warns and exits {NO_CHANGE_STATUS}")

    e = sub.add_parser(
        "export-diff2lip",
        help="export Diff2Lip's checkpoint to the ONNX denoiser and a torch package (needs torch + Diff2Lip's code)",
        description="Export one denoising step of Diff2Lip's UNet to ONNX with inputs x, t, cond_img, mask, "
                    "ref_img, indiv_mels and output [N, 6, 128, 128], for `facefuse lipsync`. Needs PyTorch and a "
                    "checkout of https://github.com/soumik-kanad/diff2lip; only this command does.",
    )
    e.add_argument("--checkpoint", required=True, help="Diff2Lip's .pt checkpoint")
    e.add_argument("--source", required=True, help="the Diff2Lip checkout (contains guided-diffusion/)")
    e.add_argument("-o", "--output", default="diff2lip.onnx", help="the ONNX file to write (default diff2lip.onnx)")
    e.add_argument("--fp16", action="store_true", help="run the UNet in float16 inside (I/O stays float32)")
    e.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    e.add_argument("--no-verify", action="store_true", help="skip the ONNX Runtime vs torch check")
    e.add_argument("--no-torch-package", action="store_true",
                   help="do not write the torch package (OUTPUT with .pt2: torch.export's program, for "
                        "--backend torch)")
    e.add_argument("--aoti", default=None, choices=("cpu", "cuda"),
                   help="also compile an AOTInductor package for this device (OUTPUT with .aoti-DEVICE.pt2; slow, "
                        "needs a C++ compiler, and nvcc + a GPU for cuda)")


def _lipsync(args: argparse.Namespace) -> int:
    import warnings

    from ..progress import ProgressBar
    from ..pipeline.lipsync import lipsync_video

    # a bar on a terminal; in a log, one line per 10 % of the frames
    bar = None if args.no_progress else ProgressBar(label="lipsync", enabled=True, log_step=0.1)
    with warnings.catch_warnings():
        # the pipeline's warnings (audio cut, frames without a face) go to the user as plain lines
        warnings.simplefilter("ignore")
        result = lipsync_video(
            args.video, args.audio, args.output, model=args.model, backend=args.backend, precision=args.precision,
            models_dir=args.models_dir,
            providers=args.providers, detector=args.detector, steps=args.steps, spacing=args.spacing,
            batch_size=args.batch_size, reference=args.reference, face_hide_percentage=args.face_hide_percentage,
            blend=args.blend, color=None if args.color == "none" else args.color, seed=args.seed,
            crop_scale=args.crop_scale, crop=args.crop, quality_report=args.quality_report,
            quality_plot=args.quality_plot,
            progress=None if bar is None else bar.update, codec=args.codec, crf=args.crf, preset=args.preset,
            offline=True if args.offline else None, audio_track=args.audio_track, fps=args.fps,
            pix_fmt=args.pix_fmt)
    if bar is not None:
        bar.close()
    for note in result.warnings:
        print(f"facefuse lipsync: warning: {warning_text(note)}", file=sys.stderr)
    print(f"facefuse lipsync: wrote {result.output}: {result.frames} frames ({result.frames_synced} lip-synced) "
          f"at {result.fps:g} fps in {result.seconds:.1f} s (model on "
          f"{result.providers[0].replace('ExecutionProvider', '') if result.providers else '?'})", file=sys.stderr)
    if result.frames_synced == 0 and not args.allow_no_change:
        from ..cli import NO_CHANGE_STATUS

        print(f"facefuse lipsync: error: nothing was changed: no face found in any frame; pass --allow-no-change "
              f"to accept it (exit {NO_CHANGE_STATUS})", file=sys.stderr)
        return NO_CHANGE_STATUS
    return 0


def _export(args: argparse.Namespace) -> int:
    from .export import aoti_package_path, export_diff2lip, torch_package_path

    path = export_diff2lip(args.checkpoint, args.source, args.output, fp16=args.fp16, opset=args.opset,
                           verify=not args.no_verify, torch_package=not args.no_torch_package, aoti=args.aoti)
    written = [str(path)] + ([] if args.no_torch_package else [str(torch_package_path(path))])
    written += [str(aoti_package_path(path, args.aoti))] if args.aoti else []
    print(f"facefuse export-diff2lip: wrote {', '.join(written)}", file=sys.stderr)
    return 0


def run(args: argparse.Namespace, parser: Optional[argparse.ArgumentParser] = None) -> int:
    """Run a command of :data:`COMMANDS`; returns the exit status: 2 with a one-line message
    naming the flag on a user-facing error (missing file, bad value, wrong model, missing torch,
    an output that cannot be written), as ``facefuse swap``; 1 with a one-line message when the
    run itself fails (RuntimeError); 130 on Ctrl-C."""
    fn = _lipsync if args.command == "lipsync" else _export
    try:
        return fn(args)
    except (OSError, ValueError, TypeError, ImportError, RuntimeError) as e:
        msg = error_text(e, args, api=("lipsync_video", "export-diff2lip"))
        print(f"facefuse {args.command}: error: {msg}", file=sys.stderr)
        return 1 if isinstance(e, RuntimeError) else 2
    except KeyboardInterrupt:
        print(f"\nfacefuse {args.command}: interrupted; no output written", file=sys.stderr)
        return 130
