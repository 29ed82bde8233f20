// CPU kernels for the smoothing op family: batched per-track landmark filters.
// The per-track update is smoothing::track_step (smoothing_math.hpp), run here by
// one thread per track; CudaLandmarkSmoother runs the same code on the GPU.
#include "facefuse/smoothing.hpp"

#include <algorithm>
#include <cmath>

#include "facefuse/common.hpp"
#include "facefuse/parallel.hpp"
#include "facefuse/smoothing_math.hpp"

namespace facefuse {

namespace {

double median_inplace(double* v, std::int64_t n) {
  const std::int64_t h = n / 2;
  std::nth_element(v, v + h, v + n);
  const double hi = v[h];
  if (n % 2) return hi;
  const double lo = *std::max_element(v, v + h);
  return (lo + hi) * 0.5;
}

// Exact median of r[0..n) (same value as median_inplace), using `guess` (the
// previous frame's median) to bracket it: one branch-free pass counts the
// values below the bracket and gathers those inside, then only the bracket is
// partially sorted. Falls back to the full selection when the guess misses.
double median_bracketed(const double* r, double* buf, std::int64_t n, double guess) {
  const std::int64_t h = n / 2;
  const std::int64_t rank_lo = (n % 2) ? h : h - 1;  // ranks of the middle value(s)
  if (guess > 0 && std::isfinite(guess) && n >= 64) {
    const double lo = guess * 0.85, hi = guess * 1.18;
    std::int64_t below = 0, m = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const double v = r[i];
      below += v < lo;
      buf[m] = v;
      m += (v >= lo) & (v <= hi);
    }
    if (below <= rank_lo && h < below + m) {
      const std::int64_t k = h - below;
      std::nth_element(buf, buf + k, buf + m);
      const double vh = buf[k];
      if (n % 2) return vh;
      const double vl = k > 0 ? *std::max_element(buf, buf + k) : vh;
      return (vl + vh) * 0.5;
    }
  }
  std::copy(r, r + n, buf);
  return median_inplace(buf, n);
}

// smoothing::track_step's Team on one CPU thread: loops in index order.
struct SerialTeam {
  template <class F>
  void for_each(std::int64_t n, F f) const {
    for (std::int64_t i = 0; i < n; ++i) f(i);
  }
  template <int K, class F>
  void sum(std::int64_t n, double (&acc)[K], F f) const {
    for (std::int64_t i = 0; i < n; ++i) f(i, acc);
  }
  bool leader() const { return true; }
  void sync() const {}
  double median(const double* r, double* scratch, std::int64_t n, double guess) const {
    return median_bracketed(r, scratch, n, guess);
  }
};

}  // namespace

CpuLandmarkSmoother::CpuLandmarkSmoother(SmoothMethod method, const SmoothParams& params)
    : method_(method), params_(params) {}

std::int64_t CpuLandmarkSmoother::first_decreasing_timestamp(const std::int64_t* ids, const double* t,
                                                             std::int64_t n) const {
  if (!t) return -1;
  return ids_.first_row(ids, n, [&](std::int64_t s, std::int64_t i) {
    const smoothing::TrackState& st = slots_[static_cast<std::size_t>(s)].s;
    return st.alive && st.has_t && t[i] < st.last_t;
  });
}

void CpuLandmarkSmoother::update(const float* landmarks, const std::int64_t* ids, const double* t, std::int64_t n,
                                  std::int64_t p, float* out, std::uint8_t* reset_flags, std::uint8_t* new_flags) {
  ++updates_;
  if (n > 0) num_points_ = p;
  // Resolve (or create) every row's slot serially; rows then touch distinct slots.
  row_slot_.resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    bool fresh, grown;
    const std::int64_t s = ids_.acquire(ids[i], &fresh, &grown);
    if (grown)
      slots_.emplace_back();
    else if (fresh)
      slots_[static_cast<std::size_t>(s)] = Track();
    row_slot_[static_cast<std::size_t>(i)] = s;
    Track& tr = slots_[static_cast<std::size_t>(s)];
    tr.last_seen = updates_;
    tr.pts.resize(static_cast<std::size_t>(smoothing::kTrackDoubles * p));  // fresh tracks only: P is fixed
  }
  // Threads only pay off for the heavier pose_shape update on many points; the
  // per-point EMA / One Euro updates stay serial unless the batch is huge.
  const std::int64_t work = n * p;
  const std::int64_t min_work = method_ == SmoothMethod::PoseShape ? 8192 : 131072;
  RegionProbe probe(n > 1 && work >= min_work);
#pragma omp parallel if (probe.parallel())
  {
    SerialTeam team;
#pragma omp for schedule(dynamic, 1) nowait
    for (std::int64_t i = 0; i < n; ++i) {
      Track& tr = slots_[static_cast<std::size_t>(row_slot_[static_cast<std::size_t>(i)])];
      const int code = smoothing::track_step(team, tr.s, method_, params_, landmarks + i * p * 2, t != nullptr,
                                             t ? t[i] : 0.0, p, smoothing::track_points(tr.pts.data(), p),
                                             out + i * p * 2);
      reset_flags[i] = code == smoothing::kStepCut;
      new_flags[i] = code == smoothing::kStepNew;
    }
    probe.share_done();
  }
  if (params_.max_age > 0) {
    const auto old = ids_.ids_where([&](std::int64_t s) {
      return updates_ - slots_[static_cast<std::size_t>(s)].last_seen >= params_.max_age;
    });
    for (std::int64_t id : old) drop(id);
  }
}

void CpuLandmarkSmoother::drop(std::int64_t id) {
  const std::int64_t s = ids_.release(id);
  if (s >= 0) slots_[static_cast<std::size_t>(s)] = Track();  // release the per-point buffers
}

void CpuLandmarkSmoother::reset_all() {
  ids_.clear();
  slots_.clear();
  num_points_ = -1;
}

void CpuLandmarkSmoother::reset(const std::int64_t* ids, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t s = ids_.find(ids[i]);
    if (s < 0) continue;
    Track& tr = slots_[static_cast<std::size_t>(s)];
    const std::int64_t seen = tr.last_seen;
    tr = Track();
    tr.last_seen = seen;
  }
}

void CpuLandmarkSmoother::forget(const std::int64_t* ids, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) drop(ids[i]);
}

std::vector<std::int64_t> CpuLandmarkSmoother::track_ids() const { return ids_.ids(); }

}  // namespace facefuse
