// Binding of the GPU landmark smoother (cuda/smoothing_cuda.hpp). The Python
// LandmarkSmoother validates its parameters with the CPU core and passes the
// effective parameter dict here; ids and timestamps are host (NumPy) arrays,
// landmarks / outputs device pointers.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>

#include "smoothing_cuda.hpp"

namespace py = pybind11;

namespace facefuse::cuda::bind {

namespace {

constexpr const char* kUpd = "LandmarkSmoother.update";

SmoothMethod parse_method(const std::string& s) {
  if (s == "pose_shape") return SmoothMethod::PoseShape;
  if (s == "ema") return SmoothMethod::Ema;
  if (s == "adaptive_ema") return SmoothMethod::AdaptiveEma;
  if (s == "one_euro") return SmoothMethod::OneEuro;
  throw py::value_error("LandmarkSmoother: argument 'method' must be one of 'pose_shape', 'ema', 'adaptive_ema', "
                        "'one_euro', got '" + s + "'");
}

SmoothParams parse_params(const py::dict& d) {
  SmoothParams p;
  struct F {
    const char* name;
    double SmoothParams::*f;
  };
  static const F fields[] = {{"freq", &SmoothParams::freq},
                             {"cut_ratio", &SmoothParams::cut_ratio},
                             {"cut_min", &SmoothParams::cut_min},
                             {"motion_rate", &SmoothParams::motion_rate},
                             {"alpha", &SmoothParams::alpha},
                             {"motion_scale", &SmoothParams::motion_scale},
                             {"min_cutoff", &SmoothParams::min_cutoff},
                             {"beta", &SmoothParams::beta},
                             {"d_cutoff", &SmoothParams::d_cutoff},
                             {"pose_alpha", &SmoothParams::pose_alpha},
                             {"pose_beta", &SmoothParams::pose_beta},
                             {"shape_min_cutoff", &SmoothParams::shape_min_cutoff},
                             {"shape_beta", &SmoothParams::shape_beta},
                             {"shape_d_cutoff", &SmoothParams::shape_d_cutoff},
                             {"shape_clamp", &SmoothParams::shape_clamp},
                             {"outlier_k", &SmoothParams::outlier_k}};
  for (auto item : d) {
    const std::string key = py::str(item.first);
    bool known = false;
    for (const F& f : fields)
      if (key == f.name) {
        p.*(f.f) = item.second.cast<double>();
        known = true;
      }
    if (key == "auto_reset") {
      p.auto_reset = item.second.cast<bool>();
      known = true;
    } else if (key == "max_age") {
      p.max_age = item.second.cast<std::int64_t>();
      known = true;
    }
    if (!known) throw py::type_error("LandmarkSmoother: unexpected parameter '" + key + "'");
  }
  return p;
}

struct PyCudaLandmarkSmoother {
  std::unique_ptr<CudaLandmarkSmoother> core;
  std::mutex mutex;
};

using IdArray = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;
using TArray = py::array_t<double, py::array::c_style | py::array::forcecast>;

}  // namespace

void bind_smoothing(py::module_& m) {
  py::class_<PyCudaLandmarkSmoother>(m, "LandmarkSmoother",
                             "GPU state of a facefuse.ops.LandmarkSmoother (use that class, not this one).")
      .def(py::init([](const std::string& method, const py::dict& params) {
             auto s = std::make_unique<PyCudaLandmarkSmoother>();
             s->core = std::make_unique<CudaLandmarkSmoother>(parse_method(method), parse_params(params));
             return s;
           }),
           py::arg("method"), py::arg("params"))
      .def(
          "update",
          [](PyCudaLandmarkSmoother& self, std::uintptr_t landmarks, long long n, long long p, const IdArray& ids,
             const py::object& t_obj, std::uintptr_t out, std::uintptr_t reset_flags, std::uintptr_t new_flags,
             int device, std::uintptr_t stream) {
            if (n < 0 || (n > 0 && p < 1))
              throw py::value_error(std::string(kUpd) + ": argument 'landmarks' must be N x P x 2 with P >= 1");
            if (n > 0 && (landmarks == 0 || out == 0 || reset_flags == 0 || new_flags == 0))
              throw py::value_error(std::string(kUpd) + ": null device pointer");
            if (ids.ndim() != 1 || ids.shape(0) != n)
              throw py::value_error(std::string(kUpd) + ": argument 'track_ids' must have N=" + std::to_string(n) +
                                    " entries");
            const std::int64_t* idp = ids.data();
            {
              std::unordered_set<std::int64_t> seen;
              for (long long i = 0; i < n; ++i)
                if (!seen.insert(idp[i]).second)
                  throw py::value_error(std::string(kUpd) +
                                        ": argument 'track_ids' must not repeat an id within one update (id " +
                                        std::to_string(idp[i]) + ")");
            }
            TArray ts;
            const double* tp = nullptr;
            if (!t_obj.is_none()) {
              ts = TArray::ensure(t_obj);
              if (!ts || ts.ndim() != 1 || ts.shape(0) != n)
                throw py::value_error(std::string(kUpd) + ": argument 't' must be float64 (N,) with N=" +
                                      std::to_string(n));
              tp = ts.data();
            }
            std::lock_guard<std::mutex> lock(self.mutex);
            if (n > 0 && self.core->num_points() >= 0 && p != self.core->num_points())
              throw py::value_error(std::string(kUpd) + ": argument 'landmarks' must have P=" +
                                    std::to_string(self.core->num_points()) +
                                    " points per face (fixed by the first update), got " + std::to_string(p));
            const std::int64_t bad = self.core->first_decreasing_timestamp(idp, tp, n);
            if (bad >= 0)
              throw py::value_error(std::string(kUpd) + ": argument 't' must not decrease along a track (id " +
                                    std::to_string(idp[bad]) + ")");
            py::gil_scoped_release nogil;
            self.core->update(reinterpret_cast<const float*>(landmarks), idp, tp, n, p,
                              reinterpret_cast<float*>(out), reinterpret_cast<std::uint8_t*>(reset_flags),
                              reinterpret_cast<std::uint8_t*>(new_flags), device,
                              reinterpret_cast<cudaStream_t>(stream));
          },
          py::arg("landmarks"), py::arg("n"), py::arg("p"), py::arg("track_ids"), py::arg("t"), py::arg("out"),
          py::arg("reset_flags"), py::arg("new_flags"), py::arg("device"), py::arg("stream"),
          "Enqueue one update of n tracks (device pointers; ids / t host arrays).")
      .def(
          "reset",
          [](PyCudaLandmarkSmoother& self, const py::object& ids) {
            std::lock_guard<std::mutex> lock(self.mutex);
            if (ids.is_none()) {
              py::gil_scoped_release nogil;
              self.core->reset_all();
              return;
            }
            IdArray a = IdArray::ensure(ids);
            self.core->reset(a.data(), a.size());
          },
          py::arg("ids") = py::none())
      .def(
          "forget",
          [](PyCudaLandmarkSmoother& self, const IdArray& ids) {
            std::lock_guard<std::mutex> lock(self.mutex);
            self.core->forget(ids.data(), ids.size());
          },
          py::arg("ids"))
      .def("track_ids",
           [](PyCudaLandmarkSmoother& self) {
             std::lock_guard<std::mutex> lock(self.mutex);
             auto v = self.core->track_ids();
             py::array_t<std::int64_t> a(std::vector<py::ssize_t>{static_cast<py::ssize_t>(v.size())});
             if (!v.empty()) std::memcpy(a.mutable_data(), v.data(), v.size() * sizeof(std::int64_t));
             return a;
           })
      .def_property_readonly("num_tracks", [](PyCudaLandmarkSmoother& self) { return self.core->num_tracks(); })
      .def_property_readonly("num_points", [](PyCudaLandmarkSmoother& self) -> py::object {
        const auto n = self.core->num_points();
        if (n < 0) return py::none();
        return py::int_(n);
      });
}

}  // namespace facefuse::cuda::bind
