"""Diff2Lip lip sync on ONNX Runtime, streaming: audio / mel (:mod:`.audio`), the denoiser
model (:mod:`.model`), the DDIM sampler (:mod:`.sampler`) and the video pipeline
(:mod:`.pipeline`, :func:`lipsync_video`)."""
from __future__ import annotations
