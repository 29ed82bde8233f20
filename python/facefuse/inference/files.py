"""Finding model files: ``models_dir``, then ``$FACEFUSE_MODELS``, then ``~/.facefuse/models``;
with ``download=True`` a missing file of the registry is fetched (:mod:`.fetch`)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional, Sequence, Union

from .errors import ModelNotFoundError

#: Environment variable naming a models directory (one directory, or several joined by os.pathsep).
ENV_MODELS = "FACEFUSE_MODELS"
#: Searched last.
DEFAULT_MODELS_DIR = Path("~/.facefuse/models")

#: Where FaceFusion users already have the model files.
FACEFUSION_HINT = (
    "FaceFusion users have it in <facefusion>/.assets/models/ (FaceFusion downloads it there on "
    "first use); copy or link it, pass models_dir=..., or set {env}."
)


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
        f"{(hint or FACEFUSION_HINT.format(env=ENV_MODELS)).rstrip('. ')}."
    )


def resolve_model(
    name: Union[str, os.PathLike],
    models_dir: Union[str, os.PathLike, None] = None,
    *,
    hint: Optional[str] = None,
    download: bool = False,
    progress: Optional[bool] = None,
) -> Path:
    """The absolute path of model file ``name``.

    ``name`` that is an existing file path (absolute, or relative to the working directory,
    containing a directory part) is used as is. Otherwise the file name is looked up in
    ``models_dir``, then each directory of ``$FACEFUSE_MODELS``, then ``~/.facefuse/models``.
    When it is in none of them and ``download`` is true, a file of the model registry
    (:mod:`facefuse.inference.registry`) is downloaded into the first writable one
    (:func:`facefuse.inference.fetch.fetch_model`; ``progress`` as there), unless
    ``$FACEFUSE_OFFLINE`` is set: then the error says where to get the file.

    Raises
    ------
    ModelNotFoundError
        (a ``ModelError`` and a ``FileNotFoundError``) naming the file, the directories
        searched and where FaceFusion users find the file (with downloads off: its URL and
        the directory to put it in).
    DownloadError, PermissionError
        ``download``: every URL failed or the hash did not match; no directory is writable.
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
    if download:
        from .fetch import fetch_model, offline_error, offline_from_env
        from .registry import by_file_name

        entry = by_file_name(p.name)
        if entry is not None and entry.downloadable:
            if offline_from_env():
                raise offline_error(entry, models_dir, hint)
            return fetch_model(entry.name, models_dir, progress=progress).resolve()
    raise _not_found(str(p), dirs, hint)
