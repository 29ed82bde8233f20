"""FaceFusion drop-in benchmarks: facefuse.compat.facefusion.paste_back ("native") vs the
FaceFusion-way NumPy / cv2 paste-back ("reference"), 512 x 512 crops pasted one after the
other (as FaceFusion's processors do) into 1080p and 4K frames with 1 and 4 faces."""
from __future__ import annotations

import numpy as np
import pytest

import facefuse.ops as ops
from facefuse.benchmarks import make_scene
from facefuse.reference import compat_facefusion as ref_ff

pytestmark = pytest.mark.skipif(not hasattr(ops, "paste_back"), reason="facefuse.ops.paste_back not built yet")

SIZES = [(1080, 1920), (2160, 3840)]


def _paste_all(fn, sc, faces):
    out = sc.frame
    for k in range(faces):
        out = fn(out, sc.crops[k], sc.masks[k], sc.affines[k])
    return out


@pytest.mark.parametrize("impl", ["reference", "native"])
@pytest.mark.parametrize("faces", [1, 4])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[1]}x{s[0]}")
def test_compat_facefusion_paste_back(benchmark, size, faces, impl):
    from facefuse.compat import facefusion as ff

    h, w = size
    sc = make_scene(h, w, faces, 512, seed=7)
    benchmark.group = f"compat.facefusion.paste_back {w}x{h} {faces}x512 uint8"
    benchmark.extra_info["impl"] = impl
    fn = ff.paste_back if impl == "native" else ref_ff.paste_back
    out = benchmark.pedantic(_paste_all, args=(fn, sc, faces), rounds=7 if h > 1080 else 15,
                             iterations=1, warmup_rounds=1)
    assert out.shape == sc.frame.shape and out.dtype == np.uint8
    expect = _paste_all(ref_ff.paste_back, sc, faces)
    assert np.max(np.abs(out.astype(np.int16) - expect.astype(np.int16))) <= 1
