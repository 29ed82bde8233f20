// Python bindings of the crop <-> model tensor conversions (facefuse/tensors.hpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "checks.hpp"
#include "facefuse/tensors.hpp"

namespace py = pybind11;

namespace facefuse::bind {

namespace {

constexpr long long kMaxSide = 1 << 16;
constexpr long long kMaxRows = 0x7fffffffLL;  // the kernels count crop rows (N * H) in int

int tile_arg(const py::object& obj, const char* fn) {
  const long long t = as_int(obj, fn, "tile");
  if (t < 1 || t > 64) value_error(fn, "tile", "must be an int in [1, 64], got " + std::to_string(t));
  return static_cast<int>(t);
}

py::array crops_to_planes(const py::object& crops_obj, const py::object& table_obj, const py::object& tile_obj) {
  constexpr const char* fn = "crops_to_planes";
  py::array crops = as_array(crops_obj, fn, "crops");
  const ArrayDesc d = desc(crops);
  if (!(d.kind == 'u' && d.itemsize == 1)) type_error(fn, "crops", "a uint8 N x H x W x 3 array", describe(crops));
  const int t = tile_arg(tile_obj, fn);
  if (crops.ndim() != 4 || crops.shape(3) != 3 || crops.shape(0) < 1 || crops.shape(1) < 1 || crops.shape(2) < 1 ||
      crops.shape(1) > kMaxSide || crops.shape(2) > kMaxSide || crops.shape(1) % t != 0 || crops.shape(2) % t != 0)
    value_error(fn, "crops", "must be N x H x W x 3 with N >= 1 and H, W in 1..65536 multiples of 'tile' (" +
                                 std::to_string(t) + "), got " + describe(crops));
  if (crops.shape(0) * crops.shape(1) > kMaxRows)
    value_error(fn, "crops", "must hold at most 2**31 - 1 rows in all (N * H), got " + describe(crops));
  py::array table = as_array(table_obj, fn, "table");
  const ArrayDesc td = desc(table);
  if (!(td.kind == 'f' && td.itemsize == 4) || table.ndim() != 2 || table.shape(0) != 3 || table.shape(1) != 256)
    type_error(fn, "table", "a float32 3 x 256 array", describe(table));
  auto c = contiguous<std::uint8_t>(crops);
  auto tab = contiguous<float>(table);
  const int n = static_cast<int>(c.shape(0)), h = static_cast<int>(c.shape(1)), w = static_cast<int>(c.shape(2));
  py::array_t<float, py::array::c_style> out(std::vector<py::ssize_t>{
      static_cast<py::ssize_t>(n) * t * t, 3, static_cast<py::ssize_t>(h / t), static_cast<py::ssize_t>(w / t)});
  float* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    tensors::crops_to_planes(c.data(), n, h, w, t, tab.data(), o);
  }
  return std::move(out);
}

py::array planes_to_crops(const py::object& planes_obj, const py::object& tile_obj, const py::object& lo_obj,
                          const py::object& hi_obj, const py::object& scale_obj, const py::object& offset_obj) {
  constexpr const char* fn = "planes_to_crops";
  py::array planes = as_array(planes_obj, fn, "planes");
  const ArrayDesc d = desc(planes);
  if (!(d.kind == 'f' && d.itemsize == 4)) type_error(fn, "planes", "a float32 (N*tile*tile) x 3 x h x w array", describe(planes));
  const int t = tile_arg(tile_obj, fn);
  const long long tt = static_cast<long long>(t) * t;
  if (planes.ndim() != 4 || planes.shape(1) != 3 || planes.shape(0) < 1 || planes.shape(0) % tt != 0 ||
      planes.shape(2) < 1 || planes.shape(3) < 1 || planes.shape(2) * t > kMaxSide || planes.shape(3) * t > kMaxSide)
    value_error(fn, "planes", "must be (N * tile * tile) x 3 x h x w with tile = " + std::to_string(t) +
                                  " and h * tile, w * tile in 1..65536, got " + describe(planes));
  if (planes.shape(0) / tt * planes.shape(2) * t > kMaxRows)
    value_error(fn, "planes", "must make at most 2**31 - 1 crop rows in all, got " + describe(planes));
  const double lo = as_real(lo_obj, fn, "lo"), hi = as_real(hi_obj, fn, "hi");
  const double scale = as_real(scale_obj, fn, "scale"), offset = as_real(offset_obj, fn, "offset");
  if (!std::isfinite(lo) || !std::isfinite(hi) || !(lo <= hi))
    value_error(fn, "lo", "and 'hi' must be finite with lo <= hi");
  if (!std::isfinite(scale) || !(scale > 0.0)) value_error(fn, "scale", "must be a finite number > 0");
  if (!std::isfinite(offset) || lo + offset < 0.0) value_error(fn, "offset", "must be finite with lo + offset >= 0");
  auto p = contiguous<float>(planes);
  const int n = static_cast<int>(p.shape(0) / tt), h = static_cast<int>(p.shape(2)) * t, w = static_cast<int>(p.shape(3)) * t;
  py::array_t<std::uint8_t, py::array::c_style> out(std::vector<py::ssize_t>{n, h, w, 3});
  std::uint8_t* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    tensors::planes_to_crops(p.data(), n, h, w, t, static_cast<float>(lo), static_cast<float>(hi),
                             static_cast<float>(offset), static_cast<float>(scale), o);
  }
  return std::move(out);
}

}  // namespace

void bind_tensors(py::module_& m) {
  m.def("crops_to_planes", &crops_to_planes, py::arg("crops"), py::arg("table"), py::arg("tile") = 1,
        "uint8 BGR crops N x H x W x 3 -> float32 RGB planes (N*tile*tile) x 3 x H/tile x W/tile, each value "
        "table[c][v]; tile > 1 deals the pixels into FaceFusion's interleaved pixel-boost tiles.");
  m.def("planes_to_crops", &planes_to_crops, py::arg("planes"), py::arg("tile"), py::arg("lo"), py::arg("hi"),
        py::arg("scale"), py::arg("offset") = 0.0,
        "The inverse of crops_to_planes: uint8 BGR crops, each value rint((clip(v, lo, hi) + offset) * scale) in "
        "float32 steps, ties to even, saturated (NaN -> 255, as cv2.convertScaleAbs).");
}

}  // namespace facefuse::bind
