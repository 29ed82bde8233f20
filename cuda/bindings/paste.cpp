// Bindings of the GPU paste family: warp_affine and paste_back. Images, crops,
// masks and outputs are device arrays (ops/_gpu.py passes C-contiguous CuPy
// arrays); matrices are host arrays (geometry: inverted / set up on the host and
// uploaded with the launch). Checked by the CPU binding's contract
// (cpp/bindings/paste_contract.hpp) and its Python glue (paste_glue.hpp), then
// by what the launches need. Outputs come from `alloc(shape)` (a Python callable
// returning a device array of the input's dtype), called once the arguments
// have passed, so a bad call allocates nothing.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "checks.hpp"
#include "device_args.hpp"
#include "cuda_common.hpp"
#include "facefuse/paste_math.hpp"
#include "kernels.hpp"
#include "paste_contract.hpp"
#include "paste_glue.hpp"

namespace py = pybind11;

namespace facefuse::cuda::bind {

using namespace facefuse::bind;

namespace {

// alloc(shape) -> a device array checked to have `want`'s dtype and shape.
py::object allocate(const py::object& alloc, const char* fn, const ArrayDesc& like,
                    const std::vector<std::int64_t>& shape, ArrayDesc* out) {
  py::tuple t(shape.size());
  for (std::size_t i = 0; i < shape.size(); ++i) t[i] = py::int_(shape[i]);
  py::object o = alloc(t);
  *out = device_arg(o, fn, "out");
  ArrayDesc want = like;
  want.shape = shape;
  if (!out->same_dtype(like) || !out->same_shape(want))
    value_error(fn, "out", "must be a " + like.dtype + " GPU array of shape " + want.shape_str() + ", got " +
                               out->describe());
  return o;
}

// ---- warp_affine ----------------------------------------------------------------

py::object warp(const py::object& img, const py::object& M_obj, const py::object& dsize,
                const py::object& border_obj, const py::object& alloc, int device, std::uintptr_t stream) {
  constexpr const char* fn = "warp_affine";
  const ArrayDesc a = device_arg(img, fn, "img");
  const WarpImage s = warp_image_contract(fn, a);
  const py::array m = as_array(M_obj, fn, "M");
  const std::int64_t k = warp_matrix_contract(fn, desc(m));
  const std::vector<double> M = read_matrices(m, k, fn, "M");
  int dw, dh;
  read_dsize(dsize, fn, &dw, &dh);
  const bool rep = warp_border_contract(fn, paste_str(border_obj, fn, "border", "'constant', 'replicate'"));
  const std::int64_t items = k > 0 ? k : 1;
  std::vector<float> kinv(static_cast<std::size_t>(6 * items));
  for (std::int64_t i = 0; i < items; ++i) {  // as the CPU's warp_affine: inverted in double, rounded to float
    double inv[6];
    if (!paste::invert_affine(M.data() + 6 * i, inv))
      value_error(fn, "M", std::string("must be invertible (its 2 x 2 part is singular)") +
                               (k > 0 ? " (matrix " + std::to_string(i) + ")" : ""));
    for (int j = 0; j < 6; ++j) kinv[static_cast<std::size_t>(6 * i + j)] = static_cast<float>(inv[j]);
  }
  std::vector<std::int64_t> shape = {dh, dw};
  if (a.ndim() == 3) shape.push_back(s.c);
  if (k > 0) shape.insert(shape.begin(), k);
  ArrayDesc o;
  py::object out = allocate(alloc, fn, a, shape, &o);
  {
    py::gil_scoped_release nogil;
    warp_affine(a.data, s.u8, s.h, s.w, s.c, const_cast<void*>(o.data), dh, dw, static_cast<int>(items),
                kinv.data(), rep, device, stream_of(stream));
  }
  return out;
}

// ---- paste_back -----------------------------------------------------------------

// Device arrays of a face-batch argument: one item, a C-contiguous batch (split
// by pointer arithmetic) or a list / tuple of items.
std::vector<ArrayDesc> device_items(const py::object& obj, int item_ndim, const char* fn, const char* arg,
                                    const char* layout) {
  std::vector<ArrayDesc> items;
  if (py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj)) {
    for (const auto& it : obj) {
      ArrayDesc a = device_arg(it, fn, arg);
      paste_list_item_contract(fn, arg, a, item_ndim, layout);
      items.push_back(a);
    }
    paste_list_contract(fn, arg, items.size());
    return items;
  }
  const ArrayDesc a = device_arg(obj, fn, arg);
  const std::int64_t k = paste_batch_contract(fn, arg, a, item_ndim, layout);
  if (a.ndim() == item_ndim) return {a};
  ArrayDesc item = a;
  item.shape.erase(item.shape.begin());
  if (!item.strides.empty()) item.strides.erase(item.strides.begin());
  const std::int64_t bytes = item.size() * a.itemsize;
  for (std::int64_t i = 0; i < k; ++i) {
    item.data = static_cast<const char*>(a.data) + i * bytes;
    items.push_back(item);
  }
  return items;
}

py::object paste(const py::object& frame, const py::object& crop, const py::object& crop_mask,
                 const py::object& affine, const py::object& blend_obj, const py::object& color_obj,
                 const py::object& levels_obj, const py::object& out_obj, const py::object& frame_index,
                 const py::object& alloc, int device, std::uintptr_t stream) {
  constexpr const char* fn = "paste_back";
  const ArrayDesc fd = device_arg(frame, fn, "frame");
  const PasteFrame fs = paste_frame_contract(fn, fd, !frame_index.is_none());
  const std::vector<int> index = frame_index_list(frame_index, fn, fs.n);
  const PasteBlendKind blend =
      paste_blend_contract(fn, paste_str(blend_obj, fn, "blend", "'alpha', 'laplacian', 'poisson'"));
  if (blend == PasteBlendKind::poisson)
    type_error(fn, "blend",
               "'alpha' or 'laplacian' for GPU arrays (there is no GPU Poisson paste: pass host arrays, or "
               "blend='laplacian')",
               "'poisson'");
  const bool lab = paste_color_contract(
      fn, !color_obj.is_none(), color_obj.is_none() ? std::string() : paste_str(color_obj, fn, "color", "None, 'lab'"));
  const long long levels = levels_contract(fn, as_int(levels_obj, fn, "levels"));

  const auto crops = device_items(crop, 3, fn, "crop", "an h x w x 3 crop");
  const auto masks = device_items(crop_mask, 2, fn, "crop_mask", "an h x w float32 mask");
  const auto affs = host_items(affine, 2, fn, "affine", "a 2 x 3 matrix");
  paste_counts_contract(fn, crops.size(), masks.size(), affs.size());
  if (fs.batched) paste_index_count_contract(fn, index.size(), crops.size());
  if (crops.size() > static_cast<std::size_t>(1 << 24)) value_error(fn, "crop", "must hold at most 2^24 faces");
  std::vector<PasteFace> faces(crops.size());
  for (std::size_t i = 0; i < crops.size(); ++i) {
    const CropSize cs = paste_face_contract(fn, fd, crops[i], masks[i]);
    paste_affine_contract(fn, desc(affs[i]));
    double a[6];
    bool f32;
    read_matrix(affs[i], fn, "affine", a, &f32);
    PasteFace& f = faces[i];
    if (!paste::paste_setup(a, f32, cs.h, cs.w, fs.h, fs.w, &f.box, f.warp))
      value_error(fn, "affine", "must be invertible (its 2 x 2 part is singular or the inverse overflows)");
    f.crop = crops[i].data;
    f.mask = static_cast<const float*>(masks[i].data);
    f.h = cs.h;
    f.w = cs.w;
    f.frame = fs.batched ? index[i] : 0;
  }

  ArrayDesc od;
  py::object out;
  if (out_obj.is_none()) {
    out = allocate(alloc, fn, fd, fd.shape, &od);
  } else {
    out = out_obj;
    od = device_arg(out_obj, fn, "out");
    paste_out_contract(fn, fd, od);
  }
  {
    py::gil_scoped_release nogil;
    const std::size_t bytes = static_cast<std::size_t>(fd.size()) * static_cast<std::size_t>(fd.itemsize);
    if (od.data != fd.data) copy_device(const_cast<void*>(od.data), fd.data, bytes, device, stream_of(stream));
    paste_back(const_cast<void*>(od.data), fs.u8, fs.n, fs.h, fs.w, faces.data(), static_cast<int>(faces.size()),
               blend == PasteBlendKind::laplacian, lab, levels, device, stream_of(stream));
  }
  return out;
}

}  // namespace

void bind_paste(py::module_& m) {
  const auto dev = py::arg("device"), st = py::arg("stream");
  m.def("warp_affine", &warp, py::arg("img"), py::arg("M"), py::arg("dsize"), py::arg("border"), py::arg("alloc"), dev,
        st,
        "Bilinear affine warp of a device image (H x W[ x C], uint8 / float32) with host M (2 x 3, or K x 2 x 3 "
        "for K warps in one launch); returns alloc(shape) filled.");
  m.def("paste_back", &paste, py::arg("frame"), py::arg("crop"), py::arg("crop_mask"), py::arg("affine"),
        py::arg("blend"), py::arg("color"), py::arg("levels"), py::arg("out"), py::arg("frame_index"),
        py::arg("alloc"), dev, st,
        "Paste-back of device crops / float32 masks (host affines) into a device frame (or, with frame_index, "
        "N frames) into out (alloc(shape) when None); blend 'alpha' or 'laplacian', color None or 'lab'.");
}

}  // namespace facefuse::cuda::bind
