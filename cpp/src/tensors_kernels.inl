// Row kernels of the crop <-> tensor conversions (tensors.cpp includes this file once per
// instruction set: the loops vectorise with whatever the including namespace targets).

inline std::uint8_t to_u8(float v, float lo, float hi, float offset, float scale) {
  // Branch-free so the loops vectorise. std::max / std::min keep NaN (np.clip does too).
  v = std::min(std::max(v, lo), hi);
  float p = (v + offset) * scale;
  p = (p == p) ? p : 255.0f;                  // NaN -> 255, as OpenCV's convertScaleAbs
  p = std::min(std::max(p, 0.0f), 255.0f);
  p = (p + 8388608.0f) - 8388608.0f;          // 0 <= p < 2^23: to nearest integer, ties to even
  return static_cast<std::uint8_t>(static_cast<int>(p));
}

// Crop row `src` (w BGR pixels) into row r of the t tiles whose planes start at `tiles`
// (tile j at tiles + j * 3 * plane).
void forward_row(const std::uint8_t* src, int t, int sw, std::ptrdiff_t plane, const float* table, float* tiles) {
  for (int j = 0; j < t; ++j) {
    float* pr = tiles + static_cast<std::ptrdiff_t>(j) * 3 * plane;
    float* pg = pr + plane;
    float* pb = pg + plane;
    const std::uint8_t* s = src + j * 3;
    for (int q = 0; q < sw; ++q, s += 3 * t) {
      pr[q] = table[s[2]];
      pg[q] = table[256 + s[1]];
      pb[q] = table[512 + s[0]];
    }
  }
}

// Row r of the t tiles (planes as above) into crop row `d` (w BGR pixels); `tmp` holds 3 * w bytes.
void back_row(const float* tiles, int t, int sw, std::ptrdiff_t plane, float lo, float hi, float offset, float scale,
              std::uint8_t* tmp, std::uint8_t* d) {
  const int w = sw * t;
  for (int j = 0; j < t; ++j) {  // each tile's B, G, R rows as bytes
    const float* tile = tiles + static_cast<std::ptrdiff_t>(j) * 3 * plane;
    std::uint8_t* tj = tmp + static_cast<std::ptrdiff_t>(j) * 3 * sw;
    for (int c = 0; c < 3; ++c) {
      const float* s = tile + (2 - c) * plane;
      std::uint8_t* o = tj + c * sw;
      for (int q = 0; q < sw; ++q) o[q] = to_u8(s[q], lo, hi, offset, scale);
    }
  }
  // Pixel x = q*t + j in order: a 4-byte store each (its fourth byte is the next pixel's B,
  // written next), the last pixel byte by byte so nothing past the row is touched.
  if (t == 1) {
    for (int x = 0; x < w - 1; ++x) {
      const std::uint32_t v = static_cast<std::uint32_t>(tmp[x]) | static_cast<std::uint32_t>(tmp[sw + x]) << 8 |
                              static_cast<std::uint32_t>(tmp[2 * sw + x]) << 16;
      std::memcpy(d + 3 * x, &v, 4);  // little-endian byte order: B, G, R, (next B)
    }
  } else {
    for (int x = 0, q = 0; q < sw; ++q) {
      for (int j = 0; j < t && x < w - 1; ++j, ++x) {
        const std::uint8_t* tj = tmp + static_cast<std::ptrdiff_t>(j) * 3 * sw;
        const std::uint32_t v = static_cast<std::uint32_t>(tj[q]) | static_cast<std::uint32_t>(tj[sw + q]) << 8 |
                                static_cast<std::uint32_t>(tj[2 * sw + q]) << 16;
        std::memcpy(d + 3 * x, &v, 4);
      }
    }
  }
  const int x = w - 1, j = x % t, q = x / t;
  const std::uint8_t* tj = tmp + static_cast<std::ptrdiff_t>(j) * 3 * sw;
  d[3 * x] = tj[q];
  d[3 * x + 1] = tj[sw + q];
  d[3 * x + 2] = tj[2 * sw + q];
}
