// CPU kernels for the color op family: LAB conversion and Reinhard transfer.
#include "facefuse/color.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>

#if defined(__SSE2__)
#include <emmintrin.h>
#define FACEFUSE_COLOR_SSE2 1
#endif

#include "facefuse/color_math.hpp"
#include "facefuse/common.hpp"
#include "facefuse/parallel.hpp"

namespace facefuse::color {

namespace {

using std::int64_t;

// Pixels per parallel work item.
constexpr int64_t kBlock = 2048;

struct Tables {
  // 16-byte aligned storage (the SSE2 path loads whole table rows).
  alignas(16) std::int16_t lut[kLabLutSize];
  // Trilinear weights for every (fb, fg, fr) fraction triple: 16^3 x 8 corners
  // (corner k = 4*dr + 2*dg + db), as OpenCV's trilinearLUT.
  alignas(16) std::int16_t wtab[kTrilinearBase * kTrilinearBase * kTrilinearBase * 8];
  alignas(16) float spline[kGammaTabLen];
};

// The forward table, built like OpenCV's initLUTforLABLUVs16 (same float32
// arithmetic, so the same int16 values).
void build_lab_lut(std::int16_t* lut) {
  // XYZ rows divided by the white point, B, G, R column order, rounded to float.
  float coef[9];
  for (int i = 0; i < 3; ++i) {
    const double s = 1.0 / kWhiteD65[i];
    coef[i * 3 + 0] = static_cast<float>(kRGB2XYZ[i * 3 + 2] * s);
    coef[i * 3 + 1] = static_cast<float>(kRGB2XYZ[i * 3 + 1] * s);
    coef[i * 3 + 2] = static_cast<float>(kRGB2XYZ[i * 3 + 0] * s);
  }
  constexpr int D = kLabLutDim;
  float lin[D];
  for (int i = 0; i < D; ++i)
    lin[i] = static_cast<float>(srgb_to_linear(static_cast<double>(static_cast<float>(i) / float(D - 1))));
  // Node values, index (b + D*(g + D*r)) * 3.
  std::unique_ptr<int[]> nodes(new int[D * D * D * 3]);
  for (int r = 0; r < D; ++r)
    for (int g = 0; g < D; ++g)
      for (int b = 0; b < D; ++b) lab_node(coef, lin[b], lin[g], lin[r], &nodes[(b + D * (g + D * r)) * 3]);
  // Cells: for every node, its 8 corners (neighbours clamped to the last node).
  for (int r = 0; r < D; ++r)
    for (int g = 0; g < D; ++g)
      for (int b = 0; b < D; ++b) {
        std::int16_t* cell = lut + kLutCellStride * (b + D * (g + D * r));
        for (int dr = 0; dr < 2; ++dr)
          for (int dg = 0; dg < 2; ++dg)
            for (int db = 0; db < 2; ++db) {
              const int k = 4 * dr + 2 * dg + db;
              const int nb = std::min(b + db, D - 1), ng = std::min(g + dg, D - 1), nr = std::min(r + dr, D - 1);
              const int* v = &nodes[(nb + D * (ng + D * nr)) * 3];
              cell[k] = static_cast<std::int16_t>(v[0]);
              cell[8 + k] = static_cast<std::int16_t>(v[1]);
              cell[16 + k] = static_cast<std::int16_t>(v[2]);
            }
      }
}

// Natural cubic spline through f[0..n] (n intervals) in float, as OpenCV's splineBuild.
void build_spline(const float* f, int n, float* tab) {
  float cn = 0.0f;
  tab[0] = tab[1] = 0.0f;
  for (int i = 1; i < n; ++i) {
    const float t = ((f[i + 1] - f[i] * 2.0f) + f[i - 1]) * 3.0f;
    const float l = 1.0f / (4.0f - tab[(i - 1) * 4]);
    tab[i * 4] = l;
    tab[i * 4 + 1] = (t - tab[(i - 1) * 4 + 1]) * l;
  }
  for (int j = 0; j < n; ++j) {
    const int i = n - j - 1;
    const float c = tab[i * 4 + 1] - tab[i * 4] * cn;
    const float b = (f[i + 1] - f[i]) - (cn + c * 2.0f) / 3.0f;
    const float d = (cn - c) / 3.0f;
    tab[i * 4] = f[i];
    tab[i * 4 + 1] = b;
    tab[i * 4 + 2] = c;
    tab[i * 4 + 3] = d;
    cn = c;
  }
}

const Tables& tables() {
  static const Tables* t = [] {
    auto* tb = new Tables;
    build_lab_lut(tb->lut);
    for (int fr = 0; fr < kTrilinearBase; ++fr)
      for (int fg = 0; fg < kTrilinearBase; ++fg)
        for (int fb = 0; fb < kTrilinearBase; ++fb) {
          std::int16_t* w = tb->wtab + 8 * (fb + kTrilinearBase * (fg + kTrilinearBase * fr));
          for (int k = 0; k < 8; ++k) {
            const int wb = (k & 1) ? fb : kTrilinearBase - fb;
            const int wg = (k & 2) ? fg : kTrilinearBase - fg;
            const int wr = (k & 4) ? fr : kTrilinearBase - fr;
            w[k] = static_cast<std::int16_t>(wb * wg * wr);
          }
        }
    float ig[kGammaTabSize + 1];
    for (int i = 0; i <= kGammaTabSize; ++i)
      ig[i] = static_cast<float>(linear_to_srgb(static_cast<double>(static_cast<float>(i) / float(kGammaTabSize))));
    build_spline(ig, kGammaTabSize, tb->spline);
    return tb;
  }();
  return *t;
}

// Pixels that go through the stages together (stack buffers).
constexpr int kChunk = 256;

// ---- stage 1: fixed-point quantisation (element-wise, auto-vectorised) ----
template <bool Div255>
inline void quantize(const float* p, int m, int* q) {
  for (int j = 0; j < m; ++j) q[j] = lab_quantize(Div255 ? p[j] / 255.0f : p[j]);
}
template <bool Div255>
inline void quantize(const std::uint8_t* p, int m, int* q) {
  // uint8 always means value / 255 (as numpy's img.astype(float32) / 255).
  for (int j = 0; j < m; ++j) q[j] = lab_quantize(static_cast<float>(p[j]) / 255.0f);
}

// ---- stage 2: table interpolation -> (L, a, b, 0) per pixel ----
inline void interp(const Tables& t, const int* q, int len, float* lab4) {
#if defined(FACEFUSE_COLOR_SSE2)
  constexpr int cell_shift = kLabBaseShift - kLabLutShift;
  constexpr int frac_shift = kLabBaseShift - 8 - 1;
  constexpr int fm = kTrilinearBase - 1;
  const __m128i zero = _mm_setzero_si128();
  const __m128i half = _mm_set1_epi32(1 << (3 * kTrilinearShift - 1));
  const __m128 scale = _mm_setr_ps(100.0f / kLabBase, 256.0f / kLabBase, 256.0f / kLabBase, 0.0f);
  const __m128 offset = _mm_setr_ps(0.0f, -128.0f, -128.0f, 0.0f);
  for (int i = 0; i < len; ++i) {
    const int ib = q[3 * i], ig = q[3 * i + 1], ir = q[3 * i + 2];
    const int cell = kLutCellStride * ((ib >> cell_shift) + kLabLutDim * ((ig >> cell_shift) + kLabLutDim * (ir >> cell_shift)));
    const int widx = 8 * (((ib >> frac_shift) & fm) + kTrilinearBase * (((ig >> frac_shift) & fm) + kTrilinearBase * ((ir >> frac_shift) & fm)));
    const __m128i w = _mm_load_si128(reinterpret_cast<const __m128i*>(t.wtab + widx));
    const __m128i* c = reinterpret_cast<const __m128i*>(t.lut + cell);
    const __m128i sL = _mm_madd_epi16(_mm_load_si128(c), w);
    const __m128i sa = _mm_madd_epi16(_mm_load_si128(c + 1), w);
    const __m128i sb = _mm_madd_epi16(_mm_load_si128(c + 2), w);
    const __m128i t0 = _mm_add_epi32(_mm_unpacklo_epi32(sL, sa), _mm_unpackhi_epi32(sL, sa));
    const __m128i t1 = _mm_add_epi32(_mm_unpacklo_epi32(sb, zero), _mm_unpackhi_epi32(sb, zero));
    __m128i s = _mm_add_epi32(_mm_unpacklo_epi64(t0, t1), _mm_unpackhi_epi64(t0, t1));  // L, a, b, 0
    s = _mm_srai_epi32(_mm_add_epi32(s, half), 3 * kTrilinearShift);
    _mm_store_ps(lab4 + 4 * i, _mm_add_ps(_mm_mul_ps(_mm_cvtepi32_ps(s), scale), offset));
  }
#else
  for (int i = 0; i < len; ++i) {
    lab_from_fixed(t.lut, q[3 * i], q[3 * i + 1], q[3 * i + 2], lab4[4 * i], lab4[4 * i + 1], lab4[4 * i + 2]);
    lab4[4 * i + 3] = 0.0f;
  }
#endif
}

// ---- inverse stage A: (affine) LAB -> linear RGB clipped, scaled to spline units ----
template <bool Affine>
inline void to_linear(const float* lab, int stride, int len, const float* ms, const float* k, const float* mr,
                      float* lin) {
  constexpr float gs = static_cast<float>(kGammaTabSize);
  for (int i = 0; i < len; ++i) {
    float L = lab[stride * i], A = lab[stride * i + 1], B = lab[stride * i + 2];
    if (Affine) {
      L = transfer_affine(L, ms[0], k[0], mr[0]);
      A = transfer_affine(A, ms[1], k[1], mr[1]);
      B = transfer_affine(B, ms[2], k[2], mr[2]);
    }
    float lb, lg, lr;
    lab_to_linear(L, A, B, lb, lg, lr);
    lin[3 * i] = lb * gs;
    lin[3 * i + 1] = lg * gs;
    lin[3 * i + 2] = lr * gs;
  }
}

// ---- inverse stage B: companding spline on m values in spline units ----
inline void spline_block(const float* tab, const float* x, int m, float* out) {
  int j = 0;
#if defined(FACEFUSE_COLOR_SSE2)
  const __m128 top = _mm_set1_ps(static_cast<float>(kGammaTabSize - 1));
  alignas(16) int ix[4];
  for (; j + 4 <= m; j += 4) {
    const __m128 v = _mm_loadu_ps(x + j);  // in [0, 1024]
    const __m128i vi = _mm_cvttps_epi32(_mm_min_ps(v, top));
    const __m128 fr = _mm_sub_ps(v, _mm_cvtepi32_ps(vi));
    _mm_store_si128(reinterpret_cast<__m128i*>(ix), vi);
    __m128 c0 = _mm_load_ps(tab + 4 * ix[0]);
    __m128 c1 = _mm_load_ps(tab + 4 * ix[1]);
    __m128 c2 = _mm_load_ps(tab + 4 * ix[2]);
    __m128 c3 = _mm_load_ps(tab + 4 * ix[3]);
    _MM_TRANSPOSE4_PS(c0, c1, c2, c3);  // c0 = coefficient 0 of the 4 values, ...
    __m128 r = _mm_add_ps(_mm_mul_ps(c3, fr), c2);
    r = _mm_add_ps(_mm_mul_ps(r, fr), c1);
    r = _mm_add_ps(_mm_mul_ps(r, fr), c0);
    _mm_storeu_ps(out + j, r);
  }
#endif
  for (; j < m; ++j) out[j] = spline_eval(tab, x[j]);
}

// ---- output stage: blend with the source and store ----
inline void store_out(std::uint8_t* o, float v) { *o = saturate_u8(v); }
inline void store_out(float* o, float v) {
  v = v > 0.0f ? v : 0.0f;
  *o = v < 255.0f ? v : 255.0f;
}

template <typename T>
inline void blend_store(const T* src, const float* enc, int m, float s, T* dst) {
  const float s0 = 1.0f - s;
  for (int j = 0; j < m; ++j) {
    const float v = static_cast<float>(src[j]) * s0 + (enc[j] * 255.0f) * s;
    store_out(dst + j, v);
  }
}

template <bool Div255, typename T>
void bgr_to_lab_impl(const T* src, float* dst, int64_t n) {
  const Tables& t = tables();
  const int64_t nblocks = (n + kBlock - 1) / kBlock;
  RegionProbe probe(nblocks > 1);
#pragma omp parallel if (probe.parallel())
  {
#pragma omp for schedule(static) nowait
    for (int64_t blk = 0; blk < nblocks; ++blk) {
      alignas(16) int q[3 * kChunk];
      alignas(16) float lab4[4 * kChunk];
      const int64_t i1 = std::min(n, (blk + 1) * kBlock);
      for (int64_t i = blk * kBlock; i < i1; i += kChunk) {
        const int len = static_cast<int>(std::min<int64_t>(kChunk, i1 - i));
        quantize<Div255>(src + 3 * i, 3 * len, q);
        interp(t, q, len, lab4);
        float* o = dst + 3 * i;
        for (int j = 0; j < len; ++j) {
          o[3 * j] = lab4[4 * j];
          o[3 * j + 1] = lab4[4 * j + 1];
          o[3 * j + 2] = lab4[4 * j + 2];
        }
      }
    }
    probe.share_done();
  }
}

// Weighted sums of (lab - shift) and its squares over a chunk, in double.
struct Sums {
  double w = 0, m[3] = {0, 0, 0}, q[3] = {0, 0, 0};
};

inline void accumulate(const float* lab4, const float* mask, int len, const float* shift, Sums& s) {
#if defined(FACEFUSE_COLOR_SSE2)
  const __m128 sh = _mm_setr_ps(shift[0], shift[1], shift[2], 0.0f);
  __m128d m01 = _mm_setzero_pd(), m2 = _mm_setzero_pd(), q01 = _mm_setzero_pd(), q2 = _mm_setzero_pd();
  double wsum = 0.0;
  for (int i = 0; i < len; ++i) {
    const double wi = mask ? static_cast<double>(mask[i]) : 1.0;
    wsum += wi;
    const __m128d w = _mm_set1_pd(wi);
    const __m128 d = _mm_sub_ps(_mm_load_ps(lab4 + 4 * i), sh);
    const __m128d d01 = _mm_cvtps_pd(d), d2 = _mm_cvtps_pd(_mm_movehl_ps(d, d));
    const __m128d wd01 = _mm_mul_pd(w, d01), wd2 = _mm_mul_pd(w, d2);
    m01 = _mm_add_pd(m01, wd01);
    m2 = _mm_add_pd(m2, wd2);
    q01 = _mm_add_pd(q01, _mm_mul_pd(wd01, d01));
    q2 = _mm_add_pd(q2, _mm_mul_pd(wd2, d2));
  }
  alignas(16) double a[2], b[2], c[2], e[2];
  _mm_store_pd(a, m01);
  _mm_store_pd(b, m2);
  _mm_store_pd(c, q01);
  _mm_store_pd(e, q2);
  s.w += wsum;
  s.m[0] += a[0];
  s.m[1] += a[1];
  s.m[2] += b[0];
  s.q[0] += c[0];
  s.q[1] += c[1];
  s.q[2] += e[0];
#else
  for (int i = 0; i < len; ++i) {
    const double wi = mask ? static_cast<double>(mask[i]) : 1.0;
    s.w += wi;
    for (int c = 0; c < 3; ++c) {
      const double d = static_cast<double>(lab4[4 * i + c]) - static_cast<double>(shift[c]);
      s.m[c] += wi * d;
      s.q[c] += wi * d * d;
    }
  }
#endif
}

template <bool Div255, typename T>
LabStats lab_stats_impl(const T* img, const float* mask, int64_t n) {
  const Tables& t = tables();
  LabStats st{};
  // Shift = the LAB value of the first pixel with positive weight, so that a
  // uniform region gives exactly zero variance and the one-pass sums stay well
  // conditioned.
  int64_t first = 0;
  if (mask) {
    while (first < n && !(mask[first] > 0.0f)) ++first;
    if (first == n) return st;  // weight 0
  }
  float shift[3];
  {
    alignas(16) int q[3];
    alignas(16) float lab4[4];
    quantize<Div255>(img + 3 * first, 3, q);
    interp(t, q, 1, lab4);
    shift[0] = lab4[0];
    shift[1] = lab4[1];
    shift[2] = lab4[2];
  }
  double w = 0, m0 = 0, m1 = 0, m2 = 0, q0 = 0, q1 = 0, q2 = 0;
  const int64_t nblocks = (n + kBlock - 1) / kBlock;
  RegionProbe probe(nblocks > 1);
#pragma omp parallel if (probe.parallel())
  {
#pragma omp for schedule(static) reduction(+ : w, m0, m1, m2, q0, q1, q2) nowait
    for (int64_t blk = 0; blk < nblocks; ++blk) {
      alignas(16) int q[3 * kChunk];
      alignas(16) float lab4[4 * kChunk];
      Sums s;
      const int64_t i1 = std::min(n, (blk + 1) * kBlock);
      for (int64_t i = blk * kBlock; i < i1; i += kChunk) {
        const int len = static_cast<int>(std::min<int64_t>(kChunk, i1 - i));
        quantize<Div255>(img + 3 * i, 3 * len, q);
        interp(t, q, len, lab4);
        accumulate(lab4, mask ? mask + i : nullptr, len, shift, s);
      }
      w += s.w;
      m0 += s.m[0];
      m1 += s.m[1];
      m2 += s.m[2];
      q0 += s.q[0];
      q1 += s.q[1];
      q2 += s.q[2];
    }
    probe.share_done();
  }
  st.weight = w;
  if (!(w > 0.0)) return st;
  const double m[3] = {m0 / w, m1 / w, m2 / w};
  const double q[3] = {q0 / w, q1 / w, q2 / w};
  for (int c = 0; c < 3; ++c) {
    st.mean[c] = static_cast<double>(shift[c]) + m[c];
    const double var = q[c] - m[c] * m[c];
    st.std[c] = var > 0.0 ? std::sqrt(var) : 0.0;
  }
  return st;
}

template <bool Div255, typename T>
TransferStatus color_transfer_impl(const T* src, int64_t n_src, const T* ref, int64_t n_ref, const float* src_mask,
                                   const float* ref_mask, float strength, T* dst) {
  const LabStats ss = lab_stats_impl<Div255>(src, src_mask, n_src);
  if (!(ss.weight > 0.0)) return TransferStatus::src_mask_empty;
  const LabStats rs = lab_stats_impl<Div255>(ref, ref_mask, n_ref);
  if (!(rs.weight > 0.0)) return TransferStatus::ref_mask_empty;
  float ms[3], k[3], mr[3];
  for (int c = 0; c < 3; ++c) {
    ms[c] = static_cast<float>(ss.mean[c]);
    k[c] = static_cast<float>(rs.std[c] / std::max(ss.std[c], kTransferEps));
    mr[c] = static_cast<float>(rs.mean[c]);
  }
  const Tables& t = tables();
  const float s = strength;
  const int64_t nblocks = (n_src + kBlock - 1) / kBlock;
  RegionProbe probe(nblocks > 1);
#pragma omp parallel if (probe.parallel())
  {
#pragma omp for schedule(static) nowait
    for (int64_t blk = 0; blk < nblocks; ++blk) {
      alignas(16) int q[3 * kChunk];
      alignas(16) float lab4[4 * kChunk];
      alignas(16) float lin[3 * kChunk];
      alignas(16) float enc[3 * kChunk];
      const int64_t i1 = std::min(n_src, (blk + 1) * kBlock);
      for (int64_t i = blk * kBlock; i < i1; i += kChunk) {
        const int len = static_cast<int>(std::min<int64_t>(kChunk, i1 - i));
        const T* p = src + 3 * i;
        if (s == 0.0f) {
          for (int j = 0; j < 3 * len; ++j) store_out(dst + 3 * i + j, static_cast<float>(p[j]));
          continue;
        }
        quantize<Div255>(p, 3 * len, q);
        interp(t, q, len, lab4);
        to_linear<true>(lab4, 4, len, ms, k, mr, lin);
        spline_block(t.spline, lin, 3 * len, enc);
        blend_store(p, enc, 3 * len, s, dst + 3 * i);
      }
    }
    probe.share_done();
  }
  return TransferStatus::ok;
}

}  // namespace

const std::int16_t* lab_lut() { return tables().lut; }
const float* gamma_inv_spline() { return tables().spline; }

void bgr_to_lab(const float* src, float* dst, int64_t n) { bgr_to_lab_impl<false>(src, dst, n); }
void bgr_to_lab(const std::uint8_t* src, float* dst, int64_t n) { bgr_to_lab_impl<true>(src, dst, n); }

void lab_to_bgr(const float* src, float* dst, int64_t n) {
  const Tables& t = tables();
  const int64_t nblocks = (n + kBlock - 1) / kBlock;
  RegionProbe probe(nblocks > 1);
#pragma omp parallel if (probe.parallel())
  {
#pragma omp for schedule(static) nowait
    for (int64_t blk = 0; blk < nblocks; ++blk) {
      alignas(16) float lin[3 * kChunk];
      const int64_t i1 = std::min(n, (blk + 1) * kBlock);
      for (int64_t i = blk * kBlock; i < i1; i += kChunk) {
        const int len = static_cast<int>(std::min<int64_t>(kChunk, i1 - i));
        to_linear<false>(src + 3 * i, 3, len, nullptr, nullptr, nullptr, lin);
        spline_block(t.spline, lin, 3 * len, dst + 3 * i);
      }
    }
    probe.share_done();
  }
}

LabStats lab_stats(const std::uint8_t* img, const float* mask, int64_t n) { return lab_stats_impl<true>(img, mask, n); }
LabStats lab_stats(const float* img, const float* mask, int64_t n) { return lab_stats_impl<true>(img, mask, n); }

TransferStatus color_transfer(const std::uint8_t* src, int64_t n_src, const std::uint8_t* ref, int64_t n_ref,
                              const float* src_mask, const float* ref_mask, float strength, std::uint8_t* dst) {
  return color_transfer_impl<true>(src, n_src, ref, n_ref, src_mask, ref_mask, strength, dst);
}
TransferStatus color_transfer(const float* src, int64_t n_src, const float* ref, int64_t n_ref,
                              const float* src_mask, const float* ref_mask, float strength, float* dst) {
  return color_transfer_impl<true>(src, n_src, ref, n_ref, src_mask, ref_mask, strength, dst);
}

}  // namespace facefuse::color
