// kiln::cuda pooling against the CPU's kiln pooling, on the device kiln was built for.
// Odd geometries (padding, stride, dilation, ceil_mode with its dropped last window, a
// NaN in the input), bit-identical results for max forward (values and indices), average
// forward and average backward; the max backward's scatter equals the CPU's (bit for bit
// where windows do not overlap, within rounding where they do). Guard values after every
// output; bad indices refused with the CPU's message and nothing written.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "cuda_nn_check.hpp"
#include "kiln/cuda/pool2d.hpp"
#include "kiln/pool2d.hpp"

using kiln::index_t;

namespace {

kiln::Pool2dParams params(index_t n, index_t c, index_t h, index_t w, index_t k, index_t s, index_t p,
                          index_t d, bool ceil_mode, index_t kw = 0) {
  kiln::Pool2dParams q;
  q.n = n, q.c = c, q.h = h, q.w = w;
  q.kernel_h = k, q.kernel_w = kw ? kw : k;
  q.stride_h = s, q.stride_w = s + (kw ? 1 : 0);
  q.pad_h = p, q.pad_w = p;
  q.dilation_h = d, q.dilation_w = d;
  q.ceil_mode = ceil_mode;
  return q;
}

void check_max(const kiln::Pool2dParams& p) {
  const std::size_t in = p.n * p.c * p.h * p.w, out = p.n * p.c * p.out_h() * p.out_w();
  std::vector<float> x = random_floats(in, 7 + static_cast<unsigned>(in));
  if (in > 5) x[in / 2] = NAN;
  for (std::size_t i = 3; i < in; i += 11) x[i] = x[i - 1];  // ties: the first maximum wins
  std::vector<float> y(out), dx(in);
  std::vector<std::int64_t> idx(out);
  kiln::max_pool2d_forward(p, x.data(), y.data(), idx.data());

  DeviceGuarded<float> dx_dev(x), dy_dev(out), dxg(in);
  DeviceGuarded<std::int64_t> idx_dev(out);
  kiln::cuda::max_pool2d_forward(p, dx_dev.get(), dy_dev.get(), idx_dev.get());
  CHECK(same_bits(dy_dev.download(), y));
  CHECK(idx_dev.download() == idx);
  CHECK(dy_dev.intact() && idx_dev.intact());

  // Without indices.
  DeviceGuarded<float> y2(out);
  kiln::cuda::max_pool2d_forward(p, dx_dev.get(), y2.get(), nullptr);
  CHECK(same_bits(y2.download(), y));

  // Backward: dy scattered to the indices.
  const std::vector<float> dy = random_floats(out, 99);
  kiln::max_pool2d_backward(p, dy.data(), idx.data(), dx.data());
  DeviceGuarded<float> g(dy);
  kiln::cuda::max_pool2d_backward(p, g.get(), idx_dev.get(), dxg.get());
  const bool overlapping = p.stride_h < p.kernel_h * p.dilation_h || p.stride_w < p.kernel_w * p.dilation_w;
  CHECK(overlapping ? close(dxg.download(), dx, 1e-6, 1e-6, "max_pool2d_backward")
                    : same_bits(dxg.download(), dx));
  CHECK(dxg.intact());
}

void check_avg(const kiln::Pool2dParams& p, bool count_include_pad, index_t divisor) {
  const std::size_t in = p.n * p.c * p.h * p.w, out = p.n * p.c * p.out_h() * p.out_w();
  const std::vector<float> x = random_floats(in, 3), dy = random_floats(out, 4);
  std::vector<float> y(out), dx(in);
  kiln::avg_pool2d_forward(p, x.data(), y.data(), count_include_pad, divisor);
  kiln::avg_pool2d_backward(p, dy.data(), dx.data(), count_include_pad, divisor);
  DeviceGuarded<float> xd(x), yd(out), dyd(dy), dxd(in);
  kiln::cuda::avg_pool2d_forward(p, xd.get(), yd.get(), count_include_pad, divisor);
  kiln::cuda::avg_pool2d_backward(p, dyd.get(), dxd.get(), count_include_pad, divisor);
  CHECK(same_bits(yd.download(), y));
  CHECK(same_bits(dxd.download(), dx));
  CHECK(yd.intact() && dxd.intact());
}

}  // namespace

int main() {
  if (!cuda_device_present()) return kSkipped;
  int cases = 0;
  const std::vector<kiln::Pool2dParams> max_cases = {
      params(2, 3, 7, 9, 2, 2, 0, 1, false),  params(1, 2, 7, 9, 3, 2, 1, 1, true),
      params(2, 1, 11, 6, 3, 1, 1, 2, false), params(1, 3, 5, 5, 2, 3, 1, 1, true),
      params(1, 1, 1, 1, 1, 1, 0, 1, false),  params(2, 2, 9, 13, 3, 2, 1, 1, false, 2),
      params(1, 2, 10, 10, 4, 3, 2, 1, true), params(3, 1, 6, 17, 2, 2, 1, 1, true)};
  for (const auto& p : max_cases) {
    check_max(p);
    ++cases;
  }
  const std::vector<kiln::Pool2dParams> avg_cases = {
      params(2, 3, 7, 9, 2, 2, 0, 1, false), params(1, 2, 7, 9, 3, 2, 1, 1, true),
      params(1, 3, 5, 5, 2, 3, 1, 1, true),  params(2, 2, 9, 13, 3, 2, 1, 1, false, 2),
      params(1, 2, 10, 10, 4, 3, 2, 1, true), params(1, 1, 8, 8, 3, 1, 1, 1, false)};
  for (const auto& p : avg_cases)
    for (bool include : {false, true})
      for (index_t divisor : {0, 5, -3}) {
        check_avg(p, include, divisor);
        ++cases;
      }

  // Bad parameters: the CPU's checks, before anything runs.
  kiln::Pool2dParams bad = params(1, 1, 4, 4, 2, 2, 2, 1, false);  // padding > kernel / 2
  CHECK(!invalid_argument_of([&] { kiln::cuda::max_pool2d_forward(bad, nullptr, nullptr, nullptr); }).empty());
  CHECK(!invalid_argument_of([&] { kiln::cuda::avg_pool2d_forward(bad, nullptr, nullptr, false, 0); }).empty());

  // An index outside its plane: refused with the CPU's message, dx untouched.
  {
    const kiln::Pool2dParams p = params(2, 1, 4, 4, 2, 2, 0, 1, false);
    std::vector<std::int64_t> idx(8, 0);
    idx[5] = 16;
    const std::vector<float> dy(8, 1.0f);
    std::vector<float> cpu_dx(32);
    const std::string want =
        invalid_argument_of([&] { kiln::max_pool2d_backward(p, dy.data(), idx.data(), cpu_dx.data()); });
    DeviceGuarded<std::int64_t> id(idx);
    DeviceGuarded<float> dyd(dy), dxd(std::vector<float>(32, 7.0f));
    const std::string got =
        invalid_argument_of([&] { kiln::cuda::max_pool2d_backward(p, dyd.get(), id.get(), dxd.get()); });
    CHECK(!want.empty() && got == want);
    CHECK(dxd.download() == std::vector<float>(32, 7.0f));
    idx[5] = -1;
    id.upload(idx);
    CHECK(!invalid_argument_of([&] { kiln::cuda::max_pool2d_backward(p, dyd.get(), id.get(), dxd.get()); })
               .empty());
    cases += 2;
  }
  // Empty batch: nothing launched, nothing written.
  {
    const kiln::Pool2dParams p = params(0, 3, 5, 5, 2, 2, 0, 1, false);
    kiln::cuda::max_pool2d_forward(p, nullptr, nullptr, nullptr);
    kiln::cuda::avg_pool2d_backward(p, nullptr, nullptr, false, 0);
    kiln::cuda::max_pool2d_backward(p, nullptr, nullptr, nullptr);
    ++cases;
  }
  CUDA_OK(cudaDeviceSynchronize());
  std::printf("%d cases: %s\n", cases, failures() ? "FAILED" : "ok");
  return failures();
}
