// Thread-count helpers and the oversubscription guard every kernel's parallel
// regions go through.
#pragma once

#include <atomic>
#include <chrono>

#if defined(FACEFUSE_HAVE_OPENMP)
#include <omp.h>
#endif

namespace facefuse {

inline int max_threads() {
#if defined(FACEFUSE_HAVE_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

inline void set_threads(int n) {
#if defined(FACEFUSE_HAVE_OPENMP)
  if (n > 0) omp_set_num_threads(n);
#else
  (void)n;
#endif
}

inline bool have_openmp() {
#if defined(FACEFUSE_HAVE_OPENMP)
  return true;
#else
  return false;
#endif
}

inline int thread_num() {
#if defined(FACEFUSE_HAVE_OPENMP)
  return omp_get_thread_num();
#else
  return 0;
#endif
}

inline int team_size() {
#if defined(FACEFUSE_HAVE_OPENMP)
  return omp_get_num_threads();
#else
  return 1;
#endif
}

// ---- oversubscription guard -------------------------------------------------
// OpenMP workers busy-wait between regions; when other processes (decoders,
// inference threads) hold the cores, a worker gets descheduled and every
// parallel region then waits a scheduler slice for it: a 1 ms kernel took
// 10-25 ms. Each region is timed by a RegionProbe; when the region took far
// longer than thread 0's own share, the kernels run on the calling thread alone
// for a while: 20 ms at first, doubling up to 1 s while contention lasts (and
// halving with each region that finds its workers on time), so a probe costs at
// most a few percent and parallelism comes back within a second once the cores
// are free. Results do not depend on it beyond the summation
// order of reductions.
namespace detail {

inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct GuardState {
  static constexpr double kMinBackoff = 0.02, kMaxBackoff = 1.0;
  std::atomic<double> serial_until{0.0};
  std::atomic<double> backoff{kMinBackoff};
};

inline GuardState& guard_state() {
  static GuardState s;
  return s;
}

}  // namespace detail

// False while the guard has the kernels running serially.
inline bool parallel_ok() {
  return detail::now_s() >= detail::guard_state().serial_until.load(std::memory_order_relaxed);
}

// Records one region's timing: `wall_s` for the whole region, `self_s` for
// thread 0's share of it.
inline void report_region(double wall_s, double self_s) {
  auto& g = detail::guard_state();
  if (wall_s > 2.0 * self_s + 300e-6) {  // a worker was late by far more than a fork/join
    const double b = g.backoff.load(std::memory_order_relaxed);
    g.serial_until.store(detail::now_s() + b, std::memory_order_relaxed);
    g.backoff.store(b * 2 < detail::GuardState::kMaxBackoff ? b * 2 : detail::GuardState::kMaxBackoff,
                    std::memory_order_relaxed);
  } else {
    // Decay rather than reset: under sustained load a lucky region must not
    // bring back probing every 20 ms.
    const double b = g.backoff.load(std::memory_order_relaxed) * 0.5;
    g.backoff.store(b > detail::GuardState::kMinBackoff ? b : detail::GuardState::kMinBackoff,
                    std::memory_order_relaxed);
  }
}

// Usage around one parallel region:
//   RegionProbe probe(worth_parallel);
//   #pragma omp parallel if (probe.parallel())
//   {
//   #pragma omp for schedule(static) nowait
//     for (...) { ... }
//     probe.share_done();
//   }
//   probe.finish();   // or let the destructor report
class RegionProbe {
 public:
  explicit RegionProbe(bool worth_parallel)
      : par_(worth_parallel && max_threads() > 1 && parallel_ok()), start_(par_ ? detail::now_s() : 0.0) {}
  RegionProbe(const RegionProbe&) = delete;
  RegionProbe& operator=(const RegionProbe&) = delete;
  ~RegionProbe() { finish(); }

  bool parallel() const { return par_; }

  // Called by every thread of the region after its share of the work.
  void share_done() {
    if (par_ && thread_num() == 0) {
      self_ = detail::now_s() - start_;
      team_ = team_size();
    }
  }

  // Reports the region (once) after its closing barrier.
  void finish() {
    if (team_ > 1) report_region(detail::now_s() - start_, self_);
    team_ = 0;
  }

 private:
  bool par_;
  double start_;
  double self_ = 0.0;
  int team_ = 0;
};

}  // namespace facefuse
