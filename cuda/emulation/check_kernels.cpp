// Runs the CUDA kernels under the CPU emulation (cuda_runtime.h here) and
// compares them with the CPU core: the same checks tests/test_cuda.py makes on
// a GPU, minus everything a real GPU adds (memory model, warp scheduling,
// launch limits). Prints one line per check; exit status 1 on any mismatch.
#include <algorithm>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include "facefuse/color.hpp"
#include "facefuse/paste.hpp"
#include "facefuse/pyramid.hpp"
#include "facefuse/quality.hpp"
#include "facefuse/smoothing.hpp"
#include "cuda_common.hpp"
#include "kernels.hpp"
#include "smoothing_cuda.hpp"

using namespace facefuse;

static int failures = 0;
static void report(const char* what, bool ok, double detail) {
  std::printf("%-58s %s (%g)\n", what, ok ? "ok" : "MISMATCH", detail);
  if (!ok) ++failures;
}

static std::mt19937 rng(7);
template <typename T>
std::vector<T> frames(std::size_t n) {
  std::vector<T> v(n);
  std::uniform_int_distribution<int> d(0, 255);
  std::uniform_real_distribution<float> f(0.f, 255.f);
  for (auto& x : v) x = std::is_same_v<T, std::uint8_t> ? static_cast<T>(d(rng)) : static_cast<T>(f(rng));
  return v;
}
std::vector<float> uniform(std::size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> f(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = f(rng);
  return v;
}

template <typename T>
void check_blend(int n, int h, int w, int c, int levels) {
  const std::size_t fr = static_cast<std::size_t>(h) * w * c;
  auto d = frames<T>(fr * n), s = frames<T>(fr * n);
  auto m = uniform(static_cast<std::size_t>(n) * h * w, -0.2f, 1.2f);  // out of range too: clamped
  std::vector<T> got(fr * n), want(fr * n);
  cuda::blend_laplacian(d.data(), s.data(), m.data(), got.data(), std::is_same_v<T, std::uint8_t>, n, h, w, c, levels,
                        0, nullptr);
  for (int i = 0; i < n; ++i) {
    std::vector<float> mc(m.begin() + static_cast<std::ptrdiff_t>(i) * h * w, m.begin() + static_cast<std::ptrdiff_t>(i + 1) * h * w);
    pyramid_clamp_mask(mc.data(), mc.data(), mc.size());
    if constexpr (std::is_same_v<T, std::uint8_t>)
      blend_laplacian_u8(d.data() + i * fr, s.data() + i * fr, mc.data(), want.data() + i * fr, h, w, c, levels);
    else
      blend_laplacian_f32(d.data() + i * fr, s.data() + i * fr, mc.data(), want.data() + i * fr, h, w, c, levels);
  }
  double diff = 0;
  for (std::size_t k = 0; k < got.size(); ++k) diff = std::max(diff, std::abs(double(got[k]) - double(want[k])));
  char buf[128];
  std::snprintf(buf, sizeof buf, "blend %s n=%d %dx%dx%d levels=%d (bit-exact)", sizeof(T) == 1 ? "u8" : "f32", n, h,
                w, c, levels);
  report(buf, diff == 0, diff);
}

void check_lab(int px) {
  auto u8 = frames<std::uint8_t>(3 * px);
  auto f = uniform(3 * px, -0.1f, 1.1f);
  std::vector<float> got(3 * px), want(3 * px);
  cuda::bgr_to_lab(u8.data(), true, got.data(), px, 0, nullptr);
  color::bgr_to_lab(u8.data(), want.data(), px);
  report("bgr_to_lab u8 (bit-exact)", got == want, 0);
  cuda::bgr_to_lab(f.data(), false, got.data(), px, 0, nullptr);
  color::bgr_to_lab(f.data(), want.data(), px);
  report("bgr_to_lab f32 (bit-exact)", got == want, 0);
  auto lab = want;
  for (auto& x : lab) x += uniform(1, -5, 5)[0];
  cuda::lab_to_bgr(lab.data(), got.data(), px, 0, nullptr);
  color::lab_to_bgr(lab.data(), want.data(), px);
  report("lab_to_bgr (bit-exact)", got == want, 0);
}

template <typename T>
void check_transfer(int n, int h, int w, int n_ref, int hr, int wr, bool masks, float strength) {
  const std::int64_t sp = static_cast<std::int64_t>(h) * w, rp = static_cast<std::int64_t>(hr) * wr;
  auto src = frames<T>(3 * sp * n), ref = frames<T>(3 * rp * n_ref);
  auto sm = uniform(sp * n, 0.f, 1.f), rm = uniform(rp * n_ref, 0.f, 1.f);
  std::vector<T> got(3 * sp * n), want(3 * sp * n);
  cuda::color_transfer(src.data(), ref.data(), masks ? sm.data() : nullptr, masks ? rm.data() : nullptr, got.data(),
                       std::is_same_v<T, std::uint8_t>, n, sp, n_ref, rp, strength, 0, nullptr);
  for (int i = 0; i < n; ++i) {
    const int r = n_ref == 1 ? 0 : i;
    color::color_transfer(src.data() + 3 * sp * i, sp, ref.data() + 3 * rp * r, rp, masks ? sm.data() + sp * i : nullptr,
                          masks ? rm.data() + rp * r : nullptr, strength, want.data() + 3 * sp * i);
  }
  double diff = 0;
  std::size_t ndiff = 0;
  for (std::size_t k = 0; k < got.size(); ++k) {
    const double e = std::abs(double(got[k]) - double(want[k]));
    diff = std::max(diff, e);
    ndiff += e > 0;
  }
  char buf[128];
  std::snprintf(buf, sizeof buf, "color_transfer %s n=%d n_ref=%d masks=%d s=%.1f (diff<=%s)", sizeof(T) == 1 ? "u8" : "f32",
                n, n_ref, masks, strength, sizeof(T) == 1 ? "1" : "0.02");
  report(buf, diff <= (sizeof(T) == 1 ? 1.0 : 0.02) && ndiff * 1000 <= got.size(), diff);
}

// K warps of one image in one launch (chunked above FF_MAX_GRID_YZ) vs the CPU's warp_affine, bit for bit.
template <typename T>
void check_warp(int sh, int sw, int c, int dh, int dw, int k, bool replicate) {
  auto src = frames<T>(static_cast<std::size_t>(sh) * sw * c);
  std::uniform_real_distribution<double> ang(-3.1, 3.1), sc(0.4, 2.5), off(-20.0, 20.0);
  std::vector<double> M(6 * static_cast<std::size_t>(k));
  std::vector<float> kinv(6 * static_cast<std::size_t>(k));
  for (int i = 0; i < k; ++i) {
    const double a = ang(rng), s = sc(rng);
    double* m = M.data() + 6 * i;
    m[0] = s * std::cos(a), m[1] = -s * std::sin(a), m[2] = off(rng) + dw / 2.0;
    m[3] = s * std::sin(a), m[4] = s * std::cos(a), m[5] = off(rng) + dh / 2.0;
    double inv[6];
    paste::invert_affine(m, inv);
    for (int j = 0; j < 6; ++j) kinv[6 * i + j] = static_cast<float>(inv[j]);
  }
  const std::size_t item = static_cast<std::size_t>(dh) * dw * c;
  std::vector<T> got(item * k), want(item * k);
  cuda::warp_affine(src.data(), std::is_same_v<T, std::uint8_t>, sh, sw, c, got.data(), dh, dw, k, kinv.data(),
                    replicate, 0, nullptr);
  for (int i = 0; i < k; ++i) {
    if constexpr (std::is_same_v<T, std::uint8_t>)
      paste::warp_affine_u8(src.data(), sh, sw, c, want.data() + item * i, dh, dw, M.data() + 6 * i, replicate);
    else
      paste::warp_affine_f32(src.data(), sh, sw, c, want.data() + item * i, dh, dw, M.data() + 6 * i, replicate);
  }
  double diff = 0;
  for (std::size_t j = 0; j < got.size(); ++j) diff = std::max(diff, std::abs(double(got[j]) - double(want[j])));
  char buf[128];
  std::snprintf(buf, sizeof buf, "warp_affine %s %dx%dx%d -> %dx%d k=%d %s (bit-exact)", sizeof(T) == 1 ? "u8" : "f32",
                sh, sw, c, dh, dw, k, replicate ? "replicate" : "constant");
  report(buf, diff == 0, diff);
}

// k faces (sizes and frames random, boxes overlapping, masks beyond [0, 1]) pasted
// into n frames by the GPU path vs the CPU's paste_back of each face in order.
template <typename T>
void check_paste(int n, int H, int W, int k, paste::Blend blend, bool lab, double tol) {
  const std::size_t fr = static_cast<std::size_t>(H) * W * 3;
  auto img = frames<T>(fr * n);
  std::uniform_int_distribution<int> side(1, 24), which(0, n - 1);
  std::uniform_real_distribution<double> ang(-3.1, 3.1), sc(0.5, 2.0), ux(0.0, 1.0);
  std::vector<std::vector<T>> crops(k);
  std::vector<std::vector<float>> masks(k);
  std::vector<cuda::PasteFace> faces(k);
  std::vector<paste::Face<T>> cpu(k);
  for (int i = 0; i < k; ++i) {
    const int h = i == 0 ? 1 : side(rng), w = i == 0 ? 1 : side(rng);  // a 1-pixel crop too
    crops[i] = frames<T>(static_cast<std::size_t>(h) * w * 3);
    masks[i] = uniform(static_cast<std::size_t>(h) * w, -0.3f, 1.3f);
    masks[i][0] = std::nextafter(1.0f, 2.0f);  // a blur's overshoot by an ulp
    const double a = ang(rng), s = sc(rng), cx = ux(rng) * W, cy = ux(rng) * H;
    double m[6] = {s * std::cos(a), -s * std::sin(a), 0, s * std::sin(a), s * std::cos(a), 0};  // frame -> crop
    m[2] = w / 2.0 - (m[0] * cx + m[1] * cy);
    m[5] = h / 2.0 - (m[3] * cx + m[4] * cy);
    cuda::PasteFace& f = faces[i];
    paste::paste_setup(m, i % 3 == 1, h, w, H, W, &f.box, f.warp);
    f.crop = crops[i].data();
    f.mask = masks[i].data();
    f.h = h, f.w = w, f.frame = which(rng);
    cpu[i] = paste::Face<T>{crops[i].data(), masks[i].data(), h, w, f.box, {}};
    for (int j = 0; j < 6; ++j) cpu[i].warp[j] = f.warp[j];
  }
  auto want = img, got = img;
  for (int i = 0; i < k; ++i) {
    T* im = want.data() + fr * faces[i].frame;
    if constexpr (std::is_same_v<T, std::uint8_t>)
      paste::paste_back_u8(im, H, W, &cpu[i], 1, blend, lab, 4);
    else
      paste::paste_back_f32(im, H, W, &cpu[i], 1, blend, lab, 4);
  }
  cuda::paste_back(got.data(), std::is_same_v<T, std::uint8_t>, n, H, W, faces.data(), k,
                   blend == paste::Blend::laplacian, lab, 4, 0, nullptr);
  double diff = 0;
  std::size_t ndiff = 0, pasted = 0;  // pasted: the CPU changed something (the check is not vacuous)
  for (std::size_t j = 0; j < got.size(); ++j) {
    const double e = std::abs(double(got[j]) - double(want[j]));
    diff = std::max(diff, e);
    ndiff += e > 0;
    pasted += want[j] != img[j];
  }
  char buf[128];
  std::snprintf(buf, sizeof buf, "paste_back %s n=%d %dx%d k=%d %s%s (diff<=%g)", sizeof(T) == 1 ? "u8" : "f32", n, H,
                W, k, blend == paste::Blend::laplacian ? "laplacian" : "alpha", lab ? "+lab" : "", tol);
  report(buf, pasted > 0 && diff <= tol && (tol == 0 || ndiff * 100 <= got.size()), diff);
}

template <typename T>
void check_tpsnr(int h, int w, int c, bool mask, int pairs = 2) {
  auto a = frames<T>(static_cast<std::size_t>(h) * w * c * (pairs + 1));
  auto m = uniform(static_cast<std::size_t>(h) * w, 0.f, 1.f);
  std::vector<double> got(4 * static_cast<std::size_t>(pairs));
  const std::int64_t fr = static_cast<std::int64_t>(h) * w * c;
  cuda::tpsnr_sums(a.data(), a.data() + fr, fr, pairs, std::is_same_v<T, std::uint8_t>, h, w, c,
                   mask ? m.data() : nullptr, got.data(), 0, nullptr);
  double worst = 0;
  for (int p = 0; p < pairs; ++p) {
    quality::SseSums s;
    if constexpr (std::is_same_v<T, std::uint8_t>)
      s = quality::frame_sse_u8(a.data() + p * fr, w * c, a.data() + (p + 1) * fr, w * c, mask ? m.data() : nullptr, w, h, w, c);
    else
      s = quality::frame_sse_f32(a.data() + p * fr, w * c, a.data() + (p + 1) * fr, w * c, mask ? m.data() : nullptr, w, h, w, c);
    worst = std::max({worst, std::abs(got[4 * p] - s.sse) / std::max(1.0, s.sse),
                      std::abs(got[4 * p + 1] - s.weight_sum) / std::max(1.0, s.weight_sum),
                      std::abs(got[4 * p + 2] - s.mask_min), std::abs(got[4 * p + 3] - s.mask_max)});
  }
  char buf[128];
  std::snprintf(buf, sizeof buf, "tpsnr sums %s %dx%dx%d mask=%d pairs=%d (rel 1e-12)", sizeof(T) == 1 ? "u8" : "f32", h,
                w, c, mask, pairs);
  report(buf, worst < 1e-12, worst);
}

// QualityMonitor's one-pass sums (quality_monitor_sums) vs the CPU core's
// frame_sse on each of its parts: output / source pair, full frame / ROI (roi:
// 0 none, 1 box, 2 mask). The box's CPU reference is the sub-rectangle view, as
// the host monitor slices it. uint8 without a mask: exact; otherwise rel 1e-12.
template <typename T>
void check_monitor(int h, int w, int c, int roi, bool source) {
  constexpr bool u8 = std::is_same_v<T, std::uint8_t>;
  const std::size_t fr = static_cast<std::size_t>(h) * w * c;
  auto a = frames<T>(4 * fr);
  auto m = uniform(static_cast<std::size_t>(h) * w, 0.f, 1.f);
  const T *p0 = a.data(), *c0 = a.data() + fr, *p1 = a.data() + 2 * fr, *c1 = a.data() + 3 * fr;
  cuda::MonitorFrames f;
  f.prev = p0;
  f.cur = c0;
  f.prev_src = source ? p1 : nullptr;
  f.cur_src = source ? c1 : nullptr;
  f.u8 = u8;
  f.h = h;
  f.w = w;
  f.c = c;
  // A box touching neither edge where the frame allows it (1-pixel frames: the whole frame).
  const int x0 = w > 2 ? w / 3 : 0, y0 = h > 2 ? h / 4 : 0, x1 = w > 2 ? w - 1 : w, y1 = h > 2 ? h - 2 : h;
  if (roi == 1) {
    f.has_box = true;
    f.x0 = x0;
    f.y0 = y0;
    f.x1 = x1;
    f.y1 = y1;
  }
  if (roi == 2) f.mask = m.data();
  double got[16];
  std::fill(got, got + 16, -1.0);
  cuda::quality_monitor_sums(f, got, 0, nullptr);
  auto cpu = [&](const T* x, const T* y, const float* mask, int yy, int xx, int hh, int ww) {
    const std::ptrdiff_t off = (static_cast<std::ptrdiff_t>(yy) * w + xx) * c;
    if constexpr (u8)
      return quality::frame_sse_u8(x + off, w * c, y + off, w * c, mask, w, hh, ww, c);
    else
      return quality::frame_sse_f32(x + off, w * c, y + off, w * c, mask, w, hh, ww, c);
  };
  double worst = 0;
  bool exact = true;
  auto cmp = [&](const double* g, const quality::SseSums& s, bool masked) {
    worst = std::max({worst, std::abs(g[0] - s.sse) / std::max(1.0, s.sse),
                      std::abs(g[1] - s.weight_sum) / std::max(1.0, s.weight_sum)});
    if (masked) worst = std::max({worst, std::abs(g[2] - s.mask_min), std::abs(g[3] - s.mask_max)});
    if (u8 && !masked) exact = exact && g[0] == s.sse && g[1] == s.weight_sum;
  };
  for (int pair = 0; pair < (source ? 2 : 1); ++pair) {
    const T* x = pair ? p1 : p0;
    const T* y = pair ? c1 : c0;
    cmp(got + 8 * pair, cpu(x, y, nullptr, 0, 0, h, w), false);
    if (roi == 1) cmp(got + 8 * pair + 4, cpu(x, y, nullptr, y0, x0, y1 - y0, x1 - x0), false);
    if (roi == 2) cmp(got + 8 * pair + 4, cpu(x, y, m.data(), 0, 0, h, w), true);
    if (roi == 0) exact = exact && got[8 * pair + 4] == 0 && got[8 * pair + 5] == 0;
  }
  if (!source) exact = exact && got[8] == -1.0;  // nothing written past the output pair
  char buf[128];
  std::snprintf(buf, sizeof buf, "monitor sums %s %dx%dx%d roi=%d source=%d (rel 1e-12)", u8 ? "u8" : "f32", h, w, c,
                roi, source);
  report(buf, worst < 1e-12 && exact, worst);
}

void check_smoother(SmoothMethod method, const char* name, int n, int p) {
  SmoothParams prm;
  CpuLandmarkSmoother cpu(method, prm);
  cuda::CudaLandmarkSmoother gpu(method, prm);
  std::normal_distribution<double> g(0, 1);
  std::vector<float> base(static_cast<std::size_t>(n) * p * 2);
  for (int i = 0; i < n; ++i) {
    const double cx = 100 + 300 * (g(rng) * 0.3 + 0.5), cy = 100 + 300 * (g(rng) * 0.3 + 0.5);
    for (int k = 0; k < p; ++k) {
      base[(i * p + k) * 2] = static_cast<float>(cx + 30 * g(rng));
      base[(i * p + k) * 2 + 1] = static_cast<float>(cy + 30 * g(rng));
    }
  }
  double worst = 0;
  bool flags_ok = true;
  for (int f = 0; f < 12; ++f) {
    std::vector<std::int64_t> ids;
    std::vector<float> lm;
    std::vector<double> t;
    for (int i = 0; i < n; ++i) {
      if (f % 4 == 3 && i % 2) continue;  // some tracks skip frames
      ids.push_back(7 * i + 3);
      t.push_back(0.04 * f + 0.001 * (i % 3));
      for (int k = 0; k < 2 * p; ++k) {
        double v = base[(i * p) * 2 + k] + (k % 2 ? -1.0 : 2.0) * f + 1.5 * g(rng);
        if (f && f % 5 == 0 && i % 3 == 0) v += 250.0;  // scene cuts
        lm.push_back(static_cast<float>(v));
      }
    }
    const std::int64_t m = static_cast<std::int64_t>(ids.size());
    std::vector<float> o1(lm.size()), o2(lm.size());
    std::vector<std::uint8_t> r1(m), n1(m), r2(m), n2(m);
    cpu.update(lm.data(), ids.data(), t.data(), m, p, o1.data(), r1.data(), n1.data());
    gpu.update(lm.data(), ids.data(), t.data(), m, p, o2.data(), r2.data(), n2.data(), 0, nullptr);
    for (std::size_t k = 0; k < o1.size(); ++k) worst = std::max(worst, double(std::abs(o1[k] - o2[k])));
    flags_ok = flags_ok && r1 == r2 && n1 == n2;
    if (f == 6) {
      const std::int64_t rid[2] = {3, 10}, fid[1] = {7 * (n - 1) + 3};
      cpu.reset(rid, 2);
      gpu.reset(rid, 2);
      cpu.forget(fid, 1);
      gpu.forget(fid, 1);
    }
  }
  flags_ok = flags_ok && cpu.num_tracks() == gpu.num_tracks() && cpu.track_ids() == gpu.track_ids();
  char buf[128];
  std::snprintf(buf, sizeof buf, "smoother %s %dx%d (|diff| <= 2e-3 px, same flags)", name, n, p);
  report(buf, flags_ok && worst <= 2e-3, worst);
}

// Every entry point works on the device it is given and leaves the caller's
// current device (shared with CuPy through the driver) as it found it.
void check_device_restored() {
  constexpr int kCallers = 7;  // the caller's current device; the ops run on device 0
  std::vector<std::uint8_t> a(4 * 5 * 3, 10), b(4 * 5 * 3, 200), o(4 * 5 * 3);
  std::vector<float> m(20, 0.5f), lab(60), lm(2 * 3 * 2, 1.f), out(2 * 3 * 2);
  std::vector<std::uint8_t> rf(2), nf(2);
  const std::int64_t ids[2] = {1, 2};
  double sums[4];
  bool ok = true;
  auto still = [&] {
    int d = -1;
    cudaGetDevice(&d);
    ok = ok && d == kCallers;
  };
  cudaSetDevice(kCallers);
  cuda::blend_laplacian(a.data(), b.data(), m.data(), o.data(), true, 1, 4, 5, 3, 2, 0, nullptr);
  still();
  cuda::bgr_to_lab(a.data(), true, lab.data(), 20, 0, nullptr);
  still();
  cuda::lab_to_bgr(lab.data(), m.data(), 6, 0, nullptr);
  still();
  cuda::color_transfer(a.data(), b.data(), nullptr, nullptr, o.data(), true, 1, 20, 1, 20, 1.0f, 0, nullptr);
  still();
  cuda::tpsnr_sums(a.data(), b.data(), 0, 1, true, 4, 5, 3, nullptr, sums, 0, nullptr);
  still();
  const float kid[6] = {1, 0, 0, 0, 1, 0};
  cuda::warp_affine(a.data(), true, 4, 5, 3, o.data(), 4, 5, 1, kid, false, 0, nullptr);
  still();
  cuda::PasteFace face{b.data(), m.data(), 4, 5, 0, {0, 0, 5, 4}, {1, 0, 0, 0, 1, 0}};
  cuda::paste_back(o.data(), true, 1, 4, 5, &face, 1, false, false, 2, 0, nullptr);
  still();
  cuda::paste_back(o.data(), true, 1, 4, 5, &face, 1, true, true, 2, 0, nullptr);
  still();
  cuda::copy_device(o.data(), a.data(), o.size(), 0, nullptr);
  still();
  {
    cuda::CudaLandmarkSmoother sm(SmoothMethod::Ema, SmoothParams{});
    sm.update(lm.data(), ids, nullptr, 2, 3, out.data(), rf.data(), nf.data(), 0, nullptr);
    still();
    sm.reset_all();
    still();
  }
  still();
  cudaSetDevice(0);
  report("entry points restore the caller's current device", ok, 0);
}

// A new stream per call must not grow the scratch cache without bound (each
// stream keeps its own buffers; at most 16 streams per device are cached).
void check_scratch_bounded() {
  std::vector<std::uint8_t> a(8 * 8 * 3, 10), b(8 * 8 * 3, 200);
  double sums[4];
  cuda::release_scratch();
  auto call = [&](std::uintptr_t s) {
    cuda::tpsnr_sums(a.data(), b.data(), 0, 1, true, 8, 8, 3, nullptr, sums, 0, reinterpret_cast<cudaStream_t>(s));
  };
  call(0x1000);
  const std::size_t one = cuda::scratch_bytes();
  for (std::uintptr_t i = 1; i < 100; ++i) call(0x1000 + 16 * i);  // 100 distinct stream handles
  const std::size_t many = cuda::scratch_bytes();
  call(0x1000 + 16 * 99);  // the latest stream's buffer is still cached: no growth
  report("scratch cache bounded with a new stream per call (<= 16 streams)", one > 0 && many <= 16 * one &&
                                                                                cuda::scratch_bytes() == many,
         static_cast<double>(many) / static_cast<double>(one ? one : 1));
  // Two host threads on the same stream interleave their launches: they must not share a buffer.
  cuda::release_scratch();
  call(0x1000);
  std::thread other([&] { call(0x1000); });
  other.join();
  report("scratch buffers are per host thread on a shared stream", cuda::scratch_bytes() == 2 * one,
         static_cast<double>(cuda::scratch_bytes()) / static_cast<double>(one ? one : 1));
  cuda::release_scratch();
}

int main() {
  check_blend<std::uint8_t>(1, 1, 1, 3, 5);
  check_blend<std::uint8_t>(2, 37, 53, 3, 5);
  check_blend<std::uint8_t>(1, 33, 65, 1, 12);
  check_blend<float>(3, 19, 40, 3, 4);
  check_blend<std::uint8_t>(12, 11, 13, 1, 3);  // batches above FF_MAX_GRID_YZ (5 here) run in chunks
  check_blend<float>(1, 2, 2, 1, 3);
  check_blend<std::uint8_t>(2, 9, 31, 3, 1);
  check_lab(1);
  check_lab(3001);
  check_transfer<std::uint8_t>(1, 23, 31, 1, 17, 12, false, 1.0f);
  check_transfer<std::uint8_t>(3, 40, 41, 3, 17, 12, true, 0.6f);
  check_transfer<float>(12, 9, 8, 1, 7, 6, true, 0.8f);
  check_transfer<std::uint8_t>(11, 6, 5, 11, 4, 7, false, 1.0f);
  check_transfer<std::uint8_t>(2, 40, 41, 1, 50, 52, true, 0.0f);
  check_transfer<float>(2, 30, 27, 2, 20, 19, true, 1.0f);
  check_transfer<std::uint8_t>(1, 1, 1, 1, 5, 5, false, 1.0f);
  check_tpsnr<std::uint8_t>(37, 45, 3, false);
  check_tpsnr<std::uint8_t>(64, 130, 4, true);
  check_tpsnr<float>(50, 61, 1, true);
  check_tpsnr<float>(1, 1, 3, false);
  check_tpsnr<std::uint8_t>(9, 7, 3, true, 12);  // more pairs than FF_MAX_GRID_YZ: chunked launches
  check_monitor<std::uint8_t>(37, 45, 3, 0, false);
  check_monitor<std::uint8_t>(64, 130, 3, 1, true);
  check_monitor<std::uint8_t>(41, 29, 1, 2, true);
  check_monitor<float>(50, 61, 3, 2, false);
  check_monitor<float>(33, 17, 4, 1, true);
  check_monitor<float>(1, 1, 3, 1, true);
  check_monitor<std::uint8_t>(1, 1, 1, 2, true);
  check_smoother(SmoothMethod::PoseShape, "pose_shape", 5, 68);
  check_smoother(SmoothMethod::PoseShape, "pose_shape", 3, 478);
  check_smoother(SmoothMethod::PoseShape, "pose_shape", 4, 1);
  check_smoother(SmoothMethod::Ema, "ema", 6, 5);
  check_smoother(SmoothMethod::AdaptiveEma, "adaptive_ema", 6, 68);
  check_smoother(SmoothMethod::OneEuro, "one_euro", 6, 68);
  check_warp<std::uint8_t>(23, 31, 3, 19, 27, 7, false);  // k > FF_MAX_GRID_YZ: chunked
  check_warp<std::uint8_t>(17, 13, 1, 21, 18, 2, true);
  check_warp<float>(15, 22, 4, 17, 20, 3, false);
  check_warp<float>(1, 1, 2, 9, 7, 1, true);
  check_warp<std::uint8_t>(9, 11, 4, 1, 1, 1, false);
  check_paste<std::uint8_t>(1, 37, 45, 6, paste::Blend::alpha, false, 0);
  check_paste<std::uint8_t>(7, 23, 29, 11, paste::Blend::alpha, false, 0);  // 7 frames: chunked jobs
  check_paste<float>(2, 31, 26, 5, paste::Blend::alpha, false, 0);
  check_paste<std::uint8_t>(2, 33, 41, 4, paste::Blend::laplacian, false, 0);
  check_paste<float>(1, 29, 35, 3, paste::Blend::laplacian, false, 0);
  check_paste<std::uint8_t>(2, 33, 41, 4, paste::Blend::alpha, true, 1);
  check_paste<std::uint8_t>(1, 36, 30, 3, paste::Blend::laplacian, true, 1);
  check_paste<float>(2, 27, 33, 3, paste::Blend::laplacian, true, 0.02);
  check_device_restored();
  check_scratch_bounded();
  std::printf("%s\n", failures ? "FAILED" : "all emulated kernels match the CPU core");
  return failures ? 1 : 0;
}
