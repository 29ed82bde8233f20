"""patch() / unpatch() of FaceFusion's per-face hot paths on a fake ``facefusion`` package
built here (its functions are facefuse.reference.compat_facefusion's, FaceFusion's semantics)."""
from __future__ import annotations

import importlib
import sys
import textwrap

import numpy as np
import pytest

from facefuse.compat import facefusion as ff
from facefuse.reference import compat_facefusion as ref_ff

FILES = {
    "__init__.py": "",
    "face_helper.py": """
        from facefuse.reference import compat_facefusion as _r

        def paste_back(temp_vision_frame, crop_vision_frame, crop_vision_mask, affine_matrix):
            return _r.paste_back(temp_vision_frame, crop_vision_frame, crop_vision_mask, affine_matrix)
    """,
    "face_masker.py": """
        from facefuse.reference import compat_facefusion as _r
        CALLS = [0]

        def create_box_mask(crop_vision_frame, face_mask_blur, face_mask_padding):
            CALLS[0] += 1
            return _r.create_box_mask(crop_vision_frame, face_mask_blur, face_mask_padding)
    """,
    "hash_helper.py": """
        import zlib

        def create_hash(content):
            return format(zlib.crc32(content), '08x')
    """,
    "face_store.py": """
        from facefusion.hash_helper import create_hash
        STORE = {}

        def get_faces(vision_frame):
            return STORE.get(create_hash(vision_frame.tobytes()))

        def set_faces(vision_frame, faces):
            STORE[create_hash(vision_frame.tobytes())] = faces
    """,
    "vision.py": """
        import cv2

        def blend_frame(source_vision_frame, target_vision_frame, blend_factor):
            return cv2.addWeighted(source_vision_frame, 1 - blend_factor, target_vision_frame, blend_factor, 0)
    """,
    "processors/__init__.py": "",
    "processors/pixel_boost.py": """
        from facefuse.reference import compat_facefusion as _r

        def implode_pixel_boost(crop_vision_frame, pixel_boost_total, model_size):
            return _r.implode_pixel_boost(crop_vision_frame, pixel_boost_total, model_size)

        def explode_pixel_boost(temp_vision_frames, pixel_boost_total, model_size, pixel_boost_size):
            return _r.explode_pixel_boost(temp_vision_frames, pixel_boost_total, model_size, pixel_boost_size)
    """,
    "processors/modules/__init__.py": "",
    "processors/modules/face_swapper/__init__.py": "",
    "processors/modules/face_swapper/core.py": """
        import numpy
        from facefusion.face_helper import paste_back
        from facefusion.face_masker import create_box_mask
        from facefusion.processors.pixel_boost import explode_pixel_boost, implode_pixel_boost
        OPTIONS = {'mean': [0.0, 0.0, 0.0], 'standard_deviation': [1.0, 1.0, 1.0]}

        def get_model_options():
            return OPTIONS

        def prepare_crop_frame(crop_vision_frame):
            o = get_model_options()
            x = crop_vision_frame[:, :, ::-1] / 255.0
            x = (x - o['mean']) / o['standard_deviation']
            return numpy.expand_dims(x.transpose(2, 0, 1), axis=0).astype(numpy.float32)

        def swap_face(temp_vision_frame, crop_vision_frame, affine_matrix, total, model_size):
            mask = create_box_mask(crop_vision_frame, 0.3, (0, 0, 0, 0))
            tiles = []
            for tile in implode_pixel_boost(crop_vision_frame, total, model_size):
                x = prepare_crop_frame(tile)[0] * 0.9 + 0.05  # the model
                tiles.append(x.transpose(1, 2, 0).clip(0, 1)[:, :, ::-1] * 255)
            crop = explode_pixel_boost(tiles, total, model_size, (model_size[0] * total, model_size[1] * total))
            return paste_back(temp_vision_frame, crop, mask.clip(0, 1), affine_matrix)
    """,
    "processors/modules/face_enhancer/__init__.py": "",
    "processors/modules/face_enhancer/core.py": """
        import numpy
        from facefuse.reference import compat_facefusion as _r
        from facefusion.face_helper import paste_back
        from facefusion.face_masker import create_box_mask
        from facefusion.vision import blend_frame

        def prepare_crop_frame(crop_vision_frame):
            x = crop_vision_frame[:, :, ::-1] / 255.0
            x = (x - 0.5) / 0.5
            return numpy.expand_dims(x.transpose(2, 0, 1), axis=0).astype(numpy.float32)

        def normalize_crop_frame(crop_vision_frame):
            return _r.enhancer_normalize_crop_frame(crop_vision_frame)

        def enhance_face(temp_vision_frame, crop_vision_frame, affine_matrix, blend):
            mask = create_box_mask(crop_vision_frame, 0.3, (0, 0, 0, 0))
            x = prepare_crop_frame(crop_vision_frame)[0] * 0.95  # the model
            crop = normalize_crop_frame(x)  # strides (w, 1, -h*w), as gfpgan's
            paste = paste_back(temp_vision_frame, crop, mask.clip(0, 1), affine_matrix)
            return blend_frame(temp_vision_frame, paste, 1 - (1 - blend / 100))
    """,
}

SWAPPER = "facefusion.processors.modules.face_swapper.core"
ENHANCER = "facefusion.processors.modules.face_enhancer.core"


def _drop() -> None:
    for name in [n for n in sys.modules if n == "facefusion" or n.startswith("facefusion.")]:
        del sys.modules[name]


@pytest.fixture
def fake_ff(tmp_path, monkeypatch):
    root = tmp_path / "ffroot"
    for rel, text in FILES.items():
        p = root / "facefusion" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    _drop()
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    yield root
    ff.unpatch()
    _drop()


def _scene(rng, h=180, w=240, cs=128):
    import cv2

    frame = cv2.resize(rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8), (w, h))
    crop = cv2.resize(rng.integers(0, 256, (cs // 8, cs // 8, 3), dtype=np.uint8), (cs, cs))
    a, s = rng.uniform(-0.3, 0.3), cs / (0.5 * h)
    lin = s * np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
    aff = np.zeros((2, 3))
    aff[:, :2] = lin
    aff[:, 2] = np.array([cs / 2, cs / 2]) - lin @ np.array([w * rng.uniform(0.3, 0.7), h * rng.uniform(0.3, 0.7)])
    return frame, crop, aff


def _attrs():
    return {name: dict(vars(mod)) for name, mod in sys.modules.items()
            if mod is not None and (name == "facefusion" or name.startswith("facefusion."))}


def test_patch_hot_paths_same_results_and_unpatch_restores(fake_ff, rng) -> None:
    swapper = importlib.import_module(SWAPPER)
    enhancer = importlib.import_module(ENHANCER)
    import facefusion.face_masker as masker
    import facefusion.face_store as store
    import facefusion.hash_helper as hh

    before = _attrs()
    frame, crop, aff = _scene(rng)
    crop512 = np.repeat(np.repeat(crop, 2, axis=0), 2, axis=1)
    want_swap = swapper.swap_face(frame, crop512, aff * 2 * np.array([[1, 1, 1], [1, 1, 1]]), 4, (64, 64))
    want_enh = enhancer.enhance_face(frame, crop, aff, 80)
    want_prep = (swapper.prepare_crop_frame(crop), enhancer.prepare_crop_frame(crop))
    want_mask = masker.create_box_mask(crop, 0.3, (0, 0, 0, 0))

    targets = set(ff.patch())
    assert {"facefusion.face_helper.paste_back", "facefusion.face_masker.create_box_mask",
            f"{SWAPPER}.create_box_mask", f"{ENHANCER}.create_box_mask",
            "facefusion.processors.pixel_boost.implode_pixel_boost", f"{SWAPPER}.explode_pixel_boost",
            "facefusion.face_store.create_hash", f"{ENHANCER}.blend_frame", f"{ENHANCER}.prepare_crop_frame",
            f"{SWAPPER}.prepare_crop_frame", f"{ENHANCER}.paste_back", f"{ENHANCER}.normalize_crop_frame"} <= targets
    assert hh.create_hash is before["facefusion.hash_helper"]["create_hash"]  # only the face store's copy
    assert "facefusion.vision.blend_frame" not in targets  # only the enhancer's blend is folded

    for _ in range(2):  # the second pass: cached box mask, checked table
        got_swap = swapper.swap_face(frame, crop512, aff * 2 * np.array([[1, 1, 1], [1, 1, 1]]), 4, (64, 64))
        got_enh = enhancer.enhance_face(frame, crop, aff, 80)
        assert np.abs(got_swap.astype(int) - want_swap.astype(int)).max() <= 1
        assert np.abs(got_enh.astype(int) - want_enh.astype(int)).max() <= 1
        assert np.array_equal(swapper.prepare_crop_frame(crop), want_prep[0])
        assert np.array_equal(enhancer.prepare_crop_frame(crop), want_prep[1])
    calls = masker.CALLS[0]
    m = masker.create_box_mask(crop, 0.3, (0, 0, 0, 0))
    assert masker.CALLS[0] == calls and np.array_equal(m, want_mask) and m.dtype == want_mask.dtype
    m[:] = 7  # callers may modify what they get: the cache holds its own copy
    assert np.array_equal(masker.create_box_mask(crop, 0.3, (0, 0, 0, 0)), want_mask)
    assert not np.array_equal(masker.create_box_mask(crop, 0.5, (0, 0, 0, 0)), want_mask)
    assert masker.create_box_mask(crop[:100], 0.3, (0, 0, 0, 0)).shape == (128, 100)  # FaceFusion's (w, h)

    # the model options are followed: a new mean changes the table
    swapper.OPTIONS["mean"] = [0.5, 0.25, 0.0]
    got = swapper.prepare_crop_frame(crop)
    swapper.OPTIONS["mean"] = [0.0, 0.0, 0.0]
    assert np.array_equal(got, ref_ff.prepare_crop_frame(crop, [0.5, 0.25, 0.0], [1.0, 1.0, 1.0]))

    # the face store still finds what it stored; its keys are the fast hash's
    store.set_faces(frame, ["face"])
    assert store.get_faces(frame) == ["face"] and store.get_faces(frame[::-1].copy()) is None
    assert all(len(k) == 16 for k in store.STORE)

    ff.unpatch()
    after = _attrs()
    for name, attrs in before.items():
        for k, v in attrs.items():
            assert after[name].get(k) is v, f"{name}.{k} not restored"
    assert not ff.is_patched() and ff.patched_targets() == []


def test_blend_fold_exact_and_fallback(fake_ff, rng) -> None:
    import cv2

    enhancer = importlib.import_module(ENHANCER)
    ff.patch()
    frame, crop, aff = _scene(rng)
    mask = ref_ff.create_box_mask(crop, 0.3, (0, 0, 0, 0))
    for f in (0.0, 0.37, 0.8, 1.0):
        paste = ff.paste_back(frame, crop, mask, aff)
        want = cv2.addWeighted(frame, 1 - f, paste, f, 0)
        got = enhancer.blend_frame(frame, paste, f)
        assert got is paste and np.array_equal(got, want)
    other = frame[::-1].copy()  # not the last paste's pair: FaceFusion's own blend
    got = enhancer.blend_frame(frame, other, 0.5)
    assert got is not other and np.array_equal(got, cv2.addWeighted(frame, 0.5, other, 0.5, 0))


def test_patch_picks_up_late_processors_and_is_idempotent(fake_ff) -> None:
    ff.patch()
    enhancer = importlib.import_module(ENHANCER)  # imported after patch(): the sweep targets are its copies
    assert enhancer.paste_back is ff.paste_back
    assert f"{ENHANCER}.prepare_crop_frame" not in ff.patched_targets()
    ff.patch()  # again, after the import: the processor-specific targets too
    assert f"{ENHANCER}.prepare_crop_frame" in ff.patched_targets()
    n = len(ff.patched_targets())
    ff.patch()
    assert len(ff.patched_targets()) == n
    ff.unpatch()
    assert enhancer.paste_back.__module__ == "facefusion.face_helper"
    assert enhancer.create_box_mask.__module__ == "facefusion.face_masker"


def test_hot_fallbacks_to_original(fake_ff) -> None:
    ff.patch()
    import facefusion.processors.pixel_boost as pb

    odd = np.zeros((6, 6, 3), np.int16)  # a dtype the native shuffles do not take
    assert np.array_equal(pb.implode_pixel_boost(odd, 2, (3, 3)), ref_ff.implode_pixel_boost(odd, 2, (3, 3)))
    tiles = [np.zeros((3, 3, 3), np.float32), np.zeros((3, 3, 3), np.float64)] * 2  # mixed dtypes
    got = pb.explode_pixel_boost(tiles, 2, (3, 3), (6, 6))
    assert got.dtype == np.float64 and got.shape == (6, 6, 3)


def test_enhancer_normalize_bit_identical_and_guarded(fake_ff, rng) -> None:
    """The enhancer's normalize_crop_frame: the same values, dtype and strides as FaceFusion's
    for any float32 layout; NaN, other dtypes and a version computing otherwise go to the original."""
    from facefuse import _core
    from facefuse.compat import _ff_hot

    enhancer = importlib.import_module(ENHANCER)
    ff.patch()
    probe = _ff_hot._normalize_probe()
    base = (rng.standard_normal((3, 67, 45)) * 0.8).astype(np.float32)
    cases = [probe, base, base[:, ::-1, ::2], np.ascontiguousarray(base.transpose(1, 2, 0)).transpose(2, 0, 1),
             np.ones((3, 1, 1), np.float32) * 0.3]
    for x in cases[2:] + cases * 2:  # the first call (a non-contiguous output) checks, later ones go native
        want = ref_ff.enhancer_normalize_crop_frame(x)
        got = enhancer.normalize_crop_frame(x)
        assert got.dtype == np.uint8 and got.shape == want.shape and np.array_equal(got, want)
        if x.flags.c_contiguous and x.size >= 3 * 1024:
            assert got.strides == want.strides
    nan = base.copy()
    nan[1, 3, 4] = np.nan
    assert _core.ff_enhancer_normalize(nan) is None
    with np.errstate(invalid="ignore"):  # numpy's uint8 cast of NaN
        assert np.array_equal(enhancer.normalize_crop_frame(nan), ref_ff.enhancer_normalize_crop_frame(nan))
    f64 = base.astype(np.float64)
    assert np.array_equal(enhancer.normalize_crop_frame(f64), ref_ff.enhancer_normalize_crop_frame(f64))
    with pytest.raises(TypeError, match="crop_vision_frame"):
        _core.ff_enhancer_normalize(f64)
    with pytest.raises(ValueError, match="crop_vision_frame"):
        _core.ff_enhancer_normalize(base[0])

    # a FaceFusion whose conversion differs (truncation instead of rounding): the check turns the native pass off
    def other(x):
        return (((np.clip(x, -1, 1) + 1) / 2).transpose(1, 2, 0) * 255.0).astype(np.uint8)[:, :, ::-1]

    fn = enhancer.normalize_crop_frame
    assert dict(zip(fn.__code__.co_freevars, (c.cell_contents for c in fn.__closure__)))["state"]["ok"]
    guarded = _ff_hot.make_enhancer_normalize_crop_frame(other)
    for _ in range(2):
        assert np.array_equal(guarded(base), other(base))


def test_repatch_reuses_replacements_and_their_cache(fake_ff, rng) -> None:
    """unpatch() then patch(): the same replacement objects come back, the box-mask cache warm."""
    swapper = importlib.import_module(SWAPPER)
    import facefusion.face_masker as masker

    _frame, crop, _aff = _scene(rng)
    ff.patch()
    first = swapper.create_box_mask
    m1 = swapper.create_box_mask(crop, 0.3, (0, 0, 0, 0))
    calls = masker.CALLS[0]
    ff.unpatch()
    assert swapper.create_box_mask is first.__wrapped__
    ff.patch()
    assert swapper.create_box_mask is first
    assert np.array_equal(swapper.create_box_mask(crop, 0.3, (0, 0, 0, 0)), m1) and masker.CALLS[0] == calls
