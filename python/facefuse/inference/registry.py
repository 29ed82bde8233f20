"""Every model file facefuse can load, and where FaceFusion 3.x publishes it.

FaceFusion hosts each file twice (``facefusion/download.py`` and ``choices.py``,
``download_provider_set``): as a GitHub release asset of ``facefusion/facefusion-assets``
(``/releases/download/<release>/<file>``) and in a Hugging Face repository of the same name
(``/facefusion/<release>/resolve/main/<file>``, also on hf-mirror.com). Beside every
``<stem>.onnx`` sits ``<stem>.hash``: the CRC32 of the whole file as 8 lowercase hex digits,
which FaceFusion keeps next to the model in ``.assets/models`` and checks. The hash is read
from that companion at download time: no checksum is written into this table, and no size
either (neither is knowable without the network; the server's Content-Length sizes the
progress bar).

``$FACEFUSE_MODEL_URL`` replaces the public hosts with one mirror of the same layout:
``<FACEFUSE_MODEL_URL>/<release>/<file>`` (e.g. ``.../models-3.0.0/inswapper_128.onnx`` and
``.../models-3.0.0/inswapper_128.hash``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Dict, List, Optional, Tuple

__all__ = [
    "ENV_MODEL_URL",
    "PUBLIC_HOSTS",
    "ModelFile",
    "REGISTRY",
    "MODEL_SETS",
    "lookup",
    "by_file_name",
    "hash_file_name",
]

#: A mirror with FaceFusion's release layout (``<url>/<release>/<file>``) used instead of the public hosts.
ENV_MODEL_URL = "FACEFUSE_MODEL_URL"

# FaceFusion's download providers, in its default order (github, then huggingface with its mirror).
_PROVIDERS: Tuple[str, ...] = (
    "https://github.com/facefusion/facefusion-assets/releases/download/{release}/{file}",
    "https://huggingface.co/facefusion/{release}/resolve/main/{file}",
    "https://hf-mirror.com/facefusion/{release}/resolve/main/{file}",
)
#: The hosts of the public URLs (the URL-table test checks every URL against these).
PUBLIC_HOSTS = ("github.com", "huggingface.co", "hf-mirror.com")

_INSIGHTFACE_NC = (
    "InsightFace model: licensed for non-commercial research use only "
    "(https://github.com/deepinsight/insightface#license); a commercial use needs a licence from InsightFace"
)


def hash_file_name(file_name: str) -> str:
    """``inswapper_128.onnx`` -> ``inswapper_128.hash`` (FaceFusion's companion name)."""
    return PurePosixPath(file_name).stem + ".hash"


@dataclass(frozen=True)
class ModelFile:
    """One model file: its name, the FaceFusion release that publishes it and what it is for.

    ``release`` None: not published anywhere facefuse can fetch from; ``how_to_get`` says
    what to do instead. ``size`` is in bytes where published, else None (unknown here).
    """

    name: str
    file_name: str
    role: str
    release: Optional[str]
    licence: str = ""
    how_to_get: str = ""
    size: Optional[int] = None

    @property
    def downloadable(self) -> bool:
        return self.release is not None

    @property
    def hash_name(self) -> str:
        return hash_file_name(self.file_name)

    def urls(self, mirror: Optional[str] = None) -> List[str]:
        """The model's download URLs, tried in order: ``mirror`` (default ``$FACEFUSE_MODEL_URL``)
        alone when set, else FaceFusion's public hosts. Empty when not downloadable."""
        return self._urls(self.file_name, mirror)

    def hash_urls(self, mirror: Optional[str] = None) -> List[str]:
        """The ``.hash`` companion's URLs, in the same order as :meth:`urls`."""
        return self._urls(self.hash_name, mirror)

    def _urls(self, file: str, mirror: Optional[str]) -> List[str]:
        if self.release is None:
            return []
        base = mirror if mirror is not None else os.environ.get(ENV_MODEL_URL, "").strip()
        if base:
            return [f"{base.rstrip('/')}/{self.release}/{file}"]
        return [p.format(release=self.release, file=file) for p in _PROVIDERS]


def _m(name: str, file_name: str, role: str, release: Optional[str], **kw: str) -> ModelFile:
    return ModelFile(name=name, file_name=file_name, role=role, release=release, **kw)


_DIFF2LIP_HOW = (
    "Diff2Lip's weights are not published as ONNX: export the checkpoint once with "
    "`facefuse export-diff2lip --checkpoint checkpoint.pt --source path/to/diff2lip -o {file}{flags}` "
    "(pip install \"facefuse[export]\" and a checkout of Diff2Lip's code) into the models directory"
)

#: Model name -> file. Releases are the ones FaceFusion 3.x downloads each file from
#: (3.8.1 for all but arcface_converter_simswap, which FaceFusion 3.0-3.3 used).
REGISTRY: Dict[str, ModelFile] = {m.name: m for m in (
    _m("yolo_face", "yoloface_8n.onnx", "detector", "models-3.0.0"),
    _m("scrfd", "scrfd_2.5g.onnx", "detector", "models-3.0.0", licence=_INSIGHTFACE_NC),
    _m("retinaface", "retinaface_10g.onnx", "detector", "models-3.0.0", licence=_INSIGHTFACE_NC),
    _m("2dfan4", "2dfan4.onnx", "landmarker", "models-3.0.0"),
    _m("fan_68_5", "fan_68_5.onnx", "landmarker", "models-3.0.0"),
    _m("arcface_w600k_r50", "arcface_w600k_r50.onnx", "recognizer", "models-3.0.0", licence=_INSIGHTFACE_NC),
    _m("arcface_simswap", "arcface_simswap.onnx", "recognizer", None,
       how_to_get="FaceFusion 3.x no longer publishes it: copy it from a FaceFusion 2.x install "
                  "(<facefusion>/.assets/models/arcface_simswap.onnx), or use simswap_256 with its default "
                  "recogniser (arcface_w600k_r50 + arcface_converter_simswap, both downloadable)"),
    _m("inswapper_128", "inswapper_128.onnx", "swapper", "models-3.0.0", licence=_INSIGHTFACE_NC),
    _m("inswapper_128_fp16", "inswapper_128_fp16.onnx", "swapper", "models-3.0.0", licence=_INSIGHTFACE_NC),
    _m("hyperswap_1a_256", "hyperswap_1a_256.onnx", "swapper", "models-3.3.0"),
    _m("hyperswap_1b_256", "hyperswap_1b_256.onnx", "swapper", "models-3.3.0"),
    _m("hyperswap_1c_256", "hyperswap_1c_256.onnx", "swapper", "models-3.3.0"),
    _m("simswap_256", "simswap_256.onnx", "swapper", "models-3.0.0"),
    *(_m(n, f"{n}.onnx", "enhancer", "models-3.0.0") for n in (
        "codeformer", "gfpgan_1.2", "gfpgan_1.3", "gfpgan_1.4", "gpen_bfr_256", "gpen_bfr_512", "gpen_bfr_1024",
        "gpen_bfr_2048", "restoreformer_plus_plus")),
    _m("xseg_1", "xseg_1.onnx", "occluder", "models-3.1.0"),
    _m("xseg_2", "xseg_2.onnx", "occluder", "models-3.1.0"),
    _m("xseg_3", "xseg_3.onnx", "occluder", "models-3.2.0"),
    _m("bisenet_resnet_18", "bisenet_resnet_18.onnx", "parser", "models-3.1.0"),
    _m("bisenet_resnet_34", "bisenet_resnet_34.onnx", "parser", "models-3.0.0"),
    _m("arcface_converter_simswap", "arcface_converter_simswap.onnx", "converter", "models-3.0.0"),
    _m("diff2lip", "diff2lip.onnx", "lipsync", None, how_to_get=_DIFF2LIP_HOW.format(file="diff2lip.onnx", flags="")),
    _m("diff2lip_fp16", "diff2lip_fp16.onnx", "lipsync", None,
       how_to_get=_DIFF2LIP_HOW.format(file="diff2lip_fp16.onnx", flags=" --fp16")),
)}

#: What ``facefuse swap`` and ``facefuse lipsync`` load with their default options.
MODEL_SETS: Dict[str, Tuple[str, ...]] = {
    "swap": ("yolo_face", "arcface_w600k_r50", "inswapper_128"),
    "lipsync": ("yolo_face", "diff2lip"),
}

_BY_FILE: Dict[str, ModelFile] = {m.file_name: m for m in REGISTRY.values()}


def by_file_name(file_name: str) -> Optional[ModelFile]:
    """The registry entry of a bare file name (``inswapper_128.onnx``), or None."""
    return _BY_FILE.get(file_name)


def lookup(name: str) -> ModelFile:
    """A registry entry by model name (``inswapper_128``) or file name (``inswapper_128.onnx``).

    Raises ValueError naming the known models.
    """
    if not isinstance(name, str):
        raise TypeError(f"argument 'name' must be a model name (str), got {type(name).__name__}")
    entry = REGISTRY.get(name) or _BY_FILE.get(name)
    if entry is None:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(REGISTRY)} (see `facefuse models list`)")
    return entry
