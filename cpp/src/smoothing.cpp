// CPU kernels for the smoothing op family (placeholder until the family lands).
#include "facefuse/common.hpp"
