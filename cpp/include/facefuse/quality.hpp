// CPU kernel API of the quality op family (temporal PSNR). Plain pointers and
// sizes; no Python. Rows may be strided (stride in elements, may be negative),
// but the samples inside a row (W * C of them) are contiguous.
#pragma once

#include <cstddef>
#include <cstdint>

namespace facefuse::quality {

// Sums one pass over a frame pair produces.
struct SseSums {
  double sse = 0.0;        // sum over pixels of mask * sum_c (a - b)^2 (mask = 1 without one)
  double weight_sum = 0.0; // sum of the mask (H * W without one)
  float mask_min = 0.f;    // smallest / largest mask value (0 / 0 without one), for validation
  float mask_max = 0.f;
};

// One frame pair. `mask` may be null (unweighted); otherwise H x W float32 with row
// stride `m_stride`. OpenMP reduction over rows, double accumulation.
SseSums frame_sse_u8(const std::uint8_t* a, std::ptrdiff_t a_stride, const std::uint8_t* b,
                     std::ptrdiff_t b_stride, const float* mask, std::ptrdiff_t m_stride,
                     std::ptrdiff_t h, std::ptrdiff_t w, int c);
SseSums frame_sse_f32(const float* a, std::ptrdiff_t a_stride, const float* b, std::ptrdiff_t b_stride,
                      const float* mask, std::ptrdiff_t m_stride, std::ptrdiff_t h, std::ptrdiff_t w, int c);

// PSNR (dB, peak 255) from the sums: +inf for identical frames, NaN when the
// weights sum to 0 or the data were not finite (the caller validates).
double psnr_from_sums(const SseSums& s, int c);

// A sequence [T, H, W, C] (C-contiguous): out[t] = tPSNR(frames[t], frames[t + 1]) for
// t < T - 1. `mask` (H x W, contiguous) may be null. `sums_out` (T - 1 entries) may be
// null; when given it receives each pair's sums (for validation).
void tpsnr_sequence_u8(const std::uint8_t* frames, std::ptrdiff_t t, std::ptrdiff_t h, std::ptrdiff_t w,
                       int c, const float* mask, double* out, SseSums* sums_out);
void tpsnr_sequence_f32(const float* frames, std::ptrdiff_t t, std::ptrdiff_t h, std::ptrdiff_t w, int c,
                        const float* mask, double* out, SseSums* sums_out);

}  // namespace facefuse::quality
