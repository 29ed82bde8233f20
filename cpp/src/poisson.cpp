// CPU kernels of gradient-domain (Poisson / seamless) blending.
//
// blend_poisson solves, per channel, for the correction c = f - src on the
// unknown pixels (mask > 0.5, off the image's outer frame):
//     A c = b,   A = Dirichlet 4-neighbour Laplacian of the unknown set,
//     b_p = sum over the known neighbours q of p of (dst_q - src_q),
// then writes f = src + c there (see poisson_math.hpp). c is a membrane.
//
// Solver: conjugate gradients preconditioned by one multigrid V-cycle, started
// from a full-multigrid (coarse-to-fine) solve of the same membrane:
//  * grid: the bounding box of the unknowns plus a 1-cell ring of known cells,
//    planar per channel, one extra zero row/column of slack (the restriction's
//    4-tap window never leaves the array);
//  * levels: cell-centred halving (coarse cell I covers fine cells 2I-1, 2I;
//    unknown when >= 2 of its 4 children are) until the interior's smaller side
//    is <= 2; 5-point operators whose known-neighbour coupling keeps the
//    Dirichlet boundary where the fine one is (poisson::boundary_coupling);
//  * V-cycle: 2 fused red-black Gauss-Seidel sweeps, residual, restriction
//    (transpose of the bilinear prolongation), coarse correction, bilinear
//    prolongation, 2 black-red sweeps; symmetric, so it is a valid CG
//    preconditioner (it also converges alone, ~2-4x slower on curved masks);
//  * full multigrid start: the Dirichlet values are averaged onto the coarse
//    known cells (weighted by how many unknowns each fine value touches), the
//    coarsest level is solved by sweeps and each finer level starts from the
//    bilinear prolongation of the coarser solution (boundary values included)
//    plus one V-cycle;
//  * stop: ||b - A c||_2 <= tol * ||b||_2 over all channels, or max_iter CG
//    iterations (one V-cycle each).
// Every pass over a level is OpenMP-parallel over rows (RegionProbe guard); the
// red-black colouring makes the result independent of the thread count. The
// buffers live in a per-thread workspace reused across calls (kept up to
// 256 MB, about a 1500 x 1500 region of 3 channels).

#include "facefuse/poisson.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "facefuse/common.hpp"
#include "facefuse/parallel.hpp"
#include "facefuse/poisson_math.hpp"

namespace facefuse {

namespace {

using namespace poisson;

constexpr std::size_t kParWork = 1u << 14;  // cells x channels below which a pass runs serially
constexpr int kMaxLevels = 24;
// Red-black sweeps before / after the coarse correction (all levels), and
// sweeps (each way) on the coarsest level. (1, 1) needs ~1.5x the iterations.
constexpr int kPreSweeps = 2, kPostSweeps = 2, kCoarseSweeps = 20;
// A coarse cell is unknown when at least this many of its 4 children are: the
// coarse domain then straddles the fine boundary (1 = any child overshoots it
// and the V-cycle diverges on curved masks, 4 = all children shrinks it).
constexpr float kCoarseMin = 2.f;

// Runs f(y, thread) for y in [y0, y1), rows split statically over the threads.
template <class F>
void for_rows(int y0, int y1, std::size_t work, F&& f) {
  RegionProbe probe(work >= kParWork && y1 - y0 > 1);
  if (!probe.parallel()) {  // no OpenMP region at all: small levels are called often
    for (int y = y0; y < y1; ++y) f(y, 0);
    return;
  }
#pragma omp parallel
  {
    const int t = thread_num();
#pragma omp for schedule(static) nowait
    for (int y = y0; y < y1; ++y) f(y, t);
    probe.share_done();
  }
}

// Sum over rows of f(y) (a double per row), rows split over the threads.
template <class F>
double sum_rows(int y0, int y1, std::size_t work, F&& f) {
  double acc = 0.0;
  RegionProbe probe(work >= kParWork && y1 - y0 > 1);
  if (!probe.parallel()) {
    for (int y = y0; y < y1; ++y) acc += f(y);
    return acc;
  }
#pragma omp parallel reduction(+ : acc)
  {
#pragma omp for schedule(static) nowait
    for (int y = y0; y < y1; ++y) acc += f(y);
    probe.share_done();
  }
  return acc;
}

// sum a[i] * b[i], i < n, in 8 interleaved partial sums (vectorises without
// -ffast-math; an in-order float sum runs at one add per 4 cycles).
inline float dot_row(const float* a, const float* b, int n) {
  float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += a[i + k] * b[i + k];
  float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

struct Level {
  int n = 0, m = 0;        // interior rows / columns (cells 1..n, 1..m)
  int rows = 0, cols = 0;  // storage: n + 3, m + 3 (ring at 0 and n + 1, slack at n + 2)
  std::size_t plane = 0;
  float* wunk = nullptr;  // 1 on unknown cells, 0 elsewhere
  float* diag = nullptr;  // stencil diagonal on unknown cells (see boundary_coupling), 0 elsewhere
  float* idiag = nullptr; // 1 / diag on unknown cells, 0 elsewhere
  float* u = nullptr;     // C planes: the solution / correction
  float* rhs = nullptr;   // C planes
  float* res = nullptr;   // C planes (residual; scratch)
  float* bval = nullptr;  // C planes: Dirichlet values on known cells (full multigrid start)
  std::size_t work(int c) const { return static_cast<std::size_t>(n) * static_cast<std::size_t>(m) * c; }
};

// Per-thread storage reused across calls (released when a call needed a lot).
struct Workspace {
  std::vector<float> pool;
  std::vector<float> rowbuf;  // one row per OpenMP thread
};

Workspace& workspace() {
  thread_local Workspace ws;
  return ws;
}

class Solver {
 public:
  // Sets up the level sizes for a fine interior of n x m cells and c channels;
  // the fine level's wunk (interior), rhs (interior), and for the FMG from
  // boundary values bval (rows 0..n+1, columns 0..m+1) must then be filled by
  // the caller. Nothing is cleared but the frames (ring and slack) of the
  // arrays whose neighbours or 4-tap windows are read there: every pass writes
  // all the interior cells it owns before they are read (the first sweep from
  // zero reads no neighbour of its first colour).
  Solver(int n, int m, int c) : c_(c) {
    int ln = n, lm = m;
    std::size_t total = 0;
    for (int l = 0; l < kMaxLevels; ++l) {
      Level L;
      L.n = ln;
      L.m = lm;
      L.rows = ln + 3;
      L.cols = lm + 3;
      L.plane = static_cast<std::size_t>(L.rows) * static_cast<std::size_t>(L.cols);
      total += L.plane * (3 + (l == 0 ? 6 : 4) * static_cast<std::size_t>(c));
      levels_.push_back(L);
      if (std::min(ln, lm) <= 2) break;
      ln = coarse_size(ln);
      lm = coarse_size(lm);
    }
    auto& ws = workspace();
    if (ws.pool.size() < total) {
      ws.pool.clear();
      ws.pool.shrink_to_fit();
      ws.pool.resize(total);
    }
    float* p = ws.pool.data();
    for (auto& L : levels_) {
      for (float** q : {&L.wunk, &L.diag, &L.idiag}) {
        *q = p;
        p += L.plane;
      }
      for (float** q : {&L.u, &L.rhs, &L.res}) {
        *q = p;
        p += L.plane * c;
      }
      if (&L != &levels_[0]) {
        L.bval = p;
        p += L.plane * c;
      }
      // Only these are read outside what the passes write (rings, slack);
      // u is zeroed before each use, the rest is written before it is read.
      zero_frame(L, L.wunk, 1);
      for (float* q : {L.u, L.rhs, L.res}) zero_frame(L, q, c);
      if (&L == &levels_[0]) {
        for (float** q : {&X_, &P_, &L.bval}) {
          *q = p;
          p += L.plane * c;
        }
        for (float* q : {X_, P_}) zero_frame(L, q, c);
      }
    }
    const std::size_t rb = static_cast<std::size_t>(max_threads()) * static_cast<std::size_t>(levels_[0].cols + 8);
    if (ws.rowbuf.size() < rb) ws.rowbuf.resize(rb);
    rowbuf_ = ws.rowbuf.data();
    total_ = total;
  }

  ~Solver() {
    auto& ws = workspace();
    if (total_ > (std::size_t(256) << 20) / sizeof(float)) {  // > 256 MB: give it back
      ws.pool.clear();
      ws.pool.shrink_to_fit();
    }
  }

  Level& fine() { return levels_[0]; }

  // Coarse levels' unknown sets and every level's stencil diagonal.
  void build_hierarchy() {
    for (std::size_t l = 1; l < levels_.size(); ++l) {
      const Level& F = levels_[l - 1];
      Level& C = levels_[l];
      for_rows(1, C.n + 1, C.work(1), [&](int I, int) {
        const float* a = F.wunk + static_cast<std::size_t>(2 * I - 1) * F.cols;
        const float* b = a + F.cols;
        float* o = C.wunk + static_cast<std::size_t>(I) * C.cols;
        for (int J = 1; J <= C.m; ++J)
          o[J] = (a[2 * J - 1] + a[2 * J]) + (b[2 * J - 1] + b[2 * J]) >= kCoarseMin ? 1.f : 0.f;
      });
    }
    for (std::size_t l = 0; l < levels_.size(); ++l) {
      Level& L = levels_[l];
      const float beta = boundary_coupling(static_cast<int>(l));
      for_rows(1, L.n + 1, L.work(1), [&](int y, int) {
        const std::size_t o = static_cast<std::size_t>(y) * L.cols;
        const float* wu = L.wunk + o;
        for (int x = 1; x <= L.m; ++x) {
          const float d = diagonal(wu[x - L.cols], wu[x + L.cols], wu[x - 1], wu[x + 1], beta);
          L.diag[o + x] = wu[x] * d;
          L.idiag[o + x] = wu[x] / d;
        }
      });
    }
  }

  // Dirichlet data: with the fine level's bval set on its known cells (rows
  // 0..n+1, columns 0..m+1), averages it onto every coarser level's known cells
  // and forms each level's right-hand side beta_l * sum of the known neighbours'
  // values (the fine level's rhs, b, is the caller's). Call after build_hierarchy.
  void set_boundary_values() {
    for (std::size_t l = 1; l < levels_.size(); ++l) {
      const Level& F = levels_[l - 1];
      Level& C = levels_[l];
      // A known child weighs as many as its unknown neighbours (how strongly its
      // value acts on the solve: rough boundary data are averaged where they
      // enter the system, not over pixels deeper outside); plain average of the
      // known children when none touches an unknown.
      auto wu_at = [&](int y, int x) {
        return y < 0 || x < 0 || y > F.n + 2 || x > F.m + 2 ? 0.f : F.wunk[static_cast<std::size_t>(y) * F.cols + x];
      };
      auto weight = [&](int y, int x) {
        if (F.wunk[static_cast<std::size_t>(y) * F.cols + x] > 0.f) return 0.f;
        return (wu_at(y - 1, x) + wu_at(y + 1, x)) + (wu_at(y, x - 1) + wu_at(y, x + 1));
      };
      for_rows(0, C.n + 2, C.work(c_), [&](int I, int t) {
        const int ya = std::min(2 * I - 1 < 0 ? 0 : 2 * I - 1, F.n + 1), yb = std::min(2 * I, F.n + 1);
        const float* wc = C.wunk + static_cast<std::size_t>(I) * C.cols;
        const float* wa = F.wunk + static_cast<std::size_t>(ya) * F.cols;
        const float* wb = F.wunk + static_cast<std::size_t>(yb) * F.cols;
        const int mc = C.m;
        // per coarse column: the normalised weights of children (ya,xa) (ya,xb) (yb,xa) (yb,xb)
        std::vector<float>& wbuf = wscratch_[t];
        wbuf.resize(static_cast<std::size_t>(mc + 2) * 4);
        for (int J = 0; J <= mc + 1; ++J) {
          const int xa = std::min(std::max(2 * J - 1, 0), F.m + 1), xb = std::min(2 * J, F.m + 1);
          float w4[4] = {weight(ya, xa), weight(ya, xb), weight(yb, xa), weight(yb, xb)};
          float sw = (w4[0] + w4[1]) + (w4[2] + w4[3]);
          if (!(sw > 0.f)) {
            w4[0] = 1.f - wa[xa];
            w4[1] = 1.f - wa[xb];
            w4[2] = 1.f - wb[xa];
            w4[3] = 1.f - wb[xb];
            sw = (w4[0] + w4[1]) + (w4[2] + w4[3]);
          }
          const float inv = wc[J] > 0.f || !(sw > 0.f) ? 0.f : 1.f / sw;
          for (int k = 0; k < 4; ++k) wbuf[4 * J + k] = w4[k] * inv;
        }
        for (int ch = 0; ch < c_; ++ch) {
          const float* ba = F.bval + ch * F.plane + static_cast<std::size_t>(ya) * F.cols;
          const float* bb = F.bval + ch * F.plane + static_cast<std::size_t>(yb) * F.cols;
          float* o = C.bval + ch * C.plane + static_cast<std::size_t>(I) * C.cols;
          for (int J = 0; J <= mc + 1; ++J) {
            const int xa = std::min(std::max(2 * J - 1, 0), F.m + 1), xb = std::min(2 * J, F.m + 1);
            const float* q = &wbuf[4 * J];
            o[J] = (q[0] * ba[xa] + q[1] * ba[xb]) + (q[2] * bb[xa] + q[3] * bb[xb]);
          }
        }
      });
    }
    for (std::size_t l = 1; l < levels_.size(); ++l) {
      Level& L = levels_[l];
      const float beta = boundary_coupling(static_cast<int>(l));
      for_rows(1, L.n + 1, L.work(c_), [&](int y, int) {
        const float* wu = L.wunk + static_cast<std::size_t>(y) * L.cols;
        for (int ch = 0; ch < c_; ++ch) {
          const float* b = row(L.bval, L, ch, y);
          float* o = row(L.rhs, L, ch, y);
          for (int x = 1; x <= L.m; ++x)
            o[x] = wu[x] > 0.f ? beta * boundary_source(b[x - L.cols], b[x + L.cols], b[x - 1], b[x + 1]) : 0.f;
        }
      });
    }
  }

  // Solves A u = rhs on the fine level, starting with full multigrid from the
  // boundary values (set_boundary_values must have run).
  PoissonResult solve(float tol, int max_iter) {
    PoissonResult r;
    const int last = static_cast<int>(levels_.size()) - 1;
    const double nb = std::sqrt(norm2(levels_[0], levels_[0].rhs));
    if (!(nb > 0.0)) {  // b == 0: c == 0
      zero_u(levels_[0]);
      return r;
    }
    coarse_solve(levels_[last], true);
    for (int l = last - 1; l >= 0; --l) {
      prolong_add(l + 1, true, true);
      if (l > 0) vcycle(l, false);
    }
    // Conjugate gradients on the finest level, preconditioned by one V-cycle
    // (symmetric: red-black before, black-red after, R = P^T, symmetric coarse
    // sweeps), per channel; stops on ||r|| <= tol ||b|| over all channels.
    Level& F = levels_[0];
    double rel = std::sqrt(residual(F, true)) / nb;  // r0 = b - A x0 in res
    if (!(rel > tol)) {
      r.rel_residual = static_cast<float>(rel);
      return r;
    }
    std::swap(F.u, X_);       // x: the FMG result (rings zero); u becomes the V-cycle's z
    std::swap(F.rhs, F.res);  // r lives in rhs: the V-cycle's input
    double rz[kMaxC], rz_new[kMaxC], pq[kMaxC], rr[kMaxC];
    for (;;) {
      vcycle(0, true);  // z = M r in u
      ++r.iterations;
      dots(F, F.rhs, F.u, rz_new);
      for (int ch = 0; ch < c_; ++ch) {
        const float beta = !(rz[ch] > 0.0) ? 0.f : static_cast<float>(rz_new[ch] / rz[ch]);
        rz[ch] = rz_new[ch];
        update_p(F, ch, beta, r.iterations == 1);
      }
      apply_a(F, P_, pq);  // pq = <p, A p>
      float alpha[kMaxC];
      for (int ch = 0; ch < c_; ++ch) alpha[ch] = pq[ch] > 0.0 ? static_cast<float>(rz[ch] / pq[ch]) : 0.f;
      update_xr(F, alpha, rr);
      double sum = 0.0;
      for (int ch = 0; ch < c_; ++ch) sum += rr[ch];
      rel = std::sqrt(sum) / nb;
      if (!(rel > tol) || r.iterations >= max_iter) break;
    }
    std::swap(F.rhs, F.res);
    std::swap(F.u, X_);
    r.rel_residual = static_cast<float>(rel);
    return r;
  }

 private:
  static constexpr int kMaxC = 4;
  int c_;
  std::vector<Level> levels_;
  std::vector<std::vector<float>> wscratch_ = std::vector<std::vector<float>>(max_threads());
  float* X_ = nullptr;  // CG vectors on the finest level: x, p (C planes each)
  float* P_ = nullptr;

  // Per-channel <a, b> over the interior of L.
  void dots(const Level& L, const float* a, const float* b, double* out) {
    for (int ch = 0; ch < c_; ++ch)
      out[ch] = sum_rows(1, L.n + 1, L.work(1), [&](int y) {
        const std::size_t o = ch * L.plane + static_cast<std::size_t>(y) * L.cols;
        return static_cast<double>(dot_row(a + o + 1, b + o + 1, L.m));
      });
  }

  // p = z + beta p (channel ch, interior); p = z when `first`.
  void update_p(const Level& L, int ch, float beta, bool first) {
    for_rows(1, L.n + 1, L.work(1), [&](int y, int) {
      const std::size_t o = ch * L.plane + static_cast<std::size_t>(y) * L.cols;
      const float* z = L.u + o;
      float* p = P_ + o;
      if (first)
        std::copy(z + 1, z + L.m + 1, p + 1);
      else
        for (int x = 1; x <= L.m; ++x) p[x] = z[x] + beta * p[x];
    });
  }

  // (A p)_x on row y of channel ch (0 on known cells) into q[1..m].
  void apply_a_row(const Level& L, const float* p, int ch, int y, float* q) const {
    const std::size_t o = ch * L.plane + static_cast<std::size_t>(y) * L.cols;
    const float* wu = L.wunk + static_cast<std::size_t>(y) * L.cols;
    const float* dg = L.diag + static_cast<std::size_t>(y) * L.cols;
    const float* r = p + o;
    const float* up = r - L.cols;
    const float* dn = r + L.cols;
    for (int x = 1; x <= L.m; ++x) q[x] = -poisson::residual(r[x], up[x], dn[x], r[x - 1], r[x + 1], 0.f, dg[x], wu[x]);
  }

  // pq = per-channel <p, A p> (A p is not stored: update_xr recomputes it).
  void apply_a(const Level& L, const float* p, double* pq) {
    for (int ch = 0; ch < c_; ++ch)
      pq[ch] = sum_rows(1, L.n + 1, L.work(1), [&](int y) {
        float* q = rowbuf_ + static_cast<std::size_t>(thread_num()) * (levels_[0].cols + 8);
        apply_a_row(L, p, ch, y, q);
        const float* r = p + ch * L.plane + static_cast<std::size_t>(y) * L.cols;
        return static_cast<double>(dot_row(r + 1, q + 1, L.m));
      });
  }

  // x += alpha p, r -= alpha A p (r in L.rhs); rr = per-channel ||r||^2.
  void update_xr(const Level& L, const float* alpha, double* rr) {
    for (int ch = 0; ch < c_; ++ch) {
      const float a = alpha[ch];
      rr[ch] = sum_rows(1, L.n + 1, L.work(1), [&](int y) {
        float* q = rowbuf_ + static_cast<std::size_t>(thread_num()) * (levels_[0].cols + 8);
        apply_a_row(L, P_, ch, y, q);
        const std::size_t o = ch * L.plane + static_cast<std::size_t>(y) * L.cols;
        float* x = X_ + o;
        float* rv = L.rhs + o;
        const float* p = P_ + o;
        for (int i = 1; i <= L.m; ++i) {
          x[i] += a * p[i];
          rv[i] -= a * q[i];
        }
        return static_cast<double>(dot_row(rv + 1, rv + 1, L.m));
      });
    }
  }
  float* rowbuf_ = nullptr;
  std::size_t total_ = 0;

  float* row(float* plane_base, const Level& L, int ch, int y) const {
    return plane_base + ch * L.plane + static_cast<std::size_t>(y) * L.cols;
  }

  double norm2(const Level& L, const float* a) const {
    return sum_rows(1, L.n + 1, L.work(c_), [&](int y) {
      double acc = 0.0;
      for (int ch = 0; ch < c_; ++ch) {
        const float* p = a + ch * L.plane + static_cast<std::size_t>(y) * L.cols;
        acc += dot_row(p + 1, p + 1, L.m);
      }
      return acc;
    });
  }

  void zero_u(Level& L) { std::fill(L.u, L.u + L.plane * c_, 0.f); }

  // Zeroes rows 0, n+1, n+2 and columns 0, m+1, m+2 of `planes` planes of L.
  static void zero_frame(const Level& L, float* base, int planes) {
    for (int ch = 0; ch < planes; ++ch) {
      float* a = base + ch * L.plane;
      std::fill(a, a + L.cols, 0.f);
      std::fill(a + static_cast<std::size_t>(L.n + 1) * L.cols, a + L.plane, 0.f);
      for (int y = 1; y <= L.n; ++y) {
        float* r = a + static_cast<std::size_t>(y) * L.cols;
        r[0] = 0.f;
        r[L.m + 1] = 0.f;
        r[L.m + 2] = 0.f;
      }
    }
  }

  // Gauss-Seidel on the cells of colour `colour` of row y (every channel).
  // from_zero: the iterate is zero (its cells may hold anything): u = rhs / diag.
  void relax_row(Level& L, int y, int colour, bool from_zero = false) {
    const float* id = L.idiag + static_cast<std::size_t>(y) * L.cols;
    const int x0 = rb_first_x(y, colour), m = L.m;
    for (int ch = 0; ch < c_; ++ch) {
      float* r = row(L.u, L, ch, y);
      const float* up = r - L.cols;
      const float* dn = r + L.cols;
      const float* rh = row(L.rhs, L, ch, y);
      if (from_zero)
        for (int x = x0; x <= m; x += 2) r[x] = id[x] * rh[x];
      else
        for (int x = x0; x <= m; x += 2) r[x] = gs_value(up[x], dn[x], r[x - 1], r[x + 1], rh[x], id[x]);
    }
  }

  // One red-black Gauss-Seidel sweep (colour `first`, then the other) in a
  // single pass: each thread relaxes its rows' first colour on row y and the
  // second colour on row y - 1 right behind, then, after a barrier, the second
  // colour on its first and last rows (they need the neighbouring threads'
  // rows). Same result as two half-sweeps, half the memory traffic.
  // from_zero: the first sweep from a zero iterate (u need not be cleared).
  void sweep(Level& L, int first, bool from_zero = false) {
    const int n = L.n, second = first ^ 1;
    RegionProbe probe(L.work(c_) >= kParWork && n > 1);
    if (!probe.parallel()) {
      for (int y = 1; y <= n; ++y) {
        relax_row(L, y, first, from_zero);
        if (y - 1 > 1) relax_row(L, y - 1, second);
      }
      relax_row(L, 1, second);
      if (n > 1) relax_row(L, n, second);
      return;
    }
#pragma omp parallel
    {
      const int nt = team_size(), t = thread_num();
      const int s = 1 + static_cast<int>(static_cast<long long>(n) * t / nt);
      const int e = 1 + static_cast<int>(static_cast<long long>(n) * (t + 1) / nt);
      for (int y = s; y < e; ++y) {
        relax_row(L, y, first, from_zero);
        if (y - 1 > s) relax_row(L, y - 1, second);
      }
#pragma omp barrier
      if (s < e) relax_row(L, s, second);
      if (e - 1 > s) relax_row(L, e - 1, second);
      probe.share_done();
    }
  }

  void coarse_solve(Level& L, bool from_zero) {
    for (int k = 0; k < kCoarseSweeps; ++k) sweep(L, 0, from_zero && k == 0);
    for (int k = 0; k < kCoarseSweeps; ++k) sweep(L, 1);
  }

  // res = rhs - A u on L; returns ||res||^2 when `norm`.
  double residual(Level& L, bool norm) {
    const int m = L.m;
    return sum_rows(1, L.n + 1, L.work(c_), [&](int y) {
      const float* wu = L.wunk + static_cast<std::size_t>(y) * L.cols;
      const float* dg = L.diag + static_cast<std::size_t>(y) * L.cols;
      double acc = 0.0;
      for (int ch = 0; ch < c_; ++ch) {
        const float* r = row(L.u, L, ch, y);
        const float* up = r - L.cols;
        const float* dn = r + L.cols;
        const float* rh = row(L.rhs, L, ch, y);
        float* o = row(L.res, L, ch, y);
        for (int x = 1; x <= m; ++x) o[x] = poisson::residual(r[x], up[x], dn[x], r[x - 1], r[x + 1], rh[x], dg[x], wu[x]);
        if (norm) {
          acc += dot_row(o + 1, o + 1, m);
        }
      }
      return acc;
    });
  }

  // levels_[l+1].rhs = R a  (a: C planes on level l, zero outside its interior unknowns).
  void restrict_to(int l, const float* a) {
    const Level& F = levels_[l];
    Level& C = levels_[l + 1];
    const int fc = F.cols;
    for_rows(1, C.n + 1, F.work(c_) / 2, [&](int I, int t) {
      float* tb = rowbuf_ + static_cast<std::size_t>(t) * (levels_[0].cols + 8);
      const float* wu = C.wunk + static_cast<std::size_t>(I) * C.cols;
      for (int ch = 0; ch < c_; ++ch) {
        const float* r0 = a + ch * F.plane + static_cast<std::size_t>(2 * I - 2) * fc;
        const float* r1 = r0 + fc;
        const float* r2 = r1 + fc;
        const float* r3 = r2 + fc;
        for (int x = 0; x < fc; ++x) tb[x] = restrict4(r0[x], r1[x], r2[x], r3[x]);
        float* o = row(C.rhs, C, ch, I);
        for (int J = 1; J <= C.m; ++J)
          o[J] = wu[J] * restrict4(tb[2 * J - 2], tb[2 * J - 1], tb[2 * J], tb[2 * J + 1]);
      }
    });
  }

  // levels_[l-1].u += P levels_[l].u on the unknown cells (u = P levels_[l].u
  // there and 0 on the known cells when `set`); with `full`, the coarse known
  // cells count with their boundary values (bval), so the prolongation
  // interpolates a full solution up to the boundary (FMG).
  void prolong_add(int l, bool full, bool set) {
    const Level& C = levels_[l];
    Level& F = levels_[l - 1];
    for_rows(1, F.n + 1, F.work(c_), [&](int y, int t) {
      float* tb = rowbuf_ + static_cast<std::size_t>(t) * (levels_[0].cols + 8);
      const float* wu = F.wunk + static_cast<std::size_t>(y) * F.cols;
      const int I = parent_of(y), K = far_of(y);
      for (int ch = 0; ch < c_; ++ch) {
        const std::size_t oa = ch * C.plane + static_cast<std::size_t>(I) * C.cols;
        const std::size_t ob = ch * C.plane + static_cast<std::size_t>(K) * C.cols;
        const float* a = C.u + oa;
        const float* b = C.u + ob;
        if (full) {
          const float* ga = C.bval + oa;
          const float* gb = C.bval + ob;
          for (int J = 0; J <= C.m + 1; ++J) tb[J] = prolong2(a[J] + ga[J], b[J] + gb[J]);
        } else {
          for (int J = 0; J <= C.m + 1; ++J) tb[J] = prolong2(a[J], b[J]);
        }
        float* o = row(F.u, F, ch, y);
        if (set) {
          for (int J = 1; J <= C.m; ++J) {  // x = 2 * mc may be the ring (wu = 0)
            o[2 * J - 1] = wu[2 * J - 1] * prolong2(tb[J], tb[J - 1]);
            o[2 * J] = wu[2 * J] * prolong2(tb[J], tb[J + 1]);
          }
        } else {
          for (int J = 1; J <= C.m; ++J) {
            o[2 * J - 1] += wu[2 * J - 1] * prolong2(tb[J], tb[J - 1]);
            o[2 * J] += wu[2 * J] * prolong2(tb[J], tb[J + 1]);
          }
        }
      }
    });
  }

  // Coarse-grid correction of level l from its residual (in res).
  void coarse_correct(int l) {
    restrict_to(l, levels_[l].res);
    vcycle(l + 1, true);
    prolong_add(l + 1, false, false);
  }

  // One V-cycle on level l (from_zero: from a zero iterate, u need not be cleared).
  void vcycle(int l, bool from_zero) {
    Level& L = levels_[l];
    if (l == static_cast<int>(levels_.size()) - 1) {
      coarse_solve(L, from_zero);
      return;
    }
    for (int k = 0; k < kPreSweeps; ++k) sweep(L, 0, from_zero && k == 0);
    residual(L, false);
    coarse_correct(l);
    for (int k = 0; k < kPostSweeps; ++k) sweep(L, 1);
  }
};

template <typename T>
inline bool finite_val(T v) {
  if constexpr (std::is_same_v<T, float>)
    return std::isfinite(v);
  else
    return true;
}

template <typename T>
inline T convert(float v) {
  if constexpr (std::is_same_v<T, std::uint8_t>)
    return saturate_u8(v);
  else
    return v;
}

template <typename T, int c>
PoissonResult blend_any(const T* dst, std::ptrdiff_t ds, const T* src, std::ptrdiff_t ss, const float* mask,
                        std::ptrdiff_t ms, T* out, std::ptrdiff_t os, int h, int w, float tol, int max_iter) {
  PoissonResult res;
  // 1. The unknowns' bounding box (and a NaN check of the mask), per row.
  std::vector<int> first(h, w), last(h, -1);
  int bad_mask = 0;
  {
    RegionProbe probe(static_cast<std::size_t>(h) * w >= (1u << 16));
#pragma omp parallel if (probe.parallel()) reduction(| : bad_mask)
    {
#pragma omp for schedule(static) nowait
      for (int y = 0; y < h; ++y) {
        const float* mr = mask + y * ms;
        // On the bit patterns (vectorises without fast-math): a float is > 0.5
        // iff its bits, read as int32, exceed 0x3F000000 (negatives are < 0);
        // NaN / inf have an all-ones exponent.
        std::int32_t any = 0, nonfinite = 0;
        for (int x = 0; x < w; ++x) {
          std::int32_t b;
          std::memcpy(&b, mr + x, sizeof b);
          any |= b > 0x3F000000;
          nonfinite |= (b & 0x7F800000) == 0x7F800000;
        }
        if (nonfinite) bad_mask |= 1;
        const bool mx_hit = any != 0;
        if (mx_hit && y > 0 && y < h - 1) {
          int a = 1, b = w - 2;
          while (a <= b && !(mr[a] > 0.5f)) ++a;
          while (b >= a && !(mr[b] > 0.5f)) --b;
          if (a <= b) {
            first[y] = a;
            last[y] = b;
          }
        }
      }
      probe.share_done();
    }
  }
  if (bad_mask) {
    res.status = 3;
    return res;
  }
  int y0 = h, y1 = -1, x0 = w, x1 = -1;
  for (int y = 0; y < h; ++y)
    if (last[y] >= 0) {
      y0 = std::min(y0, y);
      y1 = y;
      x0 = std::min(x0, first[y]);
      x1 = std::max(x1, last[y]);
    }
  auto copy_dst = [&]() {
    if (out == dst) return;
    const std::size_t rowlen = static_cast<std::size_t>(w) * c;
    for_rows(0, h, rowlen * h / 4, [&](int y, int) {
      std::memcpy(out + y * os, dst + y * ds, rowlen * sizeof(T));
    });
  };
  if (y1 < 0) {  // nothing to solve
    copy_dst();
    return res;
  }

  const int n = y1 - y0 + 1, m = x1 - x0 + 1;
  Solver solver(n, m, c);
  Level& L = solver.fine();
  // storage cell (Y, X) <-> image pixel (y0 - 1 + Y, x0 - 1 + X), Y in 0..n+1, X in 0..m+1.
  // 2. Unknown flags and the boundary values B = (dst - src) on known cells (in bval).
  for_rows(1, n + 1, L.work(1), [&](int Y, int) {
    const float* mr = mask + (y0 - 1 + Y) * ms + (x0 - 1);
    float* wu = L.wunk + static_cast<std::size_t>(Y) * L.cols;
    for (int X = 1; X <= m; ++X) wu[X] = mr[X] > 0.5f ? 1.f : 0.f;
  });
  bool bad_in = false;
  {
    const int ny = n + 2;
    RegionProbe probe(L.work(c) >= kParWork);
#pragma omp parallel if (probe.parallel()) reduction(|| : bad_in)
    {
#pragma omp for schedule(static) nowait
      for (int Y = 0; Y < ny; ++Y) {
        const T* dr = dst + (y0 - 1 + Y) * ds + static_cast<std::ptrdiff_t>(x0 - 1) * c;
        const T* sr = src + (y0 - 1 + Y) * ss + static_cast<std::ptrdiff_t>(x0 - 1) * c;
        const float* wu = L.wunk + static_cast<std::size_t>(Y) * L.cols;
        float* b[c];
        for (int ch = 0; ch < c; ++ch) b[ch] = L.bval + ch * L.plane + static_cast<std::size_t>(Y) * L.cols;
        for (int X = 0; X <= m + 1; ++X)
          for (int ch = 0; ch < c; ++ch) {
            const float v = static_cast<float>(dr[X * c + ch]) - static_cast<float>(sr[X * c + ch]);
            b[ch][X] = wu[X] > 0.f ? 0.f : v;
          }
      }
      probe.share_done();
    }
  }
  // 3. The source term b_p on unknown cells (+ finiteness of what enters the solve).
  {
    RegionProbe probe(L.work(c) >= kParWork);
#pragma omp parallel if (probe.parallel()) reduction(|| : bad_in)
    {
#pragma omp for schedule(static) nowait
      for (int Y = 1; Y <= n; ++Y) {
        const float* wu = L.wunk + static_cast<std::size_t>(Y) * L.cols;
        const T* sr = src + (y0 - 1 + Y) * ss + static_cast<std::ptrdiff_t>(x0 - 1) * c;
        float chk = 0.f;
        for (int ch = 0; ch < c; ++ch) {
          const float* b = L.bval + ch * L.plane + static_cast<std::size_t>(Y) * L.cols;
          float* o = L.rhs + ch * L.plane + static_cast<std::size_t>(Y) * L.cols;
          for (int X = 1; X <= m; ++X) {
            const float v = boundary_source(b[X - L.cols], b[X + L.cols], b[X - 1], b[X + 1]);
            o[X] = wu[X] > 0.f ? v : 0.f;
            if constexpr (std::is_same_v<T, float>) chk += wu[X] > 0.f ? (v + sr[X * c + ch]) * 0.f : 0.f;
          }
        }
        if (chk != 0.f) bad_in = true;
      }
      probe.share_done();
    }
  }
  if (bad_in) {
    // Which input: a non-finite src at an unknown or a known neighbour, else dst.
    res.status = 1;
    for (int Y = 1; Y <= n && res.status == 1; ++Y)
      for (int X = 1; X <= m && res.status == 1; ++X) {
        if (!(L.wunk[static_cast<std::size_t>(Y) * L.cols + X] > 0.f)) continue;
        const int dy[5] = {0, -1, 1, 0, 0}, dx[5] = {0, 0, 0, -1, 1};
        for (int k = 0; k < 5; ++k)
          for (int ch = 0; ch < c; ++ch)
            if (!finite_val(src[(y0 - 1 + Y + dy[k]) * ss + static_cast<std::ptrdiff_t>(x0 - 1 + X + dx[k]) * c + ch]))
              res.status = 2;
      }
    return res;
  }
  solver.build_hierarchy();
  solver.set_boundary_values();
  const PoissonResult sr = solver.solve(tol, max_iter);
  res.iterations = sr.iterations;
  res.rel_residual = sr.rel_residual;

  // 4. Output: dst everywhere, src + c on the unknowns.
  copy_dst();
  int count = 0;
  for (int Y = 1; Y <= n; ++Y)
    for (int X = 1; X <= m; ++X) count += L.wunk[static_cast<std::size_t>(Y) * L.cols + X] > 0.f;
  res.unknowns = count;
  for_rows(1, n + 1, L.work(c), [&](int Y, int) {
    const float* wu = L.wunk + static_cast<std::size_t>(Y) * L.cols;
    const T* sr2 = src + (y0 - 1 + Y) * ss + static_cast<std::ptrdiff_t>(x0 - 1) * c;
    T* orow = out + (y0 - 1 + Y) * os + static_cast<std::ptrdiff_t>(x0 - 1) * c;
    const float* u[c];
    for (int ch = 0; ch < c; ++ch) u[ch] = L.u + ch * L.plane + static_cast<std::size_t>(Y) * L.cols;
    for (int X = 1; X <= m; ++X)
      for (int ch = 0; ch < c; ++ch) {
        const T v = convert<T>(static_cast<float>(sr2[X * c + ch]) + u[ch][X]);
        orow[X * c + ch] = wu[X] > 0.f ? v : orow[X * c + ch];
      }
  });
  return res;
}

}  // namespace

PoissonResult blend_poisson_u8(const std::uint8_t* dst, std::ptrdiff_t dst_stride, const std::uint8_t* src,
                               std::ptrdiff_t src_stride, const float* mask, std::ptrdiff_t mask_stride,
                               std::uint8_t* out, std::ptrdiff_t out_stride, int h, int w, int c, float tol,
                               int max_iter) {
  if (c == 3)
    return blend_any<std::uint8_t, 3>(dst, dst_stride, src, src_stride, mask, mask_stride, out, out_stride, h, w, tol,
                                      max_iter);
  return blend_any<std::uint8_t, 1>(dst, dst_stride, src, src_stride, mask, mask_stride, out, out_stride, h, w, tol,
                                    max_iter);
}

PoissonResult blend_poisson_f32(const float* dst, std::ptrdiff_t dst_stride, const float* src,
                                std::ptrdiff_t src_stride, const float* mask, std::ptrdiff_t mask_stride,
                                float* out, std::ptrdiff_t out_stride, int h, int w, int c, float tol,
                                int max_iter) {
  if (c == 3)
    return blend_any<float, 3>(dst, dst_stride, src, src_stride, mask, mask_stride, out, out_stride, h, w, tol,
                               max_iter);
  return blend_any<float, 1>(dst, dst_stride, src, src_stride, mask, mask_stride, out, out_stride, h, w, tol,
                             max_iter);
}

}  // namespace facefuse
