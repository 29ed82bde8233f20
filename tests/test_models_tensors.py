"""The host fast paths of the crop <-> tensor conversions equal the plain NumPy expressions."""
from __future__ import annotations

import numpy as np
import pytest

from facefuse.models._tensors import bgr_to_nchw, nchw_to_bgr, value_tables


@pytest.mark.parametrize("mean,std", [((0, 0, 0), (1, 1, 1)), ((0.5,) * 3, (0.5,) * 3),
                                      ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
def test_bgr_to_nchw_is_the_plain_expression(mean, std) -> None:
    c = np.random.default_rng(0).integers(0, 256, (3, 40, 40, 3), np.uint8)
    c[0, 0, :4] = [[0, 0, 0], [255, 255, 255], [1, 2, 3], [254, 128, 127]]
    m, s = np.array(mean, np.float32), np.array(std, np.float32)
    want = ((c[..., ::-1].astype(np.float32) / 255.0 - m) / s).transpose(0, 3, 1, 2)
    assert np.array_equal(bgr_to_nchw(c, value_tables(m, s)), want)


def test_nchw_to_bgr_is_the_plain_expression() -> None:
    rng = np.random.default_rng(1)
    y = (rng.standard_normal((2, 3, 50, 50)) * 1.5).astype(np.float32)
    grid = np.linspace(-1.2, 1.2, 2 * 3 * 50 * 50, dtype=np.float32).reshape(2, 3, 50, 50)  # every rounding edge
    grid[0, :, 0, :4] = [0.5, 0.0, 1.0, -1.0]  # exact ties: 0.5 * 255 = 127.5, (0 + 1) * 127.5 (to even: 128)
    for x in (y, grid):
        swapper = np.rint(np.clip(x, 0, 1).transpose(0, 2, 3, 1)[..., ::-1] * 255.0).astype(np.uint8)
        assert np.array_equal(nchw_to_bgr(x, 0.0, 1.0, 255.0), swapper)
        enhancer = (((np.clip(x, -1, 1) + 1) / 2).transpose(0, 2, 3, 1) * 255.0).round().astype(np.uint8)[..., ::-1]
        assert np.array_equal(nchw_to_bgr(x, -1.0, 1.0, 127.5, offset=1.0), enhancer)


@pytest.mark.parametrize("boost", [256, 384, 512])
def test_tile_paths_equal_split_then_convert(boost) -> None:
    from facefuse.models._tensors import bgr_tiles_to_nchw, nchw_tiles_to_bgr
    from facefuse.models.pixel_boost import join_tiles, split_tiles

    rng = np.random.default_rng(boost)
    crops = rng.integers(0, 256, (2, boost, boost, 3), np.uint8)
    tab = value_tables(np.zeros(3, np.float32), np.ones(3, np.float32))
    assert np.array_equal(bgr_tiles_to_nchw(crops, 128, tab), bgr_to_nchw(split_tiles(crops, 128), tab))
    t = (boost // 128) ** 2
    y = (rng.standard_normal((2 * t, 3, 128, 128)) * 0.6 + 0.5).astype(np.float32)
    assert np.array_equal(nchw_tiles_to_bgr(y, boost, 0.0, 1.0, 255.0), join_tiles(nchw_to_bgr(y, 0.0, 1.0, 255.0), boost))
