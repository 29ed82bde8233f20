// CPU kernels of the paste family: facefuse's bilinear affine warp and the fused
// paste-back (see paste_math.hpp for the arithmetic).
#include "facefuse/paste.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(FACEFUSE_PASTE_NO_AVX2)
#include <immintrin.h>
#endif

#include "facefuse/color.hpp"
#include "facefuse/cpu_dispatch.hpp"
#include "facefuse/parallel.hpp"
#include "facefuse/paste_math.hpp"
#include "facefuse/poisson.hpp"
#include "facefuse/pyramid.hpp"

// x86-64 GCC: the row kernels are also compiled for AVX2 + FMA and picked at run time.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(FACEFUSE_PASTE_NO_AVX2)
#define FACEFUSE_PASTE_AVX2 1
#else
#define FACEFUSE_PASTE_AVX2 0
#endif

namespace facefuse::paste {

namespace pk_base {
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
namespace {
#define FACEFUSE_PASTE_HWFMA 0
#include "paste_kernels.inl"
#undef FACEFUSE_PASTE_HWFMA
}  // namespace
#pragma GCC pop_options
}  // namespace pk_base

#if FACEFUSE_PASTE_AVX2
namespace pk_avx2 {
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#pragma GCC optimize("fp-contract=off")
namespace {
#define FACEFUSE_PASTE_HWFMA 1
#include "paste_kernels.inl"
#undef FACEFUSE_PASTE_HWFMA
}  // namespace
#pragma GCC pop_options
}  // namespace pk_avx2
#endif

namespace {

bool use_avx2() { return FACEFUSE_PASTE_AVX2 && cpu_has_avx2_fma(); }

// The chunked kernels index images with int offsets.
bool small_image(int h, int w, int c) {
#if defined(FACEFUSE_PASTE_SCALAR_ONLY)  // testing aid: the plain per-pixel path everywhere
  (void)h, (void)w, (void)c;
  return false;
#else
  return static_cast<std::int64_t>(h) * w * c < (std::int64_t(1) << 31);
#endif
}

// Below this many output pixels a region runs on the calling thread.
constexpr std::int64_t kParallelMinPixels = 16384;

template <typename T, int C>
void warp_rows(const T* src, int sh, int sw, T* dst, int dh, int dw, const float* m, bool replicate) {
  const std::ptrdiff_t sstride = static_cast<std::ptrdiff_t>(sw) * C;
  const bool fast = small_image(sh, sw, C), avx2 = use_avx2();
  RegionProbe probe(static_cast<std::int64_t>(dh) * dw >= kParallelMinPixels);
#pragma omp parallel if (probe.parallel())
  {
#pragma omp for schedule(static) nowait
    for (int y = 0; y < dh; ++y) {
      T* orow = dst + static_cast<std::ptrdiff_t>(y) * dw * C;
      if (fast) {
#if FACEFUSE_PASTE_AVX2
        if (avx2) {
          pk_avx2::warp_row<T, C>(src, sh, sw, m, replicate, y, dw, orow);
          continue;
        }
#endif
        (void)avx2;
        pk_base::warp_row<T, C>(src, sh, sw, m, replicate, y, dw, orow);
        continue;
      }
      float rx, ry;
      row_offsets(m, y, &rx, &ry);
      T* o = orow;
      for (int x = 0; x < dw; ++x) {
        float sx, sy, v[C];
        map_col(m, x, rx, ry, &sx, &sy);
        sample_bilinear<T, C>(src, sh, sw, sstride, sx, sy, replicate, v);
        for (int c = 0; c < C; ++c) store_sample(v[c], o + static_cast<std::ptrdiff_t>(x) * C + c);
      }
    }
    probe.share_done();
  }
}

template <typename T>
bool warp_affine_impl(const T* src, int sh, int sw, int c, T* dst, int dh, int dw, const double* M,
                      bool replicate) {
  double inv[6];
  if (!invert_affine(M, inv)) return false;
  float m[6];
  for (int i = 0; i < 6; ++i) m[i] = static_cast<float>(inv[i]);
  switch (c) {
    case 1: warp_rows<T, 1>(src, sh, sw, dst, dh, dw, m, replicate); break;
    case 2: warp_rows<T, 2>(src, sh, sw, dst, dh, dw, m, replicate); break;
    case 3: warp_rows<T, 3>(src, sh, sw, dst, dh, dw, m, replicate); break;
    default: warp_rows<T, 4>(src, sh, sw, dst, dh, dw, m, replicate); break;
  }
  return true;
}

// The fused alpha paste of one face: per box pixel, the mask sample (constant
// border, clipped), and where it is > 0 the crop sample (replicated border,
// stored in the frame's dtype) blended into the image.
template <typename T>
void paste_alpha_fused(T* img, int W, const Face<T>& f) {
  const PasteBox& b = f.box;
  const int bh = b.y1 - b.y0, bw = b.x1 - b.x0;
  const std::ptrdiff_t cstride = static_cast<std::ptrdiff_t>(f.w) * 3;
  const float* m = f.warp;
  const bool fast = small_image(f.h, f.w, 3), avx2 = use_avx2();
  RegionProbe probe(static_cast<std::int64_t>(bh) * bw >= kParallelMinPixels);
#pragma omp parallel if (probe.parallel())
  {
#pragma omp for schedule(static) nowait
    for (int y = 0; y < bh; ++y) {
      T* o = img + (static_cast<std::ptrdiff_t>(b.y0 + y) * W + b.x0) * 3;
      if (fast) {
#if FACEFUSE_PASTE_AVX2
        if (avx2) {
          pk_avx2::alpha_row<T>(f, y, bw, o);
          continue;
        }
#endif
        (void)avx2;
        pk_base::alpha_row<T>(f, y, bw, o);
        continue;
      }
      float rx, ry;
      row_offsets(m, y, &rx, &ry);
      for (int x = 0; x < bw; ++x) {
        float sx, sy, a;
        map_col(m, x, rx, ry, &sx, &sy);
        sample_bilinear<float, 1>(f.mask, f.h, f.w, f.w, sx, sy, false, &a);
        a = mask_weight(a);
        if (!(a > 0.0f)) continue;  // frame * 1 + warped * 0 == frame
        float v[3];
        sample_bilinear<T, 3>(f.crop, f.h, f.w, cstride, sx, sy, true, v);
        T* px = o + static_cast<std::ptrdiff_t>(x) * 3;
        for (int c = 0; c < 3; ++c) {
          T w;
          store_sample(v[c], &w);
          store_mix(alpha_mix(static_cast<float>(px[c]), static_cast<float>(w), a), px + c);
        }
      }
    }
    probe.share_done();
  }
}

template <typename T>
void warp_face_impl(const Face<T>& f, T* warped, float* mask) {
  const PasteBox& b = f.box;
  const int bh = b.y1 - b.y0, bw = b.x1 - b.x0;
  const std::ptrdiff_t cstride = static_cast<std::ptrdiff_t>(f.w) * 3;
  const float* m = f.warp;
  const bool fast = small_image(f.h, f.w, 3), avx2 = use_avx2();
  RegionProbe probe(static_cast<std::int64_t>(bh) * bw >= kParallelMinPixels);
#pragma omp parallel if (probe.parallel())
  {
#pragma omp for schedule(static) nowait
    for (int y = 0; y < bh; ++y) {
      T* o = warped + static_cast<std::ptrdiff_t>(y) * bw * 3;
      float* mo = mask + static_cast<std::ptrdiff_t>(y) * bw;
      if (fast) {
#if FACEFUSE_PASTE_AVX2
        if (avx2) {
          pk_avx2::face_row<T>(f, y, bw, o, mo);
          continue;
        }
#endif
        (void)avx2;
        pk_base::face_row<T>(f, y, bw, o, mo);
        continue;
      }
      float rx, ry;
      row_offsets(m, y, &rx, &ry);
      for (int x = 0; x < bw; ++x) {
        float sx, sy, a, v[3];
        map_col(m, x, rx, ry, &sx, &sy);
        sample_bilinear<float, 1>(f.mask, f.h, f.w, f.w, sx, sy, false, &a);
        mo[x] = mask_weight(a);
        sample_bilinear<T, 3>(f.crop, f.h, f.w, cstride, sx, sy, true, v);
        for (int c = 0; c < 3; ++c) store_sample(v[c], o + static_cast<std::ptrdiff_t>(x) * 3 + c);
      }
    }
    probe.share_done();
  }
}

void laplacian(const std::uint8_t* dst, const std::uint8_t* src, const float* mask, std::uint8_t* out, int h, int w,
               long long levels) {
  blend_laplacian_u8(dst, src, mask, out, h, w, 3, levels);
}
void laplacian(const float* dst, const float* src, const float* mask, float* out, int h, int w, long long levels) {
  blend_laplacian_f32(dst, src, mask, out, h, w, 3, levels);
}

// The seamless blend of a warped box into the image's box (in place, row stride W * 3).
void poisson(std::uint8_t* box, int W, const std::uint8_t* warped, const float* mask, int bh, int bw) {
  const std::ptrdiff_t s = static_cast<std::ptrdiff_t>(W) * 3, ws = static_cast<std::ptrdiff_t>(bw) * 3;
  blend_poisson_u8(box, s, warped, ws, mask, bw, box, s, bh, bw, 3, kPoissonTol, kPoissonMaxIter);
}
void poisson(float* box, int W, const float* warped, const float* mask, int bh, int bw) {
  const std::ptrdiff_t s = static_cast<std::ptrdiff_t>(W) * 3, ws = static_cast<std::ptrdiff_t>(bw) * 3;
  blend_poisson_f32(box, s, warped, ws, mask, bw, box, s, bh, bw, 3, kPoissonTol, kPoissonMaxIter);
}

// Alpha blend of box buffers into the image.
template <typename T>
void blend_box(T* img, int W, const PasteBox& b, const T* warped, const float* mask) {
  const int bh = b.y1 - b.y0, bw = b.x1 - b.x0;
  RegionProbe probe(static_cast<std::int64_t>(bh) * bw >= kParallelMinPixels);
#pragma omp parallel if (probe.parallel())
  {
#pragma omp for schedule(static) nowait
    for (int y = 0; y < bh; ++y) {
      T* o = img + (static_cast<std::ptrdiff_t>(b.y0 + y) * W + b.x0) * 3;
      const T* s = warped + static_cast<std::ptrdiff_t>(y) * bw * 3;
      const float* mk = mask + static_cast<std::ptrdiff_t>(y) * bw;
      for (int x = 0; x < bw; ++x) {
        const float a = mk[x];
        for (int c = 0; c < 3; ++c) {
          const std::ptrdiff_t i = static_cast<std::ptrdiff_t>(x) * 3 + c;
          store_mix(alpha_mix(static_cast<float>(o[i]), static_cast<float>(s[i]), a), o + i);
        }
      }
    }
    probe.share_done();
  }
}

template <typename T>
void paste_buffered(T* img, int W, const Face<T>& f, Blend blend, bool color_lab, long long levels) {
  const PasteBox& b = f.box;
  const int bh = b.y1 - b.y0, bw = b.x1 - b.x0;
  const std::size_t n = static_cast<std::size_t>(bh) * bw;
  std::vector<T> warped(n * 3), region;
  std::vector<float> mask(n);
  warp_face_impl(f, warped.data(), mask.data());
  const std::int64_t row_bytes = static_cast<std::int64_t>(bw) * 3 * sizeof(T);
  const std::int64_t img_stride = static_cast<std::int64_t>(W) * 3 * sizeof(T);
  T* box_origin = img + (static_cast<std::ptrdiff_t>(b.y0) * W + b.x0) * 3;
  if (color_lab || blend == Blend::laplacian) {  // the box as it is now (poisson reads it in place)
    region.resize(n * 3);
    copy_rows(box_origin, img_stride, region.data(), row_bytes, bh, row_bytes);
  }
  if (color_lab) {
    std::vector<T> corrected(n * 3);
    const auto st = color::color_transfer(warped.data(), static_cast<std::int64_t>(n), region.data(),
                                          static_cast<std::int64_t>(n), mask.data(), mask.data(), 1.0f,
                                          corrected.data());
    if (st == color::TransferStatus::ok) warped.swap(corrected);
  }
  if (blend == Blend::laplacian) {
    std::vector<T> out(n * 3);
    laplacian(region.data(), warped.data(), mask.data(), out.data(), bh, bw, levels);
    copy_rows(out.data(), row_bytes, box_origin, img_stride, bh, row_bytes);
  } else if (blend == Blend::poisson) {
    poisson(box_origin, W, warped.data(), mask.data(), bh, bw);  // inputs finite: status 0
  } else {
    blend_box(img, W, b, warped.data(), mask.data());
  }
}

// The index of the first value of m[0..n) that is not a blend weight (not in [0, 1],
// or NaN), n if none: blocks of kWeightBlock values tested branch-free (vectorised),
// then the failing block value by value.
constexpr std::size_t kWeightBlock = 256;
std::size_t first_non_weight(const float* m, std::size_t n) {
  std::size_t i = 0;
  for (; i + kWeightBlock <= n; i += kWeightBlock) {
    int bad = 0;
    for (std::size_t j = 0; j < kWeightBlock; ++j) {
      const float v = m[i + j];
      bad |= !(v >= 0.0f && v <= 1.0f);
    }
    if (bad) break;
  }
  while (i < n && m[i] == mask_weight(m[i])) ++i;
  return i;
}

// f with its mask values as blend weights (mask_weight): f itself when they all
// are (the usual case, no copy), else f reading a clipped copy held in `buf`.
template <typename T>
Face<T> with_weights(const Face<T>& f, std::vector<float>& buf) {
  const std::size_t n = static_cast<std::size_t>(f.h) * static_cast<std::size_t>(f.w);
  std::size_t i = first_non_weight(f.mask, n);
  if (i == n) return f;
  buf.assign(f.mask, f.mask + n);
  for (; i < n; ++i) buf[i] = mask_weight(buf[i]);
  Face<T> g = f;
  g.mask = buf.data();
  return g;
}

template <typename T>
void paste_back_impl(T* img, int H, int W, const Face<T>* faces, int n, Blend blend, bool color_lab, long long levels) {
  (void)H;
  std::vector<float> buf;
  for (int k = 0; k < n; ++k) {
    if (faces[k].box.x1 <= faces[k].box.x0 || faces[k].box.y1 <= faces[k].box.y0) continue;
    const Face<T> f = with_weights(faces[k], buf);
    if (blend == Blend::alpha && !color_lab)
      paste_alpha_fused(img, W, f);
    else
      paste_buffered(img, W, f, blend, color_lab, levels);
  }
}

}  // namespace

bool warp_affine_u8(const std::uint8_t* src, int sh, int sw, int c, std::uint8_t* dst, int dh, int dw,
                    const double* M, bool replicate) {
  return warp_affine_impl(src, sh, sw, c, dst, dh, dw, M, replicate);
}
bool warp_affine_f32(const float* src, int sh, int sw, int c, float* dst, int dh, int dw, const double* M,
                     bool replicate) {
  return warp_affine_impl(src, sh, sw, c, dst, dh, dw, M, replicate);
}

void paste_back_u8(std::uint8_t* img, int H, int W, const Face<std::uint8_t>* faces, int n, Blend blend,
                   bool color_lab, long long levels) {
  paste_back_impl(img, H, W, faces, n, blend, color_lab, levels);
}
void paste_back_f32(float* img, int H, int W, const Face<float>* faces, int n, Blend blend, bool color_lab,
                    long long levels) {
  paste_back_impl(img, H, W, faces, n, blend, color_lab, levels);
}

void warp_face_u8(const Face<std::uint8_t>& f, std::uint8_t* warped, float* mask) {
  std::vector<float> buf;
  warp_face_impl(with_weights(f, buf), warped, mask);
}
void warp_face_f32(const Face<float>& f, float* warped, float* mask) {
  std::vector<float> buf;
  warp_face_impl(with_weights(f, buf), warped, mask);
}

void copy_rows(const void* src, std::int64_t src_stride, void* dst, std::int64_t dst_stride, int n_rows,
               std::int64_t row_bytes) {
  const auto* s = static_cast<const unsigned char*>(src);
  auto* d = static_cast<unsigned char*>(dst);
  if (src_stride == row_bytes && dst_stride == row_bytes && n_rows * row_bytes < (1 << 20)) {
    std::memcpy(d, s, static_cast<std::size_t>(n_rows * row_bytes));
    return;
  }
  RegionProbe probe(static_cast<std::int64_t>(n_rows) * row_bytes >= (1 << 20));
#pragma omp parallel if (probe.parallel())
  {
#pragma omp for schedule(static) nowait
    for (int y = 0; y < n_rows; ++y)
      std::memcpy(d + y * dst_stride, s + y * src_stride, static_cast<std::size_t>(row_bytes));
    probe.share_done();
  }
}

}  // namespace facefuse::paste
