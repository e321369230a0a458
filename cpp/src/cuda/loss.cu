// kiln CUDA: softmax cross-entropy, BCE with logits and MSE, mean-reduced on the device
// (kiln/cuda/loss.hpp).
//
// Cross-entropy: one warp per row (kWarps per block, rows dealt to warps by a grid fixed
// by the sizes): the row's max and sum of exponentials are warp-shuffle reductions, the
// gradient is written in the same pass (exp(z - m) first, then scaled, as the CPU). BCE
// and MSE: a grid-stride loop over the elements. Every thread keeps its terms' sum in
// double; a block reduces them (shuffles, then one value per warp) into its partial,
// and one last block adds the partials and divides by the count. The grid depends on
// the sizes alone, so each result is the same on every run and device.
#include "kiln/cuda/loss.hpp"

#include <string>

#include "../cpu/check.hpp"
#include "activation_math.cuh"
#include "check.hpp"
#include "device_util.cuh"
#include "launch.hpp"

namespace kiln::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr index_t kMaxBlocks = 1024;  // partial sums per loss

unsigned blocks_for(index_t items, index_t per_block) {
  const index_t b = (items + per_block - 1) / per_block;
  return static_cast<unsigned>(b < 1 ? 1 : (b > kMaxBlocks ? kMaxBlocks : b));
}

// The scratch of one loss call: the first bad target, the count of terms, the partials.
struct Scratch {
  unsigned long long* first_bad;
  unsigned long long* count;
  double* partials;
};

Scratch scratch(cudaStream_t stream, const char* fn) {
  auto* base = static_cast<unsigned char*>(
      detail::stream_scratch(stream, 16 + kMaxBlocks * sizeof(double), fn));
  return {reinterpret_cast<unsigned long long*>(base), reinterpret_cast<unsigned long long*>(base + 8),
          reinterpret_cast<double*>(base + 16)};
}

// Thread 0 of the block gets the block's total (every thread must call).
__device__ __forceinline__ void write_partial(double v, double* partials) {
  KILN_SHARED(double, warp_sums, [32]);
  v = detail::block_sum(v, warp_sums);
  if (threadIdx.x == 0) partials[blockIdx.x] = v;
}

// loss = sum(partials) / count (count == nullptr: `terms`), one block of kThreads.
__global__ void __launch_bounds__(kThreads)
    finish_kernel(const double* partials, int blocks, const unsigned long long* count,
                  index_t terms, float* loss) {
  KILN_SHARED(double, warp_sums, [32]);
  double v = 0.0;
  for (int b = threadIdx.x; b < blocks; b += blockDim.x) v += partials[b];
  v = detail::block_sum(v, warp_sums);
  if (threadIdx.x == 0) {
    const double n = count ? static_cast<double>(*count) : static_cast<double>(terms);
    *loss = static_cast<float>(v / n);
  }
}

// The first target that is neither in [0, classes) nor ignore_index, and the number of
// targets that are not ignore_index.
__global__ void __launch_bounds__(kThreads)
    check_targets_kernel(const std::int64_t* target, index_t rows, index_t classes,
                         std::int64_t ignore_index, unsigned long long* first_bad,
                         unsigned long long* count) {
  KILN_SHARED(unsigned long long, warp_counts, [32]);
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  unsigned long long counted = 0;
  for (index_t r = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += stride) {
    const std::int64_t t = target[r];
    if (t == ignore_index) continue;
    if (t < 0 || t >= classes) atomicMin(first_bad, static_cast<unsigned long long>(r));
    ++counted;
  }
  counted = detail::block_sum(counted, warp_counts);
  if (threadIdx.x == 0 && counted) atomicAdd(count, counted);
}

struct CeScalars {
  float on, off, grad_scale;
  std::int64_t ignore_index;
};

// One row per warp. kProbs: target (N, C) probabilities; else class indices.
template <bool kProbs>
__global__ void __launch_bounds__(kThreads)
    cross_entropy_kernel(index_t rows, index_t classes, const float* __restrict__ logits,
                         const void* target_ptr, CeScalars s, const unsigned long long* count,
                         float* grad, double* partials) {
  const int lane = threadIdx.x & 31;
  const index_t warps = static_cast<index_t>(gridDim.x) * kWarps;
  // The mean's divisor folded into the upstream gradient, as the CPU's mean_factor.
  const double terms = kProbs ? static_cast<double>(rows) : static_cast<double>(*count);
  const float factor = static_cast<float>(static_cast<double>(s.grad_scale) / terms);
  double total = 0.0;  // lane 0's rows
  for (index_t r = static_cast<index_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5); r < rows; r += warps) {
    const float* z = logits + r * classes;
    float* g = grad ? grad + r * classes : nullptr;
    if constexpr (!kProbs) {
      const std::int64_t t = static_cast<const std::int64_t*>(target_ptr)[r];
      if (t == s.ignore_index) {
        if (g)
          for (index_t k = lane; k < classes; k += 32) g[k] = 0.0f;
        continue;
      }
    }
    float m = -INFINITY;
    for (index_t k = lane; k < classes; k += 32) m = fmaxf(m, __ldg(z + k));
    m = detail::warp_max(m);
    float e_sum = 0.0f;
    for (index_t k = lane; k < classes; k += 32) {
      const float e = expf(__fsub_rn(__ldg(z + k), m));
      if (g) g[k] = e;
      e_sum = __fadd_rn(e_sum, e);
    }
    e_sum = detail::warp_sum(e_sum);
    const double log_s = static_cast<double>(logf(e_sum));
    double row;
    if constexpr (kProbs) {
      const float* t = static_cast<const float*>(target_ptr) + r * classes;
      double t_sum = 0.0, tz_sum = 0.0;
      for (index_t k = lane; k < classes; k += 32) {
        const float tk = __fadd_rn(__fmul_rn(s.on, __ldg(t + k)), s.off);
        t_sum += tk;
        tz_sum += static_cast<double>(tk) * static_cast<double>(__fsub_rn(__ldg(z + k), m));
      }
      t_sum = detail::warp_sum(t_sum);
      tz_sum = detail::warp_sum(tz_sum);
      if (g) {
        const float scale = __fdiv_rn(__fmul_rn(static_cast<float>(t_sum), factor), e_sum);
        for (index_t k = lane; k < classes; k += 32) {
          const float tk = __fadd_rn(__fmul_rn(s.on, __ldg(t + k)), s.off);
          g[k] = __fsub_rn(__fmul_rn(g[k], scale), __fmul_rn(tk, factor));
        }
      }
      row = log_s * t_sum - tz_sum;
    } else {
      const std::int64_t t = static_cast<const std::int64_t*>(target_ptr)[r];
      row = log_s - static_cast<double>(s.on) * static_cast<double>(__fsub_rn(__ldg(z + t), m));
      if (s.off != 0.0f) {
        double zm = 0.0;
        for (index_t k = lane; k < classes; k += 32) zm += static_cast<double>(__fsub_rn(__ldg(z + k), m));
        row -= static_cast<double>(s.off) * detail::warp_sum(zm);
      }
      if (g) {
        const float scale = __fdiv_rn(factor, e_sum), shift = __fmul_rn(s.off, factor);
        __syncwarp();  // every lane's exp is stored before lane-strided rewrites
        for (index_t k = lane; k < classes; k += 32) g[k] = __fsub_rn(__fmul_rn(g[k], scale), shift);
        __syncwarp();
        if (lane == 0) g[t] = __fsub_rn(g[t], __fmul_rn(s.on, factor));
      }
    }
    if (lane == 0) total += row;
  }
  write_partial(total, partials);
}

struct BceArgs {
  index_t n, cols;
  const float* logits;
  const float* target;
  const float* pos_weight;  // or null
  float factor;
  float* grad;  // or null
};

__global__ void __launch_bounds__(kThreads) bce_kernel(BceArgs a, double* partials) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  double total = 0.0;
  for (index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < a.n; i += stride) {
    const float x = __ldg(a.logits + i), y = __ldg(a.target + i);
    const float pw = a.pos_weight ? __ldg(a.pos_weight + static_cast<unsigned>(i) % static_cast<unsigned>(a.cols)) : 1.0f;
    const float log_weight = __fadd_rn(1.0f, __fmul_rn(__fsub_rn(pw, 1.0f), y));
    const float log_sigmoid = __fsub_rn(fminf(x, 0.0f), log1pf(expf(-fabsf(x))));
    if (a.grad)
      a.grad[i] = __fmul_rn(__fsub_rn(__fmul_rn(log_weight, detail::sigmoid(x)), __fmul_rn(pw, y)), a.factor);
    total += __fsub_rn(__fmul_rn(__fsub_rn(1.0f, y), x), __fmul_rn(log_weight, log_sigmoid));
  }
  write_partial(total, partials);
}

__global__ void __launch_bounds__(kThreads)
    mse_kernel(index_t n, const float* __restrict__ pred, const float* __restrict__ target,
               float twice_factor, float* grad, double* partials) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  double total = 0.0;
  for (index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float d = __fsub_rn(__ldg(pred + i), __ldg(target + i));
    if (grad) grad[i] = __fmul_rn(twice_factor, d);
    total += __fmul_rn(d, d);
  }
  write_partial(total, partials);
}

void check_cross_entropy(const char* fn, const CrossEntropyParams& p, const float* logits,
                         const void* target, const float* loss) {
  KILN_CHECK(p.rows >= 0, fn << ": rows must be >= 0, got " << p.rows);
  KILN_CHECK(p.classes >= 1, fn << ": classes must be >= 1, got " << p.classes);
  KILN_CHECK(p.label_smoothing >= 0.0f && p.label_smoothing <= 1.0f,
             fn << ": label_smoothing must be in [0, 1], got " << p.label_smoothing);
  kiln::detail::checked_size(fn, "logits", p.rows, p.classes);
  KILN_CHECK(loss != nullptr, fn << ": loss is null");
  KILN_CHECK(p.rows == 0 || (logits && target), fn << ": logits and target must not be null");
}

std::string ce_sizes(const CrossEntropyParams& p) {
  return "rows=" + std::to_string(p.rows) + " classes=" + std::to_string(p.classes);
}

void finish(const char* fn, const std::string& sizes, const Scratch& sc, unsigned blocks,
            const unsigned long long* count, index_t terms, float* loss, cudaStream_t stream) {
  detail::throw_if_failed(launch(finish_kernel, dim3(1), dim3(kThreads), 0, stream, sc.partials,
                                 static_cast<int>(blocks), count, terms, loss),
                          fn, sizes);
}

CeScalars ce_scalars(const CrossEntropyParams& p) {
  return {1.0f - p.label_smoothing, p.label_smoothing / static_cast<float>(p.classes), p.grad_scale,
          p.ignore_index};
}

}  // namespace

void softmax_cross_entropy(const CrossEntropyParams& p, const float* logits,
                           const std::int64_t* target, float* loss, float* grad, cudaStream_t stream) {
  constexpr const char* kFn = "softmax_cross_entropy";
  check_cross_entropy(kFn, p, logits, target, loss);
  const std::string s = ce_sizes(p);
  const Scratch sc = scratch(stream, kFn);
  detail::throw_if_failed(cudaMemsetAsync(sc.first_bad, 0xff, 8, stream), kFn, s);
  detail::throw_if_failed(cudaMemsetAsync(sc.count, 0, 8, stream), kFn, s);
  if (p.rows > 0) {
    detail::throw_if_failed(launch(check_targets_kernel, dim3(detail::grid_for(p.rows, kThreads)),
                                   dim3(kThreads), 0, stream, target, p.rows, p.classes,
                                   p.ignore_index, sc.first_bad, sc.count),
                            kFn, s);
    unsigned long long first = 0;
    detail::throw_if_failed(cudaMemcpyAsync(&first, sc.first_bad, 8, cudaMemcpyDeviceToHost, stream), kFn, s);
    detail::throw_if_failed(cudaStreamSynchronize(stream), kFn, s);
    if (first != ~0ull) {
      std::int64_t t = 0;
      detail::throw_if_failed(cudaMemcpy(&t, target + first, 8, cudaMemcpyDeviceToHost), kFn, s);
      KILN_CHECK(false, kFn << ": target[" << first << "] = " << t << " is out of range [0, "
                            << p.classes << ") and is not ignore_index (" << p.ignore_index << ")");
    }
  }
  const unsigned blocks = blocks_for(p.rows, kWarps);
  detail::throw_if_failed(launch(cross_entropy_kernel<false>, dim3(blocks), dim3(kThreads), 0, stream,
                                 p.rows, p.classes, logits, static_cast<const void*>(target),
                                 ce_scalars(p), static_cast<const unsigned long long*>(sc.count), grad,
                                 sc.partials),
                          kFn, s);
  finish(kFn, s, sc, blocks, sc.count, 0, loss, stream);
}

void softmax_cross_entropy_probs(const CrossEntropyParams& p, const float* logits,
                                 const float* target, float* loss, float* grad, cudaStream_t stream) {
  constexpr const char* kFn = "softmax_cross_entropy";
  check_cross_entropy(kFn, p, logits, target, loss);
  const std::string s = ce_sizes(p);
  const Scratch sc = scratch(stream, kFn);
  const unsigned blocks = blocks_for(p.rows, kWarps);
  detail::throw_if_failed(launch(cross_entropy_kernel<true>, dim3(blocks), dim3(kThreads), 0, stream,
                                 p.rows, p.classes, logits, static_cast<const void*>(target),
                                 ce_scalars(p), static_cast<const unsigned long long*>(nullptr), grad,
                                 sc.partials),
                          kFn, s);
  finish(kFn, s, sc, blocks, nullptr, p.rows, loss, stream);
}

void bce_with_logits(index_t rows, index_t cols, const float* logits, const float* target,
                     const float* pos_weight, float grad_scale, float* loss, float* grad,
                     cudaStream_t stream) {
  constexpr const char* kFn = "bce_with_logits";
  KILN_CHECK(rows >= 0 && cols >= 0, kFn << ": sizes must be >= 0, got rows=" << rows << " cols=" << cols);
  const index_t n = kiln::detail::checked_size(kFn, "logits", rows, cols);
  KILN_CHECK(loss != nullptr, kFn << ": loss is null");
  KILN_CHECK(n == 0 || (logits && target), kFn << ": logits and target must not be null");
  const std::string s = "rows=" + std::to_string(rows) + " cols=" + std::to_string(cols);
  const Scratch sc = scratch(stream, kFn);
  const float factor = static_cast<float>(static_cast<double>(grad_scale) / static_cast<double>(n));
  const unsigned blocks = blocks_for(n, kThreads);
  detail::throw_if_failed(launch(bce_kernel, dim3(blocks), dim3(kThreads), 0, stream,
                                 BceArgs{n, cols, logits, target, pos_weight, factor, grad}, sc.partials),
                          kFn, s);
  finish(kFn, s, sc, blocks, nullptr, n, loss, stream);
}

void mse(index_t n, const float* pred, const float* target, float grad_scale, float* loss, float* grad,
         cudaStream_t stream) {
  constexpr const char* kFn = "mse";
  KILN_CHECK(n >= 0, kFn << ": n must be >= 0, got " << n);
  kiln::detail::checked_size(kFn, "pred", n);
  KILN_CHECK(loss != nullptr, kFn << ": loss is null");
  KILN_CHECK(n == 0 || (pred && target), kFn << ": pred and target must not be null");
  const std::string s = "n=" + std::to_string(n);
  const Scratch sc = scratch(stream, kFn);
  const float twice_factor =
      2.0f * static_cast<float>(static_cast<double>(grad_scale) / static_cast<double>(n));
  const unsigned blocks = blocks_for(n, kThreads);
  detail::throw_if_failed(launch(mse_kernel, dim3(blocks), dim3(kThreads), 0, stream, n, pred, target,
                                 twice_factor, grad, sc.partials),
                          kFn, s);
  finish(kFn, s, sc, blocks, nullptr, n, loss, stream);
}

}  // namespace kiln::cuda
