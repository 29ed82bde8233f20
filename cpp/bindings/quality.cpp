// Bindings for the quality op family: temporal PSNR of a frame pair and of a
// frame sequence. Every argument is validated (the contracts of op_contracts.hpp,
// shared with the CUDA binding; hypothesis calls these entries directly);
// kernels run with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "checks.hpp"
#include "facefuse/quality.hpp"

namespace facefuse::bind {

namespace {

namespace q = facefuse::quality;

// A view of an (H, rowlen...) array whose rows are contiguous runs of `row_len`
// elements, possibly with a row stride (negative too): no copy for a[::-1],
// a[y0:y1, x0:x1] or a[::2]; a contiguous copy otherwise (e.g. a[:, ::2]).
template <typename T>
struct RowView {
  const T* ptr = nullptr;
  std::ptrdiff_t stride = 0;  // elements
  py::array keep;
};

template <typename T>
RowView<T> row_view(const py::array& a) {
  const py::ssize_t item = static_cast<py::ssize_t>(sizeof(T));
  bool ok = reinterpret_cast<std::uintptr_t>(a.data()) % alignof(T) == 0;
  // Inner dimensions (after the row axis) must be C-contiguous.
  py::ssize_t expect = item;
  for (py::ssize_t d = a.ndim() - 1; d >= 1 && ok; --d) {
    if (a.shape(d) != 1 && a.strides(d) != expect) ok = false;
    expect *= a.shape(d);
  }
  if (ok && a.shape(0) > 1 && a.strides(0) % item != 0) ok = false;
  RowView<T> v;
  if (ok) {
    v.keep = a;
    v.ptr = static_cast<const T*>(a.data());
    v.stride = a.shape(0) > 1 ? static_cast<std::ptrdiff_t>(a.strides(0) / item) : 0;
  } else {
    auto c = contiguous<T>(a);
    v.keep = c;
    v.ptr = c.data();
    v.stride = static_cast<std::ptrdiff_t>(c.size() / (c.shape(0) > 0 ? c.shape(0) : 1));
  }
  return v;
}

// The optional weights, checked against the frames (quality_mask_contract).
py::object mask_arg(const py::object& mask_obj, const char* fn, const QualityFrame& f) {
  if (mask_obj.is_none()) return py::none();
  py::array m = as_array(mask_obj, fn, "mask");
  const ArrayDesc d = desc(m);
  quality_mask_contract(fn, &d, f);
  return std::move(m);
}

void check_sums(const q::SseSums& s, bool has_mask, const char* fn) {
  quality_sums_contract(fn, has_mask, s.weight_sum, s.mask_min, s.mask_max);
}

template <typename T>
bool view_finite(const RowView<T>& v, py::ssize_t h, py::ssize_t row_len) {
  for (py::ssize_t y = 0; y < h; ++y)
    if (!all_finite(v.ptr + y * v.stride, static_cast<std::size_t>(row_len))) return false;
  return true;
}

template <typename T>
double tpsnr_pair(const py::array& prev, const py::array& cur, const py::object& mask_obj, const QualityFrame& f) {
  const char* fn = "tpsnr";
  RowView<T> a = row_view<T>(prev), b = row_view<T>(cur);
  RowView<float> m;
  const bool has_mask = !mask_obj.is_none();
  if (has_mask) m = row_view<float>(py::reinterpret_borrow<py::array>(mask_obj));
  q::SseSums s;
  {
    py::gil_scoped_release nogil;
    if constexpr (std::is_same_v<T, std::uint8_t>)
      s = q::frame_sse_u8(a.ptr, a.stride, b.ptr, b.stride, has_mask ? m.ptr : nullptr, m.stride, f.h, f.w, f.c);
    else
      s = q::frame_sse_f32(a.ptr, a.stride, b.ptr, b.stride, has_mask ? m.ptr : nullptr, m.stride, f.h, f.w, f.c);
  }
  check_sums(s, has_mask, fn);
  if (!std::isfinite(s.sse)) {
    const char* bad = view_finite(a, f.h, f.w * f.c) ? "cur" : "prev";
    value_error(fn, bad, "must hold finite values (found NaN or inf)");
  }
  return q::psnr_from_sums(s, f.c);
}

double tpsnr(const py::object& prev_obj, const py::object& cur_obj, const py::object& mask_obj) {
  const char* fn = "tpsnr";
  py::array prev = as_array(prev_obj, fn, "prev");
  py::array cur = as_array(cur_obj, fn, "cur");
  const QualityFrame f = tpsnr_contract(fn, desc(prev), desc(cur));
  py::object mask = mask_arg(mask_obj, fn, f);
  return f.u8 ? tpsnr_pair<std::uint8_t>(prev, cur, mask, f) : tpsnr_pair<float>(prev, cur, mask, f);
}

template <typename T>
py::array_t<double> tpsnr_seq_impl(const py::array& frames, const py::object& mask_obj, const QualityFrame& f) {
  const char* fn = "tpsnr_sequence";
  auto fr = contiguous<T>(frames);
  py::array_t<float, py::array::c_style> m;
  const bool has_mask = !mask_obj.is_none();
  if (has_mask) m = contiguous<float>(py::reinterpret_borrow<py::array>(mask_obj));
  py::array_t<double> out(f.t - 1);
  std::vector<q::SseSums> sums(static_cast<std::size_t>(f.t - 1));
  {
    py::gil_scoped_release nogil;
    const float* mp = has_mask ? m.data() : nullptr;
    if constexpr (std::is_same_v<T, std::uint8_t>)
      q::tpsnr_sequence_u8(fr.data(), f.t, f.h, f.w, f.c, mp, out.mutable_data(), sums.data());
    else
      q::tpsnr_sequence_f32(fr.data(), f.t, f.h, f.w, f.c, mp, out.mutable_data(), sums.data());
  }
  for (const auto& s : sums) {
    check_sums(s, has_mask, fn);
    if (!std::isfinite(s.sse)) value_error(fn, "frames", "must hold finite values (found NaN or inf)");
  }
  return out;
}

py::array_t<double> tpsnr_sequence(const py::object& frames_obj, const py::object& mask_obj) {
  const char* fn = "tpsnr_sequence";
  py::array frames = as_array(frames_obj, fn, "frames");
  const QualityFrame f = quality_frame_contract(fn, "frames", desc(frames), 1);
  py::object mask = mask_arg(mask_obj, fn, f);
  return f.u8 ? tpsnr_seq_impl<std::uint8_t>(frames, mask, f) : tpsnr_seq_impl<float>(frames, mask, f);
}

}  // namespace

void bind_quality(py::module_& m) {
  m.def("tpsnr", &tpsnr, py::arg("prev"), py::arg("cur"), py::arg("mask") = py::none(),
        "tPSNR (dB, peak 255) between two frames of the same shape and dtype (uint8, or float32 on the\n"
        "0..255 scale; H x W or H x W x C, C = 1, 3 or 4). `mask`: None or float32 H x W in [0, 1]\n"
        "weighting each pixel's squared error: MSE = sum(m * sum_c d^2) / (C * sum(m)).\n"
        "Identical frames give inf. One pass, double accumulation, GIL released.");
  m.def("tpsnr_sequence", &tpsnr_sequence, py::arg("frames"), py::arg("mask") = py::none(),
        "tPSNR of each consecutive pair of a sequence [T, H, W(, C)] (T >= 2): float64 array of T - 1 values.");
}

}  // namespace facefuse::bind
