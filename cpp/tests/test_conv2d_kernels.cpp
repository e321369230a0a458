// The direct convolution's row and dot kernels and the stride-1 weight gradient's
// micro-kernel and packing, each ISA this CPU supports, against float64 sums (the packing
// against the portable one, exactly): widths that leave partial vectors, tap counts that
// leave partial tap blocks, nothing written outside the outputs.
#include <cmath>
#include <cstdio>
#include <vector>

#include "check.hpp"
#include "conv2d_direct.hpp"
#include "conv2d_gemm.hpp"

using kiln::index_t;
using namespace kiln::detail;

namespace {

constexpr index_t kWidths[] = {1, 7, 8, 15, 16, 17, 31, 33, 95, 96, 97, 200};
constexpr index_t kTaps[] = {1, 9, 10, 19, 28};

void check_error(const char* name, const char* what, index_t taps, index_t width,
                 const std::vector<float>& got, const std::vector<double>& want, double scale) {
  const double err = rel_error(got, want);
  if (!(err < 1e-5 * std::sqrt(scale))) {
    std::printf("%s %s taps=%ld width=%ld: relative error %.3e\n", name, what, static_cast<long>(taps),
                static_cast<long>(width), err);
    ++failures();
  }
}

// out[f * ld + j] = sum_t w[t * F + f] * x[offsets[t] + j]; the gaps between rows untouched.
void check_rows(const char* name, ConvDirectRowKernel kernel, int filters) {
  for (index_t taps : kTaps)
    for (index_t width : kWidths) {
      const index_t ld = width + 3;
      std::vector<index_t> offsets(static_cast<std::size_t>(taps));
      for (index_t t = 0; t < taps; ++t) offsets[t] = (t * 37) % 101;
      const Guarded<float> x(random_floats(101 + width, 1));
      const auto w = random_floats(filters * taps, 2);
      Guarded<float> out(static_cast<std::size_t>(filters * ld), NAN);
      kernel(taps, offsets.data(), x.data(), w.data(), width, out.data(), ld);
      CHECK_GUARDS(out, name);
      std::vector<float> got;
      std::vector<double> want;
      for (int f = 0; f < filters; ++f) {
        for (index_t j = 0; j < width; ++j) {
          double sum = 0;
          for (index_t t = 0; t < taps; ++t) sum += static_cast<double>(w[filters * t + f]) * x.data()[offsets[t] + j];
          want.push_back(sum);
          got.push_back(out[f * ld + j]);
        }
        for (index_t j = width; j < ld; ++j) CHECK(std::isnan(out[f * ld + j]));
      }
      check_error(name, "row", taps, width, got, want, static_cast<double>(taps));
    }
}

// dw[f * taps + t] += sum_j dy[f * ld + j] * x[offsets[t] + j].
void check_dots(const char* name, ConvDirectDotKernel kernel, int filters) {
  for (index_t taps : kTaps)
    for (index_t width : kWidths) {
      const index_t ld = width + 5;
      std::vector<index_t> offsets(static_cast<std::size_t>(taps));
      for (index_t t = 0; t < taps; ++t) offsets[t] = (t * 29) % 83;
      const Guarded<float> x(random_floats(83 + width, 3));
      const Guarded<float> dy(random_floats(filters * ld, 4));
      Guarded<float> dw(random_floats(filters * taps, 5));
      const std::vector<float> before = dw.values();
      kernel(taps, offsets.data(), x.data(), dy.data(), ld, width, dw.data());
      CHECK_GUARDS(dw, name);
      std::vector<double> want;
      for (int f = 0; f < filters; ++f)
        for (index_t t = 0; t < taps; ++t) {
          double sum = before[f * taps + t];
          for (index_t j = 0; j < width; ++j)
            sum += static_cast<double>(dy.data()[f * ld + j]) * x.data()[offsets[t] + j];
          want.push_back(sum);
        }
      check_error(name, "dot", taps, width, dw.values(), want, static_cast<double>(width));
    }
}

// c[i * ldc + j] += sum_q x[offsets[i] + q] * b[q * nr + j], and the packing's transpose.
void check_wgrad(const char* name, const ConvWgradKernel& kern) {
  for (index_t kc : {1, 5, 16, 37, 256}) {
    const index_t nr = kern.nr, ldc = nr + 7;
    std::vector<index_t> offsets(static_cast<std::size_t>(kern.taps));
    for (int i = 0; i < kern.taps; ++i) offsets[i] = (i * 53) % 97;
    const Guarded<float> x(random_floats(97 + kc, 6));
    std::vector<float> b_values = random_floats(kc * nr + 16, 7);
    float* b = b_values.data();
    while (reinterpret_cast<std::uintptr_t>(b) % 64 != 0) ++b;  // the panels are 64-byte aligned
    Guarded<float> c(random_floats(kern.taps * ldc, 8));
    const std::vector<float> before = c.values();
    kern.tile(kc, x.data(), offsets.data(), b, c.data(), ldc);
    CHECK_GUARDS(c, name);
    std::vector<float> got;
    std::vector<double> want;
    for (int i = 0; i < kern.taps; ++i)
      for (index_t j = 0; j < ldc; ++j) {
        double sum = before[i * ldc + j];
        if (j < nr)
          for (index_t q = 0; q < kc; ++q) sum += static_cast<double>(x.data()[offsets[i] + q]) * b[q * nr + j];
        want.push_back(sum);
        got.push_back(c[i * ldc + j]);
      }
    check_error(name, "wgrad tile", kern.taps, kc, got, want, static_cast<double>(kc));
  }
  for (index_t rows : {0, 1, 7, 16, 17, 32})
    for (index_t cols : {1, 8, 15, 16, 28, 33}) {
      const index_t nr = kern.nr, ld = cols + 9;
      if (rows > nr) continue;
      const auto src = random_floats(rows * ld + 1, 9);
      Guarded<float> got(static_cast<std::size_t>(cols * nr), NAN), want(static_cast<std::size_t>(cols * nr), NAN);
      kern.pack(src.data(), ld, rows, cols, got.data(), nr);
      conv2d_wgrad_pack_portable(src.data(), ld, rows, cols, want.data(), nr);
      CHECK_GUARDS(got, name);
      CHECK(got.values() == want.values());
    }
}

}  // namespace

int main() {
  check_rows("portable", &conv2d_direct_row_portable, 4);
  check_rows("portable row1", &conv2d_direct_row1_portable, 1);
  check_dots("portable", &conv2d_direct_dot_portable, 2);
  check_dots("portable dot1", &conv2d_direct_dot1_portable, 1);
  check_wgrad("portable", {4, 16, &conv2d_wgrad_tile_portable, &conv2d_wgrad_pack_portable});
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    check_rows("avx2", &conv2d_direct_row_avx2, 4);
    check_rows("avx2 row1", &conv2d_direct_row1_avx2, 1);
    check_dots("avx2", &conv2d_direct_dot_avx2, 2);
    check_dots("avx2 dot1", &conv2d_direct_dot1_avx2, 1);
    check_wgrad("avx2", {6, 16, &conv2d_wgrad_tile_avx2, &conv2d_wgrad_pack_avx2});
  }
  if (__builtin_cpu_supports("avx512f")) {
    check_rows("avx512", &conv2d_direct_row_avx512, 4);
    check_rows("avx512 row1", &conv2d_direct_row1_avx512, 1);
    check_dots("avx512", &conv2d_direct_dot_avx512, 2);
    check_dots("avx512 dot1", &conv2d_direct_dot1_avx512, 1);
    check_wgrad("avx512", {9, 32, &conv2d_wgrad_tile_avx512, &conv2d_wgrad_pack_avx512});
  }
  std::printf("%d failures\n", failures());
  return failures() == 0 ? 0 : 1;
}
