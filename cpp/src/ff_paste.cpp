// CPU kernel of the FaceFusion paste (ff_paste.hpp).
#include "facefuse/ff_paste.hpp"

#include <cmath>
#include <climits>
#include <cstring>
#include <type_traits>
#include <vector>

#include "facefuse/cpu_dispatch.hpp"
#include "facefuse/parallel.hpp"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(FACEFUSE_PASTE_NO_AVX2)
#define FACEFUSE_FFPASTE_AVX2 1
#else
#define FACEFUSE_FFPASTE_AVX2 0
#endif
#if FACEFUSE_FFPASTE_AVX2
#include <immintrin.h>
#endif

namespace facefuse::ffpaste {

namespace {

// cv2's saturate_cast<int>(double): round half to even, saturated.
inline int sat_int(double v) {
  if (!(v > static_cast<double>(INT_MIN))) return v != v ? 0 : INT_MIN;
  if (v >= static_cast<double>(INT_MAX)) return INT_MAX;
  return static_cast<int>(std::nearbyint(v));
}

// cv2's float bilinear table (initInterTab2D, INTER_LINEAR, float): entry
// (i * 32 + j) = (1 - y)(1 - x), (1 - y) x, y (1 - x), y x with x = j / 32, y = i / 32,
// each coefficient and product rounded to float.
struct QuantTable {
  float w[1024][4];
  QuantTable() {
    float t[32][2];
    const float scale = 1.0f / 32.0f;
    for (int i = 0; i < 32; ++i) {
      const float x = static_cast<float>(i) * scale;
      t[i][0] = 1.0f - x;
      t[i][1] = x;
    }
    for (int i = 0; i < 32; ++i)
      for (int j = 0; j < 32; ++j)
        for (int k1 = 0; k1 < 2; ++k1)
          for (int k2 = 0; k2 < 2; ++k2) w[i * 32 + j][k1 * 2 + k2] = t[i][k1] * t[j][k2];
  }
};
const float (*quant_table())[4] {
  static const QuantTable table;
  return table.w;
}

// numpy's astype of the blended value: uint8 truncates (saturated here, NaN -> 0), float32 rounds.
inline void store(double v, std::uint8_t* d) {
  *d = v >= 0.0 ? (v < 255.0 ? static_cast<std::uint8_t>(static_cast<int>(v)) : 255) : 0;
}
inline void store(double v, float* d) { *d = static_cast<float>(v); }
inline void store(float v, std::uint8_t* d) {
  *d = v >= 0.0f ? (v < 255.0f ? static_cast<std::uint8_t>(static_cast<int>(v)) : 255) : 0;
}
inline void store(float v, float* d) { *d = v; }

// A view's byte reach from its data pointer: lo / hi are its first / last byte;
// i32: every element's byte offset (and a 4-byte read at hi - 3) fits the AVX2
// gathers' int32 indices, and the view spans at least 4 bytes.
struct Reach {
  bool i32;
  std::ptrdiff_t lo, hi;
};

Reach reach_of(const View& v, int channels, int item) {
  Reach r{false, 0, item - 1};
  const std::ptrdiff_t ext[3] = {v.sy * (v.h - 1), v.sx * (v.w - 1), v.sc * (channels - 1)};
  for (std::ptrdiff_t e : ext) (e < 0 ? r.lo : r.hi) += e;
  r.i32 = r.lo > -(std::ptrdiff_t{1} << 30) && r.hi < (std::ptrdiff_t{1} << 30) && r.hi - r.lo >= 3;
  return r;
}

}  // namespace

namespace ffk_base {
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
namespace {
#define FACEFUSE_FFPASTE_HWFMA 0
#include "ff_paste_kernels.inl"
#undef FACEFUSE_FFPASTE_HWFMA
}  // namespace
#pragma GCC pop_options
}  // namespace ffk_base

#if FACEFUSE_FFPASTE_AVX2
namespace ffk_avx2 {
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#pragma GCC optimize("fp-contract=off")
namespace {
#define FACEFUSE_FFPASTE_HWFMA 1
#include "ff_paste_kernels.inl"
#undef FACEFUSE_FFPASTE_HWFMA
}  // namespace
#pragma GCC pop_options
}  // namespace ffk_avx2
#endif

namespace {

constexpr std::int64_t kParallelMinPixels = 16384;

template <typename TF, typename TC, typename TM>
void paste_typed(TF* img, int W, const View& crop, const View& mask, const Setup& s, bool quant) {
  const paste::PasteBox& b = s.box;
  const int bh = b.y1 - b.y0, bw = b.x1 - b.x0;
  if (bh <= 0 || bw <= 0) return;
  const bool avx2 = FACEFUSE_FFPASTE_AVX2 && cpu_has_avx2_fma();
  // The chunked rows take what FaceFusion's inswapper / enhancer hand in on OpenCV 5.x.
  constexpr bool chunk_types = std::is_same_v<TM, float> && !std::is_same_v<TC, double>;
  const bool chunked = chunk_types && !quant;
  const Reach cr = reach_of(crop, 3, sizeof(TC)), mr = reach_of(mask, 1, sizeof(TM));
  // cv2's quantised positions (any float64 source, or OpenCV 4.x): the per-column offsets
  // saturate_cast<int>(M * x * 1024) are the same in every row (cv2 tabulates them too):
  // once per paste. qd is null when nothing is sampled quantised.
  std::vector<int> qcols;
  if (quant || !std::is_same_v<TM, float> || std::is_same_v<TC, double>) {
    qcols.resize(2 * static_cast<std::size_t>(bw));
    for (int x = 0; x < bw; ++x) {
      const double fx = static_cast<double>(x);
      qcols[2 * x] = sat_int(s.kd[0] * fx * 1024.0);
      qcols[2 * x + 1] = sat_int(s.kd[3] * fx * 1024.0);
    }
  }
  const int* qd = qcols.empty() ? nullptr : qcols.data();
  RegionProbe probe(static_cast<std::int64_t>(bh) * bw >= kParallelMinPixels);
#pragma omp parallel if (probe.parallel())
  {
#pragma omp for schedule(static) nowait
    for (int y = 0; y < bh; ++y) {
      TF* o = img + (static_cast<std::ptrdiff_t>(b.y0 + y) * W + b.x0) * 3;
      if constexpr (chunk_types) {
        if (chunked) {
#if FACEFUSE_FFPASTE_AVX2
          if (avx2) {
            ffk_avx2::paste_row_chunked<TF, TC>(o, crop, mask, s, cr, mr, y, bw);
            continue;
          }
#endif
          ffk_base::paste_row_chunked<TF, TC>(o, crop, mask, s, cr, mr, y, bw);
          continue;
        }
      }
#if FACEFUSE_FFPASTE_AVX2
      if (avx2) {
        ffk_avx2::paste_row<TF, TC, TM>(o, crop, mask, s, quant, qd, y, bw);
        continue;
      }
#endif
      (void)avx2;
      ffk_base::paste_row<TF, TC, TM>(o, crop, mask, s, quant, qd, y, bw);
    }
    probe.share_done();
  }
}

template <typename TF, typename TC>
void by_mask(TF* img, int W, const View& crop, const View& mask, const Setup& s, bool quant) {
  if (mask.dt == DType::f64)
    paste_typed<TF, TC, double>(img, W, crop, mask, s, quant);
  else
    paste_typed<TF, TC, float>(img, W, crop, mask, s, quant);
}

template <typename TF>
void by_crop(TF* img, int W, const View& crop, const View& mask, const Setup& s, bool quant) {
  switch (crop.dt) {
    case DType::u8: by_mask<TF, std::uint8_t>(img, W, crop, mask, s, quant); break;
    case DType::f32: by_mask<TF, float>(img, W, crop, mask, s, quant); break;
    default: by_mask<TF, double>(img, W, crop, mask, s, quant); break;
  }
}

inline int clamp_box(double v, int hi) { return v <= 0.0 ? 0 : (v >= hi ? hi : static_cast<int>(v)); }

}  // namespace

bool setup(const double* affine, bool affine_f32, int crop_h, int crop_w, int frame_h, int frame_w, Setup* s) {
  double inv[6];
  if (!(affine_f32 ? paste::invert_affine_f32(affine, inv) : paste::invert_affine(affine, inv))) return false;
  const double cx[4] = {0.0, static_cast<double>(crop_w), static_cast<double>(crop_w), 0.0};
  const double cy[4] = {0.0, 0.0, static_cast<double>(crop_h), static_cast<double>(crop_h)};
  double xmin = 0, xmax = 0, ymin = 0, ymax = 0;
  for (int k = 0; k < 4; ++k) {
    // cv2.transform of int32 points: the affine sum in double, saturate_cast<int>.
    const double px = static_cast<double>(sat_int(inv[0] * cx[k] + inv[1] * cy[k] + inv[2]));
    const double py = static_cast<double>(sat_int(inv[3] * cx[k] + inv[4] * cy[k] + inv[5]));
    if (k == 0 || px < xmin) xmin = px;
    if (k == 0 || px > xmax) xmax = px;
    if (k == 0 || py < ymin) ymin = py;
    if (k == 0 || py > ymax) ymax = py;
  }
  paste::PasteBox& box = s->box;
  box.x0 = clamp_box(xmin, frame_w);
  box.y0 = clamp_box(ymin, frame_h);
  box.x1 = clamp_box(xmax, frame_w);
  box.y1 = clamp_box(ymax, frame_h);
  inv[2] -= box.x0;
  inv[5] -= box.y0;
  if (affine_f32) {  // FaceFusion shifts the float32 inverse in float32
    inv[2] = static_cast<float>(inv[2]);
    inv[5] = static_cast<float>(inv[5]);
  }
  // cv2.warpAffine inverts the matrix it is given in double.
  if (!paste::invert_affine(inv, s->kd)) return false;
  for (int i = 0; i < 6; ++i) s->k[i] = static_cast<float>(s->kd[i]);
  return true;
}

void paste_u8(std::uint8_t* img, int W, const View& crop, const View& mask, const Setup& s, bool opencv4) {
  by_crop<std::uint8_t>(img, W, crop, mask, s, opencv4);
}
void paste_f32(float* img, int W, const View& crop, const View& mask, const Setup& s, bool opencv4) {
  by_crop<float>(img, W, crop, mask, s, opencv4);
}

}  // namespace facefuse::ffpaste
