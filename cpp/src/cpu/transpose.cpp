#include "kiln/transpose.hpp"

#include <algorithm>

#include "check.hpp"
#include "parallel.hpp"

namespace kiln {

void transpose_copy(index_t rows, index_t cols, const float* src, index_t ld_src, float* dst) {
  KILN_CHECK(rows >= 0 && cols >= 0, "transpose_copy: negative size " << rows << "x" << cols);
  KILN_CHECK(ld_src >= std::max<index_t>(rows, 1), "transpose_copy: ld_src " << ld_src << " < rows " << rows);
  if (rows == 0 || cols == 0) return;
  KILN_CHECK(src != nullptr && dst != nullptr, "transpose_copy: null pointer");
  constexpr index_t kRowsPerShare = 32;  // one tile row: shares never split a tile
  const index_t tiles = (rows + kRowsPerShare - 1) / kRowsPerShare;
  // A copy moves 8 bytes an element: 16 "flops" each for the thread choice, as adam_step counts.
  const int nthreads = static_cast<int>(
      std::min<index_t>(detail::threads_for(16.0 * static_cast<double>(rows) * cols), tiles));
  detail::parallel(nthreads, [&](int t, int nt) {
    index_t first, last;
    detail::split_range(rows, t, nt, kRowsPerShare, first, last);
    transpose_rows(first, last, cols, src, ld_src, dst);
  });
}

}  // namespace kiln
