// Binding of the GPU landmark smoother (CudaLandmarkSmoother, cuda/smoothing_cuda.hpp).
// Its parameters, host arguments (ids, timestamps), locked state checks and track
// methods are the CPU binding's (cpp/bindings/smoother_glue.hpp); landmarks and
// the outputs are device arrays.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <mutex>
#include <string>

#include "checks.hpp"
#include "smoother_glue.hpp"
#include "smoothing_cuda.hpp"

namespace py = pybind11;

namespace facefuse::cuda::bind {

using namespace facefuse::bind;

namespace {

struct PyCudaSmoother {
  std::unique_ptr<CudaLandmarkSmoother> core;
  std::mutex mu;
  CudaLandmarkSmoother& smoother() { return *core; }
  std::mutex& mutex() { return mu; }
};

// A device output of the update: `dtype`-kind array of `shape`, C-contiguous, non-null.
void* update_out(const py::handle& obj, const char* arg, bool f32, const std::vector<std::int64_t>& shape) {
  const ArrayDesc o = device_desc(obj, kSmootherUpd, arg);
  const bool dtype_ok = f32 ? o.is_f32() : (o.kind == 'b' && o.itemsize == 1);
  if (!dtype_ok || o.shape != shape || !o.c_contiguous() || (o.size() > 0 && !o.data)) {
    ArrayDesc want;
    want.shape = shape;
    value_error(kSmootherUpd, arg, std::string("must be a C-contiguous ") + (f32 ? "float32" : "bool") +
                                       " GPU array of shape " + want.shape_str() + ", got " + o.describe());
  }
  return const_cast<void*>(o.data);
}

void update(PyCudaSmoother& self, const py::handle& landmarks, const py::handle& ids_obj, const py::handle& t_obj,
            const py::handle& out, const py::handle& reset_flags, const py::handle& new_flags, int device,
            std::uintptr_t stream) {
  const ArrayDesc lm = device_desc(landmarks, kSmootherUpd, "landmarks");
  const LandmarkShape s = landmarks_contract(kSmootherUpd, lm);
  if (!lm.c_contiguous() || (s.n > 0 && !lm.data))
    value_error(kSmootherUpd, "landmarks", "must be a C-contiguous GPU array, got " + lm.describe());
  auto* o = static_cast<float*>(update_out(out, "out", true, {s.n, s.p, 2}));
  auto* rf = static_cast<std::uint8_t*>(update_out(reset_flags, "reset_flags", false, {s.n}));
  auto* nf = static_cast<std::uint8_t*>(update_out(new_flags, "new_flags", false, {s.n}));
  const UpdateHostArgs a = update_host_args(ids_obj, t_obj, s.n);
  CudaLandmarkSmoother& core = *self.core;
  locked_update(core, self.mu, lm, s, a, [&] {
    core.update(static_cast<const float*>(lm.data), a.ids.data(), a.t, s.n, s.p, o, rf, nf, device,
                reinterpret_cast<cudaStream_t>(stream));
  });
}

}  // namespace

void bind_smoothing(py::module_& m) {
  py::class_<PyCudaSmoother> cls(m, "LandmarkSmoother",
                                 "GPU state of a facefuse.ops.LandmarkSmoother (use that class, not this one).");
  cls.def(py::init([](const std::string& method, const py::dict& params) {
            const SmoothMethod mm = smooth_method(kSmootherCls, method);
            auto s = std::make_unique<PyCudaSmoother>();
            s->core = std::make_unique<CudaLandmarkSmoother>(mm, smooth_params(mm, params));
            return s;
          }),
          py::arg("method"), py::arg("params"))
      .def("update", &update, py::arg("landmarks"), py::arg("track_ids"), py::arg("t"), py::arg("out"),
           py::arg("reset_flags"), py::arg("new_flags"), py::arg("device"), py::arg("stream"),
           "Enqueue one update of N tracks (device landmarks and outputs; ids / t host arrays).");
  bind_track_methods(cls);
}

}  // namespace facefuse::cuda::bind
