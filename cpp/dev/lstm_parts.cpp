// Times the parts of the LSTM (B=64, I=256, H=1024, T=50 unless given), medians, at 1 and
// 2 threads: the cell step with its weights packed once (the fused GEMM + gates) against
// the same GEMM alone on the same panels (the engine's floor for it), the packing, the
// cell packing per call; a sequence's forward and backward and their GEMMs on their own.
//
//   g++ -O3 -std=c++17 -fopenmp -Icpp/include -Icpp/src/cpu cpp/dev/lstm_parts.cpp \
//       build/libkiln.a -o /tmp/lstm_parts && /tmp/lstm_parts [B I H T]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

#include "dispatch.hpp"
#include "gemm.hpp"
#include "kiln/lstm.hpp"
#include "kiln/threads.hpp"

using namespace kiln;

double median_ms(const std::function<void()>& fn, int reps = 11) {
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
  const bool given = argc > 4;
  const index_t B = given ? std::atol(argv[1]) : 64, I = given ? std::atol(argv[2]) : 256,
                H = given ? std::atol(argv[3]) : 1024, T = given ? std::atol(argv[4]) : 50;
  const index_t G = 4 * H, K = I + H;
  std::vector<float> x(T * B * I, 0.1f), h(B * H, 0.2f), c(B * H, 0.3f), w_ih(G * I, 0.01f),
      w_hh(G * H, 0.01f), b(G, 0.1f), h2(B * H), c2(B * H), gates(B * G), xh(B * K, 0.1f),
      scratch(B * (G + 64));
  std::vector<float> y(T * B * H), sg(T * B * G), cells(T * B * H), dy(T * B * H, 0.01f),
      dx(T * B * I), dh0(B * H), dc0(B * H), dw_ih(G * I), dw_hh(G * H), db(G), d_pre(T * B * G);
  const LstmParams p{B, I, H, 1}, ps{B, I, H, T};
  std::printf("B=%ld I=%ld H=%ld T=%ld, isa %s\n", (long)B, (long)I, (long)H, (long)T,
              detail::cpu_kernels().isa);
  const double cell_gflop = 2.0 * B * G * K / 1e6;  // per ms
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    const LstmPackedWeights packed(p, w_ih.data(), w_hh.data());
    const double pack_ms = median_ms([&] { LstmPackedWeights again(p, w_ih.data(), w_hh.data()); });
    const double cell_ms = median_ms([&] {
      lstm_cell_forward(p, packed, x.data(), h.data(), c.data(), b.data(), b.data(), h2.data(),
                        c2.data(), nullptr);
    });
    const double cell_gates_ms = median_ms([&] {
      lstm_cell_forward(p, packed, x.data(), h.data(), c.data(), b.data(), b.data(), h2.data(),
                        c2.data(), gates.data());
    });
    const double gemm_ms = median_ms([&] {
      detail::gemm_packed_b(B, 1.0f, {xh.data(), K, 1}, packed.panels(), 0.0f, scratch.data(),
                            packed.panels().n());
    });
    const double unpacked_ms = median_ms([&] {
      lstm_cell_forward(p, x.data(), h.data(), c.data(), w_ih.data(), w_hh.data(), b.data(),
                        b.data(), h2.data(), c2.data(), gates.data());
    });
    std::printf("%d threads: cell packed %.3f ms (%.0f GFLOP/s), with gates kept %.3f; its GEMM "
                "alone %.3f ms (%.0f GFLOP/s); packing %.3f ms; cell packing per call %.3f ms\n",
                threads, cell_ms, cell_gflop / cell_ms, cell_gates_ms, gemm_ms, cell_gflop / gemm_ms,
                pack_ms, unpacked_ms);
    const double fwd_ms = median_ms([&] {
      lstm_sequence_forward(ps, x.data(), h.data(), c.data(), w_ih.data(), w_hh.data(), b.data(),
                            b.data(), y.data(), h2.data(), c2.data(), sg.data(), cells.data());
    }, 3);
    const double bwd_ms = median_ms([&] {
      lstm_sequence_backward(ps, x.data(), h.data(), c.data(), w_ih.data(), w_hh.data(), y.data(),
                             sg.data(), cells.data(), dy.data(), nullptr, nullptr, dx.data(),
                             dh0.data(), dc0.data(), dw_ih.data(), dw_hh.data(), db.data());
    }, 3);
    // The backward's GEMMs alone: T steps of dh = d_pre @ W_hh, then dx, dW_ih, dW_hh.
    const detail::PackedB packed_hh(G, H, {w_hh.data(), H, 1});
    const double bwd_gemm_ms = median_ms([&] {
      for (index_t t = 0; t < T; ++t)
        detail::gemm_packed_b(B, 1.0f, {d_pre.data() + t * B * G, G, 1}, packed_hh, 0.0f,
                              dh0.data(), H);
      detail::gemm(T * B, I, G, 1.0f, {d_pre.data(), G, 1}, {w_ih.data(), I, 1}, 0.0f, dx.data(), I);
      detail::gemm(G, I, T * B, 1.0f, {d_pre.data(), 1, G}, {x.data(), I, 1}, 0.0f, dw_ih.data(), I);
      detail::gemm(G, H, T * B, 1.0f, {d_pre.data(), 1, G}, {y.data(), H, 1}, 0.0f, dw_hh.data(), H);
    }, 3);
    const double fwd_flop = 2.0 * T * B * G * K, bwd_flop = 2.0 * fwd_flop;
    std::printf("%d threads: sequence forward %.1f ms (%.0f GFLOP/s), backward %.1f ms (%.0f "
                "GFLOP/s), the backward's GEMMs alone %.1f ms (%.0f GFLOP/s)\n",
                threads, fwd_ms, fwd_flop / fwd_ms / 1e6, bwd_ms, bwd_flop / bwd_ms / 1e6,
                bwd_gemm_ms, bwd_flop / bwd_gemm_ms / 1e6);
  }
}
