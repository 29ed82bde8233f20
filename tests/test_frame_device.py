"""``frame_device``: where the swap pipeline's frames live, and model runs on device arrays.

The device routes run here against the real (CPU) ONNX Runtime with the NumPy-backed CuPy
stand-in of the CUDA emulation (cuda/emulation/fake_cupy: "device memory" is host memory):
IOBinding by pointer (bound as ONNX Runtime's "cpu" memory) and the host round trip. The
pixel kernels on the device are tests/test_cuda_pipeline.py's (GPU or emulation).
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any, List

import cv2
import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from facefuse.cli import main  # noqa: E402
from facefuse.inference import InferencePool  # noqa: E402
from facefuse.inference.device_io import array_module, binds_device, run_device  # noqa: E402
from facefuse.models import FaceSwapper  # noqa: E402
from facefuse.pipeline.device import cuda_unusable, resolve_frame_device, to_host  # noqa: E402
from facefuse.testing.face_models import BUILDERS  # noqa: E402

FAKE_CUPY = Path(__file__).resolve().parents[1] / "cuda" / "emulation" / "fake_cupy" / "cupy" / "__init__.py"
NO_GPU = cuda_unusable()


@pytest.fixture
def fake_cupy(monkeypatch: pytest.MonkeyPatch) -> Any:
    spec = importlib.util.spec_from_file_location("cupy", FAKE_CUPY)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setitem(sys.modules, "cupy", mod)
    return mod


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("models")
    for name in ("inswapper_128", "hyperswap_1a_256"):
        BUILDERS[name](d)
    return d


# -- choosing the device ----------------------------------------------------------------------

def test_resolve_frame_device() -> None:
    assert resolve_frame_device("f", "cpu", "laplacian") == "cpu"
    assert resolve_frame_device("f", "auto", "laplacian") == ("cpu" if NO_GPU else "cuda")
    assert resolve_frame_device("f", "auto", "poisson") == "cpu"  # no GPU Poisson kernel
    with pytest.raises(ValueError, match="f: argument 'frame_device' must be one of"):
        resolve_frame_device("f", "gpu", "alpha")


@pytest.mark.skipif(NO_GPU is not None, reason="needs a machine where frames can live on the GPU")
def test_cuda_with_poisson_is_refused() -> None:
    with pytest.raises(ValueError, match="poisson"):
        resolve_frame_device("f", "cuda", "poisson")


@pytest.mark.skipif(NO_GPU is None, reason="a usable GPU is present")
def test_cuda_without_gpu_names_the_argument_and_why() -> None:
    with pytest.raises(ValueError, match=r"f: argument 'frame_device' is 'cuda' but ") as e:
        resolve_frame_device("f", "cuda", "laplacian")
    assert NO_GPU in str(e.value)


@pytest.mark.skipif(NO_GPU is None, reason="a usable GPU is present")
def test_cli_frame_device_cuda_without_gpu(tmp_path: Path, models_dir: Path, capsys: pytest.CaptureFixture) -> None:
    face = tmp_path / "face.png"
    cv2.imwrite(str(face), np.full((64, 64, 3), 128, np.uint8))
    target = tmp_path / "target.png"
    cv2.imwrite(str(target), np.full((64, 64, 3), 90, np.uint8))
    out = tmp_path / "out.png"
    rc = main(["swap", "-s", str(face), "-t", str(target), "-o", str(out), "--models-dir", str(models_dir),
               "--frame-device", "cuda", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "argument --frame-device is 'cuda' but" in err
    assert not out.exists()


# -- model runs on device arrays ---------------------------------------------------------------

def _inputs(rng: np.random.Generator, n: int) -> dict:
    return {"target": rng.random((n, 3, 128, 128), dtype=np.float32),
            "source": rng.standard_normal((n, 512)).astype(np.float32)}


def test_run_device_binds_the_arrays_memory(fake_cupy: Any, models_dir: Path) -> None:
    sess = ort.InferenceSession(str(models_dir / "inswapper_128.onnx"), providers=["CPUExecutionProvider"])
    assert not binds_device(sess)  # CPU provider: the pipeline takes the host round trip
    feeds = _inputs(np.random.default_rng(1), 3)
    want = sess.run(["output"], feeds)[0]
    dev = {k: fake_cupy.asarray(v) for k, v in feeds.items()}
    spy = _Recorder(sess)
    (got,) = run_device(spy, ["output"], dev, bind=True, device_type="cpu")
    assert isinstance(got, fake_cupy.ndarray)
    np.testing.assert_array_equal(got.get(), want)
    assert spy.bound == {k: ("cpu", v.shape, v.data.ptr) for k, v in dev.items()}  # no copy was bound
    (again,) = run_device(sess, ["output"], dev, bind=False)
    assert isinstance(again, fake_cupy.ndarray)
    np.testing.assert_array_equal(again.get(), want)


class _Recorder:
    """The session, its IOBinding's bind_input calls recorded."""

    def __init__(self, session: Any) -> None:
        self._s, self.bound = session, {}

    def io_binding(self) -> Any:
        rec = self

        class IO:
            def __init__(self) -> None:
                self.io = rec._s.io_binding()

            def bind_input(self, name: str, dev: str, dev_id: int, dtype: Any, shape: tuple, ptr: int) -> None:
                rec.bound[name] = (dev, tuple(shape), ptr)
                self.io.bind_input(name, dev, dev_id, dtype, shape, ptr)

            def bind_output(self, *a: Any) -> None:
                self.io.bind_output(*a)

            def get_outputs(self) -> List[Any]:
                return self.io.get_outputs()

        return IO()

    def run_with_iobinding(self, io: Any) -> None:
        self._s.run_with_iobinding(io.io)

    def get_providers(self) -> List[str]:
        return self._s.get_providers()


@pytest.mark.parametrize("model", ["inswapper_128", "hyperswap_1a_256"])
def test_swapper_on_device_arrays_equals_host(fake_cupy: Any, models_dir: Path, model: str) -> None:
    rng = np.random.default_rng(3)
    with InferencePool(models_dir=models_dir, providers="cpu") as pool:
        sw = FaceSwapper(pool, model)
        s = sw.size[0]
        crops = rng.integers(0, 256, (2, s, s, 3), dtype=np.uint8)
        latent = sw.source_latent(rng.standard_normal(512).astype(np.float32))
        host, host_masks = sw.swap(crops, latent)
        dev, dev_masks = sw.swap(fake_cupy.asarray(crops), latent)
    assert array_module(dev) is fake_cupy
    np.testing.assert_array_equal(to_host(dev), host)  # same float32 operations on both sides
    if host_masks is None:
        assert dev_masks is None
    else:
        np.testing.assert_array_equal(to_host(dev_masks), host_masks)
    assert to_host(host) is host  # host frames pass through


def test_swapper_rejects_other_arrays(models_dir: Path) -> None:
    with InferencePool(models_dir=models_dir, providers="cpu") as pool:
        sw = FaceSwapper(pool, "inswapper_128")
        with pytest.raises(TypeError, match="argument 'crops' must be a numpy or CuPy array"):
            sw.swap([[1, 2]], np.zeros((1, 512), np.float32))
