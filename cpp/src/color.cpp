// CPU kernels for the color op family: LAB conversion and Reinhard transfer.
#include "facefuse/color.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>

#include "facefuse/color_math.hpp"
#include "facefuse/common.hpp"

namespace facefuse::color {

namespace {

using std::int64_t;

// Pixels per parallel work item.
constexpr int64_t kBlock = 2048;

struct Tables {
  std::unique_ptr<std::int16_t[]> lut;
  std::unique_ptr<float[]> spline;
  int q8[256];  // fixed-point value of uint8 v (v / 255 in float, as numpy's img / 255)
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
    tb->lut.reset(new std::int16_t[kLabLutSize]);
    build_lab_lut(tb->lut.get());
    float ig[kGammaTabSize + 1];
    for (int i = 0; i <= kGammaTabSize; ++i)
      ig[i] = static_cast<float>(linear_to_srgb(static_cast<double>(static_cast<float>(i) / float(kGammaTabSize))));
    tb->spline.reset(new float[kGammaTabLen]);
    build_spline(ig, kGammaTabSize, tb->spline.get());
    for (int v = 0; v < 256; ++v) tb->q8[v] = lab_quantize(static_cast<float>(v) / 255.0f);
    return tb;
  }();
  return *t;
}

// Fixed-point quantisation of one channel value for each input convention.
struct QuantU8 {
  const int* q8;
  int operator()(std::uint8_t v) const { return q8[v]; }
};
struct QuantUnit {  // float in [0, 1]
  int operator()(float v) const { return lab_quantize(v); }
};
struct Quant255 {  // float on the 0..255 scale: v / 255 in float, as numpy img / 255
  int operator()(float v) const { return lab_quantize(v / 255.0f); }
};

template <typename T, typename Q>
void bgr_to_lab_impl(const T* src, float* dst, int64_t n, Q quant) {
  const std::int16_t* lut = lab_lut();
  const int64_t nblocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < nblocks; ++blk) {
    const int64_t i0 = blk * kBlock, i1 = std::min(n, i0 + kBlock);
    for (int64_t i = i0; i < i1; ++i) {
      const T* p = src + 3 * i;
      float* o = dst + 3 * i;
      lab_from_fixed(lut, quant(p[0]), quant(p[1]), quant(p[2]), o[0], o[1], o[2]);
    }
  }
}

template <typename T, typename Q>
LabStats lab_stats_impl(const T* img, const float* mask, int64_t n, Q quant) {
  const std::int16_t* lut = lab_lut();
  LabStats st{};
  // Shift = the LAB value of the first pixel with positive weight, so that a
  // uniform region gives exactly zero variance and the one-pass sums stay well
  // conditioned.
  int64_t first = 0;
  if (mask) {
    while (first < n && !(mask[first] > 0.0f)) ++first;
    if (first == n) return st;  // weight 0
  }
  float sL, sa, sb;
  lab_from_fixed(lut, quant(img[3 * first]), quant(img[3 * first + 1]), quant(img[3 * first + 2]), sL, sa, sb);
  const double shift[3] = {sL, sa, sb};
  double w = 0, m0 = 0, m1 = 0, m2 = 0, q0 = 0, q1 = 0, q2 = 0;
  const int64_t nblocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) reduction(+ : w, m0, m1, m2, q0, q1, q2)
  for (int64_t blk = 0; blk < nblocks; ++blk) {
    const int64_t i0 = blk * kBlock, i1 = std::min(n, i0 + kBlock);
    double bw = 0, b0 = 0, b1 = 0, b2 = 0, c0 = 0, c1 = 0, c2 = 0;
    for (int64_t i = i0; i < i1; ++i) {
      const double wi = mask ? static_cast<double>(mask[i]) : 1.0;
      if (mask && !(wi > 0.0)) continue;
      const T* p = img + 3 * i;
      float L, a, b;
      lab_from_fixed(lut, quant(p[0]), quant(p[1]), quant(p[2]), L, a, b);
      const double d0 = L - shift[0], d1 = a - shift[1], d2 = b - shift[2];
      bw += wi;
      b0 += wi * d0;
      b1 += wi * d1;
      b2 += wi * d2;
      c0 += wi * d0 * d0;
      c1 += wi * d1 * d1;
      c2 += wi * d2 * d2;
    }
    w += bw;
    m0 += b0;
    m1 += b1;
    m2 += b2;
    q0 += c0;
    q1 += c1;
    q2 += c2;
  }
  st.weight = w;
  if (!(w > 0.0)) return st;
  const double m[3] = {m0 / w, m1 / w, m2 / w};
  const double q[3] = {q0 / w, q1 / w, q2 / w};
  for (int c = 0; c < 3; ++c) {
    st.mean[c] = shift[c] + m[c];
    const double var = q[c] - m[c] * m[c];
    st.std[c] = var > 0.0 ? std::sqrt(var) : 0.0;
  }
  return st;
}


// Output conversion of a blended 0..255 value.
inline void store_out(std::uint8_t* o, float v) { *o = saturate_u8(v); }
inline void store_out(float* o, float v) { *o = v > 0.0f ? (v < 255.0f ? v : 255.0f) : 0.0f; }
inline float load_in(std::uint8_t v) { return static_cast<float>(v); }
inline float load_in(float v) { return v; }

template <typename T, typename Q>
TransferStatus color_transfer_impl(const T* src, int64_t n_src, const T* ref, int64_t n_ref, const float* src_mask,
                                   const float* ref_mask, float strength, T* dst, Q quant) {
  const LabStats ss = lab_stats_impl(src, src_mask, n_src, quant);
  if (!(ss.weight > 0.0)) return TransferStatus::src_mask_empty;
  const LabStats rs = lab_stats_impl(ref, ref_mask, n_ref, quant);
  if (!(rs.weight > 0.0)) return TransferStatus::ref_mask_empty;
  float ms[3], k[3], mr[3];
  for (int c = 0; c < 3; ++c) {
    ms[c] = static_cast<float>(ss.mean[c]);
    k[c] = static_cast<float>(rs.std[c] / std::max(ss.std[c], kTransferEps));
    mr[c] = static_cast<float>(rs.mean[c]);
  }
  const std::int16_t* lut = lab_lut();
  const float* gtab = gamma_inv_spline();
  const float s = strength;
  const int64_t nblocks = (n_src + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < nblocks; ++blk) {
    const int64_t i0 = blk * kBlock, i1 = std::min(n_src, i0 + kBlock);
    for (int64_t i = i0; i < i1; ++i) {
      const T* p = src + 3 * i;
      T* q = dst + 3 * i;
      if (s == 0.0f) {
        for (int c = 0; c < 3; ++c) store_out(q + c, load_in(p[c]));
        continue;
      }
      float L, a, b;
      lab_from_fixed(lut, quant(p[0]), quant(p[1]), quant(p[2]), L, a, b);
      L = transfer_affine(L, ms[0], k[0], mr[0]);
      a = transfer_affine(a, ms[1], k[1], mr[1]);
      b = transfer_affine(b, ms[2], k[2], mr[2]);
      float ob, og, orr;
      lab_to_bgr_px(gtab, L, a, b, ob, og, orr);
      store_out(q + 0, transfer_blend(load_in(p[0]), ob * 255.0f, s));
      store_out(q + 1, transfer_blend(load_in(p[1]), og * 255.0f, s));
      store_out(q + 2, transfer_blend(load_in(p[2]), orr * 255.0f, s));
    }
  }
  return TransferStatus::ok;
}

}  // namespace

const std::int16_t* lab_lut() { return tables().lut.get(); }
const float* gamma_inv_spline() { return tables().spline.get(); }

void bgr_to_lab(const float* src, float* dst, int64_t n) { bgr_to_lab_impl(src, dst, n, QuantUnit{}); }
void bgr_to_lab(const std::uint8_t* src, float* dst, int64_t n) {
  bgr_to_lab_impl(src, dst, n, QuantU8{tables().q8});
}

void lab_to_bgr(const float* src, float* dst, int64_t n) {
  const float* gtab = gamma_inv_spline();
  const int64_t nblocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < nblocks; ++blk) {
    const int64_t i0 = blk * kBlock, i1 = std::min(n, i0 + kBlock);
    for (int64_t i = i0; i < i1; ++i) {
      const float* p = src + 3 * i;
      float* q = dst + 3 * i;
      lab_to_bgr_px(gtab, p[0], p[1], p[2], q[0], q[1], q[2]);
    }
  }
}

LabStats lab_stats(const std::uint8_t* img, const float* mask, int64_t n) {
  return lab_stats_impl(img, mask, n, QuantU8{tables().q8});
}
LabStats lab_stats(const float* img, const float* mask, int64_t n) {
  return lab_stats_impl(img, mask, n, Quant255{});
}

TransferStatus color_transfer(const std::uint8_t* src, int64_t n_src, const std::uint8_t* ref, int64_t n_ref,
                              const float* src_mask, const float* ref_mask, float strength, std::uint8_t* dst) {
  return color_transfer_impl(src, n_src, ref, n_ref, src_mask, ref_mask, strength, dst, QuantU8{tables().q8});
}
TransferStatus color_transfer(const float* src, int64_t n_src, const float* ref, int64_t n_ref,
                              const float* src_mask, const float* ref_mask, float strength, float* dst) {
  return color_transfer_impl(src, n_src, ref, n_ref, src_mask, ref_mask, strength, dst, Quant255{});
}

}  // namespace facefuse::color
