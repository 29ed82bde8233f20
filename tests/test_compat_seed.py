"""facefuse.compat.seed: the seed pipeline's names as thin shims over the core."""
from __future__ import annotations

import numpy as np
import pytest

import facefuse.ops as ops
import facefuse.reference as ref
from facefuse.benchmarks import make_scene
from facefuse.compat import seed
from facefuse.reference import paste as ref_paste

METHODS = {"basic": "alpha", "multiband": "laplacian", "seamless": "poisson", "poisson": "poisson"}


def test_reexports_are_the_core_classes() -> None:
    assert seed.TemporalSmoother is ops.TemporalSmoother
    assert seed.QualityMonitor is ops.QualityMonitor
    sm = seed.TemporalSmoother(window_size=7, alpha=0.3, enable_adaptive=False)
    assert (sm.window_size, sm.alpha, sm.enable_adaptive) == (7, 0.3, False)
    pts = np.random.default_rng(0).uniform(0, 100, (68, 2)).astype(np.float32)
    assert sm.smooth(pts).shape == (68, 2)
    qm = seed.QualityMonitor()
    frame = np.zeros((8, 8, 3), np.uint8)
    qm.update(frame)
    qm.update(frame)


def test_method_mapping() -> None:
    assert seed.BLEND_METHODS == METHODS
    for method, blend in METHODS.items():
        b = seed.EnhancedBlender(method)
        assert b.blend_mode == blend and b.color is None and b.levels == 5
        assert seed.EnhancedBlender(method, color_correction=True).color == "lab"
    assert seed.EnhancedBlender().method == "basic"
    assert "multiband" in repr(seed.EnhancedBlender("multiband", levels=3))


@pytest.mark.parametrize("method", ["laplacian", "alpha", "", "Basic", None, 3])
def test_bad_method(method) -> None:
    with pytest.raises(ValueError, match="'method'") as info:
        seed.EnhancedBlender(method)  # type: ignore[arg-type]
    assert "basic" in str(info.value) and "multiband" in str(info.value)


def test_bad_levels() -> None:
    with pytest.raises(ValueError, match="'levels'"):
        seed.EnhancedBlender("multiband", levels=0)
    with pytest.raises(TypeError, match="'levels'"):
        seed.EnhancedBlender("multiband", levels=2.5)  # type: ignore[arg-type]


def _scene(faces: int):
    sc = make_scene(180, 240, faces, 64, seed=11)
    if faces == 1:
        return sc.frame, sc.crops[0], sc.masks[0], sc.affines[0]
    return sc.frame, sc.crops, sc.masks, sc.affines


@pytest.mark.parametrize("faces", [1, 3])
@pytest.mark.parametrize("color_correction", [False, True])
@pytest.mark.parametrize("method", list(METHODS))
def test_blend_equals_paste_back(method, color_correction, faces) -> None:
    blend = METHODS[method]
    frame, crop, mask, aff = _scene(faces)
    before = frame.copy()
    b = seed.EnhancedBlender(method, color_correction=color_correction, levels=4)
    got = b.blend(frame, crop, mask, aff)
    want = ops.paste_back(frame, crop, mask, aff, blend=blend, color="lab" if color_correction else None, levels=4)
    assert np.array_equal(got, want)
    assert np.array_equal(frame, before)
    # and against the NumPy / cv2 reference paste-back
    expect = ref.paste_back(frame, crop, mask, aff, blend=blend, color="lab" if color_correction else None, levels=4)
    d = np.abs(got.astype(np.int16) - expect.astype(np.int16))
    if blend == "poisson":
        # The reference Poisson blend is cv2.seamlessClone, whose guidance field differs
        # from the exact Dirichlet solve (src gradients eroded by 3 px): on textured
        # crops they differ by a few grey levels on average inside the mask.
        assert d.mean() < 8
    else:
        assert d.max() <= 2 and d.mean() < 0.5
    # nothing changes outside the faces' paste boxes
    touched = np.zeros(frame.shape[:2], bool)
    for a, c in zip(np.reshape(aff, (-1, 2, 3)), np.reshape(crop, (-1,) + np.shape(crop)[-3:])):
        # ops.paste_back's own box (floor / ceil of the exact corners; FaceFusion's rounds them)
        (x1, y1, x2, y2), _, _ = ref_paste.paste_geometry(frame.shape, np.shape(c), a)
        touched[y1:y2, x1:x2] = True
    assert np.array_equal(got[~touched], frame[~touched])


def test_blend_out_argument() -> None:
    frame, crop, mask, aff = _scene(1)
    out = np.empty_like(frame)
    res = seed.EnhancedBlender("basic").blend(frame, crop, mask, aff, out=out)
    assert res is out
    assert np.array_equal(out, ops.paste_back(frame, crop, mask, aff, blend="alpha"))
