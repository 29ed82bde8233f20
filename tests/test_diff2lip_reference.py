"""facefuse's Diff2Lip against Diff2Lip's own code (issue 17): the export as a user runs it,
ONNX and the torch package against Diff2Lip's torch model, the mel windows against Diff2Lip's
audio code, and a whole DDIM-25 sampling run against Diff2Lip's own diffusion code.

Slow (minutes on a CPU) and needs torch, onnxscript and a checkout of Diff2Lip's code
(https://github.com/soumik-kanad/diff2lip, kept outside this repository) named by
$DIFF2LIP_SRC; skipped otherwise. The released weights are not needed: the released model
configuration with seeded random weights is saved in the released file's format (a state dict
written by torch.save). How it was run and what it found: docs/notes/lipsync.md.

    DIFF2LIP_SRC=/path/to/diff2lip pytest tests/test_diff2lip_reference.py -m slow
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

SRC = os.environ.get("DIFF2LIP_SRC", "")
if not SRC or not (Path(SRC) / "guided-diffusion" / "guided_diffusion" / "script_util.py").is_file():
    pytest.skip("set $DIFF2LIP_SRC to a checkout of Diff2Lip's code (soumik-kanad/diff2lip) to run the reference "
                "test", allow_module_level=True)
torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")
ort = pytest.importorskip("onnxruntime")

from facefuse.inference import InferencePool  # noqa: E402
from facefuse.lipsync.audio import mel_window, melspectrogram, num_mel_windows  # noqa: E402
from facefuse.lipsync.model import Diff2LipDenoiser  # noqa: E402
from facefuse.lipsync.sampler import DDIMSampler, from_model, lipsync_batch, to_model  # noqa: E402
from facefuse.lipsync.torch_denoiser import TorchDenoiser  # noqa: E402
from facefuse.testing.diff2lip_checkpoint import build_diff2lip_model, write_random_checkpoint  # noqa: E402

NAMES = ["x", "t", "cond_img", "mask", "ref_img", "indiv_mels"]
SHAPES = {"x": [3, 128, 128], "t": [], "cond_img": [3, 128, 128], "mask": [1, 128, 128], "ref_img": [3, 128, 128],
          "indiv_mels": [80, 16], "output": [6, 128, 128]}
FRAMES = 3  # frames in the sampling comparison (a few minutes of CPU per DDIM-25 run and implementation)


def _export(ckpt: Path, out: Path, *extra: str) -> None:
    """`facefuse export-diff2lip` in a fresh interpreter, as a user runs it."""
    cmd = [sys.executable, "-m", "facefuse", "export-diff2lip", "--checkpoint", str(ckpt), "--source", SRC,
           "-o", str(out), *extra]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env=dict(os.environ))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "verified with ONNX Runtime" in run.stderr


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("d2l_ref")
    torch.manual_seed(0)
    write_random_checkpoint(SRC, d / "e7.24.1.3_model260000_paper.pt", seed=0)
    _export(d / "e7.24.1.3_model260000_paper.pt", d / "diff2lip.onnx")
    _export(d / "e7.24.1.3_model260000_paper.pt", d / "diff2lip_fp16.onnx", "--fp16")
    return d


@pytest.fixture(scope="module")
def reference_model(exported):
    """Diff2Lip's model built by its own code and loaded from the checkpoint, float32."""
    model, _ = build_diff2lip_model(SRC)
    model.load_state_dict(torch.load(str(exported / "e7.24.1.3_model260000_paper.pt"), weights_only=True))
    return model.eval()


def _inputs(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    mask = torch.zeros(n, 1, 128, 128)
    mask[:, :, 64:] = 1.0
    return (torch.randn(n, 3, 128, 128, generator=g), torch.randint(0, 1000, (n,), generator=g),
            torch.rand(n, 3, 128, 128, generator=g) * 2 - 1, mask, torch.rand(n, 3, 128, 128, generator=g) * 2 - 1,
            torch.randn(n, 80, 16, generator=g) * 2)


def _torch_out(model, inputs) -> np.ndarray:
    x, t, cond, mask, ref, mels = inputs
    with torch.no_grad():
        return model(x, t, cond_img=cond, mask=mask, ref_img=ref, indiv_mels=mels).float().numpy()


def test_export_signature(exported) -> None:
    for name, ftype in (("diff2lip.onnx", "tensor(float)"), ("diff2lip_fp16.onnx", "tensor(float)")):
        sess = ort.InferenceSession(str(exported / name), providers=["CPUExecutionProvider"])
        ins = {i.name: i for i in sess.get_inputs()}
        assert [i.name for i in sess.get_inputs()] == NAMES
        assert [o.name for o in sess.get_outputs()] == ["output"]
        for v in list(ins.values()) + list(sess.get_outputs()):
            assert not isinstance(v.shape[0], int), f"{name}: {v.name} has a fixed batch {v.shape}"
            assert v.shape[1:] == SHAPES[v.name], (name, v.name, v.shape)
            assert v.type == ("tensor(int64)" if v.name == "t" else ftype), (name, v.name, v.type)
    assert (exported / "diff2lip.pt2").is_file() and (exported / "diff2lip_fp16.pt2").is_file()
    assert sorted(p.name for p in exported.iterdir() if p.name.startswith(".")) == []  # no temporary files left


def test_onnx_matches_torch(exported, reference_model) -> None:
    inputs = _inputs(3, seed=1)
    ref = _torch_out(reference_model, inputs)
    assert float(np.abs(ref[:, :3]).mean()) > 0.05  # the random weights give a non-trivial output
    feeds = {k: v.numpy() for k, v in zip(NAMES, inputs)}
    sess = ort.InferenceSession(str(exported / "diff2lip.onnx"), providers=["CPUExecutionProvider"])
    err32 = float(np.abs(sess.run(["output"], feeds)[0] - ref).max())
    sess16 = ort.InferenceSession(str(exported / "diff2lip_fp16.onnx"), providers=["CPUExecutionProvider"])
    got16 = sess16.run(["output"], feeds)[0]
    err16 = float(np.abs(got16 - ref).max())
    print(f"max |onnx - torch|: fp32 {err32:.3g}, fp16 export {err16:.3g} (output std {ref.std():.3g})")
    assert err32 < 1e-4
    # the fp16 torso's error is relative to the output's size (half precision: ~1e-3 relative per op)
    assert err16 < 0.05 * float(np.abs(ref).max()) and err16 > err32


def test_torch_package_matches_onnx_and_loads_without_diff2lip(exported, reference_model) -> None:
    inputs = _inputs(2, seed=2)
    feeds = {k: v.numpy() for k, v in zip(NAMES, inputs)}
    td = TorchDenoiser(exported / "diff2lip.pt2", device="cpu")
    cond = td.bind(*(feeds[k] for k in NAMES[2:]))
    got = td(feeds["x"], feeds["t"], cond)
    ref = _torch_out(reference_model, inputs)
    assert float(np.abs(got - ref).max()) < 1e-4
    # `--fp16` changes the ONNX model only: its torch package is the same float32 program
    got16 = TorchDenoiser(exported / "diff2lip_fp16.pt2", device="cpu")(feeds["x"], feeds["t"], cond)
    np.testing.assert_allclose(got16, got, atol=1e-5)
    # a fresh interpreter that cannot import Diff2Lip's code loads and runs the package
    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('guided_diffusion', 'blobfile', 'mpi4py'):\n"
        "            raise ImportError(name + ' blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import numpy as np\n"
        "from facefuse.lipsync.torch_denoiser import TorchDenoiser\n"
        f"d = TorchDenoiser({str(exported / 'diff2lip.pt2')!r}, device='cpu')\n"
        "z = np.zeros((1, 3, 128, 128), np.float32)\n"
        "c = d.bind(z, np.ones((1, 1, 128, 128), np.float32), z, np.zeros((1, 80, 16), np.float32))\n"
        "print(d(z, np.array([500]), c).shape, 'guided_diffusion' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DIFF2LIP_SRC"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "(1, 6, 128, 128) False"


def _diff2lip_windows(mel_tf: np.ndarray, frames: int) -> list:
    """Diff2Lip's generate.py windowing, restated: output frame i (from 1) takes the 16 mel
    steps from int(80 * max(i - 2, 0) / 25), while 16 remain."""
    out = []
    i = 1
    while True:
        s = int(80.0 * (max(i - 2, 0) / 25.0))
        m = mel_tf[s:s + 16]
        if m.shape[0] != 16 or len(out) == frames:
            return out
        out.append(m.T)
        i += 1


def test_mel_windows_match_diff2lip() -> None:
    sys.path.insert(0, SRC)
    try:
        from audio import audio as d2l_audio  # Diff2Lip's audio/audio.py (librosa as installed)
    finally:
        sys.path.remove(SRC)
    rng = np.random.default_rng(3)
    t = np.arange(int(16000 * 1.3)) / 16000.0
    wav = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.05 * rng.standard_normal(t.size))
    ref = d2l_audio.melspectrogram(wav.astype(np.float32)).T  # [steps, 80]
    mine = melspectrogram(wav.astype(np.float32))  # [steps, 80]
    assert mine.shape == ref.shape
    windows = _diff2lip_windows(ref, 10_000)
    assert len(windows) == num_mel_windows(mine.shape[0], 25.0) >= 25
    for k, w in enumerate(windows):  # Diff2Lip's i-th window (i from 1) drives output frame k = i - 1
        np.testing.assert_allclose(mel_window(mine, k, 25.0), w, atol=1e-4, err_msg=f"frame {k}")


def _faces(n: int) -> np.ndarray:
    """Smooth, face-sized RGB uint8 crops [n, 128, 128, 3] (so the model sees image-like input)."""
    yy, xx = np.mgrid[0:128, 0:128] / 127.0
    out = []
    for i in range(n):
        r = 0.5 + 0.4 * np.sin(3 * xx + i) * np.cos(2 * yy)
        g = 0.5 + 0.3 * np.cos(4 * yy - i)
        b = 0.4 + 0.3 * xx * yy
        out.append(np.stack([r, g, b], -1))
    return np.clip(np.asarray(out) * 255.0, 0, 255).astype(np.uint8)


def test_sampling_matches_diff2lip(exported, reference_model) -> None:
    import time

    from guided_diffusion.script_util import create_gaussian_diffusion, tfg_model_and_diffusion_defaults
    from guided_diffusion.tfg_data_util import tfg_process_batch

    from facefuse.lipsync.export import DIFF2LIP_FLAGS

    n = FRAMES
    faces_rgb = _faces(n)
    mels = np.random.default_rng(4).standard_normal((n, 80, 16)).astype(np.float32) * 2
    # --- Diff2Lip: its inference flags, generate.py's batch layout and fixed noise (seed 7)
    a = tfg_model_and_diffusion_defaults()
    a.update(DIFF2LIP_FLAGS)
    diffusion = create_gaussian_diffusion(
        steps=a["diffusion_steps"], learn_sigma=a["learn_sigma"], noise_schedule=a["noise_schedule"],
        use_kl=a["use_kl"], predict_xstart=a["predict_xstart"], rescale_timesteps=a["rescale_timesteps"],
        rescale_learned_sigmas=a["rescale_learned_sigmas"], timestep_respacing="ddim25",
        loss_variation=a.get("loss_variation", 0))
    state = torch.get_rng_state()
    torch.manual_seed(7)
    init_noise = torch.randn((1, 3, 128, 128)).repeat(n, 1, 1, 1)
    torch.set_rng_state(state)
    frames = torch.FloatTensor(np.transpose(faces_rgb.astype(np.float32) / 255.0, (0, 3, 1, 2)))
    batch = {"image": frames.reshape(1, n, 3, 128, 128), "ref_img": frames.reshape(1, n, 3, 128, 128),
             "indiv_mels": torch.from_numpy(mels).reshape(1, n, 1, 80, 16)}
    img_batch, kwargs = tfg_process_batch(batch, 0.5, use_ref=True, use_audio=True, noise=init_noise)
    t0 = time.perf_counter()
    with torch.no_grad():
        sample = diffusion.ddim_sample_loop(reference_model, (n, 3, 128, 128), clip_denoised=True,
                                            model_kwargs=kwargs, noise=init_noise)
    t_ref = time.perf_counter() - t0
    recon = sample * kwargs["mask"] + (1.0 - kwargs["mask"]) * img_batch
    ref_float = ((recon + 1) * 0.5).clamp(0, 1).numpy() * 255.0  # Diff2Lip's normalise(...) * 255
    ref_u8 = ref_float.astype(np.uint8)  # and its cast: truncation

    # --- facefuse: BGR crops in, its sampler with the exported model (ONNX, then torch)
    crops = to_model(np.ascontiguousarray(faces_rgb[..., ::-1]))
    noise = init_noise[0].numpy()
    sampler = DDIMSampler(25)
    assert sorted(sampler.timesteps.tolist()) == sorted(int(v) for v in diffusion.timestep_map)
    pool = InferencePool(providers="cpu")
    results = {}
    for name, den in (("onnx", Diff2LipDenoiser(pool, exported / "diff2lip.onnx")),
                      ("torch", TorchDenoiser(exported / "diff2lip.pt2", device="cpu"))):
        t0 = time.perf_counter()
        out = lipsync_batch(den, sampler, crops, crops, mels, noise, 0.5)
        results[name] = (out, time.perf_counter() - t0)
    pool.close()
    for name, (out, secs) in results.items():
        mine_float = np.clip((out + 1.0) * 0.5, 0.0, 1.0) * 255.0
        err = float(np.abs(mine_float - ref_float).max())
        u8 = from_model(out)[..., ::-1].transpose(0, 3, 1, 2).astype(np.int16)  # back to RGB NCHW
        diff_u8 = np.abs(u8 - ref_u8.astype(np.int16))
        print(f"DDIM-25 on {n} frames, facefuse {name} vs Diff2Lip: max |diff| {err:.3g} of 255 "
              f"({secs:.0f} s; Diff2Lip {t_ref:.0f} s); uint8 max {diff_u8.max()}, "
              f"{(diff_u8 > 0).mean() * 100:.1f} % of values differ (rounding vs truncation)")
        assert err < 0.05, name  # float32 paths; 0.05 of 255 ~ 2e-4 in model units
        # facefuse rounds where Diff2Lip truncates: at most one level apart, never below it
        assert diff_u8.max() <= 1 and (u8 >= ref_u8).all(), name
    # the generated lower half moved away from the noise it started from, and the top is the input
    start = np.clip((init_noise.numpy()[:, :, 64:] + 1.0) * 127.5, 0, 255)
    assert float(np.abs(ref_float[:, :, 64:] - start).mean()) > 1.0
    np.testing.assert_allclose(results["onnx"][0][:, :, :64], crops[:, :, :64], atol=1e-6)
