// Shared definitions for the CPU kernels and (later) the CUDA kernels.
#pragma once

#include <cstdint>

// FF_HD marks per-pixel / per-landmark maths that both the C++ loops and the
// CUDA kernels call, so the CPU tests cover the GPU path's arithmetic too.
#if defined(__CUDACC__)
#define FF_HD __host__ __device__ __forceinline__
#else
#define FF_HD inline
#endif

namespace facefuse {

FF_HD float clampf(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Round half away from zero and saturate to [0, 255], as cv::saturate_cast<uchar>.
FF_HD std::uint8_t saturate_u8(float v) {
  v = v < 0.f ? 0.f : (v > 255.f ? 255.f : v);
  return static_cast<std::uint8_t>(v + 0.5f);
}

}  // namespace facefuse
