// CPU kernels of the multi-band (Laplacian-pyramid) blend. Plain pointers, no Python.
#pragma once

#include <cstddef>
#include <cstdint>

namespace facefuse {

// Most pyramid levels an h x w image holds (see pyramid_math.hpp: max_levels).
int pyramid_max_levels(int h, int w);

// cv2.pyrDown of a C-contiguous h x w x c float32 image (c = 1 or 3) into
// dst: down_size(h) x down_size(w) x c.
void pyr_down_f32(const float* src, float* dst, int h, int w, int c);
// cv2.pyrUp of a C-contiguous h x w x c float32 image (c = 1 or 3) into
// dst: dh x dw x c with dh in {2h - 1, 2h} and dw in {2w - 1, 2w}.
void pyr_up_f32(const float* src, float* dst, int h, int w, int c, int dh, int dw);

// Multi-band blend of src over dst under mask:
//   out = collapse_k( Gm_k * L_k(src) + (1 - Gm_k) * L_k(dst) )
// with Gm the Gaussian pyramid of mask and L the Laplacian pyramids (cv2.pyrDown /
// cv2.pyrUp semantics), using pyr::clamp_levels(levels, h, w) levels.
// dst, src, out: C-contiguous h x w x c (c = 1 or 3); mask: h x w float32 with
// every value in [0, 1] (see pyramid_mask_status / pyramid_clamp_mask).
// uint8 output is rounded half away from zero and saturated; float32 is not clamped.
// Requires h, w >= 1, c in {1, 3}, levels >= 1.
void blend_laplacian_u8(const std::uint8_t* dst, const std::uint8_t* src, const float* mask, std::uint8_t* out,
                        int h, int w, int c, long long levels);
void blend_laplacian_f32(const float* dst, const float* src, const float* mask, float* out, int h, int w, int c,
                         long long levels);

// 0: every value in [0, 1]; 1: all finite, some outside [0, 1]; 2: some NaN or inf.
int pyramid_mask_status(const float* p, std::size_t n);
// out = clamp(p, 0, 1) (out may equal p).
void pyramid_clamp_mask(const float* p, float* out, std::size_t n);

}  // namespace facefuse
