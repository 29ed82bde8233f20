// CPU kernels for the smoothing op family: batched per-track landmark filters.
#include "facefuse/smoothing.hpp"

#include <algorithm>
#include <cmath>

#include "facefuse/common.hpp"
#include "facefuse/parallel.hpp"
#include "facefuse/smoothing_math.hpp"

namespace facefuse {

using namespace smoothing;

LandmarkSmootherCore::LandmarkSmootherCore(SmoothMethod method, const SmoothParams& params)
    : method_(method), params_(params) {}

std::int64_t LandmarkSmootherCore::first_decreasing_timestamp(const std::int64_t* ids, const double* t,
                                                              std::int64_t n) const {
  if (!t) return -1;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t s = ids_.find(ids[i]);
    if (s < 0) continue;
    const Track& tr = slots_[static_cast<std::size_t>(s)];
    if (tr.alive && tr.has_t && t[i] < tr.last_t) return i;
  }
  return -1;
}

void LandmarkSmootherCore::start(Track& tr, const float* x, std::int64_t p) const {
  const std::size_t n2 = static_cast<std::size_t>(2 * p);
  tr.alive = true;
  tr.raw.resize(n2);
  tr.y.resize(n2);
  tr.dy.assign(n2, 0.0);
  for (std::size_t k = 0; k < n2; ++k) tr.raw[k] = static_cast<double>(x[k]);
  if (method_ == SmoothMethod::PoseShape) {
    double mx = 0, my = 0;
    for (std::int64_t i = 0; i < p; ++i) {
      mx += tr.raw[2 * i];
      my += tr.raw[2 * i + 1];
    }
    mx /= static_cast<double>(p);
    my /= static_cast<double>(p);
    for (std::int64_t i = 0; i < p; ++i) {
      tr.y[2 * i] = tr.raw[2 * i] - mx;
      tr.y[2 * i + 1] = tr.raw[2 * i + 1] - my;
    }
    tr.cx = mx;
    tr.cy = my;
    tr.th = tr.ls = tr.vcx = tr.vcy = tr.vth = tr.vls = 0.0;
    tr.prev_med = -1.0;
    tr.r1.resize(static_cast<std::size_t>(2 * p));
    tr.r2.resize(static_cast<std::size_t>(p));
  } else {
    tr.y = tr.raw;
  }
}

int LandmarkSmootherCore::step(Track& tr, const float* x, bool has_t, double t, std::int64_t p,
                               float* out) const {
  const SmoothParams& prm = params_;
  const std::int64_t n2 = 2 * p;
  if (!tr.alive) {
    tr.rate = prm.freq;
    tr.has_t = has_t;
    tr.last_t = t;
    start(tr, x, p);
    std::copy(x, x + n2, out);
    return 2;
  }
  // time (Casiez: the rate changes only when both timestamps are known and t grows)
  if (!has_t) {
    tr.rate = prm.freq;
  } else if (tr.has_t && t > tr.last_t) {
    tr.rate = 1.0 / (t - tr.last_t);
  }
  tr.has_t = has_t;
  tr.last_t = t;

  // face size and motion
  double mx = 0, my = 0;
  for (std::int64_t i = 0; i < p; ++i) {
    mx += x[2 * i];
    my += x[2 * i + 1];
  }
  mx /= static_cast<double>(p);
  my /= static_cast<double>(p);
  double ss = 0, mot = 0;
  for (std::int64_t i = 0; i < p; ++i) {
    const double dx = x[2 * i] - mx, dy = x[2 * i + 1] - my;
    ss += dx * dx + dy * dy;
    const double ex = x[2 * i] - tr.raw[2 * i], ey = x[2 * i + 1] - tr.raw[2 * i + 1];
    mot += std::sqrt(ex * ex + ey * ey);
  }
  const double size = std::max(1.0, std::sqrt(ss / static_cast<double>(p)));
  const double m = mot / static_cast<double>(p) / size;
  if (prm.auto_reset) {
    const double thr = std::max(prm.cut_min, prm.cut_ratio * std::max(tr.m_avg, 0.0));
    if (m > thr) {
      start(tr, x, p);
      std::copy(x, x + n2, out);
      return 1;
    }
  }
  tr.m_avg = tr.m_avg < 0 ? m : tr.m_avg + prm.motion_rate * (m - tr.m_avg);
  for (std::int64_t k = 0; k < n2; ++k) tr.raw[k] = x[k];
  const double rate = tr.rate;

  switch (method_) {
    case SmoothMethod::Ema:
    case SmoothMethod::AdaptiveEma: {
      double a = prm.alpha;
      if (method_ == SmoothMethod::AdaptiveEma) {
        double ms = 0;
        for (std::int64_t i = 0; i < p; ++i) {
          const double ex = x[2 * i] - tr.y[2 * i], ey = x[2 * i + 1] - tr.y[2 * i + 1];
          ms += std::sqrt(ex * ex + ey * ey);
        }
        a = adaptive_alpha(prm.alpha, ms / static_cast<double>(p) / size, prm.motion_scale);
      }
      double* y = tr.y.data();
#pragma omp simd
      for (std::int64_t k = 0; k < n2; ++k) {
        y[k] = ema_step(static_cast<double>(x[k]), y[k], a);
        out[k] = static_cast<float>(y[k]);
      }
      return 0;
    }
    case SmoothMethod::OneEuro: {
      double* y = tr.y.data();
      double* dy = tr.dy.data();
      const double ad = one_euro_alpha(prm.d_cutoff, rate);
      const double mc = prm.min_cutoff, be = prm.beta;
#pragma omp simd
      for (std::int64_t k = 0; k < n2; ++k) {
        one_euro_step(static_cast<double>(x[k]), y[k], dy[k], rate, ad, mc, be);
        out[k] = static_cast<float>(y[k]);
      }
      return 0;
    }
    case SmoothMethod::PoseShape:
      pose_shape(tr, x, size, p, out);
      return 0;
  }
  return 0;
}

namespace {

struct SimFit {
  double cx, cy, s, th;
};

// Weighted least-squares similarity x ~ c + s R(th) S (w == nullptr: all ones).
SimFit fit_similarity(const double* S, const float* x, const double* w, std::int64_t p, double th_p, double s_p) {
  double ws = 0, msx = 0, msy = 0, mxx = 0, mxy = 0;
  for (std::int64_t i = 0; i < p; ++i) {
    const double wi = w ? w[i] : 1.0;
    ws += wi;
    msx += wi * S[2 * i];
    msy += wi * S[2 * i + 1];
    mxx += wi * x[2 * i];
    mxy += wi * x[2 * i + 1];
  }
  msx /= ws;
  msy /= ws;
  mxx /= ws;
  mxy /= ws;
  double saa = 0, sc = 0, ss = 0;
  for (std::int64_t i = 0; i < p; ++i) {
    const double wi = w ? w[i] : 1.0;
    const double ax = S[2 * i] - msx, ay = S[2 * i + 1] - msy;
    const double bx = x[2 * i] - mxx, by = x[2 * i + 1] - mxy;
    saa += wi * (ax * ax + ay * ay);
    sc += wi * (ax * bx + ay * by);
    ss += wi * (ax * by - ay * bx);
  }
  SimFit f;
  similarity_solve(saa, sc, ss, th_p, s_p, f.th, f.s);
  const double cs = std::cos(f.th), sn = std::sin(f.th);
  f.cx = mxx - f.s * (cs * msx - sn * msy);
  f.cy = mxy - f.s * (sn * msx + cs * msy);
  return f;
}

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

}  // namespace

void LandmarkSmootherCore::pose_shape(Track& tr, const float* x, double size, std::int64_t p, float* out) const {
  const SmoothParams& prm = params_;
  const double rate = tr.rate;
  const double dt = 1.0 / rate;
  double* S = tr.y.data();
  double* dS = tr.dy.data();
  double* r = tr.r1.data();
  double* w = tr.r2.data();
  // 1. predict
  const double cxp = tr.cx + tr.vcx * dt, cyp = tr.cy + tr.vcy * dt;
  const double thp = tr.th + tr.vth * dt, lsp = tr.ls + tr.vls * dt;
  const double sp = std::exp(lsp);
  // 2. robust similarity measurement
  SimFit f = fit_similarity(S, x, nullptr, p, thp, sp);
  {
    const double cs = std::cos(f.th), sn = std::sin(f.th), fcx = f.cx, fcy = f.cy, fs = f.s;
    for (std::int64_t i = 0; i < p; ++i) {
      double fx, fy;
      pose_apply(fcx, fcy, fs, cs, sn, S[2 * i], S[2 * i + 1], fx, fy);
      const double ex = x[2 * i] - fx, ey = x[2 * i + 1] - fy;
      r[i] = std::sqrt(ex * ex + ey * ey);
    }
    const double med = median_bracketed(r, w, p, tr.prev_med);
    tr.prev_med = med;
    const double thr = std::max(prm.outlier_k * med, 1e-3 * size);
    for (std::int64_t i = 0; i < p; ++i) w[i] = r[i] <= thr ? 1.0 : 0.0;
  }
  f = fit_similarity(S, x, w, p, thp, sp);
  // 3. alpha-beta pose filter
  const double a = prm.pose_alpha, b = prm.pose_beta;
  alpha_beta_correct(cxp, f.cx - cxp, tr.cx, tr.vcx, a, b, rate);
  alpha_beta_correct(cyp, f.cy - cyp, tr.cy, tr.vcy, a, b, rate);
  alpha_beta_correct(thp, wrap_angle(f.th - thp), tr.th, tr.vth, a, b, rate);
  alpha_beta_correct(lsp, std::log(f.s) - lsp, tr.ls, tr.vls, a, b, rate);
  // 4-5. shape in the measured pose frame, clamped, One Euro; compose the output
  const double mcs = std::cos(f.th), msn = std::sin(f.th), minv = 1.0 / f.s;
  const double ocs = std::cos(tr.th), osn = std::sin(tr.th), os = std::exp(tr.ls);
  const double ad = one_euro_alpha(prm.shape_d_cutoff, rate);
  const double mc = prm.shape_min_cutoff, be = prm.shape_beta, clamp = prm.shape_clamp;
  const double fcx = f.cx, fcy = f.cy, tcx = tr.cx, tcy = tr.cy;
  double* z = tr.r1.data();  // 2p scratch: the clamped shape measurement
  for (std::int64_t i = 0; i < p; ++i) {
    double zx, zy;
    pose_invert(fcx, fcy, minv, mcs, msn, static_cast<double>(x[2 * i]), static_cast<double>(x[2 * i + 1]), zx, zy);
    const double sx = S[2 * i], sy = S[2 * i + 1];
    double dx = zx - sx, dy = zy - sy;
    clamp_innovation(dx, dy, clamp);
    z[2 * i] = sx + dx;
    z[2 * i + 1] = sy + dy;
  }
  const std::int64_t n2 = 2 * p;
#pragma omp simd
  for (std::int64_t k = 0; k < n2; ++k) one_euro_step(z[k], S[k], dS[k], rate, ad, mc, be);
  for (std::int64_t i = 0; i < p; ++i) {
    double ox, oy;
    pose_apply(tcx, tcy, os, ocs, osn, S[2 * i], S[2 * i + 1], ox, oy);
    out[2 * i] = static_cast<float>(ox);
    out[2 * i + 1] = static_cast<float>(oy);
  }
}

void LandmarkSmootherCore::update(const float* landmarks, const std::int64_t* ids, const double* t, std::int64_t n,
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
    slots_[static_cast<std::size_t>(s)].last_seen = updates_;
  }
  // Threads only pay off for the heavier pose_shape update on many points; the
  // per-point EMA / One Euro updates stay serial unless the batch is huge.
  const std::int64_t work = n * p;
  const std::int64_t min_work = method_ == SmoothMethod::PoseShape ? 8192 : 131072;
  RegionProbe probe(n > 1 && work >= min_work);
#pragma omp parallel if (probe.parallel())
  {
#pragma omp for schedule(dynamic, 1) nowait
    for (std::int64_t i = 0; i < n; ++i) {
      Track& tr = slots_[static_cast<std::size_t>(row_slot_[static_cast<std::size_t>(i)])];
      const int code = step(tr, landmarks + i * p * 2, t != nullptr, t ? t[i] : 0.0, p, out + i * p * 2);
      reset_flags[i] = code == 1;
      new_flags[i] = code == 2;
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

void LandmarkSmootherCore::drop(std::int64_t id) {
  const std::int64_t s = ids_.release(id);
  if (s >= 0) slots_[static_cast<std::size_t>(s)] = Track();  // release the per-point buffers
}

void LandmarkSmootherCore::reset_all() {
  ids_.clear();
  slots_.clear();
  num_points_ = -1;
}

void LandmarkSmootherCore::reset(const std::int64_t* ids, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t s = ids_.find(ids[i]);
    if (s < 0) continue;
    Track& tr = slots_[static_cast<std::size_t>(s)];
    const std::int64_t seen = tr.last_seen;
    tr = Track();
    tr.last_seen = seen;
  }
}

void LandmarkSmootherCore::forget(const std::int64_t* ids, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) drop(ids[i]);
}

std::vector<std::int64_t> LandmarkSmootherCore::track_ids() const { return ids_.ids(); }

}  // namespace facefuse
