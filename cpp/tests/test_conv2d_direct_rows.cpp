// Each direct-convolution row kernel this CPU supports against a float64 sum, on its
// own: 4 filters x `width` pixels from taps at arbitrary offsets, and nothing written
// past `width` in any output row.
#include <cmath>
#include <cstdio>
#include <vector>

#include "check.hpp"
#include "conv2d_direct.hpp"

using kiln::index_t;
using kiln::detail::ConvDirectRowKernel;

namespace {

void check_row_kernel(const char* name, ConvDirectRowKernel kernel) {
  for (index_t taps : {1, 9, 27, 288}) {
    for (index_t width : {8, 16, 24, 32, 56, 64}) {
      const index_t ld = width + 5;
      std::vector<index_t> offsets(static_cast<std::size_t>(taps));
      for (index_t t = 0; t < taps; ++t) offsets[t] = (t * 37) % 101;  // any order, overlapping
      const auto x = random_floats(101 + width, 1), w4 = random_floats(4 * taps, 2);
      Guarded<float> out(static_cast<std::size_t>(4 * ld), NAN);
      kernel(taps, offsets.data(), x.data(), w4.data(), width, out.data(), ld);
      CHECK_GUARDS(out, name);
      std::vector<float> got;
      std::vector<double> want;
      for (int f = 0; f < 4; ++f) {
        for (index_t j = 0; j < width; ++j) {
          double sum = 0;
          for (index_t t = 0; t < taps; ++t) sum += static_cast<double>(w4[4 * t + f]) * x[offsets[t] + j];
          want.push_back(sum);
          got.push_back(out[f * ld + j]);
        }
        for (index_t j = width; j < ld; ++j) CHECK(std::isnan(out[f * ld + j]));
      }
      const double err = rel_error(got, want);
      if (!(err < 1e-5 * std::sqrt(static_cast<double>(taps)))) {
        std::printf("%s taps=%ld width=%ld: relative error %.3e\n", name, static_cast<long>(taps),
                    static_cast<long>(width), err);
        ++failures();
      }
    }
  }
}

}  // namespace

int main() {
  check_row_kernel("portable", &kiln::detail::conv2d_direct_row_portable);
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    check_row_kernel("avx2", &kiln::detail::conv2d_direct_row_avx2);
  std::printf("%d failures\n", failures());
  return failures() == 0 ? 0 : 1;
}
