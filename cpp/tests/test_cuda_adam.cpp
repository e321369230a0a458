// kiln::cuda::adam_step against the CPU's kiln::adam_step, on the device kiln was built
// for (the emulated one, or a GPU: the test is the same). Every flag combination
// (weight decay none / coupled / decoupled, amsgrad, maximize) over three steps, at
// sizes 1, 3, 4, 5, 1000003, with the buffers aligned, all offset by one float (a scalar
// head), and offset differently (no float4 path). Guard values after every output
// buffer must survive.
//
// Bit-identical to the CPU's vector kernels (AVX2 / AVX-512), which fuse the same
// multiply-adds; with KILN_CPU=portable (the plain loop, no fused multiply-add) the two
// differ by rounding only: at most a few float32 ulps relative to the update's size.
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "cuda_check.hpp"
#include "dispatch.hpp"
#include "kiln/adam.hpp"
#include "kiln/cuda/adam.hpp"

using kiln::index_t;

namespace {

constexpr int kGuard = 16;
constexpr float kGuardValue = 12345.678f;
constexpr int kArrays = 5;  // param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq

// Largest normwise difference seen against the portable loop, in float32 epsilons.
float& worst_ulps() {
  static float ulps = 0.0f;
  return ulps;
}
constexpr float kPortableUlps = 16.0f;

bool bit_identical() { return std::strcmp(kiln::detail::cpu_kernels().isa, "portable") != 0; }

// One case: n elements starting `offsets[a]` floats into array a's allocation.
int check_case(index_t n, const kiln::AdamParams& base, const int offsets[kArrays]) {
  const std::size_t alloc = n + 4 + kGuard;
  std::vector<std::vector<float>> host(kArrays);
  for (int a = 0; a < kArrays; ++a) {
    host[a] = random_floats(n, 100 + a);
    if (a == 3 || a == 4)
      for (float& v : host[a]) v = v * v * 0.01f;  // second moments are >= 0
    if (a == 4)
      for (index_t i = 0; i < n; i += 3) host[a][i] *= 3.0f;  // amsgrad's max wins sometimes
  }
  std::vector<float*> device(kArrays);
  for (int a = 0; a < kArrays; ++a) {
    CUDA_OK(cudaMalloc(&device[a], alloc * sizeof(float)));
    std::vector<float> image(alloc, kGuardValue);
    std::memcpy(image.data() + offsets[a], host[a].data(), n * sizeof(float));
    CUDA_OK(cudaMemcpy(device[a], image.data(), alloc * sizeof(float), cudaMemcpyHostToDevice));
  }
  cudaStream_t stream;
  CUDA_OK(cudaStreamCreate(&stream));
  float* d[kArrays];
  for (int a = 0; a < kArrays; ++a) d[a] = device[a] + offsets[a];

  int bad = 0;
  std::vector<std::vector<float>> want = host;
  for (index_t step = 1; step <= 3; ++step) {
    kiln::AdamParams p = base;
    p.step = step;
    kiln::adam_step(p, n, want[0].data(), want[1].data(), want[2].data(), want[3].data(),
                    p.amsgrad ? want[4].data() : nullptr);
    kiln::cuda::adam_step(p, n, d[0], d[1], d[2], d[3], p.amsgrad ? d[4] : nullptr, stream);
  }
  CUDA_OK(cudaStreamSynchronize(stream));
  CUDA_OK(cudaStreamDestroy(stream));

  for (int a = 0; a < kArrays; ++a) {
    std::vector<float> image(alloc);
    CUDA_OK(cudaMemcpy(image.data(), device[a], alloc * sizeof(float), cudaMemcpyDeviceToHost));
    CUDA_OK(cudaFree(device[a]));
    for (int g = 0; g < kGuard; ++g) bad += image[offsets[a] + n + g] != kGuardValue;
    for (int g = 0; g < offsets[a]; ++g) bad += image[g] != kGuardValue;
    const float* got = image.data() + offsets[a];
    if (bit_identical()) {
      bad += std::memcmp(got, want[a].data(), n * sizeof(float)) != 0;
    } else {
      // Normwise: the largest difference in units of float32 epsilon times the largest
      // magnitude of the array (before or after). Element by element the difference can
      // be large where a tiny second moment makes an update ill-conditioned.
      float scale = 0.0f, diff = 0.0f;
      for (index_t i = 0; i < n; ++i) {
        scale = std::fmax(scale, std::fmax(std::fabs(want[a][i]), std::fabs(host[a][i])));
        diff = std::fmax(diff, std::fabs(got[i] - want[a][i]));
      }
      const float ulps = scale > 0.0f ? diff / (scale * FLT_EPSILON) : diff;
      if (ulps > worst_ulps()) worst_ulps() = ulps;
      bad += !(ulps <= kPortableUlps);
    }
  }
  if (bad)
    std::printf("n=%lld decoupled=%d wd=%g amsgrad=%d maximize=%d offsets=%d,%d: %d mismatches\n",
                static_cast<long long>(n), base.decoupled, base.weight_decay, base.amsgrad,
                base.maximize, offsets[0], offsets[1], bad);
  return bad;
}

}  // namespace

int main() {
  if (!cuda_device_present()) return kSkipped;
  std::printf("CPU kernel: %s (%s)\n", kiln::detail::cpu_kernels().isa,
              bit_identical() ? "bit-identical" : "within rounding");
  const int aligned[kArrays] = {0, 0, 0, 0, 0};
  const int shifted[kArrays] = {1, 1, 1, 1, 1};
  const int mixed[kArrays] = {0, 1, 2, 3, 1};
  int cases = 0;
  for (index_t n : {1, 3, 4, 5, 1000003})
    for (int decay = 0; decay < 3; ++decay)
      for (int amsgrad = 0; amsgrad < 2; ++amsgrad)
        for (int maximize = 0; maximize < 2; ++maximize) {
          kiln::AdamParams p;
          p.lr = 1e-2;
          p.weight_decay = decay == 0 ? 0.0 : 0.05;
          p.decoupled = decay == 2;
          p.amsgrad = amsgrad;
          p.maximize = maximize;
          CHECK(check_case(n, p, aligned) == 0);
          ++cases;
          if (n < 1000 || (decay == 1 && amsgrad)) {
            CHECK(check_case(n, p, shifted) == 0);
            CHECK(check_case(n, p, mixed) == 0);
            cases += 2;
          }
        }

  // The CPU's argument checks, before anything is launched.
  float* x = nullptr;
  CUDA_OK(cudaMalloc(&x, 16));
  kiln::AdamParams p;
  p.step = 0;
  bool threw = false;
  try {
    kiln::cuda::adam_step(p, 4, x, x, x, x, nullptr);
  } catch (const std::invalid_argument& e) {
    threw = std::strstr(e.what(), "step must be >= 1") != nullptr;
  }
  CHECK(threw);
  p.step = 1;
  p.amsgrad = true;
  threw = false;
  try {
    kiln::cuda::adam_step(p, 4, x, x, x, x, nullptr);
  } catch (const std::invalid_argument& e) {
    threw = std::strstr(e.what(), "amsgrad needs max_exp_avg_sq") != nullptr;
  }
  CHECK(threw);
  p.amsgrad = false;
  kiln::cuda::adam_step(p, 0, nullptr, nullptr, nullptr, nullptr, nullptr);  // n = 0: nothing
  CUDA_OK(cudaFree(x));
  CUDA_OK(cudaDeviceSynchronize());

  if (!bit_identical()) std::printf("largest difference: %.2f ulps\n", worst_ulps());
  std::printf("%d cases: %s\n", cases, failures() ? "FAILED" : "ok");
  return failures();
}
