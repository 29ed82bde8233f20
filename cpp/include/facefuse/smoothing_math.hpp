// Per-landmark maths of the smoothing family: EMA, One Euro, similarity-pose
// pieces, alpha-beta filter. Plain inline templates (FF_HD) so the CPU loops and
// a later CUDA kernel share the same arithmetic. No containers, no exceptions.
#pragma once

#include <cmath>

#include "facefuse/common.hpp"

namespace facefuse {
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

}  // namespace smoothing
}  // namespace facefuse
