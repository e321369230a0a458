// Each micro-kernel this CPU supports against the portable reference micro-kernel,
// on its own: packed panels in, one MR x NR tile out, alpha/beta as the contract says.
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
      std::vector<float> got = c0, want = c0;
      kernel(k, a, b, got.data(), ldc, 0.75f, beta);
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

}  // namespace

int main() {
  const char* isa = kiln::detail::cpu_kernels().isa;
  std::printf("dispatch chose %s (%s)\n", isa, kiln::detail::cpu_kernels().gemm.name);
  check_micro_kernel<4, 16>("portable_4x16", &kiln::detail::gemm_ukr_portable<4, 16>);
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    check_micro_kernel<6, 16>("avx2_6x16", &kiln::detail::gemm_ukr_avx2_6x16);
  if (__builtin_cpu_supports("avx512f"))
    check_micro_kernel<14, 32>("avx512_14x32", &kiln::detail::gemm_ukr_avx512_14x32);
  std::printf("%d failures\n", failures());
  return failures() == 0 ? 0 : 1;
}
