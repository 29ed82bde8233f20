"""compat.facefusion.paste_back stays within 1 grey level of FaceFusion's at mask weights
just under 1, whichever way cv2 rounds a warped uint8 sample that lies at a .5 tie.

cv2.warpAffine stores a uint8 crop's bilinear sample rounded; its float positions
differ from facefuse's by a few ulps (and with OpenCV's CPU dispatch), so a sample we
compute as 32.49996 may be 33 in cv2. FaceFusion's truncating blend at the weight
0.99999976 (the peak of its blurred box mask) turns that 1-level sample difference into
2 (33 -> 33, 32 -> 31). The kernel keeps the unrounded value inside a tie band
(reference.compat_facefusion.u8_tie_sample); these tests check the bound it gives."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from facefuse.compat import facefusion as ff
from facefuse.reference import compat_facefusion as ref_ff
from facefuse.reference.paste import invert_affine, sample_bilinear

CV2_5 = int(cv2.__version__.split(".")[0]) >= 5
PEAK = np.float32(1 - 2.0 ** -22)  # 0.99999976: FaceFusion's blurred box mask at its centre


def _paste_case(rng, size, scale, angle, frame_hw=(700, 900)):
    h, w = frame_hw
    frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    crop = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)  # steep steps: many near-ties
    lin = scale * np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    aff = np.zeros((2, 3))
    aff[:, :2] = lin
    aff[:, 2] = np.array([size / 2, size / 2]) - lin @ np.array([w / 2 + 0.37, h / 2 - 0.21])
    mask = np.full((size, size), PEAK, np.float32)
    return frame, crop, mask, aff


def _blend_truncated(region, warped, m):
    """FaceFusion's blend of a warped uint8 crop: float32, truncated."""
    return (region * (1 - m) + warped.astype(np.float32) * m).astype(np.uint8)


@pytest.mark.parametrize("seed", range(3))
def test_within_one_of_facefusion_at_the_mask_peak(seed):
    """Against FaceFusion's own arithmetic with cv2's warp on this machine: noise crops
    give hundreds of samples where cv2 and facefuse round a tie differently."""
    rng = np.random.default_rng(seed)
    for scale, angle in ((0.8, 0.3), (1.7, -1.1), (0.45, 2.5)):
        frame, crop, mask, aff = _paste_case(rng, 256, scale, angle)
        got = ff.paste_back(frame, crop, mask, aff)
        want = ref_ff.paste_back(frame, crop, mask, aff)
        diff = np.abs(got.astype(int) - want.astype(int))
        assert diff.max() <= 1, (scale, angle, int((diff > 1).sum()))
        assert (diff == 0).mean() > 0.9  # still FaceFusion's own result nearly everywhere


@pytest.mark.skipif(not CV2_5, reason="the tie band is for 5.x's float warp; 4.x's fixed point is emulated exactly")
def test_either_rounding_of_a_tie_stays_within_one():
    """The bound does not depend on how this machine's cv2 rounds: at every sample within
    the tie band, FaceFusion's result with the sample rounded down and with it rounded up
    are both within 1 of the kernel's."""
    rng = np.random.default_rng(11)
    frame, crop, mask, aff = _paste_case(rng, 192, 1.3, 0.7, (500, 600))
    got = ff.paste_back(frame, crop, mask, aff)
    assert np.array_equal(got, ref_ff.paste_back_model(frame, crop, mask, aff))
    (x1, y1, x2, y2), paste_matrix = ref_ff.calculate_paste_area(frame, crop, aff)
    k = invert_affine(np.asarray(paste_matrix, np.float64)).astype(np.float32)
    v, spread = sample_bilinear(crop, k, (x2 - x1, y2 - y1), True, with_range=True)
    v = np.clip(v, 0, 255)
    stored = ref_ff.u8_tie_sample(v, spread, 192)
    in_band = stored != np.rint(stored)
    # the box's inside, where the warped mask is the peak itself (the corners are off the crop)
    inside = sample_bilinear(mask[..., None], k, (x2 - x1, y2 - y1), False) == PEAK
    assert inside.mean() > 0.4 and (in_band & inside).sum() > 100  # the case exercises the band
    region = frame[y1:y2, x1:x2].astype(np.float32)
    ours = got[y1:y2, x1:x2].astype(int)
    old = _blend_truncated(region, np.rint(v), PEAK).astype(int)  # the sample rounded, no band
    for alternative in (np.floor(v), np.ceil(v)):
        warped = np.where(in_band, alternative, np.rint(v))
        theirs = _blend_truncated(region, warped, PEAK).astype(int)
        assert np.abs(ours - theirs)[np.broadcast_to(inside, ours.shape)].max() <= 1
        # the rounded sample, 1 off cv2's at a tie, lands 2 off after the truncating blend
        assert np.abs(old - theirs)[np.broadcast_to(inside, ours.shape)].max() == 2


def test_tie_sample_rule():
    """u8_tie_sample: rounded half to even outside the band, unrounded inside; the band
    widens with the neighbours' range and the crop's extent."""
    v = np.array([32.2, 32.4999, 32.5, 32.5001, 32.8, 254.9, 255.3, -0.2], np.float32)
    flat = ref_ff.u8_tie_sample(v, np.zeros_like(v), 512)
    assert flat.tolist() == pytest.approx([32, 32.4999, 32.5, 32.5001, 33, 255, 255, 0])
    near = np.array([32.46], np.float32)
    assert ref_ff.u8_tie_sample(near, np.zeros(1, np.float32), 512)[0] == 32  # outside 2^-10
    assert ref_ff.u8_tie_sample(near, np.full(1, 255, np.float32), 512)[0] == near[0]  # 255 * 512 * 2^-20 = 0.12
    assert ref_ff.u8_tie_sample(near, np.full(1, 255, np.float32), 64)[0] == 32  # 0.016
