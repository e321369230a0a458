// kiln: embedding lookup (gather rows) and its gradient (scatter-add rows).
//
//   indices:     (num_indices,) int64, each in [0, num_embeddings)
//   weight:      (num_embeddings, dim)
//   out:         (num_indices, dim)          out[i] = weight[indices[i]]
//   grad_out:    (num_indices, dim)
//   grad_weight: (num_embeddings, dim)       overwritten: grad_weight[v] = sum of grad_out[i]
//                                            over i with indices[i] == v, zero for padding_idx
//
// Every index is checked before anything is written; one out of range is an
// std::invalid_argument. The backward pass is deterministic: each row of
// grad_weight sums its contributions in index order, whatever the thread count.
#pragma once

#include <cstdint>

#include "kiln/common.hpp"

namespace kiln {

void embedding_forward(index_t num_indices, const std::int64_t* indices, index_t num_embeddings,
                       index_t dim, const float* weight, float* out);

// padding_idx: a row in [0, num_embeddings) whose gradient stays zero, or -1 for none.
void embedding_backward(index_t num_indices, const std::int64_t* indices, const float* grad_out,
                        index_t num_embeddings, index_t dim, std::int64_t padding_idx,
                        float* grad_weight);

}  // namespace kiln
