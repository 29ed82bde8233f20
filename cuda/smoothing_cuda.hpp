// The GPU landmark smoother, twin of CpuLandmarkSmoother (facefuse/smoothing.hpp):
// the same per-track update (smoothing::track_step), with every track's state on
// the device and one kernel launch per update for all N tracks (one thread block
// per track).
// The host keeps only the bookkeeping that needs no device data: the id ->
// slot map, ages, and a mirror of each track's last timestamp (so decreasing
// timestamps are rejected without reading the device).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "facefuse/smoothing.hpp"

namespace facefuse::cuda {

class CudaLandmarkSmoother {
 public:
  CudaLandmarkSmoother(SmoothMethod method, const SmoothParams& params);
  ~CudaLandmarkSmoother();
  CudaLandmarkSmoother(const CudaLandmarkSmoother&) = delete;
  CudaLandmarkSmoother& operator=(const CudaLandmarkSmoother&) = delete;

  // Index of the first row whose timestamp goes back on a live track, or -1.
  std::int64_t first_decreasing_timestamp(const std::int64_t* ids, const double* t, std::int64_t n) const;

  // landmarks, out: device n x p x 2 float32; reset_flags / new_flags: device n
  // bytes (0 / 1); ids, t (nullable): host arrays of n. Enqueues on `stream`.
  void update(const float* landmarks, const std::int64_t* ids, const double* t, std::int64_t n, std::int64_t p,
              float* out, std::uint8_t* reset_flags, std::uint8_t* new_flags, int device, cudaStream_t stream);

  void reset_all();
  void reset(const std::int64_t* ids, std::int64_t n);
  void forget(const std::int64_t* ids, std::int64_t n);
  std::int64_t num_tracks() const { return ids_.size(); }
  std::int64_t num_points() const { return num_points_; }
  std::vector<std::int64_t> track_ids() const;

 private:
  void drop(std::int64_t id);
  void reserve(std::int64_t slots, std::int64_t p, int device, cudaStream_t stream);
  void free_device();

  SmoothMethod method_;
  SmoothParams params_;
  // Host bookkeeping, per slot.
  TrackSlots ids_;
  std::vector<std::int64_t> last_seen_;
  std::vector<std::uint8_t> fresh_;  // state must be re-initialised at the next use
  std::vector<std::uint8_t> alive_;  // host mirror of the device "alive" flag
  std::vector<std::uint8_t> has_t_;
  std::vector<double> last_t_;
  std::int64_t num_points_ = -1;
  std::int64_t updates_ = 0;
  // Device storage (allocated stream-ordered on the first update's device).
  int device_ = -1;
  cudaStream_t alloc_stream_ = nullptr;
  std::int64_t cap_slots_ = 0, cap_points_ = 0;
  void* states_ = nullptr;     // cap_slots x smoothing::TrackState
  double* pts_ = nullptr;      // cap_slots x kTrackDoubles * P doubles (smoothing::track_points)
  // Per-update row data: pinned host staging + device copy, reused across updates.
  void* host_rows_ = nullptr;
  void* dev_rows_ = nullptr;
  std::size_t rows_bytes_ = 0;
  cudaEvent_t rows_copied_ = nullptr;  // the staging buffer may be rewritten once this has fired
  // Recorded after each update's kernel: an update on another stream waits for it
  // (on the device) before touching the track state or the row table.
  cudaEvent_t kernel_done_ = nullptr;
  cudaStream_t last_stream_ = nullptr;
};

}  // namespace facefuse::cuda
