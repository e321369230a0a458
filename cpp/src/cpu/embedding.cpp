#include "kiln/embedding.hpp"

#include <algorithm>
#include <cstring>

#include "check.hpp"
#include "parallel.hpp"
#include "parallel_range.hpp"

namespace kiln {
namespace {

void check_sizes(const char* kernel, index_t num_indices, index_t num_embeddings, index_t dim) {
  KILN_CHECK(num_indices >= 0 && num_embeddings >= 0 && dim >= 0,
             kernel << ": sizes must be >= 0, got num_indices=" << num_indices
                    << " num_embeddings=" << num_embeddings << " dim=" << dim);
  detail::checked_size(kernel, "indices", num_indices);
  detail::checked_size(kernel, "weight", num_embeddings, dim);
  detail::checked_size(kernel, "the rows of indices", num_indices, dim);
}

void check_indices(const char* kernel, index_t num_indices, const std::int64_t* indices,
                   index_t num_embeddings) {
  KILN_CHECK(num_indices == 0 || indices != nullptr, kernel << ": indices is null");
  for (index_t i = 0; i < num_indices; ++i) {
    KILN_CHECK(indices[i] >= 0 && indices[i] < num_embeddings,
               kernel << ": indices[" << i << "] = " << indices[i] << " is out of range [0, "
                      << num_embeddings << ")");
  }
}

}  // namespace

void embedding_forward(index_t num_indices, const std::int64_t* indices, index_t num_embeddings,
                       index_t dim, const float* weight, float* out) {
  constexpr const char* kFn = "embedding_forward";
  check_sizes(kFn, num_indices, num_embeddings, dim);
  check_indices(kFn, num_indices, indices, num_embeddings);
  if (num_indices == 0 || dim == 0) return;
  KILN_CHECK(weight && out, kFn << ": weight and out must not be null");
  const std::size_t row_bytes = static_cast<std::size_t>(dim) * sizeof(float);
  detail::parallel_range(num_indices, static_cast<double>(num_indices) * dim, 1,
                         [&](index_t begin, index_t end) {
                           for (index_t i = begin; i < end; ++i)
                             std::memcpy(out + i * dim, weight + indices[i] * dim, row_bytes);
                         });
}

void embedding_backward(index_t num_indices, const std::int64_t* indices, const float* grad_out,
                        index_t num_embeddings, index_t dim, std::int64_t padding_idx,
                        float* grad_weight) {
  constexpr const char* kFn = "embedding_backward";
  check_sizes(kFn, num_indices, num_embeddings, dim);
  KILN_CHECK(padding_idx >= -1 && padding_idx < num_embeddings,
             kFn << ": padding_idx must be -1 (none) or in [0, " << num_embeddings << "), got "
                 << padding_idx);
  check_indices(kFn, num_indices, indices, num_embeddings);
  if (num_embeddings == 0 || dim == 0) return;
  KILN_CHECK(grad_weight != nullptr, kFn << ": grad_weight is null");
  KILN_CHECK(num_indices == 0 || grad_out != nullptr, kFn << ": grad_out is null");

  // Each thread owns a band of rows of grad_weight: it zeroes them (one contiguous
  // memset), then adds, in index order, every index that falls in its band. No two
  // threads write the same row, and each row sums in the same order for any thread
  // count. Every thread scans all indices, which costs little next to the rows it adds.
  const int nthreads = detail::threads_for(static_cast<double>(num_indices + num_embeddings) * dim);
  const std::size_t row_bytes = static_cast<std::size_t>(dim) * sizeof(float);
  detail::parallel(nthreads, [&](int t, int nt) {
    index_t v0 = 0, v1 = 0;
    detail::split_range(num_embeddings, t, nt, 1, v0, v1);
    if (v0 < v1) {
      std::memset(grad_weight + v0 * dim, 0, static_cast<std::size_t>(v1 - v0) * row_bytes);
      for (index_t i = 0; i < num_indices; ++i) {
        const std::int64_t v = indices[i];
        if (v < v0 || v >= v1 || v == padding_idx) continue;
        float* __restrict dst = grad_weight + v * dim;
        const float* __restrict src = grad_out + i * dim;
        for (index_t c = 0; c < dim; ++c) dst[c] += src[c];
      }
    }
  });
}

}  // namespace kiln
