// Row kernel of the FaceFusion paste (ff_paste.hpp), included twice by ff_paste.cpp:
// baseline ISA (fma_f32 emulated, correctly rounded) and avx2+fma (hardware fma).
// Same bits from both. fp-contract is off: every other a * b + c rounds twice.

inline float kfma(float a, float b, float c) {
#if FACEFUSE_FFPASTE_HWFMA
  return __builtin_fmaf(a, b, c);
#else
  return paste::fma_f32(a, b, c);
#endif
}

template <typename T>
inline T ld(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

inline int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// A uint8 crop's warped sample: cv2 stores it rounded half to even, but cv2's own
// float arithmetic may put a value we compute as 32.49996 at 32.5 or above (its
// source positions differ from ours by a few ulps, and by its CPU dispatch). FaceFusion
// then blends the stored sample and truncates, so a sample 1 off can land 2 off after
// the blend (33 * 0.99999976 -> 33.0 -> 33 vs 32 * 0.99999976 -> 31.99999 -> 31).
// Where our value lies within `tie_band` of a .5 tie, the unrounded value is kept: it
// is under 1 away from either of cv2's possible samples, so the truncated blend is
// within 1 of FaceFusion's whichever way cv2 rounded. The band bounds how far cv2's
// sample can be from ours: the 4 neighbours' range (the largest step over one pixel)
// times a position error of kTiePosErr per unit of the crop's extent, plus value
// rounding. Elsewhere both round alike and the result stays bit-equal.
constexpr float kTiePosErr = 1.0f / 1048576.0f;  // 2^-20 px per px of crop extent
constexpr float kTieFloor = 1.0f / 1024.0f;

inline float tie_tolerance(const View& c) { return static_cast<float>(c.w > c.h ? c.w : c.h) * kTiePosErr; }

inline float u8_sample(float v, float p0, float p1, float p2, float p3, float tol) {
  const float vc = v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v);
  const float r = static_cast<float>(paste::round_even_u8(vc));
  const float lo = std::fmin(std::fmin(p0, p1), std::fmin(p2, p3));
  const float hi = std::fmax(std::fmax(p0, p1), std::fmax(p2, p3));
  const float half_minus_band = 0.5f - kfma(hi - lo, tol, kTieFloor);
  return std::fabs(vc - r) > half_minus_band ? vc : r;
}

// Bilinear sample ("exact", OpenCV 5.x float arithmetic) of C channels at the
// cell (ix, iy) + (ax, ay); Rep: edge pixels outside, else 0. tie_tol >= 0: uint8
// samples stored as u8_sample stores them.
template <typename T, int C, bool Rep>
inline void sample_exact(const View& v, int ix, int iy, float ax, float ay, float* out, float tie_tol = -1.0f) {
  float p[4][C];
  const bool inside = static_cast<unsigned>(ix) < static_cast<unsigned>(v.w - 1) &&
                      static_cast<unsigned>(iy) < static_cast<unsigned>(v.h - 1);
  if (inside) {
    const unsigned char* b = v.data + iy * v.sy + ix * v.sx;
    for (int c = 0; c < C; ++c) {
      p[0][c] = static_cast<float>(ld<T>(b + c * v.sc));
      p[1][c] = static_cast<float>(ld<T>(b + v.sx + c * v.sc));
      p[2][c] = static_cast<float>(ld<T>(b + v.sy + c * v.sc));
      p[3][c] = static_cast<float>(ld<T>(b + v.sy + v.sx + c * v.sc));
    }
  } else {
    if (!Rep && (ix < -1 || ix >= v.w || iy < -1 || iy >= v.h)) {
      for (int c = 0; c < C; ++c) out[c] = 0.0f;
      return;
    }
    for (int k = 0; k < 4; ++k) {
      const int xx = ix + (k & 1), yy = iy + (k >> 1);
      if (!Rep && (xx < 0 || xx >= v.w || yy < 0 || yy >= v.h)) {
        for (int c = 0; c < C; ++c) p[k][c] = 0.0f;
        continue;
      }
      const unsigned char* b = v.data + clampi(yy, 0, v.h - 1) * v.sy + clampi(xx, 0, v.w - 1) * v.sx;
      for (int c = 0; c < C; ++c) p[k][c] = static_cast<float>(ld<T>(b + c * v.sc));
    }
  }
  for (int c = 0; c < C; ++c) {
    const float v0 = kfma(ax, p[1][c] - p[0][c], p[0][c]);
    const float v1 = kfma(ax, p[3][c] - p[2][c], p[2][c]);
    out[c] = kfma(ay, v1 - v0, v0);
    if (tie_tol >= 0.0f) out[c] = u8_sample(out[c], p[0][c], p[1][c], p[2][c], p[3][c], tie_tol);
  }
}

// Bilinear sample ("quantised", cv2's remap of float images) at the fixed-point
// position (X, Y) in 1/32 px: cell (X >> 5, Y >> 5), table weights w, the four
// products summed in double in cv2's order.
template <typename T, int C, bool Rep>
inline void sample_quant(const View& v, int X, int Y, double* out) {
  using WT = std::conditional_t<std::is_same_v<T, double>, double, float>;  // cv2: float sums for float32
  const int sx = X >> 5, sy = Y >> 5;
  const float* w = quant_table()[(Y & 31) * 32 + (X & 31)];
  if (!Rep && (sx >= v.w || sx + 1 < 0 || sy >= v.h || sy + 1 < 0)) {
    for (int c = 0; c < C; ++c) out[c] = 0.0;
    return;
  }
  WT p[4][C];
  for (int k = 0; k < 4; ++k) {
    const int xx = sx + (k & 1), yy = sy + (k >> 1);
    if (!Rep && (xx < 0 || xx >= v.w || yy < 0 || yy >= v.h)) {
      for (int c = 0; c < C; ++c) p[k][c] = WT(0);
      continue;
    }
    const unsigned char* b = v.data + clampi(yy, 0, v.h - 1) * v.sy + clampi(xx, 0, v.w - 1) * v.sx;
    for (int c = 0; c < C; ++c) p[k][c] = static_cast<WT>(ld<T>(b + c * v.sc));
  }
  const WT w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
  for (int c = 0; c < C; ++c) out[c] = static_cast<double>(p[0][c] * w0 + p[1][c] * w1 + p[2][c] * w2 + p[3][c] * w3);
}

// Bilinear sample of a uint8 image as OpenCV 4.x's warpAffine stores it (fixed point):
// the 1/32-px position (X, Y), integer weights (32 - fy)(32 - fx) * 32 ... (the float
// table times 2^15, exact for bilinear), the sum rounded (+ 2^14) >> 15. Bit-equal to
// cv2 4.10 / 4.12 on every CPU (integer arithmetic).
template <int C, bool Rep>
inline void sample_fixed_u8(const View& v, int X, int Y, float* out) {
  const int sx = X >> 5, sy = Y >> 5, fx = X & 31, fy = Y & 31;
  const int w[4] = {(32 - fy) * (32 - fx) * 32, (32 - fy) * fx * 32, fy * (32 - fx) * 32, fy * fx * 32};
  int acc[C] = {};
  for (int k = 0; k < 4; ++k) {
    const int xx = sx + (k & 1), yy = sy + (k >> 1);
    if (!Rep && (xx < 0 || xx >= v.w || yy < 0 || yy >= v.h)) continue;
    const unsigned char* b = v.data + clampi(yy, 0, v.h - 1) * v.sy + clampi(xx, 0, v.w - 1) * v.sx;
    for (int c = 0; c < C; ++c) acc[c] += w[k] * static_cast<int>(ld<std::uint8_t>(b + c * v.sc));
  }
  for (int c = 0; c < C; ++c) out[c] = static_cast<float>((acc[c] + 16384) >> 15);
}

// cv2's fixed-point source position of column x in a row starting at (X0, Y0); qd
// holds the row-independent column offsets (tabulated by paste_typed).
inline void quant_pos(const int* qd, int x, int X0, int Y0, int* X, int* Y) {
  *X = (X0 + qd[2 * x]) >> 5;
  *Y = (Y0 + qd[2 * x + 1]) >> 5;
  *X = clampi(*X, -32768 * 32, 32767 * 32 + 31);  // cv2 stores the cell as int16
  *Y = clampi(*Y, -32768 * 32, 32767 * 32 + 31);
}

// The mask's clipped weight at column x: exact for float32 masks (unless quant),
// quantised for float64 masks. Returns it in the mask's precision (as double).
template <typename TM>
inline double mask_at(const View& m, const Setup& s, bool quant, int x, float rx, float ry, int X, int Y) {
  double a;
  if (std::is_same_v<TM, double> || quant) {
    sample_quant<TM, 1, false>(m, X, Y, &a);
    if constexpr (std::is_same_v<TM, float>) a = static_cast<double>(static_cast<float>(a));
  } else {
    const float fx = static_cast<float>(x);
    const float sx = kfma(s.k[0], fx, rx), sy = kfma(s.k[3], fx, ry);
    int ix, iy;
    float ax, ay, f;
    paste::split_coord(sx, &ix, &ax);
    paste::split_coord(sy, &iy, &ay);
    sample_exact<TM, 1, false>(m, ix, iy, ax, ay, &f);
    a = f;
  }
  return a < 0.0 ? 0.0 : (a > 1.0 ? 1.0 : a);  // NaN stays NaN: not > 0, skipped
}

// Row y of the box: TF frame element, TC crop element, TM mask element.
template <typename TF, typename TC, typename TM>
void paste_row(TF* o, const View& crop, const View& mask, const Setup& s, bool quant, const int* qd, int y, int bw) {
  const float* k = s.k;
  const float fy = static_cast<float>(y);
  const float rx = fy * k[1] + k[2], ry = fy * k[4] + k[5];
  const double dy = static_cast<double>(y);
  const int X0 = sat_int((s.kd[1] * dy + s.kd[2]) * 1024.0) + 16;
  const int Y0 = sat_int((s.kd[4] * dy + s.kd[5]) * 1024.0) + 16;
  // Outside [xa, xb) the mask's exact position is off the crop: its weight is 0.
  int xa = 0, xb = bw;
  if (!std::is_same_v<TM, double> && !quant) paste::source_span(k, y, bw, -1.0, mask.w, -1.0, mask.h, &xa, &xb);
  constexpr bool crop_quant_always = std::is_same_v<TC, double>;
  const float tie_tol = tie_tolerance(crop);
  for (int x = xa; x < xb; ++x) {
    int X = 0, Y = 0;
    if (qd != nullptr) quant_pos(qd, x, X0, Y0, &X, &Y);  // paste_typed tabulates what is sampled quantised
    const double ad = mask_at<TM>(mask, s, quant, x, rx, ry, X, Y);
    if (!(ad > 0.0)) continue;  // frame * 1 + warped * 0 == frame
    float wf[3];
    double wd[3];
    if (crop_quant_always || (quant && !std::is_same_v<TC, std::uint8_t>)) {
      sample_quant<TC, 3, true>(crop, X, Y, wd);
      for (int c = 0; c < 3; ++c) wf[c] = static_cast<float>(wd[c]);  // float32 crops: stored as float
    } else if (std::is_same_v<TC, std::uint8_t> && quant) {  // OpenCV 4.x's uint8 warp
      sample_fixed_u8<3, true>(crop, X, Y, wf);
    } else {
      const float fx = static_cast<float>(x);
      const float sx = kfma(k[0], fx, rx), sy = kfma(k[3], fx, ry);
      int ix, iy;
      float ax, ay;
      paste::split_coord(sx, &ix, &ax);
      paste::split_coord(sy, &iy, &ay);
      sample_exact<TC, 3, true>(crop, ix, iy, ax, ay, wf, std::is_same_v<TC, std::uint8_t> ? tie_tol : -1.0f);
    }
    TF* px = o + static_cast<std::ptrdiff_t>(x) * 3;
    for (int c = 0; c < 3; ++c) {
      // numpy: frame * (1 - m) in the mask's float type, warped * m in
      // promote(crop, mask), the sum in the wider of the two.
      if constexpr (std::is_same_v<TM, double> || std::is_same_v<TC, double>) {
        double a;
        if constexpr (std::is_same_v<TM, double>)
          a = static_cast<double>(px[c]) * (1.0 - ad);
        else
          a = static_cast<double>(static_cast<float>(px[c]) * (1.0f - static_cast<float>(ad)));
        const double b = (std::is_same_v<TC, double> ? wd[c] : static_cast<double>(wf[c])) * ad;
        store(a + b, px + c);
      } else {
        const float af = static_cast<float>(ad);
        store(static_cast<float>(px[c]) * (1.0f - af) + wf[c] * af, px + c);
      }
    }
  }
}

// ---- the chunked path: uint8 / float32 crops, float32 masks, "exact" sampling ----
// (FaceFusion's inswapper / enhancer / most swapper crops on OpenCV 5.x.) Each row
// runs in chunks of kChunk columns in stages: source positions, the mask's
// samples (any > 0, else the chunk is skipped), the crop's samples, the blend.
// Same arithmetic, in the same order, as paste_row: the same bits. On AVX2 the
// samples are gathered 8 lanes at a time (int32 byte offsets: Reach::i32) and
// uint8 frames are blended 8 pixels at a time.

constexpr int kChunk = 64;  // a multiple of 8: lanes n .. n8 of a chunk are padding

// Cells (ix, iy) and fractions (ax, ay) of columns x0 .. x0 + n - 1 (paste::split_coord).
inline void chunk_positions(const float* k, float rx, float ry, int x0, int n, int* ix, int* iy, float* ax,
                            float* ay) {
  float sx[kChunk], sy[kChunk];
  for (int i = 0; i < n; ++i) {
    const float fx = static_cast<float>(x0 + i);
    sx[i] = kfma(k[0], fx, rx);
    sy[i] = kfma(k[3], fx, ry);
  }
  for (int i = 0; i < n; ++i) {
    float s = sx[i] < -paste::kCoordLimit ? -paste::kCoordLimit : (sx[i] > paste::kCoordLimit ? paste::kCoordLimit : sx[i]);
    int t = static_cast<int>(s);
    t -= static_cast<float>(t) > s ? 1 : 0;
    ix[i] = t;
    ax[i] = s - static_cast<float>(t);
    s = sy[i] < -paste::kCoordLimit ? -paste::kCoordLimit : (sy[i] > paste::kCoordLimit ? paste::kCoordLimit : sy[i]);
    t = static_cast<int>(s);
    t -= static_cast<float>(t) > s ? 1 : 0;
    iy[i] = t;
    ay[i] = s - static_cast<float>(t);
  }
}

// The float32 mask's samples (0 border), before the clip: sample_exact<float, 1, false>.
inline void chunk_mask(const View& m, const int* ix, const int* iy, const float* ax, const float* ay, int n,
                       float* out) {
  for (int i = 0; i < n; ++i) {
    const int x = ix[i], y = iy[i];
    const bool vx0 = x >= 0 && x < m.w, vx1 = x >= -1 && x < m.w - 1;
    const bool vy0 = y >= 0 && y < m.h, vy1 = y >= -1 && y < m.h - 1;
    const std::ptrdiff_t ox0 = clampi(x, 0, m.w - 1) * m.sx, ox1 = clampi(x + 1, 0, m.w - 1) * m.sx;
    const std::ptrdiff_t oy0 = clampi(y, 0, m.h - 1) * m.sy, oy1 = clampi(y + 1, 0, m.h - 1) * m.sy;
    const float p00 = vx0 && vy0 ? ld<float>(m.data + oy0 + ox0) : 0.0f;
    const float p01 = vx1 && vy0 ? ld<float>(m.data + oy0 + ox1) : 0.0f;
    const float p10 = vx0 && vy1 ? ld<float>(m.data + oy1 + ox0) : 0.0f;
    const float p11 = vx1 && vy1 ? ld<float>(m.data + oy1 + ox1) : 0.0f;
    const float v0 = kfma(ax[i], p01 - p00, p00), v1 = kfma(ax[i], p11 - p10, p10);
    out[i] = kfma(ay[i], v1 - v0, v0);
  }
}

// The crop's samples (replicated border): sample_exact<TC, 3, true>, uint8 crops
// stored by u8_sample.
template <typename TC>
inline void chunk_crop(const View& c, const int* ix, const int* iy, const float* ax, const float* ay, int n,
                       float (*out)[kChunk]) {
  const float tol = tie_tolerance(c);
  for (int i = 0; i < n; ++i) {
    const std::ptrdiff_t ox0 = clampi(ix[i], 0, c.w - 1) * c.sx, ox1 = clampi(ix[i] + 1, 0, c.w - 1) * c.sx;
    const std::ptrdiff_t oy0 = clampi(iy[i], 0, c.h - 1) * c.sy, oy1 = clampi(iy[i] + 1, 0, c.h - 1) * c.sy;
    for (int ch = 0; ch < 3; ++ch) {
      const unsigned char* b = c.data + ch * c.sc;
      const float p00 = static_cast<float>(ld<TC>(b + oy0 + ox0)), p01 = static_cast<float>(ld<TC>(b + oy0 + ox1));
      const float p10 = static_cast<float>(ld<TC>(b + oy1 + ox0)), p11 = static_cast<float>(ld<TC>(b + oy1 + ox1));
      const float v0 = kfma(ax[i], p01 - p00, p00), v1 = kfma(ax[i], p11 - p10, p10);
      const float v = kfma(ay[i], v1 - v0, v0);
      out[ch][i] = std::is_same_v<TC, std::uint8_t> ? u8_sample(v, p00, p01, p10, p11, tol) : v;
    }
  }
}

// The blend of pixels [i0, n) of the chunk at d: as paste_row's float branch.
template <typename TF>
inline void chunk_blend(TF* d, const float* am, const float (*v)[kChunk], int i0, int n) {
  for (int i = i0; i < n; ++i) {
    const float f = am[i];
    if (!(f > 0.0f)) continue;
    const float a = f > 1.0f ? 1.0f : f;
    TF* px = d + static_cast<std::ptrdiff_t>(i) * 3;
    for (int ch = 0; ch < 3; ++ch) store(static_cast<float>(px[ch]) * (1.0f - a) + v[ch][i] * a, px + ch);
  }
}

#if FACEFUSE_FFPASTE_HWFMA
inline __m256 lerp8(__m256 a, __m256 p0, __m256 p1) { return _mm256_fmadd_ps(a, _mm256_sub_ps(p1, p0), p0); }

// chunk_mask, 8 lanes a gather (n rounded up to 8: the padding lanes hold cells too).
inline void chunk_mask8(const View& m, const int* ix, const int* iy, const float* ax, const float* ay, int n,
                        float* out) {
  const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi32(1), m1 = _mm256_set1_epi32(-1),
                wm1 = _mm256_set1_epi32(m.w - 1), hm1 = _mm256_set1_epi32(m.h - 1), vw = _mm256_set1_epi32(m.w),
                vh = _mm256_set1_epi32(m.h), sx = _mm256_set1_epi32(static_cast<int>(m.sx)),
                sy = _mm256_set1_epi32(static_cast<int>(m.sy));
  const __m256 fz = _mm256_setzero_ps();
  const float* base = reinterpret_cast<const float*>(m.data);
  for (int i = 0; i < n; i += 8) {
    const __m256i x = _mm256_load_si256(reinterpret_cast<const __m256i*>(ix + i));
    const __m256i y = _mm256_load_si256(reinterpret_cast<const __m256i*>(iy + i));
    const __m256i xp = _mm256_add_epi32(x, one), yp = _mm256_add_epi32(y, one);
    // 0 <= v < n  <=>  v > -1 && n > v
    const __m256i vx0 = _mm256_and_si256(_mm256_cmpgt_epi32(x, m1), _mm256_cmpgt_epi32(vw, x));
    const __m256i vx1 = _mm256_and_si256(_mm256_cmpgt_epi32(xp, m1), _mm256_cmpgt_epi32(vw, xp));
    const __m256i vy0 = _mm256_and_si256(_mm256_cmpgt_epi32(y, m1), _mm256_cmpgt_epi32(vh, y));
    const __m256i vy1 = _mm256_and_si256(_mm256_cmpgt_epi32(yp, m1), _mm256_cmpgt_epi32(vh, yp));
    const __m256i x0 = _mm256_mullo_epi32(_mm256_min_epi32(_mm256_max_epi32(x, zero), wm1), sx);
    const __m256i x1 = _mm256_mullo_epi32(_mm256_min_epi32(_mm256_max_epi32(xp, zero), wm1), sx);
    const __m256i y0 = _mm256_mullo_epi32(_mm256_min_epi32(_mm256_max_epi32(y, zero), hm1), sy);
    const __m256i y1 = _mm256_mullo_epi32(_mm256_min_epi32(_mm256_max_epi32(yp, zero), hm1), sy);
    const __m256 p00 = _mm256_mask_i32gather_ps(fz, base, _mm256_add_epi32(y0, x0),
                                                _mm256_castsi256_ps(_mm256_and_si256(vx0, vy0)), 1);
    const __m256 p01 = _mm256_mask_i32gather_ps(fz, base, _mm256_add_epi32(y0, x1),
                                                _mm256_castsi256_ps(_mm256_and_si256(vx1, vy0)), 1);
    const __m256 p10 = _mm256_mask_i32gather_ps(fz, base, _mm256_add_epi32(y1, x0),
                                                _mm256_castsi256_ps(_mm256_and_si256(vx0, vy1)), 1);
    const __m256 p11 = _mm256_mask_i32gather_ps(fz, base, _mm256_add_epi32(y1, x1),
                                                _mm256_castsi256_ps(_mm256_and_si256(vx1, vy1)), 1);
    const __m256 a = _mm256_load_ps(ax + i), b = _mm256_load_ps(ay + i);
    _mm256_store_ps(out + i, lerp8(b, lerp8(a, p00, p01), lerp8(a, p10, p11)));
  }
}

// chunk_crop, 8 lanes a gather. float32: one gather per neighbour and channel.
// uint8: a 32-bit gather per neighbour (|sc| == 1: the 3 channels in one), per
// row and channel (sx == 1: both columns in one) or per neighbour and channel; a
// read that would pass the view's last byte (r.hi) starts up to 3 bytes earlier
// and is shifted back (a second column it would lose is never needed: it exists).
template <typename TC>
inline void chunk_crop8(const View& c, const Reach& r, const int* ix, const int* iy, const float* ax, const float* ay,
                        int n, float (*out)[kChunk]) {
  const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi32(1), wm1 = _mm256_set1_epi32(c.w - 1),
                hm1 = _mm256_set1_epi32(c.h - 1), sx = _mm256_set1_epi32(static_cast<int>(c.sx)),
                sy = _mm256_set1_epi32(static_cast<int>(c.sy)), last = _mm256_set1_epi32(static_cast<int>(r.hi - 3)),
                b255 = _mm256_set1_epi32(255);
  const __m256 fz = _mm256_setzero_ps(), v255 = _mm256_set1_ps(255.0f), magic = _mm256_set1_ps(12582912.0f);
  const __m256 half = _mm256_set1_ps(0.5f), tolv = _mm256_set1_ps(tie_tolerance(c)),
               tie_floor = _mm256_set1_ps(kTieFloor), sign = _mm256_set1_ps(-0.0f);
  const int sc = static_cast<int>(c.sc);
  const bool packed = std::is_same_v<TC, std::uint8_t> && (sc == 1 || sc == -1);
  for (int i = 0; i < n; i += 8) {
    const __m256i x = _mm256_load_si256(reinterpret_cast<const __m256i*>(ix + i));
    const __m256i y = _mm256_load_si256(reinterpret_cast<const __m256i*>(iy + i));
    const __m256i x0 = _mm256_mullo_epi32(_mm256_min_epi32(_mm256_max_epi32(x, zero), wm1), sx);
    const __m256i x1 = _mm256_mullo_epi32(_mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(x, one), zero), wm1), sx);
    const __m256i y0 = _mm256_mullo_epi32(_mm256_min_epi32(_mm256_max_epi32(y, zero), hm1), sy);
    const __m256i y1 = _mm256_mullo_epi32(_mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(y, one), zero), hm1), sy);
    const __m256i o[4] = {_mm256_add_epi32(y0, x0), _mm256_add_epi32(y0, x1), _mm256_add_epi32(y1, x0),
                          _mm256_add_epi32(y1, x1)};
    const __m256 a = _mm256_load_ps(ax + i), b = _mm256_load_ps(ay + i);
    __m256 p[3][4];
    if constexpr (std::is_same_v<TC, float>) {
      for (int ch = 0; ch < 3; ++ch) {
        const float* base = reinterpret_cast<const float*>(c.data + ch * c.sc);
        for (int k = 0; k < 4; ++k) p[ch][k] = _mm256_i32gather_ps(base, o[k], 1);
      }
    } else {
      const int* base = reinterpret_cast<const int*>(c.data);
      if (packed) {
        const __m256i first = _mm256_set1_epi32(sc < 0 ? -2 : 0);
        for (int k = 0; k < 4; ++k) {
          const __m256i q = _mm256_add_epi32(o[k], first);
          const __m256i rr = _mm256_min_epi32(q, last);
          const __m256i d = _mm256_srlv_epi32(_mm256_i32gather_epi32(base, rr, 1), _mm256_slli_epi32(_mm256_sub_epi32(q, rr), 3));
          for (int ch = 0; ch < 3; ++ch) {
            const int byte = sc > 0 ? ch : 2 - ch;
            p[ch][k] = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(d, 8 * byte), b255));
          }
        }
      } else if (c.sx == 1) {
        // planar (the enhancer's layout): one 32-bit read holds both columns of a row;
        // where the clamp makes them one column (x0 == x1) the second is the first
        const __m256i same = _mm256_cmpeq_epi32(x0, x1);
        for (int ch = 0; ch < 3; ++ch) {
          const __m256i cofs = _mm256_set1_epi32(ch * sc);
          for (int row = 0; row < 2; ++row) {
            const __m256i q = _mm256_add_epi32(o[2 * row], cofs);
            const __m256i rr = _mm256_min_epi32(q, last);
            const __m256i d = _mm256_srlv_epi32(_mm256_i32gather_epi32(base, rr, 1), _mm256_slli_epi32(_mm256_sub_epi32(q, rr), 3));
            const __m256i first = _mm256_and_si256(d, b255);
            const __m256i second = _mm256_blendv_epi8(_mm256_and_si256(_mm256_srli_epi32(d, 8), b255), first, same);
            p[ch][2 * row] = _mm256_cvtepi32_ps(first);
            p[ch][2 * row + 1] = _mm256_cvtepi32_ps(second);
          }
        }
      } else {
        for (int ch = 0; ch < 3; ++ch) {
          const __m256i cofs = _mm256_set1_epi32(ch * sc);
          for (int k = 0; k < 4; ++k) {
            const __m256i q = _mm256_add_epi32(o[k], cofs);
            const __m256i rr = _mm256_min_epi32(q, last);
            const __m256i d = _mm256_srlv_epi32(_mm256_i32gather_epi32(base, rr, 1), _mm256_slli_epi32(_mm256_sub_epi32(q, rr), 3));
            p[ch][k] = _mm256_cvtepi32_ps(_mm256_and_si256(d, b255));
          }
        }
      }
    }
    for (int ch = 0; ch < 3; ++ch) {
      __m256 v = lerp8(b, lerp8(a, p[ch][0], p[ch][1]), lerp8(a, p[ch][2], p[ch][3]));
      if constexpr (std::is_same_v<TC, std::uint8_t>) {  // u8_sample
        v = _mm256_min_ps(_mm256_max_ps(v, fz), v255);
        const __m256 r = _mm256_sub_ps(_mm256_add_ps(v, magic), magic);
        const __m256 lo = _mm256_min_ps(_mm256_min_ps(p[ch][0], p[ch][1]), _mm256_min_ps(p[ch][2], p[ch][3]));
        const __m256 hi = _mm256_max_ps(_mm256_max_ps(p[ch][0], p[ch][1]), _mm256_max_ps(p[ch][2], p[ch][3]));
        const __m256 thr = _mm256_sub_ps(half, _mm256_fmadd_ps(_mm256_sub_ps(hi, lo), tolv, tie_floor));
        const __m256 dist = _mm256_andnot_ps(sign, _mm256_sub_ps(v, r));
        v = _mm256_blendv_ps(r, v, _mm256_cmp_ps(dist, thr, _CMP_GT_OQ));
      }
      _mm256_store_ps(out[ch] + i, v);
    }
  }
}

// Byte shuffles that split 8 interleaved BGR pixels (24 bytes) into channels and back.
struct Shuffles {
  alignas(16) unsigned char split_lo[3][16], split_hi[3][16], join_lo01[16], join_lo2[16], join_hi01[16],
      join_hi2[16];
  Shuffles() {
    for (int c = 0; c < 3; ++c)
      for (int k = 0; k < 16; ++k) {
        const int j = k * 3 + c;  // byte of pixel k, channel c
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

// chunk_blend of 8 uint8 BGR pixels at d: frame * (1 - a) + v * a, truncated and
// saturated (NaN -> 0) where the mask sample f > 0; the frame's byte elsewhere.
inline void blend8_u8(unsigned char* d, const float* fp, const float* v0p, const float* v1p, const float* v2p,
                      const Shuffles& S) {
  const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(d));
  const __m128i hi = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(d + 16));
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f), v255 = _mm256_set1_ps(255.0f);
  const __m256 f = _mm256_loadu_ps(fp);
  const __m256i sel = _mm256_castps_si256(_mm256_cmp_ps(f, zero, _CMP_GT_OQ));
  const __m256 a = _mm256_min_ps(f, one);  // only lanes with f > 0 are kept
  const __m256 one_a = _mm256_sub_ps(one, a);
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
    __m256 mixed = _mm256_add_ps(_mm256_mul_ps(fr, one_a), _mm256_mul_ps(_mm256_loadu_ps(vp[c]), a));
    mixed = _mm256_min_ps(_mm256_max_ps(mixed, zero), v255);  // max_ps(NaN, 0) = 0
    const __m256i res = _mm256_blendv_epi8(fi, _mm256_cvttps_epi32(mixed), sel);
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

// Row y of the box through the chunked path (TM float32, TC uint8 / float32, not quant).
template <typename TF, typename TC>
void paste_row_chunked(TF* o, const View& crop, const View& mask, const Setup& s, const Reach& cr, const Reach& mr,
                       int y, int bw) {
  const float* k = s.k;
  const float fy = static_cast<float>(y);
  const float rx = fy * k[1] + k[2], ry = fy * k[4] + k[5];
  int xa, xb;
  paste::source_span(k, y, bw, -1.0, mask.w, -1.0, mask.h, &xa, &xb);
  alignas(32) int ix[kChunk], iy[kChunk];
  alignas(32) float ax[kChunk], ay[kChunk], am[kChunk], v[3][kChunk];
  for (int x0 = xa; x0 < xb; x0 += kChunk) {
    const int n = xb - x0 < kChunk ? xb - x0 : kChunk;
#if FACEFUSE_FFPASTE_HWFMA
    const int n8 = (n + 7) & ~7;  // padding lanes: cells of the next columns (read in bounds, never stored)
    chunk_positions(k, rx, ry, x0, n8, ix, iy, ax, ay);
    if (mr.i32)
      chunk_mask8(mask, ix, iy, ax, ay, n8, am);
    else
      chunk_mask(mask, ix, iy, ax, ay, n, am);
#else
    chunk_positions(k, rx, ry, x0, n, ix, iy, ax, ay);
    chunk_mask(mask, ix, iy, ax, ay, n, am);
#endif
    bool any = false;
    for (int i = 0; i < n; ++i) any |= am[i] > 0.0f;
    if (!any) continue;  // frame * 1 + warped * 0 == frame
    TF* d = o + static_cast<std::ptrdiff_t>(x0) * 3;
    int i0 = 0;
#if FACEFUSE_FFPASTE_HWFMA
    if (cr.i32)
      chunk_crop8<TC>(crop, cr, ix, iy, ax, ay, n8, v);
    else
      chunk_crop<TC>(crop, ix, iy, ax, ay, n, v);
    if constexpr (std::is_same_v<TF, std::uint8_t>) {
      static const Shuffles shuffles;
      for (; i0 + 8 <= n; i0 += 8)
        blend8_u8(d + i0 * 3, am + i0, v[0] + i0, v[1] + i0, v[2] + i0, shuffles);
    }
#else
    (void)cr;
    (void)mr;
    chunk_crop<TC>(crop, ix, iy, ax, ay, n, v);
#endif
    chunk_blend<TF>(d, am, v, i0, n);
  }
}
