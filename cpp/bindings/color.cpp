// Bindings for the color op family: bgr_to_lab, lab_to_bgr, color_transfer.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "checks.hpp"
#include "facefuse/color.hpp"

namespace facefuse::bind {

namespace py = pybind11;

namespace {

// H x W x 3 image of an allowed dtype, non-empty.
void require_bgr(const py::array& a, const char* fn, const char* arg, const char* dtypes) {
  if (a.ndim() != 3 || a.shape(2) != 3)
    value_error(fn, arg, std::string("must be an H x W x 3 ") + dtypes + " array, got " + describe(a));
  require_nonempty(a, fn, arg);
}

// A float32 H x W mask matching `img`, finite, in [0, 1]; nullptr for None.
py::array_t<float, py::array::c_style> get_mask(const py::handle& obj, const py::array& img, const char* fn,
                                                const char* arg, const char* img_arg) {
  py::array a = as_array(obj, fn, arg);
  if (!is_dtype<float>(a))
    type_error(fn, arg, std::string("a float32 H x W mask in [0, 1] matching '") + img_arg + "' or None",
               describe(a));
  if (a.ndim() != 2 || a.shape(0) != img.shape(0) || a.shape(1) != img.shape(1))
    value_error(fn, arg,
                std::string("must be a float32 H x W mask matching '") + img_arg + "' (" +
                    std::to_string(img.shape(0)) + ", " + std::to_string(img.shape(1)) + "), got " + describe(a));
  auto m = contiguous<float>(a);
  bool ok = true;
  {
    py::gil_scoped_release release;
    const float* p = m.data();
    const auto n = static_cast<std::size_t>(m.size());
    for (std::size_t i = 0; i < n; ++i)
      if (!(p[i] >= 0.0f && p[i] <= 1.0f)) {  // also rejects NaN
        ok = false;
        break;
      }
  }
  if (!ok) value_error(fn, arg, "must hold weights in [0, 1] (no NaN)");
  return m;
}

py::array bgr_to_lab(const py::object& img_obj) {
  constexpr const char* fn = "bgr_to_lab";
  py::array img = as_array(img_obj, fn, "img");
  const bool u8 = is_dtype<std::uint8_t>(img);
  if (!u8 && !is_dtype<float>(img))
    type_error(fn, "img", "a uint8 or float32 H x W x 3 BGR image", describe(img));
  require_bgr(img, fn, "img", "BGR");
  const auto h = img.shape(0), w = img.shape(1);
  py::array_t<float> out({h, w, static_cast<py::ssize_t>(3)});
  float* o = out.mutable_data();
  const std::int64_t n = static_cast<std::int64_t>(h) * w;
  if (u8) {
    auto c = contiguous<std::uint8_t>(img);
    py::gil_scoped_release release;
    color::bgr_to_lab(c.data(), o, n);
  } else {
    auto c = contiguous<float>(img);
    require_finite(c, fn, "img");
    py::gil_scoped_release release;
    color::bgr_to_lab(c.data(), o, n);
  }
  return out;
}

py::array lab_to_bgr(const py::object& lab_obj) {
  constexpr const char* fn = "lab_to_bgr";
  py::array lab = as_array(lab_obj, fn, "lab");
  if (!is_dtype<float>(lab)) type_error(fn, "lab", "a float32 H x W x 3 LAB image", describe(lab));
  require_bgr(lab, fn, "lab", "float32 LAB");
  auto c = contiguous<float>(lab);
  require_finite(c, fn, "lab");
  const auto h = lab.shape(0), w = lab.shape(1);
  py::array_t<float> out({h, w, static_cast<py::ssize_t>(3)});
  float* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    color::lab_to_bgr(c.data(), o, static_cast<std::int64_t>(h) * w);
  }
  return out;
}

template <typename T>
py::array transfer_typed(const py::array& src, const py::array& ref, const py::object& src_mask,
                         const py::object& ref_mask, float strength) {
  constexpr const char* fn = "color_transfer";
  auto s = contiguous<T>(src);
  auto r = contiguous<T>(ref);
  if constexpr (std::is_same_v<T, float>) {
    require_finite(s, fn, "src");
    require_finite(r, fn, "ref");
  }
  py::array_t<float, py::array::c_style> sm, rm;
  const float* smp = nullptr;
  const float* rmp = nullptr;
  if (!src_mask.is_none()) {
    sm = get_mask(src_mask, src, fn, "src_mask", "src");
    smp = sm.data();
  }
  if (!ref_mask.is_none()) {
    rm = get_mask(ref_mask, ref, fn, "ref_mask", "ref");
    rmp = rm.data();
  }
  py::array_t<T> out({src.shape(0), src.shape(1), static_cast<py::ssize_t>(3)});
  T* o = out.mutable_data();
  const std::int64_t ns = static_cast<std::int64_t>(src.shape(0)) * src.shape(1);
  const std::int64_t nr = static_cast<std::int64_t>(ref.shape(0)) * ref.shape(1);
  color::TransferStatus st;
  {
    py::gil_scoped_release release;
    st = color::color_transfer(s.data(), ns, r.data(), nr, smp, rmp, strength, o);
  }
  if (st == color::TransferStatus::src_mask_empty)
    value_error(fn, "src_mask", "must have a positive total weight (it is all zero)");
  if (st == color::TransferStatus::ref_mask_empty)
    value_error(fn, "ref_mask", "must have a positive total weight (it is all zero)");
  return out;
}

py::array color_transfer(const py::object& src_obj, const py::object& ref_obj, const py::object& src_mask,
                         const py::object& ref_mask, const py::object& strength_obj) {
  constexpr const char* fn = "color_transfer";
  py::array src = as_array(src_obj, fn, "src");
  py::array ref = as_array(ref_obj, fn, "ref");
  const bool u8 = is_dtype<std::uint8_t>(src);
  if (!u8 && !is_dtype<float>(src))
    type_error(fn, "src", "a uint8 or float32 (0..255) H x W x 3 BGR image", describe(src));
  if (!ref.dtype().is(src.dtype()))
    type_error(fn, "ref", std::string("an H x W x 3 BGR image of the same dtype as 'src' (") +
                              std::string(py::str(src.dtype())) + ")",
               describe(ref));
  require_bgr(src, fn, "src", "BGR");
  require_bgr(ref, fn, "ref", "BGR");
  double strength;
  try {
    if (py::isinstance<py::bool_>(strength_obj) || py::isinstance<py::str>(strength_obj)) throw py::cast_error();
    strength = py::float_(strength_obj).cast<double>();
  } catch (const py::error_already_set&) {
    type_error(fn, "strength", "a number in [0, 1]", type_name(strength_obj));
  } catch (const py::cast_error&) {
    type_error(fn, "strength", "a number in [0, 1]", type_name(strength_obj));
  }
  if (!(strength >= 0.0 && strength <= 1.0))
    value_error(fn, "strength", "must be in [0, 1], got " + std::string(py::str(py::float_(strength))));
  if (u8) return transfer_typed<std::uint8_t>(src, ref, src_mask, ref_mask, static_cast<float>(strength));
  return transfer_typed<float>(src, ref, src_mask, ref_mask, static_cast<float>(strength));
}

}  // namespace

void bind_color(py::module_& m) {
  m.def("bgr_to_lab", &bgr_to_lab, py::arg("img"),
        "BGR (uint8, or float32 in [0, 1]) H x W x 3 -> float32 CIELAB (D65, L in [0, 100]); as cv2.cvtColor "
        "COLOR_BGR2Lab on float32 input (uint8 means value / 255).");
  m.def("lab_to_bgr", &lab_to_bgr, py::arg("lab"),
        "float32 CIELAB H x W x 3 -> float32 BGR in [0, 1]; as cv2.cvtColor COLOR_Lab2BGR.");
  m.def("color_transfer", &color_transfer, py::arg("src"), py::arg("ref"), py::arg("src_mask") = py::none(),
        py::arg("ref_mask") = py::none(), py::arg("strength") = 1.0,
        "Reinhard LAB mean/std colour transfer of ref onto src (uint8 or float32 0..255), masks weighting the "
        "statistics, blended with src by strength.");
}

}  // namespace facefuse::bind
