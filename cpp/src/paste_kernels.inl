// Row kernels of the paste family, included twice by paste.cpp: once for the
// baseline ISA (fma_f32: correctly rounded, emulated in double) and once under
// `#pragma GCC target("avx2,fma")` with FACEFUSE_PASTE_HWFMA = 1 (hardware fma).
// Both give the same bits. Both copies compile with fp-contract off so every
// other a * b + c rounds twice, as paste_math.hpp defines.
//
// Each row runs in chunks of kChunk columns, in stages GCC vectorises: source
// positions (fma), floor and fractions, clamped neighbour offsets and border
// flags, then gathers + lerps, then the store / alpha mix. The arithmetic is
// paste_math.hpp's, restated here so it inlines under this ISA.
// Needs: Face, PasteBox, kCoordLimit, source_span, fma_f32 in scope.

constexpr int kChunk = 64;
// Columns taken off each end of a row's inside span (see alpha_row).
constexpr int kInsideMargin = 8;

inline float kfma(float a, float b, float c) {
#if FACEFUSE_PASTE_HWFMA
  return __builtin_fmaf(a, b, c);
#else
  return fma_f32(a, b, c);
#endif
}

inline int kclampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }
inline float kclampf(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Source cells (ix, iy) and fractions (ax, ay) of columns x0 .. x0+n-1 of row y.
inline void positions(const float* m, int y, int x0, int n, int* ix, int* iy, float* ax, float* ay) {
  const float fy = static_cast<float>(y);
  const float m0 = m[0], m3 = m[3], ym1 = fy * m[1], ym4 = fy * m[4];
  const float rx = ym1 + m[2], ry = ym4 + m[5];
  float sx[kChunk], sy[kChunk];
  for (int i = 0; i < n; ++i) {
    const float fx = static_cast<float>(x0 + i);
    sx[i] = kfma(m0, fx, rx);
    sy[i] = kfma(m3, fx, ry);
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
  if constexpr (sizeof(T) == 1 && (C == 3 || C == 4)) {
    // uint8 pixels: one 32-bit load per neighbour (a gather on AVX2) holds all
    // channels; a load that would pass the end of the image starts earlier and
    // is shifted back.
    const int total = h * w * C;
    if (total >= 4) {
      const int last = total - 4;
      const unsigned char* base = reinterpret_cast<const unsigned char*>(src);
      for (int i = 0; i < n; ++i) {
        const int r00 = o00[i] < last ? o00[i] : last, r01 = o01[i] < last ? o01[i] : last;
        const int r10 = o10[i] < last ? o10[i] : last, r11 = o11[i] < last ? o11[i] : last;
        std::uint32_t d00, d01, d10, d11;
        std::memcpy(&d00, base + r00, 4);
        std::memcpy(&d01, base + r01, 4);
        std::memcpy(&d10, base + r10, 4);
        std::memcpy(&d11, base + r11, 4);
        d00 >>= (o00[i] - r00) * 8;
        d01 >>= (o01[i] - r01) * 8;
        d10 >>= (o10[i] - r10) * 8;
        d11 >>= (o11[i] - r11) * 8;
        if (!Rep) {
          d00 = f00[i] ? d00 : 0u;
          d01 = f01[i] ? d01 : 0u;
          d10 = f10[i] ? d10 : 0u;
          d11 = f11[i] ? d11 : 0u;
        }
        const float a = ax[i], b = ay[i];
        for (int c = 0; c < C; ++c) {
          const float p00 = static_cast<float>(static_cast<int>((d00 >> (8 * c)) & 255u));
          const float p01 = static_cast<float>(static_cast<int>((d01 >> (8 * c)) & 255u));
          const float p10 = static_cast<float>(static_cast<int>((d10 >> (8 * c)) & 255u));
          const float p11 = static_cast<float>(static_cast<int>((d11 >> (8 * c)) & 255u));
          const float v0 = kfma(a, p01 - p00, p00);
          const float v1 = kfma(a, p11 - p10, p10);
          out[c][i] = kfma(b, v1 - v0, v0);
        }
      }
      return;
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

#if FACEFUSE_PASTE_HWFMA
// AVX2 versions of sample<uint8_t, 3, true> (one 32-bit gather per neighbour
// holds the 3 channels) and sample<float, 1, false> (masked gathers: a
// neighbour outside reads 0). Same arithmetic as sample(). Lanes n .. n+7 of
// the chunk arrays are padded (the arrays hold kChunk entries, n <= kChunk).
inline void pad_cells(int* ix, int* iy, float* ax, float* ay, int n) {
  for (int i = n; i < ((n + 7) & ~7); ++i) {
    ix[i] = iy[i] = 0;
    ax[i] = ay[i] = 0.0f;
  }
}

inline __m256 lerp8(__m256 a, __m256 p0, __m256 p1) { return _mm256_fmadd_ps(a, _mm256_sub_ps(p1, p0), p0); }

inline void sample_crop_u8x3(const std::uint8_t* src, int h, int w, int* ix, int* iy, float* ax, float* ay, int n,
                             float (*out)[kChunk]) {
  pad_cells(ix, iy, ax, ay, n);
  const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi32(1), wm1 = _mm256_set1_epi32(w - 1),
                hm1 = _mm256_set1_epi32(h - 1), vw = _mm256_set1_epi32(w), last = _mm256_set1_epi32(h * w * 3 - 4),
                b255 = _mm256_set1_epi32(255);
  const int* base = reinterpret_cast<const int*>(src);
  for (int i = 0; i < n; i += 8) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ix + i));
    const __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(iy + i));
    const __m256i x0 = _mm256_min_epi32(_mm256_max_epi32(x, zero), wm1);
    const __m256i x1 = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(x, one), zero), wm1);
    const __m256i y0 = _mm256_mullo_epi32(_mm256_min_epi32(_mm256_max_epi32(y, zero), hm1), vw);
    const __m256i y1 = _mm256_mullo_epi32(_mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(y, one), zero), hm1), vw);
    __m256i o[4] = {_mm256_add_epi32(y0, x0), _mm256_add_epi32(y0, x1), _mm256_add_epi32(y1, x0),
                    _mm256_add_epi32(y1, x1)};
    __m256i d[4];
    for (int k = 0; k < 4; ++k) {
      const __m256i off = _mm256_add_epi32(o[k], _mm256_add_epi32(o[k], o[k]));  // * 3
      const __m256i r = _mm256_min_epi32(off, last);
      const __m256i sh = _mm256_slli_epi32(_mm256_sub_epi32(off, r), 3);
      d[k] = _mm256_srlv_epi32(_mm256_i32gather_epi32(base, r, 1), sh);
    }
    const __m256 a = _mm256_loadu_ps(ax + i), b = _mm256_loadu_ps(ay + i);
    for (int c = 0; c < 3; ++c) {
      __m256 p[4];
      for (int k = 0; k < 4; ++k)
        p[k] = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(d[k], 8 * c), b255));
      const __m256 v0 = lerp8(a, p[0], p[1]), v1 = lerp8(a, p[2], p[3]);
      _mm256_storeu_ps(out[c] + i, lerp8(b, v0, v1));
    }
  }
}

inline void sample_mask_f32(const float* src, int h, int w, int* ix, int* iy, float* ax, float* ay, int n,
                            float (*out)[kChunk]) {
  pad_cells(ix, iy, ax, ay, n);
  const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi32(1), wm1 = _mm256_set1_epi32(w - 1),
                hm1 = _mm256_set1_epi32(h - 1), vw = _mm256_set1_epi32(w), vh = _mm256_set1_epi32(h),
                m1 = _mm256_set1_epi32(-1);
  const __m256 fz = _mm256_setzero_ps();
  for (int i = 0; i < n; i += 8) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ix + i));
    const __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(iy + i));
    const __m256i xp = _mm256_add_epi32(x, one), yp = _mm256_add_epi32(y, one);
    // 0 <= v < n  <=>  v > -1 && n > v
    const __m256i vx0 = _mm256_and_si256(_mm256_cmpgt_epi32(x, m1), _mm256_cmpgt_epi32(vw, x));
    const __m256i vx1 = _mm256_and_si256(_mm256_cmpgt_epi32(xp, m1), _mm256_cmpgt_epi32(vw, xp));
    const __m256i vy0 = _mm256_and_si256(_mm256_cmpgt_epi32(y, m1), _mm256_cmpgt_epi32(vh, y));
    const __m256i vy1 = _mm256_and_si256(_mm256_cmpgt_epi32(yp, m1), _mm256_cmpgt_epi32(vh, yp));
    const __m256i x0 = _mm256_min_epi32(_mm256_max_epi32(x, zero), wm1);
    const __m256i x1 = _mm256_min_epi32(_mm256_max_epi32(xp, zero), wm1);
    const __m256i y0 = _mm256_mullo_epi32(_mm256_min_epi32(_mm256_max_epi32(y, zero), hm1), vw);
    const __m256i y1 = _mm256_mullo_epi32(_mm256_min_epi32(_mm256_max_epi32(yp, zero), hm1), vw);
    const __m256 p00 = _mm256_mask_i32gather_ps(fz, src, _mm256_add_epi32(y0, x0),
                                                _mm256_castsi256_ps(_mm256_and_si256(vx0, vy0)), 4);
    const __m256 p01 = _mm256_mask_i32gather_ps(fz, src, _mm256_add_epi32(y0, x1),
                                                _mm256_castsi256_ps(_mm256_and_si256(vx1, vy0)), 4);
    const __m256 p10 = _mm256_mask_i32gather_ps(fz, src, _mm256_add_epi32(y1, x0),
                                                _mm256_castsi256_ps(_mm256_and_si256(vx0, vy1)), 4);
    const __m256 p11 = _mm256_mask_i32gather_ps(fz, src, _mm256_add_epi32(y1, x1),
                                                _mm256_castsi256_ps(_mm256_and_si256(vx1, vy1)), 4);
    const __m256 a = _mm256_loadu_ps(ax + i), b = _mm256_loadu_ps(ay + i);
    _mm256_storeu_ps(out[0] + i, lerp8(b, lerp8(a, p00, p01), lerp8(a, p10, p11)));
  }
}
#endif

#if FACEFUSE_PASTE_HWFMA
// Whether all n cells of a chunk lie inside an h x w image with room to spare: 0 <= ix <= w - 2
// and 0 <= iy <= h - 3, so each cell's two horizontal neighbours are adjacent in memory and an
// 8-byte load from either neighbour row stays inside the image (uint8 x 3 or float).
inline bool cells_inside(const int* ix, const int* iy, int n, int w, int h) {
  if (w < 2 || h < 3) return false;
  const unsigned wx = static_cast<unsigned>(w - 2), hy = static_cast<unsigned>(h - 3);
  int ok = 1;
  for (int i = 0; i < n; ++i)
    ok &= (static_cast<unsigned>(ix[i]) <= wx) & (static_cast<unsigned>(iy[i]) <= hy);
  return ok != 0;
}

// The low 32 bits of the 64-bit lanes of a (lanes 0-3) and b (lanes 4-7), as 8 int32 lanes in order.
inline __m256i low_halves(__m256i a, __m256i b) {
  const __m256 s = _mm256_shuffle_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), _MM_SHUFFLE(2, 0, 2, 0));
  return _mm256_permute4x64_epi64(_mm256_castps_si256(s), 0xD8);
}
inline __m256i high_halves(__m256i a, __m256i b) {
  const __m256 s = _mm256_shuffle_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), _MM_SHUFFLE(3, 1, 3, 1));
  return _mm256_permute4x64_epi64(_mm256_castps_si256(s), 0xD8);
}

// sample_crop_u8x3 for a chunk that cells_inside holds for: one 64-bit gather lane per cell
// and neighbour row reads both horizontal neighbours (6 bytes), half the gathered elements
// of the general path; the same values and arithmetic, so the same bits.
inline void sample_crop_u8x3_inside(const std::uint8_t* src, int w, int* ix, int* iy, float* ax, float* ay, int n,
                                    float (*out)[kChunk]) {
  pad_cells(ix, iy, ax, ay, n);
  const __m256i vw = _mm256_set1_epi32(w), w3 = _mm256_set1_epi32(3 * w), b255 = _mm256_set1_epi32(255);
  const long long* base = reinterpret_cast<const long long*>(src);
  for (int i = 0; i < n; i += 8) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ix + i));
    const __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(iy + i));
    const __m256i c0 = _mm256_add_epi32(_mm256_mullo_epi32(y, vw), x);
    const __m256i o0 = _mm256_add_epi32(c0, _mm256_add_epi32(c0, c0));  // * 3: byte offset, row y
    const __m256i o1 = _mm256_add_epi32(o0, w3);                          // row y + 1
    const __m256i r0a = _mm256_i32gather_epi64(base, _mm256_castsi256_si128(o0), 1);
    const __m256i r0b = _mm256_i32gather_epi64(base, _mm256_extracti128_si256(o0, 1), 1);
    const __m256i r1a = _mm256_i32gather_epi64(base, _mm256_castsi256_si128(o1), 1);
    const __m256i r1b = _mm256_i32gather_epi64(base, _mm256_extracti128_si256(o1, 1), 1);
    // bytes 0..3: the left neighbour's B G R (+ 1 byte); bytes 3..6: the right neighbour's
    const __m256i d[4] = {low_halves(r0a, r0b),
                          low_halves(_mm256_srli_epi64(r0a, 24), _mm256_srli_epi64(r0b, 24)),
                          low_halves(r1a, r1b),
                          low_halves(_mm256_srli_epi64(r1a, 24), _mm256_srli_epi64(r1b, 24))};
    const __m256 a = _mm256_loadu_ps(ax + i), b = _mm256_loadu_ps(ay + i);
    for (int c = 0; c < 3; ++c) {
      __m256 p[4];
      for (int k = 0; k < 4; ++k)
        p[k] = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(d[k], 8 * c), b255));
      const __m256 v0 = lerp8(a, p[0], p[1]), v1 = lerp8(a, p[2], p[3]);
      _mm256_storeu_ps(out[c] + i, lerp8(b, v0, v1));
    }
  }
}

// sample_mask_f32 for a chunk that cells_inside holds for (no neighbour outside the mask):
// one 64-bit gather lane per cell and neighbour row; the same values and arithmetic.
inline void sample_mask_f32_inside(const float* src, int w, int* ix, int* iy, float* ax, float* ay, int n,
                                   float (*out)[kChunk]) {
  pad_cells(ix, iy, ax, ay, n);
  const __m256i vw = _mm256_set1_epi32(w);
  const long long* base = reinterpret_cast<const long long*>(src);
  for (int i = 0; i < n; i += 8) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ix + i));
    const __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(iy + i));
    const __m256i o0 = _mm256_add_epi32(_mm256_mullo_epi32(y, vw), x);  // float index, row y
    const __m256i o1 = _mm256_add_epi32(o0, vw);
    const __m256i r0a = _mm256_i32gather_epi64(base, _mm256_castsi256_si128(o0), 4);
    const __m256i r0b = _mm256_i32gather_epi64(base, _mm256_extracti128_si256(o0, 1), 4);
    const __m256i r1a = _mm256_i32gather_epi64(base, _mm256_castsi256_si128(o1), 4);
    const __m256i r1b = _mm256_i32gather_epi64(base, _mm256_extracti128_si256(o1, 1), 4);
    const __m256 p00 = _mm256_castsi256_ps(low_halves(r0a, r0b)), p01 = _mm256_castsi256_ps(high_halves(r0a, r0b));
    const __m256 p10 = _mm256_castsi256_ps(low_halves(r1a, r1b)), p11 = _mm256_castsi256_ps(high_halves(r1a, r1b));
    const __m256 a = _mm256_loadu_ps(ax + i), b = _mm256_loadu_ps(ay + i);
    _mm256_storeu_ps(out[0] + i, lerp8(b, lerp8(a, p00, p01), lerp8(a, p10, p11)));
  }
}

// am[0..n) <- mask_weight(am[0..n)); whether any is > 0 (NaN stays NaN and counts as not > 0).
inline bool weights_any(float* am, int n) {
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
  __m256 any = zero;
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    // max(0, v) / min(1, v) return v when v is NaN (the second operand), as clampf does
    const __m256 v = _mm256_min_ps(one, _mm256_max_ps(zero, _mm256_loadu_ps(am + i)));
    _mm256_storeu_ps(am + i, v);
    any = _mm256_or_ps(any, _mm256_cmp_ps(v, zero, _CMP_GT_OQ));
  }
  int hit = _mm256_movemask_ps(any);
  for (; i < n; ++i) {
    am[i] = mask_weight(am[i]);
    hit |= am[i] > 0.0f;
  }
  return hit != 0;
}
#endif

#if FACEFUSE_PASTE_HWFMA
// Byte shuffles that split 8 interleaved BGR pixels (24 bytes) into channels and back.
struct MixShuffles {
  alignas(16) unsigned char split_lo[3][16], split_hi[3][16], join_lo01[16], join_lo2[16], join_hi01[16],
      join_hi2[16];
  MixShuffles() {
    for (int c = 0; c < 3; ++c)
      for (int k = 0; k < 16; ++k) {
        const int j = k * 3 + c;  // source byte of pixel k, channel c
        split_lo[c][k] = (k < 8 && j < 16) ? static_cast<unsigned char>(j) : 0x80;
        split_hi[c][k] = (k < 8 && j >= 16) ? static_cast<unsigned char>(j - 16) : 0x80;
      }
    for (int j = 0; j < 24; ++j) {
      const int k = j / 3, c = j % 3;
      const unsigned char from01 = c < 2 ? static_cast<unsigned char>(c * 8 + k) : 0x80;
      const unsigned char from2 = c == 2 ? static_cast<unsigned char>(k) : 0x80;
      if (j < 16) {
        join_lo01[j] = from01;
        join_lo2[j] = from2;
      } else {
        join_hi01[j - 16] = from01;
        join_hi2[j - 16] = from2;
      }
    }
    for (int j = 8; j < 16; ++j) join_hi01[j] = join_hi2[j] = 0x80;
  }
};

// The alpha mix of 8 BGR uint8 pixels at d with warped samples v[c][0..8)
// (before the uint8 store's rounding) and clipped mask a[0..8): as the scalar loop in alpha_row.
inline void mix8_u8(unsigned char* d, const float* v0p, const float* v1p, const float* v2p, const float* ap,
                    const MixShuffles& S) {
  const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(d));
  const __m128i hi = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(d + 16));
  const __m256 a = _mm256_loadu_ps(ap);
  const __m256 one_a = _mm256_sub_ps(_mm256_set1_ps(1.0f), a);
  const __m256 zero = _mm256_setzero_ps(), v255 = _mm256_set1_ps(255.0f), magic = _mm256_set1_ps(12582912.0f),
               half = _mm256_set1_ps(0.5f);
  const __m256i sel = _mm256_castps_si256(_mm256_cmp_ps(a, zero, _CMP_GT_OQ));
  const __m256i take = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12,
                                        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m256i gather_lo = _mm256_setr_epi32(0, 4, 1, 1, 1, 1, 1, 1);
  const float* vp[3] = {v0p, v1p, v2p};
  __m128i outc[3];
  for (int c = 0; c < 3; ++c) {
    const __m128i fb = _mm_or_si128(_mm_shuffle_epi8(lo, _mm_load_si128(reinterpret_cast<const __m128i*>(S.split_lo[c]))),
                                    _mm_shuffle_epi8(hi, _mm_load_si128(reinterpret_cast<const __m128i*>(S.split_hi[c]))));
    const __m256i fi = _mm256_cvtepu8_epi32(fb);
    const __m256 fr = _mm256_cvtepi32_ps(fi);
    __m256 w = _mm256_min_ps(_mm256_max_ps(_mm256_loadu_ps(vp[c]), zero), v255);
    w = _mm256_sub_ps(_mm256_add_ps(w, magic), magic);
    __m256 mixed = _mm256_add_ps(_mm256_mul_ps(fr, one_a), _mm256_mul_ps(w, a));
    mixed = _mm256_min_ps(_mm256_max_ps(mixed, zero), v255);
    const __m256i r = _mm256_cvttps_epi32(_mm256_add_ps(mixed, half));
    const __m256i res = _mm256_blendv_epi8(fi, r, sel);
    const __m256i packed = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(res, take), gather_lo);
    outc[c] = _mm256_castsi256_si128(packed);  // 8 bytes in the low half
  }
  const __m128i x01 = _mm_unpacklo_epi64(outc[0], outc[1]);
  const __m128i olo = _mm_or_si128(_mm_shuffle_epi8(x01, _mm_load_si128(reinterpret_cast<const __m128i*>(S.join_lo01))),
                                   _mm_shuffle_epi8(outc[2], _mm_load_si128(reinterpret_cast<const __m128i*>(S.join_lo2))));
  const __m128i ohi = _mm_or_si128(_mm_shuffle_epi8(x01, _mm_load_si128(reinterpret_cast<const __m128i*>(S.join_hi01))),
                                   _mm_shuffle_epi8(outc[2], _mm_load_si128(reinterpret_cast<const __m128i*>(S.join_hi2))));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(d), olo);
  _mm_storel_epi64(reinterpret_cast<__m128i*>(d + 16), ohi);
}
#endif

// The store of a uint8 sample (round half to even, saturate) / float as is.
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

// Row y of the warp of src with the dst -> src matrix m into o (dw x C).
template <typename T, int C>
void warp_row(const T* src, int sh, int sw, const float* m, bool replicate, int y, int dw, T* o) {
  int xa = 0, xb = dw;
  if (!replicate) {
    source_span(m, y, dw, -1.0, static_cast<double>(sw), -1.0, static_cast<double>(sh), &xa, &xb);
    for (int i = 0; i < xa * C; ++i) o[i] = T(0);
    for (int i = xb * C; i < dw * C; ++i) o[i] = T(0);
  }
  int ix[kChunk], iy[kChunk];
  float ax[kChunk], ay[kChunk], v[C][kChunk];
  for (int x0 = xa; x0 < xb; x0 += kChunk) {
    const int n = xb - x0 < kChunk ? xb - x0 : kChunk;
    positions(m, y, x0, n, ix, iy, ax, ay);
    if (replicate)
      sample<T, C, true>(src, sh, sw, ix, iy, ax, ay, n, v);
    else
      sample<T, C, false>(src, sh, sw, ix, iy, ax, ay, n, v);
    T* d = o + static_cast<std::ptrdiff_t>(x0) * C;
    for (int i = 0; i < n; ++i)
      for (int c = 0; c < C; ++c) put(warped_value(v[c][i], d), d + i * C + c);
  }
}

// The chunk starts of a row's columns [xa, xb): cut[0..3], the middle segment [cut[1], cut[2])
// being the columns whose cells lie inside the crop (cells_inside) give or take kInsideMargin,
// so that all its chunks take the 8-byte-gather path. Each column's arithmetic is its own:
// where the chunks start changes no value.
template <typename T>
inline void row_cuts(const Face<T>& f, int y, int bw, int xa, int xb, int* cut) {
  cut[0] = cut[1] = xa;
  cut[2] = cut[3] = xb;
#if FACEFUSE_PASTE_HWFMA
  if (f.w >= 2 && f.h >= 3 && xa < xb) {
    int ia, ib;  // source_span widens its span by a few columns: shrink it by more than that
    source_span(f.warp, y, bw, 0.0, static_cast<double>(f.w - 1), 0.0, static_cast<double>(f.h - 2), &ia, &ib);
    ia += kInsideMargin;
    ib -= kInsideMargin;
    if (ia < ib) {
      cut[1] = ia < xa ? xa : (ia > xb ? xb : ia);
      cut[2] = ib < cut[1] ? cut[1] : (ib > xb ? xb : ib);
    }
  }
#else
  (void)f, (void)y, (void)bw;
#endif
}

// Row y of the fused alpha paste of face f into the box row o (bw x 3, in place).
template <typename T>
void alpha_row(const Face<T>& f, int y, int bw, T* o) {
  int xa, xb;
  source_span(f.warp, y, bw, -1.0, static_cast<double>(f.w), -1.0, static_cast<double>(f.h), &xa, &xb);
  int ix[kChunk], iy[kChunk];
  float ax[kChunk], ay[kChunk], am[1][kChunk], v[3][kChunk];
  int cut[4];
  row_cuts(f, y, bw, xa, xb, cut);
  for (int seg = 0; seg < 3; ++seg)
  for (int x0 = cut[seg]; x0 < cut[seg + 1]; x0 += kChunk) {
    const int n = cut[seg + 1] - x0 < kChunk ? cut[seg + 1] - x0 : kChunk;
    positions(f.warp, y, x0, n, ix, iy, ax, ay);
#if FACEFUSE_PASTE_HWFMA
    const bool inside = cells_inside(ix, iy, n, f.w, f.h);
    if (inside)
      sample_mask_f32_inside(f.mask, f.w, ix, iy, ax, ay, n, am);
    else
      sample_mask_f32(f.mask, f.h, f.w, ix, iy, ax, ay, n, am);
    if (!weights_any(am[0], n)) continue;
#else
    sample<float, 1, false>(f.mask, f.h, f.w, ix, iy, ax, ay, n, am);
    int any = 0;
    for (int i = 0; i < n; ++i) {
      am[0][i] = mask_weight(am[0][i]);
      any |= am[0][i] > 0.0f;
    }
    if (!any) continue;
#endif
#if FACEFUSE_PASTE_HWFMA
    if constexpr (sizeof(T) == 1) {
      if (inside)
        sample_crop_u8x3_inside(f.crop, f.w, ix, iy, ax, ay, n, v);
      else if (f.h * f.w * 3 >= 4)
        sample_crop_u8x3(f.crop, f.h, f.w, ix, iy, ax, ay, n, v);
      else
        sample<T, 3, true>(f.crop, f.h, f.w, ix, iy, ax, ay, n, v);
    } else {
      sample<T, 3, true>(f.crop, f.h, f.w, ix, iy, ax, ay, n, v);
    }
#else
    sample<T, 3, true>(f.crop, f.h, f.w, ix, iy, ax, ay, n, v);
#endif
    T* d = o + static_cast<std::ptrdiff_t>(x0) * 3;
    int i0 = 0;
#if FACEFUSE_PASTE_HWFMA
    if constexpr (sizeof(T) == 1) {
      static const MixShuffles shuffles;
      for (; i0 + 8 <= n; i0 += 8)
        mix8_u8(reinterpret_cast<unsigned char*>(d + i0 * 3), v[0] + i0, v[1] + i0, v[2] + i0, am[0] + i0, shuffles);
    }
#endif
    for (int i = i0; i < n; ++i) {
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

// Row y of face f's warped crop (wo: bw x 3, replicated border, uint8 store)
// and clipped warped mask (mo: bw, constant border).
template <typename T>
void face_row(const Face<T>& f, int y, int bw, T* wo, float* mo) {
  int xa, xb;
  source_span(f.warp, y, bw, -1.0, static_cast<double>(f.w), -1.0, static_cast<double>(f.h), &xa, &xb);
  int ix[kChunk], iy[kChunk];
  float ax[kChunk], ay[kChunk], am[1][kChunk], v[3][kChunk];
  int cut[4];
  row_cuts(f, y, bw, 0, bw, cut);
  for (int seg = 0; seg < 3; ++seg)
  for (int x0 = cut[seg]; x0 < cut[seg + 1]; x0 += kChunk) {
    const int n = cut[seg + 1] - x0 < kChunk ? cut[seg + 1] - x0 : kChunk;
    positions(f.warp, y, x0, n, ix, iy, ax, ay);
#if FACEFUSE_PASTE_HWFMA
    const bool inside = cells_inside(ix, iy, n, f.w, f.h);
    if constexpr (sizeof(T) == 1) {
      if (inside)
        sample_crop_u8x3_inside(f.crop, f.w, ix, iy, ax, ay, n, v);
      else if (f.h * f.w * 3 >= 4)
        sample_crop_u8x3(f.crop, f.h, f.w, ix, iy, ax, ay, n, v);
      else
        sample<T, 3, true>(f.crop, f.h, f.w, ix, iy, ax, ay, n, v);
    } else {
      sample<T, 3, true>(f.crop, f.h, f.w, ix, iy, ax, ay, n, v);
    }
#else
    sample<T, 3, true>(f.crop, f.h, f.w, ix, iy, ax, ay, n, v);
#endif
    T* d = wo + static_cast<std::ptrdiff_t>(x0) * 3;
    for (int i = 0; i < n; ++i)
      for (int c = 0; c < 3; ++c) put(warped_value(v[c][i], d), d + i * 3 + c);
    float* md = mo + x0;
    if (x0 + n <= xa || x0 >= xb) {
      for (int i = 0; i < n; ++i) md[i] = 0.0f;
      continue;
    }
#if FACEFUSE_PASTE_HWFMA
    if (inside)
      sample_mask_f32_inside(f.mask, f.w, ix, iy, ax, ay, n, am);
    else
      sample_mask_f32(f.mask, f.h, f.w, ix, iy, ax, ay, n, am);
#else
    sample<float, 1, false>(f.mask, f.h, f.w, ix, iy, ax, ay, n, am);
#endif
    for (int i = 0; i < n; ++i) md[i] = mask_weight(am[0][i]);
  }
}
