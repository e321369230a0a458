// kiln::cuda::matmul against the CPU's kiln::matmul, on the device kiln was built for.
//
// Odd sizes (1, 7, 33, 130, 260: both tile sizes and every edge), all four transposes,
// every fused activation, alpha, beta (with NaN in C when beta is 0: C must not be read),
// bias, k = 0, batches with a broadcast operand, row-strided views and operands off their
// 16-byte alignment (the scalar load paths). Outputs are compared element by element
// within a bound from the sum of |terms| (the summation orders differ), and guard values
// around C must survive. The TF32 path is compared with a float64 product of the inputs
// rounded to TF32 (round to nearest, ties away), within float32 accumulation error; it
// must also differ from the float32 product by more than that (it did round).
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "activation_math.hpp"
#include "cuda_gemm_check.hpp"
#include "kiln/cuda/matmul.hpp"
#include "kiln/matmul.hpp"

using kiln::Activation;
using kiln::index_t;

namespace {

float tf32_round(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  u = (u + 0x1000u) & 0xffffe000u;
  std::memcpy(&x, &u, 4);
  return x;
}

struct Case {
  index_t batch, m, n, k;
  bool ta, tb;
  Activation act;
  float alpha, beta;
  bool bias;
  bool broadcast_b;  // B's batch stride 0
  int pad;           // extra elements per stored row (leading dimension > row length)
  int offset;        // floats each operand sits off its 16-byte alignment
  bool tf32;
  bool workspace = true;  // pass one when matmul_workspace asks for it (deep, small products)
};

int run(const Case& t) {
  kiln::MatmulParams p = kiln::matmul_params(t.m, t.n, t.k, t.ta, t.tb, t.batch);
  const index_t a_rows = t.ta ? t.k : t.m, a_cols = t.ta ? t.m : t.k;
  const index_t b_rows = t.tb ? t.n : t.k, b_cols = t.tb ? t.k : t.n;
  p.lda = (a_cols > 0 ? a_cols : 1) + t.pad;
  p.ldb = (b_cols > 0 ? b_cols : 1) + t.pad;
  p.ldc = t.n + t.pad;
  p.batch_stride_a = a_rows * p.lda;
  p.batch_stride_b = t.broadcast_b ? 0 : b_rows * p.ldb;
  p.batch_stride_c = t.m * p.ldc;
  p.alpha = t.alpha;
  p.beta = t.beta;
  p.activation = t.act;
  const index_t a_count = t.batch * p.batch_stride_a;
  const index_t b_count = (t.broadcast_b ? 1 : t.batch) * b_rows * p.ldb;
  const index_t c_count = t.batch * p.batch_stride_c;
  std::vector<float> a = random_floats(a_count, 1 + t.m), b = random_floats(b_count, 2 + t.n);
  std::vector<float> c = random_floats(c_count, 3 + t.k);
  std::vector<float> bias = random_floats(t.n, 4);
  if (t.beta == 0.0f)
    for (float& v : c) v = NAN;  // must not be read
  if (t.act == Activation::relu) c[0] = t.beta != 0 ? NAN : c[0];  // NaN propagates through relu

  std::vector<float> want = c;
  std::vector<double> bound(c_count, 0.0);
  if (!t.tf32) kiln::matmul(p, a.data(), b.data(), t.bias ? bias.data() : nullptr, want.data());
  // Bounds (and the TF32 reference) from float64 sums.
  int tf32_far = 0;
  for (index_t z = 0; z < t.batch; ++z)
    for (index_t i = 0; i < t.m; ++i)
      for (index_t j = 0; j < t.n; ++j) {
        double mag = 0, sum = 0;
        for (index_t q = 0; q < t.k; ++q) {
          const float av = a[z * p.batch_stride_a + (t.ta ? q * p.lda + i : i * p.lda + q)];
          const float bv = b[z * p.batch_stride_b + (t.tb ? j * p.ldb + q : q * p.ldb + j)];
          mag += std::fabs(static_cast<double>(av) * bv);
          sum += t.tf32 ? static_cast<double>(tf32_round(av)) * tf32_round(bv)
                        : static_cast<double>(av) * bv;
        }
        const index_t ci = z * p.batch_stride_c + i * p.ldc + j;
        double total_mag = std::fabs(t.alpha) * mag;
        double pre = t.alpha * sum;
        if (t.beta != 0) {
          total_mag += std::fabs(t.beta * c[ci]);
          pre += t.beta * static_cast<double>(c[ci]);
        }
        if (t.bias) {
          total_mag += std::fabs(bias[j]);
          pre += bias[j];
        }
        bound[ci] = sum_bound(static_cast<double>(t.k), total_mag);
        if (t.tf32) {
          want[ci] = kiln::detail::activate(t.act, static_cast<float>(pre));
          double exact = 0;  // the float32 inputs' product: TF32 must be visibly away from it
          for (index_t q = 0; q < t.k; ++q)
            exact += static_cast<double>(a[z * p.batch_stride_a + (t.ta ? q * p.lda + i : i * p.lda + q)]) *
                     b[z * p.batch_stride_b + (t.tb ? j * p.ldb + q : q * p.ldb + j)];
          tf32_far += std::fabs(exact - sum) * std::fabs(t.alpha) > bound[ci];
        }
      }
  // Elements between rows (the padding) are not C's: they keep their values.
  DeviceImage da(a, t.offset), db(b, t.offset), dc(c, t.offset), dbias(bias, t.offset);
  const index_t floats = t.workspace ? kiln::cuda::matmul_workspace(p) : 0;
  DeviceImage dwork(floats, 0);
  kiln::cuda::matmul(p, da.get(), db.get(), t.bias ? dbias.get() : nullptr, dc.get(), 0, t.tf32,
                     floats ? dwork.get() : nullptr);
  CUDA_OK(cudaDeviceSynchronize());
  bool intact = false;
  const std::vector<float> got = dc.download(&intact);
  int bad = compare("C", got, want, bound) + !intact;
  if (t.tf32 && t.k >= 16 && tf32_far == 0) {
    std::printf("  the TF32 reference is not distinguishable from float32 here\n");
    ++bad;
  }
  if (bad)
    std::printf("batch=%lld m=%lld n=%lld k=%lld ta=%d tb=%d act=%s alpha=%g beta=%g bias=%d "
                "bcast=%d pad=%d offset=%d tf32=%d: %d bad%s\n",
                (long long)t.batch, (long long)t.m, (long long)t.n, (long long)t.k, t.ta, t.tb,
                kiln::activation_name(t.act), t.alpha, t.beta, t.bias, t.broadcast_b, t.pad,
                t.offset, t.tf32, bad, intact ? "" : " (guards overwritten)");
  return bad;
}

}  // namespace

int main() {
  if (!cuda_device_present()) return kSkipped;
  const Activation acts[] = {Activation::none, Activation::relu, Activation::sigmoid,
                             Activation::tanh, Activation::gelu, Activation::gelu_tanh};
  int cases = 0, bad_cases = 0;
  auto check = [&](const Case& t) {
    ++cases;
    bad_cases += run(t) != 0;
  };
  // Sizes around both tiles' edges, every transpose; activations and epilogues rotate.
  const index_t sizes[][3] = {{1, 1, 1},   {1, 7, 33},  {7, 1, 5},     {33, 7, 1},   {7, 33, 130},
                              {130, 33, 7}, {65, 64, 9}, {64, 65, 16}, {130, 130, 33}, {260, 257, 19}};
  int r = 0;
  for (const auto& s : sizes)
    for (int tr = 0; tr < 4; ++tr, ++r) {
      Case t{1, s[0], s[1], s[2], (tr & 1) != 0, (tr & 2) != 0, acts[r % 6],
             r % 3 == 0 ? 1.0f : -0.5f, r % 4 == 1 ? 0.75f : 0.0f, r % 2 == 0, false, 0, 0, false};
      check(t);
    }
  // Every activation with bias and beta on one edge-heavy shape.
  for (Activation act : acts) check({1, 33, 70, 21, false, true, act, 1.5f, 1.0f, true, false, 0, 0, false});
  // k = 0: C = beta C + bias.
  check({1, 7, 9, 0, false, false, Activation::none, 1.0f, 2.0f, true, false, 0, 0, false});
  check({2, 7, 9, 0, true, true, Activation::relu, 1.0f, 0.0f, true, false, 0, 0, false});
  // Batches, a broadcast B, row-strided views, misaligned operands (scalar paths).
  check({3, 33, 17, 12, false, false, Activation::none, 1.0f, 0.0f, true, false, 0, 0, false});
  check({5, 9, 40, 33, true, false, Activation::tanh, 1.0f, 0.5f, false, true, 0, 0, false});
  check({4, 20, 12, 8, false, true, Activation::none, 1.0f, 0.0f, false, false, 3, 0, false});
  check({2, 40, 36, 24, false, false, Activation::gelu, 1.0f, 1.0f, true, false, 4, 1, false});
  check({3, 17, 33, 9, true, true, Activation::sigmoid, 2.0f, 0.0f, true, true, 1, 1, false});
  // Deep products too small to fill the device: k split over the workspace (the epilogue,
  // beta * C included, applied once after the splits are added), and the same without one.
  check({1, 7, 33, 1300, false, true, Activation::gelu, 1.0f, 0.5f, true, false, 0, 0, false});
  check({2, 9, 9, 600, true, false, Activation::relu, -1.0f, 1.0f, true, true, 1, 1, false});
  check({1, 7, 33, 1300, false, false, Activation::none, 1.0f, 0.0f, false, false, 0, 0, false, false});
  // The TF32 tensor-core path: edges, transposes, batches, epilogues.
  check({1, 130, 140, 37, false, false, Activation::none, 1.0f, 0.0f, false, false, 0, 0, true});
  check({1, 7, 33, 130, true, false, Activation::relu, 1.0f, 0.5f, true, false, 0, 0, true});
  check({2, 33, 20, 24, false, true, Activation::gelu, -1.0f, 0.0f, true, true, 0, 0, true});
  check({2, 19, 45, 17, true, true, Activation::tanh, 0.5f, 1.0f, false, false, 3, 1, true});
  check({1, 1, 1, 1, false, false, Activation::none, 1.0f, 0.0f, true, false, 0, 0, true});

  // Bad params are refused before launching, with the CPU kernel's message.
  kiln::MatmulParams bad = kiln::matmul_params(4, 4, 4);
  bad.lda = 2;
  bool threw = false;
  try {
    kiln::cuda::matmul(bad, nullptr, nullptr, nullptr, nullptr);
  } catch (const std::invalid_argument& e) {
    threw = std::strstr(e.what(), "leading dimension of A") != nullptr;
  }
  CHECK(threw);
  // Nothing to do: no launch, no error.
  kiln::cuda::matmul(kiln::matmul_params(0, 5, 3), nullptr, nullptr, nullptr, nullptr);

  std::printf("%d cases, %d failed\n", cases, bad_cases);
  return bad_cases + failures();
}
