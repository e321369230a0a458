// The emulated device's __syncthreads is a real barrier: a block reduction is exact with
// it and wrong without it (both compiled from one template); exited threads count as
// arrived; __syncthreads_count/_and/_or reduce over the block; 2-D blocks index right.
#include <cmath>
#include <vector>

#include "cuda/launch.hpp"
#include "cuda_check.hpp"

namespace {

constexpr int kThreads = 256;

// sums[b] = sum of x over block b's slice; a tree in shared memory.
template <bool kBarrier>
__global__ void block_sum(const float* x, float* sums, int n) {
  KILN_SHARED(float, partial, [kThreads]);
  const int t = threadIdx.x;
  const int i = blockIdx.x * blockDim.x + t;
  partial[t] = i < n ? x[i] : 0.0f;
  if constexpr (kBarrier) __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (t < s) partial[t] += partial[t + s];
    if constexpr (kBarrier) __syncthreads();
  }
  if (t == 0) sums[blockIdx.x] = partial[0];
}

std::vector<float> run_block_sum(bool barrier, const std::vector<float>& x, int blocks) {
  DeviceBuffer<float> dx(x), dsums(blocks);
  const int n = static_cast<int>(x.size());
  if (barrier)
    CUDA_OK(kiln::cuda::launch(block_sum<true>, dim3(blocks), dim3(kThreads), 0, 0, dx.get(), dsums.get(), n));
  else
    CUDA_OK(kiln::cuda::launch(block_sum<false>, dim3(blocks), dim3(kThreads), 0, 0, dx.get(), dsums.get(), n));
  return dsums.download();
}

// Threads past n return before the barrier; the others still pass it.
__global__ void early_exit(const int* x, int* out, int n) {
  KILN_SHARED(int, v, [kThreads]);
  const int t = threadIdx.x;
  if (t >= n) return;
  v[t] = x[t];
  __syncthreads();
  out[t] = v[n - 1 - t];
}

__global__ void barrier_votes(int* out) {
  const int t = threadIdx.x;
  const int count = __syncthreads_count(t % 3 == 0);
  const int all_small = __syncthreads_and(t < 1000);
  const int all_even = __syncthreads_and(t % 2 == 0);
  const int any_last = __syncthreads_or(t == static_cast<int>(blockDim.x) - 1);
  const int none = __syncthreads_or(0);
  if (t == 0) {
    out[0] = count;
    out[1] = all_small;
    out[2] = all_even;
    out[3] = any_last;
    out[4] = none;
  }
}

// A 2-D block transposes a 16x8 tile through shared memory.
__global__ void transpose_tile(const float* in, float* out) {
  KILN_SHARED(float, tile, [8][16 + 1]);
  tile[threadIdx.y][threadIdx.x] = in[threadIdx.y * 16 + threadIdx.x];
  __syncthreads();
  const int linear = threadIdx.y * 16 + threadIdx.x;  // 0..127 read back as 16 rows of 8
  const int r = linear / 8, c = linear % 8;
  out[r * 8 + c] = tile[c][r];
}

}  // namespace

int main() {
  const int blocks = 37, n = blocks * kThreads - 100;
  std::vector<float> x(n);
  for (int i = 0; i < n; ++i) x[i] = static_cast<float>((i * 7) % 13);  // exact sums in float
  std::vector<double> want(blocks, 0.0);
  for (int i = 0; i < n; ++i) want[i / kThreads] += x[i];

  const std::vector<float> with = run_block_sum(true, x, blocks);
  const std::vector<float> without = run_block_sum(false, x, blocks);
  int exact = 0, wrong = 0;
  for (int b = 0; b < blocks; ++b) {
    exact += with[b] == want[b];
    wrong += !(without[b] == want[b]);
  }
  CHECK(exact == blocks);
  CHECK(wrong == blocks);  // no block's missing barriers passed by luck

  {
    const int m = 200;
    std::vector<int> xi(kThreads);
    for (int i = 0; i < kThreads; ++i) xi[i] = i * i;
    DeviceBuffer<int> dx(xi), dout(kThreads);
    CUDA_OK(cudaMemset(dout.get(), 0, kThreads * sizeof(int)));
    CUDA_OK(kiln::cuda::launch(early_exit, dim3(1), dim3(kThreads), 0, 0, dx.get(), dout.get(), m));
    const std::vector<int> out = dout.download();
    int right = 0;
    for (int t = 0; t < m; ++t) right += out[t] == xi[m - 1 - t];
    CHECK(right == m);
  }
  {
    DeviceBuffer<int> dout(5);
    CUDA_OK(kiln::cuda::launch(barrier_votes, dim3(2), dim3(300), 0, 0, dout.get()));
    const std::vector<int> out = dout.download();
    CHECK(out[0] == 100);  // t = 0, 3, ..., 297
    CHECK(out[1] == 1);
    CHECK(out[2] == 0);
    CHECK(out[3] == 1);
    CHECK(out[4] == 0);
  }
  {
    std::vector<float> in(128);
    for (int i = 0; i < 128; ++i) in[i] = static_cast<float>(i);
    DeviceBuffer<float> din(in), dout(128);
    CUDA_OK(kiln::cuda::launch(transpose_tile, dim3(1), dim3(16, 8), 0, 0, din.get(), dout.get()));
    const std::vector<float> out = dout.download();
    int right = 0;
    for (int r = 0; r < 16; ++r)
      for (int c = 0; c < 8; ++c) right += out[r * 8 + c] == in[c * 16 + r];
    CHECK(right == 128);
  }
  std::printf("%s\n", failures() ? "FAILED" : "ok");
  return failures();
}
