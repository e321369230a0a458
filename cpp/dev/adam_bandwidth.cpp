// Memory bandwidth floors for adam_step, beside kiln::adam_step itself.
//
// Build (after building the library into build/):
//   g++ -O3 -fopenmp -std=c++17 -Icpp/include cpp/dev/adam_bandwidth.cpp build/libkiln.a \
//       -o /tmp/adam_bandwidth
// Run: OMP_NUM_THREADS=2 /tmp/adam_bandwidth [n=10000000] [reps=15]
//
// Each candidate runs once per round, interleaved, and the medians are printed as GB/s at
// the bytes it moves: memcpy counts read + write; "stream 4r3w" reads four arrays and
// writes three of them in place (adam's access pattern, no arithmetic); adam counts 28 B/param.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kiln/adam.hpp"
#include "kiln/threads.hpp"

namespace {

double seconds(void (*fn)(void*), void* ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  fn(ctx);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Buffers {
  long n;
  std::vector<float> p, g, m, v, src, dst;
  int step = 0;
};

void run_memcpy(void* ctx) {
  auto& b = *static_cast<Buffers*>(ctx);
  const long len = static_cast<long>(b.src.size());
#pragma omp parallel
  {
    const long per = (len / omp_get_num_threads() + 15) / 16 * 16;
    const long lo = std::min(len, per * omp_get_thread_num()), hi = std::min(len, lo + per);
    if (lo < hi) std::memcpy(b.dst.data() + lo, b.src.data() + lo, (hi - lo) * sizeof(float));
  }
}

void run_stream(void* ctx) {
  auto& b = *static_cast<Buffers*>(ctx);
  float* __restrict p = b.p.data();
  const float* __restrict g = b.g.data();
  float* __restrict m = b.m.data();
  float* __restrict v = b.v.data();
#pragma omp parallel for schedule(static)
  for (long i = 0; i < b.n; ++i) {
    const float gi = g[i];
    m[i] += gi;
    v[i] += gi;
    p[i] -= gi;
  }
}

void run_adam(void* ctx) {
  auto& b = *static_cast<Buffers*>(ctx);
  kiln::AdamParams params;
  params.step = ++b.step;
  kiln::adam_step(params, b.n, b.p.data(), b.g.data(), b.m.data(), b.v.data(), nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::atol(argv[1]) : 10000000;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 15;
  Buffers b{n, std::vector<float>(n, 0.5f), std::vector<float>(n, 0.1f), std::vector<float>(n, 0.0f),
            std::vector<float>(n, 0.0f), std::vector<float>(n * 7 / 2, 1.0f),
            std::vector<float>(n * 7 / 2, 0.0f)};
  const char* names[] = {"memcpy (2 x 14 B/param)", "stream 4r3w (28 B/param)", "kiln adam_step"};
  void (*fns[])(void*) = {run_memcpy, run_stream, run_adam};
  const double bytes[] = {28.0 * n, 28.0 * n, 28.0 * n};
  std::vector<double> t[3];
  for (int r = 0; r < reps; ++r)
    for (int c = 0; c < 3; ++c) t[c].push_back(seconds(fns[c], &b));
  std::printf("n=%ld threads=%d\n", n, omp_get_max_threads());
  for (int c = 0; c < 3; ++c) {
    std::sort(t[c].begin(), t[c].end());
    const double med = t[c][t[c].size() / 2];
    std::printf("%-26s %8.2f ms %7.1f GB/s\n", names[c], med * 1e3, bytes[c] / med / 1e9);
  }
  return 0;
}
