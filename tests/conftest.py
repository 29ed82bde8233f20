"""Shared fixtures: seeded RNG, a real face photo, and the native-module handle."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def astronaut_bgr() -> np.ndarray:
    """skimage's astronaut photo (512x512, a real face) as BGR uint8."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])
