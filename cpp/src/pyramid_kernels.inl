// Kernels of the multi-band blend, included by pyramid.cpp once per instruction
// set (baseline and, on x86 GCC, AVX2), each time inside its own namespace.
// No std:: templates are instantiated in here, so the two copies share no code
// compiled for the wrong ISA; every helper is defined per copy.
// (Not a standalone header: pyramid.cpp includes what it needs first.)

// Helpers of our own (no std:: templates in here: this file is compiled once per ISA).
inline int min_i(int a, int b) { return a < b ? a : b; }
inline int max_i(int a, int b) { return a > b ? a : b; }

// One heap block for all levels and row buffers, freed on scope exit.
struct Scratch {
  explicit Scratch(std::size_t n) : p(new float[n]) {}
  ~Scratch() { delete[] p; }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  float* get() const { return p; }
  float* p;
};

// max_levels() of any int size is below 32.
constexpr int kMaxLevels = 40;

using pyr::down5;
using pyr::reflect101;
using pyr::up_even;
using pyr::up_next;
using pyr::up_odd;
using pyr::up_prev;

inline int num_threads() { return team_size(); }
inline int thread_id() { return thread_num(); }

// Parallelise a pass only when it has enough work (fine-level floats) to pay for
// the fork/join. Kept high on purpose: a pass of this size takes ~0.2 ms on one
// core, and every OpenMP region is a sync point that costs a scheduler time slice
// when the machine is oversubscribed (busy-waiting workers get descheduled), so
// small frames and the coarse levels run on the calling thread.
constexpr std::ptrdiff_t kParallelMinElems = 1 << 18;

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
  if constexpr (std::is_same_v<T, std::uint8_t>) {
    // Exact in 16-bit integers (|sum| <= 16 * 255), so the vectoriser packs 16 lanes.
    for (int x = 0; x < n; ++x) {
      const auto a = static_cast<std::int16_t>((s0[x] + s4[x]) + 4 * (s1[x] + s3[x]) + 6 * s2[x]);
      const auto b = static_cast<std::int16_t>((d0[x] + d4[x]) + 4 * (d1[x] + d3[x]) + 6 * d2[x]);
      v[x] = static_cast<float>(static_cast<std::int16_t>(a - b));
    }
  } else {
    for (int x = 0; x < n; ++x) {
      v[x] = down5(to_f(s0[x]) - to_f(d0[x]), to_f(s1[x]) - to_f(d1[x]), to_f(s2[x]) - to_f(d2[x]),
                   to_f(s3[x]) - to_f(d3[x]), to_f(s4[x]) - to_f(d4[x]));
    }
  }
}

inline void vdown(const float* __restrict r0, const float* __restrict r1, const float* __restrict r2,
                  const float* __restrict r3, const float* __restrict r4, float* __restrict v, int n) {
  for (int x = 0; x < n; ++x) v[x] = down5(r0[x], r1[x], r2[x], r3[x], r4[x]);
}

// Horizontal 5-tap on the kept columns: out has wo = down_size(wi) pixels.
template <int C>
inline void hdown(const float* __restrict v, float* __restrict out, int wi, int wo, float* __restrict tmp) {
  const float s = pyr::kDownScale;
  auto border = [&](int j) {
    const int x0 = reflect101(2 * j - 2, wi) * C, x1 = reflect101(2 * j - 1, wi) * C,
              x2 = reflect101(2 * j, wi) * C, x3 = reflect101(2 * j + 1, wi) * C,
              x4 = reflect101(2 * j + 2, wi) * C;
    for (int c = 0; c < C; ++c)
      out[j * C + c] = s * down5(v[x0 + c], v[x1 + c], v[x2 + c], v[x3 + c], v[x4 + c]);
  };
  // Interior: 2j - 2 >= 0 and 2j + 2 <= wi - 1.
  const int j0 = min_i(1, wo);
  const int j1 = max_i(j0, min_i(wo, (wi - 3) / 2 + 1));
  for (int j = 0; j < j0; ++j) border(j);
  if (C == 1) {
    for (int j = j0; j < j1; ++j) {
      const float* p = v + 2 * j - 2;
      out[j] = s * down5(p[0], p[1], p[2], p[3], p[4]);
    }
  } else if (j1 > j0) {
    // Interleaved channels: filter every position in one contiguous (vectorising)
    // loop, then keep the even pixels.
    const int k0 = 2 * j0 * C, k1 = 2 * (j1 - 1) * C + C;
    for (int k = k0; k < k1; ++k)
      tmp[k] = s * down5(v[k - 2 * C], v[k - C], v[k], v[k + C], v[k + 2 * C]);
    for (int j = j0; j < j1; ++j)
      for (int c = 0; c < C; ++c) out[j * C + c] = tmp[2 * j * C + c];
  }
  for (int j = j1; j < wo; ++j) border(j);
}

// Level 0 -> 1: G_1 = pyrDown(src - dst), M_1 = pyrDown(mask).
template <typename T, int C>
void down_level0(const T* dst, const T* src, const float* mask, int h, int w, const Level& out, float* scratch,
                 std::ptrdiff_t scratch_stride, bool par) {
  (void)par;  // read by the OpenMP if-clause
  const int ho = out.h, wo = out.w;
  const std::ptrdiff_t rs = static_cast<std::ptrdiff_t>(w) * C;
#if defined(FACEFUSE_HAVE_OPENMP)
#pragma omp parallel for schedule(static) if (par && static_cast<std::ptrdiff_t>(h) * rs > kParallelMinElems)
#endif
  for (int i = 0; i < ho; ++i) {
    float* v = scratch + thread_id() * scratch_stride;
    float* vm = v + rs;
    float* tmp = vm + w;
    int r[5];
    for (int t = 0; t < 5; ++t) r[t] = reflect101(2 * i + t - 2, h);
    vdown_diff<T>(src + r[0] * rs, src + r[1] * rs, src + r[2] * rs, src + r[3] * rs, src + r[4] * rs,
                  dst + r[0] * rs, dst + r[1] * rs, dst + r[2] * rs, dst + r[3] * rs, dst + r[4] * rs, v,
                  static_cast<int>(rs));
    hdown<C>(v, out.g + static_cast<std::ptrdiff_t>(i) * wo * C, w, wo, tmp);
    vdown(mask + static_cast<std::ptrdiff_t>(r[0]) * w, mask + static_cast<std::ptrdiff_t>(r[1]) * w,
          mask + static_cast<std::ptrdiff_t>(r[2]) * w, mask + static_cast<std::ptrdiff_t>(r[3]) * w,
          mask + static_cast<std::ptrdiff_t>(r[4]) * w, vm, w);
    hdown<1>(vm, out.m + static_cast<std::ptrdiff_t>(i) * wo, w, wo, tmp);
  }
}

// Level k -> k + 1 (k >= 1).
template <int C>
void down_level(const Level& in, const Level& out, float* scratch, std::ptrdiff_t scratch_stride, bool par) {
  (void)par;  // read by the OpenMP if-clause
  const int h = in.h, w = in.w, ho = out.h, wo = out.w;
  const std::ptrdiff_t rs = static_cast<std::ptrdiff_t>(w) * C;
#if defined(FACEFUSE_HAVE_OPENMP)
#pragma omp parallel for schedule(static) if (par && static_cast<std::ptrdiff_t>(h) * rs > kParallelMinElems)
#endif
  for (int i = 0; i < ho; ++i) {
    float* v = scratch + thread_id() * scratch_stride;
    float* vm = v + rs;
    float* tmp = vm + w;
    int r[5];
    for (int t = 0; t < 5; ++t) r[t] = reflect101(2 * i + t - 2, h);
    vdown(in.g + r[0] * rs, in.g + r[1] * rs, in.g + r[2] * rs, in.g + r[3] * rs, in.g + r[4] * rs, v,
          static_cast<int>(rs));
    hdown<C>(v, out.g + static_cast<std::ptrdiff_t>(i) * wo * C, w, wo, tmp);
    vdown(in.m + static_cast<std::ptrdiff_t>(r[0]) * w, in.m + static_cast<std::ptrdiff_t>(r[1]) * w,
          in.m + static_cast<std::ptrdiff_t>(r[2]) * w, in.m + static_cast<std::ptrdiff_t>(r[3]) * w,
          in.m + static_cast<std::ptrdiff_t>(r[4]) * w, vm, w);
    hdown<1>(vm, out.m + static_cast<std::ptrdiff_t>(i) * wo, w, wo, tmp);
  }
}

// ---- pyrUp + band blend ------------------------------------------------------------

// Horizontal polyphase upsampling of a coarse row (wc pixels) to wf = 2wc or 2wc - 1 pixels.
// Vertical polyphase pyrUp taps over n floats (unnormalised).
inline void vup_even(const float* __restrict a, const float* __restrict b, const float* __restrict c,
                     float* __restrict v, int n) {
  for (int x = 0; x < n; ++x) v[x] = up_even(a[x], b[x], c[x]);
}
inline void vup_odd(const float* __restrict b, const float* __restrict c, float* __restrict v, int n) {
  for (int x = 0; x < n; ++x) v[x] = up_odd(b[x], c[x]);
}

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
  const int j1 = max_i(1, wc - 1);
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

// Round half away from zero and saturate (as saturate_u8) with integer clamps,
// which vectorise to cheap min/max/packs. Exact for |v| < 2^31: the kernels
// only see masks in [0, 1] and uint8 frames, so level-0 values stay within a
// few thousand.
inline std::uint8_t to_u8(float v) {
  int i = static_cast<int>(v + 0.5f);  // truncation == floor for v >= -0.5; below, <= 0 anyway
  i = i < 0 ? 0 : i;
  i = i > 255 ? 255 : i;
  return static_cast<std::uint8_t>(i);
}

template <typename T>
inline T store_as(float v) {
  if constexpr (std::is_same_v<T, std::uint8_t>)
    return to_u8(v);
  else
    return v;
}

// One fine row of a collapse step: the vertical pyrUp taps of the horizontally
// upsampled coarse rows (a, b, c: rows i-1, i, i+1 for an even fine row; b, c:
// rows i, i+1 for an odd one), fused with the band blend. mc is the mask row
// repeated over the channels.
// Level 0: o = dst + mc * (src - dst - upG) + upR, rounded/saturated to T.
// Else:    o = mc * (g - upG) + upR.
template <typename T, bool Level0, bool Even>
inline void combine_row(const float* __restrict ga, const float* __restrict gb, const float* __restrict gc,
                        const float* __restrict ra, const float* __restrict rb, const float* __restrict rc,
                        const float* __restrict mc, const T* __restrict d, const T* __restrict s,
                        const float* __restrict g, T* __restrict o, int n) {
  for (int k = 0; k < n; ++k) {
    const float ug = Even ? up_even(ga[k], gb[k], gc[k]) : up_odd(gb[k], gc[k]);
    const float ur = Even ? up_even(ra[k], rb[k], rc[k]) : up_odd(rb[k], rc[k]);
    if constexpr (Level0) {
      const float dv = to_f(d[k]);
      o[k] = store_as<T>(pyr::blend_band(dv, to_f(s[k]) - dv, mc[k], ug, ur));
    } else {
      o[k] = pyr::blend_band(0.f, g[k], mc[k], ug, ur);
    }
  }
}

// One collapse step at fine level f from coarse level k+1 (its G and R).
// Level 0 (Level0 = true): out = dst + M0 * (src - dst - upG) + upR, stored as T.
// Level k >= 1: R_k = M_k * (G_k - upG) + upR, written to r_out (T = float).
// Horizontal pass first: each thread takes a contiguous band of fine rows and
// upsamples every coarse row it needs once into a 3-row ring (G and R), then
// the vertical taps run on contiguous fine-width rows fused with the blend.
template <typename T, int C, bool Level0>
void up_level(const Level& coarse, int hf, int wf, const float* mask_f, const float* g_f, const T* dst,
              const T* src, T* out, float* scratch, std::ptrdiff_t scratch_stride, bool par) {
  (void)par;  // read by the OpenMP if-clause
  const int hc = coarse.h, wc = coarse.w;
  const std::ptrdiff_t crs = static_cast<std::ptrdiff_t>(wc) * C;
  const std::ptrdiff_t frs = static_cast<std::ptrdiff_t>(wf) * C;
  // The oversubscription guard (parallel.hpp) watches this, the biggest region.
  RegionProbe probe(par && static_cast<std::ptrdiff_t>(hf) * frs > kParallelMinElems);
#if defined(FACEFUSE_HAVE_OPENMP)
#pragma omp parallel if (probe.parallel())
#endif
  {
    const int tid = thread_id(), nt = num_threads();
    const int y0 = static_cast<int>(static_cast<long long>(hf) * tid / nt);
    const int y1 = static_cast<int>(static_cast<long long>(hf) * (tid + 1) / nt);
    float* base = scratch + tid * scratch_stride;
    float* hg[3] = {base, base + frs, base + 2 * frs};
    float* hr[3] = {base + 3 * frs, base + 4 * frs, base + 5 * frs};
    float* mc = base + 6 * frs;
    int tag[3] = {-1, -1, -1};
    // Slot of coarse row ci, upsampling it on first use. The (at most three,
    // consecutive) rows one fine row needs never share a slot.
    auto row = [&](int ci) {
      const int sl = ci % 3;
      if (tag[sl] != ci) {
        hup<C>(coarse.g + ci * crs, hg[sl], wc, wf);
        hup<C>(coarse.r + ci * crs, hr[sl], wc, wf);
        tag[sl] = ci;
      }
      return sl;
    };
    const int nf = static_cast<int>(frs);
    for (int y = y0; y < y1; ++y) {
      const int i = y >> 1;
      const float* m = mask_f + static_cast<std::ptrdiff_t>(y) * wf;
      const float* mrow = m;
      if (C != 1) {
        for (int x = 0; x < wf; ++x) {
          const float mx = m[x];
          for (int c = 0; c < C; ++c) mc[x * C + c] = mx;
        }
        mrow = mc;
      }
      const T* d = Level0 ? dst + y * frs : nullptr;
      const T* s = Level0 ? src + y * frs : nullptr;
      const float* g = Level0 ? nullptr : g_f + y * frs;
      T* o = out + y * frs;
      if (y & 1) {
        const int b = row(i), c = row(up_next(i, hc));
        combine_row<T, Level0, false>(nullptr, hg[b], hg[c], nullptr, hr[b], hr[c], mrow, d, s, g, o, nf);
      } else {
        const int a = row(up_prev(i, hc)), b = row(i), c = row(up_next(i, hc));
        combine_row<T, Level0, true>(hg[a], hg[b], hg[c], hr[a], hr[b], hr[c], mrow, d, s, g, o, nf);
      }
    }
    probe.share_done();
  }
}

template <typename T, int C>
void alpha_only(const T* dst, const T* src, const float* mask, T* out, int h, int w, bool par) {
  (void)par;  // read by the OpenMP if-clause
  const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(h) * w;
#if defined(FACEFUSE_HAVE_OPENMP)
#pragma omp parallel for schedule(static) if (par && n * C > kParallelMinElems)
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
void blend_impl(const T* dst, const T* src, const float* mask, T* out, int h, int w, long long levels) {
  const int K = pyr::clamp_levels(levels, h, w);
  const bool par = max_threads() > 1 && static_cast<std::ptrdiff_t>(h) * w * C > kParallelMinElems && parallel_ok();
  if (K <= 1) {
    alpha_only<T, C>(dst, src, mask, out, h, w, par);
    return;
  }
  // Level sizes and one scratch allocation: G, R, M for levels 1..K-1, then the
  // per-thread row buffers.
  Level lv[kMaxLevels];
  lv[0] = {h, w, nullptr, nullptr, nullptr};
  std::ptrdiff_t total = 0;
  for (int k = 1; k < K; ++k) {
    lv[k].h = pyr::down_size(lv[k - 1].h);
    lv[k].w = pyr::down_size(lv[k - 1].w);
    total += static_cast<std::ptrdiff_t>(lv[k].h) * lv[k].w * (2 * C + 1);
  }
  const std::ptrdiff_t fw = static_cast<std::ptrdiff_t>(w) * C;
  // down: v (w*C) + vm (w) + tmp (w*C); up: 3 + 3 upsampled rows + mc (w*C each).
  std::ptrdiff_t stride = 7 * fw + w;
  stride = (stride + 15) & ~static_cast<std::ptrdiff_t>(15);
  const int nt = max_threads();
  Scratch buf(static_cast<std::size_t>(total + stride * nt + 16));
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

  down_level0<T, C>(dst, src, mask, h, w, lv[1], scratch, stride, par);
  for (int k = 1; k + 1 < K; ++k) down_level<C>(lv[k], lv[k + 1], scratch, stride, par);

  {  // coarsest band: R = M * G
    const Level& t = lv[K - 1];
    const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(t.h) * t.w;
    for (std::ptrdiff_t q = 0; q < n; ++q)
      for (int c = 0; c < C; ++c) t.r[q * C + c] = t.m[q] * t.g[q * C + c];
  }
  for (int k = K - 2; k >= 1; --k)
    up_level<float, C, false>(lv[k + 1], lv[k].h, lv[k].w, lv[k].m, lv[k].g, nullptr, nullptr, lv[k].r, scratch,
                              stride, par);
  up_level<T, C, true>(lv[1], h, w, mask, nullptr, dst, src, out, scratch, stride, par);
}

// ---- stand-alone pyrDown / pyrUp (float32, for the pyramid helpers) ---------------

template <int C>
void pyr_down_impl(const float* src, float* dst, int h, int w) {
  const int ho = pyr::down_size(h), wo = pyr::down_size(w);
  const std::ptrdiff_t rs = static_cast<std::ptrdiff_t>(w) * C;
  const std::ptrdiff_t stride = ((2 * rs + 15) & ~static_cast<std::ptrdiff_t>(15));
  Scratch buf(static_cast<std::size_t>(stride * max_threads() + 16));
  float* scratch = buf.get();
  const bool par = static_cast<std::ptrdiff_t>(h) * rs > kParallelMinElems;
  (void)par;
#if defined(FACEFUSE_HAVE_OPENMP)
#pragma omp parallel for schedule(static) if (par)
#endif
  for (int i = 0; i < ho; ++i) {
    float* v = scratch + thread_id() * stride;
    float* tmp = v + rs;
    int r[5];
    for (int t = 0; t < 5; ++t) r[t] = reflect101(2 * i + t - 2, h);
    vdown(src + r[0] * rs, src + r[1] * rs, src + r[2] * rs, src + r[3] * rs, src + r[4] * rs, v,
          static_cast<int>(rs));
    hdown<C>(v, dst + static_cast<std::ptrdiff_t>(i) * wo * C, w, wo, tmp);
  }
}

// dh in {2h - 1, 2h}, dw in {2w - 1, 2w}.
template <int C>
void pyr_up_impl(const float* src, float* dst, int h, int w, int dh, int dw) {
  const std::ptrdiff_t crs = static_cast<std::ptrdiff_t>(w) * C;
  const std::ptrdiff_t frs = static_cast<std::ptrdiff_t>(dw) * C;
  const std::ptrdiff_t stride = ((3 * frs + 15) & ~static_cast<std::ptrdiff_t>(15));
  Scratch buf(static_cast<std::size_t>(stride * max_threads() + 16));
  float* scratch = buf.get();
  const bool par = static_cast<std::ptrdiff_t>(dh) * frs > kParallelMinElems;
  (void)par;
  const int nf = static_cast<int>(frs);
#if defined(FACEFUSE_HAVE_OPENMP)
#pragma omp parallel for schedule(static) if (par)
#endif
  for (int y = 0; y < dh; ++y) {
    float* a = scratch + thread_id() * stride;
    float* b = a + frs;
    float* c = b + frs;
    const int i = y >> 1;
    float* o = dst + static_cast<std::ptrdiff_t>(y) * frs;
    hup<C>(src + i * crs, b, w, dw);
    hup<C>(src + up_next(i, h) * crs, c, w, dw);
    if (y & 1) {
      vup_odd(b, c, o, nf);
    } else {
      hup<C>(src + up_prev(i, h) * crs, a, w, dw);
      vup_even(a, b, c, o, nf);
    }
  }
}

void pyr_down_any(const float* src, float* dst, int h, int w, int c) {
  if (c == 3)
    pyr_down_impl<3>(src, dst, h, w);
  else
    pyr_down_impl<1>(src, dst, h, w);
}

void pyr_up_any(const float* src, float* dst, int h, int w, int c, int dh, int dw) {
  if (c == 3)
    pyr_up_impl<3>(src, dst, h, w, dh, dw);
  else
    pyr_up_impl<1>(src, dst, h, w, dh, dw);
}

template <typename T>
void blend_any(const T* dst, const T* src, const float* mask, T* out, int h, int w, int c, long long levels) {
  if (c == 3)
    blend_impl<T, 3>(dst, src, mask, out, h, w, levels);
  else
    blend_impl<T, 1>(dst, src, mask, out, h, w, levels);
}

