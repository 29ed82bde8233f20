"""Diff2Lip denoiser wrapper and DDIM sampler, driven by a tiny ONNX denoiser whose eps is
derived analytically from a known target image (facefuse.testing.diff2lip_model)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")

from facefuse.inference import InferencePool, ModelError, ModelNotFoundError  # noqa: E402
from facefuse.lipsync.model import DIFF2LIP, DIFF2LIP_FP16, Diff2LipDenoiser, is_out_of_memory  # noqa: E402
from facefuse.lipsync.sampler import (  # noqa: E402
    DDIMSampler,
    alphas_cumprod,
    from_model,
    hide_mask,
    initial_noise,
    linear_betas,
    lipsync_batch,
    space_timesteps,
    to_model,
)
from facefuse.testing.diff2lip_model import build_diff2lip, default_target  # noqa: E402

# The DDPM linear schedule written out independently of the module under test.
ABAR = np.cumprod(1.0 - np.linspace(1e-4, 0.02, 1000))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("d2l")
    build_diff2lip(d)
    build_diff2lip(d, fp16=True)
    build_diff2lip(d, file_name="fixed2.onnx", fixed_batch=2)
    return d


def _inputs(n: int, rng: np.random.Generator):
    crops = rng.uniform(-1, 1, (n, 3, 128, 128)).astype(np.float32)
    refs = rng.uniform(-1, 1, (n, 3, 128, 128)).astype(np.float32)
    mels = rng.uniform(-4, 4, (n, 80, 16)).astype(np.float32)
    return crops, refs, mels


def test_schedule() -> None:
    b = linear_betas()
    assert b.shape == (1000,) and b[0] == pytest.approx(1e-4) and b[-1] == pytest.approx(0.02)
    a = alphas_cumprod()
    np.testing.assert_allclose(a, ABAR, rtol=1e-12)
    assert a[-1] == pytest.approx(4.0358e-05, rel=1e-3)  # the well-known DDPM alpha_bar_T
    # guided-diffusion scales the linear schedule for other lengths: 1e-4 * 1000/T .. 0.02 * 1000/T
    b100 = linear_betas(100)
    assert b100[0] == pytest.approx(1e-3) and b100[-1] == pytest.approx(0.2)


def test_space_timesteps() -> None:
    assert space_timesteps(1000, "ddim25") == set(range(0, 1000, 40))  # Diff2Lip's inference script
    assert space_timesteps(1000, "ddim50") == set(range(0, 1000, 20))
    even = sorted(space_timesteps(1000, "25"))
    assert len(even) == 25 and even[0] == 0 and even[-1] == 999
    # stride 999/24 = 41.625: 0, 41.625, 83.25, 124.875, 166.5 (half to even -> 166), ...
    assert even[:6] == [0, 42, 83, 125, 166, 208]
    assert even[12] == 500 and even[20] == 832  # 499.5 -> 500, 832.5 -> 832
    # the docstring example of guided-diffusion: 300 steps, sections [10, 15, 20]
    s = sorted(space_timesteps(300, [10, 15, 20]))
    assert len(s) == 45
    assert [x for x in s if x < 100][:3] == [0, 11, 22] and max(x for x in s if x < 100) == 99
    assert sum(100 <= x < 200 for x in s) == 15 and min(x for x in s if x >= 100) == 100
    assert sum(x >= 200 for x in s) == 20 and s[-1] == 299
    assert space_timesteps(300, "10,15,20") == set(s)
    with pytest.raises(ValueError, match="stride"):
        space_timesteps(1000, "ddim600")
    with pytest.raises(ValueError, match="divide"):
        space_timesteps(10, "11")
    with pytest.raises(ValueError, match="section_counts"):
        space_timesteps(10, "a,b")


def test_sampler_timesteps_and_coefficients() -> None:
    s = DDIMSampler(25)
    assert s.timesteps.tolist() == list(range(960, -1, -40)) and s.timesteps.dtype == np.int64
    np.testing.assert_allclose(s.alpha_bar, ABAR[s.timesteps])
    np.testing.assert_allclose(s.alpha_bar_prev[:-1], ABAR[s.timesteps[1:]])
    assert s.alpha_bar_prev[-1] == 1.0
    e = DDIMSampler(25, spacing="even")
    assert e.timesteps[0] == 999 and e.timesteps[-1] == 0
    with pytest.raises(ValueError, match="steps"):
        DDIMSampler(0)
    with pytest.raises(ValueError, match="spacing"):
        DDIMSampler(25, spacing="cosine")
    with pytest.raises(ValueError, match="stride"):
        DDIMSampler(600)
    assert DDIMSampler(600, spacing="even").timesteps.shape == (600,)


@pytest.mark.parametrize("steps,spacing", [(25, "ddim"), (25, "even"), (10, "ddim"), (1, "even")])
def test_sampler_returns_target_and_follows_the_schedule(models, rng, steps: int, spacing: str) -> None:
    """The analytic denoiser predicts x0 = target at every call, so after a correct DDIM step
    x must be sqrt(a_prev) * target + sqrt(1 - a_prev) * n with n fixed by the first step:
    this checks the timesteps fed to the model, the schedule and the update at every step."""
    with InferencePool(models_dir=models, providers="cpu") as pool:
        den = Diff2LipDenoiser(pool)
        crops, refs, mels = _inputs(3, rng)
        cond = den.bind(crops, np.broadcast_to(hide_mask(), (3, 1, 128, 128)), refs, mels)
        sampler = DDIMSampler(steps, spacing=spacing)
        seen = []

        def eps_fn(x, t):
            seen.append((x.copy(), t.copy()))
            return den.eps(x, t, cond)

        x_T = np.broadcast_to(initial_noise(7), (3, 3, 128, 128))
        out = sampler.sample(eps_fn, x_T)
    target = default_target()
    np.testing.assert_allclose(out, np.broadcast_to(target, out.shape), atol=2e-5)
    ts = [int(t[0]) for _, t in seen]
    assert all((t == t[0]).all() for _, t in seen)
    expected = sorted(space_timesteps(1000, f"ddim{steps}" if spacing == "ddim" else str(steps)), reverse=True)
    assert ts == expected
    a0 = ABAR[ts[0]]
    n = (x_T - np.sqrt(a0) * target) / np.sqrt(1 - a0)
    for (x, _), t in zip(seen[1:], ts[1:]):
        np.testing.assert_allclose(x, np.sqrt(ABAR[t]) * target + np.sqrt(1 - ABAR[t]) * n, atol=5e-4)


def test_sampler_fed_step_indices_would_fail(models, rng) -> None:
    """The same check catches the classic respacing bug (the model given the step index)."""
    with InferencePool(models_dir=models, providers="cpu") as pool:
        den = Diff2LipDenoiser(pool)
        crops, refs, mels = _inputs(1, rng)
        cond = den.bind(crops, hide_mask(), refs, mels)
        sampler = DDIMSampler(25)
        index = {int(t): i for i, t in enumerate(sorted(sampler.timesteps))}
        xs = []

        def buggy(x, t):
            xs.append(x.copy())
            return den.eps(x, np.full_like(t, index[int(t[0])]), cond)

        sampler.sample(buggy, initial_noise(1)[None])
    target = default_target()
    a0 = ABAR[960]
    n = (initial_noise(1)[None] - np.sqrt(a0) * target) / np.sqrt(1 - a0)
    t = 480  # the middle of the trajectory
    good = np.sqrt(ABAR[t]) * target + np.sqrt(1 - ABAR[t]) * n
    assert np.abs(xs[12] - good).max() > 0.1


def test_fp16_model(models, rng) -> None:
    with InferencePool(models_dir=models, providers="cpu") as pool:
        den = Diff2LipDenoiser(pool, "diff2lip_fp16.onnx")
        assert den.dtype == np.float16 and den.spec is DIFF2LIP_FP16
        crops, refs, mels = _inputs(2, rng)
        out = lipsync_batch(den, DDIMSampler(25), crops, refs, mels, initial_noise(3))
    mask = hide_mask()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:, :, 64:], np.broadcast_to(default_target()[:, 64:], (2, 3, 64, 128)), atol=3e-3)
    np.testing.assert_array_equal(out[:, :, :64], crops[:, :, :64])
    assert mask[0, 0, 63].max() == 0 and mask[0, 0, 64].min() == 1


@pytest.mark.parametrize("fhp,row", [(0.5, 64), (0.4, 76), (0.25, 96)])
def test_lipsync_batch_composite(models, rng, fhp: float, row: int) -> None:
    with InferencePool(models_dir=models, providers="cpu") as pool:
        den = Diff2LipDenoiser(pool)
        crops, refs, mels = _inputs(3, rng)
        out = lipsync_batch(den, DDIMSampler(5), crops, refs, mels, initial_noise(0), face_hide_percentage=fhp)
    assert row == int(128 * (1 - fhp))
    np.testing.assert_array_equal(out[:, :, :row], crops[:, :, :row])  # untouched above the mask
    np.testing.assert_allclose(out[:, :, row:], np.broadcast_to(default_target()[:, row:], out[:, :, row:].shape),
                               atol=2e-5)


def test_lipsync_batch_names_a_bad_argument(models, rng) -> None:
    with InferencePool(models_dir=models, providers="cpu") as pool:
        den = Diff2LipDenoiser(pool)
        crops, refs, mels = _inputs(2, rng)
        with pytest.raises(ValueError, match="'noise'"):  # a per-frame noise batch, not one shared image
            lipsync_batch(den, DDIMSampler(3), crops, refs, mels, np.stack([initial_noise(0)] * 2))
        with pytest.raises(ValueError, match="'crops'"):
            lipsync_batch(den, DDIMSampler(3), crops[0], refs, mels, initial_noise(0))


def test_fixed_batch_model_runs_any_batch(models, rng) -> None:
    with InferencePool(models_dir=models, providers="cpu") as pool:
        den = Diff2LipDenoiser(pool, "fixed2.onnx")
        assert den.fixed_batch == 2
        crops, refs, mels = _inputs(3, rng)
        out = lipsync_batch(den, DDIMSampler(3), crops, refs, mels, initial_noise(0))
    np.testing.assert_allclose(out[:, :, 64:], np.broadcast_to(default_target()[:, 64:], (3, 3, 64, 128)), atol=2e-5)


def test_denoiser_errors(models, tmp_path, rng) -> None:
    import onnx
    from onnx import TensorProto, helper

    with InferencePool(models_dir=models, providers="cpu") as pool:
        with pytest.raises(ModelNotFoundError, match="export-diff2lip"):
            Diff2LipDenoiser(pool, "nope.onnx")
        # a model with the wrong signature (the inswapper's inputs) is refused and not cached
        g = helper.make_graph([helper.make_node("Identity", ["target"], ["output"])], "g",
                              [helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, 128, 128])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 128, 128])])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 8
        onnx.save(m, str(tmp_path / "wrong.onnx"))
        with pytest.raises(ModelError, match="missing input 'x'"):
            Diff2LipDenoiser(pool, tmp_path / "wrong.onnx")
        assert len(pool) == 0
        den = Diff2LipDenoiser(pool)
        crops, refs, mels = _inputs(2, rng)
        mask = np.broadcast_to(hide_mask(), (2, 1, 128, 128))
        with pytest.raises(ValueError, match="indiv_mels"):
            den.bind(crops, mask, refs, mels[:, :, :8])
        with pytest.raises(ValueError, match="ref_img"):
            den.bind(crops, mask, refs[:1], mels)
        with pytest.raises(TypeError, match="cond_img"):
            den.bind(crops.astype(np.int32), mask, refs, mels)
        cond = den.bind(crops, mask, refs, mels)
        with pytest.raises(ValueError, match="'t'"):
            den(crops, np.array([1000, 1000]), cond)
        with pytest.raises(ValueError, match="'x'"):
            den(crops[:1], 5, cond)
        out = den(crops, 5, cond)
        assert out.shape == (2, 6, 128, 128) and out.dtype == np.float32
    with pytest.raises(TypeError, match="pool"):
        Diff2LipDenoiser("models")  # type: ignore[arg-type]
    assert DIFF2LIP.inputs["t"][1] == np.int64 and DIFF2LIP.outputs["output"][0] == (None, 6, 128, 128)


def test_out_of_memory_detection() -> None:
    assert is_out_of_memory(RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Failed to allocate memory"))
    assert is_out_of_memory(RuntimeError("CUDA failure 2: out of memory ; GPU=0"))
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(RuntimeError("Invalid input name: y"))


def test_model_io_conversions() -> None:
    crops = np.zeros((2, 128, 128, 3), np.uint8)
    crops[..., 2] = 255  # red in BGR
    m = to_model(crops)
    assert m.shape == (2, 3, 128, 128) and m.dtype == np.float32
    assert (m[:, 0] == 1).all() and (m[:, 1:] == -1).all()  # RGB order for the model
    np.testing.assert_array_equal(from_model(m), crops)
    with pytest.raises(ValueError, match="face_hide_percentage"):
        hide_mask(128, 0.0)


@pytest.mark.parametrize("clip", [True, False])
def test_update_graph_equals_numpy_step(rng, clip: bool) -> None:
    import onnxruntime as ort

    from facefuse.lipsync.device_loop import build_update_model

    s = DDIMSampler(25, clip_denoised=clip)
    for dtype in (np.float32, np.float16):
        sess = ort.InferenceSession(build_update_model(dtype, clip), providers=["CPUExecutionProvider"])
        for i in (0, 7, 24):
            x = rng.standard_normal((2, 3, 16, 16)).astype(np.float32)
            out = (rng.standard_normal((2, 6, 16, 16)) * 2).astype(dtype)
            got, got_m = sess.run(None, {"x": x, "out": out, "coef": s.coefficients(i)})
            want = s.step(x, out[:, :3].astype(np.float32), i)
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5)
            assert got_m.dtype == dtype
            np.testing.assert_array_equal(got_m, got.astype(dtype))


@pytest.mark.parametrize("name", ["diff2lip.onnx", "diff2lip_fp16.onnx"])
def test_device_loop_matches_host_loop(models, rng, name: str) -> None:
    """The IOBinding loop (the update as an ONNX graph, buffers kept by ORT) on the CPU provider
    gives the NumPy loop's result: the same code runs on CUDA with device 'cuda'."""
    with InferencePool(models_dir=models, providers="cpu") as pool:
        host = Diff2LipDenoiser(pool, name)
        dev = Diff2LipDenoiser(pool, name, device_loop=True)
        assert not host.device_loop and dev.device_loop and dev.device == "cpu"
        crops, refs, mels = _inputs(3, rng)
        sampler = DDIMSampler(25)
        a = lipsync_batch(host, sampler, crops, refs, mels, initial_noise(4))
        b = lipsync_batch(dev, sampler, crops, refs, mels, initial_noise(4))
        np.testing.assert_allclose(b, a, atol=1e-5 if name == "diff2lip.onnx" else 2e-3)
        np.testing.assert_allclose(b[:, :, 64:], np.broadcast_to(default_target()[:, 64:], (3, 3, 64, 128)),
                                   atol=2e-5 if name == "diff2lip.onnx" else 3e-3)
        # the IOBinding single-step path (conditioning uploaded once) equals a plain run
        mask = np.broadcast_to(hide_mask(), (3, 1, 128, 128))
        cd, ch = dev.bind(crops, mask, refs, mels), host.bind(crops, mask, refs, mels)
        assert cd.device_values is not None and ch.device_values is None
        np.testing.assert_array_equal(dev(crops, 500, cd), host(crops, 500, ch))
        with pytest.raises(ValueError, match="cond"):
            from facefuse.lipsync.device_loop import sample_on_device

            sample_on_device(dev, sampler, crops, ch)
        assert not Diff2LipDenoiser(pool, "fixed2.onnx", device_loop=True).device_loop
