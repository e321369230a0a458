#include "kiln/matmul.hpp"

#include "check.hpp"
#include "gemm.hpp"
#include "matmul_check.hpp"
#include "parallel.hpp"

namespace kiln {

MatmulParams matmul_params(index_t m, index_t n, index_t k, bool transpose_a, bool transpose_b,
                           index_t batch) {
  MatmulParams p;
  p.batch = batch;
  p.m = m;
  p.n = n;
  p.k = k;
  p.transpose_a = transpose_a;
  p.transpose_b = transpose_b;
  p.lda = transpose_a ? m : k;
  p.ldb = transpose_b ? k : n;
  p.ldc = n;
  p.batch_stride_a = m * k;
  p.batch_stride_b = k * n;
  p.batch_stride_c = m * n;
  return p;
}

namespace {

// Elements spanned by one stored matrix of `rows` x `cols` with leading dimension ld.
index_t span(index_t rows, index_t cols, index_t ld) {
  return rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols;
}

void check_operand(const char* name, index_t rows, index_t cols, index_t ld, index_t batch,
                   index_t batch_stride, bool broadcast_ok) {
  KILN_CHECK(ld >= (cols > 0 ? cols : 1), "matmul: leading dimension of " << name << " is " << ld
                                              << ", less than its row length " << cols);
  KILN_CHECK(batch_stride >= 0, "matmul: batch stride of " << name << " is negative ("
                                                           << batch_stride << ")");
  KILN_CHECK(broadcast_ok || batch <= 1 || batch_stride >= span(rows, cols, ld),
             "matmul: batch stride of " << name << " (" << batch_stride
                                        << ") makes its matrices overlap");
  detail::checked_size("matmul", name, rows, ld);
  const index_t last = batch > 0 ? detail::checked_mul(batch - 1, batch_stride, "matmul", name) : 0;
  detail::checked_size("matmul", name, last + span(rows, cols, ld));
}

}  // namespace

namespace detail {

bool matmul_check(const MatmulParams& p, const float* a, const float* b, const float* c) {
  KILN_CHECK(p.batch >= 0 && p.m >= 0 && p.n >= 0 && p.k >= 0,
             "matmul: sizes must be >= 0, got batch=" << p.batch << " m=" << p.m << " n=" << p.n
                                                      << " k=" << p.k);
  detail::check_activation(p.activation, "matmul");
  const index_t a_rows = p.transpose_a ? p.k : p.m, a_cols = p.transpose_a ? p.m : p.k;
  const index_t b_rows = p.transpose_b ? p.n : p.k, b_cols = p.transpose_b ? p.k : p.n;
  check_operand("A", a_rows, a_cols, p.lda, p.batch, p.batch_stride_a, true);
  check_operand("B", b_rows, b_cols, p.ldb, p.batch, p.batch_stride_b, true);
  check_operand("C", p.m, p.n, p.ldc, p.batch, p.batch_stride_c, false);
  if (p.batch == 0 || p.m == 0 || p.n == 0) return false;
  KILN_CHECK(c != nullptr, "matmul: C is null");
  KILN_CHECK(p.k == 0 || (a != nullptr && b != nullptr), "matmul: A or B is null");
  return true;
}

}  // namespace detail

void matmul(const MatmulParams& p, const float* a, const float* b, const float* bias, float* c) {
  if (!detail::matmul_check(p, a, b, c)) return;

  const detail::StridedMatrix a_view{a, p.transpose_a ? 1 : p.lda, p.transpose_a ? p.lda : 1};
  const detail::StridedMatrix b_view{b, p.transpose_b ? 1 : p.ldb, p.transpose_b ? p.ldb : 1};
  const detail::GemmEpilogue ep{bias, bias ? detail::BiasAxis::per_column : detail::BiasAxis::none,
                                p.activation};
  auto one = [&](index_t i, int nthreads) {
    detail::StridedMatrix ai = a_view, bi = b_view;
    ai.data = a ? a + i * p.batch_stride_a : nullptr;
    bi.data = b ? b + i * p.batch_stride_b : nullptr;
    detail::gemm(p.m, p.n, p.k, p.alpha, ai, bi, p.beta, c + i * p.batch_stride_c, p.ldc, ep,
                 nthreads);
  };

  const int nthreads = detail::threads_for(2.0 * p.batch * p.m * p.n * p.k);
  if (p.batch >= nthreads && nthreads > 1) {
    // Many small products: one per thread beats splitting each one.
    detail::parallel_for(p.batch, nthreads, [&](index_t i) { one(i, 1); });
  } else {
    for (index_t i = 0; i < p.batch; ++i) one(i, nthreads);
  }
}

}  // namespace kiln
