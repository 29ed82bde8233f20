"""Diff2Lip lip sync on ONNX Runtime, its building blocks: audio / mel (:mod:`.audio`) and the
per-frame mel feed (:mod:`.feed`), the denoiser model (:mod:`.model`) and its batch size
(:mod:`.batching`), the DDIM sampler (:mod:`.sampler`), the crop and paste mask (:mod:`.crop`).
The video pipeline that runs them is :mod:`facefuse.pipeline.lipsync` (:func:`lipsync_video`)."""
from __future__ import annotations
