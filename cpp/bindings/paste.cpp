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
#include "paste_contract.hpp"
#include "paste_glue.hpp"
#include "facefuse/paste.hpp"

namespace py = pybind11;

namespace facefuse::bind {

namespace {

// ---- warp_affine ----------------------------------------------------------------

// k matrices (k == 0: one, no batch axis) -> dh x dw (x C) warps of img each.
template <typename T>
py::array warp_typed(const py::array& img, const WarpImage& s, const std::vector<double>& M, std::int64_t k, int dw,
                     int dh, bool replicate) {
  constexpr const char* fn = "warp_affine";
  auto c = contiguous<T>(img);
  std::vector<py::ssize_t> shape = {dh, dw};
  if (img.ndim() == 3) shape.push_back(s.c);
  if (k > 0) shape.insert(shape.begin(), static_cast<py::ssize_t>(k));
  py::array_t<T> out(shape);
  T* o = out.mutable_data();
  const std::size_t item = static_cast<std::size_t>(dh) * dw * s.c;
  std::int64_t bad = -1;
  {
    py::gil_scoped_release release;
    for (std::int64_t i = 0; i < std::max<std::int64_t>(k, 1) && bad < 0; ++i) {
      const double* m = M.data() + 6 * i;
      T* oi = o + item * static_cast<std::size_t>(i);
      bool ok;
      if constexpr (std::is_same_v<T, float>)
        ok = paste::warp_affine_f32(c.data(), s.h, s.w, s.c, oi, dh, dw, m, replicate);
      else
        ok = paste::warp_affine_u8(c.data(), s.h, s.w, s.c, oi, dh, dw, m, replicate);
      if (!ok) bad = i;
    }
  }
  if (bad >= 0)
    value_error(fn, "M", std::string("must be invertible (its 2 x 2 part is singular)") +
                             (k > 0 ? " (matrix " + std::to_string(bad) + ")" : ""));
  return out;
}

py::array warp_affine(const py::object& img_obj, const py::object& M_obj, const py::object& dsize,
                      const py::object& border_obj) {
  constexpr const char* fn = "warp_affine";
  py::array img = as_array(img_obj, fn, "img");
  const WarpImage s = warp_image_contract(fn, desc(img));
  if (!s.u8) {
    auto c = contiguous<float>(img);
    bool ok;
    {
      py::gil_scoped_release release;
      ok = all_finite(c.data(), static_cast<std::size_t>(c.size()));
    }
    if (!ok) value_error(fn, "img", "must be finite (no NaN or inf)");
  }
  py::array m = as_array(M_obj, fn, "M");
  const std::int64_t k = warp_matrix_contract(fn, desc(m));
  const std::vector<double> M = read_matrices(m, k, fn, "M");
  int dw, dh;
  read_dsize(dsize, fn, &dw, &dh);
  const bool rep = warp_border_contract(fn, paste_str(border_obj, fn, "border", "'constant', 'replicate'"));
  return s.u8 ? warp_typed<std::uint8_t>(img, s, M, k, dw, dh, rep)
              : warp_typed<float>(img, s, M, k, dw, dh, rep);
}

// ---- paste_back ------------------------------------------------------------------

struct Parsed {
  std::vector<py::array> keep;  // contiguous crops / masks kept alive
  std::vector<const void*> crops;
  std::vector<const float*> masks;
  std::vector<int> hs, ws;
  std::vector<paste::PasteBox> boxes;
  std::vector<std::array<float, 6>> warps;
};

// The faces of a paste into H x W frames of `frame`'s dtype.
template <typename T>
void parse_faces(const py::object& crop_obj, const py::object& mask_obj, const py::object& aff_obj,
                 const ArrayDesc& frame, int H, int W, const char* fn, Parsed& p) {
  auto crops = host_items(crop_obj, 3, fn, "crop", "an h x w x 3 crop");
  auto masks = host_items(mask_obj, 2, fn, "crop_mask", "an h x w float32 mask");
  auto affs = host_items(aff_obj, 2, fn, "affine", "a 2 x 3 matrix");
  const std::size_t k = crops.size();
  paste_counts_contract(fn, k, masks.size(), affs.size());
  for (std::size_t i = 0; i < k; ++i) {
    const CropSize cs = paste_face_contract(fn, frame, desc(crops[i]), desc(masks[i]));
    auto cc = contiguous<T>(crops[i]);
    auto mc = contiguous<float>(masks[i]);
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
    paste_affine_contract(fn, desc(affs[i]));
    double a[6];
    bool f32;
    read_matrix(affs[i], fn, "affine", a, &f32);
    paste::PasteBox box;
    std::array<float, 6> wm;
    if (!paste::paste_setup(a, f32, cs.h, cs.w, H, W, &box, wm.data()))
      value_error(fn, "affine", "must be invertible (its 2 x 2 part is singular or the inverse overflows)");
    p.keep.push_back(cc);
    p.keep.push_back(mc);
    p.crops.push_back(cc.data());
    p.masks.push_back(mc.data());
    p.hs.push_back(cs.h);
    p.ws.push_back(cs.w);
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
py::array paste_typed(py::array frame, const PasteFrame& fs, const py::object& crop, const py::object& crop_mask,
                      const py::object& affine, const std::vector<int>& index, paste::Blend blend, bool lab,
                      long long levels, const py::object& out_obj) {
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
  const ArrayDesc fd = desc(frame);
  Parsed p;
  parse_faces<T>(crop, crop_mask, affine, fd, fs.h, fs.w, fn, p);
  if (fs.batched) paste_index_count_contract(fn, index.size(), p.crops.size());
  const int H = fs.h, W = fs.w;
  const std::int64_t row_bytes = static_cast<std::int64_t>(W) * 3 * sizeof(T);
  const int rows = fs.n * H;  // frames stacked: N * H rows of the same width

  py::array_t<T, py::array::c_style> out;
  bool need_copy = true;
  if (!out_obj.is_none()) {
    py::array o = as_array(out_obj, fn, "out");
    paste_out_contract(fn, fd, desc(o));
    if (!o.writeable()) value_error(fn, "out", "must be writeable");
    out = py::reinterpret_borrow<py::array_t<T, py::array::c_style>>(o);
    const auto fsp = span(frame), osp = span(o);
    if (frame.data() == o.data() && (frame.flags() & py::array::c_style)) {
      need_copy = false;  // in place
    } else if (fsp.first < osp.second && osp.first < fsp.second) {
      frame = py::array::ensure(frame.attr("copy")());  // overlapping views: read from a copy
    }
  }
  auto fc = contiguous<T>(frame);
  if (out_obj.is_none()) {
    if (fc.ptr() != frame.ptr()) {
      out = fc;  // already a fresh copy
      need_copy = false;
    } else {
      std::vector<py::ssize_t> shape(fd.shape.begin(), fd.shape.end());
      out = py::array_t<T, py::array::c_style>(shape);
    }
  }
  auto faces = make_faces<T>(p);
  T* o = out.mutable_data();
  const T* src = fc.data();
  const std::size_t frame_elems = static_cast<std::size_t>(H) * W * 3;
  {
    py::gil_scoped_release release;
    if (need_copy) paste::copy_rows(src, row_bytes, o, row_bytes, rows, row_bytes);
    const int nf = static_cast<int>(faces.size());
    if (!fs.batched) {
      if constexpr (std::is_same_v<T, float>)
        paste::paste_back_f32(o, H, W, faces.data(), nf, blend, lab, levels);
      else
        paste::paste_back_u8(o, H, W, faces.data(), nf, blend, lab, levels);
    } else {
      for (int k = 0; k < nf; ++k) {  // in order, each face into its frame
        T* img = o + frame_elems * static_cast<std::size_t>(index[static_cast<std::size_t>(k)]);
        if constexpr (std::is_same_v<T, float>)
          paste::paste_back_f32(img, H, W, &faces[static_cast<std::size_t>(k)], 1, blend, lab, levels);
        else
          paste::paste_back_u8(img, H, W, &faces[static_cast<std::size_t>(k)], 1, blend, lab, levels);
      }
    }
  }
  return out;
}

void parse_options(const py::object& blend_obj, const py::object& color_obj, const py::object& levels_obj,
                   const char* fn, paste::Blend* blend, bool* lab, long long* levels) {
  const auto b = paste_blend_contract(fn, paste_str(blend_obj, fn, "blend", "'alpha', 'laplacian', 'poisson'"));
  *blend = static_cast<paste::Blend>(static_cast<int>(b));
  *lab = paste_color_contract(fn, !color_obj.is_none(),
                              color_obj.is_none() ? std::string() : paste_str(color_obj, fn, "color", "None, 'lab'"));
  *levels = levels_contract(fn, as_int(levels_obj, fn, "levels"));
}

py::array paste_back(const py::object& frame_obj, const py::object& crop, const py::object& crop_mask,
                     const py::object& affine, const py::object& blend_obj, const py::object& color_obj,
                     const py::object& levels_obj, const py::object& out, const py::object& frame_index) {
  constexpr const char* fn = "paste_back";
  py::array frame = as_array(frame_obj, fn, "frame");
  const PasteFrame fs = paste_frame_contract(fn, desc(frame), !frame_index.is_none());
  const std::vector<int> index = frame_index_list(frame_index, fn, fs.n);
  paste::Blend blend;
  bool lab;
  long long levels;
  parse_options(blend_obj, color_obj, levels_obj, fn, &blend, &lab, &levels);
  if (fs.u8) return paste_typed<std::uint8_t>(frame, fs, crop, crop_mask, affine, index, blend, lab, levels, out);
  return paste_typed<float>(frame, fs, crop, crop_mask, affine, index, blend, lab, levels, out);
}

// One face's paste box and its warped crop / mask (the inputs of a box blend).
template <typename T>
py::tuple warp_typed_face(const py::array& frame, const PasteFrame& fs, const py::object& crop,
                          const py::object& crop_mask, const py::object& affine) {
  constexpr const char* fn = "paste_warp";
  Parsed p;
  parse_faces<T>(crop, crop_mask, affine, desc(frame), fs.h, fs.w, fn, p);
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
  const PasteFrame fs = paste_frame_contract(fn, desc(frame), false);
  if (fs.u8) return warp_typed_face<std::uint8_t>(frame, fs, crop, crop_mask, affine);
  return warp_typed_face<float>(frame, fs, crop, crop_mask, affine);
}

}  // namespace

void bind_paste(py::module_& m) {
  m.def("warp_affine", &warp_affine, py::arg("img"), py::arg("M"), py::arg("dsize"),
        py::arg("border") = "constant",
        "Bilinear affine warp (facefuse.reference.paste semantics, cv2.warpAffine's arguments) of a "
        "uint8/float32 H x W[ x C] image; border 'constant' (0) or 'replicate'. M 2 x 3, or K x 2 x 3 for K "
        "warps of the same image (output K x dh x dw[ x C]).");
  m.def("paste_back", &paste_back, py::arg("frame"), py::arg("crop"), py::arg("crop_mask"), py::arg("affine"),
        py::arg("blend") = "alpha", py::arg("color") = py::none(), py::arg("levels") = 5,
        py::arg("out") = py::none(), py::arg("frame_index") = py::none(),
        "Fused paste-back of warped face crops (one or a batch) into a frame (or, with frame_index, each "
        "face into its frame of an N x H x W x 3 batch); blend 'alpha', 'laplacian' or 'poisson'.");
  m.def("paste_warp", &paste_warp, py::arg("frame"), py::arg("crop"), py::arg("crop_mask"), py::arg("affine"),
        "((x0, y0, x1, y1), warped crop, warped mask) of one face's paste box.");
}

}  // namespace facefuse::bind
