// The GPU landmark smoother (CudaLandmarkSmoother).
//
// One update = one kernel launch: block i runs smoothing::track_step (the CPU
// smoother's per-track update, smoothing_math.hpp) for row i, with a BlockTeam:
// its threads stride over the points, the per-track sums (centroid, face size,
// motion, the similarity fits) are block reductions in double, and the residual
// median of pose_shape is an exact rank selection (same value as the CPU's
// nth_element). Sums are added in a different order than the CPU's serial
// loops and the double-precision libm differs by an ulp, so GPU and CPU agree
// to ~1e-9 pixels, not bit for bit.
//
// Per-track scalar state (smoothing::TrackState) lives on the device, per-point
// state in one slot-major array. The host resolves track ids to slots and
// uploads (slot, timestamp, fresh) per row in one asynchronous copy from a
// pinned staging buffer.

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

#include "cuda_common.hpp"
#include "facefuse/common.hpp"
#include "facefuse/smoothing_math.hpp"
#include "reduce.cuh"
#include "smoothing_cuda.hpp"

namespace facefuse::cuda {

using namespace facefuse::smoothing;

namespace {

// One row of the update: slot, timestamp, fresh flag (uploaded per update).
struct Row {
  std::int64_t slot;
  double t;
  int fresh;
  int pad;
};

constexpr int kThreads = 128;

// Exact k-th smallest of r[0..n) (0-based) by ranks: r[i] is it when
// #{r < r[i]} <= k < #{r <= r[i]}. O(n^2 / threads), fine for landmark counts.
__device__ double select_kth(const double* r, std::int64_t n, std::int64_t k) {
  __shared__ double found;
  for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const double v = r[i];
    std::int64_t less = 0, leq = 0;
    for (std::int64_t j = 0; j < n; ++j) {
      less += r[j] < v;
      leq += r[j] <= v;
    }
    if (less <= k && k < leq) found = v;  // ties write the same value
  }
  __syncthreads();
  const double v = found;
  __syncthreads();
  return v;
}

// smoothing::track_step's Team on a thread block (every thread calls every member).
struct BlockTeam {
  template <class F>
  __device__ void for_each(std::int64_t n, F f) const {
    for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) f(i);
  }
  template <int K, class F>
  __device__ void sum(std::int64_t n, double (&acc)[K], F f) const {
    for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) f(i, acc);
    block_sum<double, K>(acc);
  }
  __device__ bool leader() const { return threadIdx.x == 0; }
  __device__ void sync() const { __syncthreads(); }
  __device__ double median(const double* r, double*, std::int64_t n, double) const {
    const std::int64_t h = n / 2;
    const double hi = select_kth(r, n, h);
    if (n % 2) return hi;
    const double lo = select_kth(r, n, h - 1);
    return (lo + hi) * 0.5;
  }
};

// One block per row: smoothing::track_step for track rows[i].slot.
__global__ void __launch_bounds__(kThreads) smooth_kernel(SmoothMethod method, SmoothParams prm,
                                                          const float* __restrict__ landmarks,
                                                          const Row* __restrict__ rows, int has_t, int p,
                                                          TrackState* __restrict__ states, double* __restrict__ pts,
                                                          float* __restrict__ out_all, std::uint8_t* reset_flags,
                                                          std::uint8_t* new_flags) {
  __shared__ TrackState st;
  const int i = blockIdx.x;
  const Row row = rows[i];
  const std::int64_t slot = row.slot;
  if (threadIdx.x == 0) {
    st = states[slot];
    if (row.fresh) track_init(st);
  }
  __syncthreads();
  BlockTeam team;
  const std::int64_t off = static_cast<std::int64_t>(i) * p * 2;
  const int code = track_step(team, st, method, prm, landmarks + off, has_t != 0, has_t ? row.t : 0.0, p,
                              track_points(pts + slot * kTrackDoubles * static_cast<std::int64_t>(p), p),
                              out_all + off);
  __syncthreads();
  if (threadIdx.x == 0) {
    states[slot] = st;
    reset_flags[i] = code == kStepCut;
    new_flags[i] = code == kStepNew;
  }
}

}  // namespace

CudaLandmarkSmoother::CudaLandmarkSmoother(SmoothMethod method, const SmoothParams& params)
    : method_(method), params_(params) {}

CudaLandmarkSmoother::~CudaLandmarkSmoother() { free_device(); }

void CudaLandmarkSmoother::free_device() {
  // Destructors must not throw: errors (e.g. a driver already shut down) are ignored.
  int prev = -1;
  if (device_ >= 0) {
    cudaGetDevice(&prev);
    cudaSetDevice(device_);
  }
  if (rows_copied_) cudaEventSynchronize(rows_copied_);
  if (states_ || pts_ || dev_rows_) cudaDeviceSynchronize();  // the stream may be gone: free after a full sync
  if (states_) cudaFree(states_);
  if (pts_) cudaFree(pts_);
  if (dev_rows_) cudaFree(dev_rows_);
  if (host_rows_) cudaFreeHost(host_rows_);
  if (rows_copied_) cudaEventDestroy(rows_copied_);
  if (kernel_done_) cudaEventDestroy(kernel_done_);
  kernel_done_ = nullptr;
  states_ = nullptr;
  pts_ = nullptr;
  dev_rows_ = nullptr;
  host_rows_ = nullptr;
  rows_copied_ = nullptr;
  rows_bytes_ = 0;
  cap_slots_ = cap_points_ = 0;
  if (prev >= 0 && prev != device_) cudaSetDevice(prev);  // leave the caller's current device as it was
}

std::int64_t CudaLandmarkSmoother::first_decreasing_timestamp(const std::int64_t* ids, const double* t,
                                                             std::int64_t n) const {
  if (!t) return -1;
  return ids_.first_row(ids, n, [&](std::int64_t slot, std::int64_t i) {
    const auto s = static_cast<std::size_t>(slot);
    return alive_[s] && !fresh_[s] && has_t_[s] && t[i] < last_t_[s];
  });
}

// Device arrays for `slots` tracks of p points (grow-only; contents kept).
void CudaLandmarkSmoother::reserve(std::int64_t slots, std::int64_t p, int device, cudaStream_t stream) {
  device_ = device;
  if (p != cap_points_ && cap_slots_ > 0) {  // P changed (after reset_all): start over
    free_device();
    device_ = device;
  }
  if (slots <= cap_slots_) return;
  std::int64_t cap = std::max<std::int64_t>(slots, std::max<std::int64_t>(64, cap_slots_ * 2));
  void* ns = nullptr;
  void* np_ = nullptr;
  const std::size_t sb = sizeof(TrackState), pb = sizeof(double) * kTrackDoubles * static_cast<std::size_t>(p);
  FF_CUDA_CHECK(cudaMallocAsync(&ns, sb * cap, stream));
  FF_CUDA_CHECK(cudaMallocAsync(&np_, pb * cap, stream));
  if (cap_slots_ > 0) {  // keep the live tracks (stream-ordered copy)
    FF_CUDA_CHECK(cudaMemcpyAsync(ns, states_, sb * cap_slots_, cudaMemcpyDeviceToDevice, stream));
    FF_CUDA_CHECK(cudaMemcpyAsync(np_, pts_, pb * cap_slots_, cudaMemcpyDeviceToDevice, stream));
    FF_CUDA_CHECK(cudaFreeAsync(states_, stream));
    FF_CUDA_CHECK(cudaFreeAsync(pts_, stream));
  }
  states_ = ns;
  pts_ = static_cast<double*>(np_);
  cap_slots_ = cap;
  cap_points_ = p;
  alloc_stream_ = stream;
}

void CudaLandmarkSmoother::update(const float* landmarks, const std::int64_t* ids, const double* t, std::int64_t n,
                          std::int64_t p, float* out, std::uint8_t* reset_flags, std::uint8_t* new_flags, int device,
                          cudaStream_t stream) {
  if (n > 0 && device_ >= 0 && device != device_)  // checked before any bookkeeping changes
    throw CudaError(cudaErrorInvalidDevice, "LandmarkSmoother: this smoother's GPU state is on device " +
                                                std::to_string(device_) + ", got landmarks on device " +
                                                std::to_string(device) + " (reset() first)");
  ++updates_;
  std::optional<DeviceScope> scope;
  if (n > 0) {
    num_points_ = p;
    scope.emplace(device);
  }
  // Resolve (or create) every row's slot.
  std::vector<Row> rows(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    bool fresh, grown;
    const std::int64_t s = ids_.acquire(ids[i], &fresh, &grown);
    if (grown) {
      last_seen_.push_back(0);
      fresh_.push_back(1);
      alive_.push_back(0);
      has_t_.push_back(0);
      last_t_.push_back(0.0);
    }
    if (fresh) fresh_[static_cast<std::size_t>(s)] = 1;
    const auto su = static_cast<std::size_t>(s);
    last_seen_[su] = updates_;
    rows[static_cast<std::size_t>(i)] = Row{s, t ? t[i] : 0.0, fresh_[su], 0};
    fresh_[su] = 0;
    alive_[su] = 1;
    has_t_[su] = t != nullptr;
    last_t_[su] = t ? t[i] : 0.0;
  }
  if (n > 0) {
    // The previous update's kernel may still be running on another stream (a
    // caller switching CuPy streams between frames): it reads the row table and
    // reads / writes the track state this update uses, and reserve() may move
    // that state. Order this stream after it, without a host synchronisation
    // (cudaStreamPerThread is a different stream in each host thread: always wait).
    if (kernel_done_ && (stream != last_stream_ || stream == cudaStreamPerThread))
      FF_CUDA_CHECK(cudaStreamWaitEvent(stream, kernel_done_, 0));
    reserve(static_cast<std::int64_t>(last_seen_.size()), p, device, stream);
    // Row table: pinned staging -> device, asynchronously on the stream.
    const std::size_t bytes = sizeof(Row) * static_cast<std::size_t>(n);
    if (!rows_copied_) FF_CUDA_CHECK(cudaEventCreateWithFlags(&rows_copied_, cudaEventDisableTiming));
    FF_CUDA_CHECK(cudaEventSynchronize(rows_copied_));  // the previous upload has left the staging buffer
    if (bytes > rows_bytes_) {
      if (host_rows_) FF_CUDA_CHECK(cudaFreeHost(host_rows_));
      if (dev_rows_) FF_CUDA_CHECK(cudaFreeAsync(dev_rows_, stream));
      host_rows_ = dev_rows_ = nullptr;
      const std::size_t want = bytes * 2;
      FF_CUDA_CHECK(cudaMallocHost(&host_rows_, want));
      FF_CUDA_CHECK(cudaMallocAsync(&dev_rows_, want, stream));
      rows_bytes_ = want;
    }
    std::memcpy(host_rows_, rows.data(), bytes);
    FF_CUDA_CHECK(cudaMemcpyAsync(dev_rows_, host_rows_, bytes, cudaMemcpyHostToDevice, stream));
    FF_CUDA_CHECK(cudaEventRecord(rows_copied_, stream));
    smooth_kernel<<<static_cast<unsigned>(n), kThreads, 0, stream>>>(
        method_, params_, landmarks, static_cast<const Row*>(dev_rows_), t != nullptr ? 1 : 0,
        static_cast<int>(p), static_cast<TrackState*>(states_), pts_, out, reset_flags, new_flags);
    FF_CUDA_LAUNCH_CHECK();
    if (!kernel_done_) FF_CUDA_CHECK(cudaEventCreateWithFlags(&kernel_done_, cudaEventDisableTiming));
    FF_CUDA_CHECK(cudaEventRecord(kernel_done_, stream));
    last_stream_ = stream;
  }
  if (params_.max_age > 0) {
    const auto old = ids_.ids_where([&](std::int64_t s) {
      return updates_ - last_seen_[static_cast<std::size_t>(s)] >= params_.max_age;
    });
    for (std::int64_t id : old) drop(id);
  }
}

void CudaLandmarkSmoother::drop(std::int64_t id) {
  const std::int64_t slot = ids_.release(id);
  if (slot < 0) return;
  const auto s = static_cast<std::size_t>(slot);
  fresh_[s] = 1;
  alive_[s] = 0;
}

void CudaLandmarkSmoother::reset_all() {
  ids_.clear();
  last_seen_.clear();
  fresh_.clear();
  alive_.clear();
  has_t_.clear();
  last_t_.clear();
  num_points_ = -1;
  // Device storage is released, so the next update may use any device and any P.
  free_device();
  device_ = -1;
}

void CudaLandmarkSmoother::reset(const std::int64_t* ids, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t slot = ids_.find(ids[i]);
    if (slot < 0) continue;
    const auto s = static_cast<std::size_t>(slot);
    fresh_[s] = 1;  // re-initialised on the device at its next update
    alive_[s] = 0;
  }
}

void CudaLandmarkSmoother::forget(const std::int64_t* ids, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) drop(ids[i]);
}

std::vector<std::int64_t> CudaLandmarkSmoother::track_ids() const { return ids_.ids(); }

}  // namespace facefuse::cuda
