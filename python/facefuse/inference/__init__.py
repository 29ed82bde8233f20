"""ONNX Runtime plumbing for the swap / lip-sync pipelines.

* :func:`available_providers` / :func:`pick_providers`: which execution providers to use
  (TensorRT, then CUDA, then CPU as the always-present fallback).
* :class:`ModelSpec` / :func:`check_model`: the inputs and outputs a pipeline expects of a
  model file, checked against the loaded session so a wrong file fails early with a clear
  message instead of deep inside ``session.run``.
* :func:`resolve_model`: finds a model file by name in ``models_dir``, then ``$FACEFUSE_MODELS``,
  then ``~/.facefuse/models``; ``download=True`` fetches a missing FaceFusion file first.
* ``registry`` (every model file and its URLs), ``download`` (the safe transfer: Range resume,
  CRC32 before rename, retries, lock file) and ``fetch`` (where to and when: ``--offline``,
  ``$FACEFUSE_OFFLINE``, ``$FACEFUSE_MODEL_URL``). :class:`InferencePool` downloads a missing
  file on first use unless told not to (``download=False``) or ``$FACEFUSE_OFFLINE`` is set.
* :class:`InferencePool`: a thread-safe cache of ``onnxruntime.InferenceSession`` objects keyed
  by (absolute model path, providers, session-options key); a pipeline releases it at the end
  of a run (``close()`` or ``with InferencePool() as pool:``).

Example::

    from facefuse.inference import InferencePool, INSWAPPER_128

    with InferencePool(models_dir="~/facefusion/.assets/models") as pool:
        session = pool.get("inswapper_128.onnx", spec=INSWAPPER_128)
        (swapped,) = session.run(None, {"target": crop, "source": latent})

Modules: ``providers``, ``specs``, ``files``, ``pool``, ``errors``, ``registry``, ``download`` and
``fetch``; the names of the first five are re-exported here. To redirect the default models directory, patch
``facefuse.inference.files.DEFAULT_MODELS_DIR`` (the module that reads it).
"""
from __future__ import annotations

from .errors import ModelError, ModelNotFoundError
from .files import DEFAULT_MODELS_DIR, ENV_MODELS, FACEFUSION_HINT, _search_dirs, resolve_model  # noqa: F401  (doctor)
from .pool import InferencePool, SessionKey
from .providers import PROVIDER_ALIASES, PROVIDER_ORDER, _ort, available_providers, pick_providers  # noqa: F401  (_ort)
from .specs import INSWAPPER_128, ModelSpec, check_model

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
