// Argument checks shared by every binding. Each failure raises a Python
// TypeError / ValueError that names the function and the argument, so bad input
// never reaches a kernel.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <climits>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <type_traits>

namespace facefuse::bind {

namespace py = pybind11;

// "uint8 array of shape (3, 4, 3)"
inline std::string describe(const py::array& a) {
  std::string s = py::str(a.dtype()).cast<std::string>() + " array of shape (";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    if (i) s += ", ";
    s += std::to_string(a.shape(i));
  }
  if (a.ndim() == 1) s += ",";
  return s + ")";
}

[[noreturn]] inline void type_error(const char* fn, const char* arg, const std::string& expected,
                                    const std::string& got) {
  throw py::type_error(std::string(fn) + ": argument '" + arg + "' must be " + expected + ", got " + got);
}

[[noreturn]] inline void value_error(const char* fn, const char* arg, const std::string& msg) {
  throw py::value_error(std::string(fn) + ": argument '" + arg + "' " + msg);
}

template <typename T>
inline bool is_dtype(const py::array& a) {
  return a.dtype().is(py::dtype::of<T>());
}

// Converts an arbitrary Python object to an ndarray (no dtype cast), raising a
// TypeError naming `arg` when it is not array-like.
inline py::array as_array(const py::handle& obj, const char* fn, const char* arg) {
  if (py::isinstance<py::array>(obj)) return py::reinterpret_borrow<py::array>(obj);
  try {
    return py::array::ensure(obj);
  } catch (...) {
  }
  type_error(fn, arg, "a numpy array", std::string(py::str(py::type::of(obj).attr("__name__"))));
}

inline void require_ndim(const py::array& a, const char* fn, const char* arg,
                         std::initializer_list<int> allowed, const char* layout) {
  for (int n : allowed)
    if (a.ndim() == n) return;
  value_error(fn, arg, std::string("must be ") + layout + ", got " + describe(a));
}

inline void require_nonempty(const py::array& a, const char* fn, const char* arg) {
  if (a.size() == 0) value_error(fn, arg, "must not be empty, got " + describe(a));
}

// A C-contiguous, aligned view of `a` with the same dtype: `a` itself when it
// already is one, otherwise a copy (the only copy a binding makes).
template <typename T>
inline py::array_t<T, py::array::c_style> contiguous(const py::array& a) {
  return py::array_t<T, py::array::c_style>::ensure(a);
}

inline std::string type_name(const py::handle& obj) {
  return std::string(py::str(py::type::of(obj).attr("__name__")));
}

// A Python int (or NumPy integer), not bool; TypeError naming `arg` otherwise.
// Values beyond long long saturate, so range checks still see them as too large.
inline long long as_int(const py::handle& obj, const char* fn, const char* arg) {
  if (PyBool_Check(obj.ptr()) || !PyIndex_Check(obj.ptr())) type_error(fn, arg, "an int", type_name(obj));
  py::object idx = py::reinterpret_steal<py::object>(PyNumber_Index(obj.ptr()));
  if (!idx) throw py::error_already_set();
  int overflow = 0;
  long long v = PyLong_AsLongLongAndOverflow(idx.ptr(), &overflow);
  if (overflow > 0) return LLONG_MAX;
  if (overflow < 0) return LLONG_MIN;
  if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
  return v;
}

// A real number (Python int / float, NumPy integer / floating), not bool.
inline double as_real(const py::handle& obj, const char* fn, const char* arg) {
  if (PyBool_Check(obj.ptr()) || !(PyFloat_Check(obj.ptr()) || PyIndex_Check(obj.ptr()) ||
                                   py::isinstance(obj, py::module_::import("numpy").attr("floating"))))
    type_error(fn, arg, "a real number", type_name(obj));
  const double v = PyFloat_AsDouble(obj.ptr());
  if (v == -1.0 && PyErr_Occurred()) throw py::error_already_set();
  return v;
}

// A dimension as int for the kernels; past 2^28 a side is rejected (far beyond
// any frame, and it keeps the kernels' int index arithmetic in range).
inline int as_dim(py::ssize_t n, const char* fn, const char* arg, const py::array& a) {
  if (n > (1 << 28)) value_error(fn, arg, "is too large, got " + describe(a));
  return static_cast<int>(n);
}

// The (dst, src, mask) triple of a blend op: dst a uint8 or float32 H x W,
// H x W x 1 or H x W x 3 frame, src the same dtype and shape, mask float32 H x W.
struct BlendArgs {
  py::array dst, src, mask;
  bool u8;  // else float32
  int channels;
};

inline BlendArgs blend_args(const py::object& dst_o, const py::object& src_o, const py::object& mask_o,
                            const char* fn) {
  BlendArgs a{as_array(dst_o, fn, "dst"), as_array(src_o, fn, "src"), as_array(mask_o, fn, "mask"), false, 1};
  const py::array &dst = a.dst, &src = a.src, &mask = a.mask;
  a.u8 = is_dtype<std::uint8_t>(dst);
  if (!a.u8 && !is_dtype<float>(dst))
    type_error(fn, "dst", "a uint8 or float32 H x W, H x W x 1 or H x W x 3 frame", describe(dst));
  require_ndim(dst, fn, "dst", {2, 3}, "an H x W, H x W x 1 or H x W x 3 frame");
  a.channels = dst.ndim() == 3 ? static_cast<int>(dst.shape(2)) : 1;
  if (a.channels != 1 && a.channels != 3)
    value_error(fn, "dst", "must have 1 or 3 channels (H x W, H x W x 1 or H x W x 3), got " + describe(dst));
  require_nonempty(dst, fn, "dst");
  if (!dst.dtype().is(src.dtype()))
    type_error(fn, "src", std::string("a ") + (a.u8 ? "uint8" : "float32") + " frame like dst", describe(src));
  bool same = src.ndim() == dst.ndim();
  for (py::ssize_t i = 0; same && i < dst.ndim(); ++i) same = src.shape(i) == dst.shape(i);
  if (!same) value_error(fn, "src", "must have dst's shape " + describe(dst) + ", got " + describe(src));
  if (!is_dtype<float>(mask) || mask.ndim() != 2)
    type_error(fn, "mask", "a float32 H x W mask matching dst", describe(mask));
  if (mask.shape(0) != dst.shape(0) || mask.shape(1) != dst.shape(1))
    value_error(fn, "mask", "must be float32 H x W matching dst " + describe(dst) + ", got " + describe(mask));
  return a;
}

template <typename T>
inline bool all_finite(const T* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(static_cast<double>(p[i]))) return false;
  return true;
}

// The host path's one rule for float inputs: every value finite, else ValueError
// naming the argument. (Integer arrays cannot hold NaN / inf.)
template <typename T>
inline void require_finite(const py::array_t<T, py::array::c_style>& a, const char* fn, const char* arg) {
  if constexpr (std::is_floating_point_v<T>) {
    bool ok;
    {
      py::gil_scoped_release release;
      ok = all_finite(a.data(), static_cast<std::size_t>(a.size()));
    }
    if (!ok) value_error(fn, arg, "must be finite (no NaN or inf)");
  }
}

}  // namespace facefuse::bind
