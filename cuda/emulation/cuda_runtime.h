// CPU emulation of the slice of CUDA the facefuse kernels use, so their logic
// (indexing, tiles, reductions, barriers, state handling) can be checked
// against the CPU core on a machine without a GPU. NOT a CUDA implementation:
// every CUDA thread of a block is an OS thread, blocks run one after another,
// __shared__ variables are function statics (valid because blocks never
// overlap), "device" memory is host memory, streams are ignored (everything
// is synchronous). See run_emulation.sh.
#pragma once

#include <atomic>
#include <barrier>
#include <mutex>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

// The grid y / z limit the kernels chunk their batches by (65535 on hardware,
// cuda_common.hpp), enforced by the emulated launch. run_emulation.sh builds
// check_kernels with -DFF_MAX_GRID_YZ=5 (still above the tile rows of its test
// frames), so batches of 6+ items take the chunked path there.
#ifndef FF_MAX_GRID_YZ
#define FF_MAX_GRID_YZ 65535
#endif

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(x)
#define __restrict__ __restrict

struct dim3 {
  unsigned x, y, z;
  dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};

inline thread_local dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;

namespace emu {
inline std::unique_ptr<std::barrier<>> block_bar;
inline std::vector<std::unique_ptr<std::barrier<>>> warp_bars;
inline std::uint64_t shfl_buf[32][32];
inline std::atomic<int> or_acc{0};
inline int linear_tid() { return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z); }
}  // namespace emu

inline void __syncthreads() { emu::block_bar->arrive_and_wait(); }

inline int __syncthreads_or(int p) {
  __syncthreads();
  if (p) emu::or_acc.fetch_or(1);
  __syncthreads();
  const int r = emu::or_acc.load();
  __syncthreads();
  if (emu::linear_tid() == 0) emu::or_acc.store(0);
  __syncthreads();
  return r;
}

template <typename T>
T __shfl_down_sync(unsigned, T v, int off) {
  static_assert(sizeof(T) <= 8, "emulated shuffle of <= 8 bytes");
  const int t = emu::linear_tid(), lane = t % 32, warp = t / 32;
  std::memcpy(&emu::shfl_buf[warp][lane], &v, sizeof(T));
  emu::warp_bars[warp]->arrive_and_wait();
  T r = v;
  if (lane + off < 32) std::memcpy(&r, &emu::shfl_buf[warp][lane + off], sizeof(T));
  emu::warp_bars[warp]->arrive_and_wait();
  return r;
}

using std::fmax;
using std::fmaxf;
using std::fmin;
using std::fminf;

// ---- runtime API --------------------------------------------------------------------
typedef int cudaError_t;
typedef void* cudaStream_t;
typedef void* cudaEvent_t;
enum { cudaSuccess = 0, cudaErrorInvalidDevice = 101 };
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
constexpr unsigned cudaEventDisableTiming = 2;
#define CUDART_VERSION 13000

struct cudaDeviceProp {
  char name[256];
  int major, minor;
};
inline cudaError_t cudaGetDeviceCount(int* n) { *n = 1; return cudaSuccess; }
inline cudaError_t cudaDriverGetVersion(int* v) { *v = 0; return cudaSuccess; }
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) {
  std::strcpy(p->name, "CPU emulation of the CUDA kernels");
  p->major = 0;
  p->minor = 0;
  return cudaSuccess;
}
// One emulated device, but the current-device index is tracked per thread so a
// check can see that the entry points restore it.
inline thread_local int emu_current_device = 0;
inline cudaError_t cudaSetDevice(int d) { emu_current_device = d; return cudaSuccess; }
inline cudaError_t cudaGetDevice(int* d) { *d = emu_current_device; return cudaSuccess; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline const char* cudaGetErrorName(cudaError_t) { return "emulated"; }
inline const char* cudaGetErrorString(cudaError_t) { return "emulated"; }
inline cudaError_t cudaMalloc(void** p, std::size_t n) { *p = std::calloc(n ? n : 1, 1); return cudaSuccess; }
template <typename T>
cudaError_t cudaMalloc(T** p, std::size_t n) { return cudaMalloc(reinterpret_cast<void**>(p), n); }
// Fresh device memory is filled with a pattern, not zeros, so reads of unwritten memory show up.
inline cudaError_t cudaMallocAsync(void** p, std::size_t n, cudaStream_t) {
  *p = std::malloc(n ? n : 1);
  std::memset(*p, 0x7f, n);
  return cudaSuccess;
}
inline cudaError_t cudaMallocHost(void** p, std::size_t n) { return cudaMalloc(p, n); }
constexpr unsigned cudaHostAllocPortable = 1;
inline cudaError_t cudaHostAlloc(void** p, std::size_t n, unsigned) { return cudaMalloc(p, n); }
inline cudaError_t cudaFree(void* p) { std::free(p); return cudaSuccess; }
inline cudaError_t cudaFreeAsync(void* p, cudaStream_t) { std::free(p); return cudaSuccess; }
inline cudaError_t cudaFreeHost(void* p) { std::free(p); return cudaSuccess; }
// Device -> host copies made through this runtime (the emulated _cuda module
// exports the count as ff_emu_d2h_copies, see emu_counters.cpp).
namespace emu {
inline std::atomic<long long> d2h_copies{0};
}
inline cudaError_t cudaMemcpy(void* d, const void* s, std::size_t n, cudaMemcpyKind k) {
  if (k == cudaMemcpyDeviceToHost) ++emu::d2h_copies;
  std::memcpy(d, s, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, std::size_t n, cudaMemcpyKind k, cudaStream_t) {
  if (k == cudaMemcpyDeviceToHost) ++emu::d2h_copies;
  std::memcpy(d, s, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpy2DAsync(void* d, std::size_t dpitch, const void* s, std::size_t spitch, std::size_t width,
                                     std::size_t height, cudaMemcpyKind, cudaStream_t) {
  for (std::size_t r = 0; r < height; ++r)
    std::memcpy(static_cast<char*>(d) + r * dpitch, static_cast<const char*>(s) + r * spitch, width);
  return cudaSuccess;
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) { *e = reinterpret_cast<void*>(1); return cudaSuccess; }
inline cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
inline cudaError_t cudaEventDestroy(cudaEvent_t) { return cudaSuccess; }
inline cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned) { return cudaSuccess; }
// The special handle of the calling host thread's default stream (as in driver_types.h).
inline const cudaStream_t cudaStreamPerThread = reinterpret_cast<cudaStream_t>(0x2);

// ---- kernel launch: K<<<g, b, s, st>>>(args) is rewritten to emu::launch(K, g, b, s, st)(args) ----
namespace emu {
// gridDim / blockDim / the barriers / __shared__ statics are process-wide here, so launches
// from several host threads (the pipeline's prepare and model threads) run one at a time,
// as launches on one stream do on a GPU.
inline std::mutex launch_mutex;
template <typename K>
struct Launcher {
  K kernel;
  dim3 grid, block;
  template <typename... A>
  void operator()(A... args) const {
    // The hardware rejects a grid taller or deeper than 65535 blocks; here the
    // limit is FF_MAX_GRID_YZ (lowered below) so batch chunking is exercised.
    if (grid.y > FF_MAX_GRID_YZ || grid.z > FF_MAX_GRID_YZ)
      throw std::runtime_error("emulated launch: grid y/z above FF_MAX_GRID_YZ (invalid configuration)");
    const std::lock_guard<std::mutex> one_at_a_time(launch_mutex);
    gridDim = grid;
    blockDim = block;
    const int nt = static_cast<int>(block.x * block.y * block.z);
    for (unsigned bz = 0; bz < grid.z; ++bz)
      for (unsigned by = 0; by < grid.y; ++by)
        for (unsigned bx = 0; bx < grid.x; ++bx) {
          block_bar = std::make_unique<std::barrier<>>(nt);
          warp_bars.clear();
          for (int w = 0; w < (nt + 31) / 32; ++w) warp_bars.push_back(std::make_unique<std::barrier<>>(std::min(32, nt - 32 * w)));
          std::vector<std::thread> th;
          th.reserve(nt);
          for (int t = 0; t < nt; ++t)
            th.emplace_back([&, t] {
              blockIdx = dim3(bx, by, bz);
              threadIdx = dim3(t % block.x, (t / block.x) % block.y, t / (block.x * block.y));
              // A thread that returns early must keep arriving at the block barrier.
              kernel(args...);
              block_bar->arrive_and_drop();
              warp_bars[t / 32]->arrive_and_drop();
            });
          for (auto& x : th) x.join();
        }
  }
};
template <typename K>
Launcher<K> launch(K k, dim3 g, dim3 b, int = 0, cudaStream_t = nullptr) { return Launcher<K>{k, g, b}; }
}  // namespace emu
