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

// Bilinear sample ("exact", OpenCV 5.x float arithmetic) of C channels at the
// cell (ix, iy) + (ax, ay); Rep: edge pixels outside, else 0.
template <typename T, int C, bool Rep>
inline void sample_exact(const View& v, int ix, int iy, float ax, float ay, float* out) {
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

// cv2's fixed-point source position of column x in a row starting at (X0, Y0).
inline void quant_pos(const double* kd, int x, int X0, int Y0, int* X, int* Y) {
  const double fx = static_cast<double>(x);
  *X = (X0 + sat_int(kd[0] * fx * 1024.0)) >> 5;
  *Y = (Y0 + sat_int(kd[3] * fx * 1024.0)) >> 5;
  *X = clampi(*X, -32768 * 32, 32767 * 32 + 31);  // cv2 stores the cell as int16
  *Y = clampi(*Y, -32768 * 32, 32767 * 32 + 31);
}

// The mask's clipped weight at column x: exact for float32 masks (unless quant),
// quantised for float64 masks. Returns it in the mask's precision (as double).
template <typename TM>
inline double mask_at(const View& m, const Setup& s, bool quant, int x, float rx, float ry, int X0, int Y0) {
  double a;
  if (std::is_same_v<TM, double> || quant) {
    int X, Y;
    quant_pos(s.kd, x, X0, Y0, &X, &Y);
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
void paste_row(TF* o, const View& crop, const View& mask, const Setup& s, bool quant, int y, int bw) {
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
  for (int x = xa; x < xb; ++x) {
    const double ad = mask_at<TM>(mask, s, quant, x, rx, ry, X0, Y0);
    if (!(ad > 0.0)) continue;  // frame * 1 + warped * 0 == frame
    float wf[3];
    double wd[3];
    if (crop_quant_always || (quant && !std::is_same_v<TC, std::uint8_t>)) {
      int X, Y;
      quant_pos(s.kd, x, X0, Y0, &X, &Y);
      sample_quant<TC, 3, true>(crop, X, Y, wd);
      for (int c = 0; c < 3; ++c) wf[c] = static_cast<float>(wd[c]);  // float32 crops: stored as float
    } else {
      const float fx = static_cast<float>(x);
      const float sx = kfma(k[0], fx, rx), sy = kfma(k[3], fx, ry);
      int ix, iy;
      float ax, ay;
      paste::split_coord(sx, &ix, &ax);
      paste::split_coord(sy, &iy, &ay);
      sample_exact<TC, 3, true>(crop, ix, iy, ax, ay, wf);
    }
    if constexpr (std::is_same_v<TC, std::uint8_t>)
      for (int c = 0; c < 3; ++c) wf[c] = static_cast<float>(paste::round_even_u8(wf[c]));
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
