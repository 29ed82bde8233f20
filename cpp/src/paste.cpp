// CPU kernels for the paste op family (placeholder until the family lands).
#include "facefuse/common.hpp"
