"""facefuse.inference: provider picking, model specs, model lookup and the session pool.

Tiny ONNX models are built in tmp_path with onnx.helper; the "inverter" has inswapper_128's
input / output names and shapes (target [1,3,128,128], source [1,512] -> output [1,3,128,128])
and computes output = 1 - target.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

from facefuse import inference as inf  # noqa: E402
from facefuse.inference import (  # noqa: E402
    INSWAPPER_128,
    InferencePool,
    ModelError,
    ModelNotFoundError,
    ModelSpec,
    available_providers,
    check_model,
    pick_providers,
    resolve_model,
)

CPU = "CPUExecutionProvider"


def make_inverter(path: Path, batch: object = 1) -> Path:
    """output = 1 - target; `source` is an input the graph ignores (like a latent would be used)."""
    target = helper.make_tensor_value_info("target", TensorProto.FLOAT, [batch, 3, 128, 128])
    source = helper.make_tensor_value_info("source", TensorProto.FLOAT, [batch, 512])
    output = helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, 3, 128, 128])
    one = helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])
    node = helper.make_node("Sub", ["one", "target"], ["output"])
    graph = helper.make_graph([node], "inverter", [target, source], [output], initializer=[one])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def make_identity(path: Path, name: str = "x", shape=(1, 4), elem=TensorProto.FLOAT) -> Path:
    x = helper.make_tensor_value_info(name, elem, list(shape))
    y = helper.make_tensor_value_info("y", elem, list(shape))
    graph = helper.make_graph([helper.make_node("Identity", [name], ["y"])], "ident", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.fixture
def inverter(tmp_path: Path) -> Path:
    return make_inverter(tmp_path / "inswapper_128.onnx")



# ------------------------------------------------------------------------------------ providers
def test_available_providers_cpu_last() -> None:
    avail = available_providers()
    assert avail[-1] == CPU
    assert set(avail) <= set(inf.PROVIDER_ORDER)
    assert avail == [p for p in inf.PROVIDER_ORDER if p in avail]  # TensorRT > CUDA > CPU


def test_pick_providers_default_is_available() -> None:
    assert pick_providers() == available_providers()


@pytest.mark.parametrize("req", ["cpu", "CPU", " cpu ", ["cpu"], [CPU], "cpu,cpu"])
def test_pick_providers_aliases(req) -> None:
    assert pick_providers(req) == [CPU]


def test_pick_providers_unknown_names_it() -> None:
    with pytest.raises(ValueError, match="'warp9'.*available: .*CPUExecutionProvider"):
        pick_providers("cpu,warp9")
    with pytest.raises(ValueError, match="'requested'"):
        pick_providers("")


def test_pick_providers_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CPU])
    with pytest.raises(ValueError, match=r"'cuda' \(CUDAExecutionProvider\) is not available.*available: CPUExecutionProvider"):
        pick_providers("cuda,cpu")
    with pytest.raises(ValueError, match="'trt'"):
        pick_providers(["trt"])


def test_pick_providers_order_and_cpu_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    offered = ["AzureExecutionProvider", CPU, "CUDAExecutionProvider", "TensorrtExecutionProvider"]
    monkeypatch.setattr(ort, "get_available_providers", lambda: offered)
    assert available_providers() == ["TensorrtExecutionProvider", "CUDAExecutionProvider", CPU]
    assert pick_providers() == ["TensorrtExecutionProvider", "CUDAExecutionProvider", CPU]
    assert pick_providers("cuda") == ["CUDAExecutionProvider", CPU]
    assert pick_providers("cuda,tensorrt") == ["CUDAExecutionProvider", "TensorrtExecutionProvider", CPU]
    assert pick_providers(["TensorrtExecutionProvider", "cpu"]) == ["TensorrtExecutionProvider", CPU]


# ------------------------------------------------------------------------------- model checks
def test_check_model_pass_and_run(inverter: Path) -> None:
    with InferencePool() as pool:
        sess = pool.get(inverter, "cpu", spec=INSWAPPER_128)
        check_model(sess, INSWAPPER_128, inverter)
        x = np.random.default_rng(0).random((1, 3, 128, 128), dtype=np.float32)
        src = np.zeros((1, 512), np.float32)
        (out,) = sess.run(None, {"target": x, "source": src})
        assert out.shape == (1, 3, 128, 128) and out.dtype == np.float32
        np.testing.assert_allclose(out, 1.0 - x, rtol=0, atol=1e-6)


def test_check_model_symbolic_batch_accepted(tmp_path: Path) -> None:
    path = make_inverter(tmp_path / "dyn.onnx", batch="N")
    with InferencePool() as pool:
        sess = pool.get(path, "cpu", spec=INSWAPPER_128)  # spec None batch vs model "N"
        strict = ModelSpec("strict", "dyn.onnx", {"target": ((2, 3, 128, 128), "float32"),
                                                  "source": (("batch", 512), np.float32)})
        check_model(sess, strict, path)  # model's symbolic dim accepts any fixed size


def test_check_model_mismatch_message(tmp_path: Path) -> None:
    path = make_identity(tmp_path / "wrong.onnx", name="x", shape=(1, 4))
    with InferencePool() as pool:
        with pytest.raises(ModelError) as ei:
            pool.get(path, "cpu", spec=INSWAPPER_128)
        assert len(pool) == 0  # a failing model is not cached
    msg = str(ei.value)
    assert isinstance(ei.value, ValueError)
    assert str(path) in msg
    for name in ("target", "source", "output"):
        assert f"missing input {name!r}" in msg or f"missing output {name!r}" in msg
    assert "expected inputs:  target [?, 3, 128, 128] float32, source [?, 512] float32" in msg
    assert "found inputs:     x [1, 4] float32" in msg
    assert "unexpected input 'x'" in msg
    assert ".assets/models" in msg


def test_check_model_shape_and_dtype_mismatch(tmp_path: Path) -> None:
    path = make_identity(tmp_path / "m.onnx", name="x", shape=(1, 4), elem=TensorProto.FLOAT16)
    sess = ort.InferenceSession(str(path), providers=[CPU])
    spec = ModelSpec("m", "m.onnx", {"x": ((1, 5), np.float32)}, {"y": ((1, 4, 1), "float32")}, source="ask Bob")
    with pytest.raises(ModelError) as ei:
        check_model(sess, spec, path)
    msg = str(ei.value)
    assert "input 'x' has shape [1, 4], expected [1, 5]" in msg
    assert "input 'x' has dtype float16, expected float32" in msg
    assert "output 'y' has shape [1, 4], expected [1, 4, 1]" in msg
    assert "ask Bob" in msg and "m.onnx" in msg
    # the same spec with the right shapes / dtype passes
    check_model(sess, ModelSpec("m", "m.onnx", {"x": ((None, 4), "float16")}, {"y": ((1, "n"), np.float16)}), path)


# ------------------------------------------------------------------------------------ the pool
def test_pool_caches_same_session(inverter: Path) -> None:
    pool = InferencePool()
    a = pool.get(inverter, "cpu")
    b = pool.get(str(inverter), ["CPUExecutionProvider"])
    c = pool.get(inverter)  # default providers resolve to the same tuple only on CPU-only hosts
    assert a is b
    assert isinstance(a, ort.InferenceSession)
    assert a.get_providers()[-1] == CPU
    assert (c is a) == (tuple(pick_providers()) == (CPU,))
    key = next(iter(pool.sessions))
    assert key.path == str(inverter.resolve()) and key.providers == (CPU,) and key.options is None
    pool.close()
    assert len(pool) == 0


def test_pool_different_providers_and_options_are_different_entries(inverter: Path, monkeypatch) -> None:
    pool = InferencePool()
    a = pool.get(inverter, "cpu")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    c = pool.get(inverter, "cpu", session_options=opts)
    d = pool.get(inverter, "cpu", session_options=opts, options_key="one-thread")
    assert isinstance(c, ort.InferenceSession) and isinstance(d, ort.InferenceSession)
    assert c is not a and d is not a and d is not c
    assert pool.get(inverter, "cpu", session_options=opts) is c
    # pretend CUDA is offered: the key differs (onnxruntime itself falls back to CPU / warns)
    real = ort.get_available_providers
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", *real()])
    monkeypatch.setattr(InferencePool, "_create", staticmethod(lambda path, provs, so: ("fake", tuple(provs))))
    b = pool.get(inverter, "cuda")
    assert b == ("fake", ("CUDAExecutionProvider", CPU))
    assert len(pool) == 4
    assert {k.providers for k in pool.sessions} == {(CPU,), ("CUDAExecutionProvider", CPU)}
    assert pool.get(inverter, "cpu", options_key="one-thread") is d
    pool.close()


def test_pool_thread_safe_single_session(inverter: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pool = InferencePool()
    created = []
    real_create = InferencePool._create

    def slow_create(path, provs, so):
        created.append(path)
        barrier_hit.wait(timeout=0.2)  # let the other threads pile up on the same key
        return real_create(path, provs, so)

    barrier_hit = threading.Event()
    monkeypatch.setattr(InferencePool, "_create", staticmethod(slow_create))
    results: list = [None] * 8
    start = threading.Barrier(8)

    def worker(i: int) -> None:
        start.wait()
        results[i] = pool.get(inverter, "cpu", spec=INSWAPPER_128)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert all(r is results[0] for r in results) and results[0] is not None
    assert len(created) == 1
    assert len(pool) == 1
    pool.close()


def test_release_frees_entries(tmp_path: Path, inverter: Path) -> None:
    other = make_identity(tmp_path / "other.onnx")
    with InferencePool() as pool:
        s1 = pool.get(inverter, "cpu")
        pool.get(other, "cpu")
        pool.get(other, "cpu", options_key="k")
        assert len(pool) == 3 and inverter in pool
        assert pool.release(other) == 2
        assert len(pool) == 1 and other not in pool and "other.onnx" not in pool
        assert "inswapper_128.onnx" in pool
        assert pool.get(inverter, "cpu") is s1
        assert pool.release("inswapper_128.onnx") == 1  # a bare name releases by file name
        assert len(pool) == 0
        s2 = pool.get(inverter, "cpu")
        assert s2 is not s1  # re-created after release
        pool.get(other, "cpu")
        assert pool.release() == 2
        assert pool.sessions == {}
        pool.get(other, "cpu")
    assert len(pool) == 0  # the context manager released everything


# ----------------------------------------------------------------------------- finding models
def test_missing_file_names_file_and_dir(tmp_path: Path) -> None:
    models = tmp_path / "mymodels"
    models.mkdir()
    pool = InferencePool(models_dir=models)
    with pytest.raises(ModelError) as ei:
        pool.get("inswapper_128.onnx", "cpu", spec=INSWAPPER_128)
    err = ei.value
    assert isinstance(err, FileNotFoundError) and isinstance(err, ModelNotFoundError)
    msg = str(err)
    assert "'inswapper_128.onnx'" in msg and str(models) in msg
    assert ".assets/models" in msg and "FACEFUSE_MODELS" in msg
    # spec-only get looks up spec.file_name
    with pytest.raises(ModelNotFoundError, match="inswapper_128.onnx"):
        pool.get(spec=INSWAPPER_128)
    # an explicit missing path names the file and its directory
    with pytest.raises(ModelNotFoundError) as ei2:
        resolve_model(tmp_path / "nope" / "x.onnx")
    assert "x.onnx" in str(ei2.value) and str(tmp_path / "nope") in str(ei2.value)
    with pytest.raises(ValueError, match="'path'"):
        pool.get()


def test_resolve_model_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d_arg, d_env, d_home = tmp_path / "arg", tmp_path / "env", tmp_path / "home_models"
    for d in (d_arg, d_env, d_home):
        d.mkdir()
    make_identity(d_home / "m.onnx")
    assert resolve_model("m.onnx") == (d_home / "m.onnx").resolve()
    monkeypatch.setenv("FACEFUSE_MODELS", str(d_env))
    make_identity(d_env / "m.onnx")
    assert resolve_model("m.onnx") == (d_env / "m.onnx").resolve()
    make_identity(d_arg / "m.onnx")
    assert resolve_model("m.onnx", d_arg) == (d_arg / "m.onnx").resolve()
    assert resolve_model(d_home / "m.onnx") == (d_home / "m.onnx").resolve()


def test_env_var_resolution_through_pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_dir = tmp_path / "envmodels"
    env_dir.mkdir()
    make_inverter(env_dir / "inswapper_128.onnx")
    monkeypatch.setenv("FACEFUSE_MODELS", os.pathsep.join([str(tmp_path / "empty"), str(env_dir)]))
    with InferencePool() as pool:
        sess = pool.get(spec=INSWAPPER_128, providers="cpu")
        assert next(iter(pool.sessions)).path == str((env_dir / "inswapper_128.onnx").resolve())
        x = np.full((1, 3, 128, 128), 0.25, np.float32)
        (out,) = sess.run(["output"], {"target": x, "source": np.ones((1, 512), np.float32)})
        np.testing.assert_allclose(out, 0.75)


def test_corrupt_model_is_model_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx model")
    with pytest.raises(ModelError, match="bad.onnx"):
        InferencePool().get(bad, "cpu")


def test_provider_fallback_warns(inverter: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """onnxruntime-gpu without its CUDA libraries silently runs on CPU: the pool warns."""
    real_session = ort.InferenceSession
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", CPU])

    def fake_session(path, sess_options=None, providers=None):
        return real_session(path, sess_options=sess_options, providers=[CPU])

    monkeypatch.setattr(ort, "InferenceSession", fake_session)
    with InferencePool() as pool:
        with pytest.warns(RuntimeWarning, match="CUDAExecutionProvider requested but the session runs on CPUExecutionProvider"):
            pool.get(inverter, "cuda")
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            pool.get(inverter, "cpu")  # CPU-only request: no warning
