// FaceFusion drop-in helpers (ff_helpers.hpp).
#include "facefuse/ff_helpers.hpp"

#include <cstring>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <immintrin.h>
#endif

#include "facefuse/cpu_dispatch.hpp"

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

// hash64: xxh3-style stripes. 8 lanes of 64 bits; per 64-byte stripe, lane i adds
// word i's two 32-bit halves (after a key xor) multiplied together and lane i ^ 1
// adds word i; every 16 stripes (1 KiB) each lane is scrambled. The lanes, the
// tail words and the length are then mixed into 64 bits. The AVX2 body computes
// the same lanes 4 at a time (the same hash on every CPU); ~3x the speed of the
// former multiply-rotate lanes, whose 64-bit multiplies limited them to ~12 GB/s.
namespace {

constexpr std::uint64_t kKey[8] = {0xbe4ba423396cfeb8ULL, 0x1cad21f72c81017cULL, 0xdb979083e96dd4deULL,
                                   0x1f67b3b7a4a44072ULL, 0x78e5c0cc4ee679cbULL, 0x2172ffcc7dd05a82ULL,
                                   0x8e2443f7744608b8ULL, 0x4c263a81e69035e0ULL};
constexpr std::uint64_t kScramble[8] = {0xcb00c391bb52a0d9ULL, 0xc78a1b6c7b6e5d2aULL, 0x7d6f3e8ee1b9f0c5ULL,
                                        0x24a4c2b9a4e1c9d3ULL, 0x5ab13f91c53e80e7ULL, 0xe1f07a43b0d3a2c1ULL,
                                        0x93d7a1c5b8f24e61ULL, 0x3f8c52a7d1e6b049ULL};
constexpr std::uint64_t kPrime32 = 0x9E3779B1ULL;
constexpr int kStripe = 64, kBlock = 16;  // stripes between scrambles

void stripes_scalar(std::uint64_t* acc, const unsigned char* p, std::size_t stripes) {
  for (std::size_t s = 0; s < stripes; ++s) {
    const unsigned char* q = p + s * kStripe;
    for (int i = 0; i < 8; ++i) {
      const std::uint64_t v = load64(q + 8 * i), k = v ^ kKey[i];
      acc[i ^ 1] += v;
      acc[i] += (k & 0xffffffffULL) * (k >> 32);
    }
    if (s % kBlock == kBlock - 1)
      for (int i = 0; i < 8; ++i) acc[i] = ((acc[i] ^ (acc[i] >> 47)) ^ kScramble[i]) * kPrime32;
  }
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define FACEFUSE_HASH_AVX2 1
__attribute__((target("avx2"))) void stripes_avx2(std::uint64_t* acc, const unsigned char* p, std::size_t stripes) {
  __m256i a[2], key[2], scr[2];
  for (int h = 0; h < 2; ++h) {
    a[h] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(acc + 4 * h));
    key[h] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kKey + 4 * h));
    scr[h] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kScramble + 4 * h));
  }
  const __m256i prime = _mm256_set1_epi64x(static_cast<long long>(kPrime32));
  for (std::size_t s = 0; s < stripes; ++s) {
    const unsigned char* q = p + s * kStripe;
    for (int h = 0; h < 2; ++h) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32 * h));
      const __m256i k = _mm256_xor_si256(v, key[h]);
      const __m256i prod = _mm256_mul_epu32(k, _mm256_srli_epi64(k, 32));  // lo32 * hi32
      const __m256i swapped = _mm256_shuffle_epi32(v, _MM_SHUFFLE(1, 0, 3, 2));  // word i -> lane i ^ 1
      a[h] = _mm256_add_epi64(a[h], _mm256_add_epi64(prod, swapped));
    }
    if (s % kBlock == kBlock - 1)
      for (int h = 0; h < 2; ++h) {
        const __m256i x = _mm256_xor_si256(_mm256_xor_si256(a[h], _mm256_srli_epi64(a[h], 47)), scr[h]);
        // x * kPrime32 mod 2^64 = lo32(x) * P + (hi32(x) * P) << 32
        const __m256i lo = _mm256_mul_epu32(x, prime), hi = _mm256_mul_epu32(_mm256_srli_epi64(x, 32), prime);
        a[h] = _mm256_add_epi64(lo, _mm256_slli_epi64(hi, 32));
      }
  }
  for (int h = 0; h < 2; ++h) _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + 4 * h), a[h]);
}
#else
#define FACEFUSE_HASH_AVX2 0
#endif

}  // namespace

std::uint64_t hash64(const unsigned char* p, std::size_t n) {
  std::uint64_t acc[8];
  for (int i = 0; i < 8; ++i) acc[i] = kKey[i] ^ (kP1 * static_cast<std::uint64_t>(i + 1));
  const std::size_t stripes = n / kStripe;
#if FACEFUSE_HASH_AVX2
  if (cpu_has_avx2())
    stripes_avx2(acc, p, stripes);
  else
#endif
    stripes_scalar(acc, p, stripes);
  std::uint64_t h = static_cast<std::uint64_t>(n) * kP1;
  for (int i = 0; i < 8; ++i) h = rotl(h ^ round64(0, acc[i]), 27) * kP1 + kP3;
  std::size_t i = stripes * kStripe;
  for (; i + 8 <= n; i += 8) h = rotl(h ^ round64(0, load64(p + i)), 27) * kP1 + kP3;
  for (; i < n; ++i) h = rotl(h ^ (p[i] * kP3), 11) * kP1;
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
