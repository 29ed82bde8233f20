// Host-side helpers shared by the CUDA launchers and the bindings: error
// checking and the per-(device, stream) scratch cache. Plain C++ (no device
// code), so the host-compiled bindings can include it.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <stdexcept>
#include <string>

namespace facefuse::cuda {

// A failed CUDA runtime call, with the call's text and the runtime's message.
class CudaError : public std::runtime_error {
 public:
  CudaError(cudaError_t code, const std::string& what) : std::runtime_error(what), code_(code) {}
  cudaError_t code() const { return code_; }

 private:
  cudaError_t code_;
};

[[noreturn]] void throw_cuda(cudaError_t e, const char* expr, const char* file, int line);

#define FF_CUDA_CHECK(expr)                                                        \
  do {                                                                             \
    const cudaError_t ff_err_ = (expr);                                            \
    if (ff_err_ != cudaSuccess) ::facefuse::cuda::throw_cuda(ff_err_, #expr, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: reports launch-configuration errors (not asynchronous
// execution errors, which surface at the next synchronising call).
#define FF_CUDA_LAUNCH_CHECK() FF_CUDA_CHECK(cudaGetLastError())

// Scratch memory reused across calls. One grow-only buffer per (device, stream,
// host thread, slot): what one thread enqueues on one stream runs in order, so
// reusing that buffer for its next call is safe without any host
// synchronisation, while calls on different streams or from different threads
// never share a buffer. Growing frees the old block with cudaFreeAsync on the
// same stream (stream-ordered, no device sync). `slot` separates buffers one
// call needs at the same time. At most 16 streams per (thread, device) keep
// buffers: a 17th frees that thread's buffers on the device (after a device
// sync), so a new stream per call cannot grow the cache without bound.
void* scratch(int device, cudaStream_t stream, int slot, std::size_t bytes);

// Release every cached scratch buffer (synchronises the device first). Not
// while another thread is inside an op.
void release_scratch();

// Total bytes currently held by the scratch cache (for tests and diagnostics).
std::size_t scratch_bytes();

// Makes `device` current for this thread for the scope's lifetime, then
// restores the previous one. The runtime's current device is the driver's
// current context of the thread, which CuPy (or PyTorch) shares with this
// module's static runtime: an entry point that only set it would silently
// move the caller's current device. Every entry point opens one.
class DeviceScope {
 public:
  explicit DeviceScope(int device);
  ~DeviceScope();
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int prev_ = -1;
};

inline int div_up(long long a, long long b) { return static_cast<int>((a + b - 1) / b); }

// Most blocks along grid y and z (the hardware limit). Kernels that put the
// batch index there are launched in chunks of at most this many items; the CPU
// emulation lowers it (and enforces it) so that the chunking is tested.
#ifndef FF_MAX_GRID_YZ
#define FF_MAX_GRID_YZ 65535
#endif
constexpr int kMaxGridYZ = FF_MAX_GRID_YZ;

}  // namespace facefuse::cuda
