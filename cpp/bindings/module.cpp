// facefuse._core: the CPU core. Each op family binds itself from its own file.
#include <pybind11/pybind11.h>

#include <string>

#include "checks.hpp"
#include "facefuse/parallel.hpp"

namespace py = pybind11;

namespace facefuse::bind {
void bind_pyramid(py::module_& m);
void bind_color(py::module_& m);
void bind_smoothing(py::module_& m);
void bind_quality(py::module_& m);
void bind_paste(py::module_& m);
void bind_poisson(py::module_& m);
void bind_ff_paste(py::module_& m);
void bind_tensors(py::module_& m);
}  // namespace facefuse::bind

#ifndef FACEFUSE_VERSION
#define FACEFUSE_VERSION "dev"
#endif

PYBIND11_MODULE(_core, m) {
  m.doc() = "facefuse CPU core (C++17, OpenMP). Use the facefuse.ops API rather than this module.";
  m.attr("__version__") = FACEFUSE_VERSION;
  m.attr("openmp") = facefuse::have_openmp();
  facefuse::bind::register_arg_errors();
  m.def("max_threads", &facefuse::max_threads, "Threads the kernels use (OpenMP max threads; 1 without OpenMP).");
  m.def(
      "set_threads",
      [](const py::object& n_obj) {
        // omp_set_num_threads ignores n <= 0 silently; a caller asking for that has a bug.
        const long long n = facefuse::bind::as_int(n_obj, "set_threads", "n");
        if (n < 1 || n > 4096)
          facefuse::bind::value_error("set_threads", "n", "must be an int in [1, 4096], got " + std::to_string(n));
        facefuse::set_threads(static_cast<int>(n));
      },
      py::arg("n"), "Set the number of threads the kernels use, 1..4096 (no effect without OpenMP).");
  facefuse::bind::bind_pyramid(m);
  facefuse::bind::bind_color(m);
  facefuse::bind::bind_smoothing(m);
  facefuse::bind::bind_quality(m);
  facefuse::bind::bind_paste(m);
  facefuse::bind::bind_poisson(m);
  facefuse::bind::bind_ff_paste(m);
  facefuse::bind::bind_tensors(m);
}
