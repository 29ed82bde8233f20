// Binding of QualityMonitor's device update (python/facefuse/ops/quality.py):
// the output pair, the optional source pair and the optional ROI (a clipped box
// or a float32 mask) go to one launch sequence (cuda/quality.cu,
// quality_monitor_sums) whose sums come back in one copy; the PSNRs are made
// here with the CPU's maths. Argument checks: the CPU bindings' quality
// contracts (cpp/bindings/op_contracts.hpp), then what the launch needs.
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "checks.hpp"
#include "device_args.hpp"
#include "facefuse/quality.hpp"
#include "kernels.hpp"

namespace py = pybind11;

namespace facefuse::cuda::bind {

using namespace facefuse::bind;

namespace {

constexpr const char* kFn = "QualityMonitor.update";

// `arg` must have the dtype and shape of 'frame' (the monitor's rule for every frame it pairs).
void same_as_frame(const ArrayDesc& a, const ArrayDesc& frame, const char* arg) {
  if (!a.same_dtype(frame)) type_error(kFn, arg, "an array with the dtype of 'frame' (" + frame.dtype + ")", a.describe());
  if (!a.same_shape(frame))
    value_error(kFn, arg, "must have the shape of 'frame' " + frame.shape_str() + ", got " + a.describe());
}

struct Box {
  std::int64_t x0, y0, x1, y1;
};

// (x0, y0, x1, y1): the clipped pixel box [x0, x1) x [y0, y1), non-empty, inside the frame.
Box box_arg(const py::handle& obj, const QualityFrame& f) {
  const std::string want = "an (x0, y0, x1, y1) box with 0 <= x0 < x1 <= " + std::to_string(f.w) +
                           " and 0 <= y0 < y1 <= " + std::to_string(f.h);
  if (!py::isinstance<py::sequence>(obj) || py::len(obj) != 4) type_error(kFn, "roi_box", want, type_name(obj));
  const py::sequence s = py::reinterpret_borrow<py::sequence>(obj);
  const Box b{as_int(s[0], kFn, "roi_box"), as_int(s[1], kFn, "roi_box"), as_int(s[2], kFn, "roi_box"),
              as_int(s[3], kFn, "roi_box")};
  if (!(0 <= b.x0 && b.x0 < b.x1 && b.x1 <= f.w && 0 <= b.y0 && b.y0 < b.y1 && b.y1 <= f.h))
    value_error(kFn, "roi_box", "must be " + want + ", got " + std::string(py::str(obj)));
  return b;
}

// One tPSNR from its 4 sums, with the CPU binding's checks in its order: the
// mask's rule first, then finite data.
double psnr_of(const double* s, bool masked, const char* data_arg, int c) {
  quality_sums_contract(kFn, masked, s[1], s[2], s[3]);
  if (!std::isfinite(s[0]))
    value_error(kFn, data_arg, "must hold finite values (found NaN or inf in it or in the previous one)");
  facefuse::quality::SseSums q;
  q.sse = s[0];
  q.weight_sum = s[1];
  return facefuse::quality::psnr_from_sums(q, c);
}

py::tuple monitor_tpsnr(const py::object& prev, const py::object& frame, const py::object& prev_source,
                        const py::object& source, const py::object& roi_box, const py::object& mask, int device,
                        std::uintptr_t stream) {
  const ArrayDesc cur = device_arg(frame, kFn, "frame");
  const QualityFrame f = quality_frame_contract(kFn, "frame", cur, 0);
  const ArrayDesc pv = device_arg(prev, kFn, "prev");
  same_as_frame(pv, cur, "prev");
  const bool has_src = !source.is_none();
  if (has_src != !prev_source.is_none())
    value_error(kFn, has_src ? "prev_source" : "source", "must be given with the other source frame (both or neither)");
  ArrayDesc ps, cs;
  if (has_src) {
    ps = device_arg(prev_source, kFn, "prev_source");
    cs = device_arg(source, kFn, "source");
    same_as_frame(ps, cur, "prev_source");
    same_as_frame(cs, cur, "source");
  }
  MonitorFrames mf;
  mf.prev = pv.data;
  mf.cur = cur.data;
  mf.prev_src = has_src ? ps.data : nullptr;
  mf.cur_src = has_src ? cs.data : nullptr;
  mf.u8 = f.u8;
  mf.h = f.h;
  mf.w = f.w;
  mf.c = f.c;
  if (!roi_box.is_none()) {
    const Box b = box_arg(roi_box, f);
    mf.has_box = true;
    mf.x0 = b.x0;
    mf.y0 = b.y0;
    mf.x1 = b.x1;
    mf.y1 = b.y1;
  }
  ArrayDesc m;
  if (!mask.is_none()) {
    if (mf.has_box) value_error(kFn, "mask", "cannot be given with 'roi_box' (one ROI per frame)");
    m = device_arg(mask, kFn, "mask");
    quality_mask_contract(kFn, &m, f);
    mf.mask = static_cast<const float*>(m.data);
  }
  double s[16];
  {
    py::gil_scoped_release nogil;
    quality_monitor_sums(mf, s, device, stream_of(stream));
  }
  // The host monitor's order: output pair, its ROI, source pair, its ROI.
  const bool roi = mf.has_box || mf.mask, masked = mf.mask != nullptr;
  py::object out_full = py::float_(psnr_of(s, false, "frame", f.c));
  py::object out_roi = roi ? py::object(py::float_(psnr_of(s + 4, masked, "frame", f.c))) : py::none();
  py::object src_full = has_src ? py::object(py::float_(psnr_of(s + 8, false, "source", f.c))) : py::none();
  py::object src_roi =
      has_src && roi ? py::object(py::float_(psnr_of(s + 12, masked, "source", f.c))) : py::none();
  return py::make_tuple(out_full, out_roi, src_full, src_roi);
}

}  // namespace

void bind_quality(py::module_& m) {
  m.def("quality_monitor_tpsnr", &monitor_tpsnr, py::arg("prev"), py::arg("frame"), py::arg("prev_source"),
        py::arg("source"), py::arg("roi_box"), py::arg("mask"), py::arg("device"), py::arg("stream"),
        "One QualityMonitor update on the GPU: (tpsnr, tpsnr_roi, tpsnr_source, tpsnr_source_roi) in dB, uncapped "
        "(inf for identical pixels), None where not asked; one device -> host copy and one stream synchronisation.");
}

}  // namespace facefuse::cuda::bind
