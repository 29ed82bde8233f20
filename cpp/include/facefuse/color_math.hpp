// Per-pixel maths of the color family: CIELAB (D65) conversion the way OpenCV's
// cv::cvtColor does it for float32 images, and the Reinhard mean/std transfer.
//
// Everything here is plain C++ (no containers, no exceptions) so that a CUDA
// backend can call the same functions from its kernels (FF_HD).
//
// What OpenCV (4.x / 5.x, modules/imgproc/src/color_lab.cpp) does for float input
// and what we reproduce:
//
//  * COLOR_BGR2Lab, float32: the input is clipped to [0, 1] per channel, rounded
//    to a 14-bit fixed-point value (LAB_BASE = 16384, round half to even) and the
//    result is a trilinear interpolation in a 33 x 33 x 33 int16 table of Lab
//    values (sRGB companding + XYZ + f(t) evaluated at the grid nodes, rounded to
//    1/16384 of the L / a / b range), with 4-bit interpolation weights; the
//    integer result is descaled with rounding and mapped back to
//    L in [0, 100], a, b in [-128, 128). It is NOT the textbook formula
//    evaluated per pixel (that differs by up to ~0.5 L units): to match cv2 to
//    1e-3 we build the same table with the same float32 arithmetic (OpenCV
//    builds it with its softfloat library: IEEE float32 ops, a truncating cube
//    root, a double-precision pow for the companding) and interpolate it the
//    same way, which makes bgr_to_lab bit-identical to cv2.
//  * COLOR_Lab2BGR, float32: evaluated per pixel in float32: f^-1 with the
//    thresholds L <= 8 and f <= 6/29, XYZ -> linear sRGB, clipped to [0, 1], then
//    the sRGB companding through a natural cubic spline on 1024 intervals (no
//    clipping of the Lab input; the output is always in [0, 1]).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "facefuse/common.hpp"

namespace facefuse::color {

// ---------------------------------------------------------------------------
// Constants (all from OpenCV imgproc/src/color_lab.cpp, which takes them from
// IEC 61966-2-1 (sRGB) and CIE 15 (CIELAB)).
// ---------------------------------------------------------------------------

// Linear sRGB -> XYZ, rows X, Y, Z; columns R, G, B (OpenCV sRGB2XYZ_D65).
constexpr double kRGB2XYZ[9] = {0.412453, 0.357580, 0.180423,   //
                                0.212671, 0.715160, 0.072169,   //
                                0.019334, 0.119193, 0.950227};
// XYZ -> linear sRGB, rows R, G, B; columns X, Y, Z (OpenCV XYZ2sRGB_D65).
constexpr double kXYZ2RGB[9] = {3.240479,  -1.53715,  -0.498535,  //
                                -0.969256, 1.875991,  0.041556,   //
                                0.055648,  -0.204043, 1.057311};
// D65 reference white (Xn, Yn, Zn) as OpenCV writes it (D65 in color_lab.cpp).
constexpr double kWhiteD65[3] = {0.950456, 1.0, 1.088754};

// sRGB companding (IEC 61966-2-1): linear = c <= 0.04045 ? c / 12.92
//                                           : ((c + 0.055) / 1.055)^2.4.
constexpr double kGammaThreshold = 809.0 / 20000.0;       // 0.04045
constexpr double kGammaInvThreshold = 7827.0 / 2500000.0;  // 0.0031308 (= 0.04045 / 12.92)
constexpr double kGammaLowScale = 323.0 / 25.0;           // 12.92
constexpr double kGammaPower = 12.0 / 5.0;                // 2.4
constexpr double kGammaShift = 11.0 / 200.0;              // 0.055

// CIE f(t) = t > (6/29)^3 ? cbrt(t) : t * (29/6)^2 / 3 + 16/116, written as
// OpenCV rounds them to float: 0.008856 = (6/29)^3 = 216/24389,
// 7.787 = (29/3)^3 / (29*4) = 841/108, L = 116 f(Y) - 16, or 903.3 Y = (29/3)^3 Y
// below the threshold.
constexpr float kLabThresh = 216.0f / 24389.0f;  // float(216) / float(24389) (exact quotient rounded once)
constexpr float kLabScale = 841.0f / 108.0f;     // 7.787
constexpr float kLabBias = 16.0f / 116.0f;       // 16/116
constexpr float kLabKappa = 24389.0f / 27.0f;    // 903.3

// Forward table geometry (OpenCV lab_lut_shift, lab_base_shift, trilinear_shift).
constexpr int kLabLutShift = 5;                     // 32 intervals per axis
constexpr int kLabLutDim = (1 << kLabLutShift) + 1;  // 33 nodes per axis
constexpr int kLabBaseShift = 14;
constexpr int kLabBase = 1 << kLabBaseShift;          // 16384: input / output fixed-point unit
constexpr int kTrilinearShift = 8 - kLabLutShift + 1;  // 4 bits of fraction per axis
constexpr int kTrilinearBase = 1 << kTrilinearShift;   // 16
constexpr int kLutCellStride = 3 * 8;                  // 8 corners x (L, a, b) per cell, int16
constexpr int kLabLutSize = kLabLutDim * kLabLutDim * kLabLutDim * kLutCellStride;

// Inverse: thresholds on L and on f (OpenCV Lab2RGBfloat: lThresh = 8 = 0.008856 * 903.3,
// fThresh = 6/29 = 7.787 * 0.008856 + 16/116).
constexpr float kLabLThresh = 8.0f;
constexpr float kLabFThresh = 6.0f / 29.0f;
constexpr float kInv903 = 1.0f / 903.3f;  // OpenCV: li * (1/903.3f)
constexpr float kInv116 = 1.0f / 116.0f;
constexpr float kInv500 = 1.0f / 500.0f;
constexpr float kInv200 = 1.0f / 200.0f;
// The inverse uses the rounded literal 7.787 (not 841/108) like OpenCV's Lab2RGBfloat.
constexpr float kLabScaleInverse = 7.787f;
constexpr float kInv7787 = 1.0f / 7.787f;

// Companding spline: GAMMA_TAB_SIZE intervals on [0, 1], 4 coefficients each.
constexpr int kGammaTabSize = 1024;
constexpr int kGammaTabLen = kGammaTabSize * 4;

// XYZ (un-normalised by the white point) -> B, G, R rows for the inverse, i.e.
// OpenCV's Lab2RGBfloat coeffs for blueIdx = 0: row k = XYZ2RGB[2 - k] * white.
constexpr float kLab2B[3] = {float(kXYZ2RGB[6] * kWhiteD65[0]), float(kXYZ2RGB[7] * kWhiteD65[1]),
                             float(kXYZ2RGB[8] * kWhiteD65[2])};
constexpr float kLab2G[3] = {float(kXYZ2RGB[3] * kWhiteD65[0]), float(kXYZ2RGB[4] * kWhiteD65[1]),
                             float(kXYZ2RGB[5] * kWhiteD65[2])};
constexpr float kLab2R[3] = {float(kXYZ2RGB[0] * kWhiteD65[0]), float(kXYZ2RGB[1] * kWhiteD65[1]),
                             float(kXYZ2RGB[2] * kWhiteD65[2])};

// Colour transfer: the smallest source standard deviation (LAB units) divided by.
constexpr double kTransferEps = 1e-6;

// ---------------------------------------------------------------------------
// Scalar helpers used to build the tables (OpenCV computes them once, in
// softfloat; these reproduce those values).
// ---------------------------------------------------------------------------

// sRGB companding, encoded -> linear, in double (OpenCV applyGamma).
FF_HD double srgb_to_linear(double c) {
  return c <= kGammaThreshold ? c / kGammaLowScale
                              : std::pow((c + kGammaShift) / (1.0 + kGammaShift), kGammaPower);
}

// Linear -> encoded (OpenCV applyInvGamma).
FF_HD double linear_to_srgb(double c) {
  return c <= kGammaInvThreshold ? c * kGammaLowScale
                                 : std::pow(c, 1.0 / kGammaPower) * (1.0 + kGammaShift) - kGammaShift;
}

// Cube root exactly as OpenCV's softfloat cbrt (Ken Turkowski's quartic rational
// approximation on [0.125, 1) in double, the mantissa then TRUNCATED to float).
// For finite x > 0 (the table only calls it above kLabThresh).
FF_HD float cbrt_opencv(float x) {
  std::uint32_t ux;
  std::memcpy(&ux, &x, sizeof ux);
  const std::uint32_t sign = ux >> 31;
  int ex = static_cast<int>((ux >> 23) & 0xFFu) - 127;
  int shx = ex % 3;
  shx -= shx >= 0 ? 3 : 0;
  ex = (ex - shx) / 3 - 1;  // exponent of the cube root
  const std::uint64_t ufr = (static_cast<std::uint64_t>(shx + 1023) << 52) |
                            (static_cast<std::uint64_t>(ux & 0x7FFFFFu) << 29);
  double fr;
  std::memcpy(&fr, &ufr, sizeof fr);  // 0.125 <= fr < 1
  // Coefficients (OpenCV softfloat.cpp, from their raw double bit patterns).
  const double A1 = 45.2548339756803022511987494, A2 = 192.2798368355061050458134625,
               A3 = 119.1654824285581628956914143, A4 = 13.43250139086239872172837314,
               A5 = 0.1636161226585754240958355063, A6 = 14.80884093219134573786480845,
               A7 = 151.9714051044435648658557668, A8 = 168.5254414101568283957668343,
               A9 = 33.9905941350215598754191872;
  fr = ((((A1 * fr + A2) * fr + A3) * fr + A4) * fr + A5) / ((((A6 * fr + A7) * fr + A8) * fr + A9) * fr + 1.0);
  std::uint64_t ufr2;
  std::memcpy(&ufr2, &fr, sizeof ufr2);
  std::uint32_t uy = 0;
  if ((ux & 0x7FFFFFFFu) != 0)
    uy = (sign << 31) | (static_cast<std::uint32_t>(ex + 127) << 23) |
         static_cast<std::uint32_t>((ufr2 & 0xFFFFFFFFFFFFFull) >> 29);
  float y;
  std::memcpy(&y, &uy, sizeof y);
  return y;
}

// CIE f(t) in float as the table builder evaluates it.
FF_HD float lab_f(float t) { return t > kLabThresh ? cbrt_opencv(t) : std::fma(t, kLabScale, kLabBias); }

// One grid node of the forward table: encoded sRGB (b, g, r) in [0, 1] ->
// fixed-point (L, a, b) in units of 1/16384 of [0, 100] and [-128, 128).
// `coef` are the XYZ rows (divided by the white point) in B, G, R column order,
// rounded to float; `lin` = srgb_to_linear already applied.
FF_HD void lab_node(const float* coef, float lb, float lg, float lr, int out[3]) {
  const float X = lb * coef[0] + lg * coef[1] + lr * coef[2];
  const float Y = lb * coef[3] + lg * coef[4] + lr * coef[5];
  const float Z = lb * coef[6] + lg * coef[7] + lr * coef[8];
  const float FX = lab_f(X), FY = lab_f(Y), FZ = lab_f(Z);
  const float L = Y > kLabThresh ? 116.0f * FY - 16.0f : kLabKappa * Y;
  const float a = 500.0f * (FX - FY);
  const float b = 200.0f * (FY - FZ);
  const float base = static_cast<float>(kLabBase);
  out[0] = static_cast<int>(std::nearbyint(base * L / 100.0f));
  out[1] = static_cast<int>(std::nearbyint(base * (a + 128.0f) / 256.0f));
  out[2] = static_cast<int>(std::nearbyint(base * (b + 128.0f) / 256.0f));
}

// ---------------------------------------------------------------------------
// Per-pixel forward conversion.
// ---------------------------------------------------------------------------

// Encoded channel value (any float; NaN maps to 0) -> fixed point in [0, 16384],
// as OpenCV: clip to [0, 1], x * 16384, round half to even. The rounding adds
// and removes 2^23, which rounds to nearest-even in float32 arithmetic for the
// range [0, 16384] (and vectorises, unlike lrintf).
FF_HD int lab_quantize(float v) {
  v = v > 0.0f ? v : 0.0f;  // (maxps / minps operand order: NaN -> 0)
  v = v < 1.0f ? v : 1.0f;
  float s = v * static_cast<float>(kLabBase);
  s = (s + 8388608.0f) - 8388608.0f;
  return static_cast<int>(s);
}

// Fixed-point B, G, R in [0, 16384] -> L, a, b through the forward table
// (trilinear, 4-bit weights, exact integer sums as OpenCV's trilinearInterpolate).
FF_HD void lab_from_fixed(const std::int16_t* lut, int ib, int ig, int ir, float& L, float& a, float& b) {
  constexpr int cell_shift = kLabBaseShift - kLabLutShift;  // 9
  constexpr int frac_shift = kLabBaseShift - 8 - 1;        // 5
  constexpr int frac_mask = kTrilinearBase - 1;
  const int tb = ib >> cell_shift, tg = ig >> cell_shift, tr = ir >> cell_shift;
  const int fb = (ib >> frac_shift) & frac_mask, fg = (ig >> frac_shift) & frac_mask,
            fr = (ir >> frac_shift) & frac_mask;
  const std::int16_t* c = lut + kLutCellStride * (tb + kLabLutDim * (tg + kLabLutDim * tr));
  // Corner k = 4*dr + 2*dg + db.
  const int gb0 = kTrilinearBase - fb, gg0 = kTrilinearBase - fg, gr0 = kTrilinearBase - fr;
  const int w00 = gg0 * gr0, w01 = fg * gr0, w10 = gg0 * fr, w11 = fg * fr;  // (dg, dr)
  const int w[8] = {gb0 * w00, fb * w00, gb0 * w01, fb * w01, gb0 * w10, fb * w10, gb0 * w11, fb * w11};
  int s0 = 0, s1 = 0, s2 = 0;
  for (int k = 0; k < 8; ++k) {
    s0 += c[k] * w[k];
    s1 += c[8 + k] * w[k];
    s2 += c[16 + k] * w[k];
  }
  constexpr int dshift = 3 * kTrilinearShift;  // 12
  constexpr int half = 1 << (dshift - 1);
  const int iL = (s0 + half) >> dshift, ia = (s1 + half) >> dshift, ibb = (s2 + half) >> dshift;
  L = static_cast<float>(iL) * (100.0f / kLabBase);  // exact scale: 100 * 2^-14
  a = static_cast<float>(ia) * (256.0f / kLabBase) - 128.0f;
  b = static_cast<float>(ibb) * (256.0f / kLabBase) - 128.0f;
}

// ---------------------------------------------------------------------------
// Per-pixel inverse conversion.
// ---------------------------------------------------------------------------

// Natural cubic spline evaluation at x in table units (OpenCV splineInterpolate).
FF_HD float spline_eval(const float* tab, float x) {
  int ix = static_cast<int>(x);
  ix = ix < 0 ? 0 : (ix > kGammaTabSize - 1 ? kGammaTabSize - 1 : ix);
  x -= static_cast<float>(ix);
  const float* t = tab + 4 * ix;
  return ((t[3] * x + t[2]) * x + t[1]) * x + t[0];
}

// f^-1 of one of the X / Z components.
FF_HD float lab_finv(float f) {
  const float lo = (f - kLabBias) * kInv7787;
  const float hi = f * f * f;
  return f <= kLabFThresh ? lo : hi;
}

// Clip to [0, 1] with NaN -> 0 (compiles to maxps / minps).
FF_HD float clamp01(float v) {
  v = v > 0.0f ? v : 0.0f;
  return v < 1.0f ? v : 1.0f;
}

// L, a, b -> linear B, G, R clipped to [0, 1] (before companding).
FF_HD void lab_to_linear(float L, float A, float Bv, float& lb, float& lg, float& lr) {
  // Both branches, then selects (branch-free so the loops vectorise).
  const float ylo = L * kInv903;
  const float fylo = kLabScaleInverse * ylo + kLabBias;
  const float fyhi = (L + 16.0f) * kInv116;
  const float yhi = fyhi * fyhi * fyhi;
  const bool low = L <= kLabLThresh;
  const float y = low ? ylo : yhi;
  const float fy = low ? fylo : fyhi;
  const float x = lab_finv(A * kInv500 + fy);
  const float z = lab_finv(fy - Bv * kInv200);
  const float bo = kLab2B[0] * x + kLab2B[1] * y + kLab2B[2] * z;
  const float go = kLab2G[0] * x + kLab2G[1] * y + kLab2G[2] * z;
  const float ro = kLab2R[0] * x + kLab2R[1] * y + kLab2R[2] * z;
  lb = clamp01(bo);
  lg = clamp01(go);
  lr = clamp01(ro);
}

// Linear channel in [0, 1] -> encoded sRGB in [0, 1] through the spline table.
FF_HD float linear_to_srgb_tab(const float* gamma_inv_tab, float c) {
  return spline_eval(gamma_inv_tab, c * static_cast<float>(kGammaTabSize));
}

// L, a, b -> encoded B, G, R in [0, 1] (cv2 COLOR_Lab2BGR on float32).
FF_HD void lab_to_bgr_px(const float* gamma_inv_tab, float L, float A, float Bv, float& b, float& g, float& r) {
  float lb, lg, lr;
  lab_to_linear(L, A, Bv, lb, lg, lr);
  b = linear_to_srgb_tab(gamma_inv_tab, lb);
  g = linear_to_srgb_tab(gamma_inv_tab, lg);
  r = linear_to_srgb_tab(gamma_inv_tab, lr);
}

// ---------------------------------------------------------------------------
// Reinhard transfer.
// ---------------------------------------------------------------------------

// out = (v - mu_s) * k + mu_r with k = sigma_r / max(sigma_s, eps) (k in double,
// rounded to float). Kept in this form (not v * k + c) so that a flat source
// (sigma_s -> eps, k huge) still maps v == mu_s exactly onto mu_r.
FF_HD float transfer_affine(float v, float mu_s, float k, float mu_r) { return (v - mu_s) * k + mu_r; }

// Blend of the transferred value (0..255 scale) with the source value.
FF_HD float transfer_blend(float src, float transferred, float strength) {
  return src * (1.0f - strength) + transferred * strength;
}

}  // namespace facefuse::color
