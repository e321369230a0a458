// kiln::cuda's Philox4x32-10 fills: the generator against Random123's published
// known-answer vectors; the device fills against a host computation of the same counters
// (uniform bit for bit; normal within the ulps of logf/sinf/cosf); a fill at an offset
// equal to that slice of one long fill (any offset, any n: the launch shape does not
// matter); seeds and offsets giving different streams; mean and variance of 2^17
// uniforms and normals within 5 standard errors; dropout's kept fraction, its scale and
// y = x * mask. Guard values after every output.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "cuda_nn_check.hpp"
#include "kiln/cuda/random.hpp"

using kiln::index_t;

namespace {

// The host's draw of element e (the header's definitions, written out again here).
float host_uniform(std::uint64_t seed, std::uint64_t e) {
  const kiln::cuda::Philox4 r = kiln::cuda::philox_block(seed, e / 4);
  return static_cast<float>(r.v[e % 4] >> 8) / 16777216.0f;
}

float host_normal(std::uint64_t seed, std::uint64_t e, float mean, float std) {
  const kiln::cuda::Philox4 r = kiln::cuda::philox_block(seed, e / 4);
  const int pair = static_cast<int>(e % 4) / 2;
  const double u1 = static_cast<double>((r.v[2 * pair] >> 8) + 1u) / 16777216.0;
  const double u2 = static_cast<double>(r.v[2 * pair + 1] >> 8) / 16777216.0;
  const double radius = std::sqrt(-2.0 * std::log(u1)), angle = 2.0 * M_PI * u2;
  return static_cast<float>(mean + std * radius * (e % 2 ? std::sin(angle) : std::cos(angle)));
}

void moments(const std::vector<float>& v, double& mean, double& var) {
  double s = 0, q = 0;
  for (float x : v) s += x;
  mean = s / v.size();
  for (float x : v) q += (x - mean) * (x - mean);
  var = q / (v.size() - 1);
}

}  // namespace

int main() {
  if (!cuda_device_present()) return kSkipped;
  using kiln::cuda::Philox4;
  // Random123's kat_vectors for philox4x32_10.
  struct Kat {
    Philox4 counter;
    std::uint32_t k0, k1;
    Philox4 want;
  } kats[] = {
      {{{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}}},
      {{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, 0xffffffffu, 0xffffffffu,
       {{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}}},
      {{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u, 0x299f31d0u,
       {{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}}},
  };
  for (const Kat& k : kats) {
    const Philox4 got = kiln::cuda::philox4x32_10(k.counter, k.k0, k.k1);
    for (int w = 0; w < 4; ++w) CHECK(got.v[w] == k.want.v[w]);
  }
  int cases = 3;

  const std::uint64_t seed = 0x0123456789abcdefull;
  // Uniform: bit for bit against the host; offsets that split counter blocks.
  const index_t long_n = 1031;
  DeviceGuarded<float> whole(long_n);
  kiln::cuda::random_uniform(whole.get(), long_n, seed, 0);
  const std::vector<float> all = whole.download();
  CHECK(whole.intact());
  for (index_t i = 0; i < long_n; ++i) CHECK(all[i] == host_uniform(seed, i) && all[i] >= 0.0f && all[i] < 1.0f);
  for (std::uint64_t offset : {0, 1, 3, 5, 8, 999})
    for (index_t n : {1, 2, 7, 30}) {
      DeviceGuarded<float> part(n);
      kiln::cuda::random_uniform(part.get(), n, seed, offset);
      const std::vector<float> got = part.download();
      CHECK(part.intact());
      for (index_t i = 0; i < n; ++i) CHECK(got[i] == all[offset + i]);
      ++cases;
    }
  // Another seed, another offset: other numbers.
  {
    DeviceGuarded<float> a(64), b(64);
    kiln::cuda::random_uniform(a.get(), 64, seed + 1, 0);
    kiln::cuda::random_uniform(b.get(), 64, seed, 64);
    const std::vector<float> va = a.download(), vb = b.download();
    int same_a = 0, same_b = 0;
    for (int i = 0; i < 64; ++i) same_a += va[i] == all[i], same_b += vb[i] == all[i];
    CHECK(same_a < 4 && same_b < 4);
    cases += 2;
  }
  // Normal: the host's Box-Muller in double, within the ulps of logf/sinf/cosf.
  {
    DeviceGuarded<float> z(77);
    kiln::cuda::random_normal(z.get(), 77, seed, 3, 1.5f, 2.0f);
    const std::vector<float> got = z.download();
    CHECK(z.intact());
    for (index_t i = 0; i < 77; ++i) {
      const float want = host_normal(seed, 3 + i, 1.5f, 2.0f);
      if (!(std::fabs(got[i] - want) <= 2e-5 * (1.0 + std::fabs(want)))) {
        std::printf("normal[%lld] = %.9g, want %.9g\n", static_cast<long long>(i), got[i], want);
        CHECK(false);
      }
    }
    ++cases;
  }
  // Moments of 2^17 draws: 5 standard errors.
  {
    const index_t n = 1 << 17;
    DeviceGuarded<float> u(n), z(n);
    kiln::cuda::random_uniform(u.get(), n, 7, 12);
    kiln::cuda::random_normal(z.get(), n, 7, 12);
    double mean, var;
    const std::vector<float> vu = u.download();
    moments(vu, mean, var);
    CHECK(std::fabs(mean - 0.5) < 5 * std::sqrt(1.0 / 12 / n));
    CHECK(std::fabs(var - 1.0 / 12) < 5 * std::sqrt((1.0 / 80 - 1.0 / 144) / n));
    moments(z.download(), mean, var);
    CHECK(std::fabs(mean) < 5 / std::sqrt(static_cast<double>(n)));
    CHECK(std::fabs(var - 1.0) < 5 * std::sqrt(2.0 / n));
    // Dropout with p = 0.3 on the same counters: kept exactly where uniform >= p.
    const std::vector<float> x = random_floats(n, 5);
    DeviceGuarded<float> mask(n), xd(x), y(n);
    kiln::cuda::random_dropout(mask.get(), xd.get(), y.get(), n, 0.3f, 7, 12);
    const std::vector<float> m = mask.download(), vy = y.download();
    CHECK(mask.intact() && y.intact());
    const float scale = static_cast<float>(1.0 / 0.7);
    index_t kept = 0, wrong = 0;
    for (index_t i = 0; i < n; ++i) {
      const bool keep = vu[i] >= 0.3f;
      kept += keep;
      wrong += m[i] != (keep ? scale : 0.0f) || vy[i] != x[i] * m[i];
    }
    CHECK(wrong == 0);
    CHECK(std::fabs(static_cast<double>(kept) / n - 0.7) < 5 * std::sqrt(0.21 / n));
    cases += 6;
  }
  // p = 0 keeps all (scale 1), p = 1 drops all; bad p refused.
  {
    DeviceGuarded<float> mask(10);
    kiln::cuda::random_dropout(mask.get(), nullptr, nullptr, 10, 0.0f, 1, 0);
    CHECK(mask.download() == std::vector<float>(10, 1.0f));
    kiln::cuda::random_dropout(mask.get(), nullptr, nullptr, 10, 1.0f, 1, 0);
    CHECK(mask.download() == std::vector<float>(10, 0.0f));
    CHECK(!invalid_argument_of([&] { kiln::cuda::random_dropout(mask.get(), nullptr, nullptr, 10, 1.5f, 1, 0); })
               .empty());
    kiln::cuda::random_uniform(nullptr, 0, 1, 0);  // n = 0: nothing
    cases += 3;
  }
  CUDA_OK(cudaDeviceSynchronize());
  std::printf("%d cases: %s\n", cases, failures() ? "FAILED" : "ok");
  return failures();
}
