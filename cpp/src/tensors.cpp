// Crop <-> model tensor conversions (see tensors.hpp): one pass each way, rows in parallel;
// the row kernels (tensors_kernels.inl) built for the baseline and, on x86-64 GCC, AVX2.
#include "facefuse/tensors.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <vector>

#include "facefuse/cpu_dispatch.hpp"
#include "facefuse/parallel.hpp"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define FACEFUSE_TENSORS_AVX2 1
#else
#define FACEFUSE_TENSORS_AVX2 0
#endif

namespace facefuse::tensors {

namespace tk_base {
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")  // (v + offset) * scale as two float32 roundings, as NumPy
namespace {
#include "tensors_kernels.inl"
}  // namespace
#pragma GCC pop_options
}  // namespace tk_base

#if FACEFUSE_TENSORS_AVX2
namespace tk_avx2 {
#pragma GCC push_options
#pragma GCC target("avx2")
#pragma GCC optimize("fp-contract=off")
namespace {
#include "tensors_kernels.inl"
}  // namespace
#pragma GCC pop_options
}  // namespace tk_avx2
#endif

namespace {
// Below this many pixels a call runs on the calling thread.
constexpr std::int64_t kParallelMinPixels = 65536;

bool use_avx2() { return FACEFUSE_TENSORS_AVX2 && cpu_has_avx2_fma(); }
}  // namespace

namespace {
// Runs row(ky, first, scratch) for every crop row ky (0 .. n*h), rows in parallel, where
// `first` is the offset of that row's r-th line in its first tile (of t, at i * t) in the
// planes layout (N*t*t x 3 x h/t x w/t) and `scratch` a per-thread buffer of scratch_bytes.
template <typename Row>
void each_row(int n, int h, int w, int t, std::size_t scratch_bytes, Row row) {
  const int sw = w / t;
  const std::ptrdiff_t plane = static_cast<std::ptrdiff_t>(h / t) * sw;
  const int rows = n * h;
  RegionProbe probe(static_cast<std::int64_t>(rows) * w >= kParallelMinPixels);
#pragma omp parallel if (probe.parallel())
  {
    std::vector<std::uint8_t> scratch(scratch_bytes);
#pragma omp for schedule(static) nowait
    for (int ky = 0; ky < rows; ++ky) {
      const int k = ky / h, y = ky % h, r = y / t, i = y % t;
      row(ky, (static_cast<std::ptrdiff_t>(k) * t * t + i * t) * 3 * plane + static_cast<std::ptrdiff_t>(r) * sw,
          scratch.data());
    }
    probe.share_done();
  }
}
}  // namespace

void crops_to_planes(const std::uint8_t* crops, int n, int h, int w, int t, const float* table, float* out) {
  const int sw = w / t;
  const std::ptrdiff_t plane = static_cast<std::ptrdiff_t>(h / t) * sw;
  const bool avx2 = use_avx2();
  each_row(n, h, w, t, 0, [&](int ky, std::ptrdiff_t first, std::uint8_t*) {
    const std::uint8_t* src = crops + static_cast<std::ptrdiff_t>(ky) * w * 3;
#if FACEFUSE_TENSORS_AVX2
    if (avx2) return tk_avx2::forward_row(src, t, sw, plane, table, out + first);
#endif
    (void)avx2;
    tk_base::forward_row(src, t, sw, plane, table, out + first);
  });
}

void planes_to_crops(const float* planes, int n, int h, int w, int t, float lo, float hi, float offset, float scale,
                     std::uint8_t* out) {
  const int sw = w / t;
  const std::ptrdiff_t plane = static_cast<std::ptrdiff_t>(h / t) * sw;
  const bool avx2 = use_avx2();
  each_row(n, h, w, t, static_cast<std::size_t>(w) * 3, [&](int ky, std::ptrdiff_t first, std::uint8_t* tmp) {
    std::uint8_t* d = out + static_cast<std::ptrdiff_t>(ky) * w * 3;
#if FACEFUSE_TENSORS_AVX2
    if (avx2) return tk_avx2::back_row(planes + first, t, sw, plane, lo, hi, offset, scale, tmp, d);
#endif
    (void)avx2;
    tk_base::back_row(planes + first, t, sw, plane, lo, hi, offset, scale, tmp, d);
  });
}

}  // namespace facefuse::tensors
