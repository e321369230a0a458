// kiln CUDA: embedding gather and scatter-add (kiln/cuda/embedding.hpp).
//
// A row copy is pure bandwidth: the forward pass moves float4s when every row starts on a
// 16-byte boundary (dim % 4 == 0, aligned buffers), else floats, in a grid-stride loop
// over the output's elements, so consecutive threads read consecutive elements of a row.
// The backward pass zeroes grad_weight (cudaMemsetAsync) and adds each element of
// grad_out with atomicAdd, consecutive threads on consecutive columns: a sort by index
// (the deterministic route) costs more than the whole scatter at training sizes.
#include "kiln/cuda/embedding.hpp"

#include <string>

#include "../cpu/check.hpp"
#include "check.hpp"
#include "device_util.cuh"
#include "kiln/cuda/checks.hpp"
#include "launch.hpp"

namespace kiln::cuda {
namespace {

constexpr int kThreads = 256;

template <class V>  // float or float4; dim counts V
__global__ void __launch_bounds__(kThreads)
    gather_kernel(index_t total, index_t dim, const std::int64_t* __restrict__ indices,
                  const V* __restrict__ weight, V* __restrict__ out) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  for (index_t e = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += stride) {
    // 32-bit division: e < 2^31 (out has at most kMaxElements elements).
    const unsigned row = static_cast<unsigned>(e) / static_cast<unsigned>(dim);
    const index_t col = e - static_cast<index_t>(row) * dim;
    out[e] = __ldg(weight + __ldg(indices + row) * dim + col);
  }
}

__global__ void __launch_bounds__(kThreads)
    scatter_add_kernel(index_t total, index_t dim, const std::int64_t* __restrict__ indices,
                       const float* __restrict__ grad_out, std::int64_t padding_idx,
                       float* grad_weight) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  for (index_t e = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += stride) {
    const unsigned row = static_cast<unsigned>(e) / static_cast<unsigned>(dim);
    const index_t col = e - static_cast<index_t>(row) * dim;
    const std::int64_t v = __ldg(indices + row);
    if (v != padding_idx) atomicAdd(grad_weight + v * dim + col, __ldg(grad_out + e));
  }
}

void check_sizes(const char* fn, index_t num_indices, index_t num_embeddings, index_t dim) {
  KILN_CHECK(num_indices >= 0 && num_embeddings >= 0 && dim >= 0,
             fn << ": sizes must be >= 0, got num_indices=" << num_indices
                << " num_embeddings=" << num_embeddings << " dim=" << dim);
  kiln::detail::checked_size(fn, "indices", num_indices);
  kiln::detail::checked_size(fn, "weight", num_embeddings, dim);
  kiln::detail::checked_size(fn, "the rows of indices", num_indices, dim);
}

void check_range(const char* fn, index_t num_indices, const std::int64_t* indices,
                 index_t num_embeddings, cudaStream_t stream) {
  KILN_CHECK(num_indices == 0 || indices != nullptr, fn << ": indices is null");
  const BadIndex bad = find_out_of_range(indices, num_indices, num_embeddings, false, 0, stream, fn);
  KILN_CHECK(bad.position < 0, fn << ": indices[" << bad.position << "] = " << bad.value
                                  << " is out of range [0, " << num_embeddings << ")");
}

std::string sizes(index_t num_indices, index_t num_embeddings, index_t dim) {
  return "num_indices=" + std::to_string(num_indices) + " num_embeddings=" +
         std::to_string(num_embeddings) + " dim=" + std::to_string(dim);
}

}  // namespace

void embedding_forward(index_t num_indices, const std::int64_t* indices, index_t num_embeddings,
                       index_t dim, const float* weight, float* out, cudaStream_t stream,
                       bool check_indices) {
  constexpr const char* kFn = "embedding_forward";
  check_sizes(kFn, num_indices, num_embeddings, dim);
  if (check_indices) check_range(kFn, num_indices, indices, num_embeddings, stream);
  if (num_indices == 0 || dim == 0) return;
  KILN_CHECK(indices && weight && out, kFn << ": indices, weight and out must not be null");
  const std::string s = sizes(num_indices, num_embeddings, dim);
  cudaError_t error;
  if (dim % 4 == 0 && detail::aligned16(weight) && detail::aligned16(out)) {
    const index_t total = num_indices * (dim / 4);
    error = launch(gather_kernel<float4>, dim3(detail::grid_for(total, kThreads)), dim3(kThreads), 0,
                   stream, total, dim / 4, indices, reinterpret_cast<const float4*>(weight),
                   reinterpret_cast<float4*>(out));
  } else {
    const index_t total = num_indices * dim;
    error = launch(gather_kernel<float>, dim3(detail::grid_for(total, kThreads)), dim3(kThreads), 0,
                   stream, total, dim, indices, weight, out);
  }
  detail::throw_if_failed(error, kFn, s);
}

void embedding_backward(index_t num_indices, const std::int64_t* indices, const float* grad_out,
                        index_t num_embeddings, index_t dim, std::int64_t padding_idx,
                        float* grad_weight, cudaStream_t stream, bool check_indices) {
  constexpr const char* kFn = "embedding_backward";
  check_sizes(kFn, num_indices, num_embeddings, dim);
  KILN_CHECK(padding_idx >= -1 && padding_idx < num_embeddings,
             kFn << ": padding_idx must be -1 (none) or in [0, " << num_embeddings << "), got "
                 << padding_idx);
  if (check_indices) check_range(kFn, num_indices, indices, num_embeddings, stream);
  if (num_embeddings == 0 || dim == 0) return;
  KILN_CHECK(grad_weight != nullptr, kFn << ": grad_weight is null");
  KILN_CHECK(num_indices == 0 || (grad_out != nullptr && indices != nullptr),
             kFn << ": grad_out is null");
  const std::string s = sizes(num_indices, num_embeddings, dim);
  detail::throw_if_failed(
      cudaMemsetAsync(grad_weight, 0, static_cast<std::size_t>(num_embeddings * dim) * sizeof(float), stream),
      kFn, s);
  if (num_indices == 0) return;
  const index_t total = num_indices * dim;
  detail::throw_if_failed(launch(scatter_add_kernel, dim3(detail::grid_for(total, kThreads)),
                                 dim3(kThreads), 0, stream, total, dim, indices, grad_out,
                                 padding_idx, grad_weight),
                          kFn, s);
}

}  // namespace kiln::cuda
