// CUDA kernels of the paste family: the bilinear affine warp (batched over
// matrices) and the paste-back of warped face crops into frames.
//
// Every pixel is computed with the CPU's FF_HD functions (paste_math.hpp:
// row_offsets, map_col, sample_bilinear, store_sample, mask_weight, alpha_mix,
// store_mix) in the CPU's order, and the build disables FMA contraction, so the
// warp and the alpha paste are the CPU's bit for bit. Masks are read through
// paste::WeightLoad (each value clipped to [0, 1] as it is read), which samples
// exactly what the CPU samples from its clipped copy of the mask.
//
// Launch shape: 16 x 16 pixel tiles flattened on grid x (so no grid y limit
// applies to tall boxes), the item (matrix, face or frame) on grid z, in chunks
// of kMaxGridYZ. Per-face geometry is computed on the host and uploaded with one
// async copy per call into the per-stream scratch cache (slot 3); box buffers
// of the buffered blends live in slot 4 (slots 0 and 1 are the pyramid's and the
// colour transfer's, which the buffered path calls).

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "cuda_common.hpp"
#include "facefuse/paste_math.hpp"
#include "kernels.hpp"

namespace facefuse::cuda {

namespace {

using paste::PasteBox;

constexpr int kTile = 16;

// Tile (tx0, ty0) of block blockIdx.x in a grid of `tiles_x` tiles per row.
__device__ __forceinline__ void tile_pixel(int tiles_x, int* x, int* y) {
  const int t = static_cast<int>(blockIdx.x);
  *x = (t % tiles_x) * kTile + static_cast<int>(threadIdx.x);
  *y = (t / tiles_x) * kTile + static_cast<int>(threadIdx.y);
}

dim3 tile_grid(int h, int w, int items) {
  const long long tiles = static_cast<long long>(div_up(w, kTile)) * div_up(h, kTile);
  return dim3(static_cast<unsigned>(tiles), 1, static_cast<unsigned>(items));
}

// ---- warp_affine ------------------------------------------------------------------

template <typename T, int C>
__global__ void warp_kernel(const T* __restrict__ src, int sh, int sw, T* __restrict__ dst, int dh, int dw,
                            const float* __restrict__ kinv, bool replicate, int tiles_x) {
  int x, y;
  tile_pixel(tiles_x, &x, &y);
  if (x >= dw || y >= dh) return;
  const int item = static_cast<int>(blockIdx.z);
  float m[6];
  for (int i = 0; i < 6; ++i) m[i] = kinv[6 * item + i];
  float rx, ry, sx, sy, v[C];
  paste::row_offsets(m, y, &rx, &ry);
  paste::map_col(m, x, rx, ry, &sx, &sy);
  paste::sample_bilinear<T, C>(src, sh, sw, static_cast<std::ptrdiff_t>(sw) * C, sx, sy, replicate, v);
  T* o = dst + ((static_cast<std::int64_t>(item) * dh + y) * dw + x) * C;
  for (int c = 0; c < C; ++c) paste::store_sample(v[c], o + c);
}

template <typename T, int C>
void warp_launch(const T* src, int sh, int sw, T* dst, int dh, int dw, int k, const float* kinv, bool replicate,
                 cudaStream_t stream) {
  const int tiles_x = div_up(dw, kTile);
  const std::int64_t item = static_cast<std::int64_t>(dh) * dw * C;
  for (int i0 = 0; i0 < k; i0 += kMaxGridYZ) {
    const int m = std::min(k - i0, kMaxGridYZ);
    warp_kernel<T, C><<<tile_grid(dh, dw, m), dim3(kTile, kTile), 0, stream>>>(
        src, sh, sw, dst + item * i0, dh, dw, kinv + 6 * i0, replicate, tiles_x);
    FF_CUDA_LAUNCH_CHECK();
  }
}

template <typename T>
void warp_typed(const T* src, int sh, int sw, int c, T* dst, int dh, int dw, int k, const float* kinv, bool rep,
                cudaStream_t stream) {
  switch (c) {
    case 1: warp_launch<T, 1>(src, sh, sw, dst, dh, dw, k, kinv, rep, stream); break;
    case 2: warp_launch<T, 2>(src, sh, sw, dst, dh, dw, k, kinv, rep, stream); break;
    case 3: warp_launch<T, 3>(src, sh, sw, dst, dh, dw, k, kinv, rep, stream); break;
    default: warp_launch<T, 4>(src, sh, sw, dst, dh, dw, k, kinv, rep, stream); break;
  }
}

// ---- paste_back -----------------------------------------------------------------

// A face as the kernels read it: the host's PasteFace plus the offset (pixels)
// of its box in the box buffers of the buffered blends.
struct DevFace {
  PasteFace f;
  std::int64_t buf;
};

// The faces of one frame for the fused alpha paste: the union of their boxes and
// their range in the face-order list.
struct FrameJob {
  int frame, x0, y0, x1, y1, begin, end;
};

// Bilinear mask weight and crop sample of one box pixel (lx, ly) of face f;
// returns the weight (the crop is sampled only where it is > 0, when `always` is false).
template <typename T>
__device__ __forceinline__ float face_sample(const PasteFace& f, int lx, int ly, bool always, float* v) {
  float rx, ry, sx, sy, a;
  paste::row_offsets(f.warp, ly, &rx, &ry);
  paste::map_col(f.warp, lx, rx, ry, &sx, &sy);
  paste::sample_bilinear<float, 1, paste::WeightLoad>(f.mask, f.h, f.w, f.w, sx, sy, false, &a);
  a = paste::mask_weight(a);
  if (always || a > 0.0f)
    paste::sample_bilinear<T, 3>(static_cast<const T*>(f.crop), f.h, f.w, static_cast<std::ptrdiff_t>(f.w) * 3, sx,
                                 sy, true, v);
  return a;
}

// The fused alpha paste: one thread per pixel of a frame's union box, applying
// that frame's faces in order (the CPU's in-order result where boxes overlap).
template <typename T>
__global__ void alpha_kernel(T* __restrict__ img, int H, int W, const DevFace* __restrict__ faces,
                             const int* __restrict__ order, const FrameJob* __restrict__ jobs, int tiles_x) {
  const FrameJob job = jobs[blockIdx.z];
  int x, y;
  tile_pixel(tiles_x, &x, &y);
  x += job.x0;
  y += job.y0;
  if (x >= job.x1 || y >= job.y1) return;
  T* px = img + ((static_cast<std::int64_t>(job.frame) * H + y) * W + x) * 3;
  T cur[3] = {px[0], px[1], px[2]};
  bool touched = false;
  for (int i = job.begin; i < job.end; ++i) {
    const PasteFace& f = faces[order[i]].f;
    const PasteBox& b = f.box;
    if (x < b.x0 || x >= b.x1 || y < b.y0 || y >= b.y1) continue;
    float v[3];
    const float a = face_sample<T>(f, x - b.x0, y - b.y0, false, v);
    if (!(a > 0.0f)) continue;  // frame * 1 + warped * 0 == frame
    for (int c = 0; c < 3; ++c) {
      T w;
      paste::store_sample(v[c], &w);
      paste::store_mix(paste::alpha_mix(static_cast<float>(cur[c]), static_cast<float>(w), a), cur + c);
    }
    touched = true;
  }
  if (touched)
    for (int c = 0; c < 3; ++c) px[c] = cur[c];
}

// Every face's warped crop (stored in T) and clipped warped mask into its box
// buffers (warped: 3 values per pixel, masks: 1), grid z = face.
template <typename T>
__global__ void face_warp_kernel(const DevFace* __restrict__ faces, T* __restrict__ warped, float* __restrict__ masks,
                                 int tiles_x) {
  const DevFace& d = faces[blockIdx.z];
  const PasteBox& b = d.f.box;
  const int bw = b.x1 - b.x0, bh = b.y1 - b.y0;
  int x, y;
  tile_pixel(tiles_x, &x, &y);
  if (x >= bw || y >= bh) return;
  float v[3];
  const std::int64_t p = d.buf + static_cast<std::int64_t>(y) * bw + x;
  masks[p] = face_sample<T>(d.f, x, y, true, v);
  for (int c = 0; c < 3; ++c) paste::store_sample(v[c], warped + 3 * p + c);
}

// The alpha mix of box buffers into the frame's box (row stride W * 3), as the
// CPU's blend_box (every pixel, weight 0 included).
template <typename T>
__global__ void box_alpha_kernel(T* __restrict__ box, int W, int bh, int bw, const T* __restrict__ warped,
                                 const float* __restrict__ mask, int tiles_x) {
  int x, y;
  tile_pixel(tiles_x, &x, &y);
  if (x >= bw || y >= bh) return;
  const std::int64_t p = static_cast<std::int64_t>(y) * bw + x;
  T* o = box + (static_cast<std::int64_t>(y) * W + x) * 3;
  const float a = mask[p];
  for (int c = 0; c < 3; ++c)
    paste::store_mix(paste::alpha_mix(static_cast<float>(o[c]), static_cast<float>(warped[3 * p + c]), a), o + c);
}

int box_w(const PasteBox& b) { return b.x1 - b.x0; }
int box_h(const PasteBox& b) { return b.y1 - b.y0; }
bool box_empty(const PasteBox& b) { return b.x1 <= b.x0 || b.y1 <= b.y0; }

std::size_t align256(std::size_t n) { return (n + 255) & ~static_cast<std::size_t>(255); }

// One host blob -> scratch slot 3 with one async copy; returns the device copy.
char* upload(const std::vector<char>& blob, int device, cudaStream_t stream) {
  char* d = static_cast<char*>(scratch(device, stream, /*slot=*/3, blob.size()));
  FF_CUDA_CHECK(cudaMemcpyAsync(d, blob.data(), blob.size(), cudaMemcpyHostToDevice, stream));
  return d;
}

template <typename V>
void put(std::vector<char>& blob, std::size_t off, const std::vector<V>& v) {
  if (!v.empty()) std::memcpy(blob.data() + off, v.data(), v.size() * sizeof(V));
}

template <typename T>
void paste_alpha(T* img, int n, int H, int W, const std::vector<DevFace>& faces, int device, cudaStream_t stream) {
  // Faces grouped by frame, each group in face order; one job per frame with faces.
  std::vector<std::vector<int>> per_frame(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < faces.size(); ++i)
    if (!box_empty(faces[i].f.box)) per_frame[static_cast<std::size_t>(faces[i].f.frame)].push_back(static_cast<int>(i));
  std::vector<int> order;
  std::vector<FrameJob> jobs;
  int max_w = 0, max_h = 0;
  for (int fr = 0; fr < n; ++fr) {
    const auto& ids = per_frame[static_cast<std::size_t>(fr)];
    if (ids.empty()) continue;
    FrameJob j{fr, W, H, 0, 0, static_cast<int>(order.size()), 0};
    for (int i : ids) {
      const PasteBox& b = faces[static_cast<std::size_t>(i)].f.box;
      j.x0 = std::min(j.x0, b.x0);
      j.y0 = std::min(j.y0, b.y0);
      j.x1 = std::max(j.x1, b.x1);
      j.y1 = std::max(j.y1, b.y1);
      order.push_back(i);
    }
    j.end = static_cast<int>(order.size());
    max_w = std::max(max_w, j.x1 - j.x0);
    max_h = std::max(max_h, j.y1 - j.y0);
    jobs.push_back(j);
  }
  if (jobs.empty()) return;
  const std::size_t faces_b = align256(faces.size() * sizeof(DevFace));
  const std::size_t order_b = align256(order.size() * sizeof(int));
  std::vector<char> blob(faces_b + order_b + jobs.size() * sizeof(FrameJob));
  put(blob, 0, faces);
  put(blob, faces_b, order);
  put(blob, faces_b + order_b, jobs);
  const char* d = upload(blob, device, stream);
  const auto* dfaces = reinterpret_cast<const DevFace*>(d);
  const auto* dorder = reinterpret_cast<const int*>(d + faces_b);
  const auto* djobs = reinterpret_cast<const FrameJob*>(d + faces_b + order_b);
  const int tiles_x = div_up(max_w, kTile);
  const int nj = static_cast<int>(jobs.size());
  for (int j0 = 0; j0 < nj; j0 += kMaxGridYZ) {
    const int m = std::min(nj - j0, kMaxGridYZ);
    alpha_kernel<T><<<tile_grid(max_h, max_w, m), dim3(kTile, kTile), 0, stream>>>(img, H, W, dfaces, dorder,
                                                                                  djobs + j0, tiles_x);
    FF_CUDA_LAUNCH_CHECK();
  }
}

// Rows of a box between the frame (row pitch W * 3) and a packed buffer.
template <typename T>
void copy_box(T* dst, std::size_t dpitch, const T* src, std::size_t spitch, int bh, int bw, cudaStream_t stream) {
  FF_CUDA_CHECK(cudaMemcpy2DAsync(dst, dpitch * sizeof(T), src, spitch * sizeof(T),
                                  static_cast<std::size_t>(bw) * 3 * sizeof(T), static_cast<std::size_t>(bh),
                                  cudaMemcpyDeviceToDevice, stream));
}

template <typename T>
void paste_buffered(T* img, int H, int W, std::vector<DevFace>& faces, bool laplacian, bool lab, long long levels,
                    int device, cudaStream_t stream) {
  // Box buffers: every face's warped crop and mask, then one region / corrected /
  // blended buffer of the largest box (reused face after face, in stream order).
  std::int64_t total = 0, largest = 0;
  int max_w = 0, max_h = 0;
  std::vector<DevFace> live;
  for (DevFace& d : faces) {
    if (box_empty(d.f.box)) continue;
    const std::int64_t px = static_cast<std::int64_t>(box_w(d.f.box)) * box_h(d.f.box);
    d.buf = total;
    total += px;
    largest = std::max(largest, px);
    max_w = std::max(max_w, box_w(d.f.box));
    max_h = std::max(max_h, box_h(d.f.box));
    live.push_back(d);
  }
  if (live.empty()) return;
  const std::size_t warped_b = align256(static_cast<std::size_t>(total) * 3 * sizeof(T));
  const std::size_t masks_b = align256(static_cast<std::size_t>(total) * sizeof(float));
  const std::size_t box_b = align256(static_cast<std::size_t>(largest) * 3 * sizeof(T));
  char* base = static_cast<char*>(scratch(device, stream, /*slot=*/4, warped_b + masks_b + 3 * box_b));
  T* warped = reinterpret_cast<T*>(base);
  float* masks = reinterpret_cast<float*>(base + warped_b);
  T* region = reinterpret_cast<T*>(base + warped_b + masks_b);
  T* corrected = reinterpret_cast<T*>(base + warped_b + masks_b + box_b);
  T* blended = reinterpret_cast<T*>(base + warped_b + masks_b + 2 * box_b);

  std::vector<char> blob(live.size() * sizeof(DevFace));
  put(blob, 0, live);
  const auto* dfaces = reinterpret_cast<const DevFace*>(upload(blob, device, stream));
  const int tiles_x = div_up(max_w, kTile);
  const int nf = static_cast<int>(live.size());
  for (int i0 = 0; i0 < nf; i0 += kMaxGridYZ) {
    const int m = std::min(nf - i0, kMaxGridYZ);
    face_warp_kernel<T><<<tile_grid(max_h, max_w, m), dim3(kTile, kTile), 0, stream>>>(dfaces + i0, warped, masks,
                                                                                      tiles_x);
    FF_CUDA_LAUNCH_CHECK();
  }
  const std::size_t pitch = static_cast<std::size_t>(W) * 3;
  for (const DevFace& d : live) {  // in face order: a face sees the frame its predecessors left
    const PasteBox& b = d.f.box;
    const int bw = box_w(b), bh = box_h(b);
    const std::int64_t px = static_cast<std::int64_t>(bw) * bh;
    T* box = img + ((static_cast<std::int64_t>(d.f.frame) * H + b.y0) * W + b.x0) * 3;
    const T* wp = warped + 3 * d.buf;
    const float* mp = masks + d.buf;
    const std::size_t bpitch = static_cast<std::size_t>(bw) * 3;
    copy_box(region, bpitch, box, pitch, bh, bw, stream);
    if (lab) {
      // An all-zero mask returns the warped crop (clipped); the CPU keeps it
      // unclipped, but a zero mask blends none of it in, so the frame is the same.
      color_transfer(wp, region, mp, mp, corrected, std::is_same_v<T, std::uint8_t>, 1, px, 1, px, 1.0f, device,
                     stream);
      wp = corrected;
    }
    if (laplacian) {
      blend_laplacian(region, wp, mp, blended, std::is_same_v<T, std::uint8_t>, 1, bh, bw, 3, levels, device, stream);
      copy_box(box, pitch, blended, bpitch, bh, bw, stream);
    } else {
      box_alpha_kernel<T><<<tile_grid(bh, bw, 1), dim3(kTile, kTile), 0, stream>>>(box, W, bh, bw, wp, mp,
                                                                                   div_up(bw, kTile));
      FF_CUDA_LAUNCH_CHECK();
    }
  }
}

template <typename T>
void paste_typed(T* img, int n, int H, int W, const PasteFace* faces, int k, bool laplacian, bool lab,
                 long long levels, int device, cudaStream_t stream) {
  std::vector<DevFace> dev(static_cast<std::size_t>(k));
  for (int i = 0; i < k; ++i) dev[static_cast<std::size_t>(i)] = DevFace{faces[i], 0};
  if (!laplacian && !lab)
    paste_alpha(img, n, H, W, dev, device, stream);
  else
    paste_buffered(img, H, W, dev, laplacian, lab, levels, device, stream);
}

}  // namespace

void warp_affine(const void* src, bool u8, int sh, int sw, int c, void* dst, int dh, int dw, int k,
                 const float* kinv, bool replicate, int device, cudaStream_t stream) {
  if (k <= 0 || sh <= 0 || sw <= 0 || dh <= 0 || dw <= 0) return;
  const DeviceScope scope(device);
  std::vector<char> blob(static_cast<std::size_t>(k) * 6 * sizeof(float));
  std::memcpy(blob.data(), kinv, blob.size());
  const auto* dk = reinterpret_cast<const float*>(upload(blob, device, stream));
  if (u8)
    warp_typed(static_cast<const std::uint8_t*>(src), sh, sw, c, static_cast<std::uint8_t*>(dst), dh, dw, k, dk,
               replicate, stream);
  else
    warp_typed(static_cast<const float*>(src), sh, sw, c, static_cast<float*>(dst), dh, dw, k, dk, replicate, stream);
}

void copy_device(void* dst, const void* src, std::size_t bytes, int device, cudaStream_t stream) {
  if (bytes == 0 || dst == src) return;
  const DeviceScope scope(device);
  const auto d = reinterpret_cast<std::uintptr_t>(dst), s = reinterpret_cast<std::uintptr_t>(src);
  if (d < s + bytes && s < d + bytes) {  // overlapping views: cudaMemcpy's ranges must not overlap
    void* tmp = scratch(device, stream, /*slot=*/5, bytes);
    FF_CUDA_CHECK(cudaMemcpyAsync(tmp, src, bytes, cudaMemcpyDeviceToDevice, stream));
    src = tmp;
  }
  FF_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream));
}

void paste_back(void* img, bool u8, int n, int H, int W, const PasteFace* faces, int k, bool laplacian, bool lab,
                long long levels, int device, cudaStream_t stream) {
  if (k <= 0 || n <= 0 || H <= 0 || W <= 0) return;
  const DeviceScope scope(device);
  if (u8)
    paste_typed(static_cast<std::uint8_t*>(img), n, H, W, faces, k, laplacian, lab, levels, device, stream);
  else
    paste_typed(static_cast<float*>(img), n, H, W, faces, k, laplacian, lab, levels, device, stream);
}

}  // namespace facefuse::cuda
