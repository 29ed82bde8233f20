"""Diff2Lip throughput at DDIM-25: facefuse's torch path, its ONNX path, and Diff2Lip's own
torch sampling loop, in one run on one device; peak GPU memory; the whole ``facefuse
lipsync`` on a 720p clip (issue 17, part 3).

The model is Diff2Lip's released configuration (~102 M parameters, 128 px) with seeded
random weights (no released checkpoint is needed: the cost does not depend on the values),
built by Diff2Lip's own code from ``--diff2lip-src`` (a checkout of soumik-kanad/diff2lip;
on the GPU machine a copy carried as the git-ignored folder .diff2lip-src, see
bench/gpu_check.sh). Per batch size (default 1, 8, 32) it times, after a warm-up run:

* ``facefuse-torch``: :class:`facefuse.lipsync.torch_denoiser.TorchDenoiser` on the exported
  ``.pt2`` (fp16 autocast, channels-last, one CUDA graph per step on a GPU; fp32 on the CPU),
  the whole DDIM loop on the device (:func:`facefuse.lipsync.sampler.lipsync_batch`);
  ``facefuse-torch-nographs`` the same without CUDA graphs (GPU only);
* ``facefuse-onnx``: the exported ``.onnx`` (fp16 inside on a GPU) on ONNX Runtime, only where
  its CUDA provider is present on a GPU (the GPU image has the CPU build only);
* ``diff2lip``: Diff2Lip's own ``ddim_sample_loop`` with ``timestep_respacing=ddim25`` and its
  model in fp16 (``convert_to_fp16``, as its inference script's ``--use_fp16 True``; fp32 on the CPU).

frames/s = batch x runs / seconds; peak memory = torch's max_memory_allocated over the case,
which counts whatever the process holds (both models' weights, captured graphs):
``allocated_before_mib`` is what was allocated when the case began. ONNX Runtime's
allocations are not torch's: its column is nvidia-smi's used memory.
``agree`` = max |facefuse-torch - diff2lip| of the final samples (both fp16 on a GPU: a few
1e-2 is half precision, not a bug; the float32 agreement is tests/test_diff2lip_reference.py).

Then the whole pipeline (``facefuse.lipsync_video``, torch backend, stand-in detector) on a
synthetic 1280x720 25 fps clip with a speech-like track: wall seconds and frames/s.

    python bench/lipsync_gpu.py --diff2lip-src .diff2lip-src --json out.json          # GPU
    python bench/lipsync_gpu.py --diff2lip-src /tmp/diff2lip --device cpu --batches 1 --steps 2 \\
        --clip-seconds 0                                                                 # CPU figures
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import numpy as np


def _sync(torch: Any, device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _time(fn: Callable[[], Any], torch: Any, device: str, runs: int) -> tuple:
    """(seconds per run, the last result) after one warm-up call."""
    out = fn()
    _sync(torch, device)
    t0 = time.perf_counter()
    for _ in range(runs):
        out = fn()
    _sync(torch, device)
    return (time.perf_counter() - t0) / runs, out


def _peak_reset(torch: Any, device: str) -> None:
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_mib(torch: Any, device: str) -> float:
    return torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else float("nan")


def _nvidia_smi_used_mib() -> float:
    import subprocess

    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=5).stdout
        return float(out.split()[0])
    except Exception:
        return float("nan")


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--diff2lip-src", default=os.environ.get("DIFF2LIP_SRC", ".diff2lip-src"),
                    help="Diff2Lip checkout (its guided-diffusion/ folder is enough); default $DIFF2LIP_SRC or "
                         ".diff2lip-src")
    ap.add_argument("--device", default=None, choices=("cuda", "cpu"), help="default: cuda when torch sees one")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--steps", type=int, default=25, help="DDIM steps (Diff2Lip's ddimN respacing; default 25)")
    ap.add_argument("--runs", type=int, default=2, help="timed runs per case after the warm-up (default 2)")
    ap.add_argument("--precision", default=None, choices=("fp32", "fp16", "bf16"),
                    help="facefuse torch path (default fp16 on cuda, fp32 on cpu)")
    ap.add_argument("--no-diff2lip", action="store_true", help="skip Diff2Lip's own loop")
    ap.add_argument("--no-onnx", action="store_true", help="skip the ONNX path even where it could run")
    ap.add_argument("--aoti", action="store_true", help="also compile and time an AOTInductor package (minutes)")
    ap.add_argument("--clip-seconds", type=float, default=2.0, help="the 720p pipeline clip's length (0: skip)")
    ap.add_argument("--json", default=None, help="write the figures here")
    a = ap.parse_args(argv)

    import torch

    from facefuse.lipsync.diff2lip_source import import_diff2lip
    from facefuse.lipsync.export import DIFF2LIP_FLAGS, export_diff2lip, save_torch_package
    from facefuse.lipsync.sampler import DDIMSampler, initial_noise, lipsync_batch
    from facefuse.lipsync.torch_denoiser import TorchDenoiser
    from facefuse.testing.diff2lip_checkpoint import build_diff2lip_model, write_random_checkpoint

    device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    src = Path(a.diff2lip_src)
    su = import_diff2lip(src)
    doc: Dict[str, Any] = {"device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
                           "torch": torch.__version__, "steps": a.steps, "threads": torch.get_num_threads(),
                           "cases": [], "notes": []}
    print(f"lipsync_gpu: {doc['device']}, torch {torch.__version__}, DDIM-{a.steps}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="lipsync_gpu."))
    ckpt = tmp / "diff2lip_random.pt"
    t0 = time.perf_counter()
    model = write_random_checkpoint(src, ckpt, seed=0)
    pt2 = save_torch_package(model, tmp / "diff2lip.pt2", verify=False)
    doc["export_torch_s"] = round(time.perf_counter() - t0, 1)
    print(f"torch package exported in {doc['export_torch_s']} s", flush=True)

    ort_cuda = False
    try:
        import onnxruntime as ort

        ort_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    except ImportError:
        pass
    onnx_path = None
    if not a.no_onnx and (device == "cpu" or ort_cuda):
        t0 = time.perf_counter()
        onnx_path = export_diff2lip(ckpt, src, tmp / "diff2lip.onnx", fp16=device == "cuda", verify=False,
                                    torch_package=False)
        doc["export_onnx_s"] = round(time.perf_counter() - t0, 1)
    elif not a.no_onnx:
        doc["notes"].append("facefuse-onnx not run: onnxruntime has no CUDAExecutionProvider here")

    sampler = DDIMSampler(a.steps)
    noise = initial_noise(7)
    fast = TorchDenoiser(pt2, device=device, precision=a.precision)
    doc["torch_denoiser"] = repr(fast)
    # the same without CUDA graphs: what the graphs buy (on a GPU only)
    plain = TorchDenoiser(pt2, device=device, precision=a.precision, cuda_graphs=False) if device == "cuda" else None
    aoti = None
    if a.aoti:
        t0 = time.perf_counter()
        aoti = _aoti(torch, model, tmp / "diff2lip.aoti.pt2", device)
        doc["aoti_compile_s"] = round(time.perf_counter() - t0, 1)
    ref_model = None
    if not a.no_diff2lip:
        ref_model, _ = build_diff2lip_model(src, use_fp16=device == "cuda")
        ref_model.load_state_dict(torch.load(str(ckpt), weights_only=True))
        ref_model.to(device)
        if device == "cuda":
            ref_model.convert_to_fp16()  # Diff2Lip's inference script: --use_fp16 True
        ref_model.eval()
        args = su.tfg_model_and_diffusion_defaults()
        args.update(DIFF2LIP_FLAGS)
        diffusion = su.create_gaussian_diffusion(
            steps=args["diffusion_steps"], learn_sigma=args["learn_sigma"], noise_schedule=args["noise_schedule"],
            use_kl=args["use_kl"], predict_xstart=args["predict_xstart"], rescale_timesteps=args["rescale_timesteps"],
            rescale_learned_sigmas=args["rescale_learned_sigmas"], timestep_respacing=f"ddim{a.steps}",
            loss_variation=args.get("loss_variation", 0))
    pool = None
    if onnx_path is not None:
        from facefuse.inference import InferencePool
        from facefuse.lipsync.model import Diff2LipDenoiser

        pool = InferencePool(providers="cuda" if device == "cuda" else "cpu")
        onnx_den = Diff2LipDenoiser(pool, onnx_path)

    rng = np.random.default_rng(0)
    for b in a.batches:
        crops = rng.uniform(-1, 1, (b, 3, 128, 128)).astype(np.float32)
        mels = rng.standard_normal((b, 80, 16)).astype(np.float32)
        runs: Dict[str, Callable[[], Any]] = {
            "facefuse-torch": lambda: lipsync_batch(fast, sampler, crops, crops, mels, noise)}
        if plain is not None:
            runs["facefuse-torch-nographs"] = lambda: lipsync_batch(plain, sampler, crops, crops, mels, noise)
        if aoti is not None:
            runs["facefuse-torch-aoti"] = lambda: lipsync_batch(aoti, sampler, crops, crops, mels, noise)
        if pool is not None:
            runs["facefuse-onnx"] = lambda: lipsync_batch(onnx_den, sampler, crops, crops, mels, noise)
        if ref_model is not None:
            runs["diff2lip"] = lambda: _diff2lip_loop(torch, ref_model, diffusion, crops, mels, noise, device)
        outs = {}
        for name, fn in runs.items():
            _peak_reset(torch, device)
            before = torch.cuda.memory_allocated() / 2**20 if device == "cuda" else float("nan")
            try:
                secs, outs[name] = _time(fn, torch, device, a.runs)
            except Exception as e:  # one failing path must not lose the others' figures
                doc["cases"].append({"path": name, "batch": b, "error": f"{type(e).__name__}: {str(e)[:300]}"})
                print(f"{name:20s} batch {b:3d}: FAILED {type(e).__name__}: {str(e)[:300]}", flush=True)
                continue
            peak = _nvidia_smi_used_mib() if name == "facefuse-onnx" and device == "cuda" else _peak_mib(torch, device)
            case = {"path": name, "batch": b, "seconds_per_batch": round(secs, 4), "fps": round(b / secs, 2),
                    "s_per_frame": round(secs / b, 4),  # memory: None on the CPU (strict JSON has no NaN)
                    "peak_mib": None if peak != peak else round(peak, 1),
                    "allocated_before_mib": None if before != before else round(before, 1)}
            doc["cases"].append(case)
            print(f"{name:20s} batch {b:3d}: {case['fps']:8.2f} frames/s ({case['s_per_frame']:.4f} s/frame), "
                  f"peak {peak:.0f} MiB", flush=True)
        if "facefuse-torch" in outs and "diff2lip" in outs:
            agree = float(np.abs(outs["facefuse-torch"] - outs["diff2lip"]).max())
            doc["cases"].append({"path": "agree facefuse-torch vs diff2lip", "batch": b, "max_abs": agree})
            print(f"  batch {b}: max |facefuse-torch - diff2lip| = {agree:.3g}", flush=True)
    if pool is not None:
        pool.close()
    if a.clip_seconds > 0:
        doc["pipeline"] = _pipeline(tmp, pt2, a.clip_seconds, a.steps, device, a.precision)
    if a.json:
        Path(a.json).write_text(json.dumps(doc, indent=1))
    return 0 if not any("error" in c for c in doc["cases"]) else 1


def _diff2lip_loop(torch: Any, model: Any, diffusion: Any, crops: np.ndarray, mels: np.ndarray, noise: np.ndarray,
                   device: str) -> np.ndarray:
    """Diff2Lip's generate.py sampling for one batch (its tfg_process_batch + ddim_sample_loop),
    returning sample * mask + (1 - mask) * image like its generate step."""
    from guided_diffusion.tfg_data_util import tfg_process_batch

    n = crops.shape[0]
    img01 = torch.from_numpy((crops + 1.0) * 0.5).reshape(1, n, 3, 128, 128)
    batch = {"image": img01, "ref_img": img01, "indiv_mels": torch.from_numpy(mels).reshape(1, n, 1, 80, 16)}
    init = torch.from_numpy(noise)[None].repeat(n, 1, 1, 1)
    img, kw = tfg_process_batch(batch, 0.5, use_ref=True, use_audio=True, noise=init)
    kw = {k: v.to(device) for k, v in kw.items()}
    with torch.no_grad():
        s = diffusion.ddim_sample_loop(model, (n, 3, 128, 128), clip_denoised=True, model_kwargs=kw,
                                       noise=init.to(device))
        out = s * kw["mask"] + (1.0 - kw["mask"]) * img.to(device)
    return out.float().cpu().numpy()


def _aoti(torch: Any, model: Any, path: Path, device: str) -> Any:
    """Compile the float32 model (fp16 on cuda, Diff2Lip's convert_to_fp16) with AOTInductor."""
    from facefuse.lipsync.export import INPUT_NAMES, _Step, example_inputs
    from facefuse.lipsync.torch_denoiser import TorchDenoiser

    step = _Step(torch)(model).eval().to(device)
    if device == "cuda":
        model.convert_to_fp16()
    dyn = {k: {0: torch.export.Dim("N", min=1, max=1024)} for k in INPUT_NAMES}
    with torch.no_grad():
        ep = torch.export.export(step, example_inputs(torch, device=device), dynamic_shapes=dyn)
        torch._inductor.aoti_compile_and_package(ep, package_path=str(path))
    return TorchDenoiser(path, device=device, cuda_graphs=False)


def _pipeline(tmp: Path, pt2: Path, seconds: float, steps: int, device: str, precision: Any) -> Dict[str, Any]:
    """The whole facefuse lipsync (torch backend) on a synthetic 1280x720 25 fps clip."""
    import facefuse as ff
    from facefuse.testing.detector_models import build_yolo_face
    from facefuse.testing.media import synth_speech, write_audio, write_clip

    models = tmp / "models"
    models.mkdir(exist_ok=True)
    build_yolo_face(models)
    video, audio, out = tmp / "clip720.mp4", tmp / "speech.wav", tmp / "synced720.mp4"
    write_clip(video, seconds, size=(1280, 720), square=240, seed=1)
    write_audio(audio, synth_speech(seconds + 0.3, seed=2), 16000)
    t0 = time.perf_counter()
    r = ff.lipsync_video(video, audio, out, model=pt2, backend="torch", precision=precision, models_dir=models,
                         detector="yolo_face", steps=steps, providers="cpu" if device == "cpu" else None,
                         preset="veryfast", codec="libx264")
    wall = time.perf_counter() - t0
    doc = {"size": "1280x720", "frames": r.frames, "frames_synced": r.frames_synced, "seconds": round(wall, 2),
           "fps": round(r.frames / wall, 2), "batch_size": r.batch_size, "providers": r.providers,
           "note": "includes first-use costs: the stand-in detector's session, a CUDA graph capture per batch size"}
    print(f"pipeline 1280x720 {r.frames} frames ({r.frames_synced} synced): {wall:.1f} s = {doc['fps']} frames/s, "
          f"batch {r.batch_size}, {r.providers}", flush=True)
    return doc


if __name__ == "__main__":
    sys.exit(main())
