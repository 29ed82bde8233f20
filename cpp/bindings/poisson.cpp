// Bindings of the poisson op family: gradient-domain (seamless) blending.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <climits>
#include <cmath>
#include <string>

#include "checks.hpp"
#include "facefuse/poisson.hpp"

namespace py = pybind11;

namespace facefuse::bind {

namespace {

constexpr const char* kFn = "blend_poisson";

template <typename T>
py::array run(const py::array& dst, const py::array& src, const py::array& mask, int h, int w, int c, float tol,
              int max_iter) {
  auto d = contiguous<T>(dst);
  auto s = contiguous<T>(src);
  auto m = contiguous<float>(mask);
  require_finite(d, kFn, "dst");
  require_finite(s, kFn, "src");
  require_finite(m, kFn, "mask");
  py::array_t<T> out(dst.request().shape);
  const T* dp = d.data();
  const T* sp = s.data();
  const float* mp = m.data();
  T* op = out.mutable_data();
  PoissonResult r;
  {
    py::gil_scoped_release release;
    if constexpr (std::is_same_v<T, std::uint8_t>)
      r = blend_poisson_u8(dp, sp, mp, op, h, w, c, tol, max_iter);
    else
      r = blend_poisson_f32(dp, sp, mp, op, h, w, c, tol, max_iter);
  }
  if (r.status == 3) value_error(kFn, "mask", "must be finite (no NaN or inf)");
  if (r.status == 2) value_error(kFn, "src", "must be finite (no NaN or inf) on and around the mask");
  if (r.status == 1) value_error(kFn, "dst", "must be finite (no NaN or inf) around the mask");
  return std::move(out);
}

py::array blend_poisson(const py::object& dst_o, const py::object& src_o, const py::object& mask_o,
                        const py::object& tol_o, const py::object& max_iter_o) {
  const py::array dst = as_array(dst_o, kFn, "dst"), src = as_array(src_o, kFn, "src");
  const py::array mask = as_array(mask_o, kFn, "mask");
  const BlendShape b = blend_contract(kFn, desc(dst), desc(src), desc(mask), false);
  const double tol = as_real(tol_o, kFn, "tol");
  if (!std::isfinite(tol) || tol < 0.0 || tol >= 1.0)
    value_error(kFn, "tol", "must be a finite number in [0, 1), got " + std::string(py::str(tol_o)));
  const long long it = as_int(max_iter_o, kFn, "max_iter");
  if (it < 1 || it > 10000)
    value_error(kFn, "max_iter", "must be in [1, 10000], got " + std::to_string(it));
  if (b.u8) return run<std::uint8_t>(dst, src, mask, b.h, b.w, b.c, static_cast<float>(tol), static_cast<int>(it));
  return run<float>(dst, src, mask, b.h, b.w, b.c, static_cast<float>(tol), static_cast<int>(it));
}

}  // namespace

void bind_poisson(py::module_& m) {
  m.def("blend_poisson", &blend_poisson, py::arg("dst"), py::arg("src"), py::arg("mask"), py::arg("tol") = 1e-4,
        py::arg("max_iter") = 50,
        "Seamless (Poisson, NORMAL_CLONE) blend of src into dst under mask, solved by multigrid.\n\n"
        "dst, src: uint8 or float32 H x W, H x W x 1 or H x W x 3 (same shape and dtype);\n"
        "mask: float32 H x W, pixels > 0.5 (off the image's outer 1-px frame) are solved for,\n"
        "the rest keep dst; tol: relative residual in [0, 1) to stop at; max_iter: V-cycles in [1, 10000].\n"
        "Returns a new array with dst's shape and dtype.");
}

}  // namespace facefuse::bind
