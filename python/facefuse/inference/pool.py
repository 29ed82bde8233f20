"""The session pool: a thread-safe cache of ``onnxruntime.InferenceSession`` objects keyed by
(absolute model path, providers, session-options key), released at the end of a run."""
from __future__ import annotations

import gc
import os
import threading
import warnings
from pathlib import Path
from typing import Any, Dict, Hashable, Iterable, List, NamedTuple, Optional, Tuple, Union

from .errors import ModelError, ModelNotFoundError
from .fetch import offline_error
from .files import resolve_model
from .registry import by_file_name
from .providers import _CPU, _ort, pick_providers
from .specs import ModelSpec, check_model
from .stand_ins import is_stand_in_session, refusal, stand_ins_allowed


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
    download:
        A registry file that is not found is downloaded on first use (True), or not and the
        error says where to get it (False). None (default): download unless
        ``$FACEFUSE_OFFLINE`` is set (read at each lookup).
    download_progress:
        The download's progress bar: None on a terminal only, True always, False never.
    allow_stand_ins:
        Load :mod:`facefuse.testing` stand-in files (True) or refuse them with a
        :class:`ModelError` saying how to get the real file (False). None (default): refuse
        unless ``$FACEFUSE_ALLOW_STAND_INS`` is set (read when a session is made).
    """

    def __init__(
        self,
        models_dir: Union[str, os.PathLike, None] = None,
        providers: Union[None, str, Iterable[str]] = None,
        *,
        download: Optional[bool] = None,
        download_progress: Optional[bool] = None,
        allow_stand_ins: Optional[bool] = None,
    ) -> None:
        self.models_dir = models_dir
        self.download = download
        self.download_progress = download_progress
        self.allow_stand_ins = allow_stand_ins
        self._default_providers = providers if providers is None or isinstance(providers, str) else list(providers)
        self._sessions: Dict[SessionKey, Any] = {}
        self._key_locks: Dict[SessionKey, threading.Lock] = {}
        self._lock = threading.Lock()

    # -- lookup ---------------------------------------------------------------------------------
    def resolve(self, path: Union[str, os.PathLike], spec: Optional[ModelSpec] = None) -> Path:
        """Absolute path of ``path`` (a file path or a bare name searched as in :func:`resolve_model`),
        downloaded first when missing and :attr:`download` allows it."""
        hint = spec.hint() if spec is not None else None
        if self.download is not False:
            return resolve_model(path, self.models_dir, hint=hint, download=True, progress=self.download_progress)
        try:
            return resolve_model(path, self.models_dir, hint=hint)
        except ModelNotFoundError:
            entry = by_file_name(Path(path).name) if not Path(path).expanduser().parent.parts else None
            if entry is None or not entry.downloadable:
                raise
            raise offline_error(entry, self.models_dir, hint) from None

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
                    allowed = stand_ins_allowed() if self.allow_stand_ins is None else self.allow_stand_ins
                    if not allowed and is_stand_in_session(sess):
                        raise ModelError(refusal(resolved))  # not cached
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
