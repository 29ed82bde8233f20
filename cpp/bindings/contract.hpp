// The argument contracts of the ops, shared by the CPU bindings (cpp/bindings/)
// and the CUDA bindings (cuda/bindings/). A contract reads ArrayDescs -- what an
// argument is (dtype, shape, strides), filled from a NumPy buffer on the host
// (checks.hpp: desc) or from __cuda_array_interface__ on the GPU (checks.hpp:
// device_desc) -- and throws ArgError naming the function and the argument; each
// module turns ArgError into TypeError / ValueError (register_arg_errors). Plain
// C++: no Python here, so one statement of each rule serves both backends.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace facefuse::bind {

// A bad argument: a TypeError (is_type) or a ValueError with this message.
struct ArgError : std::runtime_error {
  ArgError(bool type, const std::string& msg) : std::runtime_error(msg), is_type(type) {}
  bool is_type;
};

// "fn: argument 'arg' must be <expected>, got <got>"
[[noreturn]] inline void type_error(const char* fn, const char* arg, const std::string& expected,
                                    const std::string& got) {
  throw ArgError(true, std::string(fn) + ": argument '" + arg + "' must be " + expected + ", got " + got);
}

// "fn: argument 'arg' <msg>"
[[noreturn]] inline void value_error(const char* fn, const char* arg, const std::string& msg) {
  throw ArgError(false, std::string(fn) + ": argument '" + arg + "' " + msg);
}

// What an array argument is: enough to check a contract and to describe it.
struct ArrayDesc {
  char kind = 'V';        // NumPy dtype kind: 'u', 'i', 'f', 'b', ...
  int itemsize = 0;       // bytes
  std::string dtype;      // NumPy's name: "uint8", "float32", ...
  std::vector<std::int64_t> shape, strides;  // strides in bytes
  const void* data = nullptr;
  bool on_gpu = false;

  int ndim() const { return static_cast<int>(shape.size()); }
  std::int64_t dim(int axis) const { return shape[static_cast<std::size_t>(axis < 0 ? ndim() + axis : axis)]; }
  std::int64_t size() const {
    std::int64_t n = 1;
    for (std::int64_t s : shape) n *= s;
    return n;
  }
  bool is_u8() const { return kind == 'u' && itemsize == 1; }
  bool is_f32() const { return kind == 'f' && itemsize == 4; }
  bool is_f64() const { return kind == 'f' && itemsize == 8; }
  bool is_int() const { return kind == 'i' || kind == 'u'; }
  bool same_dtype(const ArrayDesc& o) const { return kind == o.kind && itemsize == o.itemsize; }
  bool same_shape(const ArrayDesc& o) const { return shape == o.shape; }
  bool c_contiguous() const {
    if (strides.empty() || size() <= 1) return true;
    std::int64_t expect = itemsize;
    for (int i = ndim() - 1; i >= 0; --i) {
      if (shape[static_cast<std::size_t>(i)] != 1 && strides[static_cast<std::size_t>(i)] != expect) return false;
      expect *= shape[static_cast<std::size_t>(i)];
    }
    return true;
  }
  // "(3, 4, 3)", "(5,)", "()": Python's tuple spelling
  std::string shape_str() const {
    std::string s = "(";
    for (int i = 0; i < ndim(); ++i) s += (i ? ", " : "") + std::to_string(shape[static_cast<std::size_t>(i)]);
    return s + (ndim() == 1 ? ",)" : ")");
  }
  // "uint8 array of shape (3, 4, 3)" / "float32 GPU array of shape (3, 4)"
  std::string describe() const { return dtype + (on_gpu ? " GPU" : "") + " array of shape " + shape_str(); }
};

// ---- rules many contracts use ----------------------------------------------------------

inline void require_nonempty(const ArrayDesc& a, const char* fn, const char* arg) {
  if (a.size() == 0) value_error(fn, arg, "must not be empty, got " + a.describe());
}

// A side as an int for the kernels; past 2^28 a side is rejected (far beyond any
// frame, and it keeps the kernels' int index arithmetic in range).
inline int side(const ArrayDesc& a, int axis, const char* fn, const char* arg, std::int64_t max = 1 << 28) {
  const std::int64_t n = a.dim(axis);
  if (n > max) value_error(fn, arg, "is too large, got " + a.describe());
  return static_cast<int>(n);
}

// uint8 -> true, float32 -> false; TypeError naming `arg` for any other dtype.
inline bool frame_dtype(const ArrayDesc& a, const char* fn, const char* arg, const std::string& what) {
  if (!a.is_u8() && !a.is_f32()) type_error(fn, arg, "a uint8 or float32 " + what, a.describe());
  return a.is_u8();
}

}  // namespace facefuse::bind
