// Linked into the emulated _cuda module only (run_emulation.sh --python): lets
// the Python tests read the emulated runtime's counters through ctypes, e.g.
// how many device -> host copies one QualityMonitor update makes.
#include "cuda_runtime.h"

extern "C" __attribute__((visibility("default"))) long long ff_emu_d2h_copies() { return emu::d2h_copies.load(); }
