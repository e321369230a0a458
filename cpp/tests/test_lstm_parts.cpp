// The pieces the LSTM is built from, on their own: gemm_packed_b against gemm (bit-equal:
// same loop nest, same summation order) across every blocking edge and both thread
// counts, B packed from parts with its columns reordered, the block epilogue (every
// block of C handed on exactly once, final), and each gate pass this CPU supports against
// the portable one, at every span length around the vector widths.
#include <cstdio>
#include <mutex>
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

// B (k1 + k2, n) stacked from two transposed weights W1 (n1, k1), W2 (n1, k2) with a column
// map (some columns zero), against gemm on that B built explicitly; and the epilogue sees
// every element of C once, after its last update, in groups of `group` columns.
void check_parts_and_epilogue(index_t m, index_t n1, index_t k1, index_t k2, index_t n) {
  const index_t k = k1 + k2, group = 64;
  const std::vector<float> a = random_floats(m * k, 7), w1 = random_floats(n1 * k1, 8),
                           w2 = random_floats(n1 * k2, 9);
  std::vector<index_t> columns(static_cast<std::size_t>(n));
  std::vector<float> b(static_cast<std::size_t>(k * n), 0.0f);
  for (index_t j = 0; j < n; ++j) {
    columns[j] = (j * 7) % (n1 + 3) < n1 ? (j * 7) % (n1 + 3) : -1;
    if (columns[j] < 0) continue;
    for (index_t p = 0; p < k1; ++p) b[p * n + j] = w1[columns[j] * k1 + p];
    for (index_t p = 0; p < k2; ++p) b[(k1 + p) * n + j] = w2[columns[j] * k2 + p];
  }
  const PackedB packed(n, {{{w1.data(), 1, k1}, k1}, {{w2.data(), 1, k2}, k2}}, columns);
  for (int threads : {1, 2}) {
    kiln::set_num_threads(threads);
    std::vector<float> want(static_cast<std::size_t>(m * n)), got(want.size(), -1.0f),
        seen(want.size(), 0.0f), c(want.size());
    gemm(m, n, k, 1.0f, {a.data(), k, 1}, {b.data(), n, 1}, 0.0f, want.data(), n);
    std::mutex lock;
    bool aligned = true;
    const BlockEpilogue epilogue{group, [&](index_t r0, index_t rows, index_t c0, index_t cols) {
      std::lock_guard<std::mutex> hold(lock);
      aligned = aligned && c0 % group == 0 && (cols % group == 0 || c0 + cols == n);
      for (index_t i = r0; i < r0 + rows; ++i)
        for (index_t j = c0; j < c0 + cols; ++j) {
          seen[i * n + j] += 1.0f;
          got[i * n + j] = c[i * n + j];  // what the epilogue sees must be final
        }
    }};
    gemm_packed_b(m, 1.0f, {a.data(), k, 1}, packed, 0.0f, c.data(), n, 0, &epilogue);
    CHECK(aligned);
    for (std::size_t e = 0; e < c.size(); ++e) CHECK(seen[e] == 1.0f);
    if (c != want || got != want) {
      std::printf("gemm_packed_b from parts m=%ld n=%ld k=%ld+%ld threads=%d differs from gemm\n",
                  static_cast<long>(m), static_cast<long>(n), static_cast<long>(k1),
                  static_cast<long>(k2), threads);
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
    // Pre-activations with another chunk stride than the addend's and the gates' (the GEMM's
    // interleaved panels), the gates written over the addend (a sequence's projection).
    const index_t P = n + 5;
    const std::vector<float> pre = spread(4 * P, 4, 2.0f), addend = spread(4 * H, 10, 2.0f),
                             c_prev = spread(H, 5, 2.0f);
    Guarded<float> gates_guarded(addend), c_guarded(H, -7.0f), h_guarded(H, -7.0f);
    std::vector<float> gates_want = addend, c_want(H, -7.0f), h_want(H, -7.0f);
    forward(n, {pre.data(), P, gates_guarded.data(), H, gates_guarded.data(), H, c_prev.data(),
                c_guarded.data(), h_guarded.data()});
    CHECK_GUARDS(gates_guarded, isa);
    CHECK_GUARDS(c_guarded, isa);
    CHECK_GUARDS(h_guarded, isa);
    const std::vector<float> gates_got = gates_guarded.values(), c_got = c_guarded.values(),
                             h_got = h_guarded.values();
    lstm_gates_forward_portable(n, {pre.data(), P, gates_want.data(), H, gates_want.data(), H,
                                    c_prev.data(), c_want.data(), h_want.data()});
    // Without an addend and without keeping the gates: the same cell and hidden state as
    // from the sum computed beforehand.
    std::vector<float> summed(4 * H), c_alone(H, -7.0f), h_alone(H, -7.0f);
    for (index_t q = 0; q < 4; ++q)
      for (index_t j = 0; j < H; ++j) summed[q * H + j] = j < n ? pre[q * P + j] + addend[q * H + j] : 0.0f;
    forward(n, {summed.data(), H, nullptr, 0, nullptr, 0, c_prev.data(), c_alone.data(), h_alone.data()});
    for (index_t j = 0; j < H; ++j) CHECK(c_alone[j] == c_got[j] && h_alone[j] == h_got[j]);
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
  check_parts_and_epilogue(3, 5, 2, 3, 64);  // the small-product path
  check_parts_and_epilogue(mr + 1, 50, kc - 3, 9, 3 * 64);
  check_parts_and_epilogue(mc + mr + 1, 200, 37, kc + 5, nc + 2 * 64);

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
