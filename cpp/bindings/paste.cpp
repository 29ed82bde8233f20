// Bindings of the paste op family: warp_affine, paste_back, paste_warp.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "checks.hpp"
#include "facefuse/paste.hpp"

namespace py = pybind11;

namespace facefuse::bind {

namespace {

constexpr py::ssize_t kMaxDim = 1 << 16;  // 65536 px a side is far beyond 8K frames / 1024 crops

std::string as_str(const py::handle& obj, const char* fn, const char* arg, const char* allowed) {
  if (!py::isinstance<py::str>(obj)) type_error(fn, arg, std::string("one of ") + allowed, type_name(obj));
  return obj.cast<std::string>();
}

bool contains(std::initializer_list<const char*> names, const std::string& s) {
  for (const char* n : names)
    if (s == n) return true;
  return false;
}

// 2x3 matrix (float32 / float64, finite) -> 6 doubles; *is_f32 tells float32.
void read_affine(const py::array& a, const char* fn, const char* arg, double* m, bool* is_f32) {
  const bool f32 = is_dtype<float>(a);
  if (!f32 && !is_dtype<double>(a)) type_error(fn, arg, "a float32 or float64 2 x 3 matrix", describe(a));
  if (a.ndim() != 2 || a.shape(0) != 2 || a.shape(1) != 3)
    value_error(fn, arg, "must be a 2 x 3 matrix, got " + describe(a));
  if (f32) {
    auto c = contiguous<float>(a);
    for (int i = 0; i < 6; ++i) m[i] = c.data()[i];
  } else {
    auto c = contiguous<double>(a);
    for (int i = 0; i < 6; ++i) m[i] = c.data()[i];
  }
  for (int i = 0; i < 6; ++i)
    if (!std::isfinite(m[i])) value_error(fn, arg, "must be finite (no NaN or inf)");
  *is_f32 = f32;
}

int dim(const py::array& a, int axis, const char* fn, const char* arg) {
  if (a.shape(axis) > kMaxDim) value_error(fn, arg, "is too large, got " + describe(a));
  return static_cast<int>(a.shape(axis));
}

// ---- warp_affine ----------------------------------------------------------------

template <typename T>
py::array warp_typed(const py::array& img, const double* M, int dw, int dh, bool replicate) {
  constexpr const char* fn = "warp_affine";
  auto c = contiguous<T>(img);
  const int sh = dim(img, 0, fn, "img"), sw = dim(img, 1, fn, "img");
  const int ch = img.ndim() == 3 ? static_cast<int>(img.shape(2)) : 1;
  std::vector<py::ssize_t> shape = {dh, dw};
  if (img.ndim() == 3) shape.push_back(ch);
  py::array_t<T> out(shape);
  T* o = out.mutable_data();
  bool ok;
  {
    py::gil_scoped_release release;
    if constexpr (std::is_same_v<T, float>)
      ok = paste::warp_affine_f32(c.data(), sh, sw, ch, o, dh, dw, M, replicate);
    else
      ok = paste::warp_affine_u8(c.data(), sh, sw, ch, o, dh, dw, M, replicate);
  }
  if (!ok) value_error(fn, "M", "must be invertible (its 2 x 2 part is singular)");
  return out;
}

py::array warp_affine(const py::object& img_obj, const py::object& M_obj, const py::object& dsize,
                      const py::object& border_obj) {
  constexpr const char* fn = "warp_affine";
  py::array img = as_array(img_obj, fn, "img");
  const bool u8 = is_dtype<std::uint8_t>(img);
  if (!u8 && !is_dtype<float>(img)) type_error(fn, "img", "a uint8 or float32 image", describe(img));
  if (!(img.ndim() == 2 || (img.ndim() == 3 && img.shape(2) >= 1 && img.shape(2) <= 4)))
    value_error(fn, "img", "must be H x W or H x W x C with C in 1..4, got " + describe(img));
  require_nonempty(img, fn, "img");
  dim(img, 0, fn, "img");
  dim(img, 1, fn, "img");
  if (!img.dtype().is(py::dtype::of<float>()) && !u8) type_error(fn, "img", "uint8 or float32", describe(img));
  if (u8 == false) {
    auto c = contiguous<float>(img);
    bool ok;
    {
      py::gil_scoped_release release;
      ok = all_finite(c.data(), static_cast<std::size_t>(c.size()));
    }
    if (!ok) value_error(fn, "img", "must be finite (no NaN or inf)");
  }
  double M[6];
  bool f32;
  read_affine(as_array(M_obj, fn, "M"), fn, "M", M, &f32);
  if (!py::isinstance<py::sequence>(dsize) || py::isinstance<py::str>(dsize) || py::len(dsize) != 2)
    type_error(fn, "dsize", "a (width, height) pair of ints", type_name(dsize));
  py::sequence ds = py::reinterpret_borrow<py::sequence>(dsize);
  const long long dw = as_int(ds[0], fn, "dsize"), dh = as_int(ds[1], fn, "dsize");
  if (dw < 1 || dh < 1 || dw > kMaxDim || dh > kMaxDim)
    value_error(fn, "dsize", "must be (width, height) with both in 1..65536, got (" + std::to_string(dw) + ", " +
                                 std::to_string(dh) + ")");
  const std::string border = as_str(border_obj, fn, "border", "'constant', 'replicate'");
  if (!contains({"constant", "replicate"}, border))
    value_error(fn, "border", "must be 'constant' or 'replicate', got '" + border + "'");
  const bool rep = border == "replicate";
  return u8 ? warp_typed<std::uint8_t>(img, M, int(dw), int(dh), rep) : warp_typed<float>(img, M, int(dw), int(dh), rep);
}

// ---- paste_back ------------------------------------------------------------------

// Splits a single item (ndim == item_ndim) or a batch (ndim == item_ndim + 1, or a
// list / tuple of items) into per-face arrays.
std::vector<py::array> split_batch(const py::object& obj, int item_ndim, const char* fn, const char* arg,
                                   const char* layout) {
  std::vector<py::array> items;
  if (py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj)) {
    for (const auto& it : obj) {
      py::array a = as_array(it, fn, arg);
      if (a.ndim() != item_ndim)
        value_error(fn, arg, std::string("must hold ") + layout + " items, got an item " + describe(a));
      items.push_back(a);
    }
    if (items.empty()) value_error(fn, arg, "must not be an empty list");
    return items;
  }
  py::array a = as_array(obj, fn, arg);
  if (a.ndim() == item_ndim) {
    items.push_back(a);
  } else if (a.ndim() == item_ndim + 1) {
    if (a.shape(0) == 0) value_error(fn, arg, "must not be an empty batch, got " + describe(a));
    for (py::ssize_t k = 0; k < a.shape(0); ++k)
      items.push_back(py::reinterpret_borrow<py::array>(a[py::int_(k)]));
  } else {
    value_error(fn, arg, std::string("must be ") + layout + " or a batch of them, got " + describe(a));
  }
  return items;
}

struct Parsed {
  std::vector<py::array> keep;  // contiguous crops / masks kept alive
  std::vector<const void*> crops;
  std::vector<const float*> masks;
  std::vector<int> hs, ws;
  std::vector<paste::PasteBox> boxes;
  std::vector<std::array<float, 6>> warps;
};

template <typename T>
void parse_faces(const py::object& crop_obj, const py::object& mask_obj, const py::object& aff_obj,
                 const py::array& frame, const char* fn, Parsed& p) {
  auto crops = split_batch(crop_obj, 3, fn, "crop", "an h x w x 3 crop");
  auto masks = split_batch(mask_obj, 2, fn, "crop_mask", "an h x w float32 mask");
  auto affs = split_batch(aff_obj, 2, fn, "affine", "a 2 x 3 matrix");
  const std::size_t k = crops.size();
  if (masks.size() != k)
    value_error(fn, "crop_mask", "must give one mask per crop (" + std::to_string(k) + "), got " +
                                     std::to_string(masks.size()));
  if (affs.size() != k)
    value_error(fn, "affine", "must give one matrix per crop (" + std::to_string(k) + "), got " +
                                  std::to_string(affs.size()));
  const int H = static_cast<int>(frame.shape(0)), W = static_cast<int>(frame.shape(1));
  for (std::size_t i = 0; i < k; ++i) {
    const py::array& c = crops[i];
    if (!c.dtype().is(frame.dtype()))
      type_error(fn, "crop", std::string("an h x w x 3 crop of the frame's dtype (") +
                                 std::string(py::str(frame.dtype())) + ")",
                 describe(c));
    if (c.shape(2) != 3) value_error(fn, "crop", "must be h x w x 3, got " + describe(c));
    require_nonempty(c, fn, "crop");
    const int h = dim(c, 0, fn, "crop"), w = dim(c, 1, fn, "crop");
    const py::array& m = masks[i];
    if (!is_dtype<float>(m)) type_error(fn, "crop_mask", "a float32 h x w mask", describe(m));
    if (m.shape(0) != h || m.shape(1) != w)
      value_error(fn, "crop_mask",
                  "must be h x w matching 'crop' (" + std::to_string(h) + ", " + std::to_string(w) + "), got " +
                      describe(m));
    auto cc = contiguous<T>(c);
    auto mc = contiguous<float>(m);
    bool finite = true;
    {
      py::gil_scoped_release release;
      finite = all_finite(mc.data(), static_cast<std::size_t>(mc.size()));
      if (finite && std::is_same_v<T, float>)
        finite = all_finite(reinterpret_cast<const float*>(cc.data()), static_cast<std::size_t>(cc.size()));
    }
    if (!finite) {
      if (!all_finite(mc.data(), static_cast<std::size_t>(mc.size())))
        value_error(fn, "crop_mask", "must be finite (no NaN or inf)");
      value_error(fn, "crop", "must be finite (no NaN or inf)");
    }
    double a[6];
    bool f32;
    read_affine(affs[i], fn, "affine", a, &f32);
    paste::PasteBox box;
    std::array<float, 6> wm;
    if (!paste::paste_setup(a, f32, h, w, H, W, &box, wm.data()))
      value_error(fn, "affine", "must be invertible (its 2 x 2 part is singular or the inverse overflows)");
    p.keep.push_back(cc);
    p.keep.push_back(mc);
    p.crops.push_back(cc.data());
    p.masks.push_back(mc.data());
    p.hs.push_back(h);
    p.ws.push_back(w);
    p.boxes.push_back(box);
    p.warps.push_back(wm);
  }
}

template <typename T>
std::vector<paste::Face<T>> make_faces(const Parsed& p) {
  std::vector<paste::Face<T>> faces(p.crops.size());
  for (std::size_t i = 0; i < faces.size(); ++i) {
    faces[i].crop = static_cast<const T*>(p.crops[i]);
    faces[i].mask = p.masks[i];
    faces[i].h = p.hs[i];
    faces[i].w = p.ws[i];
    faces[i].box = p.boxes[i];
    for (int j = 0; j < 6; ++j) faces[i].warp[j] = p.warps[i][j];
  }
  return faces;
}

void require_frame(const py::array& frame, const char* fn) {
  if (!is_dtype<std::uint8_t>(frame) && !is_dtype<float>(frame))
    type_error(fn, "frame", "a uint8 or float32 H x W x 3 BGR frame", describe(frame));
  if (frame.ndim() != 3 || frame.shape(2) != 3)
    value_error(fn, "frame", "must be an H x W x 3 BGR frame, got " + describe(frame));
  require_nonempty(frame, fn, "frame");
  dim(frame, 0, fn, "frame");
  dim(frame, 1, fn, "frame");
}

// Byte range [lo, hi) an array's elements span.
std::pair<std::uintptr_t, std::uintptr_t> span(const py::array& a) {
  auto lo = reinterpret_cast<std::uintptr_t>(a.data()), hi = lo;
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    const py::ssize_t ext = (a.shape(i) - 1) * a.strides(i);
    if (ext < 0)
      lo += ext;
    else
      hi += ext;
  }
  return {lo, hi + a.itemsize()};
}

template <typename T>
py::array paste_typed(py::array frame, const py::object& crop, const py::object& crop_mask, const py::object& affine,
                      paste::Blend blend, bool lab, long long levels, const py::object& out_obj) {
  constexpr const char* fn = "paste_back";
  if constexpr (std::is_same_v<T, float>) {
    auto fc = contiguous<float>(frame);
    bool ok;
    {
      py::gil_scoped_release release;
      ok = all_finite(fc.data(), static_cast<std::size_t>(fc.size()));
    }
    if (!ok) value_error(fn, "frame", "must be finite (no NaN or inf)");
  }
  Parsed p;
  parse_faces<T>(crop, crop_mask, affine, frame, fn, p);
  const int H = static_cast<int>(frame.shape(0)), W = static_cast<int>(frame.shape(1));
  const std::int64_t row_bytes = static_cast<std::int64_t>(W) * 3 * sizeof(T);

  py::array_t<T, py::array::c_style> out;
  bool need_copy = true;
  if (!out_obj.is_none()) {
    py::array o = as_array(out_obj, fn, "out");
    if (!o.dtype().is(frame.dtype()))
      type_error(fn, "out", std::string("a ") + std::string(py::str(frame.dtype())) + " array like 'frame'",
                 describe(o));
    if (o.ndim() != 3 || o.shape(0) != H || o.shape(1) != W || o.shape(2) != 3)
      value_error(fn, "out", "must have the frame's shape (" + std::to_string(H) + ", " + std::to_string(W) +
                                 ", 3), got " + describe(o));
    if (!(o.flags() & py::array::c_style)) value_error(fn, "out", "must be C-contiguous");
    if (!o.writeable()) value_error(fn, "out", "must be writeable");
    out = py::reinterpret_borrow<py::array_t<T, py::array::c_style>>(o);
    const auto fs = span(frame), os = span(o);
    if (frame.data() == o.data() && (frame.flags() & py::array::c_style)) {
      need_copy = false;  // in place
    } else if (fs.first < os.second && os.first < fs.second) {
      frame = py::array::ensure(frame.attr("copy")());  // overlapping views: read from a copy
    }
  }
  auto fc = contiguous<T>(frame);
  if (out_obj.is_none()) {
    if (fc.ptr() != frame.ptr()) {
      out = fc;  // already a fresh copy
      need_copy = false;
    } else {
      out = py::array_t<T, py::array::c_style>({static_cast<py::ssize_t>(H), static_cast<py::ssize_t>(W),
                                                static_cast<py::ssize_t>(3)});
    }
  }
  auto faces = make_faces<T>(p);
  T* o = out.mutable_data();
  const T* src = fc.data();
  {
    py::gil_scoped_release release;
    if (need_copy) paste::copy_rows(src, row_bytes, o, row_bytes, H, row_bytes);
    if constexpr (std::is_same_v<T, float>)
      paste::paste_back_f32(o, H, W, faces.data(), static_cast<int>(faces.size()), blend, lab, levels);
    else
      paste::paste_back_u8(o, H, W, faces.data(), static_cast<int>(faces.size()), blend, lab, levels);
  }
  return out;
}

void parse_options(const py::object& blend_obj, const py::object& color_obj, const py::object& levels_obj,
                   const char* fn, paste::Blend* blend, bool* lab, long long* levels) {
  const std::string b = as_str(blend_obj, fn, "blend", "'alpha', 'laplacian', 'poisson'");
  if (!contains({"alpha", "laplacian", "poisson"}, b))
    value_error(fn, "blend", "must be 'alpha', 'laplacian' or 'poisson', got '" + b + "'");
  *blend = b == "laplacian" ? paste::Blend::laplacian : b == "poisson" ? paste::Blend::poisson : paste::Blend::alpha;
  *lab = false;
  if (!color_obj.is_none()) {
    const std::string c = as_str(color_obj, fn, "color", "None, 'lab'");
    if (c != "lab") value_error(fn, "color", "must be None or 'lab', got '" + c + "'");
    *lab = true;
  }
  *levels = levels_contract(fn, as_int(levels_obj, fn, "levels"));
}

py::array paste_back(const py::object& frame_obj, const py::object& crop, const py::object& crop_mask,
                     const py::object& affine, const py::object& blend_obj, const py::object& color_obj,
                     const py::object& levels_obj, const py::object& out) {
  constexpr const char* fn = "paste_back";
  py::array frame = as_array(frame_obj, fn, "frame");
  require_frame(frame, fn);
  paste::Blend blend;
  bool lab;
  long long levels;
  parse_options(blend_obj, color_obj, levels_obj, fn, &blend, &lab, &levels);
  if (is_dtype<std::uint8_t>(frame))
    return paste_typed<std::uint8_t>(frame, crop, crop_mask, affine, blend, lab, levels, out);
  return paste_typed<float>(frame, crop, crop_mask, affine, blend, lab, levels, out);
}

// One face's paste box and its warped crop / mask (the inputs of a box blend).
template <typename T>
py::tuple warp_typed_face(const py::array& frame, const py::object& crop, const py::object& crop_mask,
                          const py::object& affine) {
  constexpr const char* fn = "paste_warp";
  Parsed p;
  parse_faces<T>(crop, crop_mask, affine, frame, fn, p);
  if (p.crops.size() != 1) value_error(fn, "crop", "must be a single h x w x 3 crop");
  auto faces = make_faces<T>(p);
  const auto& b = faces[0].box;
  const int bh = std::max(0, b.y1 - b.y0), bw = std::max(0, b.x1 - b.x0);
  py::array_t<T> warped({static_cast<py::ssize_t>(bh), static_cast<py::ssize_t>(bw), static_cast<py::ssize_t>(3)});
  py::array_t<float> mask({static_cast<py::ssize_t>(bh), static_cast<py::ssize_t>(bw)});
  if (bh > 0 && bw > 0) {
    T* wp = warped.mutable_data();
    float* mp = mask.mutable_data();
    py::gil_scoped_release release;
    if constexpr (std::is_same_v<T, float>)
      paste::warp_face_f32(faces[0], wp, mp);
    else
      paste::warp_face_u8(faces[0], wp, mp);
  }
  return py::make_tuple(py::make_tuple(b.x0, b.y0, b.x1, b.y1), warped, mask);
}

py::tuple paste_warp(const py::object& frame_obj, const py::object& crop, const py::object& crop_mask,
                     const py::object& affine) {
  constexpr const char* fn = "paste_warp";
  py::array frame = as_array(frame_obj, fn, "frame");
  require_frame(frame, fn);
  if (is_dtype<std::uint8_t>(frame)) return warp_typed_face<std::uint8_t>(frame, crop, crop_mask, affine);
  return warp_typed_face<float>(frame, crop, crop_mask, affine);
}

}  // namespace

void bind_paste(py::module_& m) {
  m.def("warp_affine", &warp_affine, py::arg("img"), py::arg("M"), py::arg("dsize"),
        py::arg("border") = "constant",
        "Bilinear affine warp (facefuse.reference.paste semantics, cv2.warpAffine's arguments) of a "
        "uint8/float32 H x W[ x C] image; border 'constant' (0) or 'replicate'.");
  m.def("paste_back", &paste_back, py::arg("frame"), py::arg("crop"), py::arg("crop_mask"), py::arg("affine"),
        py::arg("blend") = "alpha", py::arg("color") = py::none(), py::arg("levels") = 5,
        py::arg("out") = py::none(),
        "Fused paste-back of warped face crops (one or a batch) into a frame; blend 'alpha', 'laplacian' or "
        "'poisson'.");
  m.def("paste_warp", &paste_warp, py::arg("frame"), py::arg("crop"), py::arg("crop_mask"), py::arg("affine"),
        "((x0, y0, x1, y1), warped crop, warped mask) of one face's paste box.");
}

}  // namespace facefuse::bind
