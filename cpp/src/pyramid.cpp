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
// pyrDown computes only the kept rows (vertical 5-tap on the rows it needs, then
// a horizontal 5-tap on the kept columns); pyrUp uses the polyphase taps, the
// vertical pass on the coarse width first, then the horizontal pass fused with
// the band blend. Rows run in OpenMP-parallel loops with per-thread row buffers;
// all levels share one scratch allocation.
#include "facefuse/pyramid.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "facefuse/common.hpp"
#include "facefuse/parallel.hpp"
#include "facefuse/pyramid_math.hpp"

#if defined(FACEFUSE_HAVE_OPENMP)
#include <omp.h>
#endif

namespace facefuse {

namespace {

using pyr::down5;
using pyr::reflect101;
using pyr::up_even;
using pyr::up_next;
using pyr::up_odd;
using pyr::up_prev;

inline int thread_id() {
#if defined(FACEFUSE_HAVE_OPENMP)
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// Parallelise a pass only when it has enough work to pay for the fork/join.
constexpr std::ptrdiff_t kParallelMinElems = 16384;

struct Level {
  int h, w;
  float* g;  // Gaussian level of D (h x w x C), k >= 1
  float* r;  // collapse result R_k (h x w x C), k >= 1
  float* m;  // Gaussian level of the mask (h x w), k >= 1
};

template <typename T>
inline float to_f(T v) {
  return static_cast<float>(v);
}

// ---- pyrDown -------------------------------------------------------------------

// Vertical 5-tap of D = src - dst over n floats (level 0).
template <typename T>
inline void vdown_diff(const T* __restrict s0, const T* __restrict s1, const T* __restrict s2,
                       const T* __restrict s3, const T* __restrict s4, const T* __restrict d0,
                       const T* __restrict d1, const T* __restrict d2, const T* __restrict d3,
                       const T* __restrict d4, float* __restrict v, int n) {
  for (int x = 0; x < n; ++x) {
    v[x] = down5(to_f(s0[x]) - to_f(d0[x]), to_f(s1[x]) - to_f(d1[x]), to_f(s2[x]) - to_f(d2[x]),
                 to_f(s3[x]) - to_f(d3[x]), to_f(s4[x]) - to_f(d4[x]));
  }
}

inline void vdown(const float* __restrict r0, const float* __restrict r1, const float* __restrict r2,
                  const float* __restrict r3, const float* __restrict r4, float* __restrict v, int n) {
  for (int x = 0; x < n; ++x) v[x] = down5(r0[x], r1[x], r2[x], r3[x], r4[x]);
}

// Horizontal 5-tap on the kept columns: out has wo = down_size(wi) pixels.
template <int C>
inline void hdown(const float* __restrict v, float* __restrict out, int wi, int wo) {
  const float s = pyr::kDownScale;
  auto border = [&](int j) {
    const int x0 = reflect101(2 * j - 2, wi) * C, x1 = reflect101(2 * j - 1, wi) * C,
              x2 = reflect101(2 * j, wi) * C, x3 = reflect101(2 * j + 1, wi) * C,
              x4 = reflect101(2 * j + 2, wi) * C;
    for (int c = 0; c < C; ++c)
      out[j * C + c] = s * down5(v[x0 + c], v[x1 + c], v[x2 + c], v[x3 + c], v[x4 + c]);
  };
  // Interior: 2j - 2 >= 0 and 2j + 2 <= wi - 1.
  const int j0 = std::min(1, wo);
  const int j1 = std::max(j0, std::min(wo, (wi - 3) / 2 + 1));
  for (int j = 0; j < j0; ++j) border(j);
  if (C == 1) {
    for (int j = j0; j < j1; ++j) {
      const float* p = v + 2 * j - 2;
      out[j] = s * down5(p[0], p[1], p[2], p[3], p[4]);
    }
  } else {
    for (int j = j0; j < j1; ++j) {
      const float* p = v + (2 * j - 2) * C;
      for (int c = 0; c < C; ++c)
        out[j * C + c] = s * down5(p[c], p[C + c], p[2 * C + c], p[3 * C + c], p[4 * C + c]);
    }
  }
  for (int j = j1; j < wo; ++j) border(j);
}

// Level 0 -> 1: G_1 = pyrDown(src - dst), M_1 = pyrDown(mask).
template <typename T, int C>
void down_level0(const T* dst, const T* src, const float* mask, int h, int w, const Level& out, float* scratch,
                 std::ptrdiff_t scratch_stride) {
  const int ho = out.h, wo = out.w;
  const std::ptrdiff_t rs = static_cast<std::ptrdiff_t>(w) * C;
#if defined(FACEFUSE_HAVE_OPENMP)
#pragma omp parallel for schedule(static) if (static_cast<std::ptrdiff_t>(h) * rs > kParallelMinElems)
#endif
  for (int i = 0; i < ho; ++i) {
    float* v = scratch + thread_id() * scratch_stride;
    float* vm = v + rs;
    int r[5];
    for (int t = 0; t < 5; ++t) r[t] = reflect101(2 * i + t - 2, h);
    vdown_diff<T>(src + r[0] * rs, src + r[1] * rs, src + r[2] * rs, src + r[3] * rs, src + r[4] * rs,
                  dst + r[0] * rs, dst + r[1] * rs, dst + r[2] * rs, dst + r[3] * rs, dst + r[4] * rs, v,
                  static_cast<int>(rs));
    hdown<C>(v, out.g + static_cast<std::ptrdiff_t>(i) * wo * C, w, wo);
    vdown(mask + static_cast<std::ptrdiff_t>(r[0]) * w, mask + static_cast<std::ptrdiff_t>(r[1]) * w,
          mask + static_cast<std::ptrdiff_t>(r[2]) * w, mask + static_cast<std::ptrdiff_t>(r[3]) * w,
          mask + static_cast<std::ptrdiff_t>(r[4]) * w, vm, w);
    hdown<1>(vm, out.m + static_cast<std::ptrdiff_t>(i) * wo, w, wo);
  }
}

// Level k -> k + 1 (k >= 1).
template <int C>
void down_level(const Level& in, const Level& out, float* scratch, std::ptrdiff_t scratch_stride) {
  const int h = in.h, w = in.w, ho = out.h, wo = out.w;
  const std::ptrdiff_t rs = static_cast<std::ptrdiff_t>(w) * C;
#if defined(FACEFUSE_HAVE_OPENMP)
#pragma omp parallel for schedule(static) if (static_cast<std::ptrdiff_t>(h) * rs > kParallelMinElems)
#endif
  for (int i = 0; i < ho; ++i) {
    float* v = scratch + thread_id() * scratch_stride;
    float* vm = v + rs;
    int r[5];
    for (int t = 0; t < 5; ++t) r[t] = reflect101(2 * i + t - 2, h);
    vdown(in.g + r[0] * rs, in.g + r[1] * rs, in.g + r[2] * rs, in.g + r[3] * rs, in.g + r[4] * rs, v,
          static_cast<int>(rs));
    hdown<C>(v, out.g + static_cast<std::ptrdiff_t>(i) * wo * C, w, wo);
    vdown(in.m + static_cast<std::ptrdiff_t>(r[0]) * w, in.m + static_cast<std::ptrdiff_t>(r[1]) * w,
          in.m + static_cast<std::ptrdiff_t>(r[2]) * w, in.m + static_cast<std::ptrdiff_t>(r[3]) * w,
          in.m + static_cast<std::ptrdiff_t>(r[4]) * w, vm, w);
    hdown<1>(vm, out.m + static_cast<std::ptrdiff_t>(i) * wo, w, wo);
  }
}

// ---- pyrUp + band blend ------------------------------------------------------------

// Horizontal polyphase upsampling of a coarse row (wc pixels) to wf = 2wc or 2wc - 1 pixels.
template <int C>
inline void hup(const float* __restrict v, float* __restrict u, int wc, int wf) {
  const float s = pyr::kUpScale;
  auto border = [&](int j) {
    const int a = up_prev(j, wc) * C, b = j * C, e = up_next(j, wc) * C;
    for (int c = 0; c < C; ++c) u[2 * j * C + c] = s * up_even(v[a + c], v[b + c], v[e + c]);
    if (2 * j + 1 < wf)
      for (int c = 0; c < C; ++c) u[(2 * j + 1) * C + c] = s * up_odd(v[b + c], v[e + c]);
  };
  border(0);
  const int j1 = std::max(1, wc - 1);
  for (int j = 1; j < j1; ++j) {
    const float* p = v + (j - 1) * C;
    float* q = u + 2 * j * C;
    for (int c = 0; c < C; ++c) {
      q[c] = s * up_even(p[c], p[C + c], p[2 * C + c]);
      q[C + c] = s * up_odd(p[C + c], p[2 * C + c]);
    }
  }
  if (j1 < wc) border(j1);
}

template <typename T>
inline T store_as(float v) {
  if constexpr (std::is_same_v<T, std::uint8_t>)
    return saturate_u8(v);
  else
    return v;
}

// One collapse step at fine level f from coarse level k+1 (G and R).
// Level 0 (Level0 = true): out = dst + M0 * (src - dst - upG) + upR, stored as T.
// Level k >= 1: R_k = M_k * (G_k - upG) + upR, written to fine.r.
template <typename T, int C, bool Level0>
void up_level(const Level& coarse, int hf, int wf, const float* mask_f, const float* g_f, const T* dst,
              const T* src, float* r_out, T* out, float* scratch, std::ptrdiff_t scratch_stride) {
  const int hc = coarse.h, wc = coarse.w;
  const std::ptrdiff_t crs = static_cast<std::ptrdiff_t>(wc) * C;
  const std::ptrdiff_t frs = static_cast<std::ptrdiff_t>(wf) * C;
#if defined(FACEFUSE_HAVE_OPENMP)
#pragma omp parallel for schedule(static) if (static_cast<std::ptrdiff_t>(hf) * frs > kParallelMinElems)
#endif
  for (int y = 0; y < hf; ++y) {
    float* vg = scratch + thread_id() * scratch_stride;
    float* vr = vg + crs;
    float* ug = vr + crs;
    float* ur = ug + frs;
    const int i = y >> 1;
    const int n = static_cast<int>(crs);
    if (y & 1) {
      const float* g1 = coarse.g + i * crs;
      const float* g2 = coarse.g + up_next(i, hc) * crs;
      const float* r1 = coarse.r + i * crs;
      const float* r2 = coarse.r + up_next(i, hc) * crs;
      for (int x = 0; x < n; ++x) {
        vg[x] = up_odd(g1[x], g2[x]);
        vr[x] = up_odd(r1[x], r2[x]);
      }
    } else {
      const float* g0 = coarse.g + up_prev(i, hc) * crs;
      const float* g1 = coarse.g + i * crs;
      const float* g2 = coarse.g + up_next(i, hc) * crs;
      const float* r0 = coarse.r + up_prev(i, hc) * crs;
      const float* r1 = coarse.r + i * crs;
      const float* r2 = coarse.r + up_next(i, hc) * crs;
      for (int x = 0; x < n; ++x) {
        vg[x] = up_even(g0[x], g1[x], g2[x]);
        vr[x] = up_even(r0[x], r1[x], r2[x]);
      }
    }
    hup<C>(vg, ug, wc, wf);
    hup<C>(vr, ur, wc, wf);
    const float* m = mask_f + static_cast<std::ptrdiff_t>(y) * wf;
    if constexpr (Level0) {
      const T* d = dst + y * frs;
      const T* s = src + y * frs;
      T* o = out + y * frs;
      for (int x = 0; x < wf; ++x) {
        const float mx = m[x];
        for (int c = 0; c < C; ++c) {
          const int k = x * C + c;
          const float dv = to_f(d[k]);
          o[k] = store_as<T>(pyr::blend_band(dv, to_f(s[k]) - dv, mx, ug[k], ur[k]));
        }
      }
    } else {
      const float* g = g_f + y * frs;
      float* o = r_out + y * frs;
      for (int x = 0; x < wf; ++x) {
        const float mx = m[x];
        for (int c = 0; c < C; ++c) {
          const int k = x * C + c;
          o[k] = pyr::blend_band(0.f, g[k], mx, ug[k], ur[k]);
        }
      }
    }
  }
}

template <typename T, int C>
void alpha_only(const T* dst, const T* src, const float* mask, T* out, int h, int w) {
  const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(h) * w;
#if defined(FACEFUSE_HAVE_OPENMP)
#pragma omp parallel for schedule(static) if (n * C > kParallelMinElems)
#endif
  for (std::ptrdiff_t p = 0; p < n; ++p) {
    const float mx = mask[p];
    for (int c = 0; c < C; ++c) {
      const std::ptrdiff_t k = p * C + c;
      out[k] = store_as<T>(pyr::alpha_blend(to_f(dst[k]), to_f(src[k]), mx));
    }
  }
}

template <typename T, int C>
void blend_impl(const T* dst, const T* src, const float* mask, T* out, int h, int w, int levels) {
  const int K = pyr::clamp_levels(levels, h, w);
  if (K <= 1) {
    alpha_only<T, C>(dst, src, mask, out, h, w);
    return;
  }
  // Level sizes and one scratch allocation: G, R, M for levels 1..K-1, then the
  // per-thread row buffers.
  std::vector<Level> lv(K);
  lv[0] = {h, w, nullptr, nullptr, nullptr};
  std::ptrdiff_t total = 0;
  for (int k = 1; k < K; ++k) {
    lv[k].h = pyr::down_size(lv[k - 1].h);
    lv[k].w = pyr::down_size(lv[k - 1].w);
    total += static_cast<std::ptrdiff_t>(lv[k].h) * lv[k].w * (2 * C + 1);
  }
  const std::ptrdiff_t wcw = static_cast<std::ptrdiff_t>(pyr::down_size(w)) * C;
  const std::ptrdiff_t fw = static_cast<std::ptrdiff_t>(w) * C;
  // down: v (w*C) + vm (w); up: vg, vr (coarse w*C) + ug, ur (w*C).
  std::ptrdiff_t stride = std::max(fw + w, 2 * wcw + 2 * fw);
  stride = (stride + 15) & ~static_cast<std::ptrdiff_t>(15);
  const int nt = max_threads();
  std::unique_ptr<float[]> buf(new float[static_cast<std::size_t>(total + stride * nt + 16)]);
  float* p = buf.get();
  for (int k = 1; k < K; ++k) {
    const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(lv[k].h) * lv[k].w;
    lv[k].g = p;
    p += n * C;
    lv[k].r = p;
    p += n * C;
    lv[k].m = p;
    p += n;
  }
  float* scratch = p;

  down_level0<T, C>(dst, src, mask, h, w, lv[1], scratch, stride);
  for (int k = 1; k + 1 < K; ++k) down_level<C>(lv[k], lv[k + 1], scratch, stride);

  {  // coarsest band: R = M * G
    const Level& t = lv[K - 1];
    const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(t.h) * t.w;
    for (std::ptrdiff_t q = 0; q < n; ++q)
      for (int c = 0; c < C; ++c) t.r[q * C + c] = t.m[q] * t.g[q * C + c];
  }
  for (int k = K - 2; k >= 1; --k)
    up_level<T, C, false>(lv[k + 1], lv[k].h, lv[k].w, lv[k].m, lv[k].g, nullptr, nullptr, lv[k].r, nullptr,
                          scratch, stride);
  up_level<T, C, true>(lv[1], h, w, mask, nullptr, dst, src, nullptr, out, scratch, stride);
}

template <typename T>
void dispatch(const T* dst, const T* src, const float* mask, T* out, int h, int w, int c, int levels) {
  if (c == 3)
    blend_impl<T, 3>(dst, src, mask, out, h, w, levels);
  else
    blend_impl<T, 1>(dst, src, mask, out, h, w, levels);
}

}  // namespace

int pyramid_max_levels(int h, int w) { return pyr::max_levels(h, w); }

void blend_laplacian_u8(const std::uint8_t* dst, const std::uint8_t* src, const float* mask, std::uint8_t* out,
                        int h, int w, int c, int levels) {
  dispatch<std::uint8_t>(dst, src, mask, out, h, w, c, levels);
}

void blend_laplacian_f32(const float* dst, const float* src, const float* mask, float* out, int h, int w, int c,
                         int levels) {
  dispatch<float>(dst, src, mask, out, h, w, c, levels);
}

bool pyramid_all_finite(const float* p, std::size_t n) {
  std::uint32_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t b;
    std::memcpy(&b, p + i, sizeof b);
    bad |= static_cast<std::uint32_t>((b & 0x7f800000u) == 0x7f800000u);
  }
  return bad == 0;
}

}  // namespace facefuse
