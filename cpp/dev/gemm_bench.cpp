// Scratch harness: the GEMM micro-kernel alone (panels in L1) vs the whole GEMM.
//
//   cmake --build build && g++ -O2 -std=c++17 -fopenmp -Icpp/include -Icpp/src/cpu \
//       cpp/dev/gemm_bench.cpp build/libkiln.a -o /tmp/gemm_bench && /tmp/gemm_bench [threads]
//
// Prints GFLOP/s, best of many runs (the machine is shared: the best run is the
// least disturbed one). KILN_CPU picks the ISA as in the library.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "dispatch.hpp"
#include "gemm.hpp"
#include "kiln/threads.hpp"

using kiln::index_t;

template <class F>
double best_seconds(F&& f, int reps) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  kiln::set_num_threads(threads);
  const auto& kern = kiln::detail::cpu_kernels().gemm;
  std::printf("%s mr=%d nr=%d mc=%ld kc=%ld nc=%ld, %d threads\n", kern.name, kern.mr, kern.nr,
              (long)kern.mc, (long)kern.kc, (long)kern.nc, threads);
  {
    const index_t k = kern.kc;
    float* a = static_cast<float*>(std::aligned_alloc(64, k * kern.mr * 4));
    float* b = static_cast<float*>(std::aligned_alloc(64, k * kern.nr * 4));
    for (index_t i = 0; i < k * kern.mr; ++i) a[i] = 0.001f * (i % 7);
    for (index_t i = 0; i < k * kern.nr; ++i) b[i] = 0.001f * (i % 5);
    alignas(64) float c[64 * 64];
    const int calls = 2000;
    const double s = best_seconds([&] {
      for (int i = 0; i < calls; ++i) kern.micro_kernel(k, a, b, c, kern.nr, 1.0f, 1.0f);
    }, 50);
    std::printf("micro-kernel k=%ld: %.1f GFLOP/s\n", (long)k, 2.0 * kern.mr * kern.nr * k * calls / s / 1e9);
  }
  for (index_t n : {64, 128, 256, 512, 1024, 2048}) {
    std::vector<float> a(n * n, 0.5f), b(n * n, 0.25f), c(n * n);
    const int reps = n <= 256 ? 200 : n <= 1024 ? 10 : 3;
    const double s = best_seconds([&] {
      kiln::detail::gemm(n, n, n, 1.0f, {a.data(), n, 1}, {b.data(), n, 1}, 0.0f, c.data(), n);
    }, reps);
    std::printf("gemm n=%ld: %.1f GFLOP/s\n", (long)n, 2.0 * n * n * n / s / 1e9);
  }
}
