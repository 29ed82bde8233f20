// Batched landmark temporal smoothing on the CPU: one object holds the state of
// many face tracks; update() smooths N faces x P points in one call (OpenMP over
// tracks). Its twin on the GPU is CudaLandmarkSmoother (cuda/smoothing_cuda.hpp);
// both run smoothing::track_step (smoothing_math.hpp) per track.
// The maths is defined in python/facefuse/reference/smoothing.py (the oracle).
// Callers (the binding) validate inputs first; the kernel trusts sizes.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "facefuse/smoothing_math.hpp"
#include "facefuse/track_slots.hpp"

namespace facefuse {

class CpuLandmarkSmoother {
 public:
  CpuLandmarkSmoother(SmoothMethod method, const SmoothParams& params);

  SmoothMethod method() const { return method_; }
  const SmoothParams& params() const { return params_; }
  std::mutex& mutex() { return mutex_; }

  // Index of the first row whose timestamp goes back in time on a live track, or -1.
  std::int64_t first_decreasing_timestamp(const std::int64_t* ids, const double* t, std::int64_t n) const;

  // landmarks: n x p x 2 float32 (finite), ids: n distinct ids, t: n timestamps or
  // nullptr (fixed rate). out: n x p x 2. reset_flags / new_flags: n bytes.
  void update(const float* landmarks, const std::int64_t* ids, const double* t, std::int64_t n, std::int64_t p,
              float* out, std::uint8_t* reset_flags, std::uint8_t* new_flags);

  void reset_all();
  void reset(const std::int64_t* ids, std::int64_t n);
  void forget(const std::int64_t* ids, std::int64_t n);
  std::int64_t num_tracks() const { return ids_.size(); }
  std::int64_t num_points() const { return num_points_; }  // -1 until the first non-empty update
  std::vector<std::int64_t> track_ids() const;

 private:
  struct Track {
    smoothing::TrackState s;
    std::int64_t last_seen = 0;
    std::vector<double> pts;  // smoothing::kTrackDoubles * P (smoothing::track_points)
    Track() { smoothing::track_init(s); }
  };

  void drop(std::int64_t id);

  SmoothMethod method_;
  SmoothParams params_;
  TrackSlots ids_;
  std::vector<Track> slots_;  // indexed by ids_'s slot
  std::vector<std::int64_t> row_slot_;
  std::int64_t num_points_ = -1;
  std::int64_t updates_ = 0;
  std::mutex mutex_;
};

}  // namespace facefuse
