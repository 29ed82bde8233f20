"""The face-swap pipeline's entry point: ``swap_video(source, target, output, ...)``.

It checks the arguments, loads the models (every model before any frame is decoded or any
file made), finds the source identity and the reference face, then runs the swap frame
processor (:class:`~facefuse.pipeline.swap_frames.FrameSwapper`) on the target: through the
streaming engine (:func:`~facefuse.pipeline.engine.run_stream`) for a video, once for an image.
"""
from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

from .._files import check_distinct
from .._outputs import write_quality_files
from ..ops._common import check_choice, check_int, check_real
from . import checks
from .device import resolve_frame_device
from .run import pipeline_scope, progress_callback
from .selection import FACE_MODES, FACE_ORDERS
from ..models.masker import FACE_MASK_REGIONS
from .swap_frames import BLENDS, COLORS, FrameSwapper, check_swap_options
from .swap_layers import check_layer_options
from .swap_images import IMAGE_EXTENSIONS, frame_at, is_image_path, pick_face, read_face_image, write_image

__all__ = ["SwapResult", "FrameSwapper", "swap_video", "IMAGE_EXTENSIONS", "BLENDS", "COLORS", "FACE_MODES",
           "FACE_ORDERS"]

PathLike = Union[str, "os.PathLike[str]"]

#: Largest ``detector_size``: the frame is only ever shrunk to fit the detector's square input,
#: so a larger square is empty canvas (and 100000 asked for a 112 GiB input).
MAX_DETECTOR_SIZE = 4096
_FN = "swap_video"


@dataclass
class SwapResult:
    """What :func:`swap_video` did.

    ``frames``: frames written; ``fps``: the video's frame rate (0 for an image);
    ``seconds``: wall time of the whole call; ``faces_swapped``: crops pasted in all frames;
    ``frames_with_swap``: frames where at least one face was swapped; ``quality``:
    :meth:`facefuse.QualityMonitor.summary` of the output; ``stage_seconds``: time spent
    in each per-frame stage of the swap worker (detect, track, select, crop, swap, mask, enhance, paste,
    quality);
    ``warnings``: what the output does not keep of the target, one line each (a frame size the
    encoder cannot take, an alpha channel the image format cannot hold); ``frame_device``:
    where the frames were processed ("cpu" or "cuda"); ``providers``: the ONNX Runtime
    execution providers the swap model's session runs on, in use order (the first one runs
    what it supports).
    """

    output: str
    frames: int
    fps: float
    seconds: float
    faces_swapped: int
    frames_with_swap: int
    is_image: bool
    quality: Optional[dict] = None
    stage_seconds: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    frame_device: str = "cpu"
    providers: list = field(default_factory=list)

    @property
    def processing_fps(self) -> float:
        """Frames per second of wall time."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0


# ------------------------------------------------------------------------------- API

def swap_video(
    source: Union[PathLike, np.ndarray],
    target: PathLike,
    output: PathLike,
    *,
    models_dir: Optional[PathLike] = None,
    providers: Union[None, str, Sequence[str]] = None,
    detector: str = "yolo_face",
    detector_size: int = 640,
    score_threshold: float = 0.5,
    swapper: str = "inswapper_128",
    blend: str = "laplacian",
    color: Optional[str] = "lab",
    faces: str = "reference",
    face_index: int = 0,
    face_order: str = "large-small",
    reference_frame: int = 0,
    reference: Union[None, PathLike, np.ndarray] = None,
    reference_distance: float = 0.6,
    smoothing: bool = True,
    quality_report: Optional[PathLike] = None,
    quality_plot: Optional[PathLike] = None,
    progress: Union[bool, Callable[[int, int], None]] = True,
    codec: str = "libx264",
    crf: Optional[float] = 18,
    preset: Optional[str] = "medium",
    queue_size: int = 2,
    frame_batch: Optional[int] = None,
    pool: Any = None,
    start_frame: int = 0,
    stop_frame: Optional[int] = None,
    warmup_frames: int = 0,
    copy_audio: bool = True,
    frame_device: str = "auto",
    offline: Optional[bool] = None,
    fps: Optional[float] = None,
    pix_fmt: Optional[str] = None,
    pixel_boost: Optional[int] = None,
    enhancer: Optional[str] = None,
    enhancer_blend: int = 80,
    enhancer_weight: float = 0.5,
    mask_types: Sequence[str] = ("box",),
    mask_blur: float = 0.3,
    mask_padding: Union[int, Sequence[int]] = (0, 0, 0, 0),
    mask_regions: Sequence[str] = tuple(FACE_MASK_REGIONS),
    occluder: str = "xseg_1",
    parser: str = "bisenet_resnet_34",
) -> SwapResult:
    """Swap the face of ``source`` into ``target`` (a video or an image) and write ``output``.

    Args:
        source: image path (or H x W x 3 uint8 BGR array) with the identity to paste; its
            largest face is used.
        target: video (any FFmpeg format) or image (jpg, png, ...) path.
        output: where to write; a video for a video target (H.264 + the target's audio),
            an image for an image target. Written to a temporary file renamed on success:
            any failure or Ctrl-C leaves no partial file.
        models_dir, providers: where model files are found and which ONNX Runtime
            providers to use (see :class:`facefuse.inference.InferencePool`); not allowed
            together with ``pool``.
        detector, detector_size, score_threshold: face detector model ("yolo_face",
            "scrfd", "retinaface"), its square input size (a multiple of 32 up to 4096; the
            model file's own size when it fixes one) and score threshold.
        swapper: "inswapper_128", "hyperswap_1a_256" / "1b" / "1c", "simswap_256".
        blend: paste-back blend, "alpha", "laplacian" or "poisson"; color: "lab" or None.
        faces: which target faces to swap: "reference" (the face closest to the reference
            face, if its ArcFace distance ``1 - cos`` is below ``reference_distance``),
            "all", or "index" (the ``face_index``-th in ``face_order``, then followed by
            its track).
        face_index, face_order: selection in "index" mode, and which face of the
            reference frame / image is the reference ("large-small", "left-right",
            "top-bottom", "best-worst").
        reference_frame, reference: the reference face comes from ``reference`` (an
            image path or array) when given, else from frame ``reference_frame`` of the target.
        smoothing: smooth the 5 alignment landmarks over time (pose_shape smoother).
        quality_report, quality_plot: write the QualityMonitor JSON / PNG there.
        progress: True (a progress bar on stderr when it is a terminal), False, or a
            callable ``(done, total)`` called after each written frame.
        codec, crf, preset: encoder settings (see :func:`facefuse.video.process_video`).
        queue_size: the streaming queues' size (plans waiting for the model, frames
            waiting for the encoder). Each slot of a 1080p swap with pixel boost, enhancer
            and masks holds ~28 MB; 2 keeps the peak RSS flat (a 60 s 1080p clip within
            ~20 MB of a 6 s one; 8 swung it by up to 120 MB) at the same speed on the
            measured machine (bench/RESULTS.md, issue 19). Deeper queues only absorb uneven
            stage times.
        frame_batch: frames whose crops go through the swap model in one run (only the
            frames already decoded are batched, so the stream never waits). ``None``: 4 when
            the model file's batch dimension is open (:attr:`FaceSwapper.batchable`), else 1.
        pool: an :class:`~facefuse.inference.InferencePool` to use (and keep open);
            otherwise one is made and closed at the end.
        start_frame, stop_frame, warmup_frames, copy_audio: write only frames
            ``start_frame <= i < stop_frame`` of a video target, after running the
            ``warmup_frames`` before it without writing them (tracks and smoother warm), with
            or without the target's audio: one chunk of a long video (``facefuse batch
            --chunk-seconds``; see :func:`facefuse.video.process_video`).
        frame_device: where the frames live between decode and encode: "cuda" (uploaded once;
            crops, the swapper's pre- / post-processing, paste-back, colour and the quality
            monitor on the GPU; downloaded once), "cpu", or "auto" (default: "cuda" when the
            CUDA backend and CuPy can run and the blend has a GPU kernel, i.e. not "poisson").
            See :mod:`facefuse.pipeline.device`.
        fps, pix_fmt: the output keeps every frame at its own timestamp, the target's pixel
            format (bit depth) and colour tags, and (``copy_audio``) every audio and subtitle
            track with the container's tags; ``fps``: a constant rate instead (every frame kept,
            frame ``i`` at ``i / fps``); ``pix_fmt``: another stored pixel format (e.g.
            ``yuv420p`` for an 8-bit output of a 10-bit target).
        offline: a missing model file of FaceFusion's (:mod:`facefuse.inference.registry`) is
            downloaded into the models directory on first use (False), or not and the error
            names its URL and where to put it (True). None: downloads unless
            ``$FACEFUSE_OFFLINE`` is set. Not with ``pool`` (the pool decides).
        pixel_boost: the swap crop's size (FaceFusion's ``--face-swapper-pixel-boost``): the
            model's own (None, default) or a multiple of it (inswapper_128: 128, 256, 384, 512,
            768, 1024; the 256 models: 256, 512, 768, 1024); the crop is swapped as (B/S)^2
            interleaved tiles, all tiles of all faces in one model run when its batch dim is open.
        enhancer, enhancer_blend, enhancer_weight: a face enhancer run on every swapped face
            (FaceFusion's ``--face-enhancer-model``: "gfpgan_1.4", "codeformer", "gpen_bfr_512",
            "restoreformer_plus_plus", ... :data:`facefuse.models.ENHANCER_SPECS`; None: none),
            its blend over the swapped frame 0..100 (default 80) and CodeFormer's weight (0.5).
        mask_types, mask_blur, mask_padding, mask_regions, occluder, parser: the paste mask,
            FaceFusion's ``--face-mask-types`` (any of "box", "occlusion", "region"; combined by
            their minimum), ``--face-mask-blur`` (0..1, 0.3), ``--face-mask-padding`` (top,
            right, bottom, left percent; 1 to 4 values), ``--face-mask-regions``
            (:data:`facefuse.models.FACE_MASK_REGIONS` names, default all), and the occlusion /
            region models (``--face-occluder-model`` xseg_1 / xseg_2 / xseg_3 / many,
            ``--face-parser-model`` bisenet_resnet_34 / bisenet_resnet_18).
            The enhancer and the occlusion / region masks run on host frames ("auto" picks "cpu").

    Returns:
        :class:`SwapResult`.

    Raises:
        ValueError (bad argument; no face in the source; ``ModelError`` for a missing
        or wrong model file; ``VideoError`` for an unreadable or truncated target),
        FileNotFoundError (missing source / target / model), KeyboardInterrupt.
    """
    t_start = time.perf_counter()
    args = dict(locals())
    target_s, output_s, image_target = _check_args(args)
    start_frame, stop_frame, warmup_frames = checks.frame_range(_FN, start_frame, stop_frame, warmup_frames)
    if image_target and (start_frame or stop_frame is not None or warmup_frames):
        raise ValueError("swap_video: 'start_frame' / 'stop_frame' / 'warmup_frames' apply to a video target only")
    if offline is not None and not isinstance(offline, bool):
        raise TypeError(f"swap_video: argument 'offline' must be None, True or False, got {type(offline).__name__}")
    if pool is not None and (models_dir is not None or providers is not None or offline is not None):
        raise ValueError("swap_video: pass 'models_dir' / 'providers' / 'offline' to the InferencePool, not with 'pool'")
    layered = enhancer is not None or tuple(mask_types) != ("box",)
    if layered and frame_device == "cuda":
        raise ValueError("swap_video: argument 'frame_device' is 'cuda' but the enhancer and the occlusion / region "
                         "masks run on host frames; use frame_device='cpu' or 'auto'")
    device = "cpu" if layered and frame_device == "auto" else resolve_frame_device(_FN, frame_device, blend)
    out_fps = None if fps is None else checks.as_fps(_FN, fps)
    checks.pix_fmt_arg(_FN, pix_fmt, codec)

    bar = None
    # from here on, a temporary file of these outputs is ours; stale ones a killed run left go now
    with pipeline_scope((output_s, quality_report, quality_plot), pool, models_dir=models_dir,
                        providers=providers, download=None if offline is None else not offline,
                        download_progress=None if progress is True else False) as pool:
        try:
            det, swp, rec = _load_models(pool, detector, detector_size, score_threshold, swapper,
                                         _layer_specs(enhancer, mask_types, occluder, parser))
            enh, masker = _load_layer_models(pool, enhancer, enhancer_weight, mask_types, occluder, parser)
            src_img = read_face_image(source, "source")
            src_face = pick_face(det, src_img, "large-small", 0, "source image")
            embedding, _ = rec.embed(src_img, src_face.landmarks5)
            latent = swp.source_latent(np.asarray(embedding, np.float32))
            video = None if image_target else _probe(target_s, codec, crf, preset, start_frame, stop_frame, pix_fmt)
            if video:
                video["out_fps"] = out_fps
            fps = video["fps"] if video else 0.0
            target_img = target_alpha = None
            if image_target:  # read once; its alpha channel (if any) goes into the output as it is
                from ..video import read_image_alpha

                target_img, target_alpha = read_image_alpha(target_s)
            ref_emb = (_reference_embedding(det, rec, reference, target_img, target_s, int(reference_frame),
                                            face_order, int(face_index)) if faces == "reference" else None)
            from ..ops import QualityMonitor

            monitor = QualityMonitor()
            batch = int(frame_batch) if frame_batch is not None else (4 if swp.batchable else 1)
            worker = FrameSwapper(det, swp, latent, recognizer=rec, faces=faces, face_index=int(face_index),
                                  face_order=face_order, reference_embedding=ref_emb,
                                  reference_distance=float(reference_distance),
                                  recheck_every=max(1, int(round(fps))) if fps else 25, blend=blend, color=color,
                                  smoothing=smoothing, fps=fps or 25.0, start_frame=start_frame, batch_size=batch,
                                  frame_device=device, pixel_boost=pixel_boost, mask_types=tuple(mask_types),
                                  mask_blur=float(mask_blur), mask_padding=mask_padding,
                                  mask_regions=tuple(mask_regions), masker=masker, enhancer=enh,
                                  enhancer_blend=int(enhancer_blend))
            on_progress, bar = progress_callback(progress, video["total"] if video else 1, "swap")
            if image_target:
                worker.monitor = monitor  # one frame, no engine: the processor feeds the monitor
                frames, notes = _swap_image(worker, target_img, target_alpha, output_s, on_progress)
            else:
                frames, notes = _swap_stream(worker, target_s, output_s, video, monitor, on_progress, args,
                                             start_frame, stop_frame, warmup_frames)
        finally:
            if bar is not None:
                bar.close()
        write_quality_files(_FN, [("image" if image_target else "video", output_s)], monitor,
                            quality_report, quality_plot)  # a failure says the output was kept
        if frames and worker.faces_swapped == 0:  # a silent no-op looks like success: say it loudly
            msg = (f"{_FN}: no face was swapped in any of the {int(frames)} frame(s): the output is the target "
                   f"unchanged (faces={faces!r}" + (f", face_index={int(face_index)}" if faces == "index" else "")
                   + (f", reference_distance={float(reference_distance):g}" if faces == "reference" else "")
                   + f", score_threshold={float(score_threshold):g})")
            notes = [*notes, msg]
            warnings.warn(msg, UserWarning, stacklevel=2)
        return SwapResult(output=output_s, frames=int(frames), fps=float(fps),
                          seconds=time.perf_counter() - t_start, faces_swapped=worker.faces_swapped,
                          frames_with_swap=worker.frames_with_swap, is_image=image_target,
                          quality=monitor.summary(), stage_seconds=dict(worker.stage_seconds), warnings=notes,
                          frame_device=device, providers=list(swp.session.get_providers()))


# ------------------------------------------------------------------------------- steps

def _check_args(a: dict) -> tuple[str, str, bool]:
    """Every argument of :func:`swap_video` but the frame range; (target, output, image target)."""
    from ..models.detector import DETECTOR_SPECS
    from ..models.swapper import SWAPPER_SPECS

    check_choice(_FN, "detector", a["detector"], tuple(DETECTOR_SPECS))
    check_choice(_FN, "swapper", a["swapper"], tuple(SWAPPER_SPECS))
    check_swap_options(_FN, a["faces"], a["face_order"], a["blend"], a["color"], a["face_index"])
    check_int(_FN, "reference_frame", a["reference_frame"], 0)
    _check_quality_options(a)
    check_int(_FN, "queue_size", a["queue_size"], 1)
    size = a["detector_size"]
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 32 <= size <= MAX_DETECTOR_SIZE \
            or size % 32:
        raise ValueError(f"swap_video: argument 'detector_size' must be a multiple of 32 in "
                         f"[32, {MAX_DETECTOR_SIZE}], got {size!r}")
    if a["frame_batch"] is not None:
        check_int(_FN, "frame_batch", a["frame_batch"], 1)
    check_real(_FN, "score_threshold", a["score_threshold"], 0.0, 1.0)
    check_real(_FN, "reference_distance", a["reference_distance"], 0.0, 2.0, lo_open=True)
    checks.progress_arg(_FN, a["progress"])
    target_s = checks.input_file(_FN, "target", a["target"])
    output_s = checks.output_path(_FN, "output", a["output"])
    # no output may replace an input or another output (symlinks and hard links resolved)
    check_distinct(_FN, reads={"source": a["source"], "target": target_s, "reference": a["reference"]},
                   writes={"output": output_s, "quality_report": a["quality_report"],
                           "quality_plot": a["quality_plot"]})
    image_target = is_image_path(target_s)
    if image_target != is_image_path(output_s):
        kind = "an image" if image_target else "a video"
        raise ValueError(f"swap_video: argument 'output' must be {kind} like the target "
                         f"({os.path.splitext(target_s)[1] or 'no extension'}), got {output_s!r}")
    checks.output_dirs(_FN, quality_report=a["quality_report"], quality_plot=a["quality_plot"])
    return target_s, output_s, image_target


def _check_quality_options(a: dict) -> None:
    """pixel boost, enhancer and mask options, before any model loads."""
    from ..models.enhancer import ENHANCER_SPECS
    from ..models.masker import OCCLUDER_MODELS, PARSER_SPECS
    from ..models.pixel_boost import pixel_boost_choices

    if a["pixel_boost"] is not None:
        choices = pixel_boost_choices(a["swapper"])
        if isinstance(a["pixel_boost"], bool) or a["pixel_boost"] not in choices:
            raise ValueError(f"swap_video: argument 'pixel_boost' must be one of {', '.join(map(str, choices))} for "
                             f"{a['swapper']}, got {a['pixel_boost']!r}")
    if a["enhancer"] is not None:
        check_choice(_FN, "enhancer", a["enhancer"], tuple(ENHANCER_SPECS))
    check_real(_FN, "enhancer_weight", a["enhancer_weight"], 0.0, 1.0)
    check_choice(_FN, "occluder", a["occluder"], OCCLUDER_MODELS)
    check_choice(_FN, "parser", a["parser"], tuple(PARSER_SPECS))
    regions = a["mask_regions"]
    check_layer_options(_FN, a["mask_types"], a["mask_blur"], a["mask_padding"],
                        list(regions) if isinstance(regions, tuple) else regions, a["enhancer_blend"])


def _check_all_present(pool: Any, detector: str, swapper: str, layer_specs: Sequence[Any] = ()) -> None:
    """Every model file the swap needs is found (or downloaded) before any loads: the missing
    ones are reported together. Unknown names are left to the loaders' errors. ``layer_specs``:
    the enhancer's and masker's files (:func:`_layer_specs`)."""
    from ..models.detector import DETECTOR_SPECS
    from ..models.recognizer import RECOGNIZER_SPECS
    from ..models.swapper import CONVERTER_SPECS, SWAPPER_CONFIGS, SWAPPER_SPECS
    from .checks import models_present

    specs = [DETECTOR_SPECS.get(detector), SWAPPER_SPECS.get(swapper)]
    config = SWAPPER_CONFIGS.get(swapper)
    if config is not None:
        specs += [RECOGNIZER_SPECS.get(config.recognizer), CONVERTER_SPECS.get(config.converter or "")]
    specs += list(layer_specs)
    models_present(pool, [(s.file_name, s) for s in specs if s is not None])


def _layer_specs(enhancer: Optional[str], mask_types: Sequence[str], occluder: str, parser: str) -> list:
    """The specs of the enhancer, occluder and parser files the options ask for."""
    from ..models.enhancer import ENHANCER_SPECS
    from ..models.masker import OCCLUDER_SPECS, PARSER_SPECS

    specs = [ENHANCER_SPECS[enhancer]] if enhancer is not None else []
    if "occlusion" in mask_types:
        specs += list(OCCLUDER_SPECS.values()) if occluder == "many" else [OCCLUDER_SPECS[occluder]]
    if "region" in mask_types:
        specs.append(PARSER_SPECS[parser])
    return specs


def _load_models(pool: Any, detector: str, detector_size: int, score_threshold: float, swapper: str,
                 layer_specs: Sequence[Any] = ()) -> tuple:
    from ..models.detector import FaceDetector, FixedSizeError
    from ..models.recognizer import FaceRecognizer
    from ..models.swapper import FaceSwapper

    _check_all_present(pool, detector, swapper, layer_specs)
    try:
        det = FaceDetector(pool, detector, size=int(detector_size), score_threshold=float(score_threshold))
    except FixedSizeError as e:  # FaceDetector names its own argument ('size')
        raise ValueError(f"swap_video: argument 'detector_size' is {e.size} but model file {e.path!r} takes a "
                         f"fixed input of {e.fixed[0]} x {e.fixed[1]}; use {e.fixed[0]}") from e
    swp = FaceSwapper(pool, swapper)
    return det, swp, FaceRecognizer(pool, swp.recognizer)


def _load_layer_models(pool: Any, enhancer: Optional[str], weight: float, mask_types: Sequence[str],
                       occluder: str, parser: str) -> tuple:
    """The enhancer and the masker the options ask for (each file checked now, before any frame)."""
    from ..models import FaceEnhancer, FaceMasker

    enh = FaceEnhancer(pool, enhancer, weight=weight) if enhancer is not None else None
    masker = None
    if "occlusion" in mask_types or "region" in mask_types:
        masker = FaceMasker(pool, occluder, parser)
        masker.load(occlusion="occlusion" in mask_types, region="region" in mask_types)
    return enh, masker


def _probe(target: str, codec: str, crf: Optional[float], preset: Optional[str], start: int,
           stop: Optional[int], pix_fmt: Optional[str]) -> dict:
    """The target video's rate, the frames to write and the encoder's size note."""
    from ..video import VideoReader, size_change_note
    from ..video.color import output_pix_fmt

    with VideoReader(target) as r:  # opening decodes frame 0: an unreadable file fails here
        fps, total = r.fps, r.frame_count
        note = size_change_note(r.width, r.height, codec=codec, crf=crf, preset=preset,
                                pix_fmt=pix_fmt or output_pix_fmt(codec, r.color))
    if total:
        total = max(0, (total if stop is None else min(total, stop)) - start)
    return {"fps": fps, "total": total, "size_note": note}


def _reference_embedding(det: Any, rec: Any, reference: Any, target_img: Optional[np.ndarray], target: str,
                         reference_frame: int, face_order: str, face_index: int) -> np.ndarray:
    if reference is not None:
        img, what = read_face_image(reference, "reference"), "reference image"
    elif target_img is not None:
        img, what = target_img, "target image"
    else:
        img, what = frame_at(target, reference_frame), f"reference frame {reference_frame}"
    hint = ("" if reference is not None else
            " (choose the frame that shows the reference face with reference_frame= / --reference-frame, "
            "or give reference= / --reference-image; faces='all' or 'index' need no reference)")
    face = pick_face(det, img, face_order, face_index, what, hint)
    _, emb = rec.embed(img, face.landmarks5)
    return np.asarray(emb, np.float32).ravel()


def _swap_image(worker: FrameSwapper, image: np.ndarray, alpha: Optional[np.ndarray], output: str,
                on_progress: Optional[Callable[[int, int], None]]) -> tuple[int, list]:
    out = worker(image, 0, None)
    notes = []
    alpha_note = write_image(output, out, alpha)
    if alpha_note:
        notes.append(alpha_note)
        warnings.warn(alpha_note, UserWarning, stacklevel=3)
    if on_progress is not None:
        on_progress(1, 1)
    return 1, notes


def _swap_stream(worker: FrameSwapper, target: str, output: str, video: dict, monitor: Any,
                 on_progress: Optional[Callable[[int, int], None]], a: dict, start: int, stop: Optional[int],
                 warmup: int) -> tuple[int, list]:
    from ..video import VideoError, VideoReader
    from .engine import EncodeSettings, frame_notes, run_stream

    notes = [video["size_note"]] if video["size_note"] else []  # VideoWriter warns too
    reader = VideoReader(target, start_frame=max(0, start - warmup))
    enc = EncodeSettings(output, codec=a["codec"], crf=a["crf"], preset=a["preset"], pix_fmt=a["pix_fmt"],
                         streams_from=target if a["copy_audio"] else None, fps=video["out_fps"])
    res = run_stream(reader, worker, enc, start_frame=start, stop_frame=stop, queue_size=a["queue_size"],
                     total=video["total"], on_progress=on_progress, monitor=monitor)
    if res.frames == 0:
        raise VideoError(f"swap_video: no frame decoded from {target!r}")
    notes += frame_notes(res)
    worker.stage_seconds["quality"] += res.stage_seconds["quality"]
    return res.frames, notes
