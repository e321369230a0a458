// kiln::matmul through the public header only, against a float64 triple loop;
// bad params throw std::invalid_argument and leave C untouched; guards behind C.
#include <array>
#include <cstdio>
#include <stdexcept>
#include <vector>

#include "check.hpp"
#include "kiln/kiln.hpp"

using kiln::index_t;

namespace {

// C (batch, m, n) = relu(op(A) @ op(B) + bias) at 1 and 2 threads: the float64 result, the
// same bits at both thread counts, and nothing written outside C.
void check_shape(index_t m, index_t n, index_t k, bool ta, bool tb, index_t batch = 1) {
  const auto a = random_floats(batch * m * k, 11), b = random_floats(batch * k * n, 12),
             bias = random_floats(n, 13);
  std::vector<float> first;
  for (int threads : {1, 2}) {
    kiln::set_num_threads(threads);
    Guarded<float> c(batch * m * n);
    kiln::MatmulParams p = kiln::matmul_params(m, n, k, ta, tb, batch);
    p.activation = kiln::Activation::relu;
    kiln::matmul(p, a.data(), b.data(), bias.data(), c.data());
    CHECK_GUARDS(c, "matmul");
    if (threads == 1) first = c.values();
    CHECK(c.values() == first);
    std::vector<double> want(batch * m * n);
    for (index_t t = 0; t < batch; ++t) {
      const float* at = a.data() + t * m * k;
      const float* bt = b.data() + t * k * n;
      for (index_t i = 0; i < m; ++i)
        for (index_t j = 0; j < n; ++j) {
          double s = bias[j];
          for (index_t q = 0; q < k; ++q)
            s += static_cast<double>(ta ? at[q * m + i] : at[i * k + q]) * (tb ? bt[j * k + q] : bt[q * n + j]);
          want[(t * m + i) * n + j] = s > 0 ? s : 0;
        }
    }
    const double err = rel_error(c.values(), want);
    if (!(err < 1e-5 * std::sqrt(static_cast<double>(k)))) {
      std::printf("matmul %ldx%ldx%ldx%ld ta=%d tb=%d threads=%d: relative error %.3e\n",
                  static_cast<long>(batch), static_cast<long>(m), static_cast<long>(n),
                  static_cast<long>(k), ta, tb, threads, err);
      ++failures();
    }
  }
  kiln::set_num_threads(0);
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
  check_shape(9, 21, 13, true, false, 6);    // many small products: one per thread
  check_shape(70, 130, 90, false, true, 3);  // each product split among the threads

  std::vector<float> a(6, 1.0f), b(6, 1.0f);
  Guarded<float> c(4, -7.0f);
  kiln::MatmulParams bad = kiln::matmul_params(2, 2, 3);
  bad.m = -1;
  CHECK(throws_invalid_argument([&] { kiln::matmul(bad, a.data(), b.data(), nullptr, c.data()); }));
  bad = kiln::matmul_params(2, 2, 3);
  bad.lda = 2;  // shorter than a row of A
  CHECK(throws_invalid_argument([&] { kiln::matmul(bad, a.data(), b.data(), nullptr, c.data()); }));
  bad = kiln::matmul_params(70000, 70000, 1);  // C would overflow 32-bit indexing
  CHECK(throws_invalid_argument([&] { kiln::matmul(bad, a.data(), b.data(), nullptr, c.data()); }));
  for (float x : c.values()) CHECK(x == -7.0f);
  CHECK_GUARDS(c, "a refused matmul");

  std::printf("%d failures\n", failures());
  return failures() == 0 ? 0 : 1;
}
