// CPU kernels of the multi-band (Laplacian-pyramid) blend.
//
// Linearity lets the blend run on ONE Laplacian pyramid: with D = src - dst,
//   out = dst + collapse_k( Gm_k * L_k(D) ),
// so the kernel builds the Gaussian pyramid G_k of D (G_0 = D is never stored:
// it is formed on the fly from src and dst) and of the mask M_k, then collapses
// from the coarsest level up:
//   R_{K-1} = M_{K-1} * G_{K-1}
//   R_k     = M_k * (G_k - up(G_{k+1})) + up(R_{k+1})      (k >= 1, stored)
//   out     = dst + M_0 * (D - up(G_1)) + up(R_1)           (level 0, rounded)
// pyrDown computes only the kept rows (vertical 5-tap on the rows it needs, in
// 16-bit integers straight from uint8 at level 0, then a horizontal 5-tap on the
// kept columns); pyrUp uses the polyphase taps ([1, 6, 1] / [4, 4]), horizontal
// first on each coarse row (once per thread, in a 3-row ring), then the vertical
// taps on contiguous fine rows fused with the band blend and the uint8
// rounding. Passes over big levels run rows in OpenMP-parallel bands with
// per-thread row buffers; all levels share one scratch allocation. The kernels
// live in pyramid_kernels.inl, compiled here once per instruction set.

#include "facefuse/pyramid.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "facefuse/common.hpp"
#include "facefuse/cpu_dispatch.hpp"
#include "facefuse/parallel.hpp"
#include "facefuse/pyramid_math.hpp"

#if defined(FACEFUSE_HAVE_OPENMP)
#include <omp.h>
#endif

// x86-64 GCC: the kernels are also compiled for AVX2 (8-wide, with the shuffles
// the interleaved-channel loops need) and picked at run time. No FMA, so both
// copies round identically.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(FACEFUSE_PYR_NO_AVX2)
#define FACEFUSE_PYR_AVX2 1
#else
#define FACEFUSE_PYR_AVX2 0
#endif

namespace facefuse {

namespace pyr_base {
namespace {
#include "pyramid_kernels.inl"
}  // namespace
}  // namespace pyr_base

#if FACEFUSE_PYR_AVX2
namespace pyr_avx2 {
#pragma GCC push_options
#pragma GCC target("avx2")
namespace {
#include "pyramid_kernels.inl"
}  // namespace
#pragma GCC pop_options
}  // namespace pyr_avx2
#endif

namespace {

template <typename T>
void dispatch(const T* dst, const T* src, const float* mask, T* out, int h, int w, int c, long long levels) {
#if FACEFUSE_PYR_AVX2
  if (cpu_has_avx2()) {
    pyr_avx2::blend_any<T>(dst, src, mask, out, h, w, c, levels);
    return;
  }
#endif
  pyr_base::blend_any<T>(dst, src, mask, out, h, w, c, levels);
}

}  // namespace

int pyramid_max_levels(int h, int w) { return pyr::max_levels(h, w); }

void pyr_down_f32(const float* src, float* dst, int h, int w, int c) {
#if FACEFUSE_PYR_AVX2
  if (cpu_has_avx2()) return pyr_avx2::pyr_down_any(src, dst, h, w, c);
#endif
  pyr_base::pyr_down_any(src, dst, h, w, c);
}

void pyr_up_f32(const float* src, float* dst, int h, int w, int c, int dh, int dw) {
#if FACEFUSE_PYR_AVX2
  if (cpu_has_avx2()) return pyr_avx2::pyr_up_any(src, dst, h, w, c, dh, dw);
#endif
  pyr_base::pyr_up_any(src, dst, h, w, c, dh, dw);
}

void blend_laplacian_u8(const std::uint8_t* dst, const std::uint8_t* src, const float* mask, std::uint8_t* out,
                        int h, int w, int c, long long levels) {
  dispatch<std::uint8_t>(dst, src, mask, out, h, w, c, levels);
}

void blend_laplacian_f32(const float* dst, const float* src, const float* mask, float* out, int h, int w, int c,
                         long long levels) {
  dispatch<float>(dst, src, mask, out, h, w, c, levels);
}

int pyramid_mask_status(const float* p, std::size_t n) {
  // On the bit patterns (vectorises): a float is in [0, 1] iff its bits are
  // <= 0x3F800000 (1.0f) or it is -0.0f; it is NaN/inf iff its exponent is all ones.
  std::uint32_t out_of_range = 0, non_finite = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t b;
    std::memcpy(&b, p + i, sizeof b);
    out_of_range |= static_cast<std::uint32_t>(b > 0x3F800000u && b != 0x80000000u);
    non_finite |= static_cast<std::uint32_t>((b & 0x7F800000u) == 0x7F800000u);
  }
  return non_finite ? 2 : (out_of_range ? 1 : 0);
}

void pyramid_clamp_mask(const float* p, float* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const float v = p[i];
    out[i] = v < 0.f ? 0.f : (v > 1.f ? 1.f : v);
  }
}

}  // namespace facefuse
