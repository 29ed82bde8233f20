"""Shared fixtures: seeded RNG, a real face photo, CuPy for the GPU tests, and the native-module handle."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import settings

# CI runs the same examples every time (a red CI must be reproducible); local runs
# keep exploring new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True, scope="session")
def _allow_stand_ins():
    """The tests run on facefuse.testing's stand-in models, which the pipelines refuse unless
    FACEFUSE_ALLOW_STAND_INS is set; session-wide, so module fixtures that run a pipeline see it
    (a test of the refusal deletes it with monkeypatch)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACEFUSE_ALLOW_STAND_INS", "1")
        yield


@pytest.fixture(autouse=True)
def _no_user_models(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Keep the user's own $FACEFUSE_MODELS and ~/.facefuse/models out of every test (a real
    model there would change what the model-lookup and doctor tests find), and the network:
    a missing model is not fetched (FACEFUSE_OFFLINE=1) unless a test serves it itself. The
    stand-ins are allowed for the whole session (_allow_stand_ins)."""
    from facefuse.inference import files

    monkeypatch.delenv("FACEFUSE_MODELS", raising=False)
    monkeypatch.delenv("FACEFUSE_MODEL_URL", raising=False)
    monkeypatch.setenv("FACEFUSE_OFFLINE", "1")
    monkeypatch.setattr(files, "DEFAULT_MODELS_DIR", tmp_path / "home_models")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def cp():
    """CuPy for the GPU tests (they are marked ``gpu``: skipped before this without a device)."""
    return pytest.importorskip("cupy")


@pytest.fixture(scope="session")
def astronaut_bgr() -> np.ndarray:
    """skimage's astronaut photo (512x512, a real face) as BGR uint8."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


def pytest_collection_modifyitems(config, items) -> None:  # noqa: ARG001
    """Skip tests marked ``gpu`` (cleanly, with the reason) when the CUDA backend cannot run."""
    if not any(item.get_closest_marker("gpu") for item in items):
        return
    import facefuse

    if facefuse.cuda_available():
        return
    skip = pytest.mark.skip(reason=f"CUDA backend {facefuse.cuda_status()}")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)
