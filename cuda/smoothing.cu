// CUDA port of the batched landmark smoother (cpp/src/smoothing.cpp).
//
// One update = one kernel launch: block i smooths row i (one track, P points),
// its threads striding over the points. The per-point maths is the same FF_HD
// code (smoothing_math.hpp); the per-track sums (centroid, face size, motion,
// the similarity fits) are block reductions in double, and the residual median
// of the pose_shape method is an exact rank selection (same value as the CPU's
// nth_element). Sums are added in a different order than the CPU's serial
// loops and the double-precision libm differs by an ulp, so GPU and CPU agree
// to ~1e-9 pixels, not bit for bit.
//
// Per-track scalar state lives in a TrackState on the device; per-point state
// (raw, y, dy) and the pose_shape scratch in one slot-major array. The host
// resolves track ids to slots and uploads (slot, timestamp, fresh) per row in
// one asynchronous copy from a pinned staging buffer.

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

#include "cuda_common.hpp"
#include "facefuse/common.hpp"
#include "facefuse/smoothing_math.hpp"
#include "reduce.cuh"
#include "smoothing_cuda.hpp"

namespace facefuse::cuda {

using namespace facefuse::smoothing;

namespace {

struct TrackState {
  int alive;
  int has_t;
  double m_avg;
  double last_t;
  double rate;
  double prev_med;
  double cx, cy, th, ls, vcx, vcy, vth, vls;
};

// A fresh track: as LandmarkSmootherCore::Track's defaults.
__device__ void init_state(TrackState& s) {
  s.alive = 0;
  s.has_t = 0;
  s.m_avg = -1.0;
  s.last_t = 0.0;
  s.rate = 0.0;
  s.prev_med = -1.0;
  s.cx = s.cy = s.th = s.ls = s.vcx = s.vcy = s.vth = s.vls = 0.0;
}

struct DevParams {
  int method;  // SmoothMethod
  int auto_reset;
  double freq, cut_ratio, cut_min, motion_rate, alpha, motion_scale, min_cutoff, beta, d_cutoff;
  double pose_alpha, pose_beta, shape_min_cutoff, shape_beta, shape_d_cutoff, shape_clamp, outlier_k;
};

// One row of the update: slot, timestamp, fresh flag (uploaded per update).
struct Row {
  std::int64_t slot;
  double t;
  int fresh;
  int pad;
};

constexpr int kThreads = 128;

struct Fit {
  double cx, cy, s, th;
};

// Weighted least-squares similarity x ~ c + s R(th) S (w == nullptr: all ones),
// as fit_similarity in smoothing.cpp, with block reductions. All threads call it
// and get the same result.
__device__ Fit fit_similarity(const double* S, const float* x, const double* w, int p, double th_p, double s_p) {
  double a[5] = {0, 0, 0, 0, 0};  // ws, msx, msy, mxx, mxy
  for (int i = threadIdx.x; i < p; i += blockDim.x) {
    const double wi = w ? w[i] : 1.0;
    a[0] += wi;
    a[1] += wi * S[2 * i];
    a[2] += wi * S[2 * i + 1];
    a[3] += wi * x[2 * i];
    a[4] += wi * x[2 * i + 1];
  }
  block_sum<double, 5>(a);
  const double msx = a[1] / a[0], msy = a[2] / a[0], mxx = a[3] / a[0], mxy = a[4] / a[0];
  double b[3] = {0, 0, 0};  // saa, sc, ss
  for (int i = threadIdx.x; i < p; i += blockDim.x) {
    const double wi = w ? w[i] : 1.0;
    const double ax = S[2 * i] - msx, ay = S[2 * i + 1] - msy;
    const double bx = x[2 * i] - mxx, by = x[2 * i + 1] - mxy;
    b[0] += wi * (ax * ax + ay * ay);
    b[1] += wi * (ax * bx + ay * by);
    b[2] += wi * (ax * by - ay * bx);
  }
  block_sum<double, 3>(b);
  Fit f;
  similarity_solve(b[0], b[1], b[2], th_p, s_p, f.th, f.s);
  const double cs = cos(f.th), sn = sin(f.th);
  f.cx = mxx - f.s * (cs * msx - sn * msy);
  f.cy = mxy - f.s * (sn * msx + cs * msy);
  return f;
}

// Exact k-th smallest of r[0..n) (0-based) by ranks: r[i] is it when
// #{r < r[i]} <= k < #{r <= r[i]}. O(n^2 / threads), fine for landmark counts.
__device__ double select_kth(const double* r, int n, int k) {
  __shared__ double found;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const double v = r[i];
    int less = 0, leq = 0;
    for (int j = 0; j < n; ++j) {
      less += r[j] < v;
      leq += r[j] <= v;
    }
    if (less <= k && k < leq) found = v;  // ties write the same value
  }
  __syncthreads();
  const double v = found;
  __syncthreads();
  return v;
}

__device__ double median(const double* r, int n) {
  const int h = n / 2;
  const double hi = select_kth(r, n, h);
  if (n % 2) return hi;
  const double lo = select_kth(r, n, h - 1);
  return (lo + hi) * 0.5;
}

// (Re)start a track from observation x (LandmarkSmootherCore::start).
__device__ void start(TrackState& st, const DevParams& prm, const float* x, int p, double* raw, double* y,
                      double* dy) {
  for (int k = threadIdx.x; k < 2 * p; k += blockDim.x) {
    raw[k] = static_cast<double>(x[k]);
    dy[k] = 0.0;
  }
  if (prm.method == static_cast<int>(SmoothMethod::PoseShape)) {
    double m[2] = {0, 0};
    for (int i = threadIdx.x; i < p; i += blockDim.x) {
      m[0] += static_cast<double>(x[2 * i]);
      m[1] += static_cast<double>(x[2 * i + 1]);
    }
    block_sum<double, 2>(m);
    const double mx = m[0] / p, my = m[1] / p;
    for (int i = threadIdx.x; i < p; i += blockDim.x) {
      y[2 * i] = static_cast<double>(x[2 * i]) - mx;
      y[2 * i + 1] = static_cast<double>(x[2 * i + 1]) - my;
    }
    if (threadIdx.x == 0) {
      st.cx = mx;
      st.cy = my;
      st.th = st.ls = st.vcx = st.vcy = st.vth = st.vls = 0.0;
      st.prev_med = -1.0;
    }
  } else {
    for (int k = threadIdx.x; k < 2 * p; k += blockDim.x) y[k] = static_cast<double>(x[k]);
  }
  if (threadIdx.x == 0) st.alive = 1;
}

// The pose_shape update (LandmarkSmootherCore::pose_shape); st is in shared memory.
__device__ void pose_shape(TrackState& st, const DevParams& prm, const float* x, double size, int p, double* S,
                           double* dS, double* r, double* w, float* out) {
  const double rate = st.rate;
  const double dt = 1.0 / rate;
  // 1. predict
  const double cxp = st.cx + st.vcx * dt, cyp = st.cy + st.vcy * dt;
  const double thp = st.th + st.vth * dt, lsp = st.ls + st.vls * dt;
  const double sp = exp(lsp);
  // 2. robust similarity measurement: fit, residuals, median, inlier weights, refit
  Fit f = fit_similarity(S, x, nullptr, p, thp, sp);
  {
    const double cs = cos(f.th), sn = sin(f.th);
    for (int i = threadIdx.x; i < p; i += blockDim.x) {
      double fx, fy;
      pose_apply(f.cx, f.cy, f.s, cs, sn, S[2 * i], S[2 * i + 1], fx, fy);
      const double ex = x[2 * i] - fx, ey = x[2 * i + 1] - fy;
      r[i] = sqrt(ex * ex + ey * ey);
    }
    __syncthreads();
    const double med = median(r, p);
    const double thr = fmax(prm.outlier_k * med, 1e-3 * size);
    for (int i = threadIdx.x; i < p; i += blockDim.x) w[i] = r[i] <= thr ? 1.0 : 0.0;
    __syncthreads();
    if (threadIdx.x == 0) st.prev_med = med;
  }
  f = fit_similarity(S, x, w, p, thp, sp);
  // 3. alpha-beta pose filter (one thread updates the shared state)
  if (threadIdx.x == 0) {
    const double a = prm.pose_alpha, b = prm.pose_beta;
    alpha_beta_correct(cxp, f.cx - cxp, st.cx, st.vcx, a, b, rate);
    alpha_beta_correct(cyp, f.cy - cyp, st.cy, st.vcy, a, b, rate);
    alpha_beta_correct(thp, wrap_angle(f.th - thp), st.th, st.vth, a, b, rate);
    alpha_beta_correct(lsp, log(f.s) - lsp, st.ls, st.vls, a, b, rate);
  }
  __syncthreads();
  // 4-5. shape in the measured pose frame, clamped, One Euro; compose the output.
  // (The CPU stores the clamped measurement z first; each point only needs its own.)
  const double mcs = cos(f.th), msn = sin(f.th), minv = 1.0 / f.s;
  const double ocs = cos(st.th), osn = sin(st.th), os = exp(st.ls);
  const double ad = one_euro_alpha(prm.shape_d_cutoff, rate);
  for (int i = threadIdx.x; i < p; i += blockDim.x) {
    double zx, zy;
    pose_invert(f.cx, f.cy, minv, mcs, msn, static_cast<double>(x[2 * i]), static_cast<double>(x[2 * i + 1]), zx, zy);
    const double sx = S[2 * i], sy = S[2 * i + 1];
    double dx = zx - sx, dy = zy - sy;
    clamp_innovation(dx, dy, prm.shape_clamp);
    one_euro_step(sx + dx, S[2 * i], dS[2 * i], rate, ad, prm.shape_min_cutoff, prm.shape_beta);
    one_euro_step(sy + dy, S[2 * i + 1], dS[2 * i + 1], rate, ad, prm.shape_min_cutoff, prm.shape_beta);
    double ox, oy;
    pose_apply(st.cx, st.cy, os, ocs, osn, S[2 * i], S[2 * i + 1], ox, oy);
    out[2 * i] = static_cast<float>(ox);
    out[2 * i + 1] = static_cast<float>(oy);
  }
}

// One block per row: LandmarkSmootherCore::step for track row_slot[i].
__global__ void __launch_bounds__(kThreads) smooth_kernel(DevParams prm, const float* __restrict__ landmarks,
                                                          const Row* __restrict__ rows, int has_t, int p,
                                                          TrackState* __restrict__ states, double* __restrict__ pts,
                                                          float* __restrict__ out_all, std::uint8_t* reset_flags,
                                                          std::uint8_t* new_flags) {
  __shared__ TrackState st;
  __shared__ int code;
  const int i = blockIdx.x;
  const Row row = rows[i];
  const std::int64_t slot = row.slot;
  const float* x = landmarks + static_cast<std::int64_t>(i) * p * 2;
  float* out = out_all + static_cast<std::int64_t>(i) * p * 2;
  double* raw = pts + slot * 9 * static_cast<std::int64_t>(p);
  double* y = raw + 2 * p;
  double* dy = y + 2 * p;
  double* r1 = dy + 2 * p;
  double* r2 = r1 + 2 * p;
  const double t = has_t ? row.t : 0.0;
  if (threadIdx.x == 0) {
    st = states[slot];
    if (row.fresh) init_state(st);
    code = 0;
  }
  __syncthreads();

  if (!st.alive) {  // a new (or reset) track: its output is its input
    if (threadIdx.x == 0) {
      st.rate = prm.freq;
      st.has_t = has_t;
      st.last_t = t;
      code = 2;
    }
    __syncthreads();
    start(st, prm, x, p, raw, y, dy);
    for (int k = threadIdx.x; k < 2 * p; k += blockDim.x) out[k] = x[k];
  } else {
    // time (Casiez: the rate changes only when both timestamps are known and t grows)
    if (threadIdx.x == 0) {
      if (!has_t)
        st.rate = prm.freq;
      else if (st.has_t && t > st.last_t)
        st.rate = 1.0 / (t - st.last_t);
      st.has_t = has_t;
      st.last_t = t;
    }
    // face size and motion
    double m[2] = {0, 0};
    for (int j = threadIdx.x; j < p; j += blockDim.x) {
      m[0] += x[2 * j];
      m[1] += x[2 * j + 1];
    }
    block_sum<double, 2>(m);  // (its barriers also publish st)
    const double mx = m[0] / p, my = m[1] / p;
    double s[2] = {0, 0};  // ss, mot
    for (int j = threadIdx.x; j < p; j += blockDim.x) {
      const double dx = x[2 * j] - mx, dyy = x[2 * j + 1] - my;
      s[0] += dx * dx + dyy * dyy;
      const double ex = x[2 * j] - raw[2 * j], ey = x[2 * j + 1] - raw[2 * j + 1];
      s[1] += sqrt(ex * ex + ey * ey);
    }
    block_sum<double, 2>(s);
    const double size = fmax(1.0, sqrt(s[0] / p));
    const double mo = s[1] / p / size;
    bool cut = false;
    if (prm.auto_reset) {
      const double thr = fmax(prm.cut_min, prm.cut_ratio * fmax(st.m_avg, 0.0));
      cut = mo > thr;
    }
    if (cut) {  // scene cut: restart from this observation
      if (threadIdx.x == 0) code = 1;
      start(st, prm, x, p, raw, y, dy);
      for (int k = threadIdx.x; k < 2 * p; k += blockDim.x) out[k] = x[k];
    } else {
      __syncthreads();  // every thread has read st.m_avg
      if (threadIdx.x == 0) st.m_avg = st.m_avg < 0 ? mo : st.m_avg + prm.motion_rate * (mo - st.m_avg);
      for (int k = threadIdx.x; k < 2 * p; k += blockDim.x) raw[k] = x[k];
      const double rate = st.rate;
      const int method = prm.method;
      if (method == static_cast<int>(SmoothMethod::Ema) || method == static_cast<int>(SmoothMethod::AdaptiveEma)) {
        double a = prm.alpha;
        if (method == static_cast<int>(SmoothMethod::AdaptiveEma)) {
          double ms[1] = {0};
          for (int j = threadIdx.x; j < p; j += blockDim.x) {
            const double ex = x[2 * j] - y[2 * j], ey = x[2 * j + 1] - y[2 * j + 1];
            ms[0] += sqrt(ex * ex + ey * ey);
          }
          block_sum<double, 1>(ms);
          a = adaptive_alpha(prm.alpha, ms[0] / p / size, prm.motion_scale);
        }
        for (int k = threadIdx.x; k < 2 * p; k += blockDim.x) {
          y[k] = ema_step(static_cast<double>(x[k]), y[k], a);
          out[k] = static_cast<float>(y[k]);
        }
      } else if (method == static_cast<int>(SmoothMethod::OneEuro)) {
        const double ad = one_euro_alpha(prm.d_cutoff, rate);
        for (int k = threadIdx.x; k < 2 * p; k += blockDim.x) {
          one_euro_step(static_cast<double>(x[k]), y[k], dy[k], rate, ad, prm.min_cutoff, prm.beta);
          out[k] = static_cast<float>(y[k]);
        }
      } else {
        __syncthreads();  // st.m_avg written before pose_shape reads st
        pose_shape(st, prm, x, size, p, y, dy, r1, r2, out);
      }
    }
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    states[slot] = st;
    reset_flags[i] = code == 1;
    new_flags[i] = code == 2;
  }
}

DevParams dev_params(SmoothMethod m, const SmoothParams& p) {
  DevParams d;
  d.method = static_cast<int>(m);
  d.auto_reset = p.auto_reset ? 1 : 0;
  d.freq = p.freq;
  d.cut_ratio = p.cut_ratio;
  d.cut_min = p.cut_min;
  d.motion_rate = p.motion_rate;
  d.alpha = p.alpha;
  d.motion_scale = p.motion_scale;
  d.min_cutoff = p.min_cutoff;
  d.beta = p.beta;
  d.d_cutoff = p.d_cutoff;
  d.pose_alpha = p.pose_alpha;
  d.pose_beta = p.pose_beta;
  d.shape_min_cutoff = p.shape_min_cutoff;
  d.shape_beta = p.shape_beta;
  d.shape_d_cutoff = p.shape_d_cutoff;
  d.shape_clamp = p.shape_clamp;
  d.outlier_k = p.outlier_k;
  return d;
}

}  // namespace

CudaSmoother::CudaSmoother(SmoothMethod method, const SmoothParams& params) : method_(method), params_(params) {}

CudaSmoother::~CudaSmoother() { free_device(); }

void CudaSmoother::free_device() {
  // Destructors must not throw: errors (e.g. a driver already shut down) are ignored.
  int prev = -1;
  if (device_ >= 0) {
    cudaGetDevice(&prev);
    cudaSetDevice(device_);
  }
  if (rows_copied_) cudaEventSynchronize(rows_copied_);
  if (states_ || pts_ || dev_rows_) cudaDeviceSynchronize();  // the stream may be gone: free after a full sync
  if (states_) cudaFree(states_);
  if (pts_) cudaFree(pts_);
  if (dev_rows_) cudaFree(dev_rows_);
  if (host_rows_) cudaFreeHost(host_rows_);
  if (rows_copied_) cudaEventDestroy(rows_copied_);
  if (kernel_done_) cudaEventDestroy(kernel_done_);
  kernel_done_ = nullptr;
  states_ = nullptr;
  pts_ = nullptr;
  dev_rows_ = nullptr;
  host_rows_ = nullptr;
  rows_copied_ = nullptr;
  rows_bytes_ = 0;
  cap_slots_ = cap_points_ = 0;
  if (prev >= 0 && prev != device_) cudaSetDevice(prev);  // leave the caller's current device as it was
}

std::int64_t CudaSmoother::first_decreasing_timestamp(const std::int64_t* ids, const double* t,
                                                      std::int64_t n) const {
  if (!t) return -1;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t slot = ids_.find(ids[i]);
    if (slot < 0) continue;
    const auto s = static_cast<std::size_t>(slot);
    if (alive_[s] && !fresh_[s] && has_t_[s] && t[i] < last_t_[s]) return i;
  }
  return -1;
}

// Device arrays for `slots` tracks of p points (grow-only; contents kept).
void CudaSmoother::reserve(std::int64_t slots, std::int64_t p, int device, cudaStream_t stream) {
  device_ = device;
  if (p != cap_points_ && cap_slots_ > 0) {  // P changed (after reset_all): start over
    free_device();
    device_ = device;
  }
  if (slots <= cap_slots_) return;
  std::int64_t cap = std::max<std::int64_t>(slots, std::max<std::int64_t>(64, cap_slots_ * 2));
  void* ns = nullptr;
  void* np_ = nullptr;
  const std::size_t sb = sizeof(TrackState), pb = sizeof(double) * 9 * static_cast<std::size_t>(p);
  FF_CUDA_CHECK(cudaMallocAsync(&ns, sb * cap, stream));
  FF_CUDA_CHECK(cudaMallocAsync(&np_, pb * cap, stream));
  if (cap_slots_ > 0) {  // keep the live tracks (stream-ordered copy)
    FF_CUDA_CHECK(cudaMemcpyAsync(ns, states_, sb * cap_slots_, cudaMemcpyDeviceToDevice, stream));
    FF_CUDA_CHECK(cudaMemcpyAsync(np_, pts_, pb * cap_slots_, cudaMemcpyDeviceToDevice, stream));
    FF_CUDA_CHECK(cudaFreeAsync(states_, stream));
    FF_CUDA_CHECK(cudaFreeAsync(pts_, stream));
  }
  states_ = ns;
  pts_ = static_cast<double*>(np_);
  cap_slots_ = cap;
  cap_points_ = p;
  alloc_stream_ = stream;
}

void CudaSmoother::update(const float* landmarks, const std::int64_t* ids, const double* t, std::int64_t n,
                          std::int64_t p, float* out, std::uint8_t* reset_flags, std::uint8_t* new_flags, int device,
                          cudaStream_t stream) {
  if (n > 0 && device_ >= 0 && device != device_)  // checked before any bookkeeping changes
    throw CudaError(cudaErrorInvalidDevice, "LandmarkSmoother: this smoother's GPU state is on device " +
                                                std::to_string(device_) + ", got landmarks on device " +
                                                std::to_string(device) + " (reset() first)");
  ++updates_;
  std::optional<DeviceScope> scope;
  if (n > 0) {
    num_points_ = p;
    scope.emplace(device);
  }
  // Resolve (or create) every row's slot.
  std::vector<Row> rows(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    bool fresh, grown;
    const std::int64_t s = ids_.acquire(ids[i], &fresh, &grown);
    if (grown) {
      last_seen_.push_back(0);
      fresh_.push_back(1);
      alive_.push_back(0);
      has_t_.push_back(0);
      last_t_.push_back(0.0);
    }
    if (fresh) fresh_[static_cast<std::size_t>(s)] = 1;
    const auto su = static_cast<std::size_t>(s);
    last_seen_[su] = updates_;
    rows[static_cast<std::size_t>(i)] = Row{s, t ? t[i] : 0.0, fresh_[su], 0};
    fresh_[su] = 0;
    alive_[su] = 1;
    has_t_[su] = t != nullptr;
    last_t_[su] = t ? t[i] : 0.0;
  }
  if (n > 0) {
    // The previous update's kernel may still be running on another stream (a
    // caller switching CuPy streams between frames): it reads the row table and
    // reads / writes the track state this update uses, and reserve() may move
    // that state. Order this stream after it, without a host synchronisation
    // (cudaStreamPerThread is a different stream in each host thread: always wait).
    if (kernel_done_ && (stream != last_stream_ || stream == cudaStreamPerThread))
      FF_CUDA_CHECK(cudaStreamWaitEvent(stream, kernel_done_, 0));
    reserve(static_cast<std::int64_t>(last_seen_.size()), p, device, stream);
    // Row table: pinned staging -> device, asynchronously on the stream.
    const std::size_t bytes = sizeof(Row) * static_cast<std::size_t>(n);
    if (!rows_copied_) FF_CUDA_CHECK(cudaEventCreateWithFlags(&rows_copied_, cudaEventDisableTiming));
    FF_CUDA_CHECK(cudaEventSynchronize(rows_copied_));  // the previous upload has left the staging buffer
    if (bytes > rows_bytes_) {
      if (host_rows_) FF_CUDA_CHECK(cudaFreeHost(host_rows_));
      if (dev_rows_) FF_CUDA_CHECK(cudaFreeAsync(dev_rows_, stream));
      host_rows_ = dev_rows_ = nullptr;
      const std::size_t want = bytes * 2;
      FF_CUDA_CHECK(cudaMallocHost(&host_rows_, want));
      FF_CUDA_CHECK(cudaMallocAsync(&dev_rows_, want, stream));
      rows_bytes_ = want;
    }
    std::memcpy(host_rows_, rows.data(), bytes);
    FF_CUDA_CHECK(cudaMemcpyAsync(dev_rows_, host_rows_, bytes, cudaMemcpyHostToDevice, stream));
    FF_CUDA_CHECK(cudaEventRecord(rows_copied_, stream));
    smooth_kernel<<<static_cast<unsigned>(n), kThreads, 0, stream>>>(
        dev_params(method_, params_), landmarks, static_cast<const Row*>(dev_rows_), t != nullptr ? 1 : 0,
        static_cast<int>(p), static_cast<TrackState*>(states_), pts_, out, reset_flags, new_flags);
    FF_CUDA_LAUNCH_CHECK();
    if (!kernel_done_) FF_CUDA_CHECK(cudaEventCreateWithFlags(&kernel_done_, cudaEventDisableTiming));
    FF_CUDA_CHECK(cudaEventRecord(kernel_done_, stream));
    last_stream_ = stream;
  }
  if (params_.max_age > 0) {
    const auto old = ids_.ids_where([&](std::int64_t s) {
      return updates_ - last_seen_[static_cast<std::size_t>(s)] >= params_.max_age;
    });
    for (std::int64_t id : old) drop(id);
  }
}

void CudaSmoother::drop(std::int64_t id) {
  const std::int64_t slot = ids_.release(id);
  if (slot < 0) return;
  const auto s = static_cast<std::size_t>(slot);
  fresh_[s] = 1;
  alive_[s] = 0;
}

void CudaSmoother::reset_all() {
  ids_.clear();
  last_seen_.clear();
  fresh_.clear();
  alive_.clear();
  has_t_.clear();
  last_t_.clear();
  num_points_ = -1;
  // Device storage is released, so the next update may use any device and any P.
  free_device();
  device_ = -1;
}

void CudaSmoother::reset(const std::int64_t* ids, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t slot = ids_.find(ids[i]);
    if (slot < 0) continue;
    const auto s = static_cast<std::size_t>(slot);
    fresh_[s] = 1;  // re-initialised on the device at its next update
    alive_[s] = 0;
  }
}

void CudaSmoother::forget(const std::int64_t* ids, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) drop(ids[i]);
}

std::vector<std::int64_t> CudaSmoother::track_ids() const { return ids_.ids(); }

}  // namespace facefuse::cuda
