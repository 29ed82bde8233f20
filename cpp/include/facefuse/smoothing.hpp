// Batched landmark temporal smoothing: one object holds the state of many face
// tracks; update() smooths N faces x P points in one call (OpenMP over tracks).
// The maths is defined in python/facefuse/reference/smoothing.py (the oracle).
// Callers (the binding) validate inputs first; the kernel trusts sizes.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "facefuse/track_slots.hpp"

namespace facefuse {

enum class SmoothMethod { PoseShape, Ema, AdaptiveEma, OneEuro };

struct SmoothParams {
  // common
  double freq = 30.0;
  bool auto_reset = true;
  double cut_ratio = 5.0;
  double cut_min = 0.35;
  double motion_rate = 0.1;
  std::int64_t max_age = 30;
  // ema / adaptive_ema
  double alpha = 0.25;
  double motion_scale = 0.05;
  // one_euro
  double min_cutoff = 1.0;
  double beta = 0.01;
  double d_cutoff = 1.0;
  // pose_shape
  double pose_alpha = 0.5;
  double pose_beta = 0.25;
  double shape_min_cutoff = 0.3;
  double shape_beta = 0.03;
  double shape_d_cutoff = 1.0;
  double shape_clamp = 8.0;
  double outlier_k = 3.0;
};

class LandmarkSmootherCore {
 public:
  LandmarkSmootherCore(SmoothMethod method, const SmoothParams& params);

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
    bool alive = false;
    double m_avg = -1.0;
    bool has_t = false;
    double last_t = 0.0;
    double rate = 0.0;
    std::int64_t last_seen = 0;
    std::vector<double> raw, y, dy;  // P*2 each (y = S, dy = dS for pose_shape)
    std::vector<double> r1, r2;      // pose_shape scratch: 2P (residuals, then shape measurement), P
    double prev_med = -1.0;          // last residual median (a bracket for the next)
    double cx = 0, cy = 0, th = 0, ls = 0, vcx = 0, vcy = 0, vth = 0, vls = 0;
  };

  void start(Track& tr, const float* x, std::int64_t p) const;
  // Returns 1 when the track was (re)started by a scene cut, 2 when new.
  int step(Track& tr, const float* x, bool has_t, double t, std::int64_t p, float* out) const;
  void pose_shape(Track& tr, const float* x, double size, std::int64_t p, float* out) const;
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
