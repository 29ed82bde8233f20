// Bindings of the stateless GPU ops: blend_laplacian, bgr_to_lab, lab_to_bgr,
// color_transfer, tpsnr, tpsnr_sequence. Arguments are device arrays (anything
// with __cuda_array_interface__; ops/_gpu.py passes C-contiguous CuPy arrays and
// the outputs it allocated), checked by the same contracts as the CPU bindings
// (cpp/bindings/op_contracts.hpp), then by what the launches need (non-null,
// C-contiguous, grid limits). The GIL is released while the kernels are enqueued.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "checks.hpp"
#include "device_args.hpp"
#include "facefuse/quality.hpp"
#include "kernels.hpp"

namespace py = pybind11;

namespace facefuse::cuda::bind {

using namespace facefuse::bind;

namespace {

// The output the kernels write: a device array shaped `shape` of dtype `like`'s.
void* device_out(const py::handle& obj, const char* fn, const ArrayDesc& like, const std::vector<std::int64_t>& shape) {
  const ArrayDesc o = device_arg(obj, fn, "out");
  ArrayDesc want = like;
  want.shape = shape;
  if (!o.same_dtype(like) || !o.same_shape(want))
    value_error(fn, "out", "must be a " + like.dtype + " GPU array of shape " + want.shape_str() + ", got " +
                               o.describe());
  return const_cast<void*>(o.data);
}

const float* fptr(const ArrayDesc& d) { return static_cast<const float*>(d.data); }

void blend(const py::object& dst, const py::object& src, const py::object& mask, const py::object& out,
           const py::object& levels_o, int device, std::uintptr_t stream) {
  constexpr const char* fn = "blend_laplacian";
  const ArrayDesc d = device_arg(dst, fn, "dst"), s = device_arg(src, fn, "src"), m = device_arg(mask, fn, "mask");
  const BlendShape b = blend_contract(fn, d, s, m, true);
  const long long levels = levels_contract(fn, as_int(levels_o, fn, "levels"));
  // 16-row tiles on grid y, which holds at most 65535 blocks.
  if (b.h > 65535LL * 16)
    value_error(fn, "dst", "must have at most 1048560 rows on the GPU (tile rows), got " + d.describe());
  void* o = device_out(out, fn, d, d.shape);
  py::gil_scoped_release nogil;
  blend_laplacian(d.data, s.data, fptr(m), o, b.u8, b.n, b.h, b.w, b.c, levels, device, stream_of(stream));
}

void to_lab(const py::object& img, const py::object& out, int device, std::uintptr_t stream) {
  constexpr const char* fn = "bgr_to_lab";
  const ArrayDesc a = device_arg(img, fn, "img");
  const bool u8 = bgr_to_lab_contract(fn, a);
  ArrayDesc f32 = a;
  f32.kind = 'f';
  f32.itemsize = 4;
  f32.dtype = "float32";
  float* o = static_cast<float*>(device_out(out, fn, f32, a.shape));
  py::gil_scoped_release nogil;
  bgr_to_lab(a.data, u8, o, a.size() / 3, device, stream_of(stream));
}

void from_lab(const py::object& lab, const py::object& out, int device, std::uintptr_t stream) {
  constexpr const char* fn = "lab_to_bgr";
  const ArrayDesc a = device_arg(lab, fn, "lab");
  lab_to_bgr_contract(fn, a);
  float* o = static_cast<float*>(device_out(out, fn, a, a.shape));
  py::gil_scoped_release nogil;
  lab_to_bgr(fptr(a), o, a.size() / 3, device, stream_of(stream));
}

void transfer(const py::object& src, const py::object& ref, const py::object& src_mask, const py::object& ref_mask,
              const py::object& out, const py::object& strength_o, int device, std::uintptr_t stream) {
  constexpr const char* fn = "color_transfer";
  const ArrayDesc s = device_arg(src, fn, "src"), r = device_arg(ref, fn, "ref");
  ArrayDesc sm, rm;
  if (!src_mask.is_none()) sm = device_arg(src_mask, fn, "src_mask");
  if (!ref_mask.is_none()) rm = device_arg(ref_mask, fn, "ref_mask");
  const TransferShape t = transfer_contract(fn, s, r, src_mask.is_none() ? nullptr : &sm,
                                            ref_mask.is_none() ? nullptr : &rm);
  const float strength = strength_contract(fn, as_real(strength_o, fn, "strength", "a number in [0, 1]"));
  if (t.n > (1 << 20)) value_error(fn, "src", "must hold at most 2^20 images on the GPU, got " + s.describe());
  void* o = device_out(out, fn, s, s.shape);
  py::gil_scoped_release nogil;
  color_transfer(s.data, r.data, src_mask.is_none() ? nullptr : fptr(sm), ref_mask.is_none() ? nullptr : fptr(rm), o,
                 t.u8, t.n, t.src_px, t.n_ref, t.ref_px, strength, device, stream_of(stream));
}

// PSNR of each of n_pairs pairs (a + k * stride, b + k * stride elements); one
// host round trip for all of them. `data_arg` names the frames for NaN / inf.
std::vector<double> psnr_pairs(const char* fn, const ArrayDesc& a, const void* b, std::int64_t stride,
                               std::int64_t n_pairs, const QualityFrame& f, const ArrayDesc* mask,
                               const char* data_arg, int device, std::uintptr_t stream) {
  if (n_pairs > INT_MAX) value_error(fn, data_arg, "is too large, got " + a.describe());
  std::vector<double> sums(static_cast<std::size_t>(4 * n_pairs));
  {
    py::gil_scoped_release nogil;
    tpsnr_sums(a.data, b, stride, static_cast<int>(n_pairs), f.u8, f.h, f.w, f.c, mask ? fptr(*mask) : nullptr,
               sums.data(), device, stream_of(stream));
  }
  std::vector<double> psnr(static_cast<std::size_t>(n_pairs));
  for (std::int64_t k = 0; k < n_pairs; ++k) {
    const double* s = sums.data() + 4 * k;  // sse, weight_sum, mask_min, mask_max
    quality_sums_contract(fn, mask != nullptr, s[1], s[2], s[3]);
    if (!std::isfinite(s[0])) value_error(fn, data_arg, "must hold finite values (found NaN or inf)");
    facefuse::quality::SseSums q;
    q.sse = s[0];
    q.weight_sum = s[1];
    psnr[static_cast<std::size_t>(k)] = facefuse::quality::psnr_from_sums(q, f.c);
  }
  return psnr;
}

double tpsnr(const py::object& prev, const py::object& cur, const py::object& mask, int device,
             std::uintptr_t stream) {
  constexpr const char* fn = "tpsnr";
  const ArrayDesc a = device_arg(prev, fn, "prev"), b = device_arg(cur, fn, "cur");
  const QualityFrame f = tpsnr_contract(fn, a, b);
  ArrayDesc m;
  if (!mask.is_none()) m = device_arg(mask, fn, "mask");
  quality_mask_contract(fn, mask.is_none() ? nullptr : &m, f);
  return psnr_pairs(fn, a, b.data, 0, 1, f, mask.is_none() ? nullptr : &m, "prev' / 'cur", device, stream)[0];
}

py::array_t<double> tpsnr_sequence(const py::object& frames, const py::object& mask, int device,
                                   std::uintptr_t stream) {
  constexpr const char* fn = "tpsnr_sequence";
  const ArrayDesc a = device_arg(frames, fn, "frames");
  const QualityFrame f = quality_frame_contract(fn, "frames", a, 1);
  ArrayDesc m;
  if (!mask.is_none()) m = device_arg(mask, fn, "mask");
  quality_mask_contract(fn, mask.is_none() ? nullptr : &m, f);
  const std::int64_t stride = f.h * f.w * f.c;  // elements between consecutive frames
  const void* second = static_cast<const char*>(a.data) + stride * a.itemsize;
  const auto psnr = psnr_pairs(fn, a, second, stride, f.t - 1, f, mask.is_none() ? nullptr : &m, "frames", device,
                               stream);
  py::array_t<double> out(static_cast<py::ssize_t>(psnr.size()));
  std::copy(psnr.begin(), psnr.end(), out.mutable_data());
  return out;
}

}  // namespace

void bind_ops(py::module_& m) {
  const auto dev = py::arg("device"), st = py::arg("stream");
  m.def("blend_laplacian", &blend, py::arg("dst"), py::arg("src"), py::arg("mask"), py::arg("out"), py::arg("levels"),
        dev, st, "Multi-band blend (H x W[, C] or N x H x W x C frames, float32 mask) into out.");
  m.def("bgr_to_lab", &to_lab, py::arg("img"), py::arg("out"), dev, st,
        "(N x) H x W x 3 BGR (uint8, or float32 in [0, 1]) -> float32 L, a, b into out.");
  m.def("lab_to_bgr", &from_lab, py::arg("lab"), py::arg("out"), dev, st,
        "(N x) H x W x 3 float32 L, a, b -> float32 B, G, R in [0, 1] into out.");
  m.def("color_transfer", &transfer, py::arg("src"), py::arg("ref"), py::arg("src_mask"), py::arg("ref_mask"),
        py::arg("out"), py::arg("strength"), dev, st,
        "Batched Reinhard transfer into out (masks None for none). Items with an all-zero mask return src.");
  m.def("tpsnr", &tpsnr, py::arg("prev"), py::arg("cur"), py::arg("mask"), dev, st,
        "tPSNR of a frame pair (dB); synchronises the stream to return it.");
  m.def("tpsnr_sequence", &tpsnr_sequence, py::arg("frames"), py::arg("mask"), dev, st,
        "tPSNR of each consecutive pair (float64 array of T - 1); synchronises the stream.");
}

}  // namespace facefuse::cuda::bind
