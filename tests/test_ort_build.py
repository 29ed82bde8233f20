"""A CPU-only ONNX Runtime where CUDA was asked for is refused (or, with the GPU extra installed
but overwritten, warned about) with the exact commands that fix it."""
from __future__ import annotations

import warnings

import pytest

from facefuse.inference import providers as P


class _FakeOrt:
    def __init__(self, offered):
        self.offered = offered

    def get_available_providers(self):
        return list(self.offered)


@pytest.fixture
def cpu_build(monkeypatch):
    monkeypatch.setattr(P, "_ort", lambda: _FakeOrt(["AzureExecutionProvider", "CPUExecutionProvider"]))
    monkeypatch.setattr(P, "_warned_cpu_build", False)
    versions = {"onnxruntime": "1.32.0"}
    monkeypatch.setattr(P, "_installed", versions.get)
    return versions


def test_cuda_requested_on_the_cpu_build_names_the_fix(cpu_build) -> None:
    with pytest.raises(ValueError, match=r"CPU-only build; for the GPU: pip uninstall -y onnxruntime onnxruntime-gpu "
                                         r"&& pip install \"onnxruntime-gpu\[cuda,cudnn\]>=1.21,<1.27\""):
        P.pick_providers("cuda,cpu")
    cpu_build["onnxruntime-gpu"] = "1.26.1"  # the extra was installed, then overwritten: pin that version
    with pytest.warns(RuntimeWarning, match="overwrote it"), \
            pytest.raises(ValueError, match=r'pip install "onnxruntime-gpu\[cuda,cudnn\]==1.26.1"$'):
        P.pick_providers(["tensorrt"])


def test_gpu_extra_overwritten_by_the_cpu_build_warns_once(cpu_build) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert P.pick_providers(None) == ["CPUExecutionProvider"]  # no GPU package: nothing to say
    cpu_build["onnxruntime-gpu"] = "1.26.1"
    with pytest.warns(RuntimeWarning, match="onnxruntime-gpu 1.26.1 is installed but the CPU build.*"
                                            "models run on the CPU. Fix: pip uninstall -y onnxruntime"):
        P.pick_providers(None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        P.pick_providers(None)  # once per process


def test_a_real_gpu_build_is_left_alone(monkeypatch) -> None:
    monkeypatch.setattr(P, "_ort", lambda: _FakeOrt(["CUDAExecutionProvider", "CPUExecutionProvider"]))
    monkeypatch.setattr(P, "_warned_cpu_build", False)
    monkeypatch.setattr(P, "_installed", {"onnxruntime-gpu": "1.26.1"}.get)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert P.pick_providers("cuda") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
