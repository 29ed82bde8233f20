"""One rule for NaN / inf (issue 12, item 5): on the host path every op raises ValueError
naming the float argument that holds one; on the device path the same check runs when
asked for with facefuse.set_device_checks(True) / FACEFUSE_DEVICE_CHECKS=1."""
from __future__ import annotations

import os
import subprocess
import sys
import types

import numpy as np
import pytest

import facefuse as ff
from facefuse import _core, backend

H, W = 24, 20


def _img(c=3):
    return np.random.default_rng(0).random((H, W, c), dtype=np.float32) * 255


def _mask():
    m = np.zeros((H, W), np.float32)
    m[6:18, 5:15] = 1
    return m


AFF = np.array([[1.0, 0.0, -2.0], [0.0, 1.0, -3.0]])
CROP = np.random.default_rng(1).random((12, 12, 3), dtype=np.float32) * 255
CMASK = np.ones((12, 12), np.float32)

# (op, the float arguments, which of them to poison) -> ValueError naming it
CASES = {
    "blend_laplacian": (lambda a: ff.blend_laplacian(a["dst"], a["src"], a["mask"]), ["dst", "src", "mask"]),
    "blend_poisson": (lambda a: ff.blend_poisson(a["dst"], a["src"], a["mask"]), ["dst", "src", "mask"]),
    "gaussian_pyramid": (lambda a: ff.gaussian_pyramid(a["img"], 3), ["img"]),
    "laplacian_pyramid": (lambda a: ff.laplacian_pyramid(a["img"], 3), ["img"]),
    "pyr_down": (lambda a: _core.pyr_down(a["img"]), ["img"]),
    "pyr_up": (lambda a: _core.pyr_up(a["img"], 2 * H, 2 * W), ["img"]),
    "bgr_to_lab": (lambda a: ff.bgr_to_lab(a["img"] / 255), ["img"]),
    "lab_to_bgr": (lambda a: ff.lab_to_bgr(a["lab"]), ["lab"]),
    "color_transfer": (lambda a: ff.color_transfer(a["src"], a["ref"], a["src_mask"], a["ref_mask"]),
                       ["src", "ref", "src_mask", "ref_mask"]),
    "warp_affine": (lambda a: ff.warp_affine(a["img"], a["M"], (W, H)), ["img", "M"]),
    "tpsnr": (lambda a: ff.tpsnr(a["prev"], a["cur"], a["mask"]), ["prev", "cur", "mask"]),
    "paste_back": (lambda a: ff.paste_back(a["frame"], a["crop"], a["crop_mask"], a["affine"]),
                   ["frame", "crop", "crop_mask", "affine"]),
    "paste_back[laplacian]": (lambda a: ff.paste_back(a["frame"], a["crop"], a["crop_mask"], a["affine"],
                                                      blend="laplacian"), ["frame", "crop", "crop_mask", "affine"]),
    "paste_back[poisson]": (lambda a: ff.paste_back(a["frame"], a["crop"], a["crop_mask"], a["affine"],
                                                    blend="poisson"), ["frame", "crop", "crop_mask", "affine"]),
}


def _args() -> dict[str, np.ndarray]:
    return {"dst": _img(), "src": _img(), "mask": _mask(), "img": _img(), "lab": _img() / 3, "ref": _img(),
            "src_mask": _mask(), "ref_mask": _mask(), "M": AFF.copy(), "prev": _img(), "cur": _img(),
            "frame": _img(), "crop": CROP.copy(), "crop_mask": CMASK.copy(), "affine": AFF.copy()}


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("op", list(CASES))
def test_host_ops_reject_nonfinite(op, bad):
    run, names = CASES[op]
    run(_args())  # the clean inputs are accepted
    for name in names:
        a = _args()
        arr = a[name]
        arr.reshape(-1)[arr.size // 2] = bad  # one value, inside the mask / paste box
        with pytest.raises(ValueError, match=f"'{name}'"):
            run(a)


def test_one_nan_does_not_spread_silently():
    """The reported case: one NaN pixel in a 64x64 image used to spread to most of the
    pyramid's 12,288 output values."""
    img = np.zeros((64, 64, 3), np.float32)
    img[20, 30, 1] = np.nan
    with pytest.raises(ValueError, match="laplacian_pyramid: argument 'img' must be finite"):
        ff.laplacian_pyramid(img, 4)


# ---- the device path: a stand-in device array and CuPy module (no GPU needed) ---------


class _DeviceArray:
    """A host array that claims to live on a GPU (has __cuda_array_interface__)."""

    def __init__(self, a: np.ndarray) -> None:
        self.a = a
        self.dtype, self.shape, self.size, self.ndim = a.dtype, a.shape, a.size, a.ndim

    @property
    def __cuda_array_interface__(self):
        return {"shape": self.a.shape, "typestr": self.a.dtype.str, "data": (self.a.ctypes.data, False),
                "strides": None, "version": 3, "stream": 1}


def _fake_cupy() -> types.ModuleType:
    mod = types.ModuleType("cupy")
    mod.asarray = lambda x: x.a if isinstance(x, _DeviceArray) else np.asarray(x)
    mod.isfinite = np.isfinite
    return mod


@pytest.fixture
def device_checks(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy())
    previous = ff.set_device_checks(True)
    yield
    ff.set_device_checks(previous)


DEVICE_CASES = {
    "blend_laplacian": (lambda a: ff.blend_laplacian(a["dst"], a["src"], a["mask"]), ["dst", "src", "mask"]),
    "bgr_to_lab": (lambda a: ff.bgr_to_lab(a["img"]), ["img"]),
    "lab_to_bgr": (lambda a: ff.lab_to_bgr(a["lab"]), ["lab"]),
    "color_transfer": (lambda a: ff.color_transfer(a["src"], a["ref"], a["src_mask"], a["ref_mask"]),
                       ["src", "ref", "src_mask", "ref_mask"]),
    "LandmarkSmoother.update": (lambda a: ff.LandmarkSmoother().update(a["landmarks"], np.arange(2)), ["landmarks"]),
}


def _device_args(poison: str | None, value: float = np.nan) -> dict:
    host = _args()
    host["landmarks"] = np.random.default_rng(2).random((2, 5, 2), dtype=np.float32) * 50
    if poison is not None:
        host[poison].reshape(-1)[3] = value
    return {k: _DeviceArray(v) for k, v in host.items()}


@pytest.mark.parametrize("op", list(DEVICE_CASES))
def test_device_checks_on(device_checks, op):
    run, names = DEVICE_CASES[op]
    for name in names:
        with pytest.raises(ValueError, match=f"{op}: argument '{name}' must be finite"):
            run(_device_args(name))


def test_device_checks_mask_range(device_checks):
    a = _device_args(None)
    a["src_mask"].a[0, 0] = 1.5
    with pytest.raises(ValueError, match="argument 'src_mask' must hold values in \\[0, 1\\]"):
        ff.color_transfer(a["src"], a["ref"], a["src_mask"], a["ref_mask"])


@pytest.mark.parametrize("op", list(DEVICE_CASES))
def test_device_checks_off_by_default(monkeypatch, op):
    """Off: no reduction, no sync; the call goes on to the GPU path (which here, with no
    usable CUDA module, stops with its own error, not the finite check's)."""
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy())
    assert not ff.device_checks()
    run, names = DEVICE_CASES[op]
    with pytest.raises(Exception) as info:
        run(_device_args(names[0]))
    assert "must be finite" not in str(info.value)


def test_device_checks_setting(monkeypatch):
    assert ff.set_device_checks(True) is False and ff.device_checks()
    assert ff.set_device_checks(False) is True and not ff.device_checks()
    with pytest.raises(TypeError, match="'enabled'"):
        ff.set_device_checks("yes")
    env = dict(os.environ, FACEFUSE_DEVICE_CHECKS="1")
    out = subprocess.run([sys.executable, "-c", "import facefuse; print(facefuse.device_checks())"], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"
    assert backend.device_checks() is False
