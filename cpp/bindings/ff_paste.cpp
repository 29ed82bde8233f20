// Binding of the FaceFusion paste (facefuse/ff_paste.hpp): ff_paste_back.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <cstdio>
#include <string>
#include <vector>

#include "checks.hpp"
#include "facefuse/ff_helpers.hpp"
#include "facefuse/ff_paste.hpp"
#include "facefuse/paste.hpp"

namespace py = pybind11;

namespace facefuse::bind {

namespace {

constexpr const char* kFn = "ff_paste_back";
constexpr py::ssize_t kMaxSide = 1 << 16;

ffpaste::DType dtype_of(const py::array& a, const char* arg, bool allow_u8, const char* expected) {
  const ArrayDesc d = desc(a);
  if (allow_u8 && d.kind == 'u' && d.itemsize == 1) return ffpaste::DType::u8;
  if (d.kind == 'f' && d.itemsize == 4) return ffpaste::DType::f32;
  if (d.kind == 'f' && d.itemsize == 8) return ffpaste::DType::f64;
  type_error(kFn, arg, expected, describe(a));
}

int side(const py::array& a, int axis, const char* arg) {
  if (a.shape(axis) < 1 || a.shape(axis) > kMaxSide)
    value_error(kFn, arg, "must have sides in 1..65536, got " + describe(a));
  return static_cast<int>(a.shape(axis));
}

ffpaste::View view_of(const py::array& a, ffpaste::DType dt) {
  ffpaste::View v;
  v.data = static_cast<const unsigned char*>(a.data());
  v.dt = dt;
  v.h = static_cast<int>(a.shape(0));
  v.w = static_cast<int>(a.shape(1));
  v.sy = a.strides(0);
  v.sx = a.strides(1);
  v.sc = a.ndim() == 3 ? a.strides(2) : 0;
  return v;
}

template <typename T>
py::array run(const py::array& frame, const ffpaste::View& crop, const ffpaste::View& mask, const double* aff,
              bool aff_f32, bool quant) {
  const int H = static_cast<int>(frame.shape(0)), W = static_cast<int>(frame.shape(1));
  ffpaste::Setup s;
  if (!ffpaste::setup(aff, aff_f32, crop.h, crop.w, H, W, &s))
    value_error(kFn, "affine_matrix", "must be invertible (its 2 x 2 part is singular or the inverse overflows)");
  py::array_t<T, py::array::c_style> out({static_cast<py::ssize_t>(H), static_cast<py::ssize_t>(W),
                                          static_cast<py::ssize_t>(3)});
  T* o = out.mutable_data();
  const std::int64_t row = static_cast<std::int64_t>(W) * 3 * sizeof(T);
  const bool c_contig = (frame.flags() & py::array::c_style) != 0;
  if (!c_contig) out.attr("__setitem__")(py::ellipsis(), frame);  // numpy's strided copy
  const void* src = frame.data();
  {
    py::gil_scoped_release release;
    if (c_contig) paste::copy_rows(src, row, o, row, H, row);
    if constexpr (std::is_same_v<T, float>)
      ffpaste::paste_f32(o, W, crop, mask, s, quant);
    else
      ffpaste::paste_u8(o, W, crop, mask, s, quant);
  }
  return out;
}

py::array ff_paste_back(const py::object& frame_obj, const py::object& crop_obj, const py::object& mask_obj,
                        const py::object& affine_obj, bool opencv4) {
  py::array frame = as_array(frame_obj, kFn, "temp_vision_frame");
  const ArrayDesc fd = desc(frame);
  const bool f_u8 = fd.kind == 'u' && fd.itemsize == 1, f_f32 = fd.kind == 'f' && fd.itemsize == 4;
  if (!f_u8 && !f_f32) type_error(kFn, "temp_vision_frame", "a uint8 or float32 H x W x 3 frame", describe(frame));
  if (frame.ndim() != 3 || frame.shape(2) != 3)
    value_error(kFn, "temp_vision_frame", "must be H x W x 3, got " + describe(frame));
  side(frame, 0, "temp_vision_frame");
  side(frame, 1, "temp_vision_frame");

  py::array crop = as_array(crop_obj, kFn, "crop_vision_frame");
  const auto cdt = dtype_of(crop, "crop_vision_frame", true, "a uint8, float32 or float64 h x w x 3 crop");
  if (crop.ndim() != 3 || crop.shape(2) != 3)
    value_error(kFn, "crop_vision_frame", "must be h x w x 3, got " + describe(crop));
  side(crop, 0, "crop_vision_frame");
  side(crop, 1, "crop_vision_frame");

  py::array mask = as_array(mask_obj, kFn, "crop_mask");
  const auto mdt = dtype_of(mask, "crop_mask", false, "a float32 or float64 h x w mask");
  if (!(mask.ndim() == 2 || (mask.ndim() == 3 && mask.shape(2) == 1)))
    value_error(kFn, "crop_mask", "must be h x w or h x w x 1, got " + describe(mask));
  if (mask.shape(0) != crop.shape(0) || mask.shape(1) != crop.shape(1))
    value_error(kFn, "crop_mask", "must match the crop's h x w (" + std::to_string(crop.shape(0)) + ", " +
                                      std::to_string(crop.shape(1)) + "), got " + describe(mask));

  py::array aff = as_array(affine_obj, kFn, "affine_matrix");
  const ArrayDesc ad = desc(aff);
  const bool a32 = ad.kind == 'f' && ad.itemsize == 4, a64 = ad.kind == 'f' && ad.itemsize == 8;
  if (!a32 && !a64) type_error(kFn, "affine_matrix", "a float32 or float64 2 x 3 matrix", describe(aff));
  if (aff.ndim() != 2 || aff.shape(0) != 2 || aff.shape(1) != 3)
    value_error(kFn, "affine_matrix", "must be a 2 x 3 matrix, got " + describe(aff));
  double m[6];
  for (int i = 0; i < 6; ++i) {
    const auto* p = static_cast<const unsigned char*>(aff.data()) + (i / 3) * aff.strides(0) + (i % 3) * aff.strides(1);
    if (a32) {
      float f;
      std::memcpy(&f, p, 4);
      m[i] = f;
    } else {
      std::memcpy(&m[i], p, 8);
    }
    if (!std::isfinite(m[i])) value_error(kFn, "affine_matrix", "must be finite (no NaN or inf)");
  }
  const auto cv = view_of(crop, cdt), mv = view_of(mask, mdt);
  return f_u8 ? run<std::uint8_t>(frame, cv, mv, m, a32, opencv4) : run<float>(frame, cv, mv, m, a32, opencv4);
}

// A uint8 / float32 / float64 (size, size... ) x 3 array's pixel view, or false.
bool pix_of(const py::array& a, ffhelp::Pix* p) {
  if (a.ndim() != 3 || a.shape(2) != 3) return false;
  p->base = static_cast<const unsigned char*>(a.data());
  p->sy = a.strides(0);
  p->sx = a.strides(1);
  p->sc = a.strides(2);
  return true;
}

std::string ff_hash64(const py::buffer& buf) {
  py::buffer_info info = buf.request();
  if (info.ndim > 0) {
    py::ssize_t expect = info.itemsize;
    for (py::ssize_t i = info.ndim - 1; i >= 0; --i) {
      if (info.shape[i] > 1 && info.strides[i] != expect)
        value_error("ff_hash64", "content", "must be a C-contiguous buffer");
      expect *= info.shape[i];
    }
  }
  const std::size_t n = static_cast<std::size_t>(info.size) * static_cast<std::size_t>(info.itemsize);
  std::uint64_t h;
  {
    py::gil_scoped_release release;
    h = ffhelp::hash64(static_cast<const unsigned char*>(info.ptr), n);
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
  return std::string(out);
}

py::array ff_implode(const py::array& crop, int t) {
  ffhelp::Pix p;
  if (t < 1) value_error("ff_implode", "pixel_boost_total", "must be >= 1");
  if (!pix_of(crop, &p) || crop.shape(0) % t != 0 || crop.shape(1) % t != 0)
    value_error("ff_implode", "crop_vision_frame", "must be (m0 * total) x (m1 * total) x 3, got " + describe(crop));
  const int m0 = static_cast<int>(crop.shape(0) / t), m1 = static_cast<int>(crop.shape(1) / t);
  const int item = static_cast<int>(crop.itemsize());
  py::array out(crop.dtype(), std::vector<py::ssize_t>{static_cast<py::ssize_t>(t) * t, m0, m1, 3});
  auto* o = static_cast<unsigned char*>(out.mutable_data());
  {
    py::gil_scoped_release release;
    ffhelp::implode(p, t, m0, m1, 3, item, o);
  }
  return out;
}

py::array ff_explode(const py::list& tiles, int t) {
  const py::ssize_t n = static_cast<py::ssize_t>(tiles.size());
  if (t < 1 || n != static_cast<py::ssize_t>(t) * t)
    value_error("ff_explode", "temp_vision_frames", "must hold pixel_boost_total ** 2 tiles");
  std::vector<py::array> keep;
  std::vector<ffhelp::Pix> pix(static_cast<std::size_t>(n));
  for (py::ssize_t k = 0; k < n; ++k) {
    py::array a = as_array(tiles[static_cast<std::size_t>(k)], "ff_explode", "temp_vision_frames");
    if (!pix_of(a, &pix[static_cast<std::size_t>(k)]) ||
        (k > 0 && (!a.dtype().is(keep[0].dtype()) || a.shape(0) != keep[0].shape(0) || a.shape(1) != keep[0].shape(1))))
      value_error("ff_explode", "temp_vision_frames", "must hold h x w x 3 tiles of one dtype and size");
    keep.push_back(a);
  }
  const int m0 = static_cast<int>(keep[0].shape(0)), m1 = static_cast<int>(keep[0].shape(1));
  const int item = static_cast<int>(keep[0].itemsize());
  py::array out(keep[0].dtype(), std::vector<py::ssize_t>{static_cast<py::ssize_t>(m0) * t, static_cast<py::ssize_t>(m1) * t, 3});
  auto* o = static_cast<unsigned char*>(out.mutable_data());
  {
    py::gil_scoped_release release;
    ffhelp::explode(pix.data(), t, m0, m1, 3, item, o);
  }
  return out;
}

py::object ff_enhancer_normalize(const py::object& obj) {
  constexpr const char* fn = "ff_enhancer_normalize";
  py::array a = as_array(obj, fn, "crop_vision_frame");
  const ArrayDesc d = desc(a);
  if (!(d.kind == 'f' && d.itemsize == 4)) type_error(fn, "crop_vision_frame", "a float32 c x h x w array", describe(a));
  if (a.ndim() != 3 || a.shape(0) < 1 || a.shape(1) < 1 || a.shape(2) < 1 || a.shape(0) > 4 || a.shape(1) > kMaxSide ||
      a.shape(2) > kMaxSide)
    value_error(fn, "crop_vision_frame", "must be c x h x w with c in 1..4 and sides in 1..65536, got " + describe(a));
  const int ch = static_cast<int>(a.shape(0)), h = static_cast<int>(a.shape(1)), w = static_cast<int>(a.shape(2));
  ffhelp::Pix p{static_cast<const unsigned char*>(a.data()), a.strides(1), a.strides(2), a.strides(0)};
  py::array_t<std::uint8_t, py::array::c_style> out({static_cast<py::ssize_t>(ch), static_cast<py::ssize_t>(h),
                                                      static_cast<py::ssize_t>(w)});
  std::uint8_t* o = out.mutable_data();
  bool ok;
  {
    py::gil_scoped_release release;
    ok = ffhelp::enhancer_normalize(p, h, w, ch, o);
  }
  if (!ok) return py::none();
  return std::move(out);
}

}  // namespace

void bind_ff_paste(py::module_& m) {
  m.def("ff_paste_back", &ff_paste_back, py::arg("temp_vision_frame"), py::arg("crop_vision_frame"),
        py::arg("crop_mask"), py::arg("affine_matrix"), py::arg("opencv4") = false,
        "FaceFusion 3.5-3.8 face_helper.paste_back (facefuse/ff_paste.hpp): a new frame. Crops uint8 / "
        "float32 / float64 and masks float32 / float64 are read in place (any strides).");
  m.def("ff_hash64", &ff_hash64, py::arg("content"),
        "16 hex digits of a fast 64-bit hash of a C-contiguous buffer (a cache key, not crc32).");
  m.def("ff_implode", &ff_implode, py::arg("crop_vision_frame"), py::arg("pixel_boost_total"),
        "FaceFusion's implode_pixel_boost: (total**2, m0, m1, 3) tiles, the crop read in place.");
  m.def("ff_enhancer_normalize", &ff_enhancer_normalize, py::arg("crop_vision_frame"),
        "FaceFusion's face_enhancer normalize_crop_frame of a float32 c x h x w model output, planar: a "
        "C-contiguous c x h x w uint8 array (FaceFusion returns its transpose(1, 2, 0)[:, :, ::-1]); None when "
        "an element is NaN.");
  m.def("ff_explode", &ff_explode, py::arg("temp_vision_frames"), py::arg("pixel_boost_total"),
        "FaceFusion's explode_pixel_boost of total**2 h x w x 3 tiles of one dtype.");
}

}  // namespace facefuse::bind
