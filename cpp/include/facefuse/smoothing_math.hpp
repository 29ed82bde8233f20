// Per-landmark maths of the smoothing family: EMA, One Euro, similarity-pose
// pieces, alpha-beta filter, and the per-track update built on them (one
// control flow for the CPU and the CUDA smoother). Plain inline templates (FF_HD) so the CPU loops and the CUDA kernel
// share the same arithmetic. No containers, no exceptions.
#pragma once

#include <cmath>
#include <cstdint>

#include "facefuse/common.hpp"

namespace facefuse {

enum class SmoothMethod { PoseShape, Ema, AdaptiveEma, OneEuro };

// The parameters of every method (the binding validates them; the defaults are
// python/facefuse/reference/smoothing.py's). Trivially copyable: the CUDA kernel
// takes it by value.
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

namespace smoothing {

constexpr double kPi = 3.14159265358979323846;
constexpr double kTwoPi = 6.28318530717958647692;

// Exponential moving average step: alpha * x + (1 - alpha) * prev.
template <typename T>
FF_HD T ema_step(T x, T prev, T alpha) {
  return alpha * x + (T(1) - alpha) * prev;
}

// Adaptive EMA gain: clip(alpha * (1 + motion / motion_scale), alpha, 1).
template <typename T>
FF_HD T adaptive_alpha(T alpha, T motion, T motion_scale) {
  T a = alpha * (T(1) + motion / motion_scale);
  a = a < alpha ? alpha : a;
  return a > T(1) ? T(1) : a;
}

// One Euro smoothing factor for a cutoff (Hz) at a sampling rate (Hz):
// alpha = 1 / (1 + tau / Te), tau = 1 / (2 pi cutoff), Te = 1 / rate.
template <typename T>
FF_HD T one_euro_alpha(T cutoff, T rate) {
  const T tau = T(1) / (T(kTwoPi) * cutoff);
  return T(1) / (T(1) + tau * rate);
}

// One Euro step (Casiez et al. 2012) for one coordinate. `y`, `dy`: the
// previous filtered value and filtered derivative, updated in place. `ad` is
// the derivative filter's smoothing factor one_euro_alpha(d_cutoff, rate)
// (constant per frame, so callers hoist it). The value filter's factor
// 1 / (1 + tau * rate) is evaluated as 2 pi fc / (2 pi fc + rate): one division.
template <typename T>
FF_HD void one_euro_step(T x, T& y, T& dy, T rate, T ad, T min_cutoff, T beta) {
  const T dx = (x - y) * rate;
  dy = ad * dx + (T(1) - ad) * dy;
  const T w = T(kTwoPi) * (min_cutoff + beta * std::fabs(dy));
  const T a = w / (w + rate);
  y = a * x + (T(1) - a) * y;
}

// Angle to [-pi, pi).
template <typename T>
FF_HD T wrap_angle(T a) {
  return a - T(kTwoPi) * std::floor((a + T(kPi)) / T(kTwoPi));
}

// Alpha-beta (constant-velocity) filter step for one pose parameter given the
// predicted value `pred` and the measurement `z`: value = pred + a e,
// velocity += b e * rate, with e = z - pred (already wrapped for angles).
template <typename T>
FF_HD void alpha_beta_correct(T pred, T e, T& value, T& vel, T a, T b, T rate) {
  value = pred + a * e;
  vel = vel + (b * rate) * e;
}

// Closed-form similarity from centred sums: saa = sum w |A|^2,
// sc = sum w A.B, ss = sum w A x B. Degenerate fits keep the predicted angle
// and scale. Returns true when the fit was well-posed.
template <typename T>
FF_HD bool similarity_solve(T saa, T sc, T ss, T theta_pred, T scale_pred, T& theta, T& scale) {
  const T hyp = std::hypot(sc, ss);
  if (saa <= T(1e-12) || hyp <= T(1e-12) * saa) {
    theta = theta_pred;
    scale = scale_pred;
    return false;
  }
  theta = std::atan2(ss, sc);
  scale = hyp / saa;
  return true;
}

// Forward pose: out = c + s R(theta) p, with cs = cos(theta), sn = sin(theta).
template <typename T>
FF_HD void pose_apply(T cx, T cy, T s, T cs, T sn, T px, T py, T& ox, T& oy) {
  ox = cx + s * (cs * px - sn * py);
  oy = cy + s * (sn * px + cs * py);
}

// Inverse pose: out = R(-theta) (q - c) / s, given inv_s = 1 / s.
template <typename T>
FF_HD void pose_invert(T cx, T cy, T inv_s, T cs, T sn, T qx, T qy, T& ox, T& oy) {
  const T dx = qx - cx, dy = qy - cy;
  ox = (cs * dx + sn * dy) * inv_s;
  oy = (-sn * dx + cs * dy) * inv_s;
}

// Clamp the 2-D innovation (dx, dy) to length <= maxlen (in place); the
// square root is only taken for the (rare) clamped points.
template <typename T>
FF_HD void clamp_innovation(T& dx, T& dy, T maxlen) {
  const T n2 = dx * dx + dy * dy;
  if (n2 > maxlen * maxlen) {
    const T k = maxlen / std::sqrt(n2);
    dx *= k;
    dy *= k;
  }
}

// ---- the per-track update -------------------------------------------------------
//
// One control flow for both smoothers: CpuLandmarkSmoother (cpp/src/smoothing.cpp)
// runs it on one thread per track, CudaLandmarkSmoother (cuda/smoothing.cu) on one
// thread block per track. The difference is the Team it is run by:
//   team.for_each(n, f)    f(i) once for every i in [0, n); iterations independent
//   team.sum(n, acc, f)    f(i, acc) adds row i's terms to acc[0..K), then acc holds
//                          the totals in every member (the CPU adds in index order)
//   team.leader()          true in the one member that writes the shared TrackState
//   team.sync()            barrier: the leader's writes are visible after it
//   team.median(r, scratch, n, guess)  exact median of r[0..n) (guess: last frame's)
// Every member calls every team function in the same order (branches only depend
// on team totals and the TrackState), so the block's barriers line up.

// A track's scalar state. No default member initialisers (a CUDA __shared__
// variable must not have a constructor): track_init sets a fresh track.
struct TrackState {
  int alive, has_t;
  double m_avg, last_t, rate, prev_med;
  double cx, cy, th, ls, vcx, vcy, vth, vls;  // pose (log scale ls) and velocities
};

FF_HD void track_init(TrackState& s) {
  s.alive = s.has_t = 0;
  s.m_avg = -1.0;
  s.last_t = s.rate = 0.0;
  s.prev_med = -1.0;
  s.cx = s.cy = s.th = s.ls = s.vcx = s.vcy = s.vth = s.vls = 0.0;
}

// A track's per-point state, carved from one block of kTrackDoubles * P doubles:
// raw, y, dy (2P each; y = S, dy = dS for pose_shape), pose_shape scratch r1 (2P), r2 (P).
constexpr int kTrackDoubles = 9;
struct TrackPoints {
  double *raw, *y, *dy, *r1, *r2;
};

FF_HD TrackPoints track_points(double* block, std::int64_t p) {
  return TrackPoints{block, block + 2 * p, block + 4 * p, block + 6 * p, block + 8 * p};
}

// What an update did to a track (the reset / new flags of the binding).
constexpr int kStepSmoothed = 0, kStepCut = 1, kStepNew = 2;

// std::max's choice (a < b ? b : a), spelled for device code too.
FF_HD double max_of(double a, double b) { return a < b ? b : a; }

// Sampling rate (Casiez: it changes only when both timestamps are known and t
// grows; a new track starts at freq) and the timestamp bookkeeping.
FF_HD void track_time(TrackState& s, const SmoothParams& prm, bool has_t, double t) {
  if (!s.alive || !has_t)
    s.rate = prm.freq;
  else if (s.has_t && t > s.last_t)
    s.rate = 1.0 / (t - s.last_t);
  s.has_t = has_t;
  s.last_t = t;
}

// (Re)start a track from observation x (P points); the leader sets the pose.
template <class Team>
FF_HD void track_start(Team& team, TrackState& st, SmoothMethod method, const float* x, std::int64_t p,
                       const TrackPoints& q) {
  team.for_each(2 * p, [&](std::int64_t k) {
    q.raw[k] = static_cast<double>(x[k]);
    q.dy[k] = 0.0;
  });
  if (method == SmoothMethod::PoseShape) {
    double m[2] = {0, 0};
    team.sum(p, m, [&](std::int64_t i, double(&a)[2]) {
      a[0] += static_cast<double>(x[2 * i]);
      a[1] += static_cast<double>(x[2 * i + 1]);
    });
    const double mx = m[0] / static_cast<double>(p), my = m[1] / static_cast<double>(p);
    team.for_each(p, [&](std::int64_t i) {
      q.y[2 * i] = static_cast<double>(x[2 * i]) - mx;
      q.y[2 * i + 1] = static_cast<double>(x[2 * i + 1]) - my;
    });
    if (team.leader()) {
      st.cx = mx;
      st.cy = my;
      st.th = st.ls = st.vcx = st.vcy = st.vth = st.vls = 0.0;
      st.prev_med = -1.0;
    }
  } else {
    team.for_each(2 * p, [&](std::int64_t k) { q.y[k] = static_cast<double>(x[k]); });
  }
  if (team.leader()) st.alive = 1;
}

struct SimilarityFit {
  double cx, cy, s, th;
};

// Weighted least-squares similarity x ~ c + s R(th) S (w == nullptr: all ones).
template <class Team>
FF_HD SimilarityFit fit_similarity(Team& team, const double* S, const float* x, const double* w, std::int64_t p,
                                   double th_p, double s_p) {
  double a[5] = {0, 0, 0, 0, 0};  // sum w, then w-weighted S_x, S_y, x_x, x_y
  team.sum(p, a, [&](std::int64_t i, double(&v)[5]) {
    const double wi = w ? w[i] : 1.0;
    v[0] += wi;
    v[1] += wi * S[2 * i];
    v[2] += wi * S[2 * i + 1];
    v[3] += wi * x[2 * i];
    v[4] += wi * x[2 * i + 1];
  });
  const double msx = a[1] / a[0], msy = a[2] / a[0], mxx = a[3] / a[0], mxy = a[4] / a[0];
  double b[3] = {0, 0, 0};  // saa, sc, ss
  team.sum(p, b, [&](std::int64_t i, double(&v)[3]) {
    const double wi = w ? w[i] : 1.0;
    const double ax = S[2 * i] - msx, ay = S[2 * i + 1] - msy;
    const double bx = x[2 * i] - mxx, by = x[2 * i + 1] - mxy;
    v[0] += wi * (ax * ax + ay * ay);
    v[1] += wi * (ax * bx + ay * by);
    v[2] += wi * (ax * by - ay * bx);
  });
  SimilarityFit f;
  similarity_solve(b[0], b[1], b[2], th_p, s_p, f.th, f.s);
  const double cs = std::cos(f.th), sn = std::sin(f.th);
  f.cx = mxx - f.s * (cs * msx - sn * msy);
  f.cy = mxy - f.s * (sn * msx + cs * msy);
  return f;
}

// The pose_shape update: predict the pose, measure it robustly (fit, residual
// median, inlier refit), alpha-beta filter it, One Euro the clamped shape in the
// measured pose frame and compose the output with the filtered pose.
template <class Team>
FF_HD void pose_shape_step(Team& team, TrackState& st, const SmoothParams& prm, const float* x, double size,
                           std::int64_t p, const TrackPoints& q, float* out) {
  const double rate = st.rate;
  const double dt = 1.0 / rate;
  double* S = q.y;
  double* dS = q.dy;
  double* r = q.r1;
  double* w = q.r2;
  // 1. predict
  const double cxp = st.cx + st.vcx * dt, cyp = st.cy + st.vcy * dt;
  const double thp = st.th + st.vth * dt, lsp = st.ls + st.vls * dt;
  const double sp = std::exp(lsp);
  // 2. robust similarity measurement
  SimilarityFit f = fit_similarity(team, S, x, static_cast<const double*>(nullptr), p, thp, sp);
  {
    const double cs = std::cos(f.th), sn = std::sin(f.th), fcx = f.cx, fcy = f.cy, fs = f.s;
    team.for_each(p, [&](std::int64_t i) {
      double fx, fy;
      pose_apply(fcx, fcy, fs, cs, sn, S[2 * i], S[2 * i + 1], fx, fy);
      const double ex = x[2 * i] - fx, ey = x[2 * i + 1] - fy;
      r[i] = std::sqrt(ex * ex + ey * ey);
    });
    team.sync();
    const double med = team.median(r, w, p, st.prev_med);
    const double thr = max_of(prm.outlier_k * med, 1e-3 * size);
    team.for_each(p, [&](std::int64_t i) { w[i] = r[i] <= thr ? 1.0 : 0.0; });
    team.sync();
    if (team.leader()) st.prev_med = med;
  }
  f = fit_similarity(team, S, x, static_cast<const double*>(w), p, thp, sp);
  // 3. alpha-beta pose filter
  if (team.leader()) {
    const double a = prm.pose_alpha, b = prm.pose_beta;
    alpha_beta_correct(cxp, f.cx - cxp, st.cx, st.vcx, a, b, rate);
    alpha_beta_correct(cyp, f.cy - cyp, st.cy, st.vcy, a, b, rate);
    alpha_beta_correct(thp, wrap_angle(f.th - thp), st.th, st.vth, a, b, rate);
    alpha_beta_correct(lsp, std::log(f.s) - lsp, st.ls, st.vls, a, b, rate);
  }
  team.sync();
  // 4-5. shape in the measured pose frame, clamped, One Euro; compose the output
  const double mcs = std::cos(f.th), msn = std::sin(f.th), minv = 1.0 / f.s;
  const double ocs = std::cos(st.th), osn = std::sin(st.th), os = std::exp(st.ls);
  const double ad = one_euro_alpha(prm.shape_d_cutoff, rate);
  const double mc = prm.shape_min_cutoff, be = prm.shape_beta, clamp = prm.shape_clamp;
  const double fcx = f.cx, fcy = f.cy, tcx = st.cx, tcy = st.cy;
  double* z = q.r1;  // the clamped shape measurement (2P), then one vectorisable One Euro pass
  team.for_each(p, [&](std::int64_t i) {
    double zx, zy;
    pose_invert(fcx, fcy, minv, mcs, msn, static_cast<double>(x[2 * i]), static_cast<double>(x[2 * i + 1]), zx, zy);
    const double sx = S[2 * i], sy = S[2 * i + 1];
    double dx = zx - sx, dy = zy - sy;
    clamp_innovation(dx, dy, clamp);
    z[2 * i] = sx + dx;
    z[2 * i + 1] = sy + dy;
  });
  team.sync();
  team.for_each(2 * p, [&](std::int64_t k) { one_euro_step(z[k], S[k], dS[k], rate, ad, mc, be); });
  team.sync();
  team.for_each(p, [&](std::int64_t i) {
    double ox, oy;
    pose_apply(tcx, tcy, os, ocs, osn, S[2 * i], S[2 * i + 1], ox, oy);
    out[2 * i] = static_cast<float>(ox);
    out[2 * i + 1] = static_cast<float>(oy);
  });
}

// The per-method update of a live track that was not cut.
template <class Team>
FF_HD void method_step(Team& team, TrackState& st, SmoothMethod method, const SmoothParams& prm, const float* x,
                       double size, std::int64_t p, const TrackPoints& q, float* out) {
  const double rate = st.rate;
  double* y = q.y;
  double* dy = q.dy;
  if (method == SmoothMethod::Ema || method == SmoothMethod::AdaptiveEma) {
    double a = prm.alpha;
    if (method == SmoothMethod::AdaptiveEma) {
      double ms[1] = {0};
      team.sum(p, ms, [&](std::int64_t i, double(&v)[1]) {
        const double ex = x[2 * i] - y[2 * i], ey = x[2 * i + 1] - y[2 * i + 1];
        v[0] += std::sqrt(ex * ex + ey * ey);
      });
      a = adaptive_alpha(prm.alpha, ms[0] / static_cast<double>(p) / size, prm.motion_scale);
    }
    team.for_each(2 * p, [&](std::int64_t k) {
      y[k] = ema_step(static_cast<double>(x[k]), y[k], a);
      out[k] = static_cast<float>(y[k]);
    });
  } else if (method == SmoothMethod::OneEuro) {
    const double ad = one_euro_alpha(prm.d_cutoff, rate);
    const double mc = prm.min_cutoff, be = prm.beta;
    team.for_each(2 * p, [&](std::int64_t k) {
      one_euro_step(static_cast<double>(x[k]), y[k], dy[k], rate, ad, mc, be);
      out[k] = static_cast<float>(y[k]);
    });
  } else {
    pose_shape_step(team, st, prm, x, size, p, q, out);
  }
}

// One update of one track with observation x (P points, finite): a new track
// starts (output = input, kStepNew); a jump beyond the scene-cut threshold
// restarts it (kStepCut); otherwise the method's filter runs (kStepSmoothed).
template <class Team>
FF_HD int track_step(Team& team, TrackState& st, SmoothMethod method, const SmoothParams& prm, const float* x,
                     bool has_t, double t, std::int64_t p, const TrackPoints& q, float* out) {
  const bool fresh = !st.alive;
  team.sync();  // every member has read st.alive
  if (team.leader()) track_time(st, prm, has_t, t);
  team.sync();
  int code = kStepNew;
  if (!fresh) {
    // face size (RMS distance from the centroid, >= 1 px) and mean motion / size
    double m[2] = {0, 0};
    team.sum(p, m, [&](std::int64_t i, double(&v)[2]) {
      v[0] += x[2 * i];
      v[1] += x[2 * i + 1];
    });
    const double mx = m[0] / static_cast<double>(p), my = m[1] / static_cast<double>(p);
    double s[2] = {0, 0};  // squared spread, motion
    team.sum(p, s, [&](std::int64_t i, double(&v)[2]) {
      const double dx = x[2 * i] - mx, dy = x[2 * i + 1] - my;
      v[0] += dx * dx + dy * dy;
      const double ex = x[2 * i] - q.raw[2 * i], ey = x[2 * i + 1] - q.raw[2 * i + 1];
      v[1] += std::sqrt(ex * ex + ey * ey);
    });
    const double size = max_of(1.0, std::sqrt(s[0] / static_cast<double>(p)));
    const double mo = s[1] / static_cast<double>(p) / size;
    const bool cut = prm.auto_reset && mo > max_of(prm.cut_min, prm.cut_ratio * max_of(st.m_avg, 0.0));
    code = kStepCut;
    if (!cut) {
      team.sync();  // every member has read st.m_avg
      if (team.leader()) st.m_avg = st.m_avg < 0 ? mo : st.m_avg + prm.motion_rate * (mo - st.m_avg);
      team.for_each(2 * p, [&](std::int64_t k) { q.raw[k] = x[k]; });
      team.sync();
      method_step(team, st, method, prm, x, size, p, q, out);
      return kStepSmoothed;
    }
  }
  track_start(team, st, method, x, p, q);
  team.for_each(2 * p, [&](std::int64_t k) { out[k] = x[k]; });
  return code;
}

}  // namespace smoothing
}  // namespace facefuse
