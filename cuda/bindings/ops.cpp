// Bindings of the stateless GPU ops: blend_laplacian, bgr_to_lab, lab_to_bgr,
// color_transfer, tpsnr sums. Pointers arrive as ints; each entry checks the
// sizes it launches with and releases the GIL while it enqueues the kernels.
#include <pybind11/pybind11.h>

#include <climits>
#include <cstdint>
#include <string>

#include "facefuse/quality.hpp"
#include "kernels.hpp"

namespace py = pybind11;

namespace facefuse::cuda::bind {

namespace {

template <typename T = void>
T* ptr(std::uintptr_t p) {
  return reinterpret_cast<T*>(p);
}

cudaStream_t stream_of(std::uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

void need(bool ok, const char* fn, const char* arg, const std::string& what) {
  if (!ok) throw py::value_error(std::string(fn) + ": argument '" + arg + "' " + what);
}

void need_ptr(std::uintptr_t p, const char* fn, const char* arg) { need(p != 0, fn, arg, "must be a device pointer, got 0"); }

// A side of at most 2^28 keeps the kernels' int pixel indices in range (as the CPU bindings).
void need_dim(long long v, const char* fn, const char* arg) {
  need(v >= 1 && v <= (1LL << 28), fn, arg, "must be in [1, 2^28], got " + std::to_string(v));
}

}  // namespace

void bind_ops(py::module_& m) {
  m.def(
      "blend_laplacian",
      [](std::uintptr_t dst, std::uintptr_t src, std::uintptr_t mask, std::uintptr_t out, bool u8, long long n,
         long long h, long long w, int c, long long levels, int device, std::uintptr_t stream) {
        constexpr const char* fn = "blend_laplacian";
        need_ptr(dst, fn, "dst");
        need_ptr(src, fn, "src");
        need_ptr(mask, fn, "mask");
        need_ptr(out, fn, "out");
        need(n >= 1 && n <= INT_MAX, fn, "n", "(batch size) must be in [1, 2^31 - 1], got " + std::to_string(n));
        need_dim(h, fn, "h");
        // 16-row tiles on grid y, which holds at most 65535 blocks.
        need(h <= 65535LL * 16, fn, "h", "must be at most 1048560 on the GPU (tile rows), got " + std::to_string(h));
        need_dim(w, fn, "w");
        need(c == 1 || c == 3, fn, "c", "must be 1 or 3, got " + std::to_string(c));
        need(levels >= 1, fn, "levels", "must be >= 1, got " + std::to_string(levels));
        py::gil_scoped_release nogil;
        blend_laplacian(ptr(dst), ptr(src), ptr<float>(mask), ptr(out), u8, static_cast<int>(n), static_cast<int>(h),
                        static_cast<int>(w), c, levels > 64 ? 64 : static_cast<int>(levels), device,
                        stream_of(stream));
      },
      py::arg("dst"), py::arg("src"), py::arg("mask"), py::arg("out"), py::arg("u8"), py::arg("n"), py::arg("h"),
      py::arg("w"), py::arg("c"), py::arg("levels"), py::arg("device"), py::arg("stream"),
      "Multi-band blend of n frames (device pointers, C-contiguous n x h x w x c, mask n x h x w float32).");
  m.def(
      "bgr_to_lab",
      [](std::uintptr_t src, bool u8, std::uintptr_t dst, long long n_px, int device, std::uintptr_t stream) {
        need_ptr(src, "bgr_to_lab", "img");
        need_ptr(dst, "bgr_to_lab", "out");
        need(n_px >= 1, "bgr_to_lab", "n_px", "must be >= 1");
        py::gil_scoped_release nogil;
        bgr_to_lab(ptr(src), u8, ptr<float>(dst), n_px, device, stream_of(stream));
      },
      py::arg("src"), py::arg("u8"), py::arg("dst"), py::arg("n_px"), py::arg("device"), py::arg("stream"),
      "n_px B, G, R pixels (uint8, or float32 in [0, 1]) -> float32 L, a, b.");
  m.def(
      "lab_to_bgr",
      [](std::uintptr_t src, std::uintptr_t dst, long long n_px, int device, std::uintptr_t stream) {
        need_ptr(src, "lab_to_bgr", "lab");
        need_ptr(dst, "lab_to_bgr", "out");
        need(n_px >= 1, "lab_to_bgr", "n_px", "must be >= 1");
        py::gil_scoped_release nogil;
        lab_to_bgr(ptr<float>(src), ptr<float>(dst), n_px, device, stream_of(stream));
      },
      py::arg("src"), py::arg("dst"), py::arg("n_px"), py::arg("device"), py::arg("stream"),
      "n_px L, a, b pixels (float32) -> float32 B, G, R in [0, 1].");
  m.def(
      "color_transfer",
      [](std::uintptr_t src, std::uintptr_t ref, std::uintptr_t src_mask, std::uintptr_t ref_mask, std::uintptr_t dst,
         bool u8, long long n, long long src_px, long long n_ref, long long ref_px, double strength, int device,
         std::uintptr_t stream) {
        constexpr const char* fn = "color_transfer";
        need_ptr(src, fn, "src");
        need_ptr(ref, fn, "ref");
        need_ptr(dst, fn, "out");
        need(n >= 1 && n <= (1 << 20), fn, "n", "(batch size) must be in [1, 2^20], got " + std::to_string(n));
        need(n_ref == 1 || n_ref == n, fn, "n_ref", "must be 1 or n");
        need(src_px >= 1, fn, "src_px", "must be >= 1");
        need(ref_px >= 1, fn, "ref_px", "must be >= 1");
        need(strength >= 0.0 && strength <= 1.0, fn, "strength", "must be in [0, 1]");
        py::gil_scoped_release nogil;
        color_transfer(ptr(src), ptr(ref), ptr<float>(src_mask), ptr<float>(ref_mask), ptr(dst), u8,
                       static_cast<int>(n), src_px, static_cast<int>(n_ref), ref_px, static_cast<float>(strength),
                       device, stream_of(stream));
      },
      py::arg("src"), py::arg("ref"), py::arg("src_mask"), py::arg("ref_mask"), py::arg("dst"), py::arg("u8"),
      py::arg("n"), py::arg("src_px"), py::arg("n_ref"), py::arg("ref_px"), py::arg("strength"), py::arg("device"),
      py::arg("stream"),
      "Batched Reinhard transfer (device pointers; masks 0 for none). Items with an all-zero mask return src.");
  m.def(
      "tpsnr_sums",
      [](std::uintptr_t a, std::uintptr_t b, long long pair_stride, long long n_pairs, bool u8, long long h,
         long long w, int c, std::uintptr_t mask, int device, std::uintptr_t stream) {
        constexpr const char* fn = "tpsnr";
        need_ptr(a, fn, "prev");
        need_ptr(b, fn, "cur");
        need(n_pairs >= 1 && n_pairs <= INT_MAX, fn, "n_pairs", "must be in [1, 2^31 - 1], got " + std::to_string(n_pairs));
        need_dim(h, fn, "h");
        need_dim(w, fn, "w");
        need(c == 1 || c == 3 || c == 4, fn, "c", "must be 1, 3 or 4");
        need(n_pairs == 1 || pair_stride >= h * w * c, fn, "pair_stride",
             "must be at least h * w * c, got " + std::to_string(pair_stride));
        py::list out;
        std::vector<double> sums(static_cast<std::size_t>(4 * n_pairs));
        {
          py::gil_scoped_release nogil;
          tpsnr_sums(ptr(a), ptr(b), pair_stride, static_cast<int>(n_pairs), u8, h, w, c, ptr<float>(mask),
                     sums.data(), device, stream_of(stream));
        }
        for (long long i = 0; i < n_pairs; ++i)
          out.append(py::make_tuple(sums[4 * i], sums[4 * i + 1], sums[4 * i + 2], sums[4 * i + 3]));
        return out;
      },
      py::arg("a"), py::arg("b"), py::arg("pair_stride"), py::arg("n_pairs"), py::arg("u8"), py::arg("h"),
      py::arg("w"), py::arg("c"), py::arg("mask"), py::arg("device"), py::arg("stream"),
      "Per pair (sse, weight_sum, mask_min, mask_max); synchronises the stream to return them.");
  m.def(
      "psnr_from_sums",
      [](double sse, double weight_sum, int c) {
        facefuse::quality::SseSums s;
        s.sse = sse;
        s.weight_sum = weight_sum;
        return facefuse::quality::psnr_from_sums(s, c);
      },
      py::arg("sse"), py::arg("weight_sum"), py::arg("c"), "PSNR (dB, peak 255) from the sums, as the CPU core.");
}

}  // namespace facefuse::cuda::bind
