// Launches the hardware refuses are refused by the emulated device with the runtime's
// errors (reported by cudaGetLastError, cleared by it, nothing run); dynamic shared
// memory has the launch's size, beside static shared memory, fresh in every block.
#include <cmath>
#include <cstdint>
#include <vector>

#include "cuda/launch.hpp"
#include "cuda_check.hpp"

namespace {

__global__ void mark(int* flag) { *flag = 1; }

// Refused launches must not run: the flag stays 0.
void expect_refused(dim3 grid, dim3 block, std::size_t shared, cudaStream_t stream, cudaError_t want) {
  DeviceBuffer<int> flag(1);
  CUDA_OK(cudaMemset(flag.get(), 0, sizeof(int)));
  CUDA_FAILS(kiln::cuda::launch(mark, grid, block, shared, stream, flag.get()), want);
  CUDA_OK(cudaGetLastError());  // cleared, not sticky
  CHECK(flag.download()[0] == 0);
}

void expect_runs(dim3 grid, dim3 block, std::size_t shared) {
  DeviceBuffer<int> flag(1);
  CUDA_OK(cudaMemset(flag.get(), 0, sizeof(int)));
  CUDA_OK(kiln::cuda::launch(mark, grid, block, shared, 0, flag.get()));
  CHECK(flag.download()[0] == 1);
}

constexpr int kStaticInts = 64;

// Every thread fills its share of the dynamic buffer and of a static one, then checks
// both after a barrier; wrong[0] counts bad elements, wrong[1] elements not poisoned
// (NaN) before the block wrote them, wrong[2] a misaligned dynamic buffer.
__global__ void use_shared(int floats, int* wrong) {
  KILN_DYNAMIC_SHARED(float, dyn);
  KILN_SHARED(int, fixed, [kStaticInts]);
  const int t = threadIdx.x, stride = blockDim.x;
  int bad = 0, not_poisoned = 0;
  for (int j = t; j < floats; j += stride) not_poisoned += !(dyn[j] != dyn[j]);
  __syncthreads();
  for (int j = t; j < floats; j += stride) dyn[j] = static_cast<float>(j + 1000 * blockIdx.x);
  for (int j = t; j < kStaticInts; j += stride) fixed[j] = -j - 7 * static_cast<int>(blockIdx.x);
  __syncthreads();
  for (int j = t; j < floats; j += stride) bad += dyn[j] != static_cast<float>(j + 1000 * blockIdx.x);
  for (int j = t; j < kStaticInts; j += stride) bad += fixed[j] != -j - 7 * static_cast<int>(blockIdx.x);
  atomicAdd(wrong, bad);
  atomicAdd(wrong + 1, not_poisoned);
  if (t == 0) atomicAdd(wrong + 2, static_cast<int>(reinterpret_cast<std::uintptr_t>(dyn) % 16 != 0));
}

std::vector<int> run_use_shared(int floats, int blocks, cudaError_t* error) {
  DeviceBuffer<int> wrong(3);
  CUDA_OK(cudaMemset(wrong.get(), 0, 3 * sizeof(int)));
  *error = kiln::cuda::launch(use_shared, dim3(blocks), dim3(128), floats * sizeof(float), 0,
                              floats, wrong.get());
  return wrong.download();
}

// 40 KiB of static shared memory: with more than 8 KiB of dynamic it is over 48 KiB.
__global__ void big_static(int* out) {
  KILN_SHARED(float, big, [10240]);
  big[threadIdx.x] = 1.0f;
  __syncthreads();
  out[threadIdx.x] = static_cast<int>(big[(threadIdx.x + 1) % blockDim.x]);
}

}  // namespace

int main() {
  // Block and grid dimensions.
  expect_runs(dim3(1), dim3(1024), 0);
  expect_runs(dim3(3, 2, 2), dim3(8, 8, 16), 0);
  expect_refused(dim3(1), dim3(1025), 0, 0, cudaErrorInvalidConfiguration);
  expect_refused(dim3(1), dim3(1024, 2), 0, 0, cudaErrorInvalidConfiguration);
  expect_refused(dim3(1), dim3(1, 1, 65), 0, 0, cudaErrorInvalidConfiguration);
  expect_refused(dim3(1), dim3(0), 0, 0, cudaErrorInvalidConfiguration);
  expect_refused(dim3(0), dim3(32), 0, 0, cudaErrorInvalidConfiguration);
  expect_refused(dim3(4, 0), dim3(32), 0, 0, cudaErrorInvalidConfiguration);
  expect_refused(dim3(1, 65536), dim3(32), 0, 0, cudaErrorInvalidConfiguration);
  expect_refused(dim3(1, 1, 65536), dim3(32), 0, 0, cudaErrorInvalidConfiguration);

  // Dynamic shared memory: 48 KiB without opt-in.
  expect_runs(dim3(2), dim3(32), 48 * 1024);
  expect_refused(dim3(2), dim3(32), 48 * 1024 + 1, 0, cudaErrorInvalidValue);
  CUDA_FAILS(cudaFuncSetAttribute(mark, cudaFuncAttributeMaxDynamicSharedMemorySize, 228 * 1024),
             cudaErrorInvalidValue);
  CUDA_FAILS(cudaGetLastError(), cudaErrorInvalidValue);  // a failed call is the last error

  // A stream that does not exist.
  cudaStream_t stream = nullptr;
  CUDA_OK(cudaStreamCreate(&stream));
  CUDA_OK(cudaStreamDestroy(stream));
  expect_refused(dim3(1), dim3(32), 0, stream, cudaErrorInvalidResourceHandle);

  // Dynamic sizes are honoured, beside static shared memory, poisoned in every block.
  for (int floats : {1, 5, 1000, 12 * 1024 - kStaticInts}) {
    cudaError_t error;
    const std::vector<int> wrong = run_use_shared(floats, 3, &error);
    CUDA_OK(error);
    CHECK(wrong[0] == 0);
    CHECK(wrong[1] == 0);
    CHECK(wrong[2] == 0);
  }
  {
    // Opted in: up to the attribute, beyond 48 KiB.
    const int floats = 100 * 1024 / 4;
    cudaError_t error;
    run_use_shared(floats, 1, &error);
    CHECK(error == cudaErrorInvalidValue);
    CUDA_OK(cudaGetLastError());
    CUDA_OK(cudaFuncSetAttribute(use_shared, cudaFuncAttributeMaxDynamicSharedMemorySize, 100 * 1024));
    const std::vector<int> wrong = run_use_shared(floats, 2, &error);
    CUDA_OK(error);
    CHECK(wrong[0] == 0 && wrong[1] == 0 && wrong[2] == 0);
    run_use_shared(floats + 1, 1, &error);
    CHECK(error == cudaErrorInvalidValue);
    CUDA_OK(cudaGetLastError());
  }
  {
    // Static + dynamic over 48 KiB: refused (here when the declaration is reached), not sticky.
    DeviceBuffer<int> out(64);
    CUDA_OK(kiln::cuda::launch(big_static, dim3(1), dim3(64), 8 * 1024, 0, out.get()));
    CUDA_FAILS(kiln::cuda::launch(big_static, dim3(1), dim3(64), 8 * 1024 + 16, 0, out.get()),
               cudaErrorInvalidValue);
    CUDA_OK(cudaGetLastError());
    CUDA_OK(kiln::cuda::launch(big_static, dim3(1), dim3(64), 0, 0, out.get()));
    CHECK(out.download()[5] == 1);
  }
  std::printf("%s\n", failures() ? "FAILED" : "ok");
  return failures();
}
