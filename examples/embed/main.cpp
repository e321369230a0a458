// Calls four kiln kernels from plain C++ and checks each against a few lines of
// straightforward code: a dense layer (matmul with fused bias + ReLU), a 3x3
// convolution, one LSTM cell step, and one Adam step.
#include <kiln/kiln.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

namespace {

std::vector<float> ramp(std::size_t n, float scale) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = scale * std::sin(0.37f * static_cast<float>(i) + 0.1f);
  return v;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<double>& b) {
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::fmax(d, std::fabs(a[i] - b[i]));
  return d;
}

bool report(const char* what, double diff) {
  const bool ok = diff < 1e-4;
  std::printf("%-28s max |kiln - plain| = %.2e  %s\n", what, diff, ok ? "ok" : "MISMATCH");
  return ok;
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

bool dense_layer() {
  const kiln::index_t batch = 8, in = 20, out = 12;  // y = relu(x @ W^T + b), W (out, in)
  const auto x = ramp(batch * in, 1.0f), w = ramp(out * in, 0.3f), b = ramp(out, 0.5f);
  std::vector<float> y(batch * out);
  kiln::MatmulParams p = kiln::matmul_params(batch, out, in, false, true);
  p.activation = kiln::Activation::relu;
  kiln::matmul(p, x.data(), w.data(), b.data(), y.data());
  std::vector<double> want(batch * out);
  for (kiln::index_t i = 0; i < batch; ++i)
    for (kiln::index_t j = 0; j < out; ++j) {
      double s = b[j];
      for (kiln::index_t q = 0; q < in; ++q) s += double(x[i * in + q]) * w[j * in + q];
      want[i * out + j] = s > 0 ? s : 0;
    }
  return report("matmul (dense + relu)", max_abs_diff(y, want));
}

bool convolution() {
  kiln::Conv2dParams p;
  p.n = 2; p.c = 3; p.h = 9; p.w = 7; p.k = 4; p.r = 3; p.s = 3; p.pad_h = 1; p.pad_w = 1;
  const auto x = ramp(p.n * p.c * p.h * p.w, 1.0f), w = ramp(p.k * p.c * p.r * p.s, 0.2f);
  const auto bias = ramp(p.k, 0.1f);
  const kiln::index_t oh = p.out_h(), ow = p.out_w();
  std::vector<float> y(p.n * p.k * oh * ow);
  kiln::conv2d_forward(p, x.data(), w.data(), bias.data(), y.data());
  std::vector<double> want(y.size());
  for (kiln::index_t n = 0; n < p.n; ++n)
    for (kiln::index_t k = 0; k < p.k; ++k)
      for (kiln::index_t i = 0; i < oh; ++i)
        for (kiln::index_t j = 0; j < ow; ++j) {
          double s = bias[k];
          for (kiln::index_t c = 0; c < p.c; ++c)
            for (kiln::index_t r = 0; r < p.r; ++r)
              for (kiln::index_t t = 0; t < p.s; ++t) {
                const kiln::index_t hi = i + r - p.pad_h, wi = j + t - p.pad_w;
                if (hi < 0 || hi >= p.h || wi < 0 || wi >= p.w) continue;
                s += double(x[((n * p.c + c) * p.h + hi) * p.w + wi]) * w[((k * p.c + c) * p.r + r) * p.s + t];
              }
          want[((n * p.k + k) * oh + i) * ow + j] = s;
        }
  return report("conv2d 3x3, padding 1", max_abs_diff(y, want));
}

bool lstm_step() {
  kiln::LstmParams p;
  p.batch = 3; p.input_size = 5; p.hidden_size = 4;
  const kiln::index_t B = p.batch, I = p.input_size, H = p.hidden_size;
  const auto x = ramp(B * I, 1.0f), h = ramp(B * H, 0.5f), c = ramp(B * H, 0.8f);
  const auto w_ih = ramp(4 * H * I, 0.3f), w_hh = ramp(4 * H * H, 0.2f);
  const auto b_ih = ramp(4 * H, 0.1f), b_hh = ramp(4 * H, 0.05f);
  std::vector<float> h_new(B * H), c_new(B * H);
  kiln::lstm_cell_forward(p, x.data(), h.data(), c.data(), w_ih.data(), w_hh.data(), b_ih.data(),
                          b_hh.data(), h_new.data(), c_new.data(), nullptr);
  std::vector<double> want_h(B * H), want_c(B * H);
  for (kiln::index_t b = 0; b < B; ++b)
    for (kiln::index_t j = 0; j < H; ++j) {
      double g[4];  // gate order i, f, g, o
      for (int q = 0; q < 4; ++q) {
        const kiln::index_t row = q * H + j;
        double s = double(b_ih[row]) + b_hh[row];
        for (kiln::index_t t = 0; t < I; ++t) s += double(x[b * I + t]) * w_ih[row * I + t];
        for (kiln::index_t t = 0; t < H; ++t) s += double(h[b * H + t]) * w_hh[row * H + t];
        g[q] = s;
      }
      const double cell = sigmoid(g[1]) * c[b * H + j] + sigmoid(g[0]) * std::tanh(g[2]);
      want_c[b * H + j] = cell;
      want_h[b * H + j] = sigmoid(g[3]) * std::tanh(cell);
    }
  return report("lstm_cell (h, c)", std::fmax(max_abs_diff(h_new, want_h), max_abs_diff(c_new, want_c)));
}

bool adam() {
  const kiln::index_t n = 1000;
  auto param = ramp(n, 1.0f);
  const auto grad = ramp(n, 0.1f);
  std::vector<float> m(n, 0.0f), v(n, 0.0f);
  std::vector<double> want(n);
  kiln::AdamParams p;
  p.step = 1;
  p.lr = 1e-2f;
  for (kiln::index_t i = 0; i < n; ++i) {  // the first step: m_hat = g, v_hat = g^2
    const double g = grad[i];
    want[i] = param[i] - 1e-2 * g / (std::fabs(g) + 1e-8);
  }
  kiln::adam_step(p, n, param.data(), grad.data(), m.data(), v.data(), nullptr);
  return report("adam_step (step 1)", max_abs_diff(param, want));
}

}  // namespace

int main() {
  std::printf("kiln from C++: %s kernels, %d threads\n", kiln::cpu_isa(), kiln::get_num_threads());
  const bool ok = dense_layer() & convolution() & lstm_step() & adam();
  std::printf(ok ? "all kernels agree\n" : "some kernels disagree\n");
  return ok ? 0 : 1;
}
