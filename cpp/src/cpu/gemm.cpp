// The BLIS loop nest around a register-blocked micro-kernel:
//
//   for jc in N step NC:             B block  (kc x nc)  -> packed in NR-wide panels
//     for pc in K step KC:
//       for ic in M step MC:         A block  (mc x kc)  -> packed in MR-tall panels
//         for jr in nc step NR:
//           for ir in mc step MR:    micro-kernel: MR x NR tile of C in registers
//
// Threads split C into rectangles, one share per thread (parallel.hpp), each run through
// this nest on its own packing buffers: no barriers, and the result does not depend on the
// number of threads (each element of C sums over k in the same order).
//
// Small products (m * n * k <= kDirectMaxVolume) skip all of this: one thread, no
// packing, the ISA's direct kernel reads A and B in place. Which path runs depends on
// the shape only, never on the thread count, so results stay bit-identical for any.
#include "gemm.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

#include "dispatch.hpp"
#include "gemm_ukr.hpp"
#include "parallel.hpp"
#include "workspace.hpp"

namespace kiln::detail {
namespace {

// 64^3 multiply-adds (0.5 Mflop): a few microseconds of arithmetic, where packing both
// operands and tiling the edges through a buffer would cost as much again.
constexpr double kDirectMaxVolume = 64.0 * 64.0 * 64.0;

// Per-thread packing buffers (slot 0: B's panels or a transposed B, slot 1: A's panels).
struct GemmPacking;
float* packing_buffer(int slot, index_t floats) { return thread_workspace<GemmPacking, 2>(slot, floats); }

// The packing routines and the loop nest are templates on the register tile, so that
// the short loops over one tile's rows or columns unroll (they dominate packing otherwise).

// A block (mc x kc) starting at a -> panels of mr rows: panel[p * mr + i], zero padded.
// Whole panels of a row-major A go to the ISA's `panel` routine when it has one.
template <int mr>
void pack_a(index_t mc, index_t kc, const float* a, index_t rs, index_t cs, float* out,
            GemmPackAPanel panel) {
  for (index_t ir = 0; ir < mc; ir += mr) {
    const index_t rows = std::min<index_t>(mr, mc - ir);
    if (rows == mr && cs == 1 && panel != nullptr) {
      panel(kc, a + ir * rs, rs, out);
      out += kc * mr;
      continue;
    }
    if (rows == mr) {
      for (index_t p = 0; p < kc; ++p, out += mr) {
        const float* src = a + ir * rs + p * cs;
        for (int i = 0; i < mr; ++i) out[i] = src[i * rs];
      }
      continue;
    }
    for (index_t p = 0; p < kc; ++p) {
      const float* src = a + ir * rs + p * cs;
      for (index_t i = 0; i < rows; ++i) out[i] = src[i * rs];
      for (index_t i = rows; i < mr; ++i) out[i] = 0.0f;
      out += mr;
    }
  }
}

// B block (kc x nc) starting at b -> panels of nr columns: panel[p * nr + j], zero padded.
// Whole panels of a B whose columns are contiguous (rs == 1) go to the ISA's `columns` routine.
template <int nr>
void pack_b(index_t kc, index_t nc, const float* b, index_t rs, index_t cs, float* out,
            GemmPackBColumns columns) {
  const index_t full = nc / nr * nr, panel = kc * nr;
  if (cs == 1) {
    // Row-major B: read each row once, front to back, and deal its nr-wide pieces out to
    // the panels. Panel by panel would jump to the next row (often the next page, out of
    // the prefetchers' reach) every nr floats.
    for (index_t p = 0; p < kc; ++p) {
      const float* src = b + p * rs;
      float* dst = out + p * nr;
      for (index_t jr = 0; jr < full; jr += nr, dst += panel)
        std::memcpy(dst, src + jr, nr * sizeof(float));  // a fixed-size copy: vector moves
      if (full < nc) {
        for (index_t j = 0; j < nc - full; ++j) dst[j] = src[full + j];
        for (index_t j = nc - full; j < nr; ++j) dst[j] = 0.0f;
      }
    }
    return;
  }
  for (index_t jr = 0; jr < nc; jr += nr) {
    const index_t cols = std::min<index_t>(nr, nc - jr);
    if (rs == 1 && cols == nr && columns != nullptr) {
      const float* starts[nr];
      for (index_t j = 0; j < nr; ++j) starts[j] = b + (jr + j) * cs;
      columns(kc, starts, out);
      out += kc * nr;
      continue;
    }
    for (index_t p = 0; p < kc; ++p) {
      const float* src = b + p * rs + jr * cs;
      for (index_t j = 0; j < cols; ++j) out[j] = src[j * cs];
      for (index_t j = cols; j < nr; ++j) out[j] = 0.0f;
      out += nr;
    }
  }
}

// The templates above for a tile known only at run time (the PackedB path): the tiles
// of the micro-kernels in dispatch.cpp.
void pack_a(int mr, index_t mc, index_t kc, const float* a, index_t rs, index_t cs, float* out,
            GemmPackAPanel panel) {
  switch (mr) {
    case 4: return pack_a<4>(mc, kc, a, rs, cs, out, panel);
    case 6: return pack_a<6>(mc, kc, a, rs, cs, out, panel);
    case 14: return pack_a<14>(mc, kc, a, rs, cs, out, panel);
  }
  throw std::logic_error("gemm: no packing for " + std::to_string(mr) + "-row panels");
}

void pack_b(int nr, index_t kc, index_t nc, const float* b, index_t rs, index_t cs, float* out,
            GemmPackBColumns columns) {
  switch (nr) {
    case 16: return pack_b<16>(kc, nc, b, rs, cs, out, columns);
    case 32: return pack_b<32>(kc, nc, b, rs, cs, out, columns);
  }
  throw std::logic_error("gemm: no packing for " + std::to_string(nr) + "-column panels");
}

void apply_epilogue(float* c, index_t ldc, index_t rows, index_t cols, index_t row0, index_t col0,
                    const GemmEpilogue& ep) {
  if (ep.bias_axis == BiasAxis::none && ep.activation == Activation::none) return;
  for (index_t i = 0; i < rows; ++i) {
    float* ci = c + i * ldc;
    const float row_bias = ep.bias_axis == BiasAxis::per_row ? ep.bias[row0 + i] : 0.0f;
    if (ep.bias_axis == BiasAxis::per_column) {
      const float* bias = ep.bias + col0;
      for (index_t j = 0; j < cols; ++j) ci[j] += bias[j];
    } else if (ep.bias_axis == BiasAxis::per_row) {
      for (index_t j = 0; j < cols; ++j) ci[j] += row_bias;
    }
    // The pointwise kernel itself, so that matmul(..., activation) equals
    // activation(matmul(...)) bit for bit.
    if (ep.activation != Activation::none)
      cpu_kernels().pointwise.activation_forward(ep.activation, cols, ci, ci);
  }
}

// C block (m x n, origin row0/col0 of the whole C, for the bias) through the loop nest.
// One MR x NR tile of C from packed panels: straight into C when whole; at C's edges
// into the scratch tile `edge` (nr floats per row), then merged with beta.
// A short last row tile goes to the smallest edge kernel that covers it.
inline void run_tile(const GemmKernel& kern, int mr, int nr, index_t kc, const float* ap,
                     const float* bp, float* ctile, index_t ldc, index_t rows, index_t cols,
                     float alpha, float beta, float* edge) {
  GemmMicroKernel kernel = kern.micro_kernel;
  index_t kernel_rows = mr;
  if (rows < mr) {
    for (const GemmEdgeKernel& e : kern.edges) {
      if (e.kernel != nullptr && rows <= e.rows) {
        kernel = e.kernel;
        kernel_rows = e.rows;
        break;
      }
    }
  }
  if (rows == kernel_rows && cols == nr) {
    kernel(kc, ap, bp, ctile, ldc, alpha, beta);
    return;
  }
  kernel(kc, ap, bp, edge, nr, alpha, 0.0f);
  for (index_t i = 0; i < rows; ++i)
    for (index_t j = 0; j < cols; ++j) {
      float& dst = ctile[i * ldc + j];
      dst = beta == 0.0f ? edge[i * nr + j] : edge[i * nr + j] + beta * dst;
    }
}

template <int mr, int nr>
void gemm_serial(const GemmKernel& kern, index_t m, index_t n, index_t k, float alpha,
                 StridedMatrix a, StridedMatrix b, float beta, float* c, index_t ldc,
                 index_t row0, index_t col0, const GemmEpilogue& ep) {
  if (k == 0) {
    for (index_t i = 0; i < m; ++i)
      for (index_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    apply_epilogue(c, ldc, m, n, row0, col0, ep);
    return;
  }
  const index_t kc_max = std::min(kern.kc, k);
  const index_t nc_max = std::min(kern.nc, ((n + nr - 1) / nr) * nr);
  const index_t mc_max = std::min(kern.mc, ((m + mr - 1) / mr) * mr);
  float* packed_b = packing_buffer(0, kc_max * nc_max);
  float* packed_a = packing_buffer(1, kc_max * mc_max);
  alignas(64) float edge[mr * nr];  // a tile at the edges of C

  for (index_t jc = 0; jc < n; jc += kern.nc) {
    const index_t nc = std::min(kern.nc, n - jc);
    for (index_t pc = 0; pc < k; pc += kern.kc) {
      const index_t kc = std::min(kern.kc, k - pc);
      const float beta_block = pc == 0 ? beta : 1.0f;
      const bool last_k = pc + kc == k;
      pack_b<nr>(kc, nc, b.data + pc * b.row_stride + jc * b.col_stride, b.row_stride, b.col_stride,
                 packed_b, kern.pack_b_columns);
      for (index_t ic = 0; ic < m; ic += kern.mc) {
        const index_t mc = std::min(kern.mc, m - ic);
        pack_a<mr>(mc, kc, a.data + ic * a.row_stride + pc * a.col_stride, a.row_stride,
                   a.col_stride, packed_a, kern.pack_a_panel);
        for (index_t jr = 0; jr < nc; jr += nr) {
          const index_t cols = std::min<index_t>(nr, nc - jr);
          for (index_t ir = 0; ir < mc; ir += mr) {
            const index_t rows = std::min<index_t>(mr, mc - ir);
            float* ctile = c + (ic + ir) * ldc + jc + jr;
            const float* ap = packed_a + ir * kc;
            const float* bp = packed_b + jr * kc;
            run_tile(kern, mr, nr, kc, ap, bp, ctile, ldc, rows, cols, alpha, beta_block, edge);
            if (last_k) apply_epilogue(ctile, ldc, rows, cols, row0 + ic + ir, col0 + jc + jr, ep);
          }
        }
      }
    }
  }
}

// The small-product path: the direct kernel, then any activation it does not fuse.
void gemm_direct(GemmDirectKernel direct, index_t m, index_t n, index_t k, float alpha,
                 StridedMatrix a, StridedMatrix b, float beta, float* c, index_t ldc,
                 const GemmEpilogue& ep) {
  GemmDirectArgs args{m, n, k, a.data, a.row_stride, a.col_stride, b.data, b.row_stride,
                      b.col_stride, c, ldc, alpha, beta,
                      ep.bias_axis == BiasAxis::per_column ? ep.bias : nullptr,
                      ep.bias_axis == BiasAxis::per_row ? ep.bias : nullptr,
                      ep.activation == Activation::relu, nullptr};
  if (b.col_stride != 1 && n > 1) args.scratch = packing_buffer(0, k * n);
  direct(args);
  if (ep.activation == Activation::none || ep.activation == Activation::relu) return;
  const GemmEpilogue activation_only{nullptr, BiasAxis::none, ep.activation};
  apply_epilogue(c, ldc, m, n, 0, 0, activation_only);
}

// Split C into tm x tn rectangles (tm * tn = nthreads) as square as the tiles allow.
void thread_grid(index_t m, index_t n, int mr, int nr, int nthreads, int& tm, int& tn) {
  tm = 1;
  tn = nthreads;
  double best = -1.0;
  for (int t = 1; t <= nthreads; ++t) {
    if (nthreads % t) continue;
    const int u = nthreads / t;
    const index_t row_tiles = (m + mr - 1) / mr, col_tiles = (n + nr - 1) / nr;
    if (row_tiles < t || col_tiles < u) continue;
    const double h = static_cast<double>(m) / t, w = static_cast<double>(n) / u;
    const double squareness = std::min(h, w) / std::max(h, w);
    if (squareness > best) {
      best = squareness;
      tm = t;
      tn = u;
    }
  }
  if (best < 0.0) {  // too few tiles for every thread: split the longer side only
    const index_t row_tiles = (m + mr - 1) / mr, col_tiles = (n + nr - 1) / nr;
    if (row_tiles >= col_tiles) {
      tm = static_cast<int>(std::min<index_t>(nthreads, row_tiles));
      tn = 1;
    } else {
      tm = 1;
      tn = static_cast<int>(std::min<index_t>(nthreads, col_tiles));
    }
  }
}

using SerialGemm = void (*)(const GemmKernel&, index_t, index_t, index_t, float, StridedMatrix,
                           StridedMatrix, float, float*, index_t, index_t, index_t,
                           const GemmEpilogue&);

// The loop nest compiled for the tile of each micro-kernel in dispatch.cpp.
SerialGemm serial_gemm_for(const GemmKernel& kern) {
  if (kern.mr == 4 && kern.nr == 16) return &gemm_serial<4, 16>;
  if (kern.mr == 6 && kern.nr == 16) return &gemm_serial<6, 16>;
  if (kern.mr == 14 && kern.nr == 32) return &gemm_serial<14, 32>;
  throw std::logic_error("gemm: no loop nest for a " + std::to_string(kern.mr) + "x" +
                         std::to_string(kern.nr) + " micro-kernel");
}

}  // namespace

void gemm(index_t m, index_t n, index_t k, float alpha, StridedMatrix a, StridedMatrix b,
          float beta, float* c, index_t ldc, const GemmEpilogue& epilogue, int nthreads) {
  if (m <= 0 || n <= 0) return;
  const GemmKernel& kern = cpu_kernels().gemm;
  const bool b_unit_stride = b.col_stride == 1 || b.row_stride == 1 || n == 1;
  if (kern.direct != nullptr && k > 0 && b_unit_stride &&
      static_cast<double>(m) * n * k <= kDirectMaxVolume) {
    gemm_direct(kern.direct, m, n, k, alpha, a, b, beta, c, ldc, epilogue);
    return;
  }
  static const SerialGemm serial = serial_gemm_for(kern);
  if (nthreads <= 0) nthreads = threads_for(2.0 * m * n * k);
  int tm = 1, tn = 1;
  if (nthreads > 1) thread_grid(m, n, kern.mr, kern.nr, nthreads, tm, tn);
  if (tm * tn <= 1) {
    serial(kern, m, n, k, alpha, a, b, beta, c, ldc, 0, 0, epilogue);
    return;
  }
  parallel(tm * tn, [&](int t, int) {
    index_t i0, i1, j0, j1;
    split_range(m, t / tn, tm, kern.mr, i0, i1);
    split_range(n, t % tn, tn, kern.nr, j0, j1);
    if (i1 > i0 && j1 > j0) {
      const StridedMatrix a_part{a.data + i0 * a.row_stride, a.row_stride, a.col_stride};
      const StridedMatrix b_part{b.data + j0 * b.col_stride, b.row_stride, b.col_stride};
      serial(kern, i1 - i0, j1 - j0, k, alpha, a_part, b_part, beta, c + i0 * ldc + j0, ldc,
                  i0, j0, epilogue);
    }
  });
}

// ---- B packed once, many products (PackedB) --------------------------------------

namespace {

// 64-byte aligned storage for the panels of n columns, k deep: the caller's, or new.
float* allocate_panels(index_t k, index_t n, float* panels, std::unique_ptr<float[]>& storage) {
  if (panels != nullptr) {
    if (reinterpret_cast<std::uintptr_t>(panels) % 64 != 0)
      throw std::logic_error("PackedB: the panels' buffer must be 64-byte aligned");
    return panels;
  }
  storage.reset(new float[static_cast<std::size_t>(PackedB::panel_floats(k, n) + 16)]);
  const auto address = reinterpret_cast<std::uintptr_t>(storage.get());
  return storage.get() + ((64 - address % 64) % 64) / sizeof(float);
}

// A part's rows of the panel whose first column is j0, by the ISA's columns routine, when the
// part's columns are contiguous (the weights' rows, W^T) and every one is B's, not padding.
bool pack_columns_whole(const GemmKernel& kern, const DepthPart& part,
                        const std::vector<index_t>& columns, index_t j0, float* out) {
  constexpr index_t kMaxNr = 32;
  const index_t nr = kern.nr, n = static_cast<index_t>(columns.size());
  if (kern.pack_b_columns == nullptr || part.b.row_stride != 1 || nr > kMaxNr || j0 + nr > n)
    return false;
  const float* starts[kMaxNr];
  for (index_t j = 0; j < nr; ++j) {
    if (columns[j0 + j] < 0) return false;
    starts[j] = part.b.data + columns[j0 + j] * part.b.col_stride;
  }
  kern.pack_b_columns(part.k, starts, out);
  return true;
}

}  // namespace

index_t PackedB::panel_floats(index_t k, index_t n) {
  const index_t nr = cpu_kernels().gemm.nr;
  return (n + nr - 1) / nr * nr * k;
}

PackedB::PackedB(index_t k, index_t n, StridedMatrix b, float* panels) : k_(k), n_(n) {
  data_ = allocate_panels(k, n, panels, storage_);
  const GemmKernel& kern = cpu_kernels().gemm;
  const index_t nr = kern.nr;
  const int nthreads = threads_for(static_cast<double>(k) * n);
  parallel_for((n + nr - 1) / nr, nthreads, [&](index_t q) {
    const index_t j = q * nr;
    pack_b(static_cast<int>(nr), k, std::min(nr, n - j), b.data + j * b.col_stride, b.row_stride,
           b.col_stride, data_ + j * k, kern.pack_b_columns);
  });
}

PackedB::PackedB(index_t n, const std::vector<DepthPart>& parts, const std::vector<index_t>& columns,
                 float* panels)
    : k_(0), n_(n) {
  if (static_cast<index_t>(columns.size()) != n)
    throw std::logic_error("PackedB: the column map must have one entry per column");
  for (const DepthPart& part : parts) k_ += part.k;
  data_ = allocate_panels(k_, n, panels, storage_);
  const GemmKernel& kern = cpu_kernels().gemm;
  const index_t nr = kern.nr;
  const int nthreads = threads_for(static_cast<double>(k_) * n);
  parallel_for((n + nr - 1) / nr, nthreads, [&](index_t q) {
    float* panel = data_ + q * nr * k_;
    index_t k0 = 0;  // the part's first row in B
    for (const DepthPart& part : parts) {
      if (pack_columns_whole(kern, part, columns, q * nr, panel + k0 * nr)) {
        k0 += part.k;
        continue;
      }
      // 16 rows of the panel at a time, column by column: each column's 16 floats are one
      // cache line of a weight row (W^T's column), and the 16 x nr floats written stay in L1.
      for (index_t p0 = 0; p0 < part.k; p0 += 16) {
        const index_t rows = std::min<index_t>(16, part.k - p0);
        float* out = panel + (k0 + p0) * nr;
        for (index_t jj = 0; jj < nr; ++jj) {
          const index_t j = q * nr + jj, column = j < n ? columns[j] : -1;
          const float* src = part.b.data + (column < 0 ? 0 : column) * part.b.col_stride +
                             p0 * part.b.row_stride;
          for (index_t p = 0; p < rows; ++p)
            out[p * nr + jj] = column < 0 ? 0.0f : src[p * part.b.row_stride];
        }
      }
      k0 += part.k;
    }
  });
}

namespace {

// C block (m x n, starting at column col0 of the packed B) through gemm_serial's loop
// nest, reading B's panels in place.
// row0: the block's first row in the whole C, for the epilogue.
void gemm_packed_b_serial(const GemmKernel& kern, index_t m, index_t n, float alpha,
                          StridedMatrix a, const PackedB& b, index_t row0, index_t col0,
                          float beta, float* c, index_t ldc, const BlockEpilogue* ep) {
  const int mr = kern.mr, nr = kern.nr;
  const index_t k = b.k();
  if (k == 0) {
    for (index_t i = 0; i < m; ++i)
      for (index_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    if (ep) ep->run(row0, m, col0, n);
    return;
  }
  const index_t kc_max = std::min(kern.kc, k);
  const index_t mc_max = std::min(kern.mc, ((m + mr - 1) / mr) * mr);
  float* packed_a = packing_buffer(1, kc_max * mc_max);
  alignas(64) float edge[64 * 64];  // an MR x NR tile at the edges of C

  for (index_t jc = 0; jc < n; jc += kern.nc) {
    const index_t nc = std::min(kern.nc, n - jc);
    for (index_t pc = 0; pc < k; pc += kern.kc) {
      const index_t kc = std::min(kern.kc, k - pc);
      const float beta_block = pc == 0 ? beta : 1.0f;
      const bool last_k = pc + kc == k;
      for (index_t ic = 0; ic < m; ic += kern.mc) {
        const index_t mc = std::min(kern.mc, m - ic);
        pack_a(mr, mc, kc, a.data + ic * a.row_stride + pc * a.col_stride, a.row_stride,
               a.col_stride, packed_a, kern.pack_a_panel);
        for (index_t jr = 0; jr < nc; jr += nr) {
          const index_t cols = std::min<index_t>(nr, nc - jr);
          const float* bp = b.panel(col0 + jc + jr) + pc * nr;
          for (index_t ir = 0; ir < mc; ir += mr) {
            const index_t rows = std::min<index_t>(mr, mc - ir);
            float* ctile = c + (ic + ir) * ldc + jc + jr;
            const float* ap = packed_a + ir * kc;
            run_tile(kern, mr, nr, kc, ap, bp, ctile, ldc, rows, cols, alpha, beta_block, edge);
          }
          // A group of columns is final for these rows: hand it on while it is in L1.
          const index_t done = jr + cols;
          if (ep && last_k && (done % ep->group == 0 || done == nc)) {
            const index_t start = (done - 1) / ep->group * ep->group;
            ep->run(row0 + ic, mc, col0 + jc + start, done - start);
          }
        }
      }
    }
  }
}

}  // namespace

void gemm_packed_b(index_t m, float alpha, StridedMatrix a, const PackedB& b, float beta,
                   float* c, index_t ldc, int nthreads, const BlockEpilogue* epilogue) {
  const index_t n = b.n(), k = b.k();
  if (m <= 0 || n <= 0) return;
  const GemmKernel& kern = cpu_kernels().gemm;
  if (epilogue && (epilogue->group % kern.nr != 0 || kern.nc % epilogue->group != 0))
    throw std::logic_error("gemm_packed_b: an epilogue group must be a multiple of NR dividing NC");
  if (kern.direct != nullptr && k > 0 && static_cast<double>(m) * n * k <= kDirectMaxVolume) {
    // gemm's small-product path, panel by panel (each is k x nr, row-major): the same
    // tiles and arithmetic, so the two stay bit-identical.
    for (index_t j = 0; j < n; j += kern.nr) {
      const GemmDirectArgs args{m, std::min<index_t>(kern.nr, n - j), k, a.data, a.row_stride,
                                a.col_stride, b.panel(j), kern.nr, 1, c + j, ldc, alpha, beta,
                                nullptr, nullptr, false, nullptr};
      kern.direct(args);
    }
    if (epilogue) epilogue->run(0, m, 0, n);
    return;
  }
  if (nthreads <= 0) nthreads = threads_for(2.0 * m * n * k);
  const index_t col_align = epilogue ? epilogue->group : kern.nr;
  int tm = 1, tn = 1;
  if (nthreads > 1) thread_grid(m, n, kern.mr, static_cast<int>(col_align), nthreads, tm, tn);
  if (tm * tn <= 1) {
    gemm_packed_b_serial(kern, m, n, alpha, a, b, 0, 0, beta, c, ldc, epilogue);
    return;
  }
  parallel(tm * tn, [&](int t, int) {
    index_t i0, i1, j0, j1;
    split_range(m, t / tn, tm, kern.mr, i0, i1);
    split_range(n, t % tn, tn, col_align, j0, j1);  // j0: a multiple of NR, a panel's start
    if (i1 > i0 && j1 > j0) {
      const StridedMatrix a_part{a.data + i0 * a.row_stride, a.row_stride, a.col_stride};
      gemm_packed_b_serial(kern, i1 - i0, j1 - j0, alpha, a_part, b, i0, j0, beta,
                           c + i0 * ldc + j0, ldc, epilogue);
    }
  });
}

}  // namespace kiln::detail
