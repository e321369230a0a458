// kiln::matmul through the public header only, against a float64 triple loop;
// bad params throw std::invalid_argument and leave C untouched.
#include <array>
#include <cstdio>
#include <stdexcept>
#include <vector>

#include "check.hpp"
#include "kiln/kiln.hpp"

using kiln::index_t;

namespace {

void check_shape(index_t m, index_t n, index_t k, bool ta, bool tb) {
  const auto a = random_floats(m * k, 11), b = random_floats(k * n, 12), bias = random_floats(n, 13);
  std::vector<float> c(m * n, 0.0f);
  kiln::MatmulParams p = kiln::matmul_params(m, n, k, ta, tb);
  p.activation = kiln::Activation::relu;
  kiln::matmul(p, a.data(), b.data(), bias.data(), c.data());
  std::vector<double> want(m * n);
  for (index_t i = 0; i < m; ++i)
    for (index_t j = 0; j < n; ++j) {
      double s = bias[j];
      for (index_t q = 0; q < k; ++q)
        s += static_cast<double>(ta ? a[q * m + i] : a[i * k + q]) * (tb ? b[j * k + q] : b[q * n + j]);
      want[i * n + j] = s > 0 ? s : 0;
    }
  const double err = rel_error(c, want);
  if (!(err < 1e-5 * std::sqrt(static_cast<double>(k)))) {
    std::printf("matmul %ldx%ldx%ld ta=%d tb=%d: relative error %.3e\n", static_cast<long>(m),
                static_cast<long>(n), static_cast<long>(k), ta, tb, err);
    ++failures();
  }
}

template <typename F>
bool throws_invalid_argument(F f) {
  try {
    f();
  } catch (const std::invalid_argument&) {
    return true;
  }
  return false;
}

}  // namespace

int main() {
  for (auto [m, n, k] : {std::array<index_t, 3>{1, 1, 1}, {3, 5, 7}, {33, 65, 17}, {200, 300, 500}})
    for (bool ta : {false, true})
      for (bool tb : {false, true}) check_shape(m, n, k, ta, tb);

  std::vector<float> a(6, 1.0f), b(6, 1.0f), c(4, -7.0f);
  kiln::MatmulParams bad = kiln::matmul_params(2, 2, 3);
  bad.m = -1;
  CHECK(throws_invalid_argument([&] { kiln::matmul(bad, a.data(), b.data(), nullptr, c.data()); }));
  bad = kiln::matmul_params(2, 2, 3);
  bad.lda = 2;  // shorter than a row of A
  CHECK(throws_invalid_argument([&] { kiln::matmul(bad, a.data(), b.data(), nullptr, c.data()); }));
  bad = kiln::matmul_params(70000, 70000, 1);  // C would overflow 32-bit indexing
  CHECK(throws_invalid_argument([&] { kiln::matmul(bad, a.data(), b.data(), nullptr, c.data()); }));
  for (float x : c) CHECK(x == -7.0f);

  std::printf("%d failures\n", failures());
  return failures() == 0 ? 0 : 1;
}
