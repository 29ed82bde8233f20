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

// Every value of a float32 mask a weight in [0, 1] (no NaN), else ValueError naming it.
void require_weights(const py::array_t<float, py::array::c_style>& m, const char* fn, const char* arg) {
  bool ok = true;
  {
    py::gil_scoped_release release;
    const float* p = m.data();
    const auto n = static_cast<std::size_t>(m.size());
    for (std::size_t i = 0; i < n && ok; ++i) ok = p[i] >= 0.0f && p[i] <= 1.0f;  // also rejects NaN
  }
  if (!ok) value_error(fn, arg, "must hold weights in [0, 1] (no NaN)");
}

// A per-pixel conversion of every pixel of an (N x) H x W x 3 image.
template <typename In, typename Convert>
py::array convert_pixels(const py::array& img, const char* fn, const char* arg, Convert convert) {
  auto c = contiguous<In>(img);
  require_finite(c, fn, arg);
  py::array_t<float> out(img.request().shape);
  float* o = out.mutable_data();
  const std::int64_t n_px = static_cast<std::int64_t>(c.size() / 3);
  py::gil_scoped_release release;
  convert(c.data(), o, n_px);
  return out;
}

py::array bgr_to_lab(const py::object& img_obj) {
  constexpr const char* fn = "bgr_to_lab";
  py::array img = as_array(img_obj, fn, "img");
  if (bgr_to_lab_contract(fn, desc(img)))
    return convert_pixels<std::uint8_t>(img, fn, "img", [](const std::uint8_t* s, float* o, std::int64_t n) {
      color::bgr_to_lab(s, o, n);
    });
  return convert_pixels<float>(img, fn, "img", [](const float* s, float* o, std::int64_t n) {
    color::bgr_to_lab(s, o, n);
  });
}

py::array lab_to_bgr(const py::object& lab_obj) {
  constexpr const char* fn = "lab_to_bgr";
  py::array lab = as_array(lab_obj, fn, "lab");
  lab_to_bgr_contract(fn, desc(lab));
  return convert_pixels<float>(lab, fn, "lab", [](const float* s, float* o, std::int64_t n) {
    color::lab_to_bgr(s, o, n);
  });
}

// transfer_contract's images, one src image (and its reference) at a time.
template <typename T>
py::array transfer_typed(const py::array& src, const py::array& ref, const py::object& sm_obj,
                         const py::object& rm_obj, const TransferShape& t, float strength) {
  constexpr const char* fn = "color_transfer";
  auto s = contiguous<T>(src);
  auto r = contiguous<T>(ref);
  require_finite(s, fn, "src");
  require_finite(r, fn, "ref");
  py::array_t<float, py::array::c_style> sm, rm;
  if (!sm_obj.is_none()) {
    sm = contiguous<float>(py::reinterpret_borrow<py::array>(sm_obj));
    require_weights(sm, fn, "src_mask");
  }
  if (!rm_obj.is_none()) {
    rm = contiguous<float>(py::reinterpret_borrow<py::array>(rm_obj));
    require_weights(rm, fn, "ref_mask");
  }
  py::array_t<T> out(src.request().shape);
  T* o = out.mutable_data();
  color::TransferStatus st = color::TransferStatus::ok;
  {
    py::gil_scoped_release release;
    for (int i = 0; i < t.n && st == color::TransferStatus::ok; ++i) {
      const std::int64_t j = t.n_ref == 1 ? 0 : i;
      st = color::color_transfer(s.data() + i * t.src_px * 3, t.src_px, r.data() + j * t.ref_px * 3, t.ref_px,
                                 sm_obj.is_none() ? nullptr : sm.data() + i * t.src_px,
                                 rm_obj.is_none() ? nullptr : rm.data() + j * t.ref_px, strength,
                                 o + i * t.src_px * 3);
    }
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
  const py::array src = as_array(src_obj, fn, "src"), ref = as_array(ref_obj, fn, "ref");
  py::object sm = py::none(), rm = py::none();
  ArrayDesc smd, rmd;
  if (!src_mask.is_none()) smd = desc(sm = as_array(src_mask, fn, "src_mask"));
  if (!ref_mask.is_none()) rmd = desc(rm = as_array(ref_mask, fn, "ref_mask"));
  const TransferShape t = transfer_contract(fn, desc(src), desc(ref), sm.is_none() ? nullptr : &smd,
                                            rm.is_none() ? nullptr : &rmd);
  const float strength = strength_contract(fn, as_real(strength_obj, fn, "strength", "a number in [0, 1]"));
  if (t.u8) return transfer_typed<std::uint8_t>(src, ref, sm, rm, t, strength);
  return transfer_typed<float>(src, ref, sm, rm, t, strength);
}

}  // namespace

void bind_color(py::module_& m) {
  m.def("bgr_to_lab", &bgr_to_lab, py::arg("img"),
        "BGR (uint8, or float32 in [0, 1]) (N x) H x W x 3 -> float32 CIELAB (D65, L in [0, 100]); as cv2.cvtColor "
        "COLOR_BGR2Lab on float32 input (uint8 means value / 255).");
  m.def("lab_to_bgr", &lab_to_bgr, py::arg("lab"),
        "float32 CIELAB H x W x 3 -> float32 BGR in [0, 1]; as cv2.cvtColor COLOR_Lab2BGR.");
  m.def("color_transfer", &color_transfer, py::arg("src"), py::arg("ref"), py::arg("src_mask") = py::none(),
        py::arg("ref_mask") = py::none(), py::arg("strength") = 1.0,
        "Reinhard LAB mean/std colour transfer of ref onto src (uint8 or float32 0..255), masks weighting the "
        "statistics, blended with src by strength. src may be a batch N x H x W x 3 (ref one image or N).");
}

}  // namespace facefuse::bind
