// Bindings for the smoothing op family: _core.LandmarkSmoother (batched tracks).
#include "facefuse/smoothing.hpp"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "checks.hpp"

namespace py = pybind11;

namespace facefuse::bind {

namespace {

constexpr const char* kCls = "LandmarkSmoother";
constexpr const char* kUpd = "LandmarkSmoother.update";

struct ParamSpec {
  const char* name;
  char kind;  // 'f' float, 'b' bool, 'i' int
  double SmoothParams::*fp;
  bool SmoothParams::*bp;
  std::int64_t SmoothParams::*ip;
};

const std::vector<ParamSpec>& all_specs() {
  static const std::vector<ParamSpec> specs = {
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
std::vector<std::string> allowed(SmoothMethod m) {
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

SmoothMethod parse_method(const std::string& s) {
  if (s == "pose_shape") return SmoothMethod::PoseShape;
  if (s == "ema") return SmoothMethod::Ema;
  if (s == "adaptive_ema") return SmoothMethod::AdaptiveEma;
  if (s == "one_euro") return SmoothMethod::OneEuro;
  value_error(kCls, "method", "must be one of 'pose_shape', 'ema', 'adaptive_ema', 'one_euro', got '" + s + "'");
}

const char* method_name(SmoothMethod m) {
  switch (m) {
    case SmoothMethod::PoseShape: return "pose_shape";
    case SmoothMethod::Ema: return "ema";
    case SmoothMethod::AdaptiveEma: return "adaptive_ema";
    case SmoothMethod::OneEuro: return "one_euro";
  }
  return "?";
}

void need(bool ok, const char* name, const std::string& what, double v) {
  if (!ok) value_error(kCls, name, "must be " + what + ", got " + std::string(py::str(py::float_(v))));
}

// A real number (Python int/float, NumPy scalar); false for anything else.
bool number(py::handle v, double& out) {
  if (!PyNumber_Check(v.ptr()) || PyComplex_Check(v.ptr())) return false;
  const double d = PyFloat_AsDouble(v.ptr());
  if (d == -1.0 && PyErr_Occurred()) {
    PyErr_Clear();
    return false;
  }
  out = d;
  return true;
}

SmoothParams parse_params(SmoothMethod m, const py::kwargs& kw) {
  SmoothParams p;
  const auto ok_names = allowed(m);
  for (auto item : kw) {
    const std::string key = py::str(item.first);
    bool ok = false;
    for (const auto& n : ok_names) ok = ok || n == key;
    if (!ok) throw py::type_error(std::string(kCls) + ": unexpected parameter '" + key + "' for method '" +
                                  method_name(m) + "'");
    for (const auto& s : all_specs()) {
      if (key != s.name) continue;
      py::handle v = item.second;
      if (s.kind == 'b') {
        if (!py::isinstance<py::bool_>(v) && !py::isinstance<py::int_>(v))
          type_error(kCls, s.name, "a bool", type_name(v));
        p.*(s.bp) = v.cast<bool>();
      } else if (s.kind == 'i') {
        double d;
        if (!number(v, d))
          type_error(kCls, s.name, "an integer", type_name(v));
        need(std::isfinite(d) && d >= 0 && d == std::floor(d) && d < 9e15, s.name, "an integer >= 0", d);
        p.*(s.ip) = static_cast<std::int64_t>(d);
      } else {
        double d;
        if (!number(v, d))
          type_error(kCls, s.name, "a number", type_name(v));
        need(std::isfinite(d), s.name, "finite", d);
        p.*(s.fp) = d;
      }
    }
  }
  need(p.freq > 0, "freq", "> 0", p.freq);
  need(p.cut_ratio > 0, "cut_ratio", "> 0", p.cut_ratio);
  need(p.cut_min >= 0, "cut_min", ">= 0", p.cut_min);
  need(p.motion_rate > 0 && p.motion_rate <= 1, "motion_rate", "in (0, 1]", p.motion_rate);
  need(p.alpha > 0 && p.alpha <= 1, "alpha", "in (0, 1]", p.alpha);
  need(p.motion_scale > 0, "motion_scale", "> 0", p.motion_scale);
  need(p.min_cutoff > 0, "min_cutoff", "> 0", p.min_cutoff);
  need(p.beta >= 0, "beta", ">= 0", p.beta);
  need(p.d_cutoff > 0, "d_cutoff", "> 0", p.d_cutoff);
  need(p.pose_alpha > 0 && p.pose_alpha <= 1, "pose_alpha", "in (0, 1]", p.pose_alpha);
  need(p.pose_beta >= 0 && p.pose_beta <= 1, "pose_beta", "in [0, 1]", p.pose_beta);
  need(p.shape_min_cutoff > 0, "shape_min_cutoff", "> 0", p.shape_min_cutoff);
  need(p.shape_beta >= 0, "shape_beta", ">= 0", p.shape_beta);
  need(p.shape_d_cutoff > 0, "shape_d_cutoff", "> 0", p.shape_d_cutoff);
  need(p.shape_clamp > 0, "shape_clamp", "> 0", p.shape_clamp);
  need(p.outlier_k >= 1, "outlier_k", ">= 1", p.outlier_k);
  return p;
}

py::dict params_dict(const CpuLandmarkSmoother& s) {
  py::dict d;
  const SmoothParams& p = s.params();
  for (const auto& name : allowed(s.method()))
    for (const auto& spec : all_specs()) {
      if (name != spec.name) continue;
      if (spec.kind == 'b') d[spec.name] = p.*(spec.bp);
      else if (spec.kind == 'i') d[spec.name] = p.*(spec.ip);
      else d[spec.name] = p.*(spec.fp);
    }
  return d;
}

// An int64 1-D id array (ints of any width are accepted here too).
py::array_t<std::int64_t, py::array::c_style> id_array(const py::handle& obj, const char* fn, const char* arg) {
  py::array a = as_array(obj, fn, arg);
  if (a.dtype().kind() != 'i' && a.dtype().kind() != 'u')
    type_error(fn, arg, "an integer array of track ids", describe(a));
  if (a.ndim() > 1) value_error(fn, arg, "must be 1-D (N,), got " + describe(a));
  return py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(a.attr("reshape")(-1));
}

struct PySmoother {
  std::unique_ptr<CpuLandmarkSmoother> core;
  py::array_t<bool> last_reset{std::vector<py::ssize_t>{0}};
  py::array_t<bool> last_new{std::vector<py::ssize_t>{0}};
};

py::array_t<float> do_update(PySmoother& self, const py::handle& lm_obj, const py::handle& ids_obj,
                             const py::handle& t_obj) {
  py::array lm = as_array(lm_obj, kUpd, "landmarks");
  if (!is_dtype<float>(lm)) type_error(kUpd, "landmarks", "float32 N x P x 2", describe(lm));
  if (lm.ndim() != 3 || lm.shape(2) != 2) value_error(kUpd, "landmarks", "must be float32 N x P x 2, got " + describe(lm));
  const std::int64_t n = lm.shape(0), p = lm.shape(1);
  if (n > 0 && p < 1) value_error(kUpd, "landmarks", "must have P >= 1 points, got " + describe(lm));
  CpuLandmarkSmoother& core = *self.core;
  auto lmc = contiguous<float>(lm);
  if (!all_finite(lmc.data(), static_cast<std::size_t>(lmc.size())))
    value_error(kUpd, "landmarks", "must be finite (no NaN/inf)");

  py::array ids_raw = as_array(ids_obj, kUpd, "track_ids");
  auto ids = id_array(ids_raw, kUpd, "track_ids");
  if (ids.size() != n)
    value_error(kUpd, "track_ids", "must have N=" + std::to_string(n) + " entries, got " + describe(ids_raw));
  const std::int64_t* idp = ids.data();
  {
    std::unordered_set<std::int64_t> seen;
    seen.reserve(static_cast<std::size_t>(n) * 2);
    for (std::int64_t i = 0; i < n; ++i)
      if (!seen.insert(idp[i]).second)
        value_error(kUpd, "track_ids", "must not repeat an id within one update (id " + std::to_string(idp[i]) + ")");
  }
  py::array_t<double, py::array::c_style> ts;
  const double* tp = nullptr;
  if (!t_obj.is_none()) {
    py::array ta = as_array(t_obj, kUpd, "t");
    if (!is_dtype<double>(ta)) type_error(kUpd, "t", "float64 (N,) timestamps in seconds or None", describe(ta));
    if (ta.ndim() != 1 || ta.shape(0) != n)
      value_error(kUpd, "t", "must be float64 (N,) with N=" + std::to_string(n) + ", got " + describe(ta));
    ts = contiguous<double>(ta);
    tp = ts.data();
    if (!all_finite(tp, static_cast<std::size_t>(n))) value_error(kUpd, "t", "must be finite (no NaN/inf)");
  }

  py::array_t<float> out(std::vector<py::ssize_t>{n, p, 2});
  py::array_t<bool> rflags(std::vector<py::ssize_t>{n});
  py::array_t<bool> nflags(std::vector<py::ssize_t>{n});
  float* op = out.mutable_data();
  auto* rp = reinterpret_cast<std::uint8_t*>(rflags.mutable_data());
  auto* np_ = reinterpret_cast<std::uint8_t*>(nflags.mutable_data());
  const float* lp = lmc.data();
  std::int64_t bad = -1, fixed_p = -1;
  {
    // The points-per-face check reads state another thread's update may set:
    // it is made under the same lock as the update it guards.
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(core.mutex());
    if (n > 0 && core.num_points() >= 0 && p != core.num_points()) {
      fixed_p = core.num_points();
    } else {
      bad = core.first_decreasing_timestamp(idp, tp, n);
      if (bad < 0) core.update(lp, idp, tp, n, p, op, rp, np_);
    }
  }
  if (fixed_p >= 0)
    value_error(kUpd, "landmarks",
                "must have P=" + std::to_string(fixed_p) + " points per face (fixed by the first update), got " +
                    describe(lm));
  if (bad >= 0)
    value_error(kUpd, "t", "must not decrease along a track (id " + std::to_string(idp[bad]) + ")");
  self.last_reset = rflags;
  self.last_new = nflags;
  return out;
}

}  // namespace

void bind_smoothing(py::module_& m) {
  py::class_<PySmoother>(m, "LandmarkSmoother",
                         "Batched landmark temporal smoother (native core). Prefer facefuse.ops.LandmarkSmoother.")
      .def(py::init([](const std::string& method, py::kwargs kw) {
             const SmoothMethod mm = parse_method(method);
             auto s = std::make_unique<PySmoother>();
             s->core = std::make_unique<CpuLandmarkSmoother>(mm, parse_params(mm, kw));
             return s;
           }),
           py::arg("method") = "pose_shape")
      .def("update", &do_update, py::arg("landmarks"), py::arg("track_ids"), py::arg("t") = py::none(),
           "update(landmarks: float32 [N,P,2], track_ids: int64 [N], t: float64 [N] | None) -> float32 [N,P,2]")
      .def(
          "reset",
          [](PySmoother& self, const py::object& ids) {
            if (ids.is_none()) {
              py::gil_scoped_release release;
              std::lock_guard<std::mutex> lock(self.core->mutex());
              self.core->reset_all();
              return;
            }
            auto a = id_array(ids, "LandmarkSmoother.reset", "ids");
            std::lock_guard<std::mutex> lock(self.core->mutex());
            self.core->reset(a.data(), a.size());
          },
          py::arg("ids") = py::none(), "Restart tracks (all when ids is None; that also frees P).")
      .def(
          "forget",
          [](PySmoother& self, const py::object& ids) {
            auto a = id_array(ids, "LandmarkSmoother.forget", "ids");
            std::lock_guard<std::mutex> lock(self.core->mutex());
            self.core->forget(a.data(), a.size());
          },
          py::arg("ids"), "Drop tracks (unknown ids are ignored).")
      .def("track_ids",
           [](PySmoother& self) {
             std::lock_guard<std::mutex> lock(self.core->mutex());
             auto v = self.core->track_ids();
             py::array_t<std::int64_t> a(std::vector<py::ssize_t>{static_cast<py::ssize_t>(v.size())});
             if (!v.empty()) std::memcpy(a.mutable_data(), v.data(), v.size() * sizeof(std::int64_t));
             return a;
           })
      .def_property_readonly("num_tracks",
                             [](PySmoother& self) {
                               std::lock_guard<std::mutex> lock(self.core->mutex());
                               return self.core->num_tracks();
                             })
      .def_property_readonly("num_points",
                             [](PySmoother& self) -> py::object {
                               std::int64_t n;
                               {
                                 std::lock_guard<std::mutex> lock(self.core->mutex());
                                 n = self.core->num_points();
                               }
                               if (n < 0) return py::none();
                               return py::int_(n);
                             })
      .def_property_readonly("method", [](PySmoother& self) { return std::string(method_name(self.core->method())); })
      .def_property_readonly("params", [](PySmoother& self) { return params_dict(*self.core); })
      .def_property_readonly("last_reset", [](PySmoother& self) { return self.last_reset; })
      .def_property_readonly("last_new", [](PySmoother& self) { return self.last_new; });
}

}  // namespace facefuse::bind
