// Per-pixel maths of the paste family: facefuse's bilinear affine warp and the
// paste-back alpha blend.
//
// Plain C++ (no containers, no exceptions) so that a CUDA backend can call the
// same functions from its kernels (FF_HD).
//
// The warp's semantics are facefuse's own, kept whatever OpenCV is installed;
// facefuse/reference/paste.py spells them out in NumPy (the tests' exact
// oracle) and docs/warp-semantics.md compares them with each OpenCV version:
//
//  * The forward 2x3 matrix is inverted in double (D = 1 / (m0 m4 - m1 m3),
//    A11 = m4 D, A12 = -m1 D, A21 = -m3 D, A22 = m0 D, b = -A t), and the inverse
//    K is rounded to float32.
//  * Destination pixel (x, y) maps to the source position, in float32,
//      sx = fma(K0, x, float(float(y * K1) + K2)),  sy likewise with K3 K4 K5,
//    fma being IEEE's fused multiply-add (one rounding). Every column uses this
//    formula (cv2 5.0 uses it only in the columns its SIMD loop covers).
//  * ix = floor(sx), ax = sx - ix (exact), likewise y; the four neighbours are
//    read as float and interpolated with
//      v0 = fma(ax, p01 - p00, p00), v1 = fma(ax, p11 - p10, p10),
//      v  = fma(ay, v1 - v0, v0).
//    uint8 output: rounded half to even and saturated; float32: stored as is.
//  * Borders: a neighbour outside the source is replaced by the nearest edge
//    pixel (replicate) or by 0 (constant); with the constant border a position
//    whose whole 2x2 neighbourhood is outside (ix < -1, ix >= w, iy < -1 or
//    iy >= h) gives 0 directly (the same value, sooner).
// Every a * b + c outside an fma rounds twice: these files must be compiled
// without floating-point contraction (-ffp-contract=off, nvcc --fmad=false).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "facefuse/common.hpp"

namespace facefuse::paste {

// a * b + c rounded once to float (IEEE fusedMultiplyAdd). Hardware fma where
// the target has one; otherwise in double: the product is exact, the sum is
// rounded to odd (TwoSum's exact error decides the last bit), and a value rounded
// to odd with 53 >= 24 + 2 bits rounds correctly to float.
FF_HD float fma_f32(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(a, b, c);
#elif defined(__FMA__) || defined(__aarch64__) || defined(__ARM_FEATURE_FMA)
  return __builtin_fmaf(a, b, c);
#else
  const double p = static_cast<double>(a) * static_cast<double>(b), cd = c;
  double s = p + cd;
  const double bv = s - p;
  const double err = (p - (s - bv)) + (cd - bv);
  std::uint64_t bits;
  std::memcpy(&bits, &s, sizeof bits);
  if (err != 0.0 && (bits & 1u) == 0u) {
    bits += ((err > 0.0) == (s > 0.0)) ? 1u : ~std::uint64_t(0);  // one ulp toward the exact sum
    std::memcpy(&s, &bits, sizeof bits);
  }
  return static_cast<float>(s);
#endif
}

FF_HD bool finite6(const double* m) {
  for (int i = 0; i < 6; ++i)
    if (!std::isfinite(m[i])) return false;
  return true;
}

// cv::invertAffineTransform (and cv::warpAffine's own inversion) in double.
// Returns false when m is singular or the inverse is not finite.
FF_HD bool invert_affine(const double* m, double* im) {
  double d = m[0] * m[4] - m[1] * m[3];
  if (!(d != 0.0) || !std::isfinite(d)) return false;
  d = 1.0 / d;
  const double a11 = m[4] * d, a22 = m[0] * d, a12 = -m[1] * d, a21 = -m[3] * d;
  const double b1 = -a11 * m[2] - a12 * m[5];
  const double b2 = -a21 * m[2] - a22 * m[5];
  im[0] = a11;
  im[1] = a12;
  im[2] = b1;
  im[3] = a21;
  im[4] = a22;
  im[5] = b2;
  return finite6(im);
}

// cv::invertAffineTransform of a float32 matrix, as OpenCV computes it
// (bit-equal to cv2 4.8-5.1 on 20,000 random matrices, as is invert_affine for
// float64; FaceFusion inverts its alignment matrix with it): determinant and its
// reciprocal in float, the 2x2 inverse in float, the translation in double from
// those floats, everything rounded to float.
FF_HD bool invert_affine_f32(const double* m, double* im) {
  const float m0 = static_cast<float>(m[0]), m1 = static_cast<float>(m[1]), m3 = static_cast<float>(m[3]),
              m4 = static_cast<float>(m[4]);
  const float det = m0 * m4 - m1 * m3;
  if (!(det != 0.0f) || !std::isfinite(det)) return false;
  const float d = 1.0f / det;
  const float a11 = m4 * d, a22 = m0 * d, a12 = -m1 * d, a21 = -m3 * d;
  const double b1 = -static_cast<double>(a11) * m[2] - static_cast<double>(a12) * m[5];
  const double b2 = -static_cast<double>(a21) * m[2] - static_cast<double>(a22) * m[5];
  im[0] = a11;
  im[1] = a12;
  im[2] = static_cast<float>(b1);
  im[3] = a21;
  im[4] = a22;
  im[5] = static_cast<float>(b2);
  return finite6(im);
}

// Paste region [x0, x1) x [y0, y1) of the frame (empty when x1 <= x0 or y1 <= y0).
struct PasteBox {
  int x0, y0, x1, y1;
};

FF_HD int clamp_floor(double v, int hi) {
  v = std::floor(v);
  return v <= 0.0 ? 0 : (v >= hi ? hi : static_cast<int>(v));
}
FF_HD int clamp_ceil(double v, int hi) {
  v = std::ceil(v);
  return v <= 0.0 ? 0 : (v >= hi ? hi : static_cast<int>(v));
}

// FaceFusion's paste geometry. `affine` is the frame -> crop matrix of the
// alignment warp (float32 values when affine_f32). Computes the crop -> frame
// inverse, the paste box (the crop corners (0,0), (w,0), (w,h), (0,h) mapped
// into the frame, floor of the min / ceil of the max, clipped to the frame) and
// `warp`: the float32 box -> crop matrix K (the inverse of the crop -> frame
// matrix shifted to the box origin, as cv2.warpAffine would invert the matrix
// FaceFusion hands it). Returns false when the
// affine (or a derived matrix) is singular or not finite.
FF_HD bool paste_setup(const double* affine, bool affine_f32, int crop_h, int crop_w, int frame_h, int frame_w,
                       PasteBox* box, float* warp) {
  double inv[6];
  if (!(affine_f32 ? invert_affine_f32(affine, inv) : invert_affine(affine, inv))) return false;
  const double cx[4] = {0.0, static_cast<double>(crop_w), static_cast<double>(crop_w), 0.0};
  const double cy[4] = {0.0, 0.0, static_cast<double>(crop_h), static_cast<double>(crop_h)};
  double xmin = 0, xmax = 0, ymin = 0, ymax = 0;
  for (int k = 0; k < 4; ++k) {
    const double px = inv[0] * cx[k] + inv[1] * cy[k] + inv[2];
    const double py = inv[3] * cx[k] + inv[4] * cy[k] + inv[5];
    if (k == 0 || px < xmin) xmin = px;
    if (k == 0 || px > xmax) xmax = px;
    if (k == 0 || py < ymin) ymin = py;
    if (k == 0 || py > ymax) ymax = py;
  }
  box->x0 = clamp_floor(xmin, frame_w);
  box->y0 = clamp_floor(ymin, frame_h);
  box->x1 = clamp_ceil(xmax, frame_w);
  box->y1 = clamp_ceil(ymax, frame_h);
  inv[2] -= box->x0;
  inv[5] -= box->y0;
  if (affine_f32) {
    inv[2] = static_cast<float>(inv[2]);
    inv[5] = static_cast<float>(inv[5]);
  }
  double fwd[6];
  if (!invert_affine(inv, fwd)) return false;
  for (int i = 0; i < 6; ++i) warp[i] = static_cast<float>(fwd[i]);
  return true;
}

// The per-row offsets float(float(y * K1) + K2), float(float(y * K4) + K5).
FF_HD void row_offsets(const float* m, int y, float* rx, float* ry) {
  const float fy = static_cast<float>(y);
  *rx = fy * m[1] + m[2];
  *ry = fy * m[4] + m[5];
}

// Source position of destination pixel (x, y) in a row with offsets (rx, ry)
// from row_offsets.
FF_HD void map_col(const float* m, int x, float rx, float ry, float* sx, float* sy) {
  const float fx = static_cast<float>(x);
  *sx = fma_f32(m[0], fx, rx);
  *sy = fma_f32(m[3], fx, ry);
}

// Narrows [*lo, *hi] (destination columns, double) to the x where
// a * x + c lies in [L, H]; empties it (lo > hi) when there is none.
FF_HD void clip_linear(double a, double c, double L, double H, double* lo, double* hi) {
  if (a == 0.0) {
    if (c < L || c > H) {
      *lo = 1.0;
      *hi = 0.0;
    }
    return;
  }
  double x1 = (L - c) / a, x2 = (H - c) / a;
  if (a < 0.0) {
    const double t = x1;
    x1 = x2;
    x2 = t;
  }
  if (x1 > *lo) *lo = x1;
  if (x2 < *hi) *hi = x2;
}

// Conservative column span [*xa, *xb) of destination row y (0 <= *xa <= *xb <= dw)
// outside which the float source position map_col computes provably lies
// outside [xlo, xhi] x [ylo, yhi]: the exact affine map is intersected in
// double with that rectangle widened by far more than the float rounding error
// of map_col, and the span is widened by 2 columns. With BORDER_CONSTANT and
// (xlo, xhi, ylo, yhi) = (-1, w, -1, h), every column outside the span samples 0.
FF_HD void source_span(const float* m, int y, int dw, double xlo, double xhi, double ylo, double yhi, int* xa,
                       int* xb) {
  const double fy = static_cast<double>(y), fw = static_cast<double>(dw);
  const double m0 = m[0], m1 = m[1], m2 = m[2], m3 = m[3], m4 = m[4], m5 = m[5];
  const double cx = m1 * fy + m2, cy = m4 * fy + m5;
  const double mag = std::fabs(m0) * fw + std::fabs(m1) * fy + std::fabs(m2) + std::fabs(m3) * fw +
                     std::fabs(m4) * fy + std::fabs(m5) + std::fabs(xlo) + std::fabs(xhi) + std::fabs(ylo) +
                     std::fabs(yhi);
  const double e = 1e-4 * mag + 1e-2;
  double lo = 0.0, hi = fw;
  clip_linear(m0, cx, xlo - e, xhi + e, &lo, &hi);
  clip_linear(m3, cy, ylo - e, yhi + e, &lo, &hi);
  if (!(lo <= hi)) {
    *xa = *xb = 0;
    return;
  }
  lo = std::floor(lo) - 2.0;
  hi = std::ceil(hi) + 3.0;
  *xa = lo <= 0.0 ? 0 : (lo >= fw ? dw : static_cast<int>(lo));
  *xb = hi <= 0.0 ? 0 : (hi >= fw ? dw : static_cast<int>(hi));
  if (*xb < *xa) *xb = *xa;
}

// Far outside any image, yet exact as a float and an int.
constexpr float kCoordLimit = 16777216.0f;  // 2^24

// Integer cell and fractions of a source position (clamped so the int never overflows).
FF_HD void split_coord(float s, int* i, float* a) {
  s = clampf(s, -kCoordLimit, kCoordLimit);
  int t = static_cast<int>(s);          // truncation (no libm call on SSE2)
  t -= static_cast<float>(t) > s ? 1 : 0;  // floor
  *i = t;
  *a = s - static_cast<float>(t);
}

FF_HD float lerp_fma(float a, float p0, float p1) { return fma_f32(a, p1 - p0, p0); }

// Round half to even and saturate to [0, 255] (the warp's uint8 store).
FF_HD std::uint8_t round_even_u8(float v) {
  v = clampf(v, 0.0f, 255.0f);
  const float r = (v + 12582912.0f) - 12582912.0f;  // 1.5 * 2^23: round to nearest even
  return static_cast<std::uint8_t>(static_cast<int>(r));
}

FF_HD int clamp_index(int i, int n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }

// How sample_bilinear reads a pixel value: as a float (images), or as a blend
// weight (WeightLoad: a mask read through mask_weight, the same as sampling the
// mask clipped beforehand, without a clipped copy; the GPU paste reads masks so).
struct FloatLoad {
  template <typename T>
  FF_HD float operator()(T v) const { return static_cast<float>(v); }
};

// Bilinear sample of a C-channel h x w image (row stride `stride` elements) at
// the source position (sx, sy): out[c] in float (before the uint8 rounding).
// replicate: edge pixels outside, else 0.
template <typename T, int C, typename Load = FloatLoad>
FF_HD void sample_bilinear(const T* src, int h, int w, std::ptrdiff_t stride, float sx, float sy, bool replicate,
                           float* out) {
  const Load load;
  int ix, iy;
  float ax, ay;
  split_coord(sx, &ix, &ax);
  split_coord(sy, &iy, &ay);
  float p00[C], p01[C], p10[C], p11[C];
  if (static_cast<unsigned>(ix) < static_cast<unsigned>(w - 1) &&
      static_cast<unsigned>(iy) < static_cast<unsigned>(h - 1)) {
    const T* p = src + iy * stride + static_cast<std::ptrdiff_t>(ix) * C;
    for (int c = 0; c < C; ++c) {
      p00[c] = load(p[c]);
      p01[c] = load(p[C + c]);
      p10[c] = load(p[stride + c]);
      p11[c] = load(p[stride + C + c]);
    }
  } else {
    if (!replicate && (ix < -1 || ix >= w || iy < -1 || iy >= h)) {
      for (int c = 0; c < C; ++c) out[c] = 0.0f;
      return;
    }
    const int xs[2] = {ix, ix + 1}, ys[2] = {iy, iy + 1};
    float* dsts[4] = {p00, p01, p10, p11};
    for (int k = 0; k < 4; ++k) {
      int xx = xs[k & 1], yy = ys[k >> 1];
      const bool inside = xx >= 0 && xx < w && yy >= 0 && yy < h;
      if (!inside && !replicate) {
        for (int c = 0; c < C; ++c) dsts[k][c] = 0.0f;
        continue;
      }
      xx = clamp_index(xx, w);
      yy = clamp_index(yy, h);
      const T* p = src + yy * stride + static_cast<std::ptrdiff_t>(xx) * C;
      for (int c = 0; c < C; ++c) dsts[k][c] = load(p[c]);
    }
  }
  for (int c = 0; c < C; ++c) {
    const float v0 = lerp_fma(ax, p00[c], p01[c]);
    const float v1 = lerp_fma(ax, p10[c], p11[c]);
    out[c] = lerp_fma(ay, v0, v1);
  }
}

// Stores a sampled value for dtype T (uint8: half to even, saturated).
FF_HD void store_sample(float v, std::uint8_t* dst) { *dst = round_even_u8(v); }
FF_HD void store_sample(float v, float* dst) { *dst = v; }

// A mask value as a blend weight: clipped to [0, 1]. Applied to the crop mask's
// values before the warp (so a blurred [0, 1] mask that overshoots 1 by an ulp, as
// cv2.GaussianBlur's do, pastes exactly as the mask clipped to [0, 1]) and again to
// the warped sample (the bilinear sum's rounding).
FF_HD float mask_weight(float m) { return clampf(m, 0.0f, 1.0f); }

struct WeightLoad {
  FF_HD float operator()(float v) const { return mask_weight(v); }
};

// FaceFusion's blend of one channel: frame * (1 - m) + warped * m, each product
// rounded to float (no fma), with m already clipped to [0, 1]. uint8 frames get
// the result rounded half away from zero and saturated (FaceFusion truncates),
// float32 frames the float value.
FF_HD float alpha_mix(float frame, float warped, float m) {
  const float a = frame * (1.0f - m);
  const float b = warped * m;
  return a + b;
}
FF_HD void store_mix(float v, std::uint8_t* dst) { *dst = saturate_u8(v); }
FF_HD void store_mix(float v, float* dst) { *dst = v; }

}  // namespace facefuse::paste
