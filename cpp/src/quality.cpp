// CPU kernels for the quality op family (placeholder until the family lands).
#include "facefuse/common.hpp"
