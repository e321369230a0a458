// kiln::cuda losses against the CPU's kiln losses: softmax cross-entropy with class
// indices (ignore_index rows, label smoothing, grad_scale, every row ignored: NaN and a
// zero gradient) and with probabilities, for C = 1, 7, 33 (more than a warp) and 300;
// BCE with and without pos_weight; MSE; sizes 0, 1 and odd. The loss is read from the
// device (the mean was reduced there); the loss and every gradient element equal the
// CPU's within float32 rounding. Bad class targets are refused with the CPU's message
// before anything is written; guard values after every output.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "cuda_nn_check.hpp"
#include "kiln/cuda/loss.hpp"
#include "kiln/loss.hpp"

using kiln::index_t;

namespace {

constexpr double kRel = 2e-6;  // float32 rounding of a few operations per term

float device_loss(const DeviceGuarded<float>& l) {
  CHECK(l.intact());
  return l.download()[0];
}

void check_cross_entropy(index_t rows, index_t classes, float smoothing, bool all_ignored) {
  kiln::CrossEntropyParams p;
  p.rows = rows, p.classes = classes, p.label_smoothing = smoothing, p.grad_scale = 0.75f;
  std::vector<float> logits = random_floats(rows * classes, 21);
  for (float& v : logits) v *= 6.0f;
  std::vector<std::int64_t> target(rows);
  for (index_t r = 0; r < rows; ++r) target[r] = (all_ignored || r % 4 == 3) ? p.ignore_index : (r * 5) % classes;
  std::vector<float> grad(rows * classes);
  float loss = 0.0f;
  kiln::softmax_cross_entropy(p, logits.data(), target.data(), &loss, grad.data());

  DeviceGuarded<float> ld(logits), gd(rows * classes), lossd(1), loss2(1);
  DeviceGuarded<std::int64_t> td(target);
  kiln::cuda::softmax_cross_entropy(p, ld.get(), td.get(), lossd.get(), gd.get());
  kiln::cuda::softmax_cross_entropy(p, ld.get(), td.get(), loss2.get(), nullptr);
  char what[96];
  std::snprintf(what, sizeof what, "cross_entropy rows=%lld C=%lld ls=%g", static_cast<long long>(rows),
                static_cast<long long>(classes), smoothing);
  CHECK(close({device_loss(lossd)}, {loss}, kRel, 0, what));
  CHECK(close({device_loss(loss2)}, {loss}, kRel, 0, what));
  CHECK(close(gd.download(), grad, 1e-5, 1e-7, what));
  CHECK(gd.intact());

  // Probability targets: a softmax of random numbers per row.
  std::vector<float> probs = random_floats(rows * classes, 23);
  for (index_t r = 0; r < rows; ++r) {
    float s = 0.0f;
    for (index_t k = 0; k < classes; ++k) s += (probs[r * classes + k] = std::exp(probs[r * classes + k]));
    for (index_t k = 0; k < classes; ++k) probs[r * classes + k] /= s;
  }
  kiln::softmax_cross_entropy_probs(p, logits.data(), probs.data(), &loss, grad.data());
  DeviceGuarded<float> pd(probs), gp(rows * classes), lp(1);
  kiln::cuda::softmax_cross_entropy_probs(p, ld.get(), pd.get(), lp.get(), gp.get());
  CHECK(close({device_loss(lp)}, {loss}, kRel, 0, what));
  CHECK(close(gp.download(), grad, 1e-5, 1e-7, what));
  CHECK(gp.intact());
}

void check_bce(index_t rows, index_t cols, bool with_pos_weight) {
  std::vector<float> logits = random_floats(rows * cols, 31), target = random_floats(rows * cols, 32);
  for (float& v : logits) v *= 8.0f;
  for (float& v : target) v = v * 0.5f + 0.5f;
  std::vector<float> pw = random_floats(cols, 33);
  for (float& v : pw) v = v + 1.5f;
  std::vector<float> grad(rows * cols);
  float loss = 0.0f;
  kiln::bce_with_logits(rows, cols, logits.data(), target.data(), with_pos_weight ? pw.data() : nullptr, 2.0f,
                        &loss, grad.data());
  DeviceGuarded<float> ld(logits), td(target), pwd(pw), gd(rows * cols), lossd(1);
  kiln::cuda::bce_with_logits(rows, cols, ld.get(), td.get(), with_pos_weight ? pwd.get() : nullptr, 2.0f,
                              lossd.get(), gd.get());
  CHECK(close({device_loss(lossd)}, {loss}, kRel, 0, "bce loss"));
  CHECK(close(gd.download(), grad, 1e-5, 1e-8, "bce grad"));
  CHECK(gd.intact());
}

void check_mse(index_t n) {
  const std::vector<float> pred = random_floats(n, 41), target = random_floats(n, 42);
  std::vector<float> grad(n);
  float loss = 0.0f;
  kiln::mse(n, pred.data(), target.data(), 0.5f, &loss, grad.data());
  DeviceGuarded<float> pd(pred), td(target), gd(n), lossd(1), loss2(1);
  kiln::cuda::mse(n, pd.get(), td.get(), 0.5f, lossd.get(), gd.get());
  kiln::cuda::mse(n, pd.get(), td.get(), 0.5f, loss2.get(), nullptr);
  CHECK(close({device_loss(lossd)}, {loss}, kRel, 0, "mse loss"));
  CHECK(close({device_loss(loss2)}, {loss}, kRel, 0, "mse loss"));
  CHECK(same_bits(gd.download(), grad));  // one subtraction and one product: exact
  CHECK(gd.intact());
}

}  // namespace

int main() {
  if (!cuda_device_present()) return kSkipped;
  int cases = 0;
  for (index_t classes : {1, 7, 33, 300})
    for (float smoothing : {0.0f, 0.1f}) {
      check_cross_entropy(classes == 300 ? 5 : 37, classes, smoothing, false);
      ++cases;
    }
  check_cross_entropy(1, 3, 0.0f, false);
  check_cross_entropy(6, 4, 0.2f, true);  // every row ignored: NaN, a zero gradient
  check_cross_entropy(0, 4, 0.0f, false);  // no rows: NaN
  cases += 3;
  for (bool pw : {false, true}) {
    check_bce(9, 13, pw);
    check_bce(1, 1, pw);
    check_bce(300, 7, pw);  // more elements than one block's threads
    cases += 3;
  }
  check_bce(0, 3, true);
  for (index_t n : {0, 1, 5, 3001}) check_mse(n);
  cases += 5;

  // A class target out of range, not ignore_index: the CPU's message; nothing written.
  kiln::CrossEntropyParams p;
  p.rows = 4, p.classes = 3;
  const std::vector<float> logits(12, 0.5f);
  const std::vector<std::int64_t> target = {0, -100, 3, -1};
  float loss = 0.0f;
  std::vector<float> grad(12);
  const std::string want = invalid_argument_of(
      [&] { kiln::softmax_cross_entropy(p, logits.data(), target.data(), &loss, grad.data()); });
  DeviceGuarded<float> ld(logits), gd(std::vector<float>(12, 9.0f)), lossd(std::vector<float>{9.0f});
  DeviceGuarded<std::int64_t> td(target);
  const std::string got = invalid_argument_of(
      [&] { kiln::cuda::softmax_cross_entropy(p, ld.get(), td.get(), lossd.get(), gd.get()); });
  CHECK(!want.empty() && got == want);
  CHECK(gd.download() == std::vector<float>(12, 9.0f) && lossd.download()[0] == 9.0f);
  p.label_smoothing = 1.5f;
  CHECK(!invalid_argument_of([&] { kiln::cuda::softmax_cross_entropy(p, ld.get(), td.get(), lossd.get(), nullptr); })
             .empty());
  cases += 2;
  CUDA_OK(cudaDeviceSynchronize());
  std::printf("%d cases: %s\n", cases, failures() ? "FAILED" : "ok");
  return failures();
}
