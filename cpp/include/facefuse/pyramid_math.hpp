// Per-pixel maths of the multi-band (Laplacian-pyramid) blend: border index
// mapping, the 5-tap binomial filter of pyrDown, the polyphase taps of pyrUp,
// the per-band blend and the level-count rule. Plain C++ so a CUDA kernel can
// call the same functions.
//
// Semantics follow OpenCV exactly:
//  * pyrDown: out(i) = sum_t w_t * in(reflect101(2i + t - 2)), w = [1,4,6,4,1]/16
//    per axis, output size (n + 1) / 2.
//  * pyrUp (to a fine size of 2n or 2n - 1): the [1,4,6,4,1]/8 filter on the
//    zero-injected image with reflect-101 borders of the 2n-long signal, i.e. the
//    polyphase form
//        out(2i)     = (in(i-1) + 6 in(i) + in(i+1)) / 8
//        out(2i + 1) = (in(i) + in(i+1)) / 2
//    with in(-1) = in(1) (in(0) when n == 1) and in(n) = in(n-1).
#pragma once

#include "facefuse/common.hpp"

namespace facefuse {
namespace pyr {

// OpenCV BORDER_REFLECT_101 (BORDER_DEFAULT): ... 2 1 | 0 1 2 ... n-1 | n-2 ...
FF_HD int reflect101(int p, int n) {
  if (n <= 1) return 0;
  while (p < 0 || p >= n) {
    if (p < 0) p = -p;
    if (p >= n) p = 2 * n - 2 - p;
  }
  return p;
}

// Size of the next coarser level along one axis (cv2.pyrDown).
FF_HD int down_size(int n) { return (n + 1) / 2; }

// Most pyramid levels an h x w image holds: a level is added by halving (rounding
// up) while the current level is at least 2 px in BOTH dimensions; a level whose
// min(h, w) is 1 is the coarsest. So 1 x N -> 1, 2 x 2 -> 2, 512 x 512 -> 10,
// 1080 x 1920 -> 12.
FF_HD int max_levels(int h, int w) {
  int n = 1;
  while (h > 1 && w > 1) {
    h = down_size(h);
    w = down_size(w);
    ++n;
  }
  return n;
}

// The number of levels an h x w image is blended with when `levels` (>= 1, any
// size a caller asks for) are requested: min(levels, max_levels(h, w)). The one
// place the request is capped: the bindings pass it through, and every blend
// (CPU, CUDA, paste's laplacian box, gaussian_pyramid) calls this.
FF_HD int clamp_levels(long long levels, int h, int w) {
  const int m = max_levels(h, w);
  return levels < m ? static_cast<int>(levels) : m;
}

// pyrUp neighbours of coarse index i in a coarse axis of length n.
FF_HD int up_prev(int i, int n) { return i > 0 ? i - 1 : (n > 1 ? 1 : 0); }
FF_HD int up_next(int i, int n) { return i + 1 < n ? i + 1 : n - 1; }

// The 5-tap binomial filter, unnormalised (sum 16).
FF_HD float down5(float a, float b, float c, float d, float e) { return (a + e) + 4.f * (b + d) + 6.f * c; }
// The pyrUp polyphase taps, unnormalised (sum 8): even output [1, 6, 1], odd [4, 4].
FF_HD float up_even(float a, float b, float c) { return (a + c) + 6.f * b; }
FF_HD float up_odd(float b, float c) { return 4.f * (b + c); }

// Normalisation of a separable pass pair: pyrDown (16 * 16), pyrUp (8 * 8).
constexpr float kDownScale = 1.f / 256.f;
constexpr float kUpScale = 1.f / 64.f;

// One band of the blend written on D = src - dst (Laplacian pyramids are linear):
//   m * L(src) + (1 - m) * L(dst) = L(dst) + m * L(D), with L(D) = x - up_g,
// where x is the band's Gaussian level of D and up_g the upsampled coarser level;
// up_r is the upsampled collapse of the coarser bands and base is L(dst)'s part
// (dst itself at level 0, where the collapse ends, 0 elsewhere).
FF_HD float blend_band(float base, float x, float m, float up_g, float up_r) {
  return base + m * (x - up_g) + up_r;
}

// Plain per-pixel alpha blend (levels == 1).
FF_HD float alpha_blend(float dst, float src, float m) { return dst + m * (src - dst); }

}  // namespace pyr
}  // namespace facefuse
