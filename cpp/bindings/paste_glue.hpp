// The Python side of the paste family's arguments, shared by the CPU binding
// (cpp/bindings/paste.cpp) and the CUDA binding (cuda/bindings/paste.cpp):
// option strings, host 2 x 3 matrices and frame_index. The rules are in
// paste_contract.hpp.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "checks.hpp"
#include "paste_contract.hpp"

namespace facefuse::bind {

inline std::string paste_str(const py::handle& obj, const char* fn, const char* arg, const char* allowed) {
  if (!py::isinstance<py::str>(obj)) type_error(fn, arg, std::string("one of ") + allowed, type_name(obj));
  return obj.cast<std::string>();
}

// One host 2 x 3 matrix (float32 / float64, the contract checked the layout)
// -> 6 finite doubles; *is_f32 tells float32.
inline void read_matrix(const py::array& a, const char* fn, const char* arg, double* m, bool* is_f32) {
  const bool f32 = is_dtype<float>(a);
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

// frame_index (None: empty) as frame numbers in 0 .. n - 1: a sequence of ints
// or a 1-D integer array.
inline std::vector<int> frame_index_list(const py::object& obj, const char* fn, int n) {
  std::vector<int> idx;
  if (obj.is_none()) return idx;
  const char* want = "a sequence of ints (the frame of each face)";
  if (py::isinstance<py::array>(obj)) {
    const py::array a = py::reinterpret_borrow<py::array>(obj);
    if (a.ndim() != 1 || !desc(a).is_int()) type_error(fn, "frame_index", want, describe(a));
  } else if (!py::isinstance<py::sequence>(obj) || py::isinstance<py::str>(obj)) {
    type_error(fn, "frame_index", want, type_name(obj));
  }
  for (const auto& v : obj) idx.push_back(paste_index_contract(fn, as_int(v, fn, "frame_index"), n));
  return idx;
}

// (width, height) -> *dw, *dh (warp_dsize_contract).
inline void read_dsize(const py::object& dsize, const char* fn, int* dw, int* dh) {
  if (!py::isinstance<py::sequence>(dsize) || py::isinstance<py::str>(dsize) || py::len(dsize) != 2)
    type_error(fn, "dsize", "a (width, height) pair of ints", type_name(dsize));
  py::sequence ds = py::reinterpret_borrow<py::sequence>(dsize);
  const long long w = as_int(ds[0], fn, "dsize"), h = as_int(ds[1], fn, "dsize");
  warp_dsize_contract(fn, w, h);
  *dw = static_cast<int>(w);
  *dh = static_cast<int>(h);
}

// The finite values of warp_affine's M (warp_matrix_contract passed; k == 0: one
// matrix) as 6 * max(k, 1) doubles.
inline std::vector<double> read_matrices(const py::array& m, std::int64_t k, const char* fn, const char* arg) {
  std::vector<double> M(static_cast<std::size_t>(6 * (k > 0 ? k : 1)));
  auto md = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(m);
  std::copy(md.data(), md.data() + M.size(), M.begin());
  for (double v : M)
    if (!std::isfinite(v)) value_error(fn, arg, "must be finite (no NaN or inf)");
  return M;
}

// Host arrays of a face-batch argument: a single item (ndim == item_ndim), a
// batch (ndim == item_ndim + 1) or a list / tuple of items.
inline std::vector<py::array> host_items(const py::object& obj, int item_ndim, const char* fn, const char* arg,
                                         const char* layout) {
  std::vector<py::array> items;
  if (py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj)) {
    for (const auto& it : obj) {
      py::array a = as_array(it, fn, arg);
      paste_list_item_contract(fn, arg, desc(a), item_ndim, layout);
      items.push_back(a);
    }
    paste_list_contract(fn, arg, items.size());
    return items;
  }
  py::array a = as_array(obj, fn, arg);
  const std::int64_t k = paste_batch_contract(fn, arg, desc(a), item_ndim, layout);
  if (a.ndim() == item_ndim) {
    items.push_back(a);
  } else {
    for (std::int64_t i = 0; i < k; ++i) items.push_back(py::reinterpret_borrow<py::array>(a[py::int_(i)]));
  }
  return items;
}

}  // namespace facefuse::bind
