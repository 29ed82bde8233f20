// Host helpers of the CUDA backend: error reporting and the scratch cache.
#include "cuda_common.hpp"

#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <set>
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

// (device, stream, host thread, slot). The host thread is part of the key:
// two threads enqueueing on the same stream (CuPy's null stream, say; the
// bindings release the GIL) interleave their launches, so one op's level
// buffers would be overwritten by the other's kernels between two of its
// passes; and cudaStreamPerThread names a different stream in every thread.
// One thread's launches on one stream are ordered, so its buffer is reused
// safely without synchronisation.
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

namespace {

// Streams of one device with cached buffers before the cache is emptied.
constexpr std::size_t kMaxCachedStreams = 16;

// Buffers are kept per stream and never expire, so a caller that makes a new
// CuPy stream per call (`with cupy.cuda.Stream(): ...`) would grow the cache
// without bound with buffers of long destroyed streams. When a new stream would
// be the (kMaxCachedStreams + 1)-th of this thread on its device, this thread's
// buffers on that device are freed; their streams may be gone, so after a
// device-wide sync (rare: once per kMaxCachedStreams new streams). Only the
// calling thread's buffers: another thread may be between scratch() and its
// launches. The caller holds g_mutex and has made `device` current.
void evict_if_too_many_streams(int device, cudaStream_t stream, std::thread::id owner) {
  auto& c = cache();
  std::set<cudaStream_t> streams;
  for (const auto& kv : c)
    if (std::get<0>(kv.first) == device && std::get<2>(kv.first) == owner) streams.insert(std::get<1>(kv.first));
  if (streams.count(stream) || streams.size() < kMaxCachedStreams) return;
  FF_CUDA_CHECK(cudaDeviceSynchronize());
  for (auto it = c.begin(); it != c.end();) {
    if (std::get<0>(it->first) == device && std::get<2>(it->first) == owner) {
      if (it->second.ptr) FF_CUDA_CHECK(cudaFree(it->second.ptr));
      it = c.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace

void* scratch(int device, cudaStream_t stream, int slot, std::size_t bytes) {
  if (bytes == 0) bytes = 1;
  std::lock_guard<std::mutex> lock(g_mutex);
  const std::thread::id owner = std::this_thread::get_id();
  const Key key(device, stream, owner, slot);
  auto& c = cache();
  if (c.find(key) == c.end()) evict_if_too_many_streams(device, stream, owner);
  Block& b = c[key];
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
