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


def _plain_forward(c: np.ndarray, tab: np.ndarray, t: int) -> np.ndarray:
    """The oracle: tables looked up per value, RGB planes, FaceFusion's interleaved tiles."""
    n, h, w, _ = c.shape
    rgb = np.stack([tab[k][c[..., 2 - k]] for k in range(3)], axis=1)  # n, 3, h, w
    return rgb.reshape(n, 3, h // t, t, w // t, t).transpose(0, 3, 5, 1, 2, 4).reshape(n * t * t, 3, h // t, w // t)


def _plain_back(y: np.ndarray, t: int, lo: float, hi: float, scale: float, offset: float = 0.0) -> np.ndarray:
    v = np.clip(y, np.float32(lo), np.float32(hi)) + np.float32(offset)
    q = np.rint(v * np.float32(scale))
    q = np.where(np.isnan(q), 255, np.clip(q, 0, 255)).astype(np.uint8)
    m, _, sh, sw = q.shape
    n = m // (t * t)
    return q.reshape(n, t, t, 3, sh, sw).transpose(0, 4, 1, 5, 2, 3).reshape(n, sh * t, sw * t, 3)[..., ::-1]


@pytest.mark.parametrize("shape,t", [((1, 1, 1, 3), 1), ((3, 5, 7, 3), 1), ((2, 6, 9, 3), 3), ((1, 8, 4, 3), 2),
                                     ((2, 384, 384, 3), 3)])
def test_native_conversions_equal_the_plain_layouts(shape, t) -> None:
    from facefuse import _core

    rng = np.random.default_rng(sum(shape) + t)
    tab = value_tables(np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32))
    c = rng.integers(0, 256, shape, np.uint8)
    assert np.array_equal(_core.crops_to_planes(c, tab, t), _plain_forward(c, tab, t))
    view = np.ascontiguousarray(np.concatenate([c, c], axis=2))[:, :, ::2][:, ::-1]  # strided, reversed rows
    assert not view.flags.c_contiguous or view.size == 3  # (a 1-pixel view is contiguous either way)
    assert np.array_equal(_core.crops_to_planes(view, tab, t), _plain_forward(np.ascontiguousarray(view), tab, t))
    n, h, w, _ = shape
    y = (rng.standard_normal((n * t * t, 3, h // t, w // t)) * 1.5).astype(np.float32)
    y.flat[: min(y.size, 7)] = [np.nan, np.inf, -np.inf, 0.5, -1.0, 1.0, 127.5 / 255][: min(y.size, 7)]
    for lo, hi, scale, off in ((0.0, 1.0, 255.0, 0.0), (-1.0, 1.0, 127.5, 1.0)):
        assert np.array_equal(_core.planes_to_crops(y, t, lo, hi, scale, off), _plain_back(y, t, lo, hi, scale, off))
    ties = np.full((n * t * t, 3, h // t, w // t), 0.5, np.float32)  # 127.5 -> 128 (even), 0.5 / 255 -> 0
    ties.flat[::2] = np.float32(0.5) / np.float32(255.0)
    assert np.array_equal(_core.planes_to_crops(ties, t, 0.0, 1.0, 255.0), _plain_back(ties, t, 0.0, 1.0, 255.0))


def test_native_conversions_refuse_bad_arguments() -> None:
    from facefuse import _core

    tab = value_tables(np.zeros(3, np.float32), np.ones(3, np.float32))
    c = np.zeros((1, 8, 8, 3), np.uint8)
    with pytest.raises(TypeError, match="'crops' must be a uint8"):
        _core.crops_to_planes(c.astype(np.float32), tab, 1)
    with pytest.raises(ValueError, match="'crops' must be N x H x W x 3 .* multiples of 'tile' \\(3\\)"):
        _core.crops_to_planes(c, tab, 3)
    with pytest.raises(ValueError, match="'crops' must be N x H x W x 3"):
        _core.crops_to_planes(np.zeros((0, 8, 8, 3), np.uint8), tab, 1)
    with pytest.raises(TypeError, match="'table' must be a float32 3 x 256"):
        _core.crops_to_planes(c, tab[:, :255], 1)
    with pytest.raises(ValueError, match="'tile' must be an int in \\[1, 64\\]"):
        _core.crops_to_planes(c, tab, 0)
    y = np.zeros((4, 3, 4, 4), np.float32)
    with pytest.raises(TypeError, match="'planes' must be a float32"):
        _core.planes_to_crops(y.astype(np.float64), 2, 0.0, 1.0, 255.0)
    with pytest.raises(ValueError, match="'planes' must be \\(N \\* tile \\* tile\\)"):
        _core.planes_to_crops(y, 3, 0.0, 1.0, 255.0)
    with pytest.raises(ValueError, match="'lo' and 'hi'"):
        _core.planes_to_crops(y, 2, 1.0, 0.0, 255.0)
    with pytest.raises(ValueError, match="'offset' must be finite with lo \\+ offset >= 0"):
        _core.planes_to_crops(y, 2, -1.0, 1.0, 255.0)
    with pytest.raises(ValueError, match="'scale' must be"):
        _core.planes_to_crops(y, 2, 0.0, 1.0, float("nan"))
    from numpy.lib.stride_tricks import as_strided  # views of a few bytes that claim 2**32 rows

    with pytest.raises(ValueError, match="'crops' must hold at most 2\\*\\*31 - 1 rows"):
        _core.crops_to_planes(as_strided(c, shape=(1 << 16, 1 << 16, 1, 3), strides=(0, 0, 0, 1)), tab, 1)
    with pytest.raises(ValueError, match="'planes' must make at most 2\\*\\*31 - 1 crop rows"):
        _core.planes_to_crops(as_strided(y, shape=(1 << 16, 3, 1 << 16, 1), strides=(0, 0, 0, 0)), 1, 0.0, 1.0, 255.0)
