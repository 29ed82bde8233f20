// CPU kernels for the quality op family: one pass over a frame pair that
// accumulates the (optionally mask-weighted) squared error in double (exactly
// in integers for unweighted uint8), with an OpenMP reduction over rows.
#include "facefuse/quality.hpp"

#include <algorithm>
#include <cstdint>

#include "facefuse/common.hpp"
#include "facefuse/parallel.hpp"
#include "facefuse/quality_math.hpp"

namespace facefuse::quality {

namespace {

// Below this many samples a pair is summed on one thread (thread start-up costs more).
constexpr std::ptrdiff_t kParallelMin = 1 << 16;

// Unweighted uint8 row: exact integer sum. int32 chunks of 32768 samples cannot
// overflow (65025 * 32768 < 2^31) and keep the d*d accumulation in 32-bit lanes.
inline std::int64_t row_sse_u8(const std::uint8_t* a, const std::uint8_t* b, std::ptrdiff_t n) {
  constexpr std::ptrdiff_t kChunk = 32768;
  std::int64_t total = 0;
  for (std::ptrdiff_t s = 0; s < n; s += kChunk) {
    const std::ptrdiff_t e = std::min(n, s + kChunk);
    std::int32_t acc = 0;
#pragma omp simd reduction(+ : acc)
    for (std::ptrdiff_t i = s; i < e; ++i) acc += sq_diff_u8(a[i], b[i]);
    total += acc;
  }
  return total;
}

inline double row_sse_f32(const float* a, const float* b, std::ptrdiff_t n) {
  double acc = 0.0;
#pragma omp simd reduction(+ : acc)
  for (std::ptrdiff_t i = 0; i < n; ++i) acc += sq_diff_f32(a[i], b[i]);
  return acc;
}

// Weighted rows. C is a compile-time channel count (1, 3, 4) or 0 for "runtime c".
template <int C>
inline void row_masked_u8(const std::uint8_t* a, const std::uint8_t* b, const float* m, std::ptrdiff_t w,
                          int c_rt, double& sse, double& wsum, float& lo, float& hi) {
  const int c = C > 0 ? C : c_rt;
  double s = 0.0, ws = 0.0;
  float mn = lo, mx = hi;
#pragma omp simd reduction(+ : s, ws) reduction(min : mn) reduction(max : mx)
  for (std::ptrdiff_t x = 0; x < w; ++x) {
    std::int32_t p = 0;
    for (int k = 0; k < c; ++k) p += sq_diff_u8(a[x * c + k], b[x * c + k]);
    const float mv = m[x];
    s += weighted_sq(mv, static_cast<double>(p));
    ws += static_cast<double>(mv);
    mn = std::min(mn, mv);
    mx = std::max(mx, mv);
  }
  sse += s;
  wsum += ws;
  lo = mn;
  hi = mx;
}

template <int C>
inline void row_masked_f32(const float* a, const float* b, const float* m, std::ptrdiff_t w, int c_rt,
                           double& sse, double& wsum, float& lo, float& hi) {
  const int c = C > 0 ? C : c_rt;
  double s = 0.0, ws = 0.0;
  float mn = lo, mx = hi;
#pragma omp simd reduction(+ : s, ws) reduction(min : mn) reduction(max : mx)
  for (std::ptrdiff_t x = 0; x < w; ++x) {
    double p = 0.0;
    for (int k = 0; k < c; ++k) p += sq_diff_f32(a[x * c + k], b[x * c + k]);
    const float mv = m[x];
    s += weighted_sq(mv, p);
    ws += static_cast<double>(mv);
    mn = std::min(mn, mv);
    mx = std::max(mx, mv);
  }
  sse += s;
  wsum += ws;
  lo = mn;
  hi = mx;
}

template <int C, typename T, typename RowFn>
SseSums masked_pass(const T* a, std::ptrdiff_t as, const T* b, std::ptrdiff_t bs, const float* m,
                    std::ptrdiff_t ms, std::ptrdiff_t h, std::ptrdiff_t w, int c, RowFn row) {
  double sse = 0.0, wsum = 0.0;
  float mn = m[0], mx = m[0];
  const bool par = h > 1 && h * w * c >= kParallelMin;
#pragma omp parallel for reduction(+ : sse, wsum) reduction(min : mn) reduction(max : mx) schedule(static) if (par)
  for (std::ptrdiff_t y = 0; y < h; ++y) row(a + y * as, b + y * bs, m + y * ms, w, c, sse, wsum, mn, mx);
  SseSums r;
  r.sse = sse;
  r.weight_sum = wsum;
  r.mask_min = mn;
  r.mask_max = mx;
  return r;
}

}  // namespace

SseSums frame_sse_u8(const std::uint8_t* a, std::ptrdiff_t a_stride, const std::uint8_t* b,
                     std::ptrdiff_t b_stride, const float* mask, std::ptrdiff_t m_stride, std::ptrdiff_t h,
                     std::ptrdiff_t w, int c) {
  if (h <= 0 || w <= 0 || c <= 0) return SseSums{};
  if (mask == nullptr) {
    const std::ptrdiff_t n = w * c;
    std::int64_t total = 0;
    const bool par = h > 1 && h * n >= kParallelMin;
#pragma omp parallel for reduction(+ : total) schedule(static) if (par)
    for (std::ptrdiff_t y = 0; y < h; ++y) total += row_sse_u8(a + y * a_stride, b + y * b_stride, n);
    SseSums r;
    r.sse = static_cast<double>(total);
    r.weight_sum = static_cast<double>(h) * static_cast<double>(w);
    return r;
  }
  switch (c) {
    case 1:
      return masked_pass<1>(a, a_stride, b, b_stride, mask, m_stride, h, w, c, row_masked_u8<1>);
    case 3:
      return masked_pass<3>(a, a_stride, b, b_stride, mask, m_stride, h, w, c, row_masked_u8<3>);
    case 4:
      return masked_pass<4>(a, a_stride, b, b_stride, mask, m_stride, h, w, c, row_masked_u8<4>);
    default:
      return masked_pass<0>(a, a_stride, b, b_stride, mask, m_stride, h, w, c, row_masked_u8<0>);
  }
}

SseSums frame_sse_f32(const float* a, std::ptrdiff_t a_stride, const float* b, std::ptrdiff_t b_stride,
                      const float* mask, std::ptrdiff_t m_stride, std::ptrdiff_t h, std::ptrdiff_t w, int c) {
  if (h <= 0 || w <= 0 || c <= 0) return SseSums{};
  if (mask == nullptr) {
    const std::ptrdiff_t n = w * c;
    double total = 0.0;
    const bool par = h > 1 && h * n >= kParallelMin;
#pragma omp parallel for reduction(+ : total) schedule(static) if (par)
    for (std::ptrdiff_t y = 0; y < h; ++y) total += row_sse_f32(a + y * a_stride, b + y * b_stride, n);
    SseSums r;
    r.sse = total;
    r.weight_sum = static_cast<double>(h) * static_cast<double>(w);
    return r;
  }
  switch (c) {
    case 1:
      return masked_pass<1>(a, a_stride, b, b_stride, mask, m_stride, h, w, c, row_masked_f32<1>);
    case 3:
      return masked_pass<3>(a, a_stride, b, b_stride, mask, m_stride, h, w, c, row_masked_f32<3>);
    case 4:
      return masked_pass<4>(a, a_stride, b, b_stride, mask, m_stride, h, w, c, row_masked_f32<4>);
    default:
      return masked_pass<0>(a, a_stride, b, b_stride, mask, m_stride, h, w, c, row_masked_f32<0>);
  }
}

double psnr_from_sums(const SseSums& s, int c) {
  return psnr_from_mse(mse_from_sums(s.sse, s.weight_sum, c));
}

namespace {
template <typename T, typename PairFn>
void sequence(const T* frames, std::ptrdiff_t t, std::ptrdiff_t h, std::ptrdiff_t w, int c, const float* mask,
              double* out, SseSums* sums_out, PairFn pair) {
  const std::ptrdiff_t frame = h * w * c;
  const std::ptrdiff_t row = w * c;
  for (std::ptrdiff_t i = 0; i + 1 < t; ++i) {
    const SseSums s = pair(frames + i * frame, row, frames + (i + 1) * frame, row, mask, w, h, w, c);
    out[i] = psnr_from_sums(s, c);
    if (sums_out) sums_out[i] = s;
  }
}
}  // namespace

void tpsnr_sequence_u8(const std::uint8_t* frames, std::ptrdiff_t t, std::ptrdiff_t h, std::ptrdiff_t w, int c,
                       const float* mask, double* out, SseSums* sums_out) {
  sequence(frames, t, h, w, c, mask, out, sums_out, frame_sse_u8);
}

void tpsnr_sequence_f32(const float* frames, std::ptrdiff_t t, std::ptrdiff_t h, std::ptrdiff_t w, int c,
                        const float* mask, double* out, SseSums* sums_out) {
  sequence(frames, t, h, w, c, mask, out, sums_out, frame_sse_f32);
}

}  // namespace facefuse::quality
