"""ONNX Runtime plumbing for the swap / lip-sync pipelines.

* :func:`available_providers` / :func:`pick_providers`: which execution providers to use
  (TensorRT, then CUDA, then CPU as the always-present fallback).
* :class:`ModelSpec` / :func:`check_model`: the inputs and outputs a pipeline expects of a
  model file, checked against the loaded session so a wrong file fails early with a clear
  message instead of deep inside ``session.run``.
* :func:`resolve_model`: finds a model file by name in ``models_dir``, then ``$FACEFUSE_MODELS``,
  then ``~/.facefuse/models``. Nothing is ever downloaded.
* :class:`InferencePool`: a thread-safe cache of ``onnxruntime.InferenceSession`` objects keyed
  by (absolute model path, providers, session-options key); a pipeline releases it at the end
  of a run (``close()`` or ``with InferencePool() as pool:``).

Example::

    from facefuse.inference import InferencePool, INSWAPPER_128

    with InferencePool(models_dir="~/facefusion/.assets/models") as pool:
        session = pool.get("inswapper_128.onnx", spec=INSWAPPER_128)
        (swapped,) = session.run(None, {"target": crop, "source": latent})
"""
from __future__ import annotations

import gc
import os
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Hashable, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = [
    "PROVIDER_ORDER",
    "PROVIDER_ALIASES",
    "ENV_MODELS",
    "DEFAULT_MODELS_DIR",
    "FACEFUSION_HINT",
    "ModelError",
    "ModelNotFoundError",
    "ModelSpec",
    "SessionKey",
    "InferencePool",
    "INSWAPPER_128",
    "available_providers",
    "pick_providers",
    "resolve_model",
    "check_model",
]

# ---------------------------------------------------------------------------------------------
# Providers
# ---------------------------------------------------------------------------------------------

#: Preferred execution providers, fastest first. CPU is always the last fallback.
PROVIDER_ORDER: Tuple[str, ...] = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "CPUExecutionProvider",
)
_CPU = "CPUExecutionProvider"

#: Short names accepted by :func:`pick_providers` (case-insensitive).
PROVIDER_ALIASES: Dict[str, str] = {
    "trt": "TensorrtExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}


def _ort() -> Any:
    import onnxruntime

    return onnxruntime


def available_providers() -> List[str]:
    """The supported providers the installed onnxruntime offers, in :data:`PROVIDER_ORDER`.

    ``CPUExecutionProvider`` is always included (and always last). Providers facefuse does not
    know about (e.g. ``AzureExecutionProvider``) are left out.
    """
    offered = set(_ort().get_available_providers())
    out = [p for p in PROVIDER_ORDER if p in offered and p != _CPU]
    out.append(_CPU)
    return out


def _canonical_provider(name: str, offered: Sequence[str]) -> Optional[str]:
    key = name.strip()
    if key.lower() in PROVIDER_ALIASES:
        return PROVIDER_ALIASES[key.lower()]
    for p in set(PROVIDER_ORDER) | set(offered):
        if p.lower() == key.lower():
            return p
    return None


def pick_providers(requested: Union[None, str, Iterable[str]] = None) -> List[str]:
    """The provider list to give ``onnxruntime.InferenceSession``.

    Parameters
    ----------
    requested:
        ``None``: every available provider in :data:`PROVIDER_ORDER` (TensorRT, CUDA, CPU).
        Otherwise a list of names or a comma-separated string (``"cuda,cpu"``); full names
        (``"CUDAExecutionProvider"``) and the aliases ``trt`` / ``tensorrt`` / ``cuda`` / ``cpu``
        are accepted, case-insensitively. The requested order is kept, duplicates are dropped
        and ``CPUExecutionProvider`` is appended as the fallback when not requested.

    Raises
    ------
    ValueError
        A requested provider is unknown or not offered by the installed onnxruntime; the
        message names it and lists what is available.
    """
    avail = available_providers()
    if requested is None:
        return avail
    if isinstance(requested, str):
        names = [n for n in (s.strip() for s in requested.split(",")) if n]
    else:
        names = [str(n).strip() for n in requested]
        if any(not n for n in names):
            raise ValueError(f"pick_providers: argument 'requested' contains an empty name: {list(requested)!r}")
    if not names:
        raise ValueError(
            f"pick_providers: argument 'requested' names no provider; available: {', '.join(avail)}"
        )
    offered = list(_ort().get_available_providers())
    out: List[str] = []
    for n in names:
        canon = _canonical_provider(n, offered)
        if canon is None:
            raise ValueError(
                f"pick_providers: unknown execution provider {n!r}; available: {', '.join(avail)} "
                f"(aliases: {', '.join(sorted(PROVIDER_ALIASES))})"
            )
        if canon not in offered:
            raise ValueError(
                f"pick_providers: execution provider {n!r} ({canon}) is not available in this "
                f"onnxruntime installation; available: {', '.join(avail)}"
            )
        if canon not in out:
            out.append(canon)
    if _CPU not in out:
        out.append(_CPU)
    return out


# ---------------------------------------------------------------------------------------------
# Model specs and checks
# ---------------------------------------------------------------------------------------------

#: Where FaceFusion users already have the model files.
FACEFUSION_HINT = (
    "FaceFusion users have it in <facefusion>/.assets/models/ (FaceFusion downloads it there on "
    "first use); copy or link it, pass models_dir=..., or set {env}."
)

Dim = Union[int, str, None]
Shape = Tuple[Dim, ...]
TensorSpec = Tuple[Sequence[Dim], Any]


class ModelError(ValueError):
    """A model file is missing or does not match what the pipeline expects."""


class ModelNotFoundError(ModelError, FileNotFoundError):
    """A model file could not be found (also a ``FileNotFoundError``)."""


_ORT_TYPES: Dict[str, str] = {
    "float32": "tensor(float)",
    "float16": "tensor(float16)",
    "float64": "tensor(double)",
    "int8": "tensor(int8)",
    "int16": "tensor(int16)",
    "int32": "tensor(int32)",
    "int64": "tensor(int64)",
    "uint8": "tensor(uint8)",
    "uint16": "tensor(uint16)",
    "uint32": "tensor(uint32)",
    "uint64": "tensor(uint64)",
    "bool": "tensor(bool)",
}
_ORT_TO_NP = {v: k for k, v in _ORT_TYPES.items()}


def _ort_type(dtype: Any) -> str:
    """numpy dtype / name / ONNX Runtime type string -> ONNX Runtime type string."""
    if isinstance(dtype, str) and dtype.startswith("tensor("):
        return dtype
    name = np.dtype(dtype).name
    try:
        return _ORT_TYPES[name]
    except KeyError:
        raise ValueError(f"ModelSpec: unsupported dtype {dtype!r}") from None


def _fmt_dim(d: Any) -> str:
    return "?" if d is None else str(d)


def _fmt_tensor(name: str, shape: Optional[Sequence[Any]], ort_type: str) -> str:
    dt = _ORT_TO_NP.get(ort_type, ort_type)
    shp = "[?]" if shape is None else "[" + ", ".join(_fmt_dim(d) for d in shape) + "]"
    return f"{name} {shp} {dt}"


@dataclass(frozen=True)
class ModelSpec:
    """What a pipeline expects of a model file.

    ``inputs`` / ``outputs`` map tensor names to ``(shape, dtype)``; a shape entry that is
    ``None`` or a string (a symbolic dim such as ``"batch"``) matches any size. ``dtype`` is
    a numpy dtype or name (``np.float32``, ``"float32"``). ``source`` says where users find
    the file (shown in error messages).
    """

    name: str
    file_name: str
    inputs: Mapping[str, TensorSpec] = field(default_factory=dict)
    outputs: Mapping[str, TensorSpec] = field(default_factory=dict)
    source: str = ""

    def hint(self) -> str:
        where = self.source or FACEFUSION_HINT.format(env=ENV_MODELS)
        return where


# inswapper_128 (InsightFace, used by FaceFusion / roop): target [1, 3, 128, 128] float32 aligned
# face crop, source [1, 512] float32 latent (ArcFace embedding @ emap, normalised); output
# [1, 3, 128, 128] float32 in [0, 1]. The batch dim is left open.
INSWAPPER_128 = ModelSpec(
    name="inswapper_128",
    file_name="inswapper_128.onnx",
    inputs={"target": ((None, 3, 128, 128), np.float32), "source": ((None, 512), np.float32)},
    outputs={"output": ((None, 3, 128, 128), np.float32)},
    source=(
        "inswapper_128.onnx (InsightFace); FaceFusion users have it in "
        "<facefusion>/.assets/models/ (downloaded there on first use)"
    ),
)


def _dims_match(expected: Sequence[Dim], found: Optional[Sequence[Any]]) -> bool:
    if found is None:  # unknown rank in the model: accept
        return True
    if len(expected) != len(found):
        return False
    for e, f in zip(expected, found):
        if e is None or isinstance(e, str):
            continue
        if not isinstance(f, int) or f < 0:  # symbolic / dynamic in the model accepts any size
            continue
        if int(e) != f:
            return False
    return True


def check_model(session: Any, spec: ModelSpec, path: Union[str, os.PathLike, None] = None) -> None:
    """Check a session's inputs / outputs against ``spec``.

    Every expected input and output must exist with a matching rank, fixed sizes and dtype;
    the model must not require inputs the spec does not provide (extra outputs are fine).

    Raises
    ------
    ModelError
        The message names the file (``path``), lists the expected and the found tensors and
        each problem.
    """
    found_in = {i.name: (i.shape, i.type) for i in session.get_inputs()}
    found_out = {o.name: (o.shape, o.type) for o in session.get_outputs()}
    problems: List[str] = []

    def compare(kind: str, expected: Mapping[str, TensorSpec], found: Mapping[str, Tuple[Any, str]]) -> None:
        for name, (shape, dtype) in expected.items():
            if name not in found:
                problems.append(f"missing {kind} {name!r}")
                continue
            fshape, ftype = found[name]
            etype = _ort_type(dtype)
            if not _dims_match(tuple(shape), fshape):
                problems.append(
                    f"{kind} {name!r} has shape {_fmt_tensor('', fshape, '').strip()}, "
                    f"expected {_fmt_tensor('', tuple(shape), '').strip()}"
                )
            if ftype != etype:
                problems.append(
                    f"{kind} {name!r} has dtype {_ORT_TO_NP.get(ftype, ftype)}, "
                    f"expected {_ORT_TO_NP.get(etype, etype)}"
                )

    compare("input", spec.inputs, found_in)
    compare("output", spec.outputs, found_out)
    for name in found_in:
        if name not in spec.inputs:
            problems.append(f"unexpected input {name!r} (the pipeline would not feed it)")
    if not problems:
        return

    def listing(expected: Mapping[str, TensorSpec]) -> str:
        return ", ".join(_fmt_tensor(n, tuple(s), _ort_type(d)) for n, (s, d) in expected.items()) or "(none)"

    def found_listing(found: Mapping[str, Tuple[Any, str]]) -> str:
        return ", ".join(_fmt_tensor(n, s, t) for n, (s, t) in found.items()) or "(none)"

    where = str(path) if path is not None else "<in-memory model>"
    raise ModelError(
        f"model file {where!r} does not match model {spec.name!r} ({spec.file_name}):\n"
        f"  expected inputs:  {listing(spec.inputs)}\n"
        f"  found inputs:     {found_listing(found_in)}\n"
        f"  expected outputs: {listing(spec.outputs)}\n"
        f"  found outputs:    {found_listing(found_out)}\n"
        f"  problems: {'; '.join(problems)}\n"
        f"  where to get the right file: {spec.hint()}"
    )


# ---------------------------------------------------------------------------------------------
# Finding model files
# ---------------------------------------------------------------------------------------------

#: Environment variable naming a models directory (one directory, or several joined by os.pathsep).
ENV_MODELS = "FACEFUSE_MODELS"
#: Searched last.
DEFAULT_MODELS_DIR = Path("~/.facefuse/models")


def _search_dirs(models_dir: Union[str, os.PathLike, None]) -> List[Path]:
    dirs: List[Path] = []
    if models_dir is not None:
        dirs.append(Path(models_dir).expanduser())
    env = os.environ.get(ENV_MODELS, "")
    for part in env.split(os.pathsep):
        if part.strip():
            dirs.append(Path(part.strip()).expanduser())
    dirs.append(DEFAULT_MODELS_DIR.expanduser())
    seen: List[Path] = []
    for d in dirs:
        if d not in seen:
            seen.append(d)
    return seen


def _not_found(name: str, dirs: Sequence[Path], hint: Optional[str]) -> ModelNotFoundError:
    searched = ", ".join(str(d) for d in dirs)
    return ModelNotFoundError(
        f"model file {name!r} not found; searched models directories: {searched} "
        f"(order: models_dir, ${ENV_MODELS}, {DEFAULT_MODELS_DIR}). "
        f"{(hint or FACEFUSION_HINT.format(env=ENV_MODELS)).rstrip('. ')}. facefuse never downloads models."
    )


def resolve_model(
    name: Union[str, os.PathLike],
    models_dir: Union[str, os.PathLike, None] = None,
    *,
    hint: Optional[str] = None,
) -> Path:
    """The absolute path of model file ``name``.

    ``name`` that is an existing file path (absolute, or relative to the working directory,
    containing a directory part) is used as is. Otherwise the file name is looked up in
    ``models_dir``, then each directory of ``$FACEFUSE_MODELS``, then ``~/.facefuse/models``.
    Nothing is downloaded.

    Raises
    ------
    ModelNotFoundError
        (a ``ModelError`` and a ``FileNotFoundError``) naming the file, the directories
        searched and where FaceFusion users find the file.
    """
    p = Path(name).expanduser()
    has_dir = p.is_absolute() or len(p.parts) > 1
    if has_dir:
        if p.is_file():
            return p.resolve()
        dirs = [p.parent.resolve()]
        raise _not_found(str(p), dirs, hint)
    dirs = _search_dirs(models_dir)
    for d in dirs:
        cand = d / p
        if cand.is_file():
            return cand.resolve()
    raise _not_found(str(p), dirs, hint)


# ---------------------------------------------------------------------------------------------
# Session pool
# ---------------------------------------------------------------------------------------------


class SessionKey(NamedTuple):
    path: str
    providers: Tuple[str, ...]
    options: Hashable


_OPTION_ATTRS = (
    "intra_op_num_threads",
    "inter_op_num_threads",
    "graph_optimization_level",
    "execution_mode",
    "enable_mem_pattern",
    "enable_cpu_mem_arena",
    "enable_mem_reuse",
    "log_severity_level",
    "optimized_model_filepath",
)


def _options_key(session_options: Any) -> Hashable:
    """A hashable key derived from the commonly set SessionOptions attributes."""
    items = []
    for a in _OPTION_ATTRS:
        v = getattr(session_options, a, None)
        items.append((a, str(v)))
    return tuple(items)


class InferencePool:
    """Thread-safe cache of ``onnxruntime.InferenceSession`` objects.

    Sessions are keyed by (absolute model path, providers tuple, session-options key). Two
    threads asking for the same key get one session (it is created once). Release sessions
    with :meth:`release` / :meth:`close`, or use the pool as a context manager.

    Parameters
    ----------
    models_dir:
        First directory searched for bare model names (see :func:`resolve_model`).
    providers:
        Default providers for :meth:`get` (anything :func:`pick_providers` accepts).
    """

    def __init__(
        self,
        models_dir: Union[str, os.PathLike, None] = None,
        providers: Union[None, str, Iterable[str]] = None,
    ) -> None:
        self.models_dir = models_dir
        self._default_providers = providers if providers is None or isinstance(providers, str) else list(providers)
        self._sessions: Dict[SessionKey, Any] = {}
        self._key_locks: Dict[SessionKey, threading.Lock] = {}
        self._lock = threading.Lock()

    # -- lookup ---------------------------------------------------------------------------------
    def resolve(self, path: Union[str, os.PathLike], spec: Optional[ModelSpec] = None) -> Path:
        """Absolute path of ``path`` (a file path or a bare name searched as in :func:`resolve_model`)."""
        return resolve_model(path, self.models_dir, hint=spec.hint() if spec is not None else None)

    def get(
        self,
        path: Union[str, os.PathLike, None] = None,
        providers: Union[None, str, Iterable[str]] = None,
        spec: Optional[ModelSpec] = None,
        *,
        session_options: Any = None,
        options_key: Optional[Hashable] = None,
    ) -> Any:
        """The cached session for ``path``, created on first use.

        Parameters
        ----------
        path:
            Model file path, or a bare file name looked up in ``models_dir`` /
            ``$FACEFUSE_MODELS`` / ``~/.facefuse/models``. ``None`` uses ``spec.file_name``.
        providers:
            Passed through :func:`pick_providers` (``None``: the pool's default, else all
            available, TensorRT > CUDA > CPU).
        spec:
            When given, the session is checked with :func:`check_model` (a failing model is
            not cached).
        session_options, options_key:
            An ``onnxruntime.SessionOptions`` for a new session; ``options_key`` (hashable)
            distinguishes cache entries made with different options (derived from the common
            SessionOptions attributes when not given).

        Raises
        ------
        ModelNotFoundError, ModelError, ValueError (bad providers).
        """
        if path is None:
            if spec is None:
                raise ValueError("InferencePool.get: argument 'path' is required when no 'spec' is given")
            path = spec.file_name
        resolved = self.resolve(path, spec)
        provs = tuple(pick_providers(self._default_providers if providers is None else providers))
        if options_key is None:
            options_key = None if session_options is None else _options_key(session_options)
        key = SessionKey(str(resolved), provs, options_key)

        with self._lock:
            sess = self._sessions.get(key)
            if sess is None:
                key_lock = self._key_locks.setdefault(key, threading.Lock())
        if sess is None:
            # Build outside the pool lock (other models stay available), once per key.
            with key_lock:
                with self._lock:
                    sess = self._sessions.get(key)
                if sess is None:
                    sess = self._create(resolved, list(provs), session_options)
                    if spec is not None:
                        check_model(sess, spec, resolved)  # raises: not cached
                    with self._lock:
                        self._sessions[key] = sess
                        return sess
        if spec is not None:
            check_model(sess, spec, resolved)
        return sess

    @staticmethod
    def _create(path: Path, providers: List[str], session_options: Any) -> Any:
        ort = _ort()
        try:
            sess = ort.InferenceSession(str(path), sess_options=session_options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own Fail / InvalidProtobuf types
            raise ModelError(f"could not load model file {str(path)!r} with providers {providers}: {exc}") from exc
        # onnxruntime-gpu lists CUDA / TensorRT even when their libraries cannot load, and then
        # silently runs on CPU: say so once per session instead of being mysteriously slow.
        try:
            got = list(sess.get_providers())
        except Exception:  # pragma: no cover - a session always answers this
            got = []
        lost = [p for p in providers if p != _CPU and p not in got]
        if got and lost:
            warnings.warn(
                f"model {path.name}: execution provider(s) {', '.join(lost)} requested but the session "
                f"runs on {', '.join(got)} (are the CUDA / TensorRT libraries installed?)",
                RuntimeWarning,
                stacklevel=3,
            )
        return sess

    # -- release --------------------------------------------------------------------------------
    def release(self, path: Union[str, os.PathLike, None] = None) -> int:
        """Drop the sessions of one model (any providers / options) or, with ``None``, all.

        Returns the number of sessions dropped; runs ``gc.collect()`` so their memory (GPU
        memory included, once no one else holds the session) is freed now.
        """
        with self._lock:
            if path is None:
                keys = list(self._sessions)
            else:
                p = Path(path).expanduser()
                if p.is_absolute() or len(p.parts) > 1:
                    targets = {str(p.resolve())}
                else:  # a bare name: every cached file of that name
                    targets = {k.path for k in self._sessions if Path(k.path).name == p.name}
                keys = [k for k in self._sessions if k.path in targets]
            for k in keys:
                del self._sessions[k]
                self._key_locks.pop(k, None)
        gc.collect()
        return len(keys)

    def close(self) -> None:
        """Release every session."""
        self.release()

    def __enter__(self) -> "InferencePool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- introspection --------------------------------------------------------------------------
    @property
    def sessions(self) -> Dict[SessionKey, Any]:
        """A snapshot ``{SessionKey(path, providers, options): session}``."""
        with self._lock:
            return dict(self._sessions)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def __contains__(self, path: Union[str, os.PathLike]) -> bool:
        """Whether a session of ``path`` is cached (a bare name matches by file name, as in release)."""
        p = Path(path).expanduser()
        with self._lock:
            if p.is_absolute() or len(p.parts) > 1:
                return any(k.path == str(p.resolve()) for k in self._sessions)
            return any(Path(k.path).name == p.name for k in self._sessions)

    def __repr__(self) -> str:
        return f"InferencePool({len(self)} sessions, models_dir={self.models_dir!r})"
