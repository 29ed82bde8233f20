// CPU kernels for the quality op family: one pass over a frame pair that
// accumulates the (optionally mask-weighted) squared error in double (exactly
// in integers for unweighted uint8), with an OpenMP reduction over rows.
#include "facefuse/quality.hpp"

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "facefuse/common.hpp"
#include "facefuse/parallel.hpp"
#include "facefuse/quality_math.hpp"

namespace facefuse::quality {

namespace {

// Below this many samples a pair is summed on one thread (waking the team costs
// more): the unweighted uint8 pass runs at ~20 samples/ns per core, the others slower.
constexpr std::ptrdiff_t kParallelMinU8 = 1 << 18;
constexpr std::ptrdiff_t kParallelMin = 1 << 16;

// x86-64 builds are portable (SSE2 baseline); the row functions also get an AVX2
// clone picked at load time (GCC function multi-versioning).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__ELF__)
#define FF_ROW_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define FF_ROW_CLONES
#endif

// Unweighted uint8 row: exact integer sum. int32 chunks of 32768 samples cannot
// overflow (65025 * 32768 < 2^31) and keep the d*d accumulation in 32-bit lanes.
FF_ROW_CLONES std::int64_t row_sse_u8(const std::uint8_t* a, const std::uint8_t* b, std::ptrdiff_t n) {
  constexpr std::ptrdiff_t kChunk = 32768;
  std::int64_t total = 0;
  for (std::ptrdiff_t s = 0; s < n; s += kChunk) {
    const std::ptrdiff_t e = std::min(n, s + kChunk);
    std::int32_t acc = 0;
    for (std::ptrdiff_t i = s; i < e; ++i) acc += sq_diff_u8(a[i], b[i]);
    total += acc;
  }
  return total;
}

FF_ROW_CLONES double row_sse_f32(const float* a, const float* b, std::ptrdiff_t n) {
  double acc = 0.0;
#pragma omp simd reduction(+ : acc)
  for (std::ptrdiff_t i = 0; i < n; ++i) acc += sq_diff_f32(a[i], b[i]);
  return acc;
}

// Weighted rows, in blocks of kBlock pixels: first each pixel's channel sum of
// squared differences (exact in float for uint8: <= 4 * 65025 < 2^24), then the
// weighted accumulation in double. C is the channel count (1, 3, 4) or 0 for a
// runtime count.
constexpr std::ptrdiff_t kBlock = 256;
template <typename T>
using PixelSum = std::conditional_t<std::is_same_v<T, std::uint8_t>, float, double>;

template <typename T, int C>
inline void pixel_sums(const T* a, const T* b, std::ptrdiff_t n, int c_rt, PixelSum<T>* s) {
  const int c = C > 0 ? C : c_rt;
  if constexpr (std::is_same_v<T, std::uint8_t>) {
    // Squared differences of the contiguous samples first (16-bit lanes: d^2 <= 65025),
    // then the per-pixel channel sums.
    if (c > 4) {  // not reached from the binding (C in {1, 3, 4}); keeps q in bounds
      for (std::ptrdiff_t x = 0; x < n; ++x) {
        std::int32_t p = 0;
        for (int k = 0; k < c; ++k) p += sq_diff_u8(a[x * c + k], b[x * c + k]);
        s[x] = static_cast<float>(p);
      }
      return;
    }
    std::uint16_t q[kBlock * 4];
    const std::ptrdiff_t nc = n * c;
    for (std::ptrdiff_t i = 0; i < nc; ++i) q[i] = static_cast<std::uint16_t>(sq_diff_u8(a[i], b[i]));
    for (std::ptrdiff_t x = 0; x < n; ++x) {
      std::int32_t p = 0;
      for (int k = 0; k < c; ++k) p += q[x * c + k];
      s[x] = static_cast<float>(p);
    }
  } else {
    for (std::ptrdiff_t x = 0; x < n; ++x) {
      double p = 0.0;
      for (int k = 0; k < c; ++k) p += sq_diff_f32(a[x * c + k], b[x * c + k]);
      s[x] = p;
    }
  }
}

template <typename T, int C>
FF_ROW_CLONES void row_masked(const T* a, const T* b, const float* m, std::ptrdiff_t w, int c_rt, double& sse,
                              double& wsum, float& lo, float& hi) {
  const int c = C > 0 ? C : c_rt;
  PixelSum<T> s[kBlock];
  double sd = 0.0, wd = 0.0;
  float mn = lo, mx = hi;
  for (std::ptrdiff_t x0 = 0; x0 < w; x0 += kBlock) {
    const std::ptrdiff_t n = std::min(kBlock, w - x0);
    pixel_sums<T, C>(a + x0 * c, b + x0 * c, n, c, s);
    const float* mb = m + x0;
#pragma omp simd reduction(+ : sd, wd) reduction(min : mn) reduction(max : mx)
    for (std::ptrdiff_t x = 0; x < n; ++x) {
      const float mv = mb[x];
      sd += weighted_sq(mv, static_cast<double>(s[x]));
      wd += static_cast<double>(mv);
      mn = std::min(mn, mv);
      mx = std::max(mx, mv);
    }
  }
  sse += sd;
  wsum += wd;
  lo = mn;
  hi = mx;
}

template <int C, typename T, typename RowFn>
SseSums masked_pass(const T* a, std::ptrdiff_t as, const T* b, std::ptrdiff_t bs, const float* m,
                    std::ptrdiff_t ms, std::ptrdiff_t h, std::ptrdiff_t w, int c, RowFn row) {
  double sse = 0.0, wsum = 0.0;
  float mn = m[0], mx = m[0];
  const bool par = h > 1 && h * w * c >= kParallelMin;
  RegionProbe probe(par);
#pragma omp parallel if (probe.parallel())
  {
#pragma omp for reduction(+ : sse, wsum) reduction(min : mn) reduction(max : mx) schedule(static) nowait
    for (std::ptrdiff_t y = 0; y < h; ++y) row(a + y * as, b + y * bs, m + y * ms, w, c, sse, wsum, mn, mx);
    probe.share_done();
  }
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
    const bool par = h > 1 && h * n >= kParallelMinU8;
    RegionProbe probe(par);
#pragma omp parallel if (probe.parallel())
    {
#pragma omp for reduction(+ : total) schedule(static) nowait
      for (std::ptrdiff_t y = 0; y < h; ++y) total += row_sse_u8(a + y * a_stride, b + y * b_stride, n);
      probe.share_done();
    }
    SseSums r;
    r.sse = static_cast<double>(total);
    r.weight_sum = static_cast<double>(h) * static_cast<double>(w);
    return r;
  }
  switch (c) {
    case 1:
      return masked_pass<1>(a, a_stride, b, b_stride, mask, m_stride, h, w, c, row_masked<std::uint8_t, 1>);
    case 3:
      return masked_pass<3>(a, a_stride, b, b_stride, mask, m_stride, h, w, c, row_masked<std::uint8_t, 3>);
    case 4:
      return masked_pass<4>(a, a_stride, b, b_stride, mask, m_stride, h, w, c, row_masked<std::uint8_t, 4>);
    default:
      return masked_pass<0>(a, a_stride, b, b_stride, mask, m_stride, h, w, c, row_masked<std::uint8_t, 0>);
  }
}

SseSums frame_sse_f32(const float* a, std::ptrdiff_t a_stride, const float* b, std::ptrdiff_t b_stride,
                      const float* mask, std::ptrdiff_t m_stride, std::ptrdiff_t h, std::ptrdiff_t w, int c) {
  if (h <= 0 || w <= 0 || c <= 0) return SseSums{};
  if (mask == nullptr) {
    const std::ptrdiff_t n = w * c;
    double total = 0.0;
    const bool par = h > 1 && h * n >= kParallelMin;
    RegionProbe probe(par);
#pragma omp parallel if (probe.parallel())
    {
#pragma omp for reduction(+ : total) schedule(static) nowait
      for (std::ptrdiff_t y = 0; y < h; ++y) total += row_sse_f32(a + y * a_stride, b + y * b_stride, n);
      probe.share_done();
    }
    SseSums r;
    r.sse = total;
    r.weight_sum = static_cast<double>(h) * static_cast<double>(w);
    return r;
  }
  switch (c) {
    case 1:
      return masked_pass<1>(a, a_stride, b, b_stride, mask, m_stride, h, w, c, row_masked<float, 1>);
    case 3:
      return masked_pass<3>(a, a_stride, b, b_stride, mask, m_stride, h, w, c, row_masked<float, 3>);
    case 4:
      return masked_pass<4>(a, a_stride, b, b_stride, mask, m_stride, h, w, c, row_masked<float, 4>);
    default:
      return masked_pass<0>(a, a_stride, b, b_stride, mask, m_stride, h, w, c, row_masked<float, 0>);
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
  // Small frames: one pair per thread (each pair's own pass then runs serially, as
  // nested parallel regions are inactive); large frames: pairs in turn, rows in parallel.
  const bool by_pair = t > 2 && frame < kParallelMinU8;
  RegionProbe probe(by_pair);
#pragma omp parallel if (probe.parallel())
  {
#pragma omp for schedule(dynamic, 1) nowait
    for (std::ptrdiff_t i = 0; i < t - 1; ++i) {
      const SseSums s = pair(frames + i * frame, row, frames + (i + 1) * frame, row, mask, w, h, w, c);
      out[i] = psnr_from_sums(s, c);
      if (sums_out) sums_out[i] = s;
    }
    probe.share_done();
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
