// kiln::cuda embedding against the CPU's kiln::embedding_*: the gather bit for bit (float4
// and scalar paths: dim % 4 == 0 aligned, dim odd, the table shifted off 16 bytes); the
// scatter-add equal to the CPU's (bit for bit without repeated indices, within rounding
// with them), padding_idx's row zero. Out-of-range indices refused with the CPU's
// message before anything is written; guard values after every output.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "cuda_nn_check.hpp"
#include "kiln/cuda/checks.hpp"
#include "kiln/cuda/embedding.hpp"
#include "kiln/embedding.hpp"

using kiln::index_t;

namespace {

void check_case(index_t num, index_t vocab, index_t dim, std::int64_t padding_idx, bool repeats,
                std::size_t shift) {
  std::vector<std::int64_t> idx(num);
  for (index_t i = 0; i < num; ++i) idx[i] = repeats ? (i * 7 + 3) % vocab : (i * 5 + 1) % vocab;
  const std::vector<float> weight = random_floats(vocab * dim, 11), grad_out = random_floats(num * dim, 12);
  std::vector<float> out(num * dim), grad_w(vocab * dim);
  kiln::embedding_forward(num, idx.data(), vocab, dim, weight.data(), out.data());
  kiln::embedding_backward(num, idx.data(), grad_out.data(), vocab, dim, padding_idx, grad_w.data());

  DeviceGuarded<std::int64_t> idx_d(idx);
  DeviceGuarded<float> w_d(weight, shift), out_d(num * dim, shift), go_d(grad_out), gw_d(vocab * dim, shift);
  kiln::cuda::embedding_forward(num, idx_d.get(), vocab, dim, w_d.get(), out_d.get());
  kiln::cuda::embedding_backward(num, idx_d.get(), go_d.get(), vocab, dim, padding_idx, gw_d.get());
  CHECK(same_bits(out_d.download(), out));
  CHECK(repeats ? close(gw_d.download(), grad_w, 1e-6, 1e-6, "embedding_backward")
                : same_bits(gw_d.download(), grad_w));
  CHECK(out_d.intact() && gw_d.intact());
  // Unchecked (the caller checked): the same results, asynchronously.
  DeviceGuarded<float> out2(num * dim);
  kiln::cuda::embedding_forward(num, idx_d.get(), vocab, dim, w_d.get(), out2.get(), 0, false);
  CHECK(same_bits(out2.download(), out));
}

}  // namespace

int main() {
  if (!cuda_device_present()) return kSkipped;
  int cases = 0;
  for (index_t dim : {1, 3, 4, 8, 37})
    for (bool repeats : {false, true})
      for (std::size_t shift : {0, 1}) {
        check_case(repeats ? 53 : 9, repeats ? 11 : 50, dim, repeats ? 3 : -1, repeats, shift);
        ++cases;
      }
  check_case(0, 5, 4, -1, false, 0);  // no indices: grad_weight all zero
  check_case(6, 5, 0, -1, true, 0);   // width 0: nothing to do
  cases += 2;

  // An index out of range: the CPU's message, nothing written.
  std::vector<std::int64_t> idx = {0, 2, 9, 1, -3};
  const std::vector<float> weight = random_floats(5 * 4, 1);
  std::vector<float> out(5 * 4);
  const std::string want =
      invalid_argument_of([&] { kiln::embedding_forward(5, idx.data(), 5, 4, weight.data(), out.data()); });
  DeviceGuarded<std::int64_t> idx_d(idx);
  DeviceGuarded<float> w_d(weight), out_d(std::vector<float>(20, 3.0f)), gw_d(std::vector<float>(20, 3.0f));
  const std::string got = invalid_argument_of(
      [&] { kiln::cuda::embedding_forward(5, idx_d.get(), 5, 4, w_d.get(), out_d.get()); });
  CHECK(!want.empty() && got == want);
  CHECK(out_d.download() == std::vector<float>(20, 3.0f));
  const std::string want_b = invalid_argument_of(
      [&] { kiln::embedding_backward(5, idx.data(), out.data(), 5, 4, -1, out.data()); });
  const std::string got_b = invalid_argument_of(
      [&] { kiln::cuda::embedding_backward(5, idx_d.get(), w_d.get(), 5, 4, -1, gw_d.get()); });
  CHECK(!want_b.empty() && got_b == want_b);
  CHECK(gw_d.download() == std::vector<float>(20, 3.0f));
  CHECK(!invalid_argument_of([&] {
           kiln::cuda::embedding_backward(0, nullptr, nullptr, 5, 4, 5, gw_d.get());  // padding_idx >= V
         }).empty());
  // find_out_of_range: the first bad position, skipping a value when asked.
  const kiln::cuda::BadIndex bad = kiln::cuda::find_out_of_range(idx_d.get(), 5, 5, false, 0);
  CHECK(bad.position == 2 && bad.value == 9);
  const kiln::cuda::BadIndex skipped = kiln::cuda::find_out_of_range(idx_d.get(), 5, 5, true, 9);
  CHECK(skipped.position == 4 && skipped.value == -3);
  CHECK(kiln::cuda::find_out_of_range(idx_d.get(), 2, 5, false, 0).position == -1);
  cases += 4;
  CUDA_OK(cudaDeviceSynchronize());
  std::printf("%d cases: %s\n", cases, failures() ? "FAILED" : "ok");
  return failures();
}
