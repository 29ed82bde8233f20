// The contract of every op that has a CPU and a CUDA binding: blend_laplacian,
// bgr_to_lab, lab_to_bgr, color_transfer, tpsnr, tpsnr_sequence and
// LandmarkSmoother.update (see contract.hpp). Each returns the sizes the kernels
// launch with; what only one backend needs (finite values, the GPU's launch
// limits, C-contiguous device memory) stays in that backend's binding.
#pragma once

#include <charconv>
#include <climits>
#include <cmath>
#include <cstdint>
#include <string>
#include <unordered_set>

#include "contract.hpp"
#include "facefuse/smoothing_math.hpp"

namespace facefuse::bind {

// Python's repr of a float (shortest round trip), for messages.
inline std::string float_str(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

// ---- pyramid / poisson: a (dst, src, mask) blend ------------------------------------------

struct BlendShape {
  bool u8;       // else float32
  bool batched;  // N x H x W x C with an N x H x W mask
  int n, h, w, c;
};

// dst: uint8 or float32 H x W, H x W x 1 or H x W x 3 (with batch_ok also
// N x H x W x C when the mask is N x H x W), non-empty; src: dst's dtype and
// shape; mask: float32 H x W (N x H x W) matching dst.
inline BlendShape blend_contract(const char* fn, const ArrayDesc& dst, const ArrayDesc& src, const ArrayDesc& mask,
                                 bool batch_ok) {
  const std::string layout = std::string("an H x W, H x W x 1 or H x W x 3 frame") +
                             (batch_ok ? " (or an N x H x W x C batch with an N x H x W mask)" : "");
  BlendShape s;
  s.u8 = frame_dtype(dst, fn, "dst", layout.substr(3));
  s.batched = batch_ok && dst.ndim() == 4 && mask.ndim() == 3;
  if (dst.ndim() != 2 && dst.ndim() != 3 && !s.batched)
    value_error(fn, "dst", "must be " + layout + ", got " + dst.describe() +
                               (dst.ndim() == 4 && batch_ok ? " with a mask of shape " + mask.shape_str() : ""));
  const int lead = s.batched ? 1 : 0;
  s.c = dst.ndim() == 3 + lead ? static_cast<int>(dst.dim(-1)) : 1;
  if (s.c != 1 && s.c != 3)
    value_error(fn, "dst", "must have 1 or 3 channels (H x W, H x W x 1 or H x W x 3), got " + dst.describe());
  require_nonempty(dst, fn, "dst");
  if (!src.same_dtype(dst)) type_error(fn, "src", "a " + dst.dtype + " frame like dst", src.describe());
  if (!src.same_shape(dst))
    value_error(fn, "src", "must have dst's shape " + dst.shape_str() + ", got " + src.describe());
  const std::string mlayout = s.batched ? "N x H x W" : "H x W";
  if (!mask.is_f32() || mask.ndim() != 2 + lead)
    type_error(fn, "mask", "a float32 " + mlayout + " mask matching dst", mask.describe());
  for (int i = 0; i < 2 + lead; ++i)
    if (mask.dim(i) != dst.dim(i))
      value_error(fn, "mask", "must be float32 " + mlayout + " matching dst " + dst.shape_str() + ", got " +
                                  mask.describe());
  s.n = s.batched ? side(dst, 0, fn, "dst", INT_MAX) : 1;
  s.h = side(dst, lead, fn, "dst");
  s.w = side(dst, lead + 1, fn, "dst");
  return s;
}

// The number of bands asked for: an int >= 1 (pyr::clamp_levels caps it by the size).
inline long long levels_contract(const char* fn, long long levels) {
  if (levels < 1) value_error(fn, "levels", "must be >= 1, got " + std::to_string(levels));
  return levels;
}

// ---- colour -------------------------------------------------------------------------------

// H x W x 3 (or N x H x W x 3), non-empty.
inline void bgr_layout(const char* fn, const char* arg, const ArrayDesc& a, const char* what) {
  if ((a.ndim() != 3 && a.ndim() != 4) || a.dim(-1) != 3)
    value_error(fn, arg, std::string("must be an H x W x 3 (or N x H x W x 3) ") + what + " array, got " +
                             a.describe());
  require_nonempty(a, fn, arg);
}

// img: uint8 (value / 255) or float32 BGR; returns true for uint8.
inline bool bgr_to_lab_contract(const char* fn, const ArrayDesc& img) {
  const bool u8 = frame_dtype(img, fn, "img", "H x W x 3 BGR image");
  bgr_layout(fn, "img", img, "BGR");
  return u8;
}

inline void lab_to_bgr_contract(const char* fn, const ArrayDesc& lab) {
  if (!lab.is_f32()) type_error(fn, "lab", "a float32 H x W x 3 LAB image", lab.describe());
  bgr_layout(fn, "lab", lab, "float32 LAB");
}

struct TransferShape {
  bool u8;
  int n, n_ref;  // images of src; of ref (1: one reference for every src image)
  std::int64_t src_px, ref_px;
};

// src: uint8 or float32 (0..255) H x W x 3 or N x H x W x 3; ref: src's dtype,
// H' x W' x 3 or (src batched) N x H' x W' x 3; masks (nullptr: None): float32
// shaped as their image without the channel axis.
inline TransferShape transfer_contract(const char* fn, const ArrayDesc& src, const ArrayDesc& ref,
                                       const ArrayDesc* src_mask, const ArrayDesc* ref_mask) {
  TransferShape s;
  s.u8 = frame_dtype(src, fn, "src", "(0..255) H x W x 3 BGR image");
  if (!ref.same_dtype(src))
    type_error(fn, "ref", "an H x W x 3 BGR image of the same dtype as 'src' (" + src.dtype + ")", ref.describe());
  bgr_layout(fn, "src", src, "BGR");
  bgr_layout(fn, "ref", ref, "BGR");
  const bool batched = src.ndim() == 4;
  s.n = batched ? side(src, 0, fn, "src", INT_MAX) : 1;
  if (ref.ndim() == 4 && (!batched || ref.dim(0) != s.n))
    value_error(fn, "ref", "must be one H' x W' x 3 image or a batch of N=" + std::to_string(s.n) +
                               " (matching src), got " + ref.describe());
  s.n_ref = ref.ndim() == 4 ? s.n : 1;
  s.src_px = src.dim(-3) * src.dim(-2);
  s.ref_px = ref.dim(-3) * ref.dim(-2);
  const ArrayDesc* masks[2] = {src_mask, ref_mask};
  const ArrayDesc* imgs[2] = {&src, &ref};
  const char* names[2] = {"src_mask", "ref_mask"};
  const char* img_names[2] = {"src", "ref"};
  for (int k = 0; k < 2; ++k) {
    const ArrayDesc* m = masks[k];
    if (!m) continue;
    if (!m->is_f32())
      type_error(fn, names[k], std::string("a float32 H x W mask in [0, 1] matching '") + img_names[k] + "' or None",
                 m->describe());
    ArrayDesc want = *imgs[k];
    want.shape.pop_back();
    if (!m->same_shape(want))
      value_error(fn, names[k], std::string("must be a float32 mask matching '") + img_names[k] + "' " +
                                    want.shape_str() + ", got " + m->describe());
  }
  return s;
}

// A blend weight in [0, 1] (the caller checked it is a real number).
inline float strength_contract(const char* fn, double strength) {
  if (!(strength >= 0.0 && strength <= 1.0))
    value_error(fn, "strength", "must be in [0, 1], got " + float_str(strength));
  return static_cast<float>(strength);
}

// ---- quality ------------------------------------------------------------------------------

struct QualityFrame {
  bool u8;
  std::int64_t t, h, w;  // t: frames of a sequence (1 for a single frame)
  int c;
};

// uint8 / float32, H x W or H x W x C (C in {1, 3, 4}) after `lead` leading axes
// (1: a T x ... sequence, T >= 2), non-empty.
inline QualityFrame quality_frame_contract(const char* fn, const char* arg, const ArrayDesc& a, int lead) {
  const std::string layout = lead ? "T x H x W or T x H x W x C (C = 1, 3 or 4)" : "H x W or H x W x C (C = 1, 3 or 4)";
  QualityFrame f;
  f.u8 = frame_dtype(a, fn, arg, layout + " array");
  if (a.ndim() != 2 + lead && a.ndim() != 3 + lead) value_error(fn, arg, "must be " + layout + ", got " + a.describe());
  f.c = a.ndim() == 3 + lead ? static_cast<int>(a.dim(lead + 2)) : 1;
  if (f.c != 1 && f.c != 3 && f.c != 4) value_error(fn, arg, "must have 1, 3 or 4 channels, got " + a.describe());
  require_nonempty(a, fn, arg);
  f.t = lead ? a.dim(0) : 1;
  if (lead && f.t < 2) value_error(fn, arg, "must hold at least 2 frames (T >= 2), got " + a.describe());
  f.h = side(a, lead, fn, arg);
  f.w = side(a, lead + 1, fn, arg);
  return f;
}

// tpsnr's pair: cur has prev's dtype and shape.
inline QualityFrame tpsnr_contract(const char* fn, const ArrayDesc& prev, const ArrayDesc& cur) {
  const QualityFrame f = quality_frame_contract(fn, "prev", prev, 0);
  if (!cur.same_dtype(prev))
    type_error(fn, "cur", "an array with the dtype of 'prev' (" + prev.dtype + ")", cur.describe());
  if (!cur.same_shape(prev))
    value_error(fn, "cur", "must have the shape of 'prev' " + prev.shape_str() + ", got " + cur.describe());
  return f;
}

// The optional weights: float32 H x W matching the frames.
inline void quality_mask_contract(const char* fn, const ArrayDesc* mask, const QualityFrame& f) {
  if (!mask) return;
  const std::string expected = "a float32 H x W mask (0..1) matching the frames";
  if (!mask->is_f32()) type_error(fn, "mask", expected, mask->describe());
  if (mask->ndim() != 2 || mask->dim(0) != f.h || mask->dim(1) != f.w)
    value_error(fn, "mask", "must be " + expected + " (" + std::to_string(f.h) + ", " + std::to_string(f.w) +
                                "), got " + mask->describe());
}

// The mask's rule, read from a pair's sums: finite weights in [0, 1], not all 0.
inline void quality_sums_contract(const char* fn, bool has_mask, double weight_sum, double mask_min, double mask_max) {
  if (!has_mask) return;
  if (!std::isfinite(weight_sum) || !(mask_min >= 0.0) || !(mask_max <= 1.0))
    value_error(fn, "mask", "must hold finite values in [0, 1]");
  if (weight_sum <= 0.0) value_error(fn, "mask", "sums to 0: no pixel has a weight, so the PSNR is undefined");
}

// ---- smoothing ----------------------------------------------------------------------------

inline SmoothMethod smooth_method(const char* cls, const std::string& s) {
  if (s == "pose_shape") return SmoothMethod::PoseShape;
  if (s == "ema") return SmoothMethod::Ema;
  if (s == "adaptive_ema") return SmoothMethod::AdaptiveEma;
  if (s == "one_euro") return SmoothMethod::OneEuro;
  value_error(cls, "method", "must be one of 'pose_shape', 'ema', 'adaptive_ema', 'one_euro', got '" + s + "'");
}

inline const char* smooth_method_name(SmoothMethod m) {
  switch (m) {
    case SmoothMethod::PoseShape: return "pose_shape";
    case SmoothMethod::Ema: return "ema";
    case SmoothMethod::AdaptiveEma: return "adaptive_ema";
    case SmoothMethod::OneEuro: return "one_euro";
  }
  return "?";
}

struct LandmarkShape {
  std::int64_t n, p;
};

// landmarks: float32 N x P x 2, P >= 1 when N > 0.
inline LandmarkShape landmarks_contract(const char* fn, const ArrayDesc& lm) {
  if (!lm.is_f32()) type_error(fn, "landmarks", "float32 N x P x 2", lm.describe());
  if (lm.ndim() != 3 || lm.dim(2) != 2) value_error(fn, "landmarks", "must be float32 N x P x 2, got " + lm.describe());
  const LandmarkShape s{lm.dim(0), lm.dim(1)};
  if (s.n > 0 && s.p < 1) value_error(fn, "landmarks", "must have P >= 1 points, got " + lm.describe());
  if (s.n > INT_MAX || s.p > (1 << 28)) value_error(fn, "landmarks", "is too large, got " + lm.describe());
  return s;
}

// Track ids: integers, 1-D (a scalar is one id), N of them.
inline void track_ids_contract(const char* fn, const char* arg, const ArrayDesc& ids) {
  if (!ids.is_int()) type_error(fn, arg, "an integer array of track ids", ids.describe());
  if (ids.ndim() > 1) value_error(fn, arg, "must be 1-D (N,), got " + ids.describe());
}

// ids[0..n) as int64: N of them, none twice.
inline void distinct_ids_contract(const char* fn, const ArrayDesc& raw, const std::int64_t* ids, std::int64_t count,
                                  std::int64_t n) {
  if (count != n) value_error(fn, "track_ids", "must have N=" + std::to_string(n) + " entries, got " + raw.describe());
  std::unordered_set<std::int64_t> seen;
  seen.reserve(static_cast<std::size_t>(n) * 2);
  for (std::int64_t i = 0; i < n; ++i)
    if (!seen.insert(ids[i]).second)
      value_error(fn, "track_ids", "must not repeat an id within one update (id " + std::to_string(ids[i]) + ")");
}

// t (when not None): float64 (N,) timestamps; the binding checks they are finite.
inline void timestamps_contract(const char* fn, const ArrayDesc& t, std::int64_t n) {
  if (!t.is_f64()) type_error(fn, "t", "float64 (N,) timestamps in seconds or None", t.describe());
  if (t.ndim() != 1 || t.dim(0) != n)
    value_error(fn, "t", "must be float64 (N,) with N=" + std::to_string(n) + ", got " + t.describe());
}

// The update's rules on the smoother's state (checked under its lock): P is
// fixed by the first non-empty update, and time does not go back on a track.
template <class Smoother>
void update_state_contract(const char* fn, const Smoother& sm, const ArrayDesc& lm, const LandmarkShape& s,
                           const std::int64_t* ids, const double* t) {
  if (s.n > 0 && sm.num_points() >= 0 && s.p != sm.num_points())
    value_error(fn, "landmarks", "must have P=" + std::to_string(sm.num_points()) +
                                     " points per face (fixed by the first update), got " + lm.describe());
  const std::int64_t bad = sm.first_decreasing_timestamp(ids, t, s.n);
  if (bad >= 0) value_error(fn, "t", "must not decrease along a track (id " + std::to_string(ids[bad]) + ")");
}

}  // namespace facefuse::bind
