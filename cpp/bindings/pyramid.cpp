// Bindings of the pyramid op family: multi-band (Laplacian-pyramid) blending.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <climits>
#include <string>
#include <vector>

#include "checks.hpp"
#include "facefuse/pyramid.hpp"

namespace py = pybind11;

namespace facefuse::bind {

namespace {

constexpr const char* kFn = "blend_laplacian";

template <typename T>
py::array run_blend(const py::array& dst, const py::array& src, const py::array& mask, int h, int w, int c,
                    int levels) {
  auto d = contiguous<T>(dst);
  auto s = contiguous<T>(src);
  require_finite(d, kFn, "dst");
  require_finite(s, kFn, "src");
  auto m = contiguous<float>(mask);
  py::array_t<T> out(dst.request().shape);
  const std::size_t n = static_cast<std::size_t>(h) * static_cast<std::size_t>(w);
  int status;
  {
    py::gil_scoped_release release;
    status = pyramid_mask_status(m.data(), n);
  }
  if (status == 2) value_error(kFn, "mask", "must be finite (no NaN or inf)");
  if (status == 1) {  // alpha outside [0, 1]: clamp a copy (documented)
    py::array_t<float, py::array::c_style> mc({static_cast<py::ssize_t>(h), static_cast<py::ssize_t>(w)});
    pyramid_clamp_mask(m.data(), mc.mutable_data(), n);
    m = mc;
  }
  const T* dp = d.data();
  const T* sp = s.data();
  const float* mp = m.data();
  T* op = out.mutable_data();
  {
    py::gil_scoped_release release;
    if constexpr (std::is_same_v<T, std::uint8_t>)
      blend_laplacian_u8(dp, sp, mp, op, h, w, c, levels);
    else
      blend_laplacian_f32(dp, sp, mp, op, h, w, c, levels);
  }
  return std::move(out);
}

py::array blend_laplacian(const py::object& dst_o, const py::object& src_o, const py::object& mask_o,
                          const py::object& levels_o) {
  const BlendArgs a = blend_args(dst_o, src_o, mask_o, kFn);
  const py::array &dst = a.dst, &src = a.src, &mask = a.mask;
  const bool u8 = a.u8;
  const int c = a.channels;
  const long long lv = as_int(levels_o, kFn, "levels");
  if (lv < 1) value_error(kFn, "levels", "must be >= 1, got " + std::to_string(lv));
  const int h = as_dim(dst.shape(0), kFn, "dst", dst);
  const int w = as_dim(dst.shape(1), kFn, "dst", dst);
  const int levels = lv > 64 ? 64 : static_cast<int>(lv);
  if (u8) return run_blend<std::uint8_t>(dst, src, mask, h, w, c, levels);
  return run_blend<float>(dst, src, mask, h, w, c, levels);
}

int max_levels(const py::object& h_o, const py::object& w_o) {
  const long long h = as_int(h_o, "max_levels", "h");
  const long long w = as_int(w_o, "max_levels", "w");
  if (h < 1) value_error("max_levels", "h", "must be >= 1, got " + std::to_string(h));
  if (w < 1) value_error("max_levels", "w", "must be >= 1, got " + std::to_string(w));
  if (h > INT_MAX) value_error("max_levels", "h", "is too large, got " + std::to_string(h));
  if (w > INT_MAX) value_error("max_levels", "w", "is too large, got " + std::to_string(w));
  return pyramid_max_levels(static_cast<int>(h), static_cast<int>(w));
}

// A float32 H x W, H x W x 1 or H x W x 3 image; returns (h, w, c).
void check_image(const py::array& img, const char* fn, int& h, int& w, int& c) {
  if (!is_dtype<float>(img)) type_error(fn, "img", "a float32 H x W, H x W x 1 or H x W x 3 image", describe(img));
  require_ndim(img, fn, "img", {2, 3}, "an H x W, H x W x 1 or H x W x 3 image");
  c = img.ndim() == 3 ? static_cast<int>(img.shape(2)) : 1;
  if (c != 1 && c != 3) value_error(fn, "img", "must have 1 or 3 channels, got " + describe(img));
  require_nonempty(img, fn, "img");
  h = as_dim(img.shape(0), fn, "img", img);
  w = as_dim(img.shape(1), fn, "img", img);
}

py::array pyr_down(const py::object& img_o) {
  constexpr const char* fn = "pyr_down";
  py::array img = as_array(img_o, fn, "img");
  int h, w, c;
  check_image(img, fn, h, w, c);
  auto a = contiguous<float>(img);
  require_finite(a, fn, "img");
  std::vector<py::ssize_t> shape{(h + 1) / 2, (w + 1) / 2};
  if (img.ndim() == 3) shape.push_back(c);
  py::array_t<float> out(shape);
  const float* sp = a.data();
  float* op = out.mutable_data();
  {
    py::gil_scoped_release release;
    pyr_down_f32(sp, op, h, w, c);
  }
  return std::move(out);
}

py::array pyr_up(const py::object& img_o, const py::object& h_o, const py::object& w_o) {
  constexpr const char* fn = "pyr_up";
  py::array img = as_array(img_o, fn, "img");
  int h, w, c;
  check_image(img, fn, h, w, c);
  const long long dh = as_int(h_o, fn, "h");
  const long long dw = as_int(w_o, fn, "w");
  if (dh != 2LL * h && dh != 2LL * h - 1)
    value_error(fn, "h", "must be 2 * H or 2 * H - 1 = " + std::to_string(2 * h) + " or " +
                             std::to_string(2 * h - 1) + " for img " + describe(img) + ", got " + std::to_string(dh));
  if (dw != 2LL * w && dw != 2LL * w - 1)
    value_error(fn, "w", "must be 2 * W or 2 * W - 1 = " + std::to_string(2 * w) + " or " +
                             std::to_string(2 * w - 1) + " for img " + describe(img) + ", got " + std::to_string(dw));
  auto a = contiguous<float>(img);
  require_finite(a, fn, "img");
  std::vector<py::ssize_t> shape{static_cast<py::ssize_t>(dh), static_cast<py::ssize_t>(dw)};
  if (img.ndim() == 3) shape.push_back(c);
  py::array_t<float> out(shape);
  const float* sp = a.data();
  float* op = out.mutable_data();
  {
    py::gil_scoped_release release;
    pyr_up_f32(sp, op, h, w, c, static_cast<int>(dh), static_cast<int>(dw));
  }
  return std::move(out);
}

}  // namespace

void bind_pyramid(py::module_& m) {
  m.def("pyr_down", &pyr_down, py::arg("img"),
        "cv2.pyrDown of a float32 H x W[, 1 | 3] image: 5-tap [1,4,6,4,1]/16, reflect-101 borders,\n"
        "output ((H + 1) // 2, (W + 1) // 2[, C]).");
  m.def("pyr_up", &pyr_up, py::arg("img"), py::arg("h"), py::arg("w"),
        "cv2.pyrUp of a float32 H x W[, 1 | 3] image to h x w (h in {2H - 1, 2H}, w in {2W - 1, 2W}).");
  m.def("blend_laplacian", &blend_laplacian, py::arg("dst"), py::arg("src"), py::arg("mask"),
        py::arg("levels") = 5,
        "Multi-band (Laplacian-pyramid) blend of src over dst under mask.\n\n"
        "dst, src: uint8 or float32 H x W, H x W x 1 or H x W x 3 (same shape and dtype);\n"
        "mask: float32 H x W (values clamped to [0, 1], NaN/inf rejected);\n"
        "levels: int >= 1, clamped to max_levels(H, W).\n"
        "Returns a new array with dst's shape and dtype.");
  m.def("max_levels", &max_levels, py::arg("h"), py::arg("w"),
        "Most pyramid levels an h x w image holds: halve (rounding up) while min(h, w) >= 2.");
}

}  // namespace facefuse::bind
