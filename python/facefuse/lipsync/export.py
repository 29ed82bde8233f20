"""Export Diff2Lip's checkpoint to the ONNX denoiser facefuse runs (``facefuse export-diff2lip``).

Needs torch >= 2.6 and onnxscript (the dynamo ONNX exporter, ``torch.onnx.export(..., dynamo=True)``) and a
checkout of Diff2Lip (https://github.com/soumik-kanad/diff2lip) for its model code; the
facefuse runtime never imports either. The legacy TorchScript exporter cannot trace the
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
from typing import Any, Dict, Union

__all__ = ["DIFF2LIP_FLAGS", "export_diff2lip"]

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
    pkg = source / "guided-diffusion"
    if not (pkg / "guided_diffusion" / "script_util.py").is_file():
        raise FileNotFoundError(
            f"export-diff2lip: argument 'source' must be a checkout of Diff2Lip "
            f"(https://github.com/soumik-kanad/diff2lip) containing guided-diffusion/guided_diffusion/"
            f"script_util.py; not found under {str(source)!r}")
    sys.path.insert(0, str(pkg))
    try:
        from guided_diffusion import script_util
    except ImportError as e:
        raise ImportError(
            f"export-diff2lip: could not import Diff2Lip's guided_diffusion from {str(pkg)!r}: {e}") from e
    return script_util


def export_diff2lip(checkpoint: PathLike, source: PathLike, output: PathLike, *, fp16: bool = False,
                    opset: int = 18, verify: bool = True) -> Path:
    """Export one denoising step of Diff2Lip's UNet to ``output`` (ONNX, dynamic batch).

    Args:
        checkpoint: Diff2Lip's ``.pt`` state dict (e.g. ``checkpoints/e7.24.1.3_model260000_paper.pt``).
        source: the Diff2Lip checkout (its ``guided-diffusion`` package builds the model).
        output: the ``.onnx`` file, written to a temporary file and renamed when complete.
        fp16: run the UNet torso in float16 (Diff2Lip's ``convert_to_fp16``); inputs and
            output stay float32 (the :data:`~facefuse.lipsync.model.DIFF2LIP` signature).
        opset: ONNX opset.
        verify: run the export with ONNX Runtime on random inputs, check the signature and
            compare with torch (max abs difference reported; raises if > 1e-2 fp32 / 5e-2 fp16).

    Raises:
        ImportError: torch or Diff2Lip's code missing. FileNotFoundError: missing files.
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
    from .._files import check_distinct

    check_distinct("export-diff2lip", reads={"checkpoint": ckpt}, writes={"output": out})
    torch = _import_torch()
    script_util = _import_diff2lip(src)

    args = script_util.tfg_model_and_diffusion_defaults()
    args.update(DIFF2LIP_FLAGS)
    args["use_fp16"] = bool(fp16)
    model, _ = script_util.tfg_create_model_and_diffusion(**args)
    state = torch.load(str(ckpt), map_location="cpu")
    model.load_state_dict(state)
    if fp16:
        model.convert_to_fp16()
    model.eval()

    class Step(torch.nn.Module):
        def __init__(self, m: Any) -> None:
            super().__init__()
            self.m = m

        def forward(self, x, t, cond_img, mask, ref_img, indiv_mels):  # type: ignore[no-untyped-def]
            return self.m(x, t, cond_img=cond_img, mask=mask, ref_img=ref_img, indiv_mels=indiv_mels)

    step = Step(model).eval()
    n = 2
    g = torch.Generator().manual_seed(0)
    mask = torch.zeros(n, 1, 128, 128)
    mask[:, :, 64:] = 1.0
    example = (torch.randn(n, 3, 128, 128, generator=g), torch.tensor([960, 40], dtype=torch.int64),
               torch.randn(n, 3, 128, 128, generator=g).clamp(-1, 1), mask,
               torch.rand(n, 3, 128, 128, generator=g) * 2 - 1, torch.randn(n, 80, 16, generator=g))
    names = ["x", "t", "cond_img", "mask", "ref_img", "indiv_mels"]
    batch = torch.export.Dim("N", min=1, max=1024)
    dynamic = {k: {0: batch} for k in names}
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp.onnx", dir=str(out.parent))
    os.close(fd)
    try:
        with torch.no_grad():
            # weights inside the file (~400 MB < 2 GB): an external-data file would be named
            # after the temporary file and break the rename
            torch.onnx.export(step, example, tmp, dynamo=True, input_names=names, output_names=["output"],
                              dynamic_shapes=dynamic, opset_version=opset, external_data=False)
            ref = step(*example).float().numpy()
        if verify:
            _verify(tmp, example, ref, tol=5e-2 if fp16 else 1e-2)
        publish(tmp, str(out))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return out


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

