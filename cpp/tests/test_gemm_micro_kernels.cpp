// Each micro-kernel this CPU supports against the portable reference micro-kernel,
// on its own: packed panels in, one MR x NR tile out, alpha/beta as the contract says.
// The direct (small-product) kernels against a plain float64 loop, every layout and edge.
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "check.hpp"
#include "dispatch.hpp"
#include "gemm_ukr.hpp"

using kiln::index_t;
using kiln::detail::GemmMicroKernel;

namespace {

template <int MR, int NR>
void check_micro_kernel(const char* name, GemmMicroKernel kernel) {
  for (index_t k : {1, 2, 7, 64, 257}) {
    // 64-byte aligned panels, as the packing routines produce.
    auto* a = static_cast<float*>(std::aligned_alloc(64, ((k * MR * 4 + 63) / 64) * 64));
    auto* b = static_cast<float*>(std::aligned_alloc(64, ((k * NR * 4 + 63) / 64) * 64));
    const auto av = random_floats(k * MR, 1), bv = random_floats(k * NR, 2);
    std::copy(av.begin(), av.end(), a);
    std::copy(bv.begin(), bv.end(), b);
    for (float beta : {0.0f, 1.0f, -0.5f}) {
      const index_t ldc = NR + 3;
      std::vector<float> c0 = random_floats(MR * ldc, 3);
      if (beta == 0.0f)
        for (auto& x : c0) x = NAN;  // beta == 0 must not read C
      std::vector<float> want = c0;
      Guarded<float> guarded(c0);
      kernel(k, a, b, guarded.data(), ldc, 0.75f, beta);
      CHECK_GUARDS(guarded, name);
      const std::vector<float> got = guarded.values();
      kiln::detail::gemm_ukr_portable<MR, NR>(k, a, b, want.data(), ldc, 0.75f, beta);
      std::vector<double> want_d(want.begin(), want.end());
      std::vector<float> got_tile, padding_got, padding_want;
      std::vector<double> want_tile;
      for (int i = 0; i < MR; ++i)
        for (index_t j = 0; j < ldc; ++j) {
          if (j < NR) {
            got_tile.push_back(got[i * ldc + j]);
            want_tile.push_back(want[i * ldc + j]);
          } else {  // columns past NR belong to someone else: untouched
            CHECK(std::isnan(got[i * ldc + j]) == std::isnan(c0[i * ldc + j]));
            if (!std::isnan(c0[i * ldc + j])) CHECK(got[i * ldc + j] == c0[i * ldc + j]);
          }
        }
      const double err = rel_error(got_tile, want_tile);
      if (!(err < 1e-5 * std::sqrt(static_cast<double>(k)))) {
        std::printf("%s k=%ld beta=%g: relative error %.3e\n", name, static_cast<long>(k), beta, err);
        ++failures();
      }
    }
    std::free(a);
    std::free(b);
  }
}

// An edge kernel (the first ROWS rows of an MR x NR tile, from the same MR-row A panel) against
// the full micro-kernel: bit for bit on its rows (the same FMA chain per element), and no write
// past them.
template <int MR, int NR, int ROWS>
void check_edge_kernel(const char* name, GemmMicroKernel edge, GemmMicroKernel full) {
  for (index_t k : {1, 2, 7, 64, 257}) {
    auto* a = static_cast<float*>(std::aligned_alloc(64, ((k * MR * 4 + 63) / 64) * 64));
    auto* b = static_cast<float*>(std::aligned_alloc(64, ((k * NR * 4 + 63) / 64) * 64));
    const auto av = random_floats(k * MR, 12), bv = random_floats(k * NR, 13);
    std::copy(av.begin(), av.end(), a);
    std::copy(bv.begin(), bv.end(), b);
    for (float beta : {0.0f, -0.5f}) {
      const index_t ldc = NR + 3;
      const std::vector<float> c0 = random_floats(MR * ldc, 14);
      std::vector<float> want = c0;
      full(k, a, b, want.data(), ldc, 0.75f, beta);
      Guarded<float> got(std::vector<float>(c0.begin(), c0.begin() + ROWS * ldc));
      edge(k, a, b, got.data(), ldc, 0.75f, beta);
      CHECK_GUARDS(got, name);
      for (index_t e = 0; e < ROWS * ldc; ++e) {
        if (got[e] != want[e]) {
          std::printf("%s k=%ld beta=%g: element %ld differs from the full tile's\n", name,
                      static_cast<long>(k), beta, static_cast<long>(e));
          ++failures();
          break;
        }
      }
    }
    std::free(a);
    std::free(b);
  }
}

// C = alpha * A @ B + beta * C + biases, relu, from A and B in place; guard columns stay put.
void check_direct_kernel(const char* name, kiln::detail::GemmDirectKernel kernel) {
  const index_t sizes[][3] = {{1, 1, 1}, {1, 17, 3}, {6, 16, 4}, {7, 9, 1}, {5, 8, 13},
                              {13, 33, 21}, {64, 64, 64}, {19, 70, 9}, {2, 23, 70},
                              {7, 130, 5}, {12, 48, 3}, {6, 65, 2}};
  for (const auto& s : sizes) {
    const index_t m = s[0], n = s[1], k = s[2];
    for (int layout = 0; layout < 4; ++layout) {
      const bool ta = layout & 1, tb = layout & 2;
      const auto a = random_floats(m * k, 4), b = random_floats(k * n, 5);
      const auto col_bias = random_floats(n, 6), row_bias = random_floats(m, 7);
      const index_t ldc = n + 5;
      for (float beta : {0.0f, -1.5f}) {
        std::vector<float> c0 = random_floats(m * ldc, 8);
        if (beta == 0.0f)
          for (index_t i = 0; i < m; ++i)
            for (index_t j = 0; j < n; ++j) c0[i * ldc + j] = NAN;  // must not be read
        Guarded<float> c(c0), scratch(k * n);
        const bool relu = beta != 0.0f;
        kiln::detail::GemmDirectArgs args{m, n, k, a.data(), ta ? 1 : k, ta ? m : 1,
                                          b.data(), tb ? 1 : n, tb ? k : 1, c.data(), ldc,
                                          0.75f, beta, col_bias.data(),
                                          relu ? row_bias.data() : nullptr, relu,
                                          scratch.data()};
        kernel(args);
        CHECK_GUARDS(c, name);
        CHECK_GUARDS(scratch, name);
        std::vector<float> got;
        std::vector<double> want;
        for (index_t i = 0; i < m; ++i)
          for (index_t j = 0; j < ldc; ++j) {
            if (j >= n) {  // guard columns
              CHECK(c[i * ldc + j] == c0[i * ldc + j]);
              continue;
            }
            double acc = 0.0;
            for (index_t p = 0; p < k; ++p)
              acc += static_cast<double>(a[ta ? p * m + i : i * k + p]) * b[tb ? j * k + p : p * n + j];
            double v = 0.75 * acc + col_bias[j];
            if (beta != 0.0f) v += beta * static_cast<double>(c0[i * ldc + j]) + row_bias[i];
            if (relu && v < 0.0) v = 0.0;
            got.push_back(c[i * ldc + j]);
            want.push_back(v);
          }
        const double err = rel_error(got, want);
        if (!(err < 1e-5 * std::sqrt(static_cast<double>(k)))) {
          std::printf("%s %ldx%ldx%ld layout %d beta=%g: relative error %.3e\n", name,
                      static_cast<long>(m), static_cast<long>(n), static_cast<long>(k), layout,
                      beta, err);
          ++failures();
        }
      }
    }
  }
}

// A panel packing routine against its definition, out[p * MR + i] = a[i * rs + p].
template <int MR>
void check_pack_a_panel(const char* name, kiln::detail::GemmPackAPanel pack) {
  for (index_t kc : {1, 7, 8, 15, 16, 17, 40, 256}) {
    const index_t rs = kc + 5;
    const auto a = random_floats(MR * rs, 9);
    Guarded<float> out(kc * MR);
    pack(kc, a.data(), rs, out.data());
    CHECK_GUARDS(out, name);
    for (index_t p = 0; p < kc; ++p)
      for (int i = 0; i < MR; ++i) {
        if (out[p * MR + i] != a[i * rs + p]) {
          std::printf("%s kc=%ld: element (%d, %ld) misplaced\n", name, static_cast<long>(kc), i,
                      static_cast<long>(p));
          ++failures();
          return;
        }
      }
  }
}

// A B-panel packing routine against its definition, out[p * NR + j] = columns[j][p], the
// columns scattered (as the LSTM's gate-interleaved weights are) and of any depth.
template <int NR>
void check_pack_b_columns(const char* name, kiln::detail::GemmPackBColumns pack) {
  for (index_t kc : {1, 7, 8, 15, 16, 17, 40, 256}) {
    const index_t ld = kc + 3;
    const auto b = random_floats(2 * NR * ld, 11);
    const float* columns[NR];
    for (int j = 0; j < NR; ++j) columns[j] = b.data() + ((j * 7) % (2 * NR)) * ld;
    Guarded<float> out(kc * NR);
    pack(kc, columns, out.data());
    CHECK_GUARDS(out, name);
    for (index_t p = 0; p < kc; ++p)
      for (int j = 0; j < NR; ++j) {
        if (out[p * NR + j] != columns[j][p]) {
          std::printf("%s kc=%ld: element (%ld, %d) misplaced\n", name, static_cast<long>(kc),
                      static_cast<long>(p), j);
          ++failures();
          return;
        }
      }
  }
}

}  // namespace

int main() {
  const char* isa = kiln::detail::cpu_kernels().isa;
  std::printf("dispatch chose %s (%s)\n", isa, kiln::detail::cpu_kernels().gemm.name);
  check_micro_kernel<4, 16>("portable_4x16", &kiln::detail::gemm_ukr_portable<4, 16>);
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    check_micro_kernel<6, 16>("avx2_6x16", &kiln::detail::gemm_ukr_avx2_6x16);
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    check_direct_kernel("direct_avx2", &kiln::detail::gemm_direct_avx2);
  if (__builtin_cpu_supports("avx512f"))
    check_micro_kernel<14, 32>("avx512_14x32", &kiln::detail::gemm_ukr_avx512_14x32);
  if (__builtin_cpu_supports("avx512f"))
    check_direct_kernel("direct_avx512", &kiln::detail::gemm_direct_avx512);
  if (__builtin_cpu_supports("avx512f")) {
    check_edge_kernel<14, 32, 4>("avx512_4x32_of14", &kiln::detail::gemm_ukr_avx512_4x32_of14,
                                 &kiln::detail::gemm_ukr_avx512_14x32);
    check_edge_kernel<14, 32, 8>("avx512_8x32_of14", &kiln::detail::gemm_ukr_avx512_8x32_of14,
                                 &kiln::detail::gemm_ukr_avx512_14x32);
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    check_pack_a_panel<6>("pack_a_avx2_6", &kiln::detail::gemm_pack_a_avx2_6);
  if (__builtin_cpu_supports("avx512f"))
    check_pack_a_panel<14>("pack_a_avx512_14", &kiln::detail::gemm_pack_a_avx512_14);
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    check_pack_b_columns<16>("pack_b_columns_avx2_16", &kiln::detail::gemm_pack_b_columns_avx2_16);
    check_pack_b_columns<32>("pack_b_columns_avx2_32", &kiln::detail::gemm_pack_b_columns_avx2_32);
  }
  std::printf("%d failures\n", failures());
  return failures() == 0 ? 0 : 1;
}
