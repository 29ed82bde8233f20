// CUDA kernel of the quality family: the sums behind tPSNR, as a two-stage
// reduction. Stage 1: each block of a (blocks x pairs) grid accumulates its
// pixels' squared errors (uint8: exact integers; float32: double), the mask
// weight sum and the mask min / max, and writes one partial. Stage 2: one block
// per pair adds the partials in a fixed order. Per-pixel terms use the same
// FF_HD functions as the CPU (quality_math.hpp). The result is copied to the
// host after a synchronisation of the caller's stream: tpsnr returns a float.
// QualityMonitor's update (quality_monitor_sums) reads each pixel of the output
// and source pairs once and adds it to the full-frame and the ROI sums at the
// same time, so all four tPSNRs of a frame come back in one copy.

#include <cuda_runtime.h>

#include <cfloat>
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "cuda_common.hpp"
#include "facefuse/common.hpp"
#include "facefuse/quality_math.hpp"
#include "kernels.hpp"
#include "reduce.cuh"

namespace facefuse::cuda {

namespace {

using namespace facefuse::quality;

constexpr int kThreads = 256;

// Block-wide min and max of one float (all threads get them).
__device__ void block_minmax(float& lo, float& hi) {
  __shared__ float plo[kWarp], phi[kWarp];
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, nw = blockDim.x / kWarp;
  lo = warp_min(lo);
  hi = warp_max(hi);
  if (lane == 0) {
    plo[warp] = lo;
    phi[warp] = hi;
  }
  __syncthreads();
  if (warp == 0) {
    float a = lane < nw ? plo[lane] : FLT_MAX, b = lane < nw ? phi[lane] : -FLT_MAX;
    a = warp_min(a);
    b = warp_max(b);
    if (lane == 0) {
      plo[0] = a;
      phi[0] = b;
    }
  }
  __syncthreads();
  lo = plo[0];
  hi = phi[0];
  __syncthreads();
}

// Squared error of one pixel summed over its channels.
template <typename T>
__device__ __forceinline__ double pixel_sq(const T* a, const T* b, int c) {
  if constexpr (std::is_same_v<T, std::uint8_t>) {
    std::int32_t s = 0;
    for (int k = 0; k < c; ++k) s += sq_diff_u8(a[k], b[k]);
    return static_cast<double>(s);
  } else {
    double s = 0.0;
    for (int k = 0; k < c; ++k) s += sq_diff_f32(a[k], b[k]);
    return s;
  }
}

// partial: pairs x gridDim.x x 4 doubles {sse, weight_sum, mask_min, mask_max}.
template <typename T>
__global__ void sse_partial_kernel(const T* __restrict__ a, const T* __restrict__ b, std::int64_t pair_stride,
                                   std::int64_t px, int c, const float* __restrict__ mask, double* __restrict__ partial) {
  const int pair = blockIdx.y;
  const T* pa = a + pair * pair_stride;
  const T* pb = b + pair * pair_stride;
  double acc[2] = {0.0, 0.0};
  float lo = FLT_MAX, hi = -FLT_MAX;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < px;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const double sq = pixel_sq(pa + i * c, pb + i * c, c);
    if (mask) {
      const float mv = mask[i];
      acc[0] += weighted_sq(mv, sq);
      acc[1] += static_cast<double>(mv);
      lo = fminf(lo, mv);
      hi = fmaxf(hi, mv);
      if (mv != mv) lo = hi = mv;  // keep a NaN weight visible to the range check
    } else {
      acc[0] += sq;
    }
  }
  block_sum<double, 2>(acc);
  block_minmax(lo, hi);
  if (threadIdx.x == 0) {
    double* o = partial + (static_cast<std::int64_t>(pair) * gridDim.x + blockIdx.x) * 4;
    o[0] = acc[0];
    o[1] = acc[1];
    o[2] = lo;
    o[3] = hi;
  }
}

__global__ void sse_finish_kernel(const double* __restrict__ partial, int nblk, bool has_mask, std::int64_t px,
                                  double* __restrict__ sums) {
  const int pair = blockIdx.x;
  double acc[2] = {0.0, 0.0};
  float lo = FLT_MAX, hi = -FLT_MAX;
  bool nan = false;
  for (int k = threadIdx.x; k < nblk; k += blockDim.x) {
    const double* p = partial + (static_cast<std::int64_t>(pair) * nblk + k) * 4;
    acc[0] += p[0];
    acc[1] += p[1];
    lo = fminf(lo, static_cast<float>(p[2]));
    hi = fmaxf(hi, static_cast<float>(p[3]));
    nan = nan || p[2] != p[2];
  }
  block_sum<double, 2>(acc);
  block_minmax(lo, hi);
  const int any_nan = __syncthreads_or(nan);
  if (threadIdx.x == 0) {
    double* o = sums + 4 * pair;
    o[0] = acc[0];
    o[1] = has_mask ? acc[1] : static_cast<double>(px);  // H * W without a mask, as the CPU
    o[2] = has_mask ? (any_nan ? NAN : lo) : 0.0;
    o[3] = has_mask ? (any_nan ? NAN : hi) : 0.0;
  }
}

// ---- QualityMonitor: full frame + ROI sums of the output and source pairs ----

enum RoiMode : int { kRoiNone = 0, kRoiBox = 1, kRoiMask = 2 };
constexpr int kMonitorPartial = 5;  // per block: {sse, roi_sse, roi_weight, mask_min, mask_max}
constexpr int kMonitorOut = 8;      // per pair: {sse, h * w, 0, 0, roi_sse, roi_weight, mask_min, mask_max}

// Passed by value: pair p (blockIdx.y) compares a[p] with b[p].
struct MonitorArgs {
  const void* a[2];
  const void* b[2];
  std::int64_t px, w;
  int c, roi;
  std::int64_t x0, y0, x1, y1;
  const float* mask;
};

template <typename T>
__global__ void monitor_partial_kernel(MonitorArgs g, double* __restrict__ partial) {
  const int pair = blockIdx.y;
  const T* pa = static_cast<const T*>(g.a[pair]);
  const T* pb = static_cast<const T*>(g.b[pair]);
  double acc[3] = {0.0, 0.0, 0.0};
  float lo = FLT_MAX, hi = -FLT_MAX;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < g.px;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const double sq = pixel_sq(pa + i * g.c, pb + i * g.c, g.c);
    acc[0] += sq;
    if (g.roi == kRoiBox) {
      const std::int64_t y = i / g.w, x = i - y * g.w;
      if (y >= g.y0 && y < g.y1 && x >= g.x0 && x < g.x1) acc[1] += sq;
    } else if (g.roi == kRoiMask) {
      // A NaN / inf weight makes the weight sum non-finite: the host's range check sees it there.
      const float mv = g.mask[i];
      acc[1] += weighted_sq(mv, sq);
      acc[2] += static_cast<double>(mv);
      lo = fminf(lo, mv);
      hi = fmaxf(hi, mv);
    }
  }
  block_sum<double, 3>(acc);
  block_minmax(lo, hi);
  if (threadIdx.x == 0) {
    double* o = partial + (static_cast<std::int64_t>(pair) * gridDim.x + blockIdx.x) * kMonitorPartial;
    o[0] = acc[0];
    o[1] = acc[1];
    o[2] = acc[2];
    o[3] = lo;
    o[4] = hi;
  }
}

// One block per pair: the block partials in a fixed order (deterministic), then
// the pair's 8 result doubles. The pixel counts come from the host (exact).
__global__ void monitor_finish_kernel(const double* __restrict__ partial, int nblk, int roi, double px,
                                      double box_px, double* __restrict__ sums) {
  const int pair = blockIdx.x;
  double acc[3] = {0.0, 0.0, 0.0};
  float lo = FLT_MAX, hi = -FLT_MAX;
  for (int k = threadIdx.x; k < nblk; k += blockDim.x) {
    const double* p = partial + (static_cast<std::int64_t>(pair) * nblk + k) * kMonitorPartial;
    acc[0] += p[0];
    acc[1] += p[1];
    acc[2] += p[2];
    lo = fminf(lo, static_cast<float>(p[3]));
    hi = fmaxf(hi, static_cast<float>(p[4]));
  }
  block_sum<double, 3>(acc);
  block_minmax(lo, hi);
  if (threadIdx.x == 0) {
    double* o = sums + kMonitorOut * pair;
    o[0] = acc[0];
    o[1] = px;
    o[2] = 0.0;
    o[3] = 0.0;
    o[4] = roi == kRoiNone ? 0.0 : acc[1];
    o[5] = roi == kRoiBox ? box_px : (roi == kRoiMask ? acc[2] : 0.0);
    o[6] = roi == kRoiMask ? lo : 0.0;
    o[7] = roi == kRoiMask ? hi : 0.0;
  }
}

// This host thread's page-locked landing buffer for the monitor's sums: the copy
// is a true asynchronous DMA, and threads never share it (the binding releases
// the GIL). Portable: pinned for every device's context.
struct PinnedSums {
  double* p = nullptr;
  ~PinnedSums() {
    if (p) cudaFreeHost(p);  // at thread exit; an error (runtime gone) is ignored
  }
  double* get() {
    if (!p) FF_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&p), sizeof(double) * 2 * kMonitorOut,
                                        cudaHostAllocPortable));
    return p;
  }
};
thread_local PinnedSums t_pinned;

}  // namespace

void quality_monitor_sums(const MonitorFrames& f, double* host_out, int device, cudaStream_t stream) {
  const DeviceScope scope(device);
  const int pairs = f.prev_src && f.cur_src ? 2 : 1;
  const std::int64_t px = f.h * f.w;
  const std::int64_t nb = (px + kThreads * 8 - 1) / (kThreads * 8);
  const int nblk = static_cast<int>(nb < 1 ? 1 : (nb > 512 ? 512 : nb));
  const std::size_t part = sizeof(double) * kMonitorPartial * static_cast<std::size_t>(nblk) * pairs;
  const std::size_t sums_off = (part + 255) & ~static_cast<std::size_t>(255);
  char* base = static_cast<char*>(scratch(device, stream, /*slot=*/3, sums_off + sizeof(double) * kMonitorOut * 2));
  double* partial = reinterpret_cast<double*>(base);
  double* sums = reinterpret_cast<double*>(base + sums_off);
  MonitorArgs g{};
  g.a[0] = f.prev;
  g.b[0] = f.cur;
  g.a[1] = f.prev_src;
  g.b[1] = f.cur_src;
  g.px = px;
  g.w = f.w;
  g.c = f.c;
  g.roi = f.mask ? kRoiMask : (f.has_box ? kRoiBox : kRoiNone);
  g.x0 = f.x0;
  g.y0 = f.y0;
  g.x1 = f.x1;
  g.y1 = f.y1;
  g.mask = f.mask;
  const dim3 grid(nblk, pairs);
  if (f.u8)
    monitor_partial_kernel<std::uint8_t><<<grid, kThreads, 0, stream>>>(g, partial);
  else
    monitor_partial_kernel<float><<<grid, kThreads, 0, stream>>>(g, partial);
  FF_CUDA_LAUNCH_CHECK();
  const double box_px = static_cast<double>((f.x1 - f.x0) * (f.y1 - f.y0));
  monitor_finish_kernel<<<pairs, kThreads, 0, stream>>>(partial, nblk, g.roi, static_cast<double>(px), box_px, sums);
  FF_CUDA_LAUNCH_CHECK();
  double* pinned = t_pinned.get();
  const std::size_t n = static_cast<std::size_t>(kMonitorOut) * pairs;
  FF_CUDA_CHECK(cudaMemcpyAsync(pinned, sums, sizeof(double) * n, cudaMemcpyDeviceToHost, stream));
  FF_CUDA_CHECK(cudaStreamSynchronize(stream));
  std::copy(pinned, pinned + n, host_out);
}

void tpsnr_sums(const void* a, const void* b, std::int64_t pair_stride, int n_pairs, bool u8, std::int64_t h,
                std::int64_t w, int c, const float* mask, double* host_out, int device, cudaStream_t stream) {
  if (n_pairs <= 0) return;
  const DeviceScope scope(device);
  const std::int64_t px = h * w;
  std::int64_t nb = (px + kThreads * 8 - 1) / (kThreads * 8);
  const int nblk = static_cast<int>(nb < 1 ? 1 : (nb > 512 ? 512 : nb));
  // The pair index is blockIdx.y (at most kMaxGridYZ): longer sequences run in
  // chunks of pairs, reusing the partials in stream order.
  const int chunk = n_pairs < kMaxGridYZ ? n_pairs : kMaxGridYZ;
  const std::size_t part = sizeof(double) * 4 * static_cast<std::size_t>(nblk) * chunk;
  const std::size_t sums_off = (part + 255) & ~static_cast<std::size_t>(255);
  char* base = static_cast<char*>(scratch(device, stream, /*slot=*/2, sums_off + sizeof(double) * 4 * n_pairs));
  double* partial = reinterpret_cast<double*>(base);
  double* sums = reinterpret_cast<double*>(base + sums_off);
  for (int i0 = 0; i0 < n_pairs; i0 += chunk) {
    const int m = n_pairs - i0 < chunk ? n_pairs - i0 : chunk;
    const std::int64_t off = pair_stride * i0;  // elements
    const dim3 grid(nblk, m);
    if (u8)
      sse_partial_kernel<std::uint8_t><<<grid, kThreads, 0, stream>>>(static_cast<const std::uint8_t*>(a) + off,
                                                                      static_cast<const std::uint8_t*>(b) + off,
                                                                      pair_stride, px, c, mask, partial);
    else
      sse_partial_kernel<float><<<grid, kThreads, 0, stream>>>(static_cast<const float*>(a) + off,
                                                               static_cast<const float*>(b) + off, pair_stride, px, c,
                                                               mask, partial);
    FF_CUDA_LAUNCH_CHECK();
    sse_finish_kernel<<<m, kThreads, 0, stream>>>(partial, nblk, mask != nullptr, px, sums + 4 * i0);
    FF_CUDA_LAUNCH_CHECK();
  }
  FF_CUDA_CHECK(cudaMemcpyAsync(host_out, sums, sizeof(double) * 4 * n_pairs, cudaMemcpyDeviceToHost, stream));
  FF_CUDA_CHECK(cudaStreamSynchronize(stream));
}

}  // namespace facefuse::cuda
