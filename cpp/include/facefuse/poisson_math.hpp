// Per-pixel maths of gradient-domain (Poisson / seamless) blending. Plain C++
// so a CUDA kernel can call the same functions.
//
// The discrete problem (per channel, 4-neighbour Laplacian, NORMAL_CLONE
// guidance = the gradients of src): for every unknown pixel p (mask > 0.5, not
// on the image's outer 1-px frame)
//     4 f_p - sum_{q in N(p), q unknown} f_q
//         = sum_{q in N(p), q known} dst_q + sum_{q in N(p)} (src_p - src_q)
// and f = dst on every other pixel. The solver works on the correction
// c = f - src, a membrane:
//     4 c_p - sum_{q unknown} c_q = sum_{q known} (dst_q - src_q)   (= the source term)
// i.e. A c = b with A the Dirichlet Laplacian of the unknown set. Multigrid on
// the cell-centred grid: red-black Gauss-Seidel smoothing, bilinear
// prolongation (weights 9/16, 3/16, 3/16, 1/16) and its transpose as
// restriction (1-D taps 1/4, 3/4, 3/4, 1/4: a coarse right-hand side is the
// weighted SUM of fine residuals, matching the unscaled coarse operator
// A_2h = 4 * A_h in h^2 units). A coarse cell is unknown when at least 2 of
// its 4 children are; coarse operators are 5-point with the known-neighbour
// coupling of boundary_coupling(level).
#pragma once

#include "facefuse/common.hpp"

namespace facefuse {
namespace poisson {

// Red-black colouring (colour 0, "red", when x + y is even): the first interior
// column (x >= 1) of colour `colour` on row y.
FF_HD int rb_first_x(int y, int colour) { return 1 + ((y + 1 + colour) & 1); }

// Coarse levels keep the 5-point stencil with a diagonal that places the
// Dirichlet boundary where the fine one is: level l's cells are s = 2^l fine
// cells wide, the centre of a cell next to a known cell lies (s + 1) / 2 fine
// cells = (s + 1) / (2 s) coarse cells from the fine boundary, so a known
// neighbour couples with weight 2 s / (s + 1) (1 on the finest level, -> 2:
// the usual cell-centred ghost-cell Dirichlet). Without it the coarse domains
// grow by half a cell per level and the V-cycle stalls.
FF_HD float boundary_coupling(int level) {
  const float s = static_cast<float>(1 << (level < 30 ? level : 30));
  return 2.f * s / (s + 1.f);
}
// Diagonal of an unknown cell: 1 per unknown neighbour, `beta` per known one.
FF_HD float diagonal(float wu, float wd, float wl, float wr, float beta) {
  return (wu + wd + wl + wr) + beta * (4.f - (wu + wd + wl + wr));
}

// Gauss-Seidel value of cell p: solves row p of A c = rhs for c_p with the
// neighbours fixed (known neighbours hold 0): (u + d + l + r + rhs) / diag.
// Known cells have inv_diag = 0 and stay 0.
FF_HD float gs_value(float up, float down, float left, float right, float rhs, float inv_diag) {
  return inv_diag * (((up + down) + (left + right)) + rhs);
}

// Residual rhs - A c of cell p, zero on known cells (w = 0).
FF_HD float residual(float c, float up, float down, float left, float right, float rhs, float diag, float w) {
  return w * ((rhs + ((up + down) + (left + right))) - diag * c);
}

// Source term of the correction system at an unknown cell from its 4 neighbours'
// boundary values b_q = (dst_q - src_q) * (q known): b_u + b_d + b_l + b_r.
FF_HD float boundary_source(float bu, float bd, float bl, float br) { return (bu + bd) + (bl + br); }

// Restriction (transpose of the bilinear prolongation), one axis: coarse cell I
// gathers fine cells 2I-2, 2I-1, 2I, 2I+1 with weights 1/4, 3/4, 3/4, 1/4 (sum 2 per axis).
FF_HD float restrict4(float a, float b, float c, float d) { return 0.25f * (a + d) + 0.75f * (b + c); }

// Bilinear prolongation, one axis: fine cell 2I-1 takes 3/4 of coarse I and 1/4
// of coarse I-1; fine cell 2I takes 3/4 of I and 1/4 of I+1.
FF_HD float prolong2(float near_c, float far_c) { return 0.75f * near_c + 0.25f * far_c; }
// Coarse index of the parent of fine index y (>= 1) and of its second (far) coarse neighbour.
FF_HD int parent_of(int y) { return (y + 1) >> 1; }
FF_HD int far_of(int y) { return (y & 1) ? ((y + 1) >> 1) - 1 : ((y + 1) >> 1) + 1; }
// Interior size of the next coarser level.
FF_HD int coarse_size(int n) { return (n + 1) / 2; }

}  // namespace poisson
}  // namespace facefuse
