// What every GPU binding does with its device arguments before a launch (ops.cpp,
// paste.cpp, quality.cpp): the stream handle ops/_device.py passes, and the reading
// rule on top of the CPU contracts' device_desc (checks.hpp).
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>

#include <cuda_runtime_api.h>

#include "checks.hpp"

namespace facefuse::cuda::bind {

inline cudaStream_t stream_of(std::uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

// A device argument the kernels read: non-null when it holds anything, C-contiguous.
inline facefuse::bind::ArrayDesc device_arg(const pybind11::handle& obj, const char* fn, const char* arg) {
  facefuse::bind::ArrayDesc d = facefuse::bind::device_desc(obj, fn, arg);
  if (d.size() > 0 && d.data == nullptr) facefuse::bind::value_error(fn, arg, "must be a device pointer, got 0");
  if (!d.c_contiguous())
    facefuse::bind::value_error(fn, arg, "must be C-contiguous on the GPU, got " + d.describe());
  return d;
}

}  // namespace facefuse::cuda::bind
