// FaceFusion drop-in helpers (ff_helpers.hpp).
#include "facefuse/ff_helpers.hpp"

#include <cstring>

namespace facefuse::ffhelp {

namespace {

constexpr std::uint64_t kP1 = 0x9E3779B185EBCA87ULL, kP2 = 0xC2B2AE3D27D4EB4FULL, kP3 = 0x165667B19E3779F9ULL;

inline std::uint64_t rotl(std::uint64_t v, int r) { return (v << r) | (v >> (64 - r)); }
inline std::uint64_t round64(std::uint64_t acc, std::uint64_t in) { return rotl(acc + in * kP2, 31) * kP1; }
inline std::uint64_t load64(const unsigned char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Copies n pixels of `ch` elements (source channel step sc) channel by channel:
// a fixed-size element copy (a runtime-size memcpy per element was a libc call,
// ~4 ns an element, on FaceFusion's planar float32 model outputs).
template <std::size_t ITEM>
inline void copy_planes(unsigned char* d, std::ptrdiff_t dstep, const unsigned char* s, std::ptrdiff_t sstep,
                        std::ptrdiff_t sc, int ch, int n) {
  for (int k = 0; k < ch; ++k) {
    const unsigned char* sk = s + k * sc;
    unsigned char* dk = d + k * static_cast<std::ptrdiff_t>(ITEM);
    for (int c = 0; c < n; ++c) std::memcpy(dk + c * dstep, sk + c * sstep, ITEM);
  }
}
inline void copy_px(unsigned char* d, std::ptrdiff_t dstep, const unsigned char* s, std::ptrdiff_t sstep,
                    std::ptrdiff_t sc, int ch, int n, int item) {
  switch (item) {
    case 1: copy_planes<1>(d, dstep, s, sstep, sc, ch, n); return;
    case 2: copy_planes<2>(d, dstep, s, sstep, sc, ch, n); return;
    case 4: copy_planes<4>(d, dstep, s, sstep, sc, ch, n); return;
    case 8: copy_planes<8>(d, dstep, s, sstep, sc, ch, n); return;
    default:
      for (int c = 0; c < n; ++c)
        for (int k = 0; k < ch; ++k)
          std::memcpy(d + c * dstep + k * item, s + c * sstep + k * sc, static_cast<std::size_t>(item));
  }
}

}  // namespace

std::uint64_t hash64(const unsigned char* p, std::size_t n) {
  std::uint64_t a = kP1 + kP2, b = kP2, c = 0, d = 0 - kP1;
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a = round64(a, load64(p + i));
    b = round64(b, load64(p + i + 8));
    c = round64(c, load64(p + i + 16));
    d = round64(d, load64(p + i + 24));
  }
  std::uint64_t h = rotl(a, 1) + rotl(b, 7) + rotl(c, 12) + rotl(d, 18);
  for (; i + 8 <= n; i += 8) h = rotl(h ^ round64(0, load64(p + i)), 27) * kP1 + kP3;
  for (; i < n; ++i) h = rotl(h ^ (p[i] * kP3), 11) * kP1;
  h ^= static_cast<std::uint64_t>(n);
  h ^= h >> 33;
  h *= kP2;
  h ^= h >> 29;
  h *= kP3;
  h ^= h >> 32;
  return h;
}

// Row copies with a compile-time pixel size (3, 12, 24 bytes: a memcpy the compiler inlines).
template <std::size_t PX>
inline void gather(unsigned char* d, std::size_t dstep, const unsigned char* s, std::ptrdiff_t sstep, int n) {
  for (int c = 0; c < n; ++c) std::memcpy(d + c * dstep, s + c * sstep, PX);
}
inline bool gather_fixed(unsigned char* d, std::size_t dstep, const unsigned char* s, std::ptrdiff_t sstep, int n,
                         std::size_t px) {
  switch (px) {
    case 3: gather<3>(d, dstep, s, sstep, n); return true;
    case 12: gather<12>(d, dstep, s, sstep, n); return true;
    case 24: gather<24>(d, dstep, s, sstep, n); return true;
    default: return false;
  }
}


void implode(const Pix& src, int t, int m0, int m1, int ch, int item, unsigned char* out) {
  const std::size_t px = static_cast<std::size_t>(ch) * item;
  for (int i = 0; i < t; ++i)
    for (int j = 0; j < t; ++j)
      for (int r = 0; r < m0; ++r) {
        const unsigned char* s = src.base + static_cast<std::ptrdiff_t>(r * t + i) * src.sy + j * src.sx;
        unsigned char* d = out + ((static_cast<std::size_t>(i * t + j) * m0 + r) * m1) * px;
        const std::ptrdiff_t step = t * src.sx;
        if (src.sc == item && gather_fixed(d, px, s, step, m1, px)) {
        } else if (src.sc == item) {
          for (int c = 0; c < m1; ++c) std::memcpy(d + c * px, s + c * step, px);
        } else {
          copy_px(d, static_cast<std::ptrdiff_t>(px), s, step, src.sc, ch, m1, item);
        }
      }
}

void explode(const Pix* tiles, int t, int m0, int m1, int ch, int item, unsigned char* out) {
  const std::size_t px = static_cast<std::size_t>(ch) * item;
  const std::size_t row = static_cast<std::size_t>(m1) * t * px;
  for (int k = 0; k < t * t; ++k) {
    const int i = k / t, j = k % t;
    const Pix& tl = tiles[k];
    for (int r = 0; r < m0; ++r) {
      const unsigned char* s = tl.base + r * tl.sy;
      unsigned char* d = out + static_cast<std::size_t>(r * t + i) * row + j * px;
      const std::size_t step = t * px;
      if (tl.sc == item && gather_fixed(d, step, s, tl.sx, m1, px)) {
      } else if (tl.sc == item) {
        for (int c = 0; c < m1; ++c) std::memcpy(d + c * step, s + c * tl.sx, px);
      } else {
        copy_px(d, static_cast<std::ptrdiff_t>(step), s, tl.sx, tl.sc, ch, m1, item);
      }
    }
  }
}

namespace {

// One row of enhancer_normalize; SX: the source's column step in bytes (4: contiguous,
// a loop GCC vectorises; 0: the runtime step sx). Returns false on a NaN.
template <std::ptrdiff_t SX>
inline bool normalize_row(const unsigned char* s, std::ptrdiff_t sx, int w, unsigned char* d) {
  const std::ptrdiff_t step = SX ? SX : sx;
  int nan = 0;  // an int, not a bool: GCC vectorises the loop then
  for (int x = 0; x < w; ++x) {
    float v;
    std::memcpy(&v, s + x * step, 4);
    nan |= v != v ? 1 : 0;
    v = v < -1.0f ? -1.0f : (v > 1.0f ? 1.0f : v);  // numpy.clip
    v = (v + 1.0f) / 2.0f;                           // float32 add, then true divide
    v = v * 255.0f;                                  // * 255.0 in float32
    v = (v + 12582912.0f) - 12582912.0f;             // .round(): half to even (1.5 * 2^23; 0 <= v <= 255)
    d[x] = static_cast<unsigned char>(static_cast<int>(v));
  }
  return nan == 0;
}

}  // namespace

bool enhancer_normalize(const Pix& src, int h, int w, int ch, unsigned char* out) {
  bool ok = true;
  for (int c = 0; c < ch; ++c)
    for (int y = 0; y < h; ++y) {
      const unsigned char* s = src.base + c * src.sc + y * src.sy;
      unsigned char* d = out + (static_cast<std::size_t>(c) * h + y) * w;
      ok &= src.sx == 4 ? normalize_row<4>(s, 4, w, d) : normalize_row<0>(s, src.sx, w, d);
    }
  return ok;
}

}  // namespace facefuse::ffhelp
