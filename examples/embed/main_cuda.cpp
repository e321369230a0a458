// kiln's CUDA kernels from plain C++, on the device kiln was built for: a GPU (KILN_CUDA=ON)
// or the emulated device (KILN_CUDA=EMULATE), through the same CUDA runtime calls. Each result
// is checked against kiln's CPU kernel on the same inputs: one Adam step over a flat buffer,
// then the gradient's sum of squares by the array primitives (multiply, then a row reduction).
#include <kiln/kiln.hpp>
#include <kiln/cuda/adam.hpp>
#include <kiln/cuda/runtime.hpp>
#include <kiln/cuda/tensor.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

namespace {

bool check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) std::printf("%s: %s\n", what, cudaGetErrorString(e));
  return e == cudaSuccess;
}

float* to_device(const std::vector<float>& host) {
  float* p = nullptr;
  if (!check(cudaMalloc(&p, host.size() * sizeof(float)), "cudaMalloc")) return nullptr;
  check(cudaMemcpy(p, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy");
  return p;
}

std::vector<float> to_host(const float* p, std::size_t n) {
  std::vector<float> host(n);
  check(cudaMemcpy(host.data(), p, n * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy");
  return host;
}

}  // namespace

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: nothing to check\n");
    return 0;
  }
  const std::size_t n = 1000;
  std::vector<float> param(n), grad(n), zeros(n, 0.0f);
  for (std::size_t i = 0; i < n; ++i) {
    param[i] = std::sin(0.1f * static_cast<float>(i));
    grad[i] = std::cos(0.37f * static_cast<float>(i));
  }
  kiln::AdamParams p;
  p.step = 1;
  p.lr = 1e-2;

  // The CPU kernel, in place on host copies.
  std::vector<float> cpu_param = param, cpu_m = zeros, cpu_v = zeros;
  kiln::adam_step(p, static_cast<kiln::index_t>(n), cpu_param.data(), grad.data(), cpu_m.data(), cpu_v.data(),
                  nullptr);

  // The same step on the device, and the sum of squares of the gradient there.
  float *d_param = to_device(param), *d_grad = to_device(grad), *d_m = to_device(zeros), *d_v = to_device(zeros);
  float *d_squares = to_device(zeros), *d_sum = to_device(std::vector<float>(1));
  kiln::cuda::adam_step(p, static_cast<kiln::index_t>(n), d_param, d_grad, d_m, d_v, nullptr);
  kiln::cuda::Shape shape;
  shape.ndim = 1;
  shape.dims[0] = static_cast<kiln::index_t>(n);
  kiln::cuda::Operand squares, g;
  squares.data = d_squares;
  g.data = d_grad;
  squares.strides[0] = g.strides[0] = 1;
  kiln::cuda::binary(kiln::cuda::BinaryOp::multiply, shape, squares, g, g);
  kiln::cuda::reduce_rows(kiln::cuda::ReduceOp::sum, 1, static_cast<kiln::index_t>(n), d_squares,
                          kiln::cuda::DType::float32, d_sum);
  if (!check(cudaDeviceSynchronize(), "cudaDeviceSynchronize")) return 1;

  const std::vector<float> gpu_param = to_host(d_param, n), sum = to_host(d_sum, 1);
  double adam_diff = 0.0, want_sum = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    adam_diff = std::fmax(adam_diff, std::fabs(gpu_param[i] - cpu_param[i]));
    want_sum += static_cast<double>(grad[i]) * grad[i];
  }
  const double sum_diff = std::fabs(sum[0] - want_sum) / want_sum;
  std::printf("%-34s max |cuda - cpu| = %.2e\n", "adam_step (1000 parameters)", adam_diff);
  std::printf("%-34s relative error  = %.2e\n", "sum of squares (multiply, reduce)", sum_diff);
  for (float* d : {d_param, d_grad, d_m, d_v, d_squares, d_sum}) cudaFree(d);
  const bool ok = adam_diff <= 1e-6 && sum_diff <= 1e-6;
  std::printf(ok ? "all CUDA kernels agree with the CPU\n" : "MISMATCH\n");
  return ok ? 0 : 1;
}
