"""The torch backend of lip sync (facefuse.lipsync.torch_denoiser, backends) on the CPU, with a
small torch module of Diff2Lip's denoiser signature exported the way export-diff2lip exports
the real one (torch.export program, .pt2). The real model against Diff2Lip's own code and
against ONNX Runtime: tests/test_diff2lip_reference.py. Skipped without torch."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from facefuse.inference import InferencePool  # noqa: E402
from facefuse.lipsync import backends  # noqa: E402
from facefuse.lipsync.sampler import DDIMSampler, initial_noise, lipsync_batch  # noqa: E402
from facefuse.lipsync.torch_denoiser import TorchDenoiser, is_aoti_package  # noqa: E402

NAMES = ("x", "t", "cond_img", "mask", "ref_img", "indiv_mels")


class TinyStep(torch.nn.Module):
    """Diff2Lip's signature with a few layers whose output depends on every input."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv1 = torch.nn.Conv2d(10, 16, 3, padding=1)
        self.norm = torch.nn.GroupNorm(4, 16)
        self.conv2 = torch.nn.Conv2d(16, 6, 3, padding=1)
        self.mel = torch.nn.Linear(80 * 16, 16)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)

    def forward(self, x, t, cond_img, mask, ref_img, indiv_mels):  # type: ignore[no-untyped-def]
        h = self.conv1(torch.cat([x, cond_img, mask, ref_img], 1))
        h = h + self.mel(indiv_mels.flatten(1))[:, :, None, None] + (t.float() / 1000.0)[:, None, None, None]
        return self.conv2(torch.nn.functional.silu(self.norm(h)))


def _example(n: int = 2):
    g = torch.Generator().manual_seed(1)
    return (torch.randn(n, 3, 128, 128, generator=g), torch.tensor([960, 40][:n]),
            torch.randn(n, 3, 128, 128, generator=g), torch.ones(n, 1, 128, 128),
            torch.randn(n, 3, 128, 128, generator=g), torch.randn(n, 80, 16, generator=g))


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    d = tmp_path_factory.mktemp("torch_pkg")
    step = TinyStep().eval()
    dim = torch.export.Dim("N", min=1, max=64)
    ep = torch.export.export(step, _example(), dynamic_shapes={k: {0: dim} for k in NAMES})
    torch.export.save(ep, str(d / "diff2lip.pt2"))
    return d, step


def _batch(n: int, seed: int):
    rng = np.random.default_rng(seed)
    crops = rng.uniform(-1, 1, (n, 3, 128, 128)).astype(np.float32)
    refs = rng.uniform(-1, 1, (n, 3, 128, 128)).astype(np.float32)
    mels = rng.standard_normal((n, 80, 16)).astype(np.float32)
    return crops, refs, mels


@pytest.mark.parametrize("channels_last", [False, True])
def test_device_loop_equals_numpy_loop(package, channels_last: bool) -> None:
    d, step = package
    den = TorchDenoiser(d / "diff2lip.pt2", device="cpu", channels_last=channels_last)
    assert den.precision == "fp32" and not den.cuda_graphs and den.providers == ["torch-cpu-fp32"]
    crops, refs, mels = _batch(3, 0)
    noise = initial_noise(7)
    sampler = DDIMSampler(5)
    got = lipsync_batch(den, sampler, crops, refs, mels, noise)  # TorchDenoiser.sample: the loop in torch
    mask = np.zeros((1, 1, 128, 128), np.float32)
    mask[..., 64:, :] = 1.0
    cond_img = crops * (1 - mask) + mask * noise[None]
    feeds = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in
             (("cond_img", cond_img), ("mask", np.broadcast_to(mask, (3, 1, 128, 128))), ("ref_img", refs),
              ("indiv_mels", mels))}

    def eps(x, t):  # the module itself (not the package) in the NumPy sampler
        with torch.no_grad():
            return step(torch.from_numpy(x), torch.from_numpy(t), **feeds)[:, :3].numpy()

    ref = sampler.sample(eps, np.broadcast_to(noise[None], crops.shape)) * mask + (1 - mask) * crops
    assert np.abs(ref - crops).max() > 0.1  # the model changed the lower half
    np.testing.assert_allclose(got, ref, atol=2e-5)


def test_same_frames_as_onnx(package, tmp_path) -> None:
    pytest.importorskip("onnxscript")
    from facefuse.lipsync.model import Diff2LipDenoiser

    d, step = package
    onnx_path = tmp_path / "diff2lip.onnx"
    dim = torch.export.Dim("N", min=1, max=64)
    torch.onnx.export(step, _example(), str(onnx_path), dynamo=True, input_names=list(NAMES), output_names=["output"],
                      dynamic_shapes={k: {0: dim} for k in NAMES}, opset_version=18, external_data=False)
    crops, refs, mels = _batch(2, 1)
    noise, sampler = initial_noise(3), DDIMSampler(4)
    pool = InferencePool(providers="cpu")
    a = lipsync_batch(Diff2LipDenoiser(pool, onnx_path), sampler, crops, refs, mels, noise)
    b = lipsync_batch(TorchDenoiser(d / "diff2lip.pt2", device="cpu"), sampler, crops, refs, mels, noise)
    pool.close()
    np.testing.assert_allclose(b, a, atol=1e-4)


def test_bad_arguments_and_files(package, tmp_path) -> None:
    d, _ = package
    with pytest.raises(FileNotFoundError, match="'path'"):
        TorchDenoiser(tmp_path / "none.pt2")
    with pytest.raises(ValueError, match="'precision'"):
        TorchDenoiser(d / "diff2lip.pt2", device="cpu", precision="fp8")
    with pytest.raises(ValueError, match="'device'"):
        TorchDenoiser(d / "diff2lip.pt2", device="tpu")
    junk = tmp_path / "junk.pt2"
    junk.write_text("not a package")
    with pytest.raises(ValueError, match="is not a torch package"):
        TorchDenoiser(junk, device="cpu")
    assert not is_aoti_package(junk) and not is_aoti_package(d / "diff2lip.pt2")

    class Other(torch.nn.Module):
        def forward(self, a):  # type: ignore[no-untyped-def]
            return a * 2

    torch.export.save(torch.export.export(Other(), (torch.ones(2),)), str(tmp_path / "other.pt2"))
    with pytest.raises(ValueError, match="not Diff2Lip's denoiser"):
        TorchDenoiser(tmp_path / "other.pt2", device="cpu")
    den = TorchDenoiser(d / "diff2lip.pt2", device="cpu")
    z = np.zeros((1, 3, 128, 128), np.float32)
    with pytest.raises(ValueError, match="'mask'"):
        den.bind(z, z, z, np.zeros((1, 80, 16), np.float32))
    cond = den.bind(z, z[:, :1], z, np.zeros((1, 80, 16), np.float32))
    with pytest.raises(ValueError, match="'t'"):
        den(z, np.array([1000]), cond)
    with pytest.raises(ValueError, match="'x_T'"):
        den.sample(DDIMSampler(2), np.zeros((2, 3, 128, 128), np.float32), cond)


def test_pick_backend(monkeypatch) -> None:
    assert backends.pick_backend("f", None, "m/diff2lip.pt2") == "torch"
    assert backends.pick_backend("f", None, "diff2lip.onnx") == "onnx"
    assert backends.pick_backend("f", "torch", "diff2lip.onnx") == "torch"  # asked for: as asked
    with pytest.raises(ValueError, match="'backend'"):
        backends.pick_backend("f", "tensorrt", None)
    monkeypatch.setattr(backends, "_ort_has_cuda", lambda: False)
    from facefuse.lipsync import torch_denoiser

    monkeypatch.setattr(torch_denoiser, "torch_available", lambda device=None: True)
    assert backends.pick_backend("f", None, None) == "torch"  # a GPU, torch, no onnxruntime-gpu
    assert backends.pick_backend("f", None, None, providers="cpu") == "onnx"  # the CPU: ONNX Runtime
    monkeypatch.setattr(backends, "_ort_has_cuda", lambda: True)
    assert backends.pick_backend("f", None, None) == "onnx"
    monkeypatch.setattr(backends, "_ort_has_cuda", lambda: False)
    monkeypatch.setattr(torch_denoiser, "torch_available", lambda device=None: False)
    assert backends.pick_backend("f", None, None) == "onnx"


def test_lipsync_video_with_the_torch_backend(package, tmp_path, capsys) -> None:
    import shutil

    import facefuse as ff
    from facefuse.testing.detector_models import build_yolo_face
    from facefuse.testing.media import synth_speech, write_audio, write_clip
    from facefuse.video import VideoReader

    d, _ = package
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(d / "diff2lip.pt2", models / "diff2lip.pt2")
    build_yolo_face(models)
    write_clip(tmp_path / "v.mp4", 0.4)
    write_audio(tmp_path / "a.wav", synth_speech(0.6, seed=1), 16000)
    out = tmp_path / "o.mp4"
    r = ff.lipsync_video(tmp_path / "v.mp4", tmp_path / "a.wav", out, backend="torch", models_dir=models,
                         providers="cpu", steps=2, preset="ultrafast")
    assert r.providers == ["torch-cpu-fp32"] and r.frames == 10 and r.frames_synced == 10
    with VideoReader(out) as v, VideoReader(tmp_path / "v.mp4") as src:
        diffs = [np.abs(a.image.astype(np.float32) - b.image).max() for a, b in zip(v, src)]
    assert len(diffs) == 10 and min(diffs) > 20  # every frame's mouth was redone
    with pytest.raises(ValueError, match="'precision'"):
        ff.lipsync_video(tmp_path / "v.mp4", tmp_path / "a.wav", tmp_path / "p.mp4", backend="onnx",
                         precision="fp16", models_dir=models, providers="cpu")
    assert not (tmp_path / "p.mp4").exists()
    from facefuse.cli import main

    rc = main(["lipsync", "-v", str(tmp_path / "v.mp4"), "-a", str(tmp_path / "a.wav"), "-o", str(tmp_path / "p.mp4"),
               "--backend", "onnx", "--precision", "bf16", "--models-dir", str(models), "--providers", "cpu"])
    assert rc == 2 and "argument --precision is for the torch backend" in capsys.readouterr().err
    assert not (tmp_path / "p.mp4").exists()


@pytest.mark.slow
def test_aoti_package_same_as_the_program(package, tmp_path) -> None:
    """An AOTInductor package (what export-diff2lip --aoti cpu writes) runs through the same
    TorchDenoiser. About a minute of C++ compilation: only with FACEFUSE_TEST_AOTI=1."""
    import os
    import shutil

    if os.environ.get("FACEFUSE_TEST_AOTI") != "1" or not (shutil.which("c++") or shutil.which("g++")):
        pytest.skip("set FACEFUSE_TEST_AOTI=1 (needs a C++ compiler; compiles for about a minute)")
    d, step = package
    dim = torch.export.Dim("N", min=1, max=64)
    ep = torch.export.export(step, _example(), dynamic_shapes={k: {0: dim} for k in NAMES})
    path = tmp_path / "diff2lip.aoti-cpu.pt2"
    torch._inductor.aoti_compile_and_package(ep, package_path=str(path))
    assert is_aoti_package(path)
    crops, refs, mels = _batch(3, 5)
    noise, sampler = initial_noise(1), DDIMSampler(3)
    aoti = TorchDenoiser(path, device="cpu")
    assert aoti.aoti and not aoti.channels_last and aoti.providers == ["torch-cpu-aoti"]
    a = lipsync_batch(aoti, sampler, crops, refs, mels, noise)
    b = lipsync_batch(TorchDenoiser(d / "diff2lip.pt2", device="cpu"), sampler, crops, refs, mels, noise)
    np.testing.assert_allclose(a, b, atol=1e-4)
