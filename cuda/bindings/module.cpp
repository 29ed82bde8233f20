// facefuse._cuda: the CUDA backend. Entry points take device arrays (anything
// with __cuda_array_interface__: CuPy's), a device index and a stream handle
// (facefuse/ops/_gpu.py passes them); each checks its arguments with the op's
// contract, the CPU bindings' own (cpp/bindings/op_contracts.hpp), and what the
// launches need, so a direct call cannot launch out of bounds.
#include <cuda_runtime_api.h>
#include <pybind11/pybind11.h>

#include <string>

#include "checks.hpp"
#include "cuda_common.hpp"

namespace py = pybind11;

namespace facefuse::cuda::bind {
void bind_ops(py::module_& m);
void bind_smoothing(py::module_& m);
void bind_paste(py::module_& m);
void bind_quality(py::module_& m);
}  // namespace facefuse::cuda::bind

#ifndef FACEFUSE_VERSION
#define FACEFUSE_VERSION "dev"
#endif

namespace {

// (device count, cudaError_t code, message). Never raises: with the static
// runtime and no driver this returns the runtime's error instead.
py::tuple device_info() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error state of this thread
    return py::make_tuple(0, static_cast<int>(e), std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e));
  }
  return py::make_tuple(count, 0, std::string(count > 0 ? "ok" : "no device"));
}

std::string version_string(int v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); }

}  // namespace

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "facefuse CUDA backend. Use the facefuse.ops API (it dispatches CuPy arrays here).";
  m.attr("__version__") = FACEFUSE_VERSION;
  facefuse::bind::register_arg_errors();
  m.def("device_info", &device_info, "(device count, cudaError_t code, message); never raises.");
  m.def("runtime_version_string", [] { return version_string(CUDART_VERSION); },
        "The CUDA runtime version this module was built with and links statically.");
  m.def(
      "driver_version",
      [] {
        int v = 0;
        return cudaDriverGetVersion(&v) == cudaSuccess ? v : 0;
      },
      "The driver's CUDA version as an int (12040 = 12.4), 0 without a driver.");
  m.def(
      "device_name",
      [](int device) {
        cudaDeviceProp prop;
        FF_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
        return std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) + ")";
      },
      py::arg("device"), "Name and compute capability of a device.");
  m.def(
      "release_scratch", [] { facefuse::cuda::release_scratch(); },
      "Free the cached scratch buffers of every device and stream (synchronises the devices).");
  m.def(
      "scratch_bytes", [] { return facefuse::cuda::scratch_bytes(); },
      "Bytes held by the scratch cache (reused across calls on the same device and stream).");
  facefuse::cuda::bind::bind_ops(m);
  facefuse::cuda::bind::bind_smoothing(m);
  facefuse::cuda::bind::bind_paste(m);
  facefuse::cuda::bind::bind_quality(m);
}
