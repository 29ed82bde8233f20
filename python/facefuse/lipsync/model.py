"""Diff2Lip's denoiser (one UNet step) on ONNX Runtime.

The ONNX file is one denoising step of Diff2Lip's guided-diffusion UNet (128 px, audio as
style, a reference frame), exported by ``facefuse export-diff2lip``:

==============  ====================  =========================================================
input           shape                 meaning
==============  ====================  =========================================================
``x``           [N, 3, 128, 128]      the noisy sample at step t, RGB in [-1, 1]
``t``           [N] int64             the ORIGINAL diffusion timestep 0..999 (not the step index)
``cond_img``    [N, 3, 128, 128]      the face crop, its lower part replaced by the initial noise
``mask``        [N, 1, 128, 128]      1 where the face is hidden (the lower part), else 0
``ref_img``     [N, 3, 128, 128]      the reference face crop
``indiv_mels``  [N, 80, 16]           the frame's mel window (:func:`..audio.mel_window`)
``output``      [N, 6, 128, 128]      channels 0-2: predicted noise eps; 3-5: learned variance
==============  ====================  =========================================================

Float tensors are float32, or all float16 for an fp16 model (``t`` stays int64); the
:class:`Diff2LipDenoiser` casts its inputs to the model's type and returns float32.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np

from ..inference import InferencePool, ModelError, ModelSpec, check_model

__all__ = [
    "MODEL_SIZE",
    "DIFF2LIP",
    "DIFF2LIP_FP16",
    "DIFF2LIP_SPECS",
    "Diff2LipDenoiser",
    "check_conditioning",
    "check_step",
    "is_out_of_memory",
]

#: the crop size Diff2Lip's 128 px UNet takes
MODEL_SIZE = 128

_SOURCE = (
    "facefuse does not ship or download Diff2Lip: export the checkpoint once with "
    "`facefuse export-diff2lip --checkpoint checkpoint.pt --source path/to/diff2lip -o diff2lip.onnx` "
    "(pip install \"facefuse[export]\" and a checkout of Diff2Lip's code), then pass --model / models_dir"
)


def _spec(dtype: Any, name: str, file_name: str) -> ModelSpec:
    s = MODEL_SIZE
    return ModelSpec(
        name=name,
        file_name=file_name,
        inputs={
            "x": ((None, 3, s, s), dtype),
            "t": ((None,), np.int64),
            "cond_img": ((None, 3, s, s), dtype),
            "mask": ((None, 1, s, s), dtype),
            "ref_img": ((None, 3, s, s), dtype),
            "indiv_mels": ((None, 80, 16), dtype),
        },
        outputs={"output": ((None, 6, s, s), dtype)},
        source=_SOURCE,
    )


#: float32 export of Diff2Lip's denoiser (also a model run in fp16 inside with float32 I/O)
DIFF2LIP = _spec(np.float32, "diff2lip", "diff2lip.onnx")
#: the same with float16 inputs / output (e.g. converted with onnxconverter-common)
DIFF2LIP_FP16 = _spec(np.float16, "diff2lip_fp16", "diff2lip_fp16.onnx")
#: by the ONNX type of input ``x``
DIFF2LIP_SPECS: Dict[str, ModelSpec] = {"tensor(float)": DIFF2LIP, "tensor(float16)": DIFF2LIP_FP16}

_OOM_MARKERS = (
    "out of memory",
    "failed to allocate memory",
    "cudaerrormemoryallocation",
    "cudnn_status_alloc_failed",
    "cublas_status_alloc_failed",
    "bad_alloc",
    "memoryerror",
)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` (from ``session.run``) says the device ran out of memory."""
    if isinstance(exc, MemoryError):
        return True
    text = f"{type(exc).__name__}: {exc}".lower()
    return any(m in text for m in _OOM_MARKERS)


class Conditioning:
    """The per-batch model inputs other than ``x`` / ``t``, cast to the model's dtype once
    (and, on CUDA, uploaded once and reused by every diffusion step)."""

    def __init__(self, arrays: Dict[str, np.ndarray], device_values: Optional[Dict[str, Any]]) -> None:
        self.arrays = arrays
        self.device_values = device_values
        self.n = int(arrays["cond_img"].shape[0])


def check_step(fn: str, x: Any, t: Any, n: int) -> np.ndarray:
    """One denoising step's arguments checked: ``x`` an [n, 3, 128, 128] array, ``t`` one
    original timestep in 0..999 or n of them; returns ``t`` as n int64 values."""
    if not isinstance(x, np.ndarray) or x.shape != (n, 3, MODEL_SIZE, MODEL_SIZE):
        desc = list(x.shape) if isinstance(x, np.ndarray) else type(x).__name__
        raise ValueError(f"{fn}: argument 'x' must be [{n}, 3, {MODEL_SIZE}, {MODEL_SIZE}], got {desc}")
    tt = np.asarray(t, dtype=np.int64)
    if tt.ndim == 0:
        tt = np.full(n, int(tt), np.int64)
    if tt.shape != (n,) or tt.min() < 0 or tt.max() > 999:
        raise ValueError(f"{fn}: argument 't' must be {n} original timesteps in 0..999, got {t!r}")
    return tt


def check_conditioning(fn: str, dtype: Any, cond_img: np.ndarray, mask: np.ndarray, ref_img: np.ndarray,
                       indiv_mels: np.ndarray) -> Dict[str, np.ndarray]:
    """A batch's conditioning checked (float arrays of the module table's shapes, one batch
    size N >= 1) and cast to ``dtype``, contiguous; errors name ``fn`` and the argument."""
    s = MODEL_SIZE
    arrays: Dict[str, np.ndarray] = {}
    n = None
    for name, arr, tail in (("cond_img", cond_img, (3, s, s)), ("mask", mask, (1, s, s)),
                            ("ref_img", ref_img, (3, s, s)), ("indiv_mels", indiv_mels, (80, 16))):
        if not isinstance(arr, np.ndarray) or arr.dtype.kind != "f":
            desc = str(arr.dtype) if isinstance(arr, np.ndarray) else type(arr).__name__
            raise TypeError(f"{fn}: argument '{name}' must be a float numpy array, got {desc}")
        if arr.ndim != 1 + len(tail) or tuple(arr.shape[1:]) != tail:
            raise ValueError(f"{fn}: argument '{name}' must have shape [N, {', '.join(map(str, tail))}], "
                             f"got {list(arr.shape)}")
        if n is None:
            n = arr.shape[0]
        elif arr.shape[0] != n:
            raise ValueError(f"{fn}: argument '{name}' has {arr.shape[0]} items, 'cond_img' has {n}")
        arrays[name] = np.ascontiguousarray(arr, dtype=dtype)
    if not n:
        raise ValueError(f"{fn}: the batch is empty (N = 0)")
    return arrays


class Diff2LipDenoiser:
    """One Diff2Lip UNet step from an :class:`~facefuse.inference.InferencePool` session.

    Args:
        pool: the session pool (resolves ``model`` in its models directory).
        model: a model file path or a bare file name (default ``diff2lip.onnx``).
        providers: execution providers (anything ``pick_providers`` accepts; None: the pool's).
        device_loop: run the whole DDIM loop with the buffers on the session's device
            (:mod:`.device_loop`: IOBinding, the update as an ONNX graph); None (default): on
            CUDA only. Not for models with a fixed batch.

    Attributes:
        dtype: ``np.float32`` or ``np.float16``, the model's float type.
        fixed_batch: the model's batch size when the file fixes it, else None.
        device: ``"cuda"`` when the session runs on CUDA (TensorRT sessions too), else ``"cpu"``.
        device_loop: whether :meth:`sample` keeps everything on ``device``; the conditioning
            is then uploaded once per batch by :meth:`bind`.

    Raises:
        ModelNotFoundError, ModelError: missing file, or not Diff2Lip's signature (message lists
            the expected and found tensors).
    """

    def __init__(self, pool: InferencePool, model: Union[str, "os.PathLike[str]"] = DIFF2LIP.file_name, *,
                 providers: Union[None, str, Sequence[str]] = None, device_loop: Optional[bool] = None) -> None:
        if not isinstance(pool, InferencePool):
            raise TypeError(f"Diff2LipDenoiser: argument 'pool' must be an InferencePool, got {type(pool).__name__}")
        self.pool = pool
        self.path = pool.resolve(model, DIFF2LIP)
        self.session = pool.get(self.path, providers=providers)
        types = {i.name: i.type for i in self.session.get_inputs()}
        spec = DIFF2LIP_SPECS.get(types.get("x", ""), DIFF2LIP)
        try:
            check_model(self.session, spec, self.path)
        except ModelError:
            pool.release(self.path)  # do not keep a wrong model's session around
            raise
        self.spec = spec
        self.dtype = np.float16 if spec is DIFF2LIP_FP16 else np.float32
        n0 = self.session.get_inputs()[[i.name for i in self.session.get_inputs()].index("x")].shape[0]
        self.fixed_batch: Optional[int] = n0 if isinstance(n0, int) and n0 > 0 else None
        self.providers = list(self.session.get_providers())
        self.device = "cuda" if "CUDAExecutionProvider" in self.providers else "cpu"
        want = self.device == "cuda" if device_loop is None else bool(device_loop)
        self.device_loop = want and self.fixed_batch is None

    # -- inputs ----------------------------------------------------------------------------
    def bind(self, cond_img: np.ndarray, mask: np.ndarray, ref_img: np.ndarray, indiv_mels: np.ndarray) -> Conditioning:
        """Check and cast a batch's conditioning (shapes as in the module table; any float dtype)."""
        arrays = check_conditioning("Diff2LipDenoiser.bind", self.dtype, cond_img, mask, ref_img, indiv_mels)
        dev = None
        if self.device_loop:
            import onnxruntime as ort

            dev = {k: ort.OrtValue.ortvalue_from_numpy(v, self.device, 0) for k, v in arrays.items()}
        return Conditioning(arrays, dev)

    def sample(self, sampler: Any, x_T: np.ndarray, cond: Conditioning) -> np.ndarray:
        """All of ``sampler``'s DDIM steps from ``x_T`` (float ``[N, 3, 128, 128]``); float32 sample.
        On the device (:mod:`.device_loop`) when :attr:`device_loop`, else the NumPy loop."""
        if self.device_loop and cond.device_values is not None:
            from .device_loop import sample_on_device

            return sample_on_device(self, sampler, x_T, cond)
        return sampler.sample(lambda x, t: self.eps(x, t, cond), x_T)

    # -- running -------------------------------------------------------------------------------
    def __call__(self, x: np.ndarray, t: np.ndarray, cond: Conditioning) -> np.ndarray:
        """The full model output, float32 ``[N, 6, 128, 128]``."""
        n = cond.n
        tt = check_step("Diff2LipDenoiser", x, t, n)
        xx = np.ascontiguousarray(x, dtype=self.dtype)
        if self.fixed_batch is not None and self.fixed_batch != n:
            return self._run_fixed(xx, tt, cond)
        if cond.device_values is not None:
            return self._run_bound(xx, tt, cond)
        feeds = {"x": xx, "t": tt, **cond.arrays}
        (out,) = self.session.run(["output"], feeds)
        return np.asarray(out, dtype=np.float32)

    def eps(self, x: np.ndarray, t: np.ndarray, cond: Conditioning) -> np.ndarray:
        """The predicted noise, float32 ``[N, 3, 128, 128]`` (output channels 0-2)."""
        return np.ascontiguousarray(self(x, t, cond)[:, :3])

    def _run_bound(self, x: np.ndarray, t: np.ndarray, cond: Conditioning) -> np.ndarray:
        # the conditioning already lives on the device; x and t are copied in, the output is
        # allocated by ORT on the device and copied back once.
        io = self.session.io_binding()
        io.bind_cpu_input("x", x)
        io.bind_cpu_input("t", t)
        for name, value in cond.device_values.items():  # type: ignore[union-attr]
            io.bind_ortvalue_input(name, value)
        io.bind_output("output", self.device, 0)
        self.session.run_with_iobinding(io)
        return np.asarray(io.copy_outputs_to_cpu()[0], dtype=np.float32)

    def _run_fixed(self, x: np.ndarray, t: np.ndarray, cond: Conditioning) -> np.ndarray:
        # a model exported with a fixed batch: run in slices of that size, the last one padded
        b = self.fixed_batch
        assert b is not None
        outs = []
        for i in range(0, x.shape[0], b):
            sl = slice(i, i + b)
            k = x[sl].shape[0]
            pad = b - k

            def fill(a: np.ndarray) -> np.ndarray:
                return a if pad == 0 else np.concatenate([a, np.repeat(a[-1:], pad, axis=0)])

            feeds = {"x": fill(x[sl]), "t": fill(t[sl]), **{n: fill(v[sl]) for n, v in cond.arrays.items()}}
            (out,) = self.session.run(["output"], feeds)
            outs.append(np.asarray(out[:k], dtype=np.float32))
        return np.concatenate(outs)

    def __repr__(self) -> str:
        return (f"Diff2LipDenoiser({self.path.name!r}, dtype={np.dtype(self.dtype).name}, "
                f"providers={self.providers}, device_loop={self.device_loop})")
