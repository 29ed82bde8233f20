// CPU kernels for the color op family (placeholder until the family lands).
#include "facefuse/common.hpp"
