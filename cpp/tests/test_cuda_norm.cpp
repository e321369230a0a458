// kiln::cuda layer norm and batch norm against the CPU kernels: forward and backward, with
// and without the affine vectors, warp rows and block rows (past 1024 columns), batch norm
// planar (inner > 1) and channels-last (inner == 1), training and inference. Guard values
// after every output; a second run on the device must repeat the first bit for bit (fixed
// summation orders, no atomics).
#include <cstdio>
#include <random>
#include <vector>

#include "cuda_nn_check.hpp"
#include "kiln/cuda/norm.hpp"
#include "kiln/norm.hpp"

using kiln::index_t;

namespace {

std::vector<float> random_vector(std::size_t n, std::mt19937& gen, float scale = 1.0f, float shift = 0.0f) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(gen) * scale + shift;
  return v;
}

const float* ptr_or_null(const DeviceGuarded<float>& d, bool use) { return use ? d.get() : nullptr; }

void check_layer_norm(index_t rows, index_t cols, bool affine, std::mt19937& gen) {
  const kiln::LayerNormParams p{rows, cols, 1e-5f};
  const std::size_t n = rows * cols;
  const auto x = random_vector(n, gen, 2.0f, 1.0f), dy = random_vector(n, gen);
  const auto w = random_vector(cols, gen), b = random_vector(cols, gen);
  std::vector<float> y(n), mean(rows), rstd(rows), dx(n), dw(cols), db(cols);
  kiln::layer_norm_forward(p, x.data(), affine ? w.data() : nullptr, affine ? b.data() : nullptr, y.data(),
                           mean.data(), rstd.data());
  kiln::layer_norm_backward(p, dy.data(), x.data(), mean.data(), rstd.data(), affine ? w.data() : nullptr,
                            dx.data(), dw.data(), db.data());
  DeviceGuarded<float> xd(x), dyd(dy), wd(w), bd(b), yd(n), md(rows), rd(rows), dxd(n), dwd(cols), dbd(cols);
  std::vector<float> first;
  for (int run = 0; run < 2; ++run) {
    kiln::cuda::layer_norm_forward(p, xd.get(), ptr_or_null(wd, affine), ptr_or_null(bd, affine), yd.get(), md.get(),
                                   rd.get());
    kiln::cuda::layer_norm_backward(p, dyd.get(), xd.get(), md.get(), rd.get(), ptr_or_null(wd, affine), dxd.get(),
                                    dwd.get(), dbd.get());
    std::vector<float> all = yd.download();
    for (const auto* d : {&md, &rd, &dxd, &dwd, &dbd}) {
      const auto part = d->download();
      all.insert(all.end(), part.begin(), part.end());
    }
    if (run == 0) first = all;
    else CHECK(same_bits(first, all));
  }
  CHECK(close(yd.download(), y, 1e-4, 1e-5, "layer_norm y"));
  CHECK(close(md.download(), mean, 1e-4, 1e-5, "layer_norm mean"));
  CHECK(close(rd.download(), rstd, 1e-4, 1e-5, "layer_norm rstd"));
  CHECK(close(dxd.download(), dx, 1e-3, 1e-4, "layer_norm dx"));
  CHECK(close(dwd.download(), dw, 1e-3, 1e-3, "layer_norm dweight"));
  CHECK(close(dbd.download(), db, 1e-3, 1e-3, "layer_norm dbias"));
  for (const auto* d : {&yd, &md, &rd, &dxd, &dwd, &dbd}) CHECK(d->intact());
}

void check_batch_norm(index_t outer, index_t channels, index_t inner, bool training, bool affine,
                      std::mt19937& gen) {
  const kiln::BatchNormParams p{outer, channels, inner, 1e-3f};
  const std::size_t n = outer * channels * inner;
  const auto x = random_vector(n, gen, 2.0f, 3.0f), dy = random_vector(n, gen);
  const auto w = random_vector(channels, gen), b = random_vector(channels, gen);
  const auto rm = random_vector(channels, gen);
  auto rv = random_vector(channels, gen);
  for (auto& v : rv) v = v * v + 0.5f;
  const float* wp = affine ? w.data() : nullptr;
  std::vector<float> y(n), sm(channels), si(channels), var(channels), dx(n), dw(channels), db(channels);
  kiln::batch_norm_forward(p, x.data(), wp, affine ? b.data() : nullptr, rm.data(), rv.data(), training, y.data(),
                           sm.data(), si.data(), var.data());
  kiln::batch_norm_backward(p, dy.data(), x.data(), sm.data(), si.data(), wp, training, dx.data(), dw.data(),
                            db.data());
  DeviceGuarded<float> xd(x), dyd(dy), wd(w), bd(b), rmd(rm), rvd(rv), yd(n), smd(channels), sid(channels),
      vard(channels), dxd(n), dwd(channels), dbd(channels);
  kiln::cuda::batch_norm_forward(p, xd.get(), ptr_or_null(wd, affine), ptr_or_null(bd, affine), rmd.get(), rvd.get(),
                                 training, yd.get(), smd.get(), sid.get(), vard.get());
  kiln::cuda::batch_norm_backward(p, dyd.get(), xd.get(), smd.get(), sid.get(), ptr_or_null(wd, affine), training,
                                  dxd.get(), dwd.get(), dbd.get());
  CHECK(close(yd.download(), y, 1e-4, 1e-4, "batch_norm y"));
  CHECK(close(smd.download(), sm, 1e-5, 1e-5, "batch_norm save_mean"));
  CHECK(close(sid.download(), si, 1e-5, 1e-5, "batch_norm save_invstd"));
  if (training) CHECK(close(vard.download(), var, 1e-5, 1e-5, "batch_norm batch_var"));
  CHECK(close(dxd.download(), dx, 1e-3, 1e-4, "batch_norm dx"));
  CHECK(close(dwd.download(), dw, 1e-4, 1e-3, "batch_norm dweight"));
  CHECK(close(dbd.download(), db, 1e-4, 1e-3, "batch_norm dbias"));
  for (const auto* d : {&yd, &smd, &sid, &dxd, &dwd, &dbd}) CHECK(d->intact());
}

}  // namespace

int main() {
  if (!cuda_device_present()) return kSkipped;
  std::mt19937 gen(5);
  int cases = 0;
  for (const auto& [rows, cols] : std::vector<std::pair<index_t, index_t>>{{7, 13}, {1, 1}, {70, 33}, {3, 1500}})
    for (bool affine : {false, true}) {
      check_layer_norm(rows, cols, affine, gen);
      ++cases;
    }
  for (const auto& [outer, channels, inner] :
       std::vector<std::tuple<index_t, index_t, index_t>>{{3, 5, 7}, {2, 3, 300}, {37, 6, 1}, {600, 40, 1}})
    for (bool training : {true, false})
      for (bool affine : {false, true}) {
        check_batch_norm(outer, channels, inner, training, affine, gen);
        ++cases;
      }
  CHECK(!invalid_argument_of([] { kiln::cuda::layer_norm_forward({2, 0, 1e-5f}, nullptr, nullptr, nullptr,
                                                                  nullptr, nullptr, nullptr); }).empty());
  CHECK(!invalid_argument_of([] { kiln::cuda::batch_norm_forward({2, 3, 1, -1.0f}, nullptr, nullptr, nullptr,
                                                                  nullptr, nullptr, true, nullptr, nullptr, nullptr,
                                                                  nullptr); }).empty());
  CUDA_OK(cudaDeviceSynchronize());
  std::printf("%d cases: %s\n", cases, failures() ? "FAILED" : "ok");
  return failures();
}
