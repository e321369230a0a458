// Times the parts of one LSTM cell step (B=64, I=256, H=1024 unless given): the two GEMMs,
// a sequence step's recurrent GEMM with W_hh packed per call or once,
// the fused gate pass (forward and backward) of the dispatched ISA and of the portable
// code, and a copy of the bytes the forward pass moves (its bandwidth floor). Medians.
//
//   g++ -O3 -std=c++17 -fopenmp -Icpp/include -Icpp/src/cpu cpp/dev/lstm_parts.cpp \
//       build/libkiln.a -o /tmp/lstm_parts && /tmp/lstm_parts [B I H]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include "dispatch.hpp"
#include "gemm.hpp"
#include "kiln/threads.hpp"

using namespace kiln;

double median_ms(const std::function<void()>& fn, int reps = 21) {
  std::vector<double> t;
  fn();
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

int main(int argc, char** argv) {
  const index_t B = argc > 3 ? std::atol(argv[1]) : 64, I = argc > 3 ? std::atol(argv[2]) : 256,
                H = argc > 3 ? std::atol(argv[3]) : 1024, G = 4 * H;
  std::vector<float> x(B * I, 0.1f), h(B * H, 0.2f), c(B * H, 0.3f), w_ih(G * I, 0.01f),
      w_hh(G * H, 0.01f), pre(B * G), gates(B * G, 0.5f), c2(B * H), h2(B * H), d_pre(B * G),
      dc(B * H);
  const auto& k = detail::cpu_kernels();
  auto forward_rows = [&](detail::LstmGatesForward fwd) {
    for (index_t b = 0; b < B; ++b)
      fwd(H, {gates.data() + b * G, H, nullptr, 0, gates.data() + b * G, H, c.data() + b * H,
              c2.data() + b * H, h2.data() + b * H});
  };
  auto backward_rows = [&](detail::LstmGatesBackward bwd) {
    for (index_t b = 0; b < B; ++b)
      bwd(H, H, {gates.data() + b * G, c.data() + b * H, c2.data() + b * H, h.data() + b * H,
                 h2.data() + b * H, c.data() + b * H, d_pre.data() + b * G, dc.data() + b * H});
  };
  for (index_t i = 0; i < B * G; ++i) pre[i] = 0.001f * static_cast<float>(i % 4000) - 2.0f;
  std::vector<float> src(B * (G + 3 * H)), dst(B * (G + 3 * H));
  set_num_threads(1);
  const double copy_ms = median_ms([&] { std::memcpy(dst.data(), src.data(), src.size() * 4); });
  const double fwd_ms = median_ms([&] {
    std::copy(pre.begin(), pre.end(), gates.begin());
    forward_rows(k.lstm_gates.forward);
  });
  const double fwd_portable_ms = median_ms([&] {
    std::copy(pre.begin(), pre.end(), gates.begin());
    forward_rows(&detail::lstm_gates_forward_portable);
  });
  const double refill_ms = median_ms([&] { std::copy(pre.begin(), pre.end(), gates.begin()); });
  const double bwd_ms = median_ms([&] { backward_rows(k.lstm_gates.backward); });
  const double bwd_portable_ms = median_ms([&] { backward_rows(&detail::lstm_gates_backward_portable); });
  std::printf("B=%ld I=%ld H=%ld, isa %s, 1 thread\n", (long)B, (long)I, (long)H, k.isa);
  std::printf("copy of the forward's %.1f MB             %7.3f ms\n", src.size() * 4 / 1e6, copy_ms);
  std::printf("gate pass forward  %-8s               %7.3f ms  (portable %7.3f)\n", k.isa,
              fwd_ms - refill_ms, fwd_portable_ms - refill_ms);
  std::printf("gate pass backward %-8s               %7.3f ms  (portable %7.3f)\n", k.isa, bwd_ms,
              bwd_portable_ms);
  for (int t : {1, 2}) {
    set_num_threads(t);
    const double gemm_ms = median_ms([&] {
      detail::gemm(B, G, I, 1.0f, {x.data(), I, 1}, {w_ih.data(), 1, I}, 0.0f, pre.data(), G);
      detail::gemm(B, G, H, 1.0f, {h.data(), H, 1}, {w_hh.data(), 1, H}, 1.0f, pre.data(), G);
    });
    std::printf("%d threads: cell GEMMs %.3f ms = %.1f GFLOP/s\n", t, gemm_ms,
                2.0 * B * G * (I + H) / gemm_ms / 1e6);
    // One step of a sequence: h @ W_hh^T packing W_hh each call, or reading it packed once.
    const detail::PackedB packed(H, G, {w_hh.data(), 1, H});
    const double step_ms = median_ms([&] {
      detail::gemm(B, G, H, 1.0f, {h.data(), H, 1}, {w_hh.data(), 1, H}, 1.0f, pre.data(), G);
    });
    const double packed_ms = median_ms([&] {
      detail::gemm_packed_b(B, 1.0f, {h.data(), H, 1}, packed, 1.0f, pre.data(), G);
    });
    std::printf("%d threads: recurrent step GEMM %.3f ms, with W_hh packed once %.3f ms\n", t,
                step_ms, packed_ms);
  }
}
