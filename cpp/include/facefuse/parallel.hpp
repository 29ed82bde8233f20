// Thread-count helpers; the kernels use `#pragma omp parallel for` directly.
#pragma once

#if defined(FACEFUSE_HAVE_OPENMP)
#include <omp.h>
#endif

namespace facefuse {

inline int max_threads() {
#if defined(FACEFUSE_HAVE_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

inline void set_threads(int n) {
#if defined(FACEFUSE_HAVE_OPENMP)
  if (n > 0) omp_set_num_threads(n);
#else
  (void)n;
#endif
}

inline bool have_openmp() {
#if defined(FACEFUSE_HAVE_OPENMP)
  return true;
#else
  return false;
#endif
}

}  // namespace facefuse
