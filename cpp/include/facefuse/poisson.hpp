// CPU kernels of gradient-domain (Poisson / seamless) blending. Plain pointers,
// no Python: callable from other C++ kernels (e.g. a fused paste-back working
// on a region of a full frame through the row strides).
#pragma once

#include <cstddef>
#include <cstdint>

namespace facefuse {

// The defaults of facefuse.ops.blend_poisson, also paste_back(blend="poisson")'s.
constexpr float kPoissonTol = 1e-4f;
constexpr int kPoissonMaxIter = 50;

struct PoissonResult {
  int status = 0;            // 0 ok; 1 dst, 2 src non-finite in the solved region; 3 mask non-finite
  int iterations = 0;        // CG iterations (= V-cycles on the finest level; 0: nothing to solve)
  float rel_residual = 0.f;  // ||b - A c||_2 / ||b||_2 over all channels at the end
  int unknowns = 0;          // pixels solved for
};

// Seamless (NORMAL_CLONE) blend of src into dst under mask:
//   unknowns  = { p : mask_p > 0.5, p not on the outer 1-px frame of the image }
//   out       = f on the unknowns, dst elsewhere, where per channel
//               laplacian(f) = laplacian(src) on the unknowns (4-neighbour) and
//               f = dst on the pixels bordering them (Dirichlet).
// Solved for c = f - src on the bounding box of the unknowns (+1 px): a full
// multigrid start, then conjugate gradients preconditioned by one multigrid
// V-cycle per iteration, until ||b - A c||_2 <= tol * ||b||_2 (all channels
// together) or max_iter iterations; the result does not depend on the number
// of OpenMP threads.
// dst, src, out: h x w x c interleaved (c = 1 or 3), rows `*_stride` ELEMENTS
// apart (>= w * c); mask: h x w float32, rows `mask_stride` elements apart.
// out may alias dst exactly (in place: only the unknown pixels are written);
// otherwise it must not overlap the inputs. uint8 output is rounded half up and
// saturated; float32 is not clamped. On a non-zero status nothing is written.
// Requires h, w >= 1, c in {1, 3}, tol >= 0, max_iter >= 1.
PoissonResult blend_poisson_u8(const std::uint8_t* dst, std::ptrdiff_t dst_stride, const std::uint8_t* src,
                               std::ptrdiff_t src_stride, const float* mask, std::ptrdiff_t mask_stride,
                               std::uint8_t* out, std::ptrdiff_t out_stride, int h, int w, int c, float tol,
                               int max_iter);
PoissonResult blend_poisson_f32(const float* dst, std::ptrdiff_t dst_stride, const float* src,
                                std::ptrdiff_t src_stride, const float* mask, std::ptrdiff_t mask_stride,
                                float* out, std::ptrdiff_t out_stride, int h, int w, int c, float tol,
                                int max_iter);

// Contiguous convenience forms (strides w * c and w).
inline PoissonResult blend_poisson_u8(const std::uint8_t* dst, const std::uint8_t* src, const float* mask,
                                      std::uint8_t* out, int h, int w, int c, float tol, int max_iter) {
  const std::ptrdiff_t s = static_cast<std::ptrdiff_t>(w) * c;
  return blend_poisson_u8(dst, s, src, s, mask, w, out, s, h, w, c, tol, max_iter);
}
inline PoissonResult blend_poisson_f32(const float* dst, const float* src, const float* mask, float* out, int h,
                                       int w, int c, float tol, int max_iter) {
  const std::ptrdiff_t s = static_cast<std::ptrdiff_t>(w) * c;
  return blend_poisson_f32(dst, s, src, s, mask, w, out, s, h, w, c, tol, max_iter);
}

}  // namespace facefuse
