"""Tiny ONNX stand-ins for the real model files (needs the ``onnx`` package, a dev extra).

Each builder writes a model with exactly the real file's name, input / output names and
shapes, and simple checkable behaviour, so tests and benchmarks drive the real loading,
pre- and post-processing code without the real weights.
"""
from __future__ import annotations

__all__: list[str] = []
