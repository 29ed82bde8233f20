// Bindings of the pyramid op family: multi-band (Laplacian-pyramid) blending.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <climits>
#include <string>
#include <vector>

#include "checks.hpp"
#include "facefuse/pyramid.hpp"
#include "facefuse/pyramid_math.hpp"

namespace py = pybind11;

namespace facefuse::bind {

namespace {

constexpr const char* kFn = "blend_laplacian";

// blend_contract's frame or batch, one frame at a time.
template <typename T>
py::array run_blend(const py::array& dst, const py::array& src, const py::array& mask, const BlendShape& b,
                    long long levels) {
  auto d = contiguous<T>(dst);
  auto s = contiguous<T>(src);
  require_finite(d, kFn, "dst");
  require_finite(s, kFn, "src");
  auto m = contiguous<float>(mask);
  py::array_t<T> out(dst.request().shape);
  const std::size_t px = static_cast<std::size_t>(b.h) * static_cast<std::size_t>(b.w);
  const std::size_t n_mask = px * static_cast<std::size_t>(b.n);
  int status;
  {
    py::gil_scoped_release release;
    status = pyramid_mask_status(m.data(), n_mask);
  }
  if (status == 2) value_error(kFn, "mask", "must be finite (no NaN or inf)");
  if (status == 1) {  // alpha outside [0, 1]: clamp a copy (documented)
    py::array_t<float, py::array::c_style> mc(m.request().shape);
    pyramid_clamp_mask(m.data(), mc.mutable_data(), n_mask);
    m = mc;
  }
  const std::size_t frame = px * static_cast<std::size_t>(b.c);
  const T* dp = d.data();
  const T* sp = s.data();
  const float* mp = m.data();
  T* op = out.mutable_data();
  {
    py::gil_scoped_release release;
    for (int i = 0; i < b.n; ++i) {
      const std::size_t f = frame * static_cast<std::size_t>(i), k = px * static_cast<std::size_t>(i);
      if constexpr (std::is_same_v<T, std::uint8_t>)
        blend_laplacian_u8(dp + f, sp + f, mp + k, op + f, b.h, b.w, b.c, levels);
      else
        blend_laplacian_f32(dp + f, sp + f, mp + k, op + f, b.h, b.w, b.c, levels);
    }
  }
  return std::move(out);
}

py::array blend_laplacian(const py::object& dst_o, const py::object& src_o, const py::object& mask_o,
                          const py::object& levels_o) {
  const py::array dst = as_array(dst_o, kFn, "dst"), src = as_array(src_o, kFn, "src");
  const py::array mask = as_array(mask_o, kFn, "mask");
  const BlendShape b = blend_contract(kFn, desc(dst), desc(src), desc(mask), true);
  const long long levels = levels_contract(kFn, as_int(levels_o, kFn, "levels"));
  if (b.u8) return run_blend<std::uint8_t>(dst, src, mask, b, levels);
  return run_blend<float>(dst, src, mask, b, levels);
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

// A float32 H x W, H x W x 1 or H x W x 3 image, non-empty; returns (h, w, c).
void check_image(const py::array& img, const char* fn, int& h, int& w, int& c) {
  const ArrayDesc a = desc(img);
  if (!a.is_f32()) type_error(fn, "img", "a float32 H x W, H x W x 1 or H x W x 3 image", a.describe());
  if (a.ndim() != 2 && a.ndim() != 3)
    value_error(fn, "img", "must be an H x W, H x W x 1 or H x W x 3 image, got " + a.describe());
  c = a.ndim() == 3 ? static_cast<int>(a.dim(2)) : 1;
  if (c != 1 && c != 3) value_error(fn, "img", "must have 1 or 3 channels, got " + a.describe());
  require_nonempty(a, fn, "img");
  h = side(a, 0, fn, "img");
  w = side(a, 1, fn, "img");
}

// The float32 half-size image of src (cv2.pyrDown), with src's channel axis (or none).
py::array_t<float> down(const float* src, int h, int w, int c, bool chan_axis) {
  std::vector<py::ssize_t> shape{pyr::down_size(h), pyr::down_size(w)};
  if (chan_axis) shape.push_back(c);
  py::array_t<float> out(shape);
  float* op = out.mutable_data();
  py::gil_scoped_release release;
  pyr_down_f32(src, op, h, w, c);
  return out;
}

py::array pyr_down(const py::object& img_o) {
  constexpr const char* fn = "pyr_down";
  py::array img = as_array(img_o, fn, "img");
  int h, w, c;
  check_image(img, fn, h, w, c);
  auto a = contiguous<float>(img);
  require_finite(a, fn, "img");
  return down(a.data(), h, w, c, img.ndim() == 3);
}

// [img, pyrDown(img), ...]: pyr::clamp_levels(levels, H, W) float32 levels, level 0 a copy.
py::list gaussian_pyramid(const py::object& img_o, const py::object& levels_o, const std::string& fn_name) {
  const char* fn = fn_name.c_str();
  const long long levels = levels_contract(fn, as_int(levels_o, fn, "levels"));
  py::array img = as_array(img_o, fn, "img");
  int h, w, c;
  check_image(img, fn, h, w, c);
  auto a = contiguous<float>(img);
  require_finite(a, fn, "img");
  py::list out;
  out.append(py::array_t<float>(img.request().shape, a.data()));  // a copy
  const int k = pyr::clamp_levels(levels, h, w);
  for (int l = 1; l < k; ++l) {
    py::array_t<float> prev = out[static_cast<std::size_t>(l - 1)].cast<py::array_t<float>>();
    out.append(down(prev.data(), h, w, c, img.ndim() == 3));
    h = pyr::down_size(h);
    w = pyr::down_size(w);
  }
  return out;
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
        "dst, src: uint8 or float32 H x W, H x W x 1 or H x W x 3 (same shape and dtype), or batches\n"
        "N x H x W x C; mask: float32 H x W (N x H x W; values clamped to [0, 1], NaN/inf rejected);\n"
        "levels: int >= 1, clamped to max_levels(H, W).\n"
        "Returns a new array with dst's shape and dtype.");
  m.def("gaussian_pyramid", &gaussian_pyramid, py::arg("img"), py::arg("levels"), py::arg("fn") = "gaussian_pyramid",
        "[img, pyrDown(img), ...] as float32: min(levels, max_levels(H, W)) levels of a float32\n"
        "H x W[, 1 | 3] image (levels: int >= 1); level 0 is a copy. `fn` names the caller in errors.");
  m.def("max_levels", &max_levels, py::arg("h"), py::arg("w"),
        "Most pyramid levels an h x w image holds: halve (rounding up) while min(h, w) >= 2.");
}

}  // namespace facefuse::bind
