"""Recognise the tiny stand-in models of :mod:`facefuse.testing` and keep them out of real runs.

A stand-in has the real file's name and signature but trivial maths (the detectors find bright
squares, the swappers invert colours, the enhancer sharpens, the occluder masks green): left in ``~/.facefuse/models`` it would make ``facefuse swap`` "swap" without a word.
Each carries ``producer_name = "facefuse.testing"`` and the metadata entry
``facefuse.stand_in``; sessions of such files are refused unless ``$FACEFUSE_ALLOW_STAND_INS``
is set (tests, benchmarks and first tries with ``python -m facefuse.testing``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Union

__all__ = ["PRODUCER", "METADATA_KEY", "ENV_ALLOW", "mark", "is_stand_in_file", "is_stand_in_session",
           "stand_ins_allowed", "refusal"]

PRODUCER = "facefuse.testing"
METADATA_KEY = "facefuse.stand_in"
ENV_ALLOW = "FACEFUSE_ALLOW_STAND_INS"


def mark(model: Any) -> Any:
    """Stamp an ``onnx.ModelProto`` as a stand-in (producer name and a metadata entry); returns it."""
    model.producer_name = PRODUCER
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, "tiny test model from facefuse.testing, not real weights"
    return model


def stand_ins_allowed() -> bool:
    return os.environ.get(ENV_ALLOW, "").strip().lower() not in ("", "0", "false", "no")


def is_stand_in_file(path: Union[str, "os.PathLike[str]"]) -> bool:
    """Whether the ONNX file at ``path`` is a stand-in, from its first bytes (no parse: real models
    are hundreds of MB). ``producer_name`` is field 2 of ModelProto, written right after the IR
    version, so it sits in the header."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        return False
    return b"\x12" + bytes([len(PRODUCER)]) + PRODUCER.encode() in head


def is_stand_in_session(session: Any) -> bool:
    """Whether an ``onnxruntime.InferenceSession`` was made from a stand-in (its model metadata)."""
    try:
        meta = session.get_modelmeta()
    except Exception:  # noqa: BLE001 - a session-like object without metadata is not a stand-in
        return False
    return meta.producer_name == PRODUCER or METADATA_KEY in (meta.custom_metadata_map or {})


def refusal(path: Union[str, "os.PathLike[str]"]) -> str:
    """The error text for a stand-in found where a real model was expected."""
    from .registry import by_file_name

    p = Path(path)
    entry = by_file_name(p.name)
    return (f"model file {str(p)!r} is a facefuse.testing stand-in (a tiny test model with the real "
            f"file's name and signature), not the real model: delete it and run `facefuse models download {entry.name if entry else p.stem} --force` "
            f"(or let the next run download it); to use stand-ins on purpose set {ENV_ALLOW}=1")
