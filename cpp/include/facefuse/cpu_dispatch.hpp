// Which CPU kernels run: the AVX2 copies when the CPU has the features, unless
// FACEFUSE_CPU_BASELINE=1 asks for the baseline ones (to test both on one
// machine, or to rule the SIMD kernels out). Read once per process.
#pragma once

#include <cstdlib>
#include <cstring>

namespace facefuse {

inline bool cpu_baseline_forced() {
  static const bool forced = [] {
    const char* v = std::getenv("FACEFUSE_CPU_BASELINE");
    return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
  }();
  return forced;
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
inline bool cpu_has_avx2() {
  static const bool ok = !cpu_baseline_forced() && __builtin_cpu_supports("avx2");
  return ok;
}
inline bool cpu_has_avx2_fma() {
  static const bool ok = cpu_has_avx2() && __builtin_cpu_supports("fma");
  return ok;
}
#else
inline bool cpu_has_avx2() { return false; }
inline bool cpu_has_avx2_fma() { return false; }
#endif

}  // namespace facefuse
