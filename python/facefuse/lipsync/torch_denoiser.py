"""Diff2Lip's denoiser on torch: the package ``facefuse export-diff2lip`` writes beside the ONNX
file (``diff2lip.pt2``: ``torch.export``'s program, weights inside), or an AOTInductor package
(``diff2lip.aoti-cuda.pt2``). Neither needs Diff2Lip's code; only this backend imports torch.

The whole DDIM loop runs on the device (x, the model output and the conditioning stay there;
per batch the noise goes in and the sample comes out), with the same float32 update as
:meth:`~.sampler.DDIMSampler.step`. On CUDA:

* precision ``fp16`` (default) or ``bf16``: ``torch.autocast`` over the float32 program (matrix
  products and convolutions in half precision, the norms and softmax in float32, as Diff2Lip's
  own ``convert_to_fp16`` keeps its GroupNorm32 in float32); the DDIM update stays float32;
* channels-last weights and inputs (the convolutions' fast layout on tensor cores);
* CUDA graphs: one step (model + update) captured per batch size and replayed for each of
  the steps, so the ~300 kernel launches of a step cost one launch.

On the CPU: float32, the same loop without graphs (the path the tests check against ONNX).
The CUDA-only code paths (autocast fp16/bf16, graphs) have not run on a GPU yet.
"""
from __future__ import annotations

import os
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np

from .model import MODEL_SIZE, Conditioning, check_conditioning, check_step

__all__ = ["TorchDenoiser", "PRECISIONS", "torch_available", "is_aoti_package"]

PathLike = Union[str, "os.PathLike[str]"]

PRECISIONS = ("fp32", "fp16", "bf16")
_GRAPH_CACHE = 2  # captured graphs kept (a full batch size and the last, shorter batch)


def torch_available(device: Optional[str] = None) -> bool:
    """Whether torch is installed (and, for ``device="cuda"``, sees a CUDA device). Does not
    import torch to find out unless it is installed and nvidia-smi answers (importing torch
    costs seconds: the ONNX path on a CPU machine should not pay them)."""
    import importlib.util
    import sys

    if "torch" not in sys.modules and importlib.util.find_spec("torch") is None:
        return False
    if device != "cuda":
        return True
    from .batching import _free_gpu_mib

    if "torch" not in sys.modules and _free_gpu_mib() is None:
        return False
    try:
        import torch
    except Exception:
        return False
    return bool(torch.cuda.is_available())


def is_aoti_package(path: PathLike) -> bool:
    """Whether ``path`` is an AOTInductor package (a zip with compiled code) rather than a
    ``torch.export`` program."""
    try:
        with zipfile.ZipFile(path) as z:
            return any("aotinductor" in n for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as e:
        raise ImportError("the torch backend of lipsync needs PyTorch (pip install 'facefuse[torch]'); "
                          "or use --backend onnx") from e
    return torch


class TorchDenoiser:
    """One Diff2Lip UNet step from a torch package, with the DDIM loop on the device.

    Args:
        path: the ``.pt2`` file (``torch.export`` program or AOTInductor package).
        device: ``"cuda"`` or ``"cpu"``; None: cuda when torch sees one.
        precision: ``"fp32"``, ``"fp16"`` or ``"bf16"``; None: fp16 on cuda, fp32 on the CPU.
            An AOTInductor package runs in the precision it was compiled with.
        channels_last: channels-last weights and inputs (None: on cuda).
        cuda_graphs: capture a step as a CUDA graph (None: on cuda).

    Attributes (as :class:`~.model.Diff2LipDenoiser`): ``dtype`` (float32: the host-side
    arrays), ``fixed_batch`` (None), ``device``, ``device_loop`` (True), ``providers``
    (``["torch-cuda-fp16"]`` etc., for reports).

    Raises:
        ImportError: no torch. FileNotFoundError: no file. ValueError: bad argument, or a file
        that is no torch package of Diff2Lip's denoiser.
    """

    def __init__(self, path: PathLike, *, device: Optional[str] = None, precision: Optional[str] = None,
                 channels_last: Optional[bool] = None, cuda_graphs: Optional[bool] = None) -> None:
        torch = _import_torch()
        self._torch = torch
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"TorchDenoiser: argument 'path': no such file: {str(path)!r}")
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device not in ("cuda", "cpu"):
            raise ValueError(f"TorchDenoiser: argument 'device' must be 'cuda' or 'cpu', got {device!r}")
        if device == "cuda" and not torch.cuda.is_available():
            raise ValueError("TorchDenoiser: argument 'device' is 'cuda' but torch sees no CUDA device")
        if precision is None:
            precision = "fp16" if device == "cuda" else "fp32"
        if precision not in PRECISIONS:
            raise ValueError(f"TorchDenoiser: argument 'precision' must be one of {', '.join(PRECISIONS)}, "
                             f"got {precision!r}")
        self.device = device
        self.precision = precision
        self.aoti = is_aoti_package(self.path)
        # an AOTInductor package was compiled for contiguous inputs
        self.channels_last = not self.aoti and ((device == "cuda") if channels_last is None else bool(channels_last))
        self.cuda_graphs = (device == "cuda") if cuda_graphs is None else bool(cuda_graphs) and device == "cuda"
        self._module = self._load()
        self.dtype = np.float32
        self.fixed_batch: Optional[int] = None
        self.device_loop = True
        self.providers = [f"torch-{device}-{'aoti' if self.aoti else precision}"]
        self._graphs: "OrderedDict[int, Any]" = OrderedDict()

    def _load(self) -> Any:
        torch = self._torch
        try:
            if self.aoti:
                return torch._inductor.aoti_load_package(str(self.path))
            ep = torch.export.load(str(self.path))
        except Exception as e:
            raise ValueError(f"TorchDenoiser: argument 'path': {str(self.path)!r} is not a torch package torch "
                             f"{torch.__version__} can load ({type(e).__name__}: {str(e)[:200]})") from e
        names = [s.arg.name for s in ep.graph_signature.input_specs if s.kind.name == "USER_INPUT"]
        if names != ["x", "t", "cond_img", "mask", "ref_img", "indiv_mels"]:
            raise ValueError(f"TorchDenoiser: argument 'path': {str(self.path)!r} is not Diff2Lip's denoiser "
                             f"(inputs {names}, expected x, t, cond_img, mask, ref_img, indiv_mels)")
        if self.device != "cpu":
            ep = torch.export.passes.move_to_device_pass(ep, self.device)
        mod = ep.module()
        if self.channels_last:
            mod = mod.to(memory_format=torch.channels_last)
        return mod

    # -- inputs ----------------------------------------------------------------------------
    def _tensor(self, a: np.ndarray) -> Any:
        t = self._torch.tensor(np.ascontiguousarray(a)).to(self.device)  # a copy: inputs may be read-only views
        if self.channels_last and t.ndim == 4:
            t = t.contiguous(memory_format=self._torch.channels_last)
        return t

    def bind(self, cond_img: np.ndarray, mask: np.ndarray, ref_img: np.ndarray, indiv_mels: np.ndarray) -> Conditioning:
        """Check a batch's conditioning (as :meth:`.model.Diff2LipDenoiser.bind`) and upload it once."""
        arrays = check_conditioning("TorchDenoiser.bind", np.float32, cond_img, mask, ref_img, indiv_mels)
        return Conditioning(arrays, {k: self._tensor(v) for k, v in arrays.items()})

    # -- running -----------------------------------------------------------------------------
    def _autocast(self) -> Any:
        torch = self._torch
        if self.precision == "fp32" or self.aoti:
            import contextlib

            return contextlib.nullcontext()
        dt = torch.float16 if self.precision == "fp16" else torch.bfloat16
        # no weight-cast cache: it does not survive CUDA graph capture
        return torch.autocast(self.device, dtype=dt, cache_enabled=False)

    def _forward(self, x: Any, t: Any, cond: Dict[str, Any]) -> Any:
        with self._autocast():
            return self._module(x, t, cond["cond_img"], cond["mask"], cond["ref_img"], cond["indiv_mels"])

    def __call__(self, x: np.ndarray, t: np.ndarray, cond: Conditioning) -> np.ndarray:
        """The full model output, float32 ``[N, 6, 128, 128]`` (one step; host arrays in and out)."""
        tt = check_step("TorchDenoiser", x, t, cond.n)
        with self._torch.inference_mode():
            out = self._forward(self._tensor(x.astype(np.float32)), self._tensor(tt), cond.device_values)
            return out.float().cpu().numpy()

    def eps(self, x: np.ndarray, t: np.ndarray, cond: Conditioning) -> np.ndarray:
        """The predicted noise, float32 ``[N, 3, 128, 128]``."""
        return np.ascontiguousarray(self(x, t, cond)[:, :3])

    def sample(self, sampler: Any, x_T: np.ndarray, cond: Conditioning) -> np.ndarray:
        """All of ``sampler``'s DDIM steps from ``x_T`` on the device; the float32 sample."""
        torch = self._torch
        x0 = np.asarray(x_T, dtype=np.float32)
        if x0.shape != (cond.n, 3, MODEL_SIZE, MODEL_SIZE):
            raise ValueError(f"TorchDenoiser.sample: argument 'x_T' must be [{cond.n}, 3, {MODEL_SIZE}, "
                             f"{MODEL_SIZE}], got {list(x0.shape)}")
        coefs = torch.from_numpy(np.stack([sampler.coefficients(i) for i in range(sampler.steps)])).to(self.device)
        ts = torch.from_numpy(np.asarray(sampler.timesteps, np.int64)).to(self.device)
        clip = bool(sampler.clip_denoised)
        with torch.inference_mode():
            x = self._tensor(x0)
            if self.cuda_graphs:
                x = self._sample_graphed(x, ts, coefs, clip, cond)
            else:
                for i in range(sampler.steps):
                    x = self._step(x, ts[i].expand(cond.n), coefs[i], clip, cond.device_values)
            return x.float().cpu().numpy()

    def _step(self, x: Any, t: Any, c: Any, clip: bool, cond: Dict[str, Any]) -> Any:
        """One DDIM update, float32, as :meth:`.sampler.DDIMSampler.step` (same operation order)."""
        eps = self._forward(x, t, cond)[:, :3].float()
        c0x = c[0] * x
        x0 = c0x - c[1] * eps
        if clip:
            x0 = x0.clamp(-1.0, 1.0)
        return c[2] * x0 + c[3] * ((c0x - x0) / c[1])

    def _sample_graphed(self, x: Any, ts: Any, coefs: Any, clip: bool, cond: Conditioning) -> Any:
        # CUDA only: not run on a GPU yet. One captured step per batch size; its static inputs
        # are refilled for each batch and step, the graph replayed.
        g = self._graph(cond.n, clip)
        for k, v in cond.device_values.items():  # type: ignore[union-attr]
            g["cond"][k].copy_(v)
        g["x"].copy_(x)
        for i in range(ts.shape[0]):
            g["t"].fill_(ts[i])
            g["c"].copy_(coefs[i])
            g["graph"].replay()
            g["x"].copy_(g["out"])
        return g["x"].clone()

    def _graph(self, n: int, clip: bool) -> Dict[str, Any]:
        torch = self._torch
        key = (n, clip)
        if key in self._graphs:
            self._graphs.move_to_end(key)
            return self._graphs[key]
        while len(self._graphs) >= _GRAPH_CACHE:
            self._graphs.popitem(last=False)
        s = MODEL_SIZE
        z = np.zeros
        g: Dict[str, Any] = {
            "x": self._tensor(z((n, 3, s, s), np.float32)), "t": self._tensor(np.full(n, 999, np.int64)),
            "c": torch.ones(4, device=self.device),
            "cond": {k: self._tensor(z(shape, np.float32)) for k, shape in
                     (("cond_img", (n, 3, s, s)), ("mask", (n, 1, s, s)), ("ref_img", (n, 3, s, s)),
                      ("indiv_mels", (n, 80, 16)))},
        }
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up outside the capture (cuDNN / cuBLAS pick their kernels)
            for _ in range(2):
                self._step(g["x"], g["t"], g["c"], clip, g["cond"])
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            g["out"] = self._step(g["x"], g["t"], g["c"], clip, g["cond"])
        g["graph"] = graph
        self._graphs[key] = g
        return g

    def release(self) -> None:
        """Drop the captured graphs (their memory pools)."""
        self._graphs.clear()

    def __repr__(self) -> str:
        return (f"TorchDenoiser({self.path.name!r}, device={self.device!r}, precision={self.precision!r}, "
                f"channels_last={self.channels_last}, cuda_graphs={self.cuda_graphs}, aoti={self.aoti})")
