// Crop <-> model tensor conversions of the swap / enhancer models: uint8 BGR crops
// (N x H x W x 3) to float32 RGB planes (N*t*t x 3 x H/t x W/t) through a per-channel
// table of the 256 uint8 values, and back (clip, offset, scale, round half to even),
// with FaceFusion's interleaved pixel-boost tiles (t > 1) folded into the same pass.
#pragma once

#include <cstdint>

namespace facefuse::tensors {

// out[(k*t*t + i*t + j), c, r, q] = table[c][crops[k, r*t + i, q*t + j, 2 - c]]
// (crops C-contiguous n x h x w x 3; h, w multiples of t; table 3 x 256, RGB order).
void crops_to_planes(const std::uint8_t* crops, int n, int h, int w, int t, const float* table, float* out);

// The inverse layout: out[k, r*t + i, q*t + j, 2 - c] = u8(planes[(k*t*t + i*t + j), c, r, q]) with
// u8(v) = rint((clip(v, lo, hi) + offset) * scale) in float32 steps, ties to even, saturated
// to 0..255 (NaN -> 255, as OpenCV's convertScaleAbs).
void planes_to_crops(const float* planes, int n, int h, int w, int t, float lo, float hi, float offset, float scale,
                     std::uint8_t* out);

}  // namespace facefuse::tensors
