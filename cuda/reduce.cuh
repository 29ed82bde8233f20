// Device-side block reductions shared by the kernels (colour statistics,
// smoothing fits, tPSNR). Sums use warp shuffles, then one shared-memory slot
// per warp; the order is fixed, so a reduction is deterministic run to run.
#pragma once

#include <cuda_runtime.h>

namespace facefuse::cuda {

constexpr int kWarp = 32;

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int off = kWarp / 2; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  return v;
}

template <typename T>
__device__ __forceinline__ T warp_min(T v) {
  for (int off = kWarp / 2; off > 0; off >>= 1) {
    const T o = __shfl_down_sync(0xffffffffu, v, off);
    v = o < v ? o : v;
  }
  return v;
}

template <typename T>
__device__ __forceinline__ T warp_max(T v) {
  for (int off = kWarp / 2; off > 0; off >>= 1) {
    const T o = __shfl_down_sync(0xffffffffu, v, off);
    v = o > v ? o : v;
  }
  return v;
}

// Sum of K values per thread over the whole block; every thread gets the K
// totals in v. blockDim.x must be a multiple of 32 and at most 1024. Contains
// __syncthreads(): every thread of the block must call it.
template <typename T, int K>
__device__ void block_sum(T (&v)[K]) {
  __shared__ T part[K][kWarp];
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  const int nwarps = blockDim.x / kWarp;
#pragma unroll
  for (int k = 0; k < K; ++k) {
    const T s = warp_sum(v[k]);
    if (lane == 0) part[k][warp] = s;
  }
  __syncthreads();
  if (warp == 0) {
#pragma unroll
    for (int k = 0; k < K; ++k) {
      T s = lane < nwarps ? part[k][lane] : T(0);
      s = warp_sum(s);
      if (lane == 0) part[k][0] = s;
    }
  }
  __syncthreads();
#pragma unroll
  for (int k = 0; k < K; ++k) v[k] = part[k][0];
  __syncthreads();  // part may be reused by the next call
}

}  // namespace facefuse::cuda
