// kiln::cuda::linear_backward against the CPU's kiln::linear_backward.
//
// Odd sizes (1, 7, 33, 130), both weight layouts, every fused activation (none, relu,
// sigmoid, tanh), scratch apart or dy itself (in place), each output asked alone or all
// together, misaligned buffers; dz, dx, dw and db within a bound from the sum of |terms|,
// guard values around every output.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "cuda_gemm_check.hpp"
#include "kiln/cuda/linear.hpp"
#include "kiln/linear.hpp"

using kiln::Activation;
using kiln::index_t;

namespace {

struct Case {
  index_t m, in, out;
  bool out_by_in;
  Activation act;
  bool in_place;  // scratch is dy
  int outputs;    // bit 0 dx, bit 1 dw, bit 2 db
  int offset;
};

int run(const Case& t) {
  kiln::LinearBackwardParams p;
  p.m = t.m;
  p.in_features = t.in;
  p.out_features = t.out;
  p.weight_is_out_by_in = t.out_by_in;
  p.activation = t.act;
  const std::vector<float> x = random_floats(t.m * t.in, 11), w = random_floats(t.in * t.out, 12);
  std::vector<float> y = random_floats(t.m * t.out, 13);
  const std::vector<float> dy = random_floats(t.m * t.out, 14);
  for (float& v : y) {  // outputs the activation can give
    if (t.act == Activation::sigmoid) v = 0.5f + 0.5f * v;
    if (t.act == Activation::relu && v < 0.0f) v = v < -0.5f ? 0.0f : v;
  }
  const bool want_dx = t.outputs & 1, want_dw = t.outputs & 2, want_db = t.outputs & 4;

  std::vector<float> dz(t.m * t.out), dx(t.m * t.in), dw(t.in * t.out), db(t.out);
  std::vector<float> dy_cpu = dy;
  kiln::linear_backward(p, x.data(), w.data(), y.data(), dy_cpu.data(),
                        t.act == Activation::none ? nullptr : dz.data(), want_dx ? dx.data() : nullptr,
                        want_dw ? dw.data() : nullptr, want_db ? db.data() : nullptr);
  if (t.act == Activation::none) dz = dy;

  DeviceImage dx_(x, t.offset), dw_(w, t.offset), dy_(y, t.offset), ddy(dy, t.offset);
  DeviceImage dscratch(t.m * t.out, t.offset), ddx(t.m * t.in, t.offset),
      ddw(t.in * t.out, t.offset), ddb(t.out, t.offset);
  float* scratch = t.act == Activation::none ? nullptr : (t.in_place ? ddy.get() : dscratch.get());
  // With a workspace (every other case), a deep dw splits its reduction over m.
  const bool use_workspace = (t.m + t.in) % 2 == 0;
  DeviceImage workspace(use_workspace ? kiln::cuda::linear_backward_workspace(p) : 0, 0);
  kiln::cuda::linear_backward(p, dx_.get(), dw_.get(), dy_.get(), ddy.get(), scratch,
                              want_dx ? ddx.get() : nullptr, want_dw ? ddw.get() : nullptr,
                              want_db ? ddb.get() : nullptr, 0, use_workspace ? workspace.get() : nullptr);
  CUDA_OK(cudaDeviceSynchronize());

  int bad = 0;
  bool intact = true, ok = true;
  if (scratch) {
    const std::vector<float> got = (t.in_place ? ddy : dscratch).download(&ok);
    intact &= ok;
    bad += compare("dz", got, dz, std::vector<double>(got.size(), 1e-6));
  }
  const index_t in = t.in, out = t.out;
  if (want_dx) {
    std::vector<double> bound(t.m * in);
    for (index_t r = 0; r < t.m; ++r)
      for (index_t i = 0; i < in; ++i) {
        double mag = 0;
        for (index_t o = 0; o < out; ++o)
          mag += std::fabs(dz[r * out + o] * (t.out_by_in ? w[o * in + i] : w[i * out + o]));
        bound[r * in + i] = sum_bound(out, mag);
      }
    bad += compare("dx", ddx.download(&ok), dx, bound);
    intact &= ok;
  }
  if (want_dw) {
    std::vector<double> bound(in * out);
    for (index_t i = 0; i < in; ++i)
      for (index_t o = 0; o < out; ++o) {
        double mag = 0;
        for (index_t r = 0; r < t.m; ++r) mag += std::fabs(dz[r * out + o] * x[r * in + i]);
        bound[t.out_by_in ? o * in + i : i * out + o] = sum_bound(t.m, mag);
      }
    bad += compare("dw", ddw.download(&ok), dw, bound);
    intact &= ok;
  }
  if (want_db) {
    std::vector<double> bound(out);
    for (index_t o = 0; o < out; ++o) {
      double mag = 0;
      for (index_t r = 0; r < t.m; ++r) mag += std::fabs(dz[r * out + o]);
      bound[o] = sum_bound(t.m, mag);
    }
    bad += compare("db", ddb.download(&ok), db, bound);
    intact &= ok;
  }
  bad += !intact;
  if (bad)
    std::printf("m=%lld in=%lld out=%lld out_by_in=%d act=%s in_place=%d outputs=%d offset=%d: %d bad%s\n",
                (long long)t.m, (long long)t.in, (long long)t.out, t.out_by_in,
                kiln::activation_name(t.act), t.in_place, t.outputs, t.offset, bad,
                intact ? "" : " (guards overwritten)");
  return bad;
}

}  // namespace

int main() {
  if (!cuda_device_present()) return kSkipped;
  const Activation acts[] = {Activation::none, Activation::relu, Activation::sigmoid, Activation::tanh};
  const index_t sizes[][3] = {{1, 1, 1},    {7, 33, 1},  {33, 7, 130},  {130, 33, 7},
                              {64, 20, 36}, {5, 130, 65}, {600, 7, 9}, {1101, 5, 12}};
  int cases = 0, bad_cases = 0, r = 0;
  for (const auto& s : sizes)
    for (bool out_by_in : {true, false})
      for (Activation act : acts) {
        ++cases;
        bad_cases += run({s[0], s[1], s[2], out_by_in, act, r % 3 == 1, 7, r % 5 == 4 ? 1 : 0}) != 0;
        ++r;
      }
  for (int outputs : {1, 2, 4, 3}) {
    ++cases;
    bad_cases += run({9, 10, 11, outputs % 2 == 0, Activation::tanh, outputs == 3, outputs, 0}) != 0;
  }
  ++cases;  // m = 0: dw and db are zeros
  bad_cases += run({0, 5, 6, true, Activation::relu, false, 7, 0}) != 0;

  kiln::LinearBackwardParams p;
  p.m = 2;
  p.in_features = 2;
  p.out_features = 2;
  p.activation = Activation::gelu;
  bool threw = false;
  try {
    kiln::cuda::linear_backward(p, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
  } catch (const std::invalid_argument& e) {
    threw = std::strstr(e.what(), "only none, relu, sigmoid and tanh") != nullptr;
  }
  CHECK(threw);
  std::printf("%d cases, %d failed\n", cases, bad_cases);
  return bad_cases + failures();
}
