// Bindings for the smoothing op family: _core.LandmarkSmoother (batched tracks),
// on CpuLandmarkSmoother. Its arguments and track methods are shared with the
// CUDA binding (smoother_glue.hpp).
#include "facefuse/smoothing.hpp"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <string>
#include <vector>

#include "checks.hpp"
#include "smoother_glue.hpp"

namespace py = pybind11;

namespace facefuse::bind {

namespace {

struct PyCpuSmoother {
  std::unique_ptr<CpuLandmarkSmoother> core;
  py::array_t<bool> last_reset{std::vector<py::ssize_t>{0}};
  py::array_t<bool> last_new{std::vector<py::ssize_t>{0}};
  CpuLandmarkSmoother& smoother() { return *core; }
  std::mutex& mutex() { return core->mutex(); }
};

py::array_t<float> do_update(PyCpuSmoother& self, const py::handle& lm_obj, const py::handle& ids_obj,
                             const py::handle& t_obj) {
  const py::array lm = as_array(lm_obj, kSmootherUpd, "landmarks");
  const ArrayDesc lmd = desc(lm);
  const LandmarkShape s = landmarks_contract(kSmootherUpd, lmd);
  auto lmc = contiguous<float>(lm);
  if (!all_finite(lmc.data(), static_cast<std::size_t>(lmc.size())))
    value_error(kSmootherUpd, "landmarks", "must be finite (no NaN/inf)");
  const UpdateHostArgs a = update_host_args(ids_obj, t_obj, s.n);

  py::array_t<float> out(std::vector<py::ssize_t>{s.n, s.p, 2});
  py::array_t<bool> rflags(std::vector<py::ssize_t>{s.n});
  py::array_t<bool> nflags(std::vector<py::ssize_t>{s.n});
  float* op = out.mutable_data();
  auto* rp = reinterpret_cast<std::uint8_t*>(rflags.mutable_data());
  auto* np_ = reinterpret_cast<std::uint8_t*>(nflags.mutable_data());
  const float* lp = lmc.data();
  CpuLandmarkSmoother& core = *self.core;
  locked_update(core, core.mutex(), lmd, s, a,
                [&] { core.update(lp, a.ids.data(), a.t, s.n, s.p, op, rp, np_); });
  self.last_reset = rflags;
  self.last_new = nflags;
  return out;
}

}  // namespace

void bind_smoothing(py::module_& m) {
  py::class_<PyCpuSmoother> cls(
      m, "LandmarkSmoother", "Batched landmark temporal smoother (native core). Prefer facefuse.ops.LandmarkSmoother.");
  cls.def(py::init([](const std::string& method, py::kwargs kw) {
            const SmoothMethod mm = smooth_method(kSmootherCls, method);
            auto s = std::make_unique<PyCpuSmoother>();
            s->core = std::make_unique<CpuLandmarkSmoother>(mm, smooth_params(mm, kw));
            return s;
          }),
          py::arg("method") = "pose_shape")
      .def("update", &do_update, py::arg("landmarks"), py::arg("track_ids"), py::arg("t") = py::none(),
           "update(landmarks: float32 [N,P,2], track_ids: int64 [N], t: float64 [N] | None) -> float32 [N,P,2]")
      .def_property_readonly("method",
                             [](PyCpuSmoother& self) { return std::string(smooth_method_name(self.core->method())); })
      .def_property_readonly(
          "params", [](PyCpuSmoother& self) { return smooth_params_dict(self.core->method(), self.core->params()); })
      .def_property_readonly("last_reset", [](PyCpuSmoother& self) { return self.last_reset; })
      .def_property_readonly("last_new", [](PyCpuSmoother& self) { return self.last_new; });
  bind_track_methods(cls);
}

}  // namespace facefuse::bind
