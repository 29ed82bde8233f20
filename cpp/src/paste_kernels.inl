// Row kernels of the paste family, included twice by paste.cpp: once for the
// baseline ISA (fma_f32 emulated in double) and once under
// `#pragma GCC target("avx2,fma")` with FACEFUSE_PASTE_HWFMA = 1 (one hardware
// fma, the rounding cv2's own AVX2 kernels use). Both copies compile with
// fp-contract off so every other a * b + c rounds twice, as cv2's does.
//
// Each row runs in chunks of kChunk columns, in stages GCC vectorises: source
// positions (fma), floor and fractions, clamped neighbour offsets and border
// flags, then gathers + lerps, then the store / alpha mix. The arithmetic is
// paste_math.hpp's, restated here so it inlines under this ISA.
// Needs: Face, PasteBox, vec_end, kCoordLimit, source_span, fma_f32 in scope.

constexpr int kChunk = 64;

inline float kfma(float a, float b, float c) {
#if FACEFUSE_PASTE_HWFMA
  return __builtin_fmaf(a, b, c);
#else
  return fma_f32(a, b, c);
#endif
}

inline int kclampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }
inline float kclampf(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Source cells (ix, iy) and fractions (ax, ay) of columns x0 .. x0+n-1 of row y
// (xt: first column of cv2's scalar tail).
inline void positions(const float* m, int y, int x0, int n, int xt, int* ix, int* iy, float* ax, float* ay) {
  const float fy = static_cast<float>(y);
  const float m0 = m[0], m3 = m[3], ym1 = fy * m[1], ym4 = fy * m[4];
  const float rx = ym1 + m[2], ry = ym4 + m[5];
  float sx[kChunk], sy[kChunk];
  for (int i = 0; i < n; ++i) {
    const float fx = static_cast<float>(x0 + i);
    sx[i] = kfma(m0, fx, rx);
    sy[i] = kfma(m3, fx, ry);
  }
  for (int i = xt > x0 ? xt - x0 : 0; i < n; ++i) {
    const float fx = static_cast<float>(x0 + i);
    sx[i] = kfma(fx, m0, ym1) + m[2];
    sy[i] = kfma(fx, m3, ym4) + m[5];
  }
  for (int i = 0; i < n; ++i) {
    const float s = kclampf(sx[i], -kCoordLimit, kCoordLimit);
    int t = static_cast<int>(s);
    t -= static_cast<float>(t) > s ? 1 : 0;
    ix[i] = t;
    ax[i] = s - static_cast<float>(t);
  }
  for (int i = 0; i < n; ++i) {
    const float s = kclampf(sy[i], -kCoordLimit, kCoordLimit);
    int t = static_cast<int>(s);
    t -= static_cast<float>(t) > s ? 1 : 0;
    iy[i] = t;
    ay[i] = s - static_cast<float>(t);
  }
}

// Bilinear samples (before rounding) of a C-channel h x w image (h * w * C <
// 2^31) at n cells: out[c][i]. Rep: BORDER_REPLICATE (each neighbour clamped),
// else BORDER_CONSTANT 0 (a neighbour outside reads 0).
template <typename T, int C, bool Rep>
inline void sample(const T* src, int h, int w, const int* ix, const int* iy, const float* ax, const float* ay, int n,
                   float (*out)[kChunk]) {
  int o00[kChunk], o01[kChunk], o10[kChunk], o11[kChunk];
  unsigned char f00[kChunk], f01[kChunk], f10[kChunk], f11[kChunk];
  for (int i = 0; i < n; ++i) {
    const int x = ix[i], y = iy[i];
    const int x0 = kclampi(x, 0, w - 1), x1 = kclampi(x + 1, 0, w - 1);
    const int y0 = kclampi(y, 0, h - 1) * w, y1 = kclampi(y + 1, 0, h - 1) * w;
    o00[i] = (y0 + x0) * C;
    o01[i] = (y0 + x1) * C;
    o10[i] = (y1 + x0) * C;
    o11[i] = (y1 + x1) * C;
    if (!Rep) {
      const bool vx0 = x >= 0 && x < w, vx1 = x >= -1 && x < w - 1;
      const bool vy0 = y >= 0 && y < h, vy1 = y >= -1 && y < h - 1;
      f00[i] = vx0 && vy0;
      f01[i] = vx1 && vy0;
      f10[i] = vx0 && vy1;
      f11[i] = vx1 && vy1;
    }
  }
  for (int i = 0; i < n; ++i) {
    const float a = ax[i], b = ay[i];
    for (int c = 0; c < C; ++c) {
      float p00 = static_cast<float>(src[o00[i] + c]), p01 = static_cast<float>(src[o01[i] + c]);
      float p10 = static_cast<float>(src[o10[i] + c]), p11 = static_cast<float>(src[o11[i] + c]);
      if (!Rep) {
        p00 = f00[i] ? p00 : 0.0f;
        p01 = f01[i] ? p01 : 0.0f;
        p10 = f10[i] ? p10 : 0.0f;
        p11 = f11[i] ? p11 : 0.0f;
      }
      const float v0 = kfma(a, p01 - p00, p00);
      const float v1 = kfma(a, p11 - p10, p10);
      out[c][i] = kfma(b, v1 - v0, v0);
    }
  }
}

// cv2.warpAffine's store of a sample (round half to even, saturate) / float as is.
inline float warped_value(float v, std::uint8_t*) {
  v = kclampf(v, 0.0f, 255.0f);
  return (v + 12582912.0f) - 12582912.0f;
}
inline float warped_value(float v, float*) { return v; }
inline void put(float v, std::uint8_t* d) { *d = static_cast<std::uint8_t>(static_cast<int>(v)); }
inline void put(float v, float* d) { *d = v; }
// Saturating store of the alpha mix (round half away from zero) / float as is.
inline void put_mix(float v, std::uint8_t* d) {
  v = kclampf(v, 0.0f, 255.0f);
  *d = static_cast<std::uint8_t>(static_cast<int>(v + 0.5f));
}
inline void put_mix(float v, float* d) { *d = v; }

// Row y of cv2.warpAffine(src, M^-1 = m) into o (dw x C).
template <typename T, int C>
void warp_row(const T* src, int sh, int sw, const float* m, bool replicate, int y, int dw, T* o) {
  int xa = 0, xb = dw;
  if (!replicate) {
    source_span(m, y, dw, -1.0, static_cast<double>(sw), -1.0, static_cast<double>(sh), &xa, &xb);
    for (int i = 0; i < xa * C; ++i) o[i] = T(0);
    for (int i = xb * C; i < dw * C; ++i) o[i] = T(0);
  }
  const int xt = vec_end(dw);
  int ix[kChunk], iy[kChunk];
  float ax[kChunk], ay[kChunk], v[C][kChunk];
  for (int x0 = xa; x0 < xb; x0 += kChunk) {
    const int n = xb - x0 < kChunk ? xb - x0 : kChunk;
    positions(m, y, x0, n, xt, ix, iy, ax, ay);
    if (replicate)
      sample<T, C, true>(src, sh, sw, ix, iy, ax, ay, n, v);
    else
      sample<T, C, false>(src, sh, sw, ix, iy, ax, ay, n, v);
    T* d = o + static_cast<std::ptrdiff_t>(x0) * C;
    for (int i = 0; i < n; ++i)
      for (int c = 0; c < C; ++c) put(warped_value(v[c][i], d), d + i * C + c);
  }
}

// Row y of the fused alpha paste of face f into the box row o (bw x 3, in place).
template <typename T>
void alpha_row(const Face<T>& f, int y, int bw, T* o) {
  int xa, xb;
  source_span(f.warp, y, bw, -1.0, static_cast<double>(f.w), -1.0, static_cast<double>(f.h), &xa, &xb);
  const int xt = vec_end(bw);
  int ix[kChunk], iy[kChunk];
  float ax[kChunk], ay[kChunk], am[1][kChunk], v[3][kChunk];
  for (int x0 = xa; x0 < xb; x0 += kChunk) {
    const int n = xb - x0 < kChunk ? xb - x0 : kChunk;
    positions(f.warp, y, x0, n, xt, ix, iy, ax, ay);
    sample<float, 1, false>(f.mask, f.h, f.w, ix, iy, ax, ay, n, am);
    int any = 0;
    for (int i = 0; i < n; ++i) {
      am[0][i] = kclampf(am[0][i], 0.0f, 1.0f);
      any |= am[0][i] > 0.0f;
    }
    if (!any) continue;
    sample<T, 3, true>(f.crop, f.h, f.w, ix, iy, ax, ay, n, v);
    T* d = o + static_cast<std::ptrdiff_t>(x0) * 3;
    for (int i = 0; i < n; ++i) {
      const float a = am[0][i];
      for (int c = 0; c < 3; ++c) {
        T* px = d + i * 3 + c;
        const T fr = *px;
        const float w = warped_value(v[c][i], px);
        const float mixed = static_cast<float>(fr) * (1.0f - a) + w * a;
        T r;
        put_mix(mixed, &r);
        *px = a > 0.0f ? r : fr;
      }
    }
  }
}

// Row y of face f's warped crop (wo: bw x 3, replicated border, cv2's store)
// and clipped warped mask (mo: bw, constant border).
template <typename T>
void face_row(const Face<T>& f, int y, int bw, T* wo, float* mo) {
  int xa, xb;
  source_span(f.warp, y, bw, -1.0, static_cast<double>(f.w), -1.0, static_cast<double>(f.h), &xa, &xb);
  const int xt = vec_end(bw);
  int ix[kChunk], iy[kChunk];
  float ax[kChunk], ay[kChunk], am[1][kChunk], v[3][kChunk];
  for (int x0 = 0; x0 < bw; x0 += kChunk) {
    const int n = bw - x0 < kChunk ? bw - x0 : kChunk;
    positions(f.warp, y, x0, n, xt, ix, iy, ax, ay);
    sample<T, 3, true>(f.crop, f.h, f.w, ix, iy, ax, ay, n, v);
    T* d = wo + static_cast<std::ptrdiff_t>(x0) * 3;
    for (int i = 0; i < n; ++i)
      for (int c = 0; c < 3; ++c) put(warped_value(v[c][i], d), d + i * 3 + c);
    float* md = mo + x0;
    if (x0 + n <= xa || x0 >= xb) {
      for (int i = 0; i < n; ++i) md[i] = 0.0f;
      continue;
    }
    sample<float, 1, false>(f.mask, f.h, f.w, ix, iy, ax, ay, n, am);
    for (int i = 0; i < n; ++i) md[i] = kclampf(am[0][i], 0.0f, 1.0f);
  }
}
