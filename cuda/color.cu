// CUDA kernels of the colour family: CIELAB conversion and batched Reinhard
// colour transfer. The per-pixel maths is color_math.hpp (FF_HD), the tables are
// the CPU core's (color::lab_lut(), color::gamma_inv_spline()) uploaded once per
// device, so conversions equal the CPU's bit for bit (FMA contraction is off).
//
// color_transfer: the masked LAB statistics are a two-pass parallel reduction,
// per image of the batch:
//   pass 1: every block sums w, w*L, w*a, w*b over its pixels (double), one
//           partial per block; a second kernel adds the partials in a fixed
//           order -> weight and mean;
//   pass 2: the same for w * (lab - mean)^2 -> population variance -> std.
// (The CPU sums w * (lab - shift) in one pass with a shift; both are exact to
// ~1e-12 relative, so the float32 means / gains usually agree exactly and the
// outputs to at most 1 uint8 level.) A small kernel turns the statistics into
// the per-image affine (mu_s, k, mu_r) and one kernel transforms every pixel of
// the batch. Nothing is copied back to the host.

#include <cuda_runtime.h>

#include <cstdint>
#include <mutex>
#include <type_traits>

#include "cuda_common.hpp"
#include "facefuse/color.hpp"
#include "facefuse/color_math.hpp"
#include "facefuse/common.hpp"
#include "kernels.hpp"
#include "reduce.cuh"

namespace facefuse::cuda {

namespace {

using namespace facefuse::color;

// ---- tables, uploaded once per device --------------------------------------------

struct DevTables {
  std::int16_t* lut = nullptr;
  float* spline = nullptr;
};

constexpr int kMaxDevices = 64;
std::mutex g_tables_mutex;
DevTables g_tables[kMaxDevices];

const DevTables& tables(int device) {
  if (device < 0 || device >= kMaxDevices) throw_cuda(cudaErrorInvalidDevice, "tables(device)", __FILE__, __LINE__);
  std::lock_guard<std::mutex> lock(g_tables_mutex);
  DevTables& t = g_tables[device];
  if (!t.lut) {
    // Copies once per device per process, finished before returning: the tables
    // are then valid for every stream.
    std::int16_t* lut = nullptr;
    float* spline = nullptr;
    FF_CUDA_CHECK(cudaMalloc(&lut, sizeof(std::int16_t) * kLabLutSize));
    FF_CUDA_CHECK(cudaMalloc(&spline, sizeof(float) * kGammaTabLen));
    FF_CUDA_CHECK(cudaMemcpy(lut, lab_lut(), sizeof(std::int16_t) * kLabLutSize, cudaMemcpyHostToDevice));
    FF_CUDA_CHECK(cudaMemcpy(spline, gamma_inv_spline(), sizeof(float) * kGammaTabLen, cudaMemcpyHostToDevice));
    // cudaMemcpy from pageable memory may return before the DMA has landed, and
    // a kernel on a non-blocking stream is not ordered after the legacy default
    // stream the copy ran on: wait for it once before any stream reads the tables.
    FF_CUDA_CHECK(cudaStreamSynchronize(nullptr));
    t.lut = lut;
    t.spline = spline;
  }
  return t;
}

// ---- per-pixel helpers (same expressions as cpp/src/color.cpp) -----------------------

// Encoded value -> fixed point. uint8 always means value / 255; float input is
// divided by 255 only where the op takes the 0..255 scale (colour transfer).
template <bool Div255, typename T>
__device__ __forceinline__ int quantize(T v) {
  if constexpr (std::is_same_v<T, std::uint8_t>)
    return lab_quantize(static_cast<float>(v) / 255.0f);
  else
    return lab_quantize(Div255 ? v / 255.0f : v);
}

template <bool Div255, typename T>
__device__ __forceinline__ void pixel_lab(const std::int16_t* lut, const T* p, float& L, float& a, float& b) {
  lab_from_fixed(lut, quantize<Div255>(p[0]), quantize<Div255>(p[1]), quantize<Div255>(p[2]), L, a, b);
}

__device__ __forceinline__ void store_out(std::uint8_t* o, float v) { *o = saturate_u8(v); }
__device__ __forceinline__ void store_out(float* o, float v) {
  v = v > 0.0f ? v : 0.0f;  // NaN -> 0, as the CPU's maxps order
  *o = v < 255.0f ? v : 255.0f;
}

std::int64_t grid_for(std::int64_t n, int block) {
  const std::int64_t g = (n + block - 1) / block;
  return g < 65535 * 8 ? g : 65535 * 8;
}

#define FF_GRID_STRIDE(i, n)                                                                          \
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)

// ---- conversions ---------------------------------------------------------------------

template <typename T>
__global__ void bgr_to_lab_kernel(const std::int16_t* __restrict__ lut, const T* __restrict__ src,
                                  float* __restrict__ dst, std::int64_t n) {
  FF_GRID_STRIDE(i, n) {
    float L, a, b;
    pixel_lab<false>(lut, src + 3 * i, L, a, b);
    dst[3 * i] = L;
    dst[3 * i + 1] = a;
    dst[3 * i + 2] = b;
  }
}

__global__ void lab_to_bgr_kernel(const float* __restrict__ spline, const float* __restrict__ src,
                                  float* __restrict__ dst, std::int64_t n) {
  FF_GRID_STRIDE(i, n) {
    float b, g, r;
    lab_to_bgr_px(spline, src[3 * i], src[3 * i + 1], src[3 * i + 2], b, g, r);
    dst[3 * i] = b;
    dst[3 * i + 1] = g;
    dst[3 * i + 2] = r;
  }
}

// ---- statistics ----------------------------------------------------------------------

constexpr int kStatThreads = 256;

struct Stats {
  double weight;
  double mean[3];
  double std[3];
};

// Pass 1 (Second = false): per block {sum w, sum w L, sum w a, sum w b};
// pass 2 (Second = true): {sum w (L - mu)^2, .. a .., .. b .., 0}.
// Grid: (blocks per image, images). partial: images x gridDim.x x 4.
template <bool Second, typename T>
__global__ void stats_partial_kernel(const std::int16_t* __restrict__ lut, const T* __restrict__ img,
                                     const float* __restrict__ mask, std::int64_t px, const Stats* __restrict__ stats,
                                     double* __restrict__ partial) {
  const int item = blockIdx.y;
  const T* base = img + static_cast<std::int64_t>(item) * px * 3;
  const float* mbase = mask ? mask + static_cast<std::int64_t>(item) * px : nullptr;
  double mu[3] = {0, 0, 0};
  if (Second)
    for (int c = 0; c < 3; ++c) mu[c] = stats[item].mean[c];
  double acc[4] = {0, 0, 0, 0};
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < px;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const double w = mbase ? static_cast<double>(mbase[i]) : 1.0;
    if (mbase && !(w != 0.0)) continue;  // weight 0 adds nothing (skips the table lookup)
    float lab[3];
    pixel_lab<true>(lut, base + 3 * i, lab[0], lab[1], lab[2]);
    if (Second) {
      for (int c = 0; c < 3; ++c) {
        const double d = static_cast<double>(lab[c]) - mu[c];
        acc[c] += w * d * d;
      }
    } else {
      acc[0] += w;
      for (int c = 0; c < 3; ++c) acc[c + 1] += w * static_cast<double>(lab[c]);
    }
  }
  block_sum<double, 4>(acc);
  if (threadIdx.x == 0) {
    double* out = partial + (static_cast<std::int64_t>(item) * gridDim.x + blockIdx.x) * 4;
    for (int k = 0; k < 4; ++k) out[k] = acc[k];
  }
}

// Adds the nblk partials of each image (one block per image, fixed order).
template <bool Second>
__global__ void stats_finish_kernel(const double* __restrict__ partial, int nblk, Stats* __restrict__ stats) {
  const int item = blockIdx.x;
  double acc[4] = {0, 0, 0, 0};
  for (int b = threadIdx.x; b < nblk; b += blockDim.x)
    for (int k = 0; k < 4; ++k) acc[k] += partial[(static_cast<std::int64_t>(item) * nblk + b) * 4 + k];
  block_sum<double, 4>(acc);
  if (threadIdx.x != 0) return;
  Stats& s = stats[item];
  if (!Second) {
    s.weight = acc[0];
    for (int c = 0; c < 3; ++c) s.mean[c] = acc[0] > 0.0 ? acc[c + 1] / acc[0] : 0.0;
  } else {
    for (int c = 0; c < 3; ++c) {
      const double var = s.weight > 0.0 ? acc[c] / s.weight : 0.0;
      s.std[c] = var > 0.0 ? sqrt(var) : 0.0;
    }
  }
}

// Per image of the batch: the float32 affine of the CPU (ms, k, mr) and an ok flag
// (both weights positive). params: n x 12 floats (ms[3], k[3], mr[3], ok, pad).
__global__ void transfer_params_kernel(const Stats* __restrict__ ss, const Stats* __restrict__ rs, int n, int n_ref,
                                       float* __restrict__ params) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const Stats& s = ss[i];
  const Stats& r = rs[n_ref == 1 ? 0 : i];
  float* p = params + 12 * i;
  for (int c = 0; c < 3; ++c) {
    const double sd = s.std[c] > kTransferEps ? s.std[c] : kTransferEps;  // std::max(ss.std, eps)
    p[c] = static_cast<float>(s.mean[c]);
    p[3 + c] = static_cast<float>(r.std[c] / sd);
    p[6 + c] = static_cast<float>(r.mean[c]);
  }
  p[9] = (s.weight > 0.0 && r.weight > 0.0) ? 1.0f : 0.0f;
}

// Every pixel of the batch: LAB, affine, back to BGR, blend with src by strength.
template <typename T>
__global__ void transfer_kernel(const std::int16_t* __restrict__ lut, const float* __restrict__ spline,
                                const T* __restrict__ src, const float* __restrict__ params, std::int64_t px, int n,
                                float strength, T* __restrict__ dst) {
  const std::int64_t total = px * n;
  constexpr float gs = static_cast<float>(kGammaTabSize);
  FF_GRID_STRIDE(i, total) {
    const int item = static_cast<int>(i / px);
    const float* prm = params + 12 * item;
    const T* p = src + 3 * i;
    T* o = dst + 3 * i;
    if (strength == 0.0f || prm[9] == 0.0f) {  // CPU: strength 0 -> src (clipped); empty mask: see kernels.hpp
      for (int c = 0; c < 3; ++c) store_out(o + c, static_cast<float>(p[c]));
      continue;
    }
    float L, A, B;
    pixel_lab<true>(lut, p, L, A, B);
    L = transfer_affine(L, prm[0], prm[3], prm[6]);
    A = transfer_affine(A, prm[1], prm[4], prm[7]);
    B = transfer_affine(B, prm[2], prm[5], prm[8]);
    float lin[3];
    lab_to_linear(L, A, B, lin[0], lin[1], lin[2]);
    for (int c = 0; c < 3; ++c) {
      const float enc = spline_eval(spline, lin[c] * gs);
      store_out(o + c, transfer_blend(static_cast<float>(p[c]), enc * 255.0f, strength));
    }
  }
}

// Blocks per image for the statistics: enough to fill the GPU for one big
// image, few enough that the partials stay tiny.
int stat_blocks(std::int64_t px) {
  const std::int64_t b = (px + kStatThreads * 8 - 1) / (kStatThreads * 8);
  return static_cast<int>(b < 1 ? 1 : (b > 256 ? 256 : b));
}

template <typename T>
void image_stats(const DevTables& t, const T* img, const float* mask, int items, std::int64_t px, Stats* stats,
                 double* partial, cudaStream_t stream) {
  const int nblk = stat_blocks(px);
  // The image index is blockIdx.y (at most kMaxGridYZ): larger batches run in
  // chunks, reusing the partials in stream order.
  for (int i0 = 0; i0 < items; i0 += kMaxGridYZ) {
    const int m = items - i0 < kMaxGridYZ ? items - i0 : kMaxGridYZ;
    const T* im = img + static_cast<std::int64_t>(i0) * px * 3;
    const float* mk = mask ? mask + static_cast<std::int64_t>(i0) * px : nullptr;
    Stats* st = stats + i0;
    const dim3 grid(nblk, m);
    stats_partial_kernel<false, T><<<grid, kStatThreads, 0, stream>>>(t.lut, im, mk, px, st, partial);
    FF_CUDA_LAUNCH_CHECK();
    stats_finish_kernel<false><<<m, kStatThreads, 0, stream>>>(partial, nblk, st);
    FF_CUDA_LAUNCH_CHECK();
    stats_partial_kernel<true, T><<<grid, kStatThreads, 0, stream>>>(t.lut, im, mk, px, st, partial);
    FF_CUDA_LAUNCH_CHECK();
    stats_finish_kernel<true><<<m, kStatThreads, 0, stream>>>(partial, nblk, st);
    FF_CUDA_LAUNCH_CHECK();
  }
}

template <typename T>
void transfer_typed(const T* src, const T* ref, const float* src_mask, const float* ref_mask, T* dst, int n,
                    std::int64_t src_px, int n_ref, std::int64_t ref_px, float strength, int device,
                    cudaStream_t stream) {
  const DevTables& t = tables(device);
  // Scratch: src stats, ref stats, params, then the partials (largest of the two passes).
  const std::size_t stats_bytes = sizeof(Stats) * static_cast<std::size_t>(n + n_ref);
  const std::size_t params_bytes = sizeof(float) * 12 * static_cast<std::size_t>(n);
  const int nb_s = stat_blocks(src_px), nb_r = stat_blocks(ref_px);
  const std::size_t part_s = static_cast<std::size_t>(n) * nb_s * 4, part_r = static_cast<std::size_t>(n_ref) * nb_r * 4;
  const std::size_t part_bytes = sizeof(double) * (part_s > part_r ? part_s : part_r);
  const std::size_t head = (stats_bytes + params_bytes + 255) & ~static_cast<std::size_t>(255);
  char* base = static_cast<char*>(scratch(device, stream, /*slot=*/1, head + part_bytes));
  Stats* ss = reinterpret_cast<Stats*>(base);
  Stats* rs = ss + n;
  float* params = reinterpret_cast<float*>(base + stats_bytes);
  double* partial = reinterpret_cast<double*>(base + head);

  image_stats(t, src, src_mask, n, src_px, ss, partial, stream);
  image_stats(t, ref, ref_mask, n_ref, ref_px, rs, partial, stream);  // stream order: partials reused safely
  transfer_params_kernel<<<div_up(n, 128), 128, 0, stream>>>(ss, rs, n, n_ref, params);
  FF_CUDA_LAUNCH_CHECK();
  const std::int64_t total = src_px * n;
  transfer_kernel<T><<<static_cast<unsigned>(grid_for(total, 256)), 256, 0, stream>>>(t.lut, t.spline, src, params,
                                                                                     src_px, n, strength, dst);
  FF_CUDA_LAUNCH_CHECK();
}

}  // namespace

void bgr_to_lab(const void* src, bool u8, float* dst, std::int64_t n_px, int device, cudaStream_t stream) {
  if (n_px <= 0) return;
  const DeviceScope scope(device);
  const DevTables& t = tables(device);
  const unsigned grid = static_cast<unsigned>(grid_for(n_px, 256));
  if (u8)
    bgr_to_lab_kernel<std::uint8_t><<<grid, 256, 0, stream>>>(t.lut, static_cast<const std::uint8_t*>(src), dst, n_px);
  else
    bgr_to_lab_kernel<float><<<grid, 256, 0, stream>>>(t.lut, static_cast<const float*>(src), dst, n_px);
  FF_CUDA_LAUNCH_CHECK();
}

void lab_to_bgr(const float* src, float* dst, std::int64_t n_px, int device, cudaStream_t stream) {
  if (n_px <= 0) return;
  const DeviceScope scope(device);
  const DevTables& t = tables(device);
  lab_to_bgr_kernel<<<static_cast<unsigned>(grid_for(n_px, 256)), 256, 0, stream>>>(t.spline, src, dst, n_px);
  FF_CUDA_LAUNCH_CHECK();
}

void color_transfer(const void* src, const void* ref, const float* src_mask, const float* ref_mask, void* dst,
                    bool u8, int n, std::int64_t src_px, int n_ref, std::int64_t ref_px, float strength, int device,
                    cudaStream_t stream) {
  if (n <= 0 || src_px <= 0) return;
  const DeviceScope scope(device);
  if (u8)
    transfer_typed(static_cast<const std::uint8_t*>(src), static_cast<const std::uint8_t*>(ref), src_mask, ref_mask,
                   static_cast<std::uint8_t*>(dst), n, src_px, n_ref, ref_px, strength, device, stream);
  else
    transfer_typed(static_cast<const float*>(src), static_cast<const float*>(ref), src_mask, ref_mask,
                   static_cast<float*>(dst), n, src_px, n_ref, ref_px, strength, device, stream);
}

}  // namespace facefuse::cuda
