// Bindings for the paste op family (placeholder until the family lands).
#include <pybind11/pybind11.h>

namespace facefuse::bind {
void bind_paste(pybind11::module_& m) { (void)m; }
}  // namespace facefuse::bind
