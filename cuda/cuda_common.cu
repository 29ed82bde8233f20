// Host helpers of the CUDA backend: error reporting and the scratch cache.
#include "cuda_common.hpp"

#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <thread>
#include <tuple>

namespace facefuse::cuda {

void throw_cuda(cudaError_t e, const char* expr, const char* file, int line) {
  throw CudaError(e, std::string("CUDA error ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ") in " +
                         expr + " at " + file + ":" + std::to_string(line));
}

namespace {

struct Block {
  void* ptr = nullptr;
  std::size_t bytes = 0;
  cudaStream_t stream = nullptr;
  int device = 0;
};

// (device, stream, host thread, slot). The thread is only part of the key for
// cudaStreamPerThread: that one handle names a different stream in every host
// thread, so sharing its buffer across threads would let two unordered streams
// use it at once.
using Key = std::tuple<int, cudaStream_t, std::thread::id, int>;

std::mutex g_mutex;
std::map<Key, Block>& cache() {
  static auto* m = new std::map<Key, Block>();  // never destroyed: no CUDA calls at exit
  return *m;
}

}  // namespace

DeviceScope::DeviceScope(int device) {
  int cur = -1;
  FF_CUDA_CHECK(cudaGetDevice(&cur));
  if (cur != device) {
    FF_CUDA_CHECK(cudaSetDevice(device));
    prev_ = cur;
  }
}

DeviceScope::~DeviceScope() {
  if (prev_ >= 0) cudaSetDevice(prev_);  // a destructor must not throw
}

void* scratch(int device, cudaStream_t stream, int slot, std::size_t bytes) {
  if (bytes == 0) bytes = 1;
  std::lock_guard<std::mutex> lock(g_mutex);
  const std::thread::id owner = stream == cudaStreamPerThread ? std::this_thread::get_id() : std::thread::id();
  Block& b = cache()[Key(device, stream, owner, slot)];
  if (b.bytes >= bytes) return b.ptr;
  // Grow by at least 1/4 so a slowly growing workload does not reallocate every call.
  std::size_t want = bytes + bytes / 4;
  want = (want + 255) & ~static_cast<std::size_t>(255);
  if (b.ptr) FF_CUDA_CHECK(cudaFreeAsync(b.ptr, stream));
  b.ptr = nullptr;
  b.bytes = 0;
  FF_CUDA_CHECK(cudaMallocAsync(&b.ptr, want, stream));
  b.bytes = want;
  b.stream = stream;
  b.device = device;
  return b.ptr;
}

void release_scratch() {
  std::lock_guard<std::mutex> lock(g_mutex);
  for (auto& kv : cache()) {
    Block& b = kv.second;
    if (!b.ptr) continue;
    // The stream may be gone by now (a destroyed CuPy stream): free after a
    // device-wide sync instead of on the stream.
    int prev = -1;
    cudaGetDevice(&prev);
    cudaSetDevice(b.device);
    cudaDeviceSynchronize();
    cudaFree(b.ptr);
    if (prev >= 0) cudaSetDevice(prev);
  }
  cache().clear();
}

std::size_t scratch_bytes() {
  std::lock_guard<std::mutex> lock(g_mutex);
  std::size_t n = 0;
  for (const auto& kv : cache()) n += kv.second.bytes;
  return n;
}

}  // namespace facefuse::cuda
