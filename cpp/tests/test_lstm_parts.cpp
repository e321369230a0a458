// The pieces the LSTM is built from, on their own: gemm_packed_b against gemm (bit-equal:
// same loop nest, same summation order) across every blocking edge and both thread
// counts, and each gate pass this CPU supports against the portable one, at every span
// length around the vector widths.
#include <cstdio>
#include <vector>

#include "check.hpp"
#include "dispatch.hpp"
#include "gemm.hpp"
#include "kiln/threads.hpp"

using kiln::index_t;
using namespace kiln::detail;

namespace {

void check_packed_b(index_t m, index_t n, index_t k, bool transposed_b, float beta) {
  const std::vector<float> a = random_floats(m * k, 1), b = random_floats(k * n, 2);
  const std::vector<float> c0 = random_floats(m * n, 3);
  const StridedMatrix bm = transposed_b ? StridedMatrix{b.data(), 1, k} : StridedMatrix{b.data(), n, 1};
  const PackedB packed(k, n, bm);
  for (int threads : {1, 2}) {
    kiln::set_num_threads(threads);
    Guarded<float> want(c0), got(c0);
    gemm(m, n, k, 0.5f, {a.data(), k, 1}, bm, beta, want.data(), n);
    gemm_packed_b(m, 0.5f, {a.data(), k, 1}, packed, beta, got.data(), n);
    CHECK_GUARDS(want, "gemm");
    CHECK_GUARDS(got, "gemm_packed_b");
    if (got.values() != want.values()) {
      std::printf("gemm_packed_b m=%ld n=%ld k=%ld threads=%d differs from gemm\n",
                  static_cast<long>(m), static_cast<long>(n), static_cast<long>(k), threads);
      ++failures();
    }
  }
  kiln::set_num_threads(0);
}

// Gate values spread over the range the nonlinearities see, so both clamps are crossed.
std::vector<float> spread(index_t count, unsigned seed, float scale) {
  std::vector<float> v = random_floats(count, seed);
  for (index_t i = 0; i < count; ++i) v[i] *= scale * static_cast<float>(1 + i % 7);
  return v;
}

void check_gate_passes(const char* isa, LstmGatesForward forward, LstmGatesBackward backward) {
  for (index_t n : {1, 7, 8, 9, 15, 16, 17, 31, 33, 100}) {
    const index_t H = n + 3;  // the chunks of a row lie H apart; units past n stay untouched
    const std::vector<float> pre = spread(4 * H, 4, 4.0f), c_prev = spread(H, 5, 2.0f);
    Guarded<float> gates_guarded(pre), c_guarded(H, -7.0f), h_guarded(H, -7.0f);
    std::vector<float> gates_want = pre, c_want(H, -7.0f), h_want(H, -7.0f);
    forward(n, H, {gates_guarded.data(), c_prev.data(), c_guarded.data(), h_guarded.data()});
    CHECK_GUARDS(gates_guarded, isa);
    CHECK_GUARDS(c_guarded, isa);
    CHECK_GUARDS(h_guarded, isa);
    const std::vector<float> gates_got = gates_guarded.values(), c_got = c_guarded.values(),
                             h_got = h_guarded.values();
    lstm_gates_forward_portable(n, H, {gates_want.data(), c_prev.data(), c_want.data(), h_want.data()});
    const std::vector<float> upstream = random_floats(3 * H, 6);
    Guarded<float> d_guarded(4 * H, -7.0f), dc_guarded(H, -7.0f);
    std::vector<float> d_want(4 * H, -7.0f), dc_want(H, -7.0f);
    backward(n, H, {gates_want.data(), c_prev.data(), c_want.data(), upstream.data(),
                    upstream.data() + H, upstream.data() + 2 * H, d_guarded.data(),
                    dc_guarded.data()});
    CHECK_GUARDS(d_guarded, isa);
    CHECK_GUARDS(dc_guarded, isa);
    const std::vector<float> d_got = d_guarded.values(), dc_got = dc_guarded.values();
    lstm_gates_backward_portable(n, H, {gates_want.data(), c_prev.data(), c_want.data(),
                                        upstream.data(), upstream.data() + H,
                                        upstream.data() + 2 * H, d_want.data(), dc_want.data()});
    const std::vector<float>* got[] = {&gates_got, &c_got, &h_got, &d_got, &dc_got};
    const std::vector<float>* want[] = {&gates_want, &c_want, &h_want, &d_want, &dc_want};
    for (int o = 0; o < 5; ++o) {
      const std::vector<double> w(want[o]->begin(), want[o]->end());
      const double err = rel_error(*got[o], w);
      if (!(err < 1e-6)) {
        std::printf("%s gate pass n=%ld output %d: relative error %.3e\n", isa,
                    static_cast<long>(n), o, err);
        ++failures();
      }
      for (index_t chunk = 0; chunk < static_cast<index_t>(got[o]->size()); chunk += H)
        for (index_t j = n; j < H; ++j) CHECK((*got[o])[chunk + j] == (*want[o])[chunk + j]);
    }
  }
}

}  // namespace

int main() {
  const GemmKernel& kern = cpu_kernels().gemm;
  const index_t mc = kern.mc, kc = kern.kc, nc = kern.nc, mr = kern.mr, nr = kern.nr;
  for (bool transposed : {true, false}) {
    for (float beta : {0.0f, 1.0f}) {
      check_packed_b(1, 1, 1, transposed, beta);
      check_packed_b(mr + 1, nr + 3, kc + 5, transposed, beta);
      check_packed_b(64, 4 * 37, 37, transposed, beta);
      check_packed_b(mc + mr + 1, nc + nr + 5, 2 * kc + 1, transposed, beta);
    }
  }
  check_packed_b(5, 9, 0, true, 0.5f);  // k = 0: C = beta * C

  const CpuKernels& k = cpu_kernels();
  check_gate_passes(k.isa, k.lstm_gates.forward, k.lstm_gates.backward);
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    check_gate_passes("avx2", &lstm_gates_forward_avx2, &lstm_gates_backward_avx2);
  if (__builtin_cpu_supports("avx512f"))
    check_gate_passes("avx512", &lstm_gates_forward_avx512, &lstm_gates_backward_avx512);
#endif
  std::printf("%d failures\n", failures());
  return failures() == 0 ? 0 : 1;
}
