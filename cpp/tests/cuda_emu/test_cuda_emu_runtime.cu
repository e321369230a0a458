// The emulated runtime: copies honour cudaMemcpyKind (a pointer where the kind says it is
// not is cudaErrorInvalidValue, nothing copied), memset stays inside its allocation, frees
// are checked, streams and events run in order and time, the device reports its limits,
// and a fault inside a kernel (deadlock, a bad warp mask, __trap, an exception) is sticky
// until cudaDeviceReset.
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda/launch.hpp"
#include "cuda_check.hpp"

namespace {

void check_copies() {
  std::vector<float> host(64, 1.5f), back(64, 0.0f);
  float *a = nullptr, *b = nullptr, *pinned = nullptr;
  CUDA_OK(cudaMalloc(&a, 64 * sizeof(float)));
  CUDA_OK(cudaMalloc(&b, 64 * sizeof(float)));
  CUDA_OK(cudaMallocHost(&pinned, 64 * sizeof(float)));
  const std::size_t bytes = 64 * sizeof(float);

  CUDA_OK(cudaMemcpy(a, host.data(), bytes, cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice));
  CUDA_OK(cudaMemcpy(back.data(), b, bytes, cudaMemcpyDeviceToHost));
  CHECK(back == host);
  CUDA_OK(cudaMemcpy(pinned, a, bytes, cudaMemcpyDefault));  // inferred: device to host
  CHECK(pinned[63] == 1.5f);
  CUDA_OK(cudaMemcpy(b, pinned, bytes, cudaMemcpyHostToDevice));  // pinned memory is host memory

  // Each pointer must be where the kind says.
  CUDA_FAILS(cudaMemcpy(a, b, bytes, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  CUDA_FAILS(cudaMemcpy(host.data(), back.data(), bytes, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  CUDA_FAILS(cudaMemcpy(back.data(), host.data(), bytes, cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
  CUDA_FAILS(cudaMemcpy(a, back.data(), bytes, cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
  CUDA_FAILS(cudaMemcpy(a, host.data(), bytes, cudaMemcpyDeviceToDevice), cudaErrorInvalidValue);
  CUDA_FAILS(cudaMemcpy(back.data(), a, bytes, cudaMemcpyHostToHost), cudaErrorInvalidValue);
  // Device ranges must lie inside one allocation.
  CUDA_FAILS(cudaMemcpy(a + 1, host.data(), bytes, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  CUDA_FAILS(cudaMemcpy(back.data(), a + 60, 5 * sizeof(float), cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
  CUDA_OK(cudaMemcpy(back.data(), a + 60, 4 * sizeof(float), cudaMemcpyDeviceToHost));
  CUDA_FAILS(cudaMemcpy(a, host.data(), bytes, static_cast<cudaMemcpyKind>(7)),
             cudaErrorInvalidMemcpyDirection);
  // Each failure above was recorded; the last one is returned once, then cleared.
  CUDA_FAILS(cudaGetLastError(), cudaErrorInvalidMemcpyDirection);
  CUDA_OK(cudaGetLastError());

  CUDA_OK(cudaMemset(a, 0, bytes));
  CUDA_FAILS(cudaMemset(a, 0, bytes + 1), cudaErrorInvalidValue);
  CUDA_FAILS(cudaMemset(host.data(), 0, 4), cudaErrorInvalidValue);
  CUDA_OK(cudaMemcpy(back.data(), a, bytes, cudaMemcpyDeviceToHost));
  CHECK(back == std::vector<float>(64, 0.0f));

  // New memory is not zero (0xFF bytes), as cudaMalloc's is not guaranteed to be.
  float* fresh = nullptr;
  CUDA_OK(cudaMalloc(&fresh, sizeof(float)));
  float f = 0.0f;
  CUDA_OK(cudaMemcpy(&f, fresh, sizeof(float), cudaMemcpyDeviceToHost));
  CHECK(f != f);

  cudaPointerAttributes attributes;
  CUDA_OK(cudaPointerGetAttributes(&attributes, a + 3));
  CHECK(attributes.type == cudaMemoryTypeDevice);
  CUDA_OK(cudaPointerGetAttributes(&attributes, host.data()));
  CHECK(attributes.type == cudaMemoryTypeUnregistered);
  CUDA_OK(cudaPointerGetAttributes(&attributes, pinned));
  CHECK(attributes.type == cudaMemoryTypeHost);

  CUDA_FAILS(cudaFree(a + 1), cudaErrorInvalidValue);
  CUDA_FAILS(cudaFree(host.data()), cudaErrorInvalidValue);
  CUDA_FAILS(cudaFree(pinned), cudaErrorInvalidValue);
  CUDA_OK(cudaFree(a));
  CUDA_FAILS(cudaFree(a), cudaErrorInvalidValue);  // twice
  CUDA_OK(cudaFree(nullptr));
  CUDA_OK(cudaFree(b));
  CUDA_OK(cudaFree(fresh));
  CUDA_OK(cudaFreeHost(pinned));
  CUDA_FAILS(cudaGetLastError(), cudaErrorInvalidValue);
  CUDA_OK(cudaGetLastError());
  void* none = &f;
  CUDA_OK(cudaMalloc(&none, 0));
  CHECK(none == nullptr);
}

__global__ void add_one(float* x, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] += 1.0f;
}

__global__ void times_two(float* x, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= 2.0f;
}

void check_streams_and_events() {
  const int n = 1000;
  std::vector<float> host(n, 3.0f), back(n, 0.0f);
  DeviceBuffer<float> x(n);
  cudaStream_t s1, s2;
  cudaEvent_t start, done, untimed, never;
  CUDA_OK(cudaStreamCreate(&s1));
  CUDA_OK(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));
  CUDA_OK(cudaEventCreate(&start));
  CUDA_OK(cudaEventCreate(&done));
  CUDA_OK(cudaEventCreate(&never));
  CUDA_OK(cudaEventCreateWithFlags(&untimed, cudaEventDisableTiming));

  // ((3 + 1) * 2 + 1): the operations of s1, then s2 after the event, in order.
  CUDA_OK(cudaEventRecord(start, s1));
  CUDA_OK(cudaMemcpyAsync(x.get(), host.data(), n * sizeof(float), cudaMemcpyHostToDevice, s1));
  CUDA_OK(kiln::cuda::launch(add_one, dim3(4), dim3(256), 0, s1, x.get(), n));
  CUDA_OK(kiln::cuda::launch(times_two, dim3(4), dim3(256), 0, s1, x.get(), n));
  CUDA_OK(cudaEventRecord(done, s1));
  CUDA_OK(cudaStreamWaitEvent(s2, done, 0));
  CUDA_OK(kiln::cuda::launch(add_one, dim3(4), dim3(256), 0, s2, x.get(), n));
  CUDA_OK(cudaEventRecord(untimed, s2));
  CUDA_OK(cudaMemcpyAsync(back.data(), x.get(), n * sizeof(float), cudaMemcpyDeviceToHost, s2));
  CUDA_OK(cudaStreamSynchronize(s2));
  CUDA_OK(cudaEventSynchronize(untimed));
  CUDA_OK(cudaStreamQuery(s1));
  CUDA_OK(cudaDeviceSynchronize());
  CHECK(back == std::vector<float>(n, 9.0f));

  float ms = -1.0f;
  CUDA_OK(cudaEventElapsedTime(&ms, start, done));
  CHECK(ms >= 0.0f);
  CUDA_FAILS(cudaEventElapsedTime(&ms, start, untimed), cudaErrorInvalidResourceHandle);
  CUDA_FAILS(cudaEventElapsedTime(&ms, start, never), cudaErrorInvalidResourceHandle);
  CUDA_FAILS(cudaGetLastError(), cudaErrorInvalidResourceHandle);

  for (cudaEvent_t e : {start, done, untimed, never}) CUDA_OK(cudaEventDestroy(e));
  CUDA_FAILS(cudaEventRecord(start, s1), cudaErrorInvalidResourceHandle);
  CUDA_OK(cudaStreamDestroy(s1));
  CUDA_OK(cudaStreamDestroy(s2));
  CUDA_FAILS(cudaStreamSynchronize(s1), cudaErrorInvalidResourceHandle);
  CUDA_FAILS(cudaStreamDestroy(s1), cudaErrorInvalidResourceHandle);
  CUDA_FAILS(cudaGetLastError(), cudaErrorInvalidResourceHandle);
  CUDA_OK(cudaGetLastError());
}

void check_device() {
  int count = 0, device = -1, value = 0;
  CUDA_OK(cudaGetDeviceCount(&count));
  CHECK(count == 1);
  CUDA_OK(cudaGetDevice(&device));
  CHECK(device == 0);
  CUDA_FAILS(cudaSetDevice(1), cudaErrorInvalidDevice);
  CUDA_FAILS(cudaGetLastError(), cudaErrorInvalidDevice);
  cudaDeviceProp p;
  CUDA_OK(cudaGetDeviceProperties(&p, 0));
  CHECK(std::string(p.name) == "kiln emulated device");
  CHECK(p.maxThreadsPerBlock == 1024 && p.warpSize == 32 && p.sharedMemPerBlock == 48 * 1024);
  CHECK(p.maxThreadsDim[2] == 64 && p.maxGridSize[1] == 65535 && p.multiProcessorCount > 0);
  CUDA_OK(cudaDeviceGetAttribute(&value, cudaDevAttrMultiProcessorCount, 0));
  CHECK(value == p.multiProcessorCount);
  CUDA_OK(cudaDeviceGetAttribute(&value, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0));
  CHECK(static_cast<std::size_t>(value) == p.sharedMemPerBlockOptin);
  std::size_t free_bytes = 0, total_bytes = 0;
  CUDA_OK(cudaMemGetInfo(&free_bytes, &total_bytes));
  CHECK(free_bytes <= total_bytes && total_bytes == p.totalGlobalMem);
  CHECK(std::string(cudaGetErrorString(cudaErrorInvalidConfiguration)) == "invalid configuration argument");
  CHECK(std::string(cudaGetErrorName(cudaErrorLaunchFailure)) == "cudaErrorLaunchFailure");
}

// Lane 0 waits at __syncthreads while lanes 1-31 wait for it at a shuffle.
__global__ void deadlock(int* out) {
  if (threadIdx.x == 0)
    __syncthreads();
  else
    out[threadIdx.x] = __shfl_sync(0xffffffffu, static_cast<int>(threadIdx.x), 0);
}

// Lane 5 calls a collective whose mask leaves it out.
__global__ void mask_without_caller(int* out) {
  out[threadIdx.x] = static_cast<int>(__ballot_sync(threadIdx.x == 5 ? 0x1u : 0xffffffffu, 1));
}

// Lanes 16-31 exit while lanes 0-15 shuffle with a full mask.
__global__ void mask_names_exited(int* out) {
  if (threadIdx.x >= 16) return;
  out[threadIdx.x] = __shfl_down_sync(0xffffffffu, static_cast<int>(threadIdx.x), 1);
}

// A full mask in a block of 48 threads names lanes 16-31 of warp 1, which do not exist.
__global__ void mask_names_missing(int* out) {
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, static_cast<int>(threadIdx.x), 1);
}

__global__ void traps(int* out) {
  if (threadIdx.x == 3) __trap();
  out[threadIdx.x] = 1;
}

__global__ void throws(int* out) {
  if (blockIdx.x == 1) throw std::runtime_error("from a kernel");
  out[threadIdx.x] = 1;
}

template <class Kernel>
void expect_fault(Kernel kernel, dim3 block, const char* what, cudaError_t want = cudaErrorLaunchFailure) {
  {
    DeviceBuffer<int> out(64);
    CUDA_FAILS(kiln::cuda::launch(kernel, dim3(2), block, 0, 0, out.get()), want);
  }
  if (std::strstr(kiln::cuda_emu::last_failure(), what) == nullptr) {
    std::printf("expected a failure about '%s', got '%s'\n", what, kiln::cuda_emu::last_failure());
    ++failures();
  }
  // Sticky: every call fails until the device is reset.
  void* p = nullptr;
  CUDA_FAILS(cudaMalloc(&p, 16), want);
  CUDA_FAILS(cudaDeviceSynchronize(), want);
  CUDA_FAILS(cudaGetLastError(), want);
  CUDA_FAILS(cudaGetLastError(), want);
  CUDA_OK(cudaDeviceReset());
  CUDA_OK(cudaGetLastError());
  CUDA_OK(cudaMalloc(&p, 16));
  CUDA_OK(cudaFree(p));
  CHECK(std::string(kiln::cuda_emu::last_failure()).empty());
}

}  // namespace

int main() {
  check_copies();
  check_streams_and_events();
  check_device();
  expect_fault(deadlock, dim3(32), "cannot go on");
  expect_fault(mask_without_caller, dim3(32), "does not name the calling lane");
  expect_fault(mask_names_exited, dim3(32), "exited");
  expect_fault(mask_names_missing, dim3(48), "lanes this block does not have");
  expect_fault(traps, dim3(32), "__trap()", cudaErrorIllegalInstruction);
  expect_fault(throws, dim3(32), "from a kernel");
  std::printf("%s\n", failures() ? "FAILED" : "ok");
  return failures();
}
