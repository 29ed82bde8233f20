"""When and where a missing model file is downloaded (the policy over :mod:`.download`).

* Where: the first writable of ``models_dir``, ``$FACEFUSE_MODELS`` (each entry), then
  ``~/.facefuse/models`` (created when missing). A FaceFusion ``.assets/models`` folder is read
  as it is and never written: facefuse skips it as a download target.
* When: a pipeline or :class:`~facefuse.inference.InferencePool` asks for a registry file that
  is not found, unless fetching is off (``offline=True``, ``--offline``, ``FACEFUSE_OFFLINE=1``);
  then the error names the file, its URL and where to put it.
* Licence notes (inswapper_128 and InsightFace's other models are non-commercial) are printed
  when the file is downloaded, i.e. once: later runs find the file.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Optional, TextIO, Union

from .download import DownloadError, DownloadSettings, download_file
from .errors import ModelNotFoundError
from .files import ENV_MODELS, _search_dirs
from .registry import ENV_MODEL_URL, ModelFile, lookup

__all__ = ["ENV_OFFLINE", "offline_from_env", "is_facefusion_dir", "download_dir", "fetch_model",
           "offline_error", "not_downloadable_error", "DownloadError"]

#: ``FACEFUSE_OFFLINE=1`` (or true / yes / on) turns automatic downloads off.
ENV_OFFLINE = "FACEFUSE_OFFLINE"

PathLike = Union[str, "os.PathLike[str]"]


def offline_from_env() -> bool:
    """Whether ``$FACEFUSE_OFFLINE`` asks for no downloads."""
    return os.environ.get(ENV_OFFLINE, "").strip().lower() in ("1", "true", "yes", "on")


def is_facefusion_dir(path: PathLike) -> bool:
    """A FaceFusion install's model folder (``<facefusion>/.assets/models``): facefuse reads it, never writes it."""
    p = Path(path).expanduser().absolute()
    return p.name == "models" and p.parent.name == ".assets"


def _writable(d: Path, create: bool = True) -> bool:
    """``d`` exists or can be made, and a file can be created in it (tried, not guessed:
    ``os.access`` says yes to root on a read-only mount). ``create=False`` makes nothing:
    a missing ``d`` is judged by its nearest existing parent (for messages only)."""
    if not create and not d.is_dir():
        parent = d
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        return parent.is_dir() and os.access(parent, os.W_OK)
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".facefuse-write-test.", dir=str(d))
        os.close(fd)
        os.unlink(tmp)
        return True
    except OSError:
        return False


def download_dir(models_dir: Optional[PathLike] = None, *, create: bool = True) -> Path:
    """The directory a missing model is downloaded into: the first writable search directory
    that is not a FaceFusion ``.assets/models`` folder (made when missing; ``create=False``
    only says which it would be).

    Raises PermissionError naming every directory when none is writable.
    """
    dirs = _search_dirs(models_dir)
    for d in dirs:
        if not is_facefusion_dir(d) and _writable(d, create):
            return d
    raise PermissionError(
        f"no writable models directory to download into: {', '.join(str(d) for d in dirs)} "
        f"(FaceFusion .assets/models folders are never written); pass --models-dir / models_dir= a writable "
        f"directory or set {ENV_MODELS}")


def offline_error(entry: ModelFile, models_dir: Optional[PathLike], hint: Optional[str] = None) -> ModelNotFoundError:
    """Fetching is off and ``entry`` is missing: which file, from where, into which directory."""
    searched = ", ".join(str(d) for d in _search_dirs(models_dir))
    try:
        target = str(download_dir(models_dir, create=False))
    except PermissionError:
        target = "one of the directories searched"
    url = entry.urls()[0] if entry.downloadable else None
    get = (f"download {url} (and its hash, {entry.hash_urls()[0]}) into {target}, or run "
           f"`facefuse models download {entry.name}` where the network is allowed"
           if url else entry.how_to_get)
    tail = f" {hint.rstrip('. ')}." if hint else ""
    return ModelNotFoundError(
        f"model file {entry.file_name!r} not found (searched: {searched}; order: models_dir, ${ENV_MODELS}, "
        f"~/.facefuse/models) and downloads are off "
        f"(--offline / {ENV_OFFLINE}=1): {get}.{tail}")


def not_downloadable_error(entry: ModelFile, models_dir: Optional[PathLike]) -> ModelNotFoundError:
    searched = ", ".join(str(d) for d in _search_dirs(models_dir))
    return ModelNotFoundError(f"model file {entry.file_name!r} not found (searched: {searched}); "
                              f"it cannot be downloaded: {entry.how_to_get}.")


def _licence_note(entry: ModelFile, stream: Optional[TextIO]) -> None:
    """The licence of a file, said when it is downloaded (once: later runs find the file)."""
    if not entry.licence:
        return
    out = stream if stream is not None else sys.stderr
    try:
        out.write(f"facefuse: note: {entry.file_name}: {entry.licence}\n")
        out.flush()
    except (OSError, ValueError):
        pass


def fetch_model(
    name: str,
    models_dir: Optional[PathLike] = None,
    *,
    progress: Optional[bool] = None,
    force: bool = False,
    settings: DownloadSettings = DownloadSettings(),
    stream: Optional[TextIO] = None,
) -> Path:
    """Download model ``name`` (a registry name or file name) into :func:`download_dir` and
    return its path; an existing file there is kept unless ``force``.

    ``progress``: None draws a bar (size, rate, ETA) when ``stream`` (stderr) is a terminal,
    True always, False never. Raises ModelNotFoundError for a file that is not published
    (the message says how to get it), DownloadError when every URL fails or the hash does
    not match, PermissionError when no models directory is writable.
    """
    from ..progress import ProgressBar

    entry = lookup(name)
    if not entry.downloadable:
        raise not_downloadable_error(entry, models_dir)
    target = download_dir(models_dir) / entry.file_name
    if target.is_file() and not force:
        return target
    out = stream if stream is not None else sys.stderr
    bar = ProgressBar(label=f"download {entry.file_name}", enabled=progress, stream=out, unit="bytes",
                      log_step=0.25) if progress is not False else None
    where = os.environ.get(ENV_MODEL_URL, "").strip()

    def waiting() -> None:
        if bar is not None and bar.enabled:
            out.write(f"facefuse: waiting for another process downloading {target}\n")

    try:
        path = download_file(entry.urls(), entry.hash_urls(), target, settings=settings, replace=force,
                             progress=None if bar is None else bar.update, on_wait=waiting)
    except DownloadError as e:
        hint = f" ({ENV_MODEL_URL}={where})" if where else ""
        raise DownloadError(f"{e}{hint}. Retry with `facefuse models download {entry.name}`, or fetch "
                            f"{entry.urls()[0]} and put it in {target.parent}") from None
    finally:
        if bar is not None:
            bar.close()
    _licence_note(entry, stream)
    return path
