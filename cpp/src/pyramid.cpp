// CPU kernels for the pyramid op family (placeholder until the family lands).
#include "facefuse/common.hpp"
