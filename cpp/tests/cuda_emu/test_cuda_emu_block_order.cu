// The emulated device runs blocks in a shuffled order: a kernel that depends on block
// order gets a wrong result, every block of a 1-D and a 3-D grid runs exactly once, and
// two launches run in different orders.
#include <algorithm>
#include <numeric>
#include <vector>

#include "cuda/launch.hpp"
#include "cuda_check.hpp"

namespace {

// Wrong on purpose: block b reads what block b - 1 wrote, as if blocks ran in order.
__global__ void chain(int* out) {
  if (threadIdx.x != 0) return;
  const int b = blockIdx.x;
  out[b] = b == 0 ? 1 : out[b - 1] + 1;
}

// Block b's place in the order it ran: order[k] = the k-th block to run.
__global__ void record_order(int* order, int* next) {
  if (threadIdx.x == 0) order[atomicAdd(next, 1)] = blockIdx.x;
}

__global__ void count_runs(int* runs) {
  if (threadIdx.x + threadIdx.y == 0) {
    const unsigned linear = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    atomicAdd(runs + linear, 1);
  }
}

std::vector<int> run_order(int blocks) {
  DeviceBuffer<int> order(blocks), next(1);
  CUDA_OK(cudaMemset(next.get(), 0, sizeof(int)));
  CUDA_OK(kiln::cuda::launch(record_order, dim3(blocks), dim3(32), 0, 0, order.get(), next.get()));
  return order.download();
}

}  // namespace

int main() {
  const int blocks = 64;
  {
    DeviceBuffer<int> out(blocks);
    CUDA_OK(cudaMemset(out.get(), 0, blocks * sizeof(int)));
    CUDA_OK(kiln::cuda::launch(chain, dim3(blocks), dim3(32), 0, 0, out.get()));
    const std::vector<int> got = out.download();
    int in_order = 0;
    for (int b = 0; b < blocks; ++b) in_order += got[b] == b + 1;
    CHECK(in_order < blocks);  // the order-dependent kernel fails
  }
  {
    const std::vector<int> first = run_order(blocks), second = run_order(blocks);
    std::vector<int> sorted = first, identity(blocks);
    std::sort(sorted.begin(), sorted.end());
    std::iota(identity.begin(), identity.end(), 0);
    CHECK(sorted == identity);    // a permutation: every block once
    CHECK(first != identity);     // shuffled
    CHECK(first != second);       // differently from launch to launch
    const std::vector<int> one = run_order(1);
    CHECK(one[0] == 0);
    const std::vector<int> two = run_order(2);
    CHECK(std::min(two[0], two[1]) == 0 && std::max(two[0], two[1]) == 1);
  }
  {
    const dim3 grid(7, 5, 3);
    const int total = 7 * 5 * 3;
    DeviceBuffer<int> runs(total);
    CUDA_OK(cudaMemset(runs.get(), 0, total * sizeof(int)));
    CUDA_OK(kiln::cuda::launch(count_runs, grid, dim3(4, 2), 0, 0, runs.get()));
    const std::vector<int> got = runs.download();
    CHECK(std::count(got.begin(), got.end(), 1) == total);
  }
  std::printf("%s\n", failures() ? "FAILED" : "ok");
  return failures();
}
