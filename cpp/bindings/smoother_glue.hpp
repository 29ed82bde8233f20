// What the CPU and the CUDA LandmarkSmoother bindings share: the parameters
// (names, kinds, ranges, defaults), the host arguments of an update (track ids,
// timestamps), the update's locked state checks, and the track-keeping methods
// (reset, forget, track_ids, num_tracks, num_points). The smoothers themselves
// are CpuLandmarkSmoother (facefuse/smoothing.hpp) and CudaLandmarkSmoother
// (cuda/smoothing_cuda.hpp).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "checks.hpp"
#include "facefuse/smoothing_math.hpp"

namespace facefuse::bind {

constexpr const char* kSmootherCls = "LandmarkSmoother";
constexpr const char* kSmootherUpd = "LandmarkSmoother.update";

struct SmoothParamSpec {
  const char* name;
  char kind;  // 'f' float, 'b' bool, 'i' int
  double SmoothParams::*fp;
  bool SmoothParams::*bp;
  std::int64_t SmoothParams::*ip;
};

inline const std::vector<SmoothParamSpec>& smooth_param_specs() {
  static const std::vector<SmoothParamSpec> specs = {
      {"freq", 'f', &SmoothParams::freq, nullptr, nullptr},
      {"auto_reset", 'b', nullptr, &SmoothParams::auto_reset, nullptr},
      {"cut_ratio", 'f', &SmoothParams::cut_ratio, nullptr, nullptr},
      {"cut_min", 'f', &SmoothParams::cut_min, nullptr, nullptr},
      {"motion_rate", 'f', &SmoothParams::motion_rate, nullptr, nullptr},
      {"max_age", 'i', nullptr, nullptr, &SmoothParams::max_age},
      {"alpha", 'f', &SmoothParams::alpha, nullptr, nullptr},
      {"motion_scale", 'f', &SmoothParams::motion_scale, nullptr, nullptr},
      {"min_cutoff", 'f', &SmoothParams::min_cutoff, nullptr, nullptr},
      {"beta", 'f', &SmoothParams::beta, nullptr, nullptr},
      {"d_cutoff", 'f', &SmoothParams::d_cutoff, nullptr, nullptr},
      {"pose_alpha", 'f', &SmoothParams::pose_alpha, nullptr, nullptr},
      {"pose_beta", 'f', &SmoothParams::pose_beta, nullptr, nullptr},
      {"shape_min_cutoff", 'f', &SmoothParams::shape_min_cutoff, nullptr, nullptr},
      {"shape_beta", 'f', &SmoothParams::shape_beta, nullptr, nullptr},
      {"shape_d_cutoff", 'f', &SmoothParams::shape_d_cutoff, nullptr, nullptr},
      {"shape_clamp", 'f', &SmoothParams::shape_clamp, nullptr, nullptr},
      {"outlier_k", 'f', &SmoothParams::outlier_k, nullptr, nullptr},
  };
  return specs;
}

// Parameters each method accepts (the common ones first).
inline std::vector<std::string> smooth_param_names(SmoothMethod m) {
  std::vector<std::string> v = {"freq", "auto_reset", "cut_ratio", "cut_min", "motion_rate", "max_age"};
  switch (m) {
    case SmoothMethod::Ema: v.insert(v.end(), {"alpha"}); break;
    case SmoothMethod::AdaptiveEma: v.insert(v.end(), {"alpha", "motion_scale"}); break;
    case SmoothMethod::OneEuro: v.insert(v.end(), {"min_cutoff", "beta", "d_cutoff"}); break;
    case SmoothMethod::PoseShape:
      v.insert(v.end(), {"pose_alpha", "pose_beta", "shape_min_cutoff", "shape_beta", "shape_d_cutoff",
                         "shape_clamp", "outlier_k"});
      break;
  }
  return v;
}

inline void need_param(bool ok, const char* name, const std::string& what, double v) {
  if (!ok) value_error(kSmootherCls, name, "must be " + what + ", got " + float_str(v));
}

// A real number (Python int/float, NumPy scalar); false for anything else.
inline bool param_number(py::handle v, double& out) {
  if (!PyNumber_Check(v.ptr()) || PyComplex_Check(v.ptr())) return false;
  const double d = PyFloat_AsDouble(v.ptr());
  if (d == -1.0 && PyErr_Occurred()) {
    PyErr_Clear();
    return false;
  }
  out = d;
  return true;
}

// The method's parameters from keyword arguments (unknown names: TypeError; values
// of the wrong kind: TypeError; out of range: ValueError); the rest keep their defaults.
inline SmoothParams smooth_params(SmoothMethod m, const py::dict& kw) {
  SmoothParams p;
  const auto ok_names = smooth_param_names(m);
  for (auto item : kw) {
    const std::string key = py::str(item.first);
    bool ok = false;
    for (const auto& n : ok_names) ok = ok || n == key;
    if (!ok)
      throw ArgError(true, std::string(kSmootherCls) + ": unexpected parameter '" + key + "' for method '" +
                               smooth_method_name(m) + "'");
    for (const auto& s : smooth_param_specs()) {
      if (key != s.name) continue;
      py::handle v = item.second;
      double d;
      if (s.kind == 'b') {
        if (!py::isinstance<py::bool_>(v) && !py::isinstance<py::int_>(v))
          type_error(kSmootherCls, s.name, "a bool", type_name(v));
        p.*(s.bp) = v.cast<bool>();
      } else if (s.kind == 'i') {
        if (!param_number(v, d)) type_error(kSmootherCls, s.name, "an integer", type_name(v));
        need_param(std::isfinite(d) && d >= 0 && d == std::floor(d) && d < 9e15, s.name, "an integer >= 0", d);
        p.*(s.ip) = static_cast<std::int64_t>(d);
      } else {
        if (!param_number(v, d)) type_error(kSmootherCls, s.name, "a number", type_name(v));
        need_param(std::isfinite(d), s.name, "finite", d);
        p.*(s.fp) = d;
      }
    }
  }
  need_param(p.freq > 0, "freq", "> 0", p.freq);
  need_param(p.cut_ratio > 0, "cut_ratio", "> 0", p.cut_ratio);
  need_param(p.cut_min >= 0, "cut_min", ">= 0", p.cut_min);
  need_param(p.motion_rate > 0 && p.motion_rate <= 1, "motion_rate", "in (0, 1]", p.motion_rate);
  need_param(p.alpha > 0 && p.alpha <= 1, "alpha", "in (0, 1]", p.alpha);
  need_param(p.motion_scale > 0, "motion_scale", "> 0", p.motion_scale);
  need_param(p.min_cutoff > 0, "min_cutoff", "> 0", p.min_cutoff);
  need_param(p.beta >= 0, "beta", ">= 0", p.beta);
  need_param(p.d_cutoff > 0, "d_cutoff", "> 0", p.d_cutoff);
  need_param(p.pose_alpha > 0 && p.pose_alpha <= 1, "pose_alpha", "in (0, 1]", p.pose_alpha);
  need_param(p.pose_beta >= 0 && p.pose_beta <= 1, "pose_beta", "in [0, 1]", p.pose_beta);
  need_param(p.shape_min_cutoff > 0, "shape_min_cutoff", "> 0", p.shape_min_cutoff);
  need_param(p.shape_beta >= 0, "shape_beta", ">= 0", p.shape_beta);
  need_param(p.shape_d_cutoff > 0, "shape_d_cutoff", "> 0", p.shape_d_cutoff);
  need_param(p.shape_clamp > 0, "shape_clamp", "> 0", p.shape_clamp);
  need_param(p.outlier_k >= 1, "outlier_k", ">= 1", p.outlier_k);
  return p;
}

// The method's effective parameters as a dict (the names smooth_params takes).
inline py::dict smooth_params_dict(SmoothMethod m, const SmoothParams& p) {
  py::dict d;
  for (const auto& name : smooth_param_names(m))
    for (const auto& spec : smooth_param_specs()) {
      if (name != spec.name) continue;
      if (spec.kind == 'b') d[spec.name] = p.*(spec.bp);
      else if (spec.kind == 'i') d[spec.name] = p.*(spec.ip);
      else d[spec.name] = p.*(spec.fp);
    }
  return d;
}

// The host arguments of an update of n rows: int64 track ids (N distinct) and the
// timestamps (nullptr for None: the fixed rate).
struct UpdateHostArgs {
  py::array_t<std::int64_t, py::array::c_style> ids;
  py::array_t<double, py::array::c_style> ts;
  const double* t = nullptr;
};

inline UpdateHostArgs update_host_args(const py::handle& ids_obj, const py::handle& t_obj, std::int64_t n) {
  UpdateHostArgs a;
  const py::array raw = as_array(ids_obj, kSmootherUpd, "track_ids");
  a.ids = id_array(raw, kSmootherUpd, "track_ids");
  distinct_ids_contract(kSmootherUpd, desc(raw), a.ids.data(), a.ids.size(), n);
  if (!t_obj.is_none()) {
    const py::array ta = as_array(t_obj, kSmootherUpd, "t");
    timestamps_contract(kSmootherUpd, desc(ta), n);
    a.ts = contiguous<double>(ta);
    a.t = a.ts.data();
    if (!all_finite(a.t, static_cast<std::size_t>(n))) value_error(kSmootherUpd, "t", "must be finite (no NaN/inf)");
  }
  return a;
}

// Under the smoother's lock (taken with the GIL released, so a thread waiting for
// the lock never holds the GIL): the checks on its state, then `run`.
template <class Smoother, class Run>
void locked_update(Smoother& sm, std::mutex& mu, const ArrayDesc& lm, const LandmarkShape& s,
                   const UpdateHostArgs& a, Run run) {
  py::gil_scoped_release release;
  std::lock_guard<std::mutex> lock(mu);
  update_state_contract(kSmootherUpd, sm, lm, s, a.ids.data(), a.t);
  run();
}

// reset / forget / track_ids / num_tracks / num_points of a binding class whose
// Handle has smoother() and mutex().
template <class Handle>
void bind_track_methods(py::class_<Handle>& cls) {
  cls.def(
         "reset",
         [](Handle& self, const py::object& ids) {
           if (ids.is_none()) {
             py::gil_scoped_release release;
             std::lock_guard<std::mutex> lock(self.mutex());
             self.smoother().reset_all();
             return;
           }
           auto a = id_array(ids, "LandmarkSmoother.reset", "ids");
           py::gil_scoped_release release;
           std::lock_guard<std::mutex> lock(self.mutex());
           self.smoother().reset(a.data(), a.size());
         },
         py::arg("ids") = py::none(), "Restart tracks (all when ids is None; that also frees P).")
      .def(
          "forget",
          [](Handle& self, const py::object& ids) {
            auto a = id_array(ids, "LandmarkSmoother.forget", "ids");
            py::gil_scoped_release release;
            std::lock_guard<std::mutex> lock(self.mutex());
            self.smoother().forget(a.data(), a.size());
          },
          py::arg("ids"), "Drop tracks (unknown ids are ignored).")
      .def("track_ids",
           [](Handle& self) {
             std::vector<std::int64_t> v;
             {
               py::gil_scoped_release release;
               std::lock_guard<std::mutex> lock(self.mutex());
               v = self.smoother().track_ids();
             }
             py::array_t<std::int64_t> a(std::vector<py::ssize_t>{static_cast<py::ssize_t>(v.size())});
             if (!v.empty()) std::memcpy(a.mutable_data(), v.data(), v.size() * sizeof(std::int64_t));
             return a;
           })
      .def_property_readonly("num_tracks",
                             [](Handle& self) {
                               py::gil_scoped_release release;
                               std::lock_guard<std::mutex> lock(self.mutex());
                               return self.smoother().num_tracks();
                             })
      .def_property_readonly("num_points", [](Handle& self) -> py::object {
        std::int64_t n;
        {
          py::gil_scoped_release release;
          std::lock_guard<std::mutex> lock(self.mutex());
          n = self.smoother().num_points();
        }
        if (n < 0) return py::none();
        return py::int_(n);
      });
}

}  // namespace facefuse::bind
