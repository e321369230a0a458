// kiln::cuda::sparse_matmul and its weight gradient against the CPU's: CSR batches with
// empty rows, unsorted and repeated columns, rows longer than a warp's 32 entries;
// n = 1, 37 and 300 (over the 128 columns of one warp pass), W in both layouts, bias or
// none, beta 0 (the output holds NaN and is not read), 0.5 and 1. Within float32
// rounding of each output's sum (both add in storage order; the GPU's gradient order
// varies). Every structure error is refused with the CPU's very message, before
// anything is written; guard values after every output.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "cuda_nn_check.hpp"
#include "kiln/cuda/sparse_matmul.hpp"
#include "kiln/sparse_matmul.hpp"

using kiln::index_t;

namespace {

struct HostCsr {
  index_t m, k;
  std::vector<std::int64_t> indptr;
  std::vector<std::int32_t> indices;
  std::vector<float> data;
  kiln::CsrMatrix view() const {
    return {m, k, static_cast<index_t>(indices.size()), indptr.data(), indices.data(), data.data()};
  }
};

HostCsr make_csr(index_t m, index_t k, unsigned seed) {
  HostCsr x{m, k, {0}, {}, {}};
  unsigned s = seed;
  for (index_t i = 0; i < m; ++i) {
    s = s * 1664525u + 1013904223u;
    const index_t len = i % 5 == 2 ? 0 : (i == 1 ? 45 : static_cast<index_t>((s >> 16) % 9));
    for (index_t t = 0; t < len; ++t) {
      s = s * 1664525u + 1013904223u;
      x.indices.push_back(static_cast<std::int32_t>((s >> 12) % k));  // unsorted, may repeat
      x.data.push_back(static_cast<float>((s >> 8) & 0xffff) / 65536.0f - 0.5f);
    }
    x.indptr.push_back(static_cast<std::int64_t>(x.indices.size()));
  }
  return x;
}

struct DeviceCsr {
  DeviceGuarded<std::int64_t> indptr;
  DeviceGuarded<std::int32_t> indices;
  DeviceGuarded<float> data;
  index_t m, k;
  explicit DeviceCsr(const HostCsr& x) : indptr(x.indptr), indices(x.indices), data(x.data), m(x.m), k(x.k) {}
  kiln::CsrMatrix view() const {
    return {m, k, static_cast<index_t>(indices.size()), indptr.get(), indices.get(), data.get()};
  }
};

void check_case(index_t m, index_t k, index_t n, bool transpose_w, bool with_bias, float beta) {
  const HostCsr x = make_csr(m, k, static_cast<unsigned>(m * 31 + k + n));
  const std::vector<float> w = random_floats(k * n, 5), bias = random_floats(n, 6), gy = random_floats(m * n, 7);
  std::vector<float> y0 = random_floats(m * n, 8), gw0 = random_floats(k * n, 9);
  if (beta == 0.0f) {
    for (float& v : y0) v = NAN;
    for (float& v : gw0) v = NAN;
  }
  std::vector<float> y = y0, gw = gw0;
  kiln::sparse_matmul(x.view(), n, w.data(), transpose_w, with_bias ? bias.data() : nullptr, beta, y.data());
  kiln::sparse_matmul_backward_weight(x.view(), n, gy.data(), transpose_w, beta, gw.data());

  DeviceCsr xd(x);
  DeviceGuarded<float> wd(w), bd(bias), gyd(gy), yd(y0), gwd(gw0);
  kiln::cuda::sparse_matmul(xd.view(), n, wd.get(), transpose_w, with_bias ? bd.get() : nullptr, beta, yd.get());
  kiln::cuda::sparse_matmul_backward_weight(xd.view(), n, gyd.get(), transpose_w, beta, gwd.get());
  char what[128];
  std::snprintf(what, sizeof what, "m=%lld k=%lld n=%lld t=%d bias=%d beta=%g", static_cast<long long>(m),
                static_cast<long long>(k), static_cast<long long>(n), transpose_w, with_bias, beta);
  CHECK(close(yd.download(), y, 1e-5, 1e-5, what));
  CHECK(close(gwd.download(), gw, 1e-5, 1e-5, what));
  CHECK(yd.intact() && gwd.intact());
}

// The CPU's message for x, and the device's, must be one and the same.
void check_refused(const HostCsr& x) {
  const index_t n = 3;
  const std::vector<float> w(x.k * n, 1.0f);
  std::vector<float> y(x.m * n, 0.0f);
  const std::string want =
      invalid_argument_of([&] { kiln::sparse_matmul(x.view(), n, w.data(), false, nullptr, 0.0f, y.data()); });
  DeviceCsr xd(x);
  DeviceGuarded<float> wd(w), yd(std::vector<float>(x.m * n, 4.0f));
  const std::string got = invalid_argument_of(
      [&] { kiln::cuda::sparse_matmul(xd.view(), n, wd.get(), false, nullptr, 0.0f, yd.get()); });
  if (want.empty() || got != want) std::printf("want '%s'\n got '%s'\n", want.c_str(), got.c_str());
  CHECK(!want.empty() && got == want);
  CHECK(yd.download() == std::vector<float>(x.m * n, 4.0f));
  const std::string want_b = invalid_argument_of(
      [&] { kiln::sparse_matmul_backward_weight(x.view(), n, y.data(), true, 0.0f, y.data()); });
  const std::string got_b = invalid_argument_of(
      [&] { kiln::cuda::sparse_matmul_backward_weight(xd.view(), n, yd.get(), true, 0.0f, wd.get()); });
  CHECK(!want_b.empty() && got_b == want_b);
}

}  // namespace

int main() {
  if (!cuda_device_present()) return kSkipped;
  int cases = 0;
  for (index_t n : {1, 37, 300})
    for (bool t : {false, true})
      for (float beta : {0.0f, 0.5f, 1.0f}) {
        check_case(13, 29, n, t, beta != 0.5f, beta);
        ++cases;
      }
  check_case(1, 1, 5, false, true, 0.0f);
  check_case(0, 7, 4, true, true, 0.0f);   // no rows: dW = beta * dW only
  check_case(40, 3, 2, false, false, 0.5f);  // many repeats per column
  cases += 3;

  HostCsr x = make_csr(6, 10, 3);
  HostCsr bad = x;
  bad.indptr[0] = 1;
  check_refused(bad);
  bad = x;
  bad.indptr[3] = bad.indptr[2] - 1;
  check_refused(bad);
  bad = x;
  bad.indptr.back() += 1;
  bad.indices.push_back(0);
  bad.data.push_back(1.0f);
  bad.indptr.back() += 1;  // indptr[m] = nnz + 1
  check_refused(bad);
  bad = x;
  bad.indices[bad.indices.size() - 2] = 10;
  check_refused(bad);
  bad.indices[bad.indices.size() - 2] = -2;
  check_refused(bad);
  cases += 5;
  CUDA_OK(cudaDeviceSynchronize());
  std::printf("%d cases: %s\n", cases, failures() ? "FAILED" : "ok");
  return failures();
}
