// CPU kernels for the poisson op family (placeholder until the family lands).
#include "facefuse/common.hpp"
