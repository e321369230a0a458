// kiln CUDA: embedding lookup and its gradient on the device (kiln/embedding.hpp).
//
//   indices:     (num_indices,) int64, each in [0, num_embeddings)
//   weight:      (num_embeddings, dim)
//   out:         (num_indices, dim)          out[i] = weight[indices[i]]
//   grad_out:    (num_indices, dim)
//   grad_weight: (num_embeddings, dim)       overwritten: the sum of grad_out's rows per
//                                            index, zero for padding_idx (-1: none)
//
// The CPU's size checks (std::invalid_argument). With check_indices (the default) every
// index is checked on the device before anything is written, the first bad one read back
// by the host (so the call synchronises) and named as the CPU names it; a caller that
// has checked them itself (the Python backend, for the reference's message) passes false
// and the call stays asynchronous.
// The backward pass adds with atomicAdd: bit-identical to the CPU where no index repeats;
// where one does, the order of its rows' sum (and so its last bits) may vary.
#pragma once

#include <cstdint>

#include "kiln/common.hpp"
#include "kiln/cuda/runtime.hpp"
#include "kiln/embedding.hpp"

namespace kiln::cuda {

void embedding_forward(index_t num_indices, const std::int64_t* indices, index_t num_embeddings,
                       index_t dim, const float* weight, float* out, cudaStream_t stream = 0,
                       bool check_indices = true);

void embedding_backward(index_t num_indices, const std::int64_t* indices, const float* grad_out,
                        index_t num_embeddings, index_t dim, std::int64_t padding_idx,
                        float* grad_weight, cudaStream_t stream = 0, bool check_indices = true);

}  // namespace kiln::cuda
