// The Python side of the argument checks, shared by the CPU bindings and the CUDA
// bindings (cuda/bindings/ include this folder): Python objects -> ArrayDesc (a
// NumPy buffer on the host, __cuda_array_interface__ on the GPU), ints and reals
// with their TypeErrors, and the translation of the contracts' ArgError into
// TypeError / ValueError. The rules themselves are in contract.hpp / op_contracts.hpp.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <climits>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "contract.hpp"
#include "op_contracts.hpp"

namespace facefuse::bind {

namespace py = pybind11;

// The module's translation of ArgError (call once in PYBIND11_MODULE).
inline void register_arg_errors() {
  py::register_local_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ArgError& e) {
      PyErr_SetString(e.is_type ? PyExc_TypeError : PyExc_ValueError, e.what());
    }
  });
}

template <typename T>
inline bool is_dtype(const py::array& a) {
  return a.dtype().is(py::dtype::of<T>());
}

inline std::string type_name(const py::handle& obj) {
  return std::string(py::str(py::type::of(obj).attr("__name__")));
}

// NumPy's name of a native-order numeric dtype ("" for any other): spelled here
// because str(dtype) runs Python code (microseconds on every call of every op).
inline std::string numeric_dtype_name(char kind, int itemsize) {
  const std::string bits = std::to_string(8 * itemsize);
  switch (kind) {
    case 'b': return itemsize == 1 ? "bool" : "";
    case 'u': return "uint" + bits;
    case 'i': return "int" + bits;
    case 'f': return "float" + bits;
    case 'c': return "complex" + bits;
    default: return "";
  }
}

inline ArrayDesc dtype_desc(const py::dtype& dt) {
  ArrayDesc d;
  d.kind = dt.kind();
  d.itemsize = static_cast<int>(dt.itemsize());
  if (dt.itemsize() > 1 && !dt.attr("isnative").cast<bool>()) d.kind = 'X';  // byte-swapped: no kernel reads it
  d.dtype = d.kind == 'X' ? std::string() : numeric_dtype_name(d.kind, d.itemsize);
  if (d.dtype.empty()) d.dtype = py::str(dt).cast<std::string>();
  return d;
}

// A host (NumPy) array.
inline ArrayDesc desc(const py::array& a) {
  ArrayDesc d = dtype_desc(a.dtype());
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    d.shape.push_back(a.shape(i));
    d.strides.push_back(a.strides(i));
  }
  d.data = a.data();
  return d;
}

// "uint8 array of shape (3, 4, 3)"
inline std::string describe(const py::array& a) { return desc(a).describe(); }

// A device array, read from its __cuda_array_interface__ (TypeError naming `arg`
// when it has none or a malformed one).
inline ArrayDesc device_desc(const py::handle& obj, const char* fn, const char* arg) {
  ArrayDesc d;
  try {
    const py::dict cai = obj.attr("__cuda_array_interface__");
    d = dtype_desc(py::dtype(cai["typestr"].cast<std::string>()));
    for (const auto& s : cai["shape"]) d.shape.push_back(s.cast<std::int64_t>());
    if (cai.contains("strides") && !cai["strides"].is_none())
      for (const auto& s : cai["strides"]) d.strides.push_back(s.cast<std::int64_t>());
    d.data = reinterpret_cast<const void*>(py::tuple(cai["data"])[0].cast<std::uintptr_t>());
  } catch (const py::error_already_set&) {
    type_error(fn, arg, "a GPU array (with a __cuda_array_interface__)", type_name(obj));
  } catch (const py::cast_error&) {
    type_error(fn, arg, "a GPU array (with a __cuda_array_interface__)", type_name(obj));
  }
  d.on_gpu = true;
  return d;
}

// Converts an arbitrary Python object to an ndarray (no dtype cast), raising a
// TypeError naming `arg` when it is not array-like.
inline py::array as_array(const py::handle& obj, const char* fn, const char* arg) {
  if (py::isinstance<py::array>(obj)) return py::reinterpret_borrow<py::array>(obj);
  try {
    return py::array::ensure(obj);
  } catch (...) {
  }
  type_error(fn, arg, "a numpy array", type_name(obj));
}

inline void require_nonempty(const py::array& a, const char* fn, const char* arg) {
  require_nonempty(desc(a), fn, arg);
}

// A C-contiguous, aligned view of `a` with the same dtype: `a` itself when it
// already is one, otherwise a copy (the only copy a binding makes).
template <typename T>
inline py::array_t<T, py::array::c_style> contiguous(const py::array& a) {
  return py::array_t<T, py::array::c_style>::ensure(a);
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

// A real number (Python int / float, NumPy integer / floating), not bool;
// TypeError "must be <expected>" naming `arg` otherwise.
inline double as_real(const py::handle& obj, const char* fn, const char* arg,
                      const char* expected = "a real number") {
  if (PyBool_Check(obj.ptr()) || !(PyFloat_Check(obj.ptr()) || PyIndex_Check(obj.ptr()) ||
                                   py::isinstance(obj, py::module_::import("numpy").attr("floating"))))
    type_error(fn, arg, expected, type_name(obj));
  const double v = PyFloat_AsDouble(obj.ptr());
  if (v == -1.0 && PyErr_Occurred()) throw py::error_already_set();
  return v;
}

template <typename T>
inline bool all_finite(const T* p, std::size_t n) {
  std::size_t i = 0;
  if constexpr (std::is_floating_point_v<T>) {
    // blocks tested branch-free (vectorised): v - v is 0 for a finite v, NaN for inf / NaN
    constexpr std::size_t kBlock = 256;
    for (; i + kBlock <= n; i += kBlock) {
      int bad = 0;
      for (std::size_t j = 0; j < kBlock; ++j) {
        const T v = p[i + j];
        bad |= !(v - v == T(0));
      }
      if (bad) return false;
    }
  }
  for (; i < n; ++i)
    if (!std::isfinite(static_cast<double>(p[i]))) return false;
  return true;
}

// The host path's one rule for float inputs: every value finite, else ValueError
// naming the argument. (Integer arrays cannot hold NaN / inf.)
template <typename T>
inline void require_finite(const py::array_t<T, py::array::c_style>& a, const char* fn, const char* arg,
                           const char* what = "must be finite (no NaN or inf)") {
  if constexpr (std::is_floating_point_v<T>) {
    bool ok;
    {
      py::gil_scoped_release release;
      ok = all_finite(a.data(), static_cast<std::size_t>(a.size()));
    }
    if (!ok) value_error(fn, arg, what);
  }
}

// Track ids (host, any integer dtype) as C-contiguous int64 (track_ids_contract).
inline py::array_t<std::int64_t, py::array::c_style> id_array(const py::handle& obj, const char* fn,
                                                              const char* arg) {
  py::array a = as_array(obj, fn, arg);
  track_ids_contract(fn, arg, desc(a));
  return py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(a.attr("reshape")(-1));
}

}  // namespace facefuse::bind
