// CPU kernels of the paste family: facefuse's bilinear affine warp and the fused
// paste-back of warped face crops into a frame. Plain pointers, no Python.
// Images are C-contiguous, interleaved, 3 channels unless stated.
#pragma once

#include <cstdint>

#include "facefuse/paste_math.hpp"

namespace facefuse::paste {

// The bilinear warp of paste_math.hpp (cv2.warpAffine's arguments: M, (dw, dh),
// edge pixels or 0 outside) of an sh x sw x c image (c in 1..4),
// M the forward (src -> dst) 2x3 matrix. Returns false (dst untouched) when M is
// singular.
bool warp_affine_u8(const std::uint8_t* src, int sh, int sw, int c, std::uint8_t* dst, int dh, int dw,
                    const double* M, bool replicate);
bool warp_affine_f32(const float* src, int sh, int sw, int c, float* dst, int dh, int dw, const double* M,
                     bool replicate);

enum class Blend { alpha = 0, laplacian = 1, poisson = 2 };

// One face: an h x w x 3 crop, its h x w float32 mask (any finite values, used as
// mask_weight: clipped to [0, 1] before and after the warp) and the geometry from
// paste_setup.
template <typename T>
struct Face {
  const T* crop;
  const float* mask;
  int h, w;
  PasteBox box;
  float warp[6];
};

// Pastes faces[0..n) in order into the H x W x 3 image `img` (in place).
// alpha: one fused pass over each paste box; laplacian: the warped crop and mask
// are blended into the box with blend_laplacian_*(levels); poisson: with
// blend_poisson_* (kPoissonTol, kPoissonMaxIter; levels unused). color_lab: the warped
// crop first gets the LAB mean/std of the frame's box under the warped mask
// (color::color_transfer; skipped when the warped mask is all zero).
void paste_back_u8(std::uint8_t* img, int H, int W, const Face<std::uint8_t>* faces, int n, Blend blend,
                   bool color_lab, long long levels);
void paste_back_f32(float* img, int H, int W, const Face<float>* faces, int n, Blend blend, bool color_lab,
                    long long levels);

// The warped crop (stored in its dtype) and clipped warped mask of one face's box:
// warped bh x bw x 3, mask bh x bw (bh, bw: the box size, both >= 1).
void warp_face_u8(const Face<std::uint8_t>& f, std::uint8_t* warped, float* mask);
void warp_face_f32(const Face<float>& f, float* warped, float* mask);

// dst = src rows (parallel copy of n_rows rows of row_bytes each, strides in bytes).
void copy_rows(const void* src, std::int64_t src_stride, void* dst, std::int64_t dst_stride, int n_rows,
               std::int64_t row_bytes);

}  // namespace facefuse::paste
