// Host entry points of the CUDA kernels (facefuse._cuda). Every function only
// enqueues work on `stream` (no host synchronisation unless its comment says
// so); pointers are device pointers to C-contiguous arrays; the caller (the
// binding) has validated dtypes and shapes.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "facefuse/paste_math.hpp"

namespace facefuse::cuda {

// ---- pyramid (cuda/pyramid.cu) ----------------------------------------------
// Multi-band blend of n frames: dst, src, out n x h x w x c (c = 1 or 3) of
// uint8 (u8 = true) or float32; mask n x h x w float32 (clamped to [0, 1] on
// the fly; NaN is not checked on the GPU). Same maths and rounding as the CPU
// blend_laplacian_u8 / _f32 (pyramid_math.hpp), one launch sequence for the batch.
void blend_laplacian(const void* dst, const void* src, const float* mask, void* out, bool u8, int n, int h, int w,
                     int c, long long levels, int device, cudaStream_t stream);

// ---- colour (cuda/color.cu) ---------------------------------------------------
// n_px pixels B, G, R (uint8: value / 255; float: [0, 1]) -> L, a, b float32.
void bgr_to_lab(const void* src, bool u8, float* dst, std::int64_t n_px, int device, cudaStream_t stream);
// n_px pixels L, a, b -> B, G, R float32 in [0, 1].
void lab_to_bgr(const float* src, float* dst, std::int64_t n_px, int device, cudaStream_t stream);
// Batched Reinhard transfer: src / dst n x (src_px pixels) x 3, ref n_ref x
// (ref_px pixels) x 3 with n_ref = n or 1 (one reference for the whole batch);
// masks (nullable) n x src_px and n_ref x ref_px float32. Values on the 0..255
// scale. An item whose mask weights sum to 0 is returned as src (clipped);
// mask values are not range-checked on the GPU (that would need a host sync).
void color_transfer(const void* src, const void* ref, const float* src_mask, const float* ref_mask, void* dst,
                    bool u8, int n, std::int64_t src_px, int n_ref, std::int64_t ref_px, float strength, int device,
                    cudaStream_t stream);

// ---- quality (cuda/quality.cu) -----------------------------------------------
// Sums of n_pairs frame pairs: pair t compares a + t * pair_stride with
// b + t * pair_stride (elements), each h * w pixels of c channels; mask
// (nullable) h * w float32 shared by every pair. Writes per pair
// {sse, weight_sum, mask_min, mask_max} (4 doubles) to host_out after a
// synchronisation of `stream` (the one host round trip: the result is a host float).
void tpsnr_sums(const void* a, const void* b, std::int64_t pair_stride, int n_pairs, bool u8, std::int64_t h,
                std::int64_t w, int c, const float* mask, double* host_out, int device, cudaStream_t stream);

// ---- paste (cuda/paste.cu) ----------------------------------------------------
// k warps of one image: src sh x sw x c (c in 1..4; uint8 or float32), dst
// k x dh x dw x c; kinv: k x 6 dst -> src float32 matrices on the host (the
// forward matrix inverted in double and rounded, as the CPU's warp_affine),
// uploaded in one async copy. One launch (grid z: the matrix) per kMaxGridYZ matrices.
void warp_affine(const void* src, bool u8, int sh, int sw, int c, void* dst, int dh, int dw, int k,
                 const float* kinv, bool replicate, int device, cudaStream_t stream);

// dst = src, `bytes` bytes of device memory (through a scratch copy when the
// ranges overlap), on `stream`.
void copy_device(void* dst, const void* src, std::size_t bytes, int device, cudaStream_t stream);

// One face of a GPU paste: device crop (h x w x 3, the frame's dtype) and mask
// (h x w float32, any finite values: read as mask_weight), the frame it goes
// into and its geometry from paste::paste_setup (computed on the host).
struct PasteFace {
  const void* crop;
  const float* mask;
  int h, w;
  int frame;
  paste::PasteBox box;
  float warp[6];
};

// Pastes faces[0..k) (host array) in order into img: n frames H x W x 3 on the
// device, in place. alpha without lab: one launch for every face of every frame
// (each thread owns a frame pixel and applies that frame's faces in order).
// laplacian and / or lab: one launch warps every face into box buffers, then
// per face, in order: the box copied out of the frame, color_transfer,
// blend_laplacian (or the alpha mix), the box copied back. No host sync.
void paste_back(void* img, bool u8, int n, int H, int W, const PasteFace* faces, int k, bool laplacian, bool lab,
                long long levels, int device, cudaStream_t stream);

// One QualityMonitor update: the sums behind its (up to) four tPSNRs in one
// launch sequence. Pair 0 is the output pair (prev, cur), pair 1 the source
// pair (prev_src, cur_src; both null for none). Each pair gives 8 doubles:
// full frame {sse, h * w, 0, 0}, then the ROI {sse, weight, mask_min,
// mask_max}: a box [x0, x1) x [y0, y1) (weight = its pixel count, min / max 0),
// a mask h * w float32 (weight = its sum), or none (all 0). Frames share dtype
// (u8 or float32), h, w, c; C-contiguous. One device -> host copy of the
// 8 or 16 doubles through this host thread's pinned buffer, then a
// synchronisation of `stream`, then host_out holds them.
struct MonitorFrames {
  const void* prev = nullptr;
  const void* cur = nullptr;
  const void* prev_src = nullptr;
  const void* cur_src = nullptr;
  bool u8 = true;
  std::int64_t h = 0, w = 0;
  int c = 1;
  bool has_box = false;
  std::int64_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  const float* mask = nullptr;  // exclusive with has_box
};
void quality_monitor_sums(const MonitorFrames& f, double* host_out, int device, cudaStream_t stream);

}  // namespace facefuse::cuda
