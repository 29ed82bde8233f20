// CUDA kernels of the multi-band (Laplacian-pyramid) blend.
//
// Same algorithm as cpp/src/pyramid_kernels.inl (read its header comment): with
// D = src - dst, out = dst + collapse_k(M_k * L_k(D)), using the Gaussian
// pyramids G_k of D and M_k of the mask, collapsed from the coarsest level up:
//   R_{K-1} = M_{K-1} * G_{K-1}
//   R_k     = M_k * (G_k - up(G_{k+1})) + up(R_{k+1})      (k >= 1)
//   out     = dst + M_0 * (D - up(G_1)) + up(R_1)           (level 0, rounded)
// Every value is computed with the same FF_HD functions (pyramid_math.hpp) in the
// same order as the CPU kernels (pyrDown: vertical 5-tap, then horizontal 5-tap
// scaled by 1/256; pyrUp: horizontal polyphase taps scaled by 1/64, then the
// vertical taps), and the build disables FMA contraction, so the GPU result is
// the CPU result bit for bit.
//
// Batching: blockIdx.z is the frame index; a batch of N frames runs as ONE
// launch per pass (2K - 1 launches for K levels), all enqueued on the caller's
// stream without host synchronisation. Each block works on a 16 x 16 output
// tile staged in shared memory (input footprint plus halo, then the first
// separable pass), so each input value is read from global memory once per tile.
// The level buffers come from the per-stream scratch cache (cuda_common.hpp).

#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "cuda_common.hpp"
#include "facefuse/common.hpp"
#include "facefuse/pyramid_math.hpp"
#include "kernels.hpp"

namespace facefuse::cuda {

namespace {

using pyr::down5;
using pyr::reflect101;
using pyr::up_even;
using pyr::up_odd;

constexpr int kTile = 16;               // output tile side (threads per block: 16 x 16)
constexpr int kDownIn = 2 * kTile + 3;  // pyrDown input footprint: rows 2i - 2 .. 2(i + 15) + 2
constexpr int kUpIn = kTile / 2 + 2;    // pyrUp coarse footprint: one halo row / column each side

template <typename T>
__device__ __forceinline__ float to_f(T v) {
  return static_cast<float>(v);
}

template <typename T>
__device__ __forceinline__ T store_as(float v) {
  if constexpr (std::is_same_v<T, std::uint8_t>)
    return saturate_u8(v);  // == the CPU's to_u8 for every finite v
  else
    return v;
}

// ---- pyrDown: level k -> k + 1 for D (C channels) and the mask -----------------
// Level0: the input is D = src - dst (formed on the fly) and the raw mask
// (clamped to [0, 1]); otherwise G_k and M_k. Writes G_{k+1}, M_{k+1}.
template <typename T, int C, bool Level0>
__global__ void down_kernel(const T* __restrict__ dst, const T* __restrict__ src, const float* __restrict__ g_in,
                            const float* __restrict__ m_in, int h, int w, float* __restrict__ g_out,
                            float* __restrict__ m_out, int ho, int wo) {
  __shared__ float sd[kDownIn][kDownIn * C];  // input tile (D), rows/cols reflected
  __shared__ float sm[kDownIn][kDownIn];      // input tile (mask)
  __shared__ float vd[kTile][kDownIn * C];    // after the vertical 5-tap
  __shared__ float vm[kTile][kDownIn];

  const int n = blockIdx.z;
  const int oy0 = blockIdx.y * kTile, ox0 = blockIdx.x * kTile;
  const int tid = threadIdx.y * kTile + threadIdx.x;
  constexpr int kThreads = kTile * kTile;
  const std::int64_t in_px = static_cast<std::int64_t>(h) * w;

  // 1. Stage the input footprint (reflect-101 borders, as the CPU's row indices).
  for (int k = tid; k < kDownIn * kDownIn; k += kThreads) {
    const int ly = k / kDownIn, lx = k % kDownIn;
    const int gy = reflect101(2 * oy0 - 2 + ly, h), gx = reflect101(2 * ox0 - 2 + lx, w);
    const std::int64_t p = n * in_px + static_cast<std::int64_t>(gy) * w + gx;
    if constexpr (Level0) {
      for (int c = 0; c < C; ++c) sd[ly][lx * C + c] = to_f(src[p * C + c]) - to_f(dst[p * C + c]);
      sm[ly][lx] = clampf(m_in[p], 0.f, 1.f);
    } else {
      for (int c = 0; c < C; ++c) sd[ly][lx * C + c] = g_in[p * C + c];
      sm[ly][lx] = m_in[p];
    }
  }
  __syncthreads();

  // 2. Vertical 5-tap (unnormalised) on the kept rows, every staged column.
  for (int k = tid; k < kTile * kDownIn; k += kThreads) {
    const int ly = k / kDownIn, lx = k % kDownIn;
    const int r = 2 * ly;
    for (int c = 0; c < C; ++c) {
      const int x = lx * C + c;
      vd[ly][x] = down5(sd[r][x], sd[r + 1][x], sd[r + 2][x], sd[r + 3][x], sd[r + 4][x]);
    }
    vm[ly][lx] = down5(sm[r][lx], sm[r + 1][lx], sm[r + 2][lx], sm[r + 3][lx], sm[r + 4][lx]);
  }
  __syncthreads();

  // 3. Horizontal 5-tap on the kept columns, scaled by 1/256.
  const int oy = oy0 + threadIdx.y, ox = ox0 + threadIdx.x;
  if (oy >= ho || ox >= wo) return;
  const int ly = threadIdx.y, x0 = 2 * threadIdx.x;
  const std::int64_t q = n * (static_cast<std::int64_t>(ho) * wo) + static_cast<std::int64_t>(oy) * wo + ox;
  for (int c = 0; c < C; ++c)
    g_out[q * C + c] = pyr::kDownScale * down5(vd[ly][x0 * C + c], vd[ly][(x0 + 1) * C + c], vd[ly][(x0 + 2) * C + c],
                                               vd[ly][(x0 + 3) * C + c], vd[ly][(x0 + 4) * C + c]);
  m_out[q] = pyr::kDownScale * down5(vm[ly][x0], vm[ly][x0 + 1], vm[ly][x0 + 2], vm[ly][x0 + 3], vm[ly][x0 + 4]);
}

// Row / column of the coarse level staged at virtual index v (v = -1 and v = n
// are the pyrUp border neighbours: up_prev(0, n) and up_next(n - 1, n)).
__device__ __forceinline__ int coarse_index(int v, int n) {
  if (v < 0) return pyr::up_prev(0, n);
  return v < n ? v : n - 1;
}

// ---- pyrUp of G_{k+1} and R_{k+1} fused with the band blend at level k ----------
// Level0: out = store(dst + M0 * (src - dst - upG) + upR) (mask clamped);
// else    r_out = M_k * (G_k - upG) + upR.
template <typename T, int C, bool Level0>
__global__ void up_kernel(const float* __restrict__ g_c, const float* __restrict__ r_c, int hc, int wc,
                          const float* __restrict__ m_f, const float* __restrict__ g_f, const T* __restrict__ dst,
                          const T* __restrict__ src, T* __restrict__ out, int hf, int wf) {
  __shared__ float cg[kUpIn][kUpIn * C];  // coarse G / R tiles with a one-pixel halo
  __shared__ float cr[kUpIn][kUpIn * C];
  __shared__ float hg[kUpIn][kTile * C];  // after the horizontal taps (fine columns)
  __shared__ float hr[kUpIn][kTile * C];

  const int n = blockIdx.z;
  const int fy0 = blockIdx.y * kTile, fx0 = blockIdx.x * kTile;
  const int cy0 = fy0 / 2 - 1, cx0 = fx0 / 2 - 1;  // virtual coarse index of local 0
  const int tid = threadIdx.y * kTile + threadIdx.x;
  constexpr int kThreads = kTile * kTile;
  const std::int64_t c_px = static_cast<std::int64_t>(hc) * wc;

  // 1. Stage the coarse tile.
  for (int k = tid; k < kUpIn * kUpIn; k += kThreads) {
    const int ly = k / kUpIn, lx = k % kUpIn;
    const int gy = coarse_index(cy0 + ly, hc), gx = coarse_index(cx0 + lx, wc);
    const std::int64_t p = (n * c_px + static_cast<std::int64_t>(gy) * wc + gx) * C;
    for (int c = 0; c < C; ++c) {
      cg[ly][lx * C + c] = g_c[p + c];
      cr[ly][lx * C + c] = r_c[p + c];
    }
  }
  __syncthreads();

  // 2. Horizontal polyphase taps (scaled by 1/64) for every staged coarse row.
  for (int k = tid; k < kUpIn * kTile; k += kThreads) {
    const int ly = k / kTile, fx = k % kTile;
    const int x = fx0 + fx;
    const int lj = (x >> 1) - cx0;  // local coarse column of x / 2
    for (int c = 0; c < C; ++c) {
      const int a = (lj - 1) * C + c, b = lj * C + c, e = (lj + 1) * C + c;
      if (x & 1) {
        hg[ly][fx * C + c] = pyr::kUpScale * up_odd(cg[ly][b], cg[ly][e]);
        hr[ly][fx * C + c] = pyr::kUpScale * up_odd(cr[ly][b], cr[ly][e]);
      } else {
        hg[ly][fx * C + c] = pyr::kUpScale * up_even(cg[ly][a], cg[ly][b], cg[ly][e]);
        hr[ly][fx * C + c] = pyr::kUpScale * up_even(cr[ly][a], cr[ly][b], cr[ly][e]);
      }
    }
  }
  __syncthreads();

  // 3. Vertical taps fused with the band blend.
  const int y = fy0 + threadIdx.y, x = fx0 + threadIdx.x;
  if (y >= hf || x >= wf) return;
  const int li = (y >> 1) - cy0, fx = threadIdx.x;
  const std::int64_t p = n * (static_cast<std::int64_t>(hf) * wf) + static_cast<std::int64_t>(y) * wf + x;
  const float m = Level0 ? clampf(m_f[p], 0.f, 1.f) : m_f[p];
  for (int c = 0; c < C; ++c) {
    const int col = fx * C + c;
    float ug, ur;
    if (y & 1) {
      ug = up_odd(hg[li][col], hg[li + 1][col]);
      ur = up_odd(hr[li][col], hr[li + 1][col]);
    } else {
      ug = up_even(hg[li - 1][col], hg[li][col], hg[li + 1][col]);
      ur = up_even(hr[li - 1][col], hr[li][col], hr[li + 1][col]);
    }
    if constexpr (Level0) {
      const float dv = to_f(dst[p * C + c]);
      out[p * C + c] = store_as<T>(pyr::blend_band(dv, to_f(src[p * C + c]) - dv, m, ug, ur));
    } else {
      reinterpret_cast<float*>(out)[p * C + c] = pyr::blend_band(0.f, g_f[p * C + c], m, ug, ur);
    }
  }
}

// Coarsest band: R = M * G (n_px pixels over the whole batch).
template <int C>
__global__ void coarsest_kernel(const float* __restrict__ g, const float* __restrict__ m, float* __restrict__ r,
                                std::int64_t n_px) {
  for (std::int64_t q = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; q < n_px;
       q += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    for (int c = 0; c < C; ++c) r[q * C + c] = m[q] * g[q * C + c];
}

// levels == 1 (or a frame too small for a second level): plain alpha blend.
template <typename T, int C>
__global__ void alpha_kernel(const T* __restrict__ dst, const T* __restrict__ src, const float* __restrict__ mask,
                             T* __restrict__ out, std::int64_t n_px) {
  for (std::int64_t q = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; q < n_px;
       q += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const float m = clampf(mask[q], 0.f, 1.f);
    for (int c = 0; c < C; ++c)
      out[q * C + c] = store_as<T>(pyr::alpha_blend(to_f(dst[q * C + c]), to_f(src[q * C + c]), m));
  }
}

struct DevLevel {
  int h, w;
  float *g, *r, *m;  // batch-major: n x h x w (x C)
};

int grid_1d(std::int64_t n, int block) {
  const std::int64_t g = (n + block - 1) / block;
  return static_cast<int>(g < 65535 * 8 ? g : 65535 * 8);  // grid-stride loops cover the rest
}

template <typename T, int C>
void blend_impl(const T* dst, const T* src, const float* mask, T* out, int n, int h, int w, long long levels, int device,
                cudaStream_t stream) {
  const int K = pyr::clamp_levels(levels, h, w);
  if (K <= 1) {
    const std::int64_t px = static_cast<std::int64_t>(n) * h * w;
    alpha_kernel<T, C><<<grid_1d(px, 256), 256, 0, stream>>>(dst, src, mask, out, px);
    FF_CUDA_LAUNCH_CHECK();
    return;
  }
  // Level sizes and one scratch block: G, R (C channels) and M for levels 1..K-1.
  DevLevel lv[40];
  std::size_t total = 0;
  lv[0] = {h, w, nullptr, nullptr, nullptr};
  for (int k = 1; k < K; ++k) {
    lv[k].h = pyr::down_size(lv[k - 1].h);
    lv[k].w = pyr::down_size(lv[k - 1].w);
    total += static_cast<std::size_t>(n) * lv[k].h * lv[k].w * (2 * C + 1);
  }
  float* p = static_cast<float*>(scratch(device, stream, /*slot=*/0, total * sizeof(float)));
  for (int k = 1; k < K; ++k) {
    const std::size_t px = static_cast<std::size_t>(n) * lv[k].h * lv[k].w;
    lv[k].g = p;
    p += px * C;
    lv[k].r = p;
    p += px * C;
    lv[k].m = p;
    p += px;
  }
  const dim3 block(kTile, kTile);
  auto tiles = [&](int hh, int ww) { return dim3(div_up(ww, kTile), div_up(hh, kTile), n); };

  // Gaussian pyramids of D and the mask.
  down_kernel<T, C, true><<<tiles(lv[1].h, lv[1].w), block, 0, stream>>>(dst, src, nullptr, mask, h, w, lv[1].g,
                                                                         lv[1].m, lv[1].h, lv[1].w);
  FF_CUDA_LAUNCH_CHECK();
  for (int k = 1; k + 1 < K; ++k) {
    down_kernel<T, C, false><<<tiles(lv[k + 1].h, lv[k + 1].w), block, 0, stream>>>(
        nullptr, nullptr, lv[k].g, lv[k].m, lv[k].h, lv[k].w, lv[k + 1].g, lv[k + 1].m, lv[k + 1].h, lv[k + 1].w);
    FF_CUDA_LAUNCH_CHECK();
  }
  // Collapse from the coarsest band up.
  {
    const DevLevel& t = lv[K - 1];
    const std::int64_t px = static_cast<std::int64_t>(n) * t.h * t.w;
    coarsest_kernel<C><<<grid_1d(px, 256), 256, 0, stream>>>(t.g, t.m, t.r, px);
    FF_CUDA_LAUNCH_CHECK();
  }
  for (int k = K - 2; k >= 1; --k) {
    up_kernel<float, C, false><<<tiles(lv[k].h, lv[k].w), block, 0, stream>>>(
        lv[k + 1].g, lv[k + 1].r, lv[k + 1].h, lv[k + 1].w, lv[k].m, lv[k].g, nullptr, nullptr, lv[k].r, lv[k].h,
        lv[k].w);
    FF_CUDA_LAUNCH_CHECK();
  }
  up_kernel<T, C, true><<<tiles(h, w), block, 0, stream>>>(lv[1].g, lv[1].r, lv[1].h, lv[1].w, mask, nullptr, dst,
                                                           src, out, h, w);
  FF_CUDA_LAUNCH_CHECK();
}

template <typename T>
void blend_typed(const void* dst, const void* src, const float* mask, void* out, int n, int h, int w, int c,
                 long long levels, int device, cudaStream_t stream) {
  const T* d = static_cast<const T*>(dst);
  const T* s = static_cast<const T*>(src);
  T* o = static_cast<T*>(out);
  if (c == 3)
    blend_impl<T, 3>(d, s, mask, o, n, h, w, levels, device, stream);
  else
    blend_impl<T, 1>(d, s, mask, o, n, h, w, levels, device, stream);
}

}  // namespace

void blend_laplacian(const void* dst, const void* src, const float* mask, void* out, bool u8, int n, int h, int w,
                     int c, long long levels, int device, cudaStream_t stream) {
  if (n <= 0 || h <= 0 || w <= 0) return;
  const DeviceScope scope(device);
  // The frame index is blockIdx.z (at most kMaxGridYZ): larger batches run as
  // consecutive chunks on the same stream (they reuse the same scratch, in stream order).
  const std::int64_t frame_px = static_cast<std::int64_t>(h) * w;
  const std::size_t frame_bytes = static_cast<std::size_t>(frame_px) * c * (u8 ? 1 : sizeof(float));
  for (int i0 = 0; i0 < n; i0 += kMaxGridYZ) {
    const int m = n - i0 < kMaxGridYZ ? n - i0 : kMaxGridYZ;
    const std::size_t off = frame_bytes * static_cast<std::size_t>(i0);
    const void* d = static_cast<const char*>(dst) + off;
    const void* s = static_cast<const char*>(src) + off;
    void* o = static_cast<char*>(out) + off;
    const float* mk = mask + frame_px * i0;
    if (u8)
      blend_typed<std::uint8_t>(d, s, mk, o, m, h, w, c, levels, device, stream);
    else
      blend_typed<float>(d, s, mk, o, m, h, w, c, levels, device, stream);
  }
}

}  // namespace facefuse::cuda
