#include "kiln/sparse_matmul.hpp"

#include <algorithm>

#include "check.hpp"
#include "dispatch.hpp"
#include "parallel.hpp"

namespace kiln {
namespace {

void check_csr(const char* fn, const CsrMatrix& x) {
  KILN_CHECK(x.rows >= 0 && x.cols >= 0 && x.nnz >= 0,
             fn << ": sizes must be >= 0, got m=" << x.rows << " k=" << x.cols
                << " nnz=" << x.nnz);
  detail::checked_size(fn, "X's entries", x.nnz);
  KILN_CHECK(x.cols <= kMaxElements,
             fn << ": X has " << x.cols << " columns, more than the int32 indices can address");
  KILN_CHECK(x.indptr != nullptr, fn << ": indptr is null");
  KILN_CHECK(x.nnz == 0 || (x.indices != nullptr && x.data != nullptr),
             fn << ": indices and data must not be null");
  KILN_CHECK(x.indptr[0] == 0, fn << ": indptr[0] must be 0, got " << x.indptr[0]);
  for (index_t i = 0; i < x.rows; ++i) {
    KILN_CHECK(x.indptr[i + 1] >= x.indptr[i],
               fn << ": indptr must not decrease, but indptr[" << i << "] = " << x.indptr[i]
                  << " > indptr[" << i + 1 << "] = " << x.indptr[i + 1]);
  }
  KILN_CHECK(x.indptr[x.rows] == x.nnz, fn << ": indptr[m] = " << x.indptr[x.rows]
                                           << " must equal the number of entries, " << x.nnz);
  for (index_t p = 0; p < x.nnz; ++p) {
    KILN_CHECK(x.indices[p] >= 0 && x.indices[p] < x.cols,
               fn << ": indices[" << p << "] = " << x.indices[p] << " is out of range [0, "
                  << x.cols << ")");
  }
}

void check_dense(const char* fn, const CsrMatrix& x, index_t n) {
  KILN_CHECK(n >= 0, fn << ": n must be >= 0, got " << n);
  detail::checked_size(fn, "W", x.cols, n);
  detail::checked_size(fn, "Y", x.rows, n);
}

// out[0:n] = beta * out (beta == 0: out is not read).
void scale(float* out, index_t n, float beta) {
  if (beta == 0.0f) {
    std::fill_n(out, n, 0.0f);
  } else if (beta != 1.0f) {
    for (index_t j = 0; j < n; ++j) out[j] *= beta;
  }
}

// The first row of thread t's share when `nthreads` split the rows so that each gets about
// the same number of entries plus rows: cost(i) = indptr[i] + i grows strictly with i.
index_t row_split(const CsrMatrix& x, int t, int nthreads) {
  const index_t total = x.nnz + x.rows;
  const index_t target = total / nthreads * t + total % nthreads * t / nthreads;
  index_t lo = 0, hi = x.rows;
  while (lo < hi) {
    const index_t mid = lo + (hi - lo) / 2;
    if (x.indptr[mid] + mid < target) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// Rows [begin, end) of Y = X @ W (W (k, n)) + bias + beta * Y.
void forward_rows(const CsrMatrix& x, index_t n, const float* w, const float* bias, float beta,
                  float* y, index_t begin, index_t end) {
  const detail::SparseRowKernel row = detail::cpu_kernels().sparse.row;
  for (index_t i = begin; i < end; ++i) {
    float* yi = y + i * n;
    scale(yi, n, beta);
    if (bias != nullptr)
      for (index_t j = 0; j < n; ++j) yi[j] += bias[j];
    const index_t p = x.indptr[i];
    row(x.indptr[i + 1] - p, x.indices + p, x.data + p, w, n, n, yi);
  }
}

// The same with W stored (n, k): each output gathers its terms from one row of W. Scalar,
// for nn.Linear's layout; Keras's (k, n) kernel takes the vector path above.
void forward_rows_transposed(const CsrMatrix& x, index_t n, const float* w, const float* bias,
                             float beta, float* y, index_t begin, index_t end) {
  for (index_t i = begin; i < end; ++i) {
    float* yi = y + i * n;
    scale(yi, n, beta);
    const index_t p0 = x.indptr[i], p1 = x.indptr[i + 1];
    for (index_t j = 0; j < n; ++j) {
      const float* wj = w + j * x.cols;
      float acc = yi[j] + (bias != nullptr ? bias[j] : 0.0f);
      for (index_t p = p0; p < p1; ++p) acc += x.data[p] * wj[x.indices[p]];
      yi[j] = acc;
    }
  }
}

// Rows of dW per share of the weight gradient.
constexpr index_t kRowGrain = 16;

// Rows [r0, r1) of dW (k, n) = X^T @ dY + beta * dW: the entries whose column falls in the
// band. Every thread scans all entries (a few thousand per batch) but writes only its rows,
// which it first clears in one contiguous pass: clearing k x n is most of the work.
void backward_rows(const CsrMatrix& x, index_t n, const float* grad_y, float beta, float* grad_w,
                   index_t r0, index_t r1) {
  const detail::AxpyKernel axpy = detail::cpu_kernels().sparse.axpy;
  scale(grad_w + r0 * n, (r1 - r0) * n, beta);
  for (index_t i = 0; i < x.rows; ++i) {
    const float* gy = grad_y + i * n;
    for (index_t p = x.indptr[i]; p < x.indptr[i + 1]; ++p) {
      const index_t c = x.indices[p];
      if (c >= r0 && c < r1) axpy(n, x.data[p], gy, grad_w + c * n);
    }
  }
}

// Rows [r0, r1) of dW (n, k) = dY^T @ X + beta * dW.
void backward_rows_transposed(const CsrMatrix& x, index_t n, const float* grad_y, float beta,
                              float* grad_w, index_t r0, index_t r1) {
  for (index_t j = r0; j < r1; ++j) {
    float* gw = grad_w + j * x.cols;
    scale(gw, x.cols, beta);
    for (index_t i = 0; i < x.rows; ++i) {
      const float g = grad_y[i * n + j];
      for (index_t p = x.indptr[i]; p < x.indptr[i + 1]; ++p) gw[x.indices[p]] += x.data[p] * g;
    }
  }
}

}  // namespace

void sparse_matmul(const CsrMatrix& x, index_t n, const float* w, bool transpose_w,
                   const float* bias, float beta, float* y) {
  constexpr const char* kFn = "sparse_matmul";
  check_csr(kFn, x);
  check_dense(kFn, x, n);
  if (x.rows == 0 || n == 0) return;
  KILN_CHECK(y != nullptr, kFn << ": y is null");
  KILN_CHECK(x.nnz == 0 || w != nullptr, kFn << ": w is null");

  // Rows are independent: threads take contiguous row ranges of about equal work.
  const int nthreads = detail::threads_for(2.0 * static_cast<double>(x.nnz) * n +
                                           static_cast<double>(x.rows) * n);
  auto rows = [&](index_t begin, index_t end) {
    if (transpose_w) {
      forward_rows_transposed(x, n, w, bias, beta, y, begin, end);
    } else {
      forward_rows(x, n, w, bias, beta, y, begin, end);
    }
  };
  if (nthreads <= 1 || x.rows == 1) {
    rows(0, x.rows);
    return;
  }
  detail::parallel(nthreads, [&](int t, int nt) {
    const index_t begin = row_split(x, t, nt), end = row_split(x, t + 1, nt);
    if (begin < end) rows(begin, end);
  });
}

void sparse_matmul_backward_weight(const CsrMatrix& x, index_t n, const float* grad_y,
                                   bool transpose_w, float beta, float* grad_w) {
  constexpr const char* kFn = "sparse_matmul_backward_weight";
  check_csr(kFn, x);
  check_dense(kFn, x, n);
  if (x.cols == 0 || n == 0) return;
  KILN_CHECK(grad_w != nullptr, kFn << ": grad_w is null");
  KILN_CHECK(x.nnz == 0 || grad_y != nullptr, kFn << ": grad_y is null");

  // Each thread owns a band of dW's rows (of k, or of n when transposed) and adds every
  // entry's contribution in storage order: no two threads write one element, and each
  // element's sum runs in the same order for any thread count.
  const int nthreads = detail::threads_for(2.0 * static_cast<double>(x.nnz) * n +
                                           static_cast<double>(x.cols) * n);
  const index_t rows = transpose_w ? n : x.cols;
  auto band = [&](index_t begin, index_t end) {
    if (transpose_w) {
      backward_rows_transposed(x, n, grad_y, beta, grad_w, begin, end);
    } else {
      backward_rows(x, n, grad_y, beta, grad_w, begin, end);
    }
  };
  if (nthreads <= 1 || rows <= kRowGrain) {
    band(0, rows);
    return;
  }
  detail::parallel(nthreads, [&](int t, int nt) {
    index_t begin = 0, end = 0;
    detail::split_range(rows, t, nt, kRowGrain, begin, end);
    if (begin < end) band(begin, end);
  });
}

}  // namespace kiln
