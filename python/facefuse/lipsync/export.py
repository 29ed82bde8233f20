"""Export Diff2Lip's checkpoint to the denoisers facefuse runs (``facefuse export-diff2lip``):
the ONNX model (ONNX Runtime backend) and a torch package (``.pt2``, the torch backend,
:mod:`.torch_denoiser`), optionally an AOTInductor package.

Needs torch >= 2.6 and onnxscript (the dynamo ONNX exporter, ``torch.onnx.export(..., dynamo=True)``)
and a checkout of Diff2Lip (https://github.com/soumik-kanad/diff2lip) for its model code,
imported with stand-ins for its training-only imports (:mod:`.diff2lip_source`); neither
file needs Diff2Lip's code to run, and the ONNX backend needs no torch. The legacy TorchScript exporter cannot trace the
attention blocks (guided-diffusion wraps them in a hand-written autograd checkpoint
function); the dynamo exporter traces through it.

The model is built with the flags of Diff2Lip's ``scripts/inference_single_video.sh``
(:data:`DIFF2LIP_FLAGS`) and wrapped so that the ONNX inputs are exactly
:data:`facefuse.lipsync.model.DIFF2LIP`'s (``t`` the original timestep; Diff2Lip uses
``rescale_timesteps=False``).
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from .._files import publish
from typing import Any, Dict, Optional, Union

__all__ = ["DIFF2LIP_FLAGS", "INPUT_NAMES", "export_diff2lip", "example_inputs", "save_torch_package",
           "torch_package_path", "aoti_package_path"]

PathLike = Union[str, "os.PathLike[str]"]

#: MODEL_FLAGS + DIFFUSION_FLAGS + DATA_FLAGS + TFG_FLAGS of Diff2Lip's inference script
DIFF2LIP_FLAGS: Dict[str, Any] = {
    "attention_resolutions": "32,16,8",
    "class_cond": False,
    "learn_sigma": True,
    "num_channels": 128,
    "num_head_channels": 64,
    "num_res_blocks": 2,
    "resblock_updown": True,
    "use_scale_shift_norm": False,
    "predict_xstart": False,
    "diffusion_steps": 1000,
    "noise_schedule": "linear",
    "rescale_timesteps": False,
    "nframes": 5,
    "nrefer": 1,
    "image_size": 128,
    "use_ref": True,
    "use_audio": True,
    "audio_as_style": True,
}


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as e:
        raise ImportError(
            "export-diff2lip needs PyTorch >= 2.6 and onnxscript (pip install torch onnxscript) for the dynamo "
            "ONNX exporter. They are only needed once, to export; facefuse runs the exported model without them."
        ) from e
    try:
        import onnxscript  # noqa: F401  (the dynamo exporter's op library)
    except ImportError as e:
        raise ImportError("export-diff2lip needs onnxscript for torch's dynamo ONNX exporter "
                          "(pip install onnxscript)") from e
    return torch


def _import_diff2lip(source: Path) -> Any:
    from .diff2lip_source import import_diff2lip

    return import_diff2lip(source)


def _load_state(torch: Any, ckpt: Path) -> Any:
    """The checkpoint's state dict; one ValueError naming the file when it is not one."""
    try:
        state = torch.load(str(ckpt), map_location="cpu", weights_only=True)
    except Exception as e:  # empty file: EOFError; text: UnpicklingError; a zip that is no checkpoint ...
        why = (str(e).strip().splitlines() or [""])[0][:200]
        raise ValueError(f"export-diff2lip: argument 'checkpoint': {str(ckpt)!r} is not a readable PyTorch "
                         f"checkpoint ({type(e).__name__}: {why})") from e
    if not isinstance(state, dict) or not state:
        raise ValueError(f"export-diff2lip: argument 'checkpoint': {str(ckpt)!r} holds a {type(state).__name__}, "
                         "not a state dict (Diff2Lip's released .pt files are state dicts)")
    return state


def torch_package_path(output: PathLike) -> Path:
    """Where ``export_diff2lip`` writes the torch package for the ONNX file ``output``: the
    same name with the extension ``.pt2`` (``diff2lip.onnx`` -> ``diff2lip.pt2``)."""
    return Path(output).with_suffix(".pt2")


def aoti_package_path(output: PathLike, device: str) -> Path:
    """Where the AOTInductor package for ``device`` goes: ``diff2lip.onnx`` -> ``diff2lip.aoti-cuda.pt2``."""
    return Path(output).with_suffix(f".aoti-{device}.pt2")


def export_diff2lip(checkpoint: PathLike, source: PathLike, output: PathLike, *, fp16: bool = False,
                    opset: int = 18, verify: bool = True, torch_package: bool = True,
                    aoti: Optional[str] = None) -> Path:
    """Export one denoising step of Diff2Lip's UNet to ``output`` (ONNX, dynamic batch), and
    beside it the same step as a torch package (:func:`torch_package_path`).

    Args:
        checkpoint: Diff2Lip's ``.pt`` state dict (e.g. ``checkpoints/e7.24.1.3_model260000_paper.pt``).
        source: the Diff2Lip checkout (its ``guided-diffusion`` package builds the model).
        output: the ``.onnx`` file, written to a temporary file and renamed when complete.
        fp16: run the ONNX model's UNet torso in float16 (Diff2Lip's ``convert_to_fp16``); inputs
            and output stay float32 (the :data:`~facefuse.lipsync.model.DIFF2LIP` signature).
            The torch package is float32 either way (the torch backend picks fp16 / bf16 at run time).
        opset: ONNX opset.
        verify: run the export with ONNX Runtime (and the torch package with torch) on random
            inputs, check the signature and compare with the torch model (raises if the max abs
            difference is > 1e-2 fp32 / 5e-2 fp16; the figure is printed).
        torch_package: also write ``torch.export``'s program of the float32 step (``.pt2``,
            weights inside; loads with torch alone, see :mod:`.torch_denoiser`).
        aoti: also compile an AOTInductor package for this device (``"cpu"`` or ``"cuda"``;
            :func:`aoti_package_path`), with the ONNX model's precision (``fp16``). Needs a C++
            compiler (and for cuda, a GPU and nvcc) where the export runs.

    Raises:
        ImportError: torch or Diff2Lip's code missing, or Diff2Lip's code failed to import.
        FileNotFoundError: missing files. ValueError: unreadable checkpoint, or not Diff2Lip's model.
    """
    ckpt = Path(checkpoint)
    src = Path(source)
    out = Path(output)
    if not ckpt.is_file():
        raise FileNotFoundError(f"export-diff2lip: argument 'checkpoint': no such file: {str(ckpt)!r}")
    if not src.is_dir():
        raise FileNotFoundError(f"export-diff2lip: argument 'source': no such directory: {str(src)!r}")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"export-diff2lip: argument 'output': directory does not exist: {str(out.parent)!r}")
    if out.suffix == ".pt2":
        raise ValueError(f"export-diff2lip: argument 'output' is the ONNX file (the torch package goes beside it "
                         f"as .pt2), got {str(out)!r}")
    if aoti not in (None, "cpu", "cuda"):
        raise ValueError(f"export-diff2lip: argument 'aoti' must be None, 'cpu' or 'cuda', got {aoti!r}")
    from .._files import check_distinct

    pt2 = torch_package_path(out) if torch_package else None
    aoti_path = aoti_package_path(out, aoti) if aoti else None
    check_distinct("export-diff2lip", reads={"checkpoint": ckpt},
                   writes={"output": out, "torch_package": pt2, "aoti": aoti_path})
    torch = _import_torch()
    state = _load_state(torch, ckpt)  # an unreadable checkpoint fails before Diff2Lip's code loads
    script_util = _import_diff2lip(src)


    def build(use_fp16: bool) -> Any:
        # use_fp16 is fixed at construction (the model casts its inputs to its dtype), so the
        # float32 torch package and an fp16 ONNX model each need their own instance
        args = script_util.tfg_model_and_diffusion_defaults()
        args.update(DIFF2LIP_FLAGS)
        args["use_fp16"] = use_fp16
        model, _ = script_util.tfg_create_model_and_diffusion(**args)
        try:
            model.load_state_dict(state)
        except Exception as e:
            why = (str(e).strip().splitlines() or [""])[0][:300]
            raise ValueError(f"export-diff2lip: argument 'checkpoint': {str(ckpt)!r} is not Diff2Lip's model with "
                             f"the released configuration ({type(e).__name__}: {why})") from e
        if use_fp16:
            model.convert_to_fp16()
        return _Step(torch)(model.eval()).eval()

    step = build(False)
    example = example_inputs(torch)
    dynamic = {k: {0: torch.export.Dim("N", min=1, max=1024)} for k in INPUT_NAMES}
    temps: Dict[Path, str] = {}  # final path -> its temporary file; all renamed at the end
    try:
        if pt2 is not None:
            temps[pt2] = _temp_for(pt2)
            _save_torch_package(torch, step, example, dynamic, temps[pt2], verify)
        if fp16:
            step = build(True)
        temps[out] = _temp_for(out)
        with torch.no_grad():
            # weights inside the file (~400 MB < 2 GB): an external-data file would be named
            # after the temporary file and break the rename
            torch.onnx.export(step, example, temps[out], dynamo=True, input_names=list(INPUT_NAMES),
                              output_names=["output"], dynamic_shapes=dynamic, opset_version=opset,
                              external_data=False)
            ref = step(*example).float().numpy()
        if verify:
            _verify(temps[out], example, ref, tol=5e-2 if fp16 else 1e-2)
        if aoti_path is not None:
            temps[aoti_path] = _temp_for(aoti_path)
            _save_aoti(torch, step, example, dynamic, temps[aoti_path], aoti)
        for final, tmp in temps.items():
            publish(tmp, str(final))
    except BaseException:
        for tmp in temps.values():
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise
    return out


#: the denoiser's inputs, in the order of its forward
INPUT_NAMES = ("x", "t", "cond_img", "mask", "ref_img", "indiv_mels")


def _Step(torch: Any) -> Any:
    class Step(torch.nn.Module):
        """Diff2Lip's TFGModel called with positional inputs (:data:`INPUT_NAMES`)."""

        def __init__(self, m: Any) -> None:
            super().__init__()
            self.m = m

        def forward(self, x, t, cond_img, mask, ref_img, indiv_mels):  # type: ignore[no-untyped-def]
            return self.m(x, t, cond_img=cond_img, mask=mask, ref_img=ref_img, indiv_mels=indiv_mels)

    return Step


def example_inputs(torch: Any, n: int = 2, device: str = "cpu") -> tuple:
    """Seeded inputs of batch ``n`` in the denoiser's ranges (the export's trace and check inputs)."""
    g = torch.Generator().manual_seed(0)
    mask = torch.zeros(n, 1, 128, 128)
    mask[:, :, 64:] = 1.0
    t = torch.tensor([960, 40] * ((n + 1) // 2), dtype=torch.int64)[:n]
    ex = (torch.randn(n, 3, 128, 128, generator=g), t, torch.randn(n, 3, 128, 128, generator=g).clamp(-1, 1), mask,
          torch.rand(n, 3, 128, 128, generator=g) * 2 - 1, torch.randn(n, 80, 16, generator=g))
    return tuple(v.to(device) for v in ex)


def _temp_for(path: Path) -> str:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + "".join(path.suffixes[-1:]),
                               dir=str(path.parent))
    os.close(fd)
    return tmp


def save_torch_package(model: Any, path: PathLike, *, verify: bool = True) -> Path:
    """``torch.export`` Diff2Lip's ``model`` (a float32 TFGModel built from its code) as the
    torch package :class:`~.torch_denoiser.TorchDenoiser` loads (dynamic batch), written to a
    temporary file beside ``path`` and renamed. What ``export_diff2lip`` writes as ``.pt2``."""
    import torch

    out = Path(path)
    step = _Step(torch)(model).eval()
    dynamic = {k: {0: torch.export.Dim("N", min=1, max=1024)} for k in INPUT_NAMES}
    tmp = _temp_for(out)
    try:
        _save_torch_package(torch, step, example_inputs(torch), dynamic, tmp, verify)
        publish(tmp, str(out))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return out


def _save_torch_package(torch: Any, step: Any, example: tuple, dynamic: dict, tmp: str, verify: bool) -> None:
    with torch.no_grad():
        ep = torch.export.export(step, example, dynamic_shapes=dynamic)
    torch.export.save(ep, tmp)
    if verify:  # the saved file, loaded back, against the model
        with torch.no_grad():
            got = torch.export.load(tmp).module()(*example)
            err = float((got - step(*example)).abs().max())
        if not err <= 1e-3:
            raise RuntimeError(f"export-diff2lip: the torch package and the model differ by {err:.3g} (> 1e-3)")
        print(f"export-diff2lip: verified the torch package, max |pt2 - torch| = {err:.3g}", file=sys.stderr)


def _save_aoti(torch: Any, step: Any, example: tuple, dynamic: dict, tmp: str, device: str) -> None:
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("export-diff2lip: argument 'aoti' is 'cuda' but torch sees no CUDA device")
    dev_step = step.to(device)
    ex = tuple(v.to(device) for v in example)
    with torch.no_grad():
        ep = torch.export.export(dev_step, ex, dynamic_shapes=dynamic)
        os.unlink(tmp)  # the packager wants to create the file
        torch._inductor.aoti_compile_and_package(ep, package_path=tmp)
    step.to("cpu")


def _verify(path: str, example: Any, ref: Any, tol: float) -> None:
    import numpy as np
    import onnxruntime as ort

    from ..inference import check_model
    from .model import DIFF2LIP

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    check_model(sess, DIFF2LIP, path)
    feeds = {k: v.numpy() for k, v in zip(["x", "t", "cond_img", "mask", "ref_img", "indiv_mels"], example)}
    (got,) = sess.run(["output"], feeds)
    err = float(np.abs(got - ref).max())
    if not err <= tol:
        raise RuntimeError(f"export-diff2lip: ONNX Runtime and torch differ by {err:.3g} (> {tol}) on the check inputs")
    print(f"export-diff2lip: verified with ONNX Runtime, max |onnx - torch| = {err:.3g}", file=sys.stderr)

