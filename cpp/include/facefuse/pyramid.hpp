// CPU kernels of the multi-band (Laplacian-pyramid) blend. Plain pointers, no Python.
#pragma once

#include <cstddef>
#include <cstdint>

namespace facefuse {

// Most pyramid levels an h x w image holds (see pyramid_math.hpp: max_levels).
int pyramid_max_levels(int h, int w);

// Multi-band blend of src over dst under mask:
//   out = collapse_k( Gm_k * L_k(src) + (1 - Gm_k) * L_k(dst) )
// with Gm the Gaussian pyramid of mask and L the Laplacian pyramids (cv2.pyrDown /
// cv2.pyrUp semantics), using min(levels, pyramid_max_levels(h, w)) levels.
// dst, src, out: C-contiguous h x w x c (c = 1 or 3); mask: h x w float32.
// uint8 output is rounded half away from zero and saturated; float32 is not clamped.
// Requires h, w >= 1, c in {1, 3}, levels >= 1.
void blend_laplacian_u8(const std::uint8_t* dst, const std::uint8_t* src, const float* mask, std::uint8_t* out,
                        int h, int w, int c, int levels);
void blend_laplacian_f32(const float* dst, const float* src, const float* mask, float* out, int h, int w, int c,
                         int levels);

// True when no element is NaN or +-inf.
bool pyramid_all_finite(const float* p, std::size_t n);

}  // namespace facefuse
